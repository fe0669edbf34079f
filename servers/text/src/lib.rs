//! mcp-text: exact text work for models, which are bad at counting, string
//! surgery, hashing, encoding and diffing.
//!
//! It is also the workspace's complete example of the protocol beyond tools:
//! prompts ([`prompts`]), resources and a resource template ([`resources`]),
//! completions ([`TextServer::complete`]), logging notifications at the level
//! the client sets (core's `ClientLog`), progress and cancellation for long inputs, and
//! MCP roots that widen the directories `path` arguments may read.
//!
//! One [`TextServer`] serves one session: over HTTP each session gets its own
//! sandbox and its own logging level.

pub mod input;
pub mod prompts;
pub mod resources;
pub mod segment;
#[cfg(test)]
mod testing;
pub mod tokenize;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mcp_servers_core::cli::ServeArgs;
use mcp_servers_core::client_log::ClientLog;
use mcp_servers_core::error::call_tool_guarded;
use mcp_servers_core::roots::{self, RootsArgs, RootsPolicy};
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, prompt_handler, tool_handler};
use tools::matcher::MatcherCache;

/// Default cap on one input (inline `text` or a file), in bytes.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-text",
    version,
    about = "MCP text server: exact counts and tokens, search/replace, diff, transforms, \
             encodings, hashes, JSON/YAML/TOML, Markdown and HTML",
    after_help = "Every tool takes `text` inline, or `path`: a file inside the allowed \
                  directories (the DIR arguments, replaced by the client's MCP roots over \
                  stdio, only narrowed by them over HTTP; see --roots). With no DIR and no \
                  roots, only inline text works."
)]
pub struct Cli {
    /// Directories whose files the tools may read (and `replace` may write).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Largest input (inline text or file) a tool accepts, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_INPUT_BYTES, env = "MCP_TEXT_MAX_INPUT_BYTES")]
    pub max_input_bytes: u64,

    #[command(flatten)]
    pub roots: RootsArgs,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Compiled search patterns kept for reuse, across sessions. Few: each
/// holds its engines' caches (up to a few MiB for a busy pattern).
const MATCHER_CACHE_ENTRIES: usize = 16;

/// What every session shares.
#[derive(Debug, Clone)]
pub struct Config {
    /// Canonical command-line directories (the roots every session starts with).
    pub roots: Vec<PathBuf>,
    /// What the client's roots may do to them (`--roots`).
    pub roots_policy: RootsPolicy,
    pub max_input_bytes: u64,
}

impl Config {
    /// Checks the command line: every directory must exist and be a directory.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let sandbox = PathSandbox::new(&cli.dirs).map_err(|e| {
            anyhow::anyhow!(
                "invalid allowed directory: {e} (every DIR argument must be an existing directory)"
            )
        })?;
        Ok(Self {
            roots: sandbox.roots().to_vec(),
            roots_policy: cli.roots.resolve(&cli.serve, &sandbox.roots()),
            max_input_bytes: cli.max_input_bytes.max(1),
        })
    }
}

/// Builds one server per session from the shared configuration and routers.
#[derive(Clone)]
pub struct ServerFactory {
    config: Arc<Config>,
    tool_router: ToolRouter<TextServer>,
    prompt_router: PromptRouter<TextServer>,
    matchers: Arc<MatcherCache>,
}

impl ServerFactory {
    pub fn new(config: Config, serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut tool_router = TextServer::all_tools();
        serve.tool_filter().apply(&mut tool_router)?;
        Ok(Self {
            config: Arc::new(config),
            tool_router,
            prompt_router: TextServer::prompt_router(),
            matchers: Arc::new(MatcherCache::new(MATCHER_CACHE_ENTRIES)),
        })
    }

    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        Self::new(Config::from_cli(cli)?, &cli.serve)
    }

    /// A server for one new session, starting from the command-line roots.
    pub fn session(&self) -> TextServer {
        let sandbox =
            PathSandbox::for_session_with_policy(&self.config.roots, self.config.roots_policy);
        TextServer {
            tool_router: self.tool_router.clone(),
            prompt_router: self.prompt_router.clone(),
            sandbox: Arc::new(sandbox),
            config: self.config.clone(),
            log: ClientLog::new("mcp-text"),
            matchers: self.matchers.clone(),
        }
    }
}

/// The text server of one session.
#[derive(Clone)]
pub struct TextServer {
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
    pub(crate) sandbox: Arc<PathSandbox>,
    pub(crate) config: Arc<Config>,
    pub(crate) log: ClientLog,
    pub(crate) matchers: Arc<MatcherCache>,
}

impl TextServer {
    /// Every tool, before the tool filter.
    pub fn all_tools() -> ToolRouter<Self> {
        Self::stats_router()
            + Self::search_router()
            + Self::diff_router()
            + Self::transform_router()
            + Self::encode_router()
            + Self::data_router()
            + Self::markdown_router()
            + Self::chunk_router()
            + Self::extract_router()
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for TextServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool_guarded(&self.tool_router, self, request, context).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(self, &request.uri).await.map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(prompts::complete(self, &request))
    }

    #[allow(deprecated)] // logging: deprecated in the newest protocol, still used by clients.
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.set_level(request.level);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        roots::on_initialized(&self.sandbox, &context.peer).await;
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        roots::refresh(&self.sandbox, &context.peer).await;
    }

    // Logging: deprecated in the newest protocol (SEP-2577), still used by clients.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new("mcp-text", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Exact text work: counts and token counts (text_stats), search and replace \
             (literal or regex), diff, case and Unicode transforms, encode/decode, hashes, \
             JSON/YAML/TOML, Markdown, HTML to Markdown, chunking and extraction. Every tool \
             takes `text` inline or `path` (a file inside the allowed directories). Use these \
             instead of counting, hashing or editing by hand.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_title_annotations_and_an_output_schema() {
        for tool in TextServer::all_tools().list_all() {
            assert!(tool.title.is_some(), "{} has no title", tool.name);
            assert!(
                tool.annotations.is_some(),
                "{} has no annotations",
                tool.name
            );
            assert!(
                tool.output_schema.is_some(),
                "{} has no output schema",
                tool.name
            );
        }
    }

    /// Issue 21: every tool's description states its units (characters
    /// or bytes) and its line-ending rule: a sentence that names `\n` and
    /// says what it does to lines (ends them, keeps them, converts them).
    #[test]
    fn every_description_states_units_and_line_endings() {
        let tools = TextServer::all_tools().list_all();
        assert_eq!(tools.len(), 13, "a tool was added: check its description");
        for tool in tools {
            let description = tool.description.as_deref().unwrap_or_default();
            let line_rule = description.split(". ").any(|sentence| {
                sentence.contains("\\n") && (sentence.contains("line") || sentence.contains("Line"))
            });
            assert!(
                line_rule,
                "{}: no sentence states the line-ending rule (what `\\n`, `\\r\\n` \
                 and a lone `\\r` do): {description}",
                tool.name
            );
            assert!(
                description.contains("characters")
                    || description.contains("bytes")
                    || description.contains("Unicode scalar values"),
                "{}: the description names no unit (characters or bytes): {description}",
                tool.name
            );
        }
    }
}
