//! Prometheus metrics, collected only when `--metrics-listen` is given.
//!
//! One process-wide set ([`enable`] is called once at start-up); every
//! recording function is a no-op until then, so a server without the flag
//! pays one atomic load per event. Labels are bounded: a tool is named only
//! if the server's router has it (anything else is `unknown`), and
//! outcomes, refusal reasons and transports are fixed enums. Every metric
//! carries the constant label `server` (the server's name).
//!
//! Served in the Prometheus text format (0.0.4) by [`render`], on its own
//! listener (`serve::metrics`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the call latency buckets: from half a
/// millisecond (a small text tool) to the default deadline.
const LATENCY_BUCKETS: [f64; 18] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A result without `isError`.
    Ok,
    /// An `isError` result: the tool failed, panicked or met its deadline.
    ToolError,
    /// A JSON-RPC error (an unknown tool, for one).
    ProtocolError,
    /// The client cancelled it, or its session ended before it finished.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::ProtocolError => "protocol_error",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Why a request or message was refused before it reached a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Missing or wrong bearer token (HTTP 401).
    Auth,
    /// Host header not allowed (HTTP 403).
    Host,
    /// Origin header not allowed (HTTP 403).
    Origin,
    /// Over `--max-message-bytes` (HTTP 413, or an oversized stdio line).
    Size,
    /// Body not received within `--read-timeout` (HTTP 408).
    ReadTimeout,
    /// `--max-sessions` alive: a new session got 503.
    SessionsLimit,
    /// Not one JSON-RPC message (-32700, -32600, wrong params -32602).
    Malformed,
    /// A request id already used by a request in progress (-32600).
    DuplicateId,
}

impl Refusal {
    const ALL: [Self; 8] = [
        Self::Auth,
        Self::Host,
        Self::Origin,
        Self::Size,
        Self::ReadTimeout,
        Self::SessionsLimit,
        Self::Malformed,
        Self::DuplicateId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Host => "host",
            Self::Origin => "origin",
            Self::Size => "size",
            Self::ReadTimeout => "read_timeout",
            Self::SessionsLimit => "sessions_limit",
            Self::Malformed => "malformed",
            Self::DuplicateId => "duplicate_id",
        }
    }
}

/// The transport a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Stdio,
    StreamableHttp,
    /// The legacy HTTP+SSE transport (`GET /sse`).
    Sse,
}

impl Transport {
    const ALL: [Self; 3] = [Self::Stdio, Self::StreamableHttp, Self::Sse];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::StreamableHttp => "streamable_http",
            Self::Sse => "sse",
        }
    }
}

macro_rules! label_value {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    )*};
}
label_value!(Outcome, Refusal, Transport);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: Refusal,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabel {
    transport: Transport,
}

type HistogramFamily = Family<ToolLabel, Histogram, fn() -> Histogram>;

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    tool_calls: Family<CallLabels, Counter>,
    call_seconds: HistogramFamily,
    in_flight: Gauge,
    sessions: Family<TransportLabel, Gauge>,
    http_in: Counter,
    http_out: Counter,
    refusals: Family<ReasonLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    fn new(server: &str, version: &str) -> Self {
        let labels = [(Cow::Borrowed("server"), Cow::Owned(server.to_owned()))];
        let mut registry = Registry::with_labels(labels.into_iter());
        let tool_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "mcp_tool_calls",
            "Tool calls by tool and outcome (ok, tool_error, protocol_error, cancelled)",
            tool_calls.clone(),
        );
        let call_seconds: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "mcp_tool_call_duration_seconds",
            "Time from a tool call's dispatch to its answer, by tool",
            call_seconds.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "mcp_tool_calls_in_flight",
            "Tool calls running now",
            in_flight.clone(),
        );
        let sessions = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "mcp_sessions_active",
            "Sessions alive now, by transport (stdio, streamable_http, sse)",
            sessions.clone(),
        );
        let http_in = Counter::default();
        registry.register(
            "mcp_http_request_body_bytes",
            "Bytes of HTTP request bodies received",
            http_in.clone(),
        );
        let http_out = Counter::default();
        registry.register(
            "mcp_http_response_body_bytes",
            "Bytes of HTTP response bodies sent (SSE streams included)",
            http_out.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "mcp_refusals",
            "Requests and messages refused before reaching a tool, by reason",
            refusals.clone(),
        );
        registry.register(
            "mcp_build",
            "The server's version",
            Info::new([("version", version.to_owned())]),
        );
        // Every bounded series exists from the start, so a rate over it is
        // defined before the first event.
        for reason in Refusal::ALL {
            drop(refusals.get_or_create(&ReasonLabel { reason }));
        }
        for transport in Transport::ALL {
            drop(sessions.get_or_create(&TransportLabel { transport }));
        }
        Self {
            registry,
            tool_calls,
            call_seconds,
            in_flight,
            sessions,
            http_in,
            http_out,
            refusals,
        }
    }
}

