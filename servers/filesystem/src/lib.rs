//! mcp-filesystem: a drop-in replacement for the official
//! `@modelcontextprotocol/server-filesystem`, with the same tools and output
//! formats, every path checked by core's [`PathSandbox`], atomic writes,
//! bounded reads and walks that report progress and stop when cancelled.
//!
//! One [`FilesystemServer`] serves one session: over HTTP each session gets
//! its own sandbox, so a client's roots only ever affect its own session.

pub mod encoding;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mcp_servers_core::cli::ServeArgs;
use mcp_servers_core::error::call_tool_guarded;
use mcp_servers_core::roots::{self, RootsArgs, RootsPolicy};
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

/// Default cap on a text file read whole (or a batch of them), in bytes.
pub const DEFAULT_MAX_READ_BYTES: u64 = 64 * 1024 * 1024;
/// Default cap on a media file sent as base64, in bytes.
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 32 * 1024 * 1024;
/// Default cap on search results.
pub const DEFAULT_MAX_RESULTS: usize = 10_000;
/// Default cap on directory_tree entries.
pub const DEFAULT_MAX_TREE_ENTRIES: usize = 50_000;

/// The tools that change the file system, removed by `--read-only`.
pub const WRITE_TOOLS: [&str; 5] = [
    "write_file",
    "edit_file",
    "create_directory",
    "move_file",
    "copy_file",
];

#[derive(Debug, Parser)]
#[command(
    name = "mcp-filesystem",
    version,
    about = "MCP filesystem server: read, write, edit, list and search files under allowed directories",
    after_help = "With no DIR, the server waits for the client's MCP roots. \
                  Over stdio, roots sent by the client replace the directories given here \
                  (the official server's behaviour); over HTTP they may only narrow them. \
                  --roots changes this."
)]
pub struct Cli {
    /// Allowed directories (each must exist and be a directory).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Offer only the reading tools; writing tools are hidden and refused.
    #[arg(long, env = "MCP_FS_READ_ONLY")]
    pub read_only: bool,

    /// Largest text read in one call (a whole file, or all files of read_multiple_files), in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_READ_BYTES, env = "MCP_FS_MAX_READ_BYTES")]
    pub max_read_bytes: u64,

    /// Largest file read_media_file returns, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MEDIA_BYTES, env = "MCP_FS_MAX_MEDIA_BYTES")]
    pub max_media_bytes: u64,

    /// Most results search_files and search_file_contents return.
    #[arg(long, default_value_t = DEFAULT_MAX_RESULTS, env = "MCP_FS_MAX_RESULTS")]
    pub max_results: usize,

    /// Most entries directory_tree returns.
    #[arg(long, default_value_t = DEFAULT_MAX_TREE_ENTRIES, env = "MCP_FS_MAX_TREE_ENTRIES")]
    pub max_tree_entries: usize,

    #[command(flatten)]
    pub roots: RootsArgs,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What every session shares: limits and the command-line directories.
#[derive(Debug, Clone)]
pub struct Config {
    /// Canonical command-line directories (the roots every session starts with).
    pub roots: Vec<PathBuf>,
    /// What the client's roots may do to them (`--roots`).
    pub roots_policy: RootsPolicy,
    pub read_only: bool,
    pub max_read_bytes: u64,
    pub max_media_bytes: u64,
    pub max_results: usize,
    pub max_tree_entries: usize,
}

impl Config {
    /// Checks the command line: every directory must exist and be a directory.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let sandbox = PathSandbox::new(&cli.dirs).map_err(|e| {
            anyhow::anyhow!(
                "invalid allowed directory: {e} (every DIR argument must be an existing directory)"
            )
        })?;
        // Temporary files a killed server left at the top of its directories.
        for root in sandbox.roots().iter() {
            mcp_servers_core::fsutil::remove_stale_temp_files(root);
        }
        Ok(Self {
            roots: sandbox.roots().to_vec(),
            roots_policy: cli.roots.resolve(&cli.serve, &sandbox.roots()),
            read_only: cli.read_only,
            max_read_bytes: cli.max_read_bytes,
            max_media_bytes: cli.max_media_bytes,
            max_results: cli.max_results.max(1),
            max_tree_entries: cli.max_tree_entries.max(1),
        })
    }
}

/// Builds one server per session from the shared configuration and router.
#[derive(Clone)]
pub struct ServerFactory {
    config: Arc<Config>,
    tool_router: ToolRouter<FilesystemServer>,
}

impl ServerFactory {
    pub fn new(config: Config, serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut tool_router = FilesystemServer::all_tools();
        if config.read_only {
            for name in WRITE_TOOLS {
                tool_router.remove_route(name);
            }
        }
        serve.tool_filter().apply(&mut tool_router)?;
        Ok(Self {
            config: Arc::new(config),
            tool_router,
        })
    }

    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        Self::new(Config::from_cli(cli)?, &cli.serve)
    }

    /// A server for one new session, starting from the command-line roots.
    pub fn session(&self) -> FilesystemServer {
        let sandbox =
            PathSandbox::for_session_with_policy(&self.config.roots, self.config.roots_policy);
        FilesystemServer {
            tool_router: self.tool_router.clone(),
            sandbox: Arc::new(sandbox),
            config: self.config.clone(),
        }
    }
}

/// The filesystem server of one session.
#[derive(Clone)]
pub struct FilesystemServer {
    tool_router: ToolRouter<Self>,
    pub(crate) sandbox: Arc<PathSandbox>,
    pub(crate) config: Arc<Config>,
}

impl FilesystemServer {
    /// Every tool, before `--read-only` and the tool filter.
    pub fn all_tools() -> ToolRouter<Self> {
        Self::read_router()
            + Self::list_router()
            + Self::search_router()
            + Self::info_router()
            + Self::write_router()
            + Self::edit_router()
            + Self::copy_router()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FilesystemServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool_guarded(&self.tool_router, self, request, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        roots::on_initialized(&self.sandbox, &context.peer).await;
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        roots::refresh(&self.sandbox, &context.peer).await;
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-filesystem",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Read, write, edit, list and search files, only inside the allowed directories \
                 (call list_allowed_directories to see them). Paths may be absolute or relative \
                 to the first allowed directory.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_removes_every_writing_tool() {
        let config = Config {
            roots: vec![],
            roots_policy: RootsPolicy::Replace,
            read_only: true,
            max_read_bytes: 1,
            max_media_bytes: 1,
            max_results: 1,
            max_tree_entries: 1,
        };
        let factory = ServerFactory::new(config, &ServeArgs::default()).unwrap();
        let names: Vec<String> = factory
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        for name in WRITE_TOOLS {
            assert!(!names.iter().any(|n| n == name), "{name} still offered");
        }
        assert!(names.iter().any(|n| n == "read_text_file"));
    }
}
