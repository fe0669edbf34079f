//! mcp-everything: every feature of the protocol in one server, the Rust
//! counterpart of the official "everything" server and the fixture the
//! official conformance suite (`@modelcontextprotocol/conformance`) tests.
//!
//! Its names are the suite's: `test_*` tools ([`tools`]), `test://`
//! resources and a template with subscriptions ([`resources`]), `test_*`
//! prompts and completions ([`prompts`]), and logging at the client's
//! level (core's `ClientLog`). A client author points a client here to
//! exercise every message kind; a server author copies the piece they need.
//!
//! One [`EverythingServer`] serves one session.

pub mod prompts;
pub mod resources;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mcp_servers_core::cli::ServeArgs;
use mcp_servers_core::client_log::{ClientLog, Level};
use mcp_servers_core::error::call_tool_guarded;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, prompt_handler, tool_handler};

#[derive(Debug, Parser)]
#[command(
    name = "mcp-everything",
    version,
    about = "MCP everything server: every protocol feature (tools of every content kind, \
             logging, progress, sampling, elicitation, resources with subscriptions, \
             prompts, completions) under the conformance suite's names",
    after_help = "Run `--transport http` and point `npx @modelcontextprotocol/conformance \
                  server --url http://127.0.0.1:8000/mcp` at it, or any MCP client."
)]
pub struct Cli {
    /// Seconds between updates of test://watched-resource while a client
    /// is subscribed to it (each update sends notifications/resources/updated).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub watch_interval_secs: u64,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What every session shares.
#[derive(Debug, Clone)]
pub struct Config {
    pub watch_interval: Duration,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        Ok(Self {
            watch_interval: Duration::from_secs(cli.watch_interval_secs),
        })
    }
}

/// Builds one server per session from the shared configuration and routers.
#[derive(Clone)]
pub struct ServerFactory {
    config: Arc<Config>,
    tool_router: ToolRouter<EverythingServer>,
    prompt_router: PromptRouter<EverythingServer>,
}

impl ServerFactory {
    pub fn new(config: Config, serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut tool_router = EverythingServer::all_tools();
        serve.tool_filter().apply(&mut tool_router)?;
        tools::schema::restore_raw_schemas(&mut tool_router);
        Ok(Self {
            config: Arc::new(config),
            tool_router,
            prompt_router: EverythingServer::prompt_router(),
        })
    }

    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        Self::new(Config::from_cli(cli)?, &cli.serve)
    }

    /// A server for one new session.
    pub fn session(&self) -> EverythingServer {
        EverythingServer {
            tool_router: self.tool_router.clone(),
            prompt_router: self.prompt_router.clone(),
            config: self.config.clone(),
            log: ClientLog::new("mcp-everything"),
            subscriptions: resources::Subscriptions::default(),
        }
    }
}

/// The everything server of one session.
#[derive(Clone)]
pub struct EverythingServer {
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
    pub(crate) config: Arc<Config>,
    pub(crate) log: ClientLog,
    pub(crate) subscriptions: resources::Subscriptions,
}

impl EverythingServer {
    /// Every tool, before the tool filter.
    pub fn all_tools() -> ToolRouter<Self> {
        Self::content_router()
            + Self::notify_router()
            + Self::client_router()
            + Self::schema_router()
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for EverythingServer {
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
        resources::read(&self.subscriptions, &request.uri).map(Into::into)
    }

    #[allow(deprecated)] // resources/subscribe: legacy-only in 2026-07-28, still used by clients.
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let peer = context.peer;
        self.subscriptions
            .subscribe(&request.uri, &peer, self.config.watch_interval)?;
        let message = format!("subscribed to {}", request.uri);
        self.log.send(&peer, Level::Info, message).await;
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.unsubscribe(&request.uri)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(prompts::complete(&request))
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

    // Logging: deprecated in the newest protocol (SEP-2577), still used by clients.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mcp-everything",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "A protocol showcase: each test_* tool exercises one feature (content kinds, \
             logging, progress, errors, sampling, elicitation); test:// resources, a \
             template and a watched resource that can be subscribed to; test_* prompts \
             with completions. Useful to check what a client supports.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_description() {
        let tools = EverythingServer::all_tools().list_all();
        assert_eq!(tools.len(), 14, "the conformance fixture has 14 tools");
        for tool in tools {
            assert!(
                tool.description.as_deref().is_some_and(|d| !d.is_empty()),
                "{} has no description",
                tool.name
            );
        }
    }
}
