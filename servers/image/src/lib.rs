//! mcp-image: look at, shrink, crop, convert and compare images, with limits
//! against hostile input (file size, pixel count, frame count) checked before
//! anything large is allocated.
//!
//! One [`ImageServer`] serves one session: over HTTP each session gets its
//! own [`PathSandbox`], so a client's roots only ever affect its own session.
//! The decoded-image cache is shared by every session (it is keyed by file
//! identity, and every path reaching it went through a sandbox first).

pub mod budget;
pub mod cost;
pub mod encode;
pub mod font;
pub mod frames;
pub mod jpeg_scaled;
pub mod memory;
pub mod ops;
pub mod params;
pub mod source;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mcp_servers_core::cli::ServeArgs;
use mcp_servers_core::error::{ToolError, call_tool_guarded};
use mcp_servers_core::roots::{RootsArgs, RootsPolicy};
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::memory::MemoryBudget;
use crate::source::{DecodeCache, Limits};

/// Default cap on an input file (or decoded `data`), in bytes.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Default cap on the pixels of an input or output image (100 megapixels).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;
/// Default cap on the frames of an animation.
pub const DEFAULT_MAX_FRAMES: usize = 1000;
/// Default cap on an image returned inline, in encoded bytes (before base64).
pub const DEFAULT_MAX_INLINE_BYTES: usize = 1024 * 1024;
/// Default size of the decoded-image cache, in bytes.
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Default cap on the files of one batch_transform.
pub const DEFAULT_MAX_BATCH_FILES: usize = 10_000;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-image",
    version,
    about = "MCP image server: inspect, resize, crop, convert, compare and prepare images for vision models",
    after_help = "With no DIR, the server waits for the client's MCP roots. \
                  Roots sent by the client replace the directories given here over stdio, \
                  and may only narrow them over HTTP (see --roots). \
                  Images passed inline as base64 `data` need no directory."
)]
pub struct Cli {
    /// Allowed directories (each must exist and be a directory).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Largest input image (file or inline data), in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, env = "MCP_IMAGE_MAX_FILE_BYTES")]
    pub max_file_bytes: u64,

    /// Most pixels (width x height) of an input or output image; larger
    /// headers are refused before any pixel memory is allocated.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS, env = "MCP_IMAGE_MAX_PIXELS")]
    pub max_pixels: u64,

    /// Most frames of an animated GIF, PNG or WebP.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAMES, env = "MCP_IMAGE_MAX_FRAMES")]
    pub max_frames: usize,

    /// Largest image returned inline (encoded bytes, before base64); bigger
    /// results are re-encoded smaller or downscaled, else refused.
    #[arg(long, default_value_t = DEFAULT_MAX_INLINE_BYTES, env = "MCP_IMAGE_MAX_INLINE_BYTES")]
    pub max_inline_bytes: usize,

    /// Memory for decoded images kept between calls, in bytes (0 disables);
    /// at most a quarter of --max-memory.
    #[arg(long, default_value_t = DEFAULT_CACHE_BYTES, env = "MCP_IMAGE_CACHE_BYTES")]
    pub cache_bytes: usize,

    /// Most files one batch_transform processes.
    #[arg(long, default_value_t = DEFAULT_MAX_BATCH_FILES, env = "MCP_IMAGE_MAX_BATCH_FILES")]
    pub max_batch_files: usize,

    /// Memory for pixels across all calls, in bytes or with a suffix (512M,
    /// 2G). Each call reserves its estimated need before decoding and waits
    /// while the budget is in use; a call that could never fit is refused.
    /// The decode cache takes at most a quarter of it. Default: a quarter of
    /// the machine's memory (or its cgroup limit), 2 GiB where unknown.
    #[arg(long, value_name = "BYTES", value_parser = memory::parse_max_memory, env = "MCP_IMAGE_MAX_MEMORY")]
    pub max_memory: Option<u64>,

    /// Longest a call waits for memory before it is refused as busy.
    #[arg(long, value_name = "SECONDS", default_value_t = memory::DEFAULT_MEMORY_WAIT_SECONDS, env = "MCP_IMAGE_MEMORY_WAIT_SECONDS")]
    pub memory_wait_seconds: u64,

    #[command(flatten)]
    pub roots: RootsArgs,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What every session shares: limits, the command-line directories, the cache.
#[derive(Debug)]
pub struct Config {
    /// Canonical command-line directories (the roots every session starts with).
    pub roots: Vec<PathBuf>,
    /// What the client's roots may do to them (`--roots`).
    pub roots_policy: RootsPolicy,
    pub limits: Limits,
    pub max_inline_bytes: usize,
    pub max_batch_files: usize,
    pub cache: DecodeCache,
    /// The memory every call reserves from (`--max-memory`).
    pub memory: Arc<MemoryBudget>,
}

impl Config {
    /// Checks the command line: every directory must exist and be a directory.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let sandbox = PathSandbox::new(&cli.dirs).map_err(|e| {
            anyhow::anyhow!(
                "invalid allowed directory: {e} (every DIR argument must be an existing directory)"
            )
        })?;
        let memory = MemoryBudget::new(
            cli.max_memory.unwrap_or_else(memory::default_max_memory),
            cli.cache_bytes as u64,
            std::time::Duration::from_secs(cli.memory_wait_seconds.min(24 * 3600)),
        );
        Ok(Self {
            roots: sandbox.roots().to_vec(),
            roots_policy: cli.roots.resolve(&cli.serve, &sandbox.roots()),
            limits: Limits {
                max_file_bytes: cli.max_file_bytes.max(1),
                max_pixels: cli.max_pixels.max(1),
                max_frames: cli.max_frames.max(1),
            },
            max_inline_bytes: cli.max_inline_bytes.max(1),
            max_batch_files: cli.max_batch_files.max(1),
            cache: DecodeCache::new(memory.cache_share() as usize),
            memory,
        })
    }

    /// Defaults, for tests and benches.
    pub fn with_roots(roots: Vec<PathBuf>) -> Self {
        let memory = MemoryBudget::new(
            memory::default_max_memory(),
            DEFAULT_CACHE_BYTES as u64,
            std::time::Duration::from_secs(memory::DEFAULT_MEMORY_WAIT_SECONDS),
        );
        Self {
            roots,
            roots_policy: RootsPolicy::Replace,
            limits: Limits::default(),
            max_inline_bytes: DEFAULT_MAX_INLINE_BYTES,
            max_batch_files: DEFAULT_MAX_BATCH_FILES,
            cache: DecodeCache::new(memory.cache_share() as usize),
            memory,
        }
    }
}

