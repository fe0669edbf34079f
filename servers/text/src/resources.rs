//! Resources.

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceTemplate};

use crate::TextServer;

pub fn list() -> Vec<Resource> {
    Vec::new()
}

pub fn templates() -> Vec<ResourceTemplate> {
    Vec::new()
}

pub async fn read(_server: &TextServer, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    Err(ErrorData::invalid_params(
        format!("unknown resource {uri}"),
        None,
    ))
}
