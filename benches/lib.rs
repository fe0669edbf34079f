//! Shared pieces of the criterion benches: a minimal echo server, a server
//! with many tools, and an rmcp client connected to either in memory.

use mcp_servers_core::error::call_tool_guarded;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Clone)]
pub struct EchoServer {
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
pub struct EchoParams {
    pub text: String,
}

#[tool_router]
impl EchoServer {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Return the text unchanged.")]
    async fn echo(&self, Parameters(p): Parameters<EchoParams>) -> String {
        p.text
    }
}

impl Default for EchoServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EchoServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool_guarded(&self.tool_router, self, request, context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bench-echo", "0"))
    }
}

/// A server with `count` tools, for `tools/list` as the list grows: each
/// tool has a description and a schema the size of a typical real one.
#[derive(Clone)]
pub struct ManyToolsServer {
    tools: std::sync::Arc<Vec<Tool>>,
}

impl ManyToolsServer {
    pub fn new(count: usize) -> Self {
        let tools = (0..count)
            .map(|i| {
                let schema = serde_json::json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "A file inside the allowed directories."},
                        "limit": {"type": "integer", "minimum": 1, "description": "At most this many results."},
                        "mode": {"type": "string", "enum": ["fast", "exact"], "default": "fast"}
                    },
                    "required": ["path"]
                });
                Tool::new(
                    format!("tool_{i}"),
                    format!("Tool number {i}: reads the file at path and reports what it finds, up to limit results."),
                    schema.as_object().cloned().unwrap_or_default(),
                )
            })
            .collect();
        Self {
            tools: std::sync::Arc::new(tools),
        }
    }

    /// The `tools/list` result this server answers.
    pub fn list(&self) -> ListToolsResult {
        ListToolsResult::with_all_items((*self.tools).clone())
    }
}

impl ServerHandler for ManyToolsServer {
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(self.list())
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bench-many-tools", "0"))
    }
}

/// An rmcp client talking to `server` over an in-memory duplex pipe, both
/// on `runtime` (no processes, no syscalls: rmcp's own cost).
pub fn in_memory_client<S: ServerHandler>(
    runtime: &tokio::runtime::Runtime,
    server: S,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::ServiceExt;
    runtime.block_on(async {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let server = server.serve(server_io).await.unwrap();
            let _ = server.waiting().await;
        });
        ().serve(client_io).await.unwrap()
    })
}
