//! The command-line arguments every server shares.
//!
//! A server's own `Cli` flattens [`ServeArgs`] next to its specific flags, so
//! every binary in the workspace accepts the same transport, security and
//! logging options with the same names.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Default cap on one incoming JSON-RPC message (stdio line or HTTP body).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// Newline-delimited JSON-RPC on stdin/stdout (what desktop clients launch).
    Stdio,
    /// Streamable HTTP at /mcp, plus legacy HTTP+SSE at /sse and /message.
    Http,
}

/// How log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, fields, the current span's
    /// fields such as `trace_id`), for log pipelines.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Transport to serve on.
    #[arg(long, value_enum, default_value = "stdio", env = "MCP_TRANSPORT")]
    pub transport: TransportKind,

    /// Address to listen on with --transport http.
    #[arg(long, default_value = "127.0.0.1:8000", env = "MCP_LISTEN")]
    pub listen: SocketAddr,

    /// Bearer token required on every MCP endpoint over HTTP (/health stays open).
    #[arg(long, env = "MCP_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Allow listening on a non-loopback address without --auth-token.
    #[arg(long)]
    pub insecure_no_auth: bool,

    /// Extra Host header values accepted over HTTP (loopback names are always
    /// accepted when listening on loopback). Comma-separated or repeated.
    #[arg(
        long = "allowed-host",
        value_delimiter = ',',
        env = "MCP_ALLOWED_HOSTS"
    )]
    pub allowed_hosts: Vec<String>,

    /// Browser origins accepted over HTTP (e.g. http://localhost:5173); also
    /// sent as CORS allow-origins. Requests without an Origin header pass.
    #[arg(
        long = "allowed-origin",
        value_delimiter = ',',
        env = "MCP_ALLOWED_ORIGINS"
    )]
    pub allowed_origins: Vec<String>,

    /// Serve every HTTP request on its own (no sessions, JSON responses), for
    /// replicas behind a load balancer.
    #[arg(long)]
    pub stateless: bool,

    /// Close an HTTP session after this many seconds without a request (its
    /// memory is freed; the client must initialize again).
    #[arg(long, default_value_t = DEFAULT_SESSION_IDLE_TIMEOUT_S, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_idle_timeout: u64,

    /// Largest accepted JSON-RPC message in bytes (stdio line or HTTP body).
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES, env = "MCP_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: usize,

    /// Stop a tool call after this many seconds: its work is cancelled and
    /// the client gets an error (cancellation by the client stops it sooner).
    #[arg(long, default_value_t = crate::work::DEFAULT_MAX_CALL_SECONDS, env = "MCP_MAX_CALL_SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=crate::work::MAX_CALL_SECONDS_LIMIT))]
    pub max_call_seconds: u64,

    /// Most HTTP sessions alive at once; an `initialize` beyond it gets 503
    /// with Retry-After (idle sessions are closed after --session-idle-timeout).
    #[arg(long, default_value_t = DEFAULT_MAX_SESSIONS, env = "MCP_MAX_SESSIONS",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_sessions: u64,

    /// Most HTTP connections open at once; more wait in the kernel's
    /// accept queue until one closes.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, env = "MCP_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Seconds an HTTP client has to send a request's headers (also the
    /// most a kept-alive connection idles), and again to send its body;
    /// slower connections are closed.
    #[arg(long, default_value_t = DEFAULT_READ_TIMEOUT_S, env = "MCP_READ_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub read_timeout: u64,

    /// Only offer these tools (comma-separated), to save the client's context.
    #[arg(long, value_delimiter = ',')]
    pub enable_tools: Vec<String>,

    /// Hide these tools (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub disable_tools: Vec<String>,

    /// Log filter for stderr, e.g. `info` or `mcp_servers_core=debug`
    /// (default: RUST_LOG, else `warn`).
    #[arg(long, env = "MCP_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Log line format on stderr: `text`, or `json` (one object per line).
    #[arg(long, value_enum, default_value = "text", env = "MCP_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; any
    /// transport, stdio included). No auth: bind it where only the scraper
    /// reaches.
    #[arg(long, env = "MCP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// PEM certificate chain: serve HTTPS (needs the `tls` cargo feature).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServeArgs {
    /// The tool allow/deny lists as a filter a server applies to its router.
    pub fn tool_filter(&self) -> ToolFilter {
        ToolFilter {
            enable: self.enable_tools.clone(),
            disable: self.disable_tools.clone(),
        }
    }
}