/// Builds one server per session from the shared configuration and router.
#[derive(Clone)]
pub struct ServerFactory {
    config: Arc<Config>,
    tool_router: ToolRouter<ImageServer>,
}

impl ServerFactory {
    pub fn new(config: Config, serve: &ServeArgs) -> anyhow::Result<Self> {
        let mut tool_router = ImageServer::all_tools();
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
    pub fn session(&self) -> ImageServer {
        let sandbox =
            PathSandbox::for_session_with_policy(&self.config.roots, self.config.roots_policy);
        ImageServer {
            tool_router: self.tool_router.clone(),
            sandbox: Arc::new(sandbox),
            config: self.config.clone(),
        }
    }
}

/// The image server of one session.
#[derive(Clone)]
pub struct ImageServer {
    tool_router: ToolRouter<Self>,
    pub(crate) sandbox: Arc<PathSandbox>,
    pub(crate) config: Arc<Config>,
}

impl ImageServer {
    /// Every tool, before the tool filter.
    pub fn all_tools() -> ToolRouter<Self> {
        Self::info_router()
            + Self::transform_router()
            + Self::model_router()
            + Self::compare_router()
            + Self::sheet_router()
            + Self::batch_router()
    }
}

/// A sandbox refusal as a tool error; "no roots" names this server and the
/// `data` alternative.
pub(crate) fn path_error(err: mcp_servers_core::sandbox::SandboxError) -> ToolError {
    match err {
        mcp_servers_core::sandbox::SandboxError::NoRoots => ToolError::new(
            "No allowed directories are set: pass directories on the command line \
             (e.g. mcp-image /path/to/images), use a client that provides MCP roots, \
             or send the image inline as `data` (base64)",
        ),
        other => other.into(),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ImageServer {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool_guarded(&self.tool_router, self, request, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        mcp_servers_core::roots::on_initialized(&self.sandbox, &context.peer).await;
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        mcp_servers_core::roots::refresh(&self.sandbox, &context.peer).await;
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-image", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Inspect and process images. A source image is either `path` (inside the \
                 allowed directories) or `data` (base64 or a data: URL). Use image_info first \
                 (cheap, no decoding), prepare_for_model before looking at a large image, \
                 transform to resize/crop/convert, compare for visual diffs. Results are \
                 written to `output_path` (never overwriting unless overwrite: true) or \
                 returned inline (return_image: true), capped in size.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_offered() {
        let factory =
            ServerFactory::new(Config::with_roots(vec![]), &ServeArgs::default()).unwrap();
        let mut names: Vec<String> = factory
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "batch_transform",
                "compare",
                "contact_sheet",
                "image_info",
                "prepare_for_model",
                "transform"
            ]
        );
    }

    /// Every number in `schema` (at any depth), with the path to it.
    fn numbers<'a>(
        schema: &'a serde_json::Value,
        path: String,
        out: &mut Vec<(String, &'a serde_json::Value)>,
    ) {
        match schema {
            serde_json::Value::Object(map) => {
                let is_number = |t: &serde_json::Value| {
                    t.as_str().is_some_and(|t| t == "integer" || t == "number")
                };
                let typed = map.get("type").is_some_and(|t| {
                    is_number(t) || t.as_array().is_some_and(|a| a.iter().any(is_number))
                });
                if typed {
                    out.push((path.clone(), schema));
                }
                for (key, value) in map {
                    numbers(value, format!("{path}/{key}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    numbers(value, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_number_argument_has_documented_bounds() {
        let factory =
            ServerFactory::new(Config::with_roots(vec![]), &ServeArgs::default()).unwrap();
        let mut seen = 0;
        for tool in factory.tool_router.list_all() {
            let schema = serde_json::Value::Object((*tool.input_schema).clone());
            let mut found = Vec::new();
            numbers(&schema, tool.name.to_string(), &mut found);
            for (path, number) in found {
                seen += 1;
                let low = number.get("minimum").or(number.get("exclusiveMinimum"));
                let high = number.get("maximum");
                assert!(
                    low.is_some() && high.is_some(),
                    "{path} has no minimum and maximum: {number}"
                );
            }
        }
        // quality (4 tools), threshold, columns, cell_size, and the 12
        // numbers of the operations (in transform's and batch's schemas).
        assert!(seen >= 7 + 2 * 12, "{seen}");
    }
}