/// Starts collecting, labelled with the server's `name`; the first call
/// wins. Returns whether metrics are now on.
pub fn enable(name: &str, version: &str) -> bool {
    METRICS.get_or_init(|| Metrics::new(name, version));
    true
}

/// The metrics, if [`enable`] was called.
fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Whether metrics are being collected.
pub fn enabled() -> bool {
    get().is_some()
}

/// Every metric in the Prometheus text format; empty before [`enable`].
pub fn render() -> String {
    let mut out = String::new();
    if let Some(m) = get()
        && prometheus_client::encoding::prometheus_text::encode(&mut out, &m.registry).is_err()
    {
        out.clear();
        let _ = writeln!(out, "# metrics could not be encoded");
    }
    out
}

/// Counts one refusal.
pub fn refused(reason: Refusal) {
    if let Some(m) = get() {
        m.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// Counts request body bytes received over HTTP.
pub fn http_bytes_in(n: u64) {
    if let Some(m) = get() {
        m.http_in.inc_by(n);
    }
}

/// Counts response body bytes sent over HTTP.
pub fn http_bytes_out(n: u64) {
    if let Some(m) = get() {
        m.http_out.inc_by(n);
    }
}

/// One live session: counted in `mcp_sessions_active` until dropped.
#[derive(Debug)]
pub struct SessionGuard(Option<Transport>);

/// Counts a session as alive for as long as the returned guard lives.
pub fn session(transport: Transport) -> SessionGuard {
    match get() {
        Some(m) => {
            m.sessions
                .get_or_create(&TransportLabel { transport })
                .inc();
            SessionGuard(Some(transport))
        }
        None => SessionGuard(None),
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let (Some(transport), Some(m)) = (self.0, get()) {
            m.sessions
                .get_or_create(&TransportLabel { transport })
                .dec();
        }
    }
}

/// One tool call in progress: counted in flight until finished or dropped
/// (a dropped call counts as cancelled).
#[derive(Debug)]
pub struct CallGuard {
    live: Option<(String, Instant)>,
}

/// The label for a tool that is not the router's.
pub const UNKNOWN_TOOL: &str = "unknown";

/// Starts timing a call of `tool` (already bounded by the caller: a name
/// the router knows, else [`UNKNOWN_TOOL`]).
pub fn call_started(tool: &str) -> CallGuard {
    match get() {
        Some(m) => {
            m.in_flight.inc();
            CallGuard {
                live: Some((tool.to_owned(), Instant::now())),
            }
        }
        None => CallGuard { live: None },
    }
}

impl CallGuard {
    /// Records the call's outcome and latency.
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        let (Some((tool, start)), Some(m)) = (self.live.take(), get()) else {
            return;
        };
        m.in_flight.dec();
        let seconds = start.elapsed().as_secs_f64();
        m.call_seconds
            .get_or_create(&ToolLabel { tool: tool.clone() })
            .observe(seconds);
        m.tool_calls
            .get_or_create(&CallLabels { tool, outcome })
            .inc();
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.record(Outcome::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_bounded_labels() {
        enable("mcp-unit", "1.2.3");
        call_started("echo").finish(Outcome::Ok);
        call_started(UNKNOWN_TOOL).finish(Outcome::ProtocolError);
        drop(call_started("echo"));
        refused(Refusal::Auth);
        let live = session(Transport::Sse);
        http_bytes_in(10);
        http_bytes_out(20);
        let text = render();
        for line in [
            r#"mcp_tool_calls_total{server="mcp-unit",tool="echo",outcome="ok"} 1"#,
            r#"mcp_tool_calls_total{server="mcp-unit",tool="echo",outcome="cancelled"} 1"#,
            r#"mcp_tool_calls_total{server="mcp-unit",tool="unknown",outcome="protocol_error"} 1"#,
            r#"mcp_tool_call_duration_seconds_count{server="mcp-unit",tool="echo"} 2"#,
            r#"mcp_tool_call_duration_seconds_bucket{server="mcp-unit",tool="echo",le="+Inf"} 2"#,
            r#"mcp_tool_calls_in_flight{server="mcp-unit"} 0"#,
            r#"mcp_refusals_total{server="mcp-unit",reason="auth"} 1"#,
            r#"mcp_refusals_total{server="mcp-unit",reason="sessions_limit"} 0"#,
            r#"mcp_sessions_active{server="mcp-unit",transport="sse"} 1"#,
            r#"mcp_http_request_body_bytes_total{server="mcp-unit"} 10"#,
            r#"mcp_http_response_body_bytes_total{server="mcp-unit"} 20"#,
            r#"mcp_build_info{server="mcp-unit",version="1.2.3"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
        drop(live);
        assert!(render().contains(r#"mcp_sessions_active{server="mcp-unit",transport="sse"} 0"#));
    }
}