/// Seconds an HTTP session may stay idle before it is closed.
pub const DEFAULT_SESSION_IDLE_TIMEOUT_S: u64 = 300;

/// Default cap on live HTTP sessions: far above what one team's agents
/// open, far below what fills memory (a session costs tens of KiB).
pub const DEFAULT_MAX_SESSIONS: u64 = 1000;

/// Default time to send a request's headers, and again its body.
pub const DEFAULT_READ_TIMEOUT_S: u64 = 30;

/// Default cap on open HTTP connections (each costs a task and buffers).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1024;

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            transport: TransportKind::Stdio,
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            auth_token: None,
            insecure_no_auth: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            stateless: false,
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT_S,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_call_seconds: crate::work::DEFAULT_MAX_CALL_SECONDS,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read_timeout: DEFAULT_READ_TIMEOUT_S,
            enable_tools: Vec::new(),
            disable_tools: Vec::new(),
            log_level: None,
            log_format: LogFormat::Text,
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Which tools a server offers: everything, minus `disable`, limited to
/// `enable` when that is non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
}

impl ToolFilter {
    /// Removes the filtered-out tools from `router` and normalizes the
    /// schemas of the rest ([`crate::schema`]); every server calls this once
    /// on its router. A name that matches no tool is an error, so a typo in a
    /// config does not silently do nothing.
    pub fn apply<S: Send + Sync + 'static>(
        &self,
        router: &mut rmcp::handler::server::router::tool::ToolRouter<S>,
    ) -> anyhow::Result<()> {
        let known: Vec<String> = router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        for name in self.enable.iter().chain(&self.disable) {
            if !known.iter().any(|k| k == name) {
                anyhow::bail!(
                    "unknown tool '{name}' in --enable-tools/--disable-tools; this server has: {}",
                    known.join(", ")
                );
            }
        }
        for name in &known {
            let enabled = self.enable.is_empty() || self.enable.contains(name);
            if !enabled || self.disable.contains(name) {
                router.remove_route(name);
            }
        }
        crate::schema::normalize_router(router);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn defaults_are_stdio_loopback_64mib() {
        let cli = TestCli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.serve.transport, TransportKind::Stdio);
        assert!(cli.serve.listen.ip().is_loopback());
        assert_eq!(cli.serve.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(cli.serve.log_format, LogFormat::Text);
        assert_eq!(cli.serve.metrics_listen, None);
    }

    #[test]
    fn log_format_and_metrics_address_parse() {
        let cli = TestCli::try_parse_from([
            "x",
            "--log-format",
            "json",
            "--metrics-listen",
            "0.0.0.0:9090",
        ])
        .unwrap();
        assert_eq!(cli.serve.log_format, LogFormat::Json);
        assert_eq!(
            cli.serve.metrics_listen,
            Some("0.0.0.0:9090".parse().unwrap())
        );
        assert!(TestCli::try_parse_from(["x", "--log-format", "xml"]).is_err());
        assert!(TestCli::try_parse_from(["x", "--metrics-listen", "nowhere"]).is_err());
    }

    #[test]
    fn lists_split_on_commas() {
        let cli = TestCli::try_parse_from([
            "x",
            "--enable-tools",
            "a,b",
            "--disable-tools",
            "c",
            "--allowed-host",
            "h1,h2",
        ])
        .unwrap();
        assert_eq!(cli.serve.enable_tools, ["a", "b"]);
        assert_eq!(cli.serve.disable_tools, ["c"]);
        assert_eq!(cli.serve.allowed_hosts, ["h1", "h2"]);
    }

    #[test]
    fn tls_flags_come_in_pairs() {
        assert!(TestCli::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
        assert!(
            TestCli::try_parse_from(["x", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).is_ok()
        );
    }
}
