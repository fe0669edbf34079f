//! Tools that talk to the client while they run: log messages, progress,
//! and a long call for SSE stream resumption.

use std::time::Duration;

use mcp_servers_core::client_log::Level;
use mcp_servers_core::error::ToolResult;
use mcp_servers_core::progress::Progress;
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};

use crate::EverythingServer;

/// Pause between a tool's notifications, so a client sees them arrive
/// while the call is still running.
const STEP: Duration = Duration::from_millis(50);

#[tool_router(router = notify_router, vis = "pub(crate)")]
impl EverythingServer {
    #[tool(
        description = "Tests tool that emits log messages during execution (three at level \
                       info; set the level with logging/setLevel to see them)",
        annotations(read_only_hint = true)
    )]
    async fn test_tool_with_logging(&self, context: RequestContext<RoleServer>) -> String {
        let messages = [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ];
        for (i, message) in messages.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            self.log.send(&context.peer, Level::Info, message).await;
        }
        "Tool with logging executed successfully".to_owned()
    }

    #[tool(
        description = "Tests tool that reports progress notifications (0, 50 and 100 of 100, \
                       when the request carries a progressToken); answers with the token",
        annotations(read_only_hint = true)
    )]
    async fn test_tool_with_progress(
        &self,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let progress = Progress::from_context(&context);
        for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(STEP).await;
            }
            progress.check()?;
            let message = format!("Completed step {step} of 100");
            progress.report_now(step, Some(100.0), Some(&message));
        }
        progress.flush().await;
        Ok(context
            .meta
            .get_progress_token()
            .map(|token| token.0.to_string())
            .unwrap_or_else(|| "no progress token".to_owned()))
    }

    #[tool(
        description = "Tests SSE stream resumption (SEP-1699): a call that takes a moment, \
                       during which a client may lose and resume its stream with Last-Event-ID",
        annotations(read_only_hint = true)
    )]
    async fn test_reconnection(&self, context: RequestContext<RoleServer>) -> ToolResult<String> {
        tokio::select! {
            () = tokio::time::sleep(2 * STEP) => {}
            () = context.ct.cancelled() => {
                return Err(mcp_servers_core::error::ToolError::new("cancelled by the client"));
            }
        }
        Ok(
            "Reconnection test completed successfully. If you received this, the client \
            properly reconnected after stream closure."
                .to_owned(),
        )
    }
}
