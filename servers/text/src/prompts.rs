//! Prompts and completions.

use rmcp::model::{CompleteRequestParams, CompleteResult};
use rmcp::prompt_router;

use crate::TextServer;

#[prompt_router(vis = "pub(crate)")]
impl TextServer {}

pub fn complete(_server: &TextServer, _request: &CompleteRequestParams) -> CompleteResult {
    CompleteResult::default()
}
