//! mcp-testserver: a small complete server used to test core's transports.
//! It is also the smallest example of a server built on mcp-servers-core.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use mcp_servers_core::cli::ServeArgs;
use mcp_servers_core::error::{ToolError, ToolResult, call_tool_guarded};
use mcp_servers_core::progress::Progress;
use mcp_servers_core::{content, error};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spin calls running now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

struct Decrement(&'static AtomicUsize);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Parser)]
#[command(
    name = "mcp-testserver",
    version,
    about = "Test server for mcp-servers-core"
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Clone)]
struct TestServer {
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
struct EchoParams {
    /// Text to send back.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct AddParams {
    a: i64,
    b: i64,
}

#[derive(Serialize, JsonSchema)]
struct Sum {
    sum: i64,
}

#[derive(Deserialize, JsonSchema)]
struct SizeParams {
    /// Number of bytes of text to return.
    bytes: usize,
}

#[derive(Deserialize, JsonSchema)]
struct StepsParams {
    /// Number of progress steps to report.
    steps: u32,
}

#[tool_router]
impl TestServer {
    fn new(serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut tool_router = Self::tool_router();
        serve.tool_filter().apply(&mut tool_router)?;
        Ok(Self { tool_router })
    }

    #[tool(
        description = "Return the given text unchanged.",
        annotations(read_only_hint = true)
    )]
    async fn echo(&self, Parameters(p): Parameters<EchoParams>) -> String {
        p.text
    }

    #[tool(
        description = "Add two integers; fails on overflow.",
        annotations(read_only_hint = true)
    )]
    async fn add(&self, Parameters(p): Parameters<AddParams>) -> ToolResult<Json<Sum>> {
        let sum = p.a.checked_add(p.b).ok_or_else(|| {
            ToolError::new(format!("{} + {} overflows a 64-bit integer", p.a, p.b))
        })?;
        Ok(Json(Sum { sum }))
    }

    #[tool(description = "Panic inside the tool (tests that a crash still gets an answer).")]
    async fn crash(&self) -> String {
        panic!("crash tool called")
    }

    #[tool(description = "Panic inside a blocking task.")]
    async fn crash_blocking(&self) -> ToolResult<String> {
        error::blocking(|| -> ToolResult<String> { panic!("blocking crash") }).await
    }

    #[tool(
        description = "Return `bytes` bytes of text.",
        annotations(read_only_hint = true)
    )]
    async fn big_text(&self, Parameters(p): Parameters<SizeParams>) -> ToolResult<CallToolResult> {
        if p.bytes > 256 * 1024 * 1024 {
            return Err(ToolError::new("bytes must be at most 268435456"));
        }
        Ok(content::text("x".repeat(p.bytes)))
    }

    /// Holds the call in progress until the client answers (tests that
    /// need a request in flight for as long as they choose).
    #[tool(description = "Ask the client for its roots; return how many it has.")]
    #[allow(deprecated)] // roots/list: deprecated in 2026-07-28, still used by clients
    async fn ask_client(&self, context: RequestContext<RoleServer>) -> ToolResult<String> {
        let roots = context
            .peer
            .list_roots()
            .await
            .map_err(|e| ToolError::new(format!("the client did not answer: {e}")))?;
        Ok(format!("{} roots", roots.roots.len()))
    }

    /// A runaway call: blocking work that only stops through its limits
    /// (the client's cancellation or --max-call-seconds).
    #[tool(description = "Busy-loop on a blocking thread until cancelled or past the deadline.")]
    async fn spin(&self) -> ToolResult<String> {
        error::blocking(|| {
            SPINNING.fetch_add(1, Ordering::SeqCst);
            let _done = Decrement(&SPINNING);
            let mut turns = 0u64;
            loop {
                turns = std::hint::black_box(turns + 1);
                if turns.is_multiple_of(4096) {
                    mcp_servers_core::work::check()?;
                }
            }
        })
        .await
    }

    #[tool(
        description = "How many spin calls are still running.",
        annotations(read_only_hint = true)
    )]
    async fn spinning(&self) -> String {
        SPINNING.load(Ordering::SeqCst).to_string()
    }

    #[tool(description = "Report `steps` progress notifications, then return.")]
    async fn progress(
        &self,
        Parameters(p): Parameters<StepsParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<String> {
        let progress = Progress::from_context(&context);
        for i in 1..=p.steps {
            progress.check()?;
            progress.report_now(f64::from(i), Some(f64::from(p.steps)), Some("step"));
        }
        progress.flush().await;
        Ok(format!("{} steps", p.steps))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool_guarded(&self.tool_router, self, request, context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-testserver",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A test server: echo, add, crash, big_text, ask_client, spin, progress.",
            )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = match TestServer::new(&cli.serve) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    mcp_servers_core::serve::run(cli.serve, move || server.clone())
}
