//! The tools, one file per group: typed parameters in, a result out.
//!
//! Text results follow the official server: the text, plus
//! `structuredContent: {content: <the same text>}` matching the declared
//! output schema. The copy is required, whatever the size: clients built on
//! the official SDKs reject a result whose tool declares an output schema but
//! carries no structured content.

pub mod copy;
pub mod edit;
pub mod info;
pub mod list;
pub mod read;
pub mod search;
pub mod write;

use std::sync::Arc;

use mcp_servers_core::error::ToolError;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use schemars::JsonSchema;
use serde::Serialize;

/// The output schema of every text tool: `{content: string}`.
#[derive(Serialize, JsonSchema)]
pub struct TextOutput {
    /// The tool's text output (also in the first text content block).
    pub content: String,
}

pub(crate) fn text_output_schema() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_output::<TextOutput>()
}

/// A text result in the official server's shape.
pub(crate) fn text_result(text: String) -> CallToolResult {
    let structured = serde_json::json!({ "content": text });
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(structured);
    result
}

/// An I/O error as a tool error; the messages of core's fsutil already name
/// the path, others get it added.
pub(crate) fn io_error(err: &std::io::Error, path: &std::path::Path) -> ToolError {
    use std::io::ErrorKind::*;
    match err.kind() {
        NotFound | PermissionDenied | AlreadyExists | NotADirectory | DirectoryNotEmpty
            if err.get_ref().is_none() =>
        {
            ToolError::io(err, path)
        }
        _ if err.get_ref().is_some() => ToolError::new(err.to_string()),
        _ => ToolError::io(err, path),
    }
}
