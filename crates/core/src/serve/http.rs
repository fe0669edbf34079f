//! Streamable HTTP at `/mcp`, legacy HTTP+SSE at `/sse` + `/message`, and
//! `/health`, behind bearer auth, Host/Origin checks, CORS and a body limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

use super::sessions::ReapingSessionManager;
use crate::cli::ServeArgs;
use crate::heap::{self, HeapTrimmer};
use crate::metrics::{self, Refusal as Reason};

/// How long shutdown waits for in-flight requests before closing streams.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The HTTP policy derived from the command line.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub auth_token: Option<String>,
    /// Host header values accepted; `None` accepts any host.
    pub allowed_hosts: Option<Vec<String>>,
    /// Origins accepted (`scheme://host[:port|:*]`, or `*`).
    pub allowed_origins: Vec<String>,
    pub stateless: bool,
    pub max_message_bytes: usize,
    pub session_idle_timeout: Duration,
    /// Most sessions alive at once (Streamable HTTP, and legacy SSE streams).
    pub max_sessions: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to send a request's headers, and again its body.
    pub read_timeout: Duration,
}

impl HttpOptions {
    /// Applies the safe defaults: loopback hosts and origins on a loopback
    /// address; refuses a public address without a token unless told to.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let loopback = args.listen.ip().is_loopback();
        let token = args.auth_token.clone().filter(|t| !t.is_empty());
        if !loopback && token.is_none() && !args.insecure_no_auth {
            anyhow::bail!(
                "refusing to listen on {} without --auth-token (or MCP_AUTH_TOKEN): anyone on the network could use this server; pass --insecure-no-auth to allow it anyway",
                args.listen
            );
        }
        let allowed_hosts = if loopback {
            let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
            hosts.extend(args.allowed_hosts.iter().cloned());
            Some(hosts)
        } else if args.allowed_hosts.is_empty() {
            None
        } else {
            Some(args.allowed_hosts.clone())
        };
        let allowed_origins = if args.allowed_origins.is_empty() && loopback {
            ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]
                .map(String::from)
                .into()
        } else {
            args.allowed_origins.clone()
        };
        Ok(Self {
            auth_token: token,
            allowed_hosts,
            allowed_origins,
            stateless: args.stateless,
            max_message_bytes: args.max_message_bytes,
            session_idle_timeout: Duration::from_secs(args.session_idle_timeout),
            max_sessions: usize::try_from(args.max_sessions).unwrap_or(usize::MAX),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            read_timeout: Duration::from_secs(args.read_timeout),
        })
    }
}

struct AppState {
    options: HttpOptions,
    name: String,
    version: String,
    started: Instant,
    in_flight: AtomicUsize,
    idle: Notify,
    trimmer: Arc<HeapTrimmer>,
    sessions: Arc<ReapingSessionManager>,
}

/// Binds, serves until SIGINT/SIGTERM, then drains in-flight requests.
pub async fn serve<S, F>(make: F, args: &ServeArgs) -> anyhow::Result<()>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let options = HttpOptions::from_args(args)?;
    #[cfg(feature = "tls")]
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(super::tls::acceptor(cert, key)?),
        _ => None,
    };
    #[cfg(not(feature = "tls"))]
    if args.tls_cert.is_some() {
        anyhow::bail!(
            "--tls-cert: this binary was built without HTTPS support; rebuild with `--features tls`, or terminate TLS in a reverse proxy in front of it"
        );
    }
    let ct = CancellationToken::new();
    let (app, state) = router_with_state(make, options.clone(), ct.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local: SocketAddr = listener.local_addr()?;
    #[cfg(feature = "tls")]
    let scheme = if tls.is_some() { "https" } else { "http" };
    #[cfg(not(feature = "tls"))]
    let scheme = "http";
    // The one line tests and scripts wait for: where the server listens.
    super::announce(&format!(
        "mcp: listening on {scheme}://{local}/mcp (legacy SSE: {scheme}://{local}/sse)"
    ));
    tracing::info!(%local, "listening");

    let drain_ct = ct.clone();
    let shutdown = async move {
        crate::serve::shutdown_signal().await;
        tracing::info!("signal received: finishing in-flight requests");
        // Let requests in flight finish, then end the long-lived streams
        // (SSE) that would otherwise hold the shutdown open.
        let wait_idle = async {
            while state.in_flight.load(Ordering::SeqCst) > 0 {
                state.idle.notified().await;
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, wait_idle).await;
        drain_ct.cancel();
    };
    let limits = super::listen::Limits {
        max_connections: options.max_connections,
        read_timeout: options.read_timeout,
    };
    #[cfg(feature = "tls")]
    let acceptor = tls;
    #[cfg(not(feature = "tls"))]
    let acceptor = None;
    super::listen::serve(listener, acceptor, app, limits, shutdown).await
}

/// Answers go out as soon as they are written: an SSE answer is several
/// writes (headers, events, the last chunk), and with Nagle's algorithm on,
/// the client's delayed ACK holds the last one back 40 ms per request.
pub(super) fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
}

/// The whole HTTP app, for embedding or tests.
pub fn router<S, F>(make: F, options: HttpOptions, ct: CancellationToken) -> Router
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    router_with_state(make, options, ct).0
}

fn router_with_state<S, F>(
    make: F,
    options: HttpOptions,
    ct: CancellationToken,
) -> (Router, Arc<AppState>)
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let info = make().get_info();
    let trimmer = HeapTrimmer::new();
    let mut local = LocalSessionManager::default();
    local.session_config.keep_alive = Some(options.session_idle_timeout);
    // No `retry:` priming event (see `with_sse_retry` below).
    local.session_config.sse_retry = None;
    let sessions = Arc::new(ReapingSessionManager::new(local, trimmer.clone()));
    let state = Arc::new(AppState {
        options: options.clone(),
        name: info.server_info.name.clone(),
        version: info.server_info.version.clone(),
        started: Instant::now(),
        in_flight: AtomicUsize::new(0),
        idle: Notify::new(),
        trimmer,
        sessions: sessions.clone(),
    });
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(state.trimmer.clone().run(heap::QUIET, ct.clone()));
    }

    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(ct.clone())
        .with_legacy_session_mode(!options.stateless)
        .with_json_response(options.stateless)
        .with_max_request_body_bytes(options.max_message_bytes)
        // No `retry:` field: there is no event store to resume from, and the
        // Java SDK's client rejects any SSE field but data, id and event.
        .with_sse_retry(None)
        // Host and Origin are checked by our own layer, for every endpoint.
        .disable_allowed_hosts();
    config.sse_keep_alive = Some(Duration::from_secs(15));
    let factory = make.clone();
    let mcp = StreamableHttpService::new(move || Ok(factory()), sessions, config);

    let sse_make = make.clone();
    let legacy = sse::routes(
        move || sse_make(),
        ct,
        options.max_sessions,
        options.max_message_bytes,
    );

    let protected = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session_lifecycle,
        ))
        .layer(middleware::from_fn_with_state(
            (Arc::new(InFlightIds::default()), options.read_timeout),
            check_post,
        ))
        .merge(legacy)
        .layer(middleware::from_fn_with_state(state.clone(), require_auth))
        .layer(RequestBodyLimitLayer::new(options.max_message_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            too_large_as_json_rpc,
        ));

    let app = Router::new()
        .route("/health", axum::routing::get(health))
        .merge(protected)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            check_host_and_origin,
        ))
        .layer(cors(&options))
        .layer(middleware::from_fn(close_after_refusal))
        .layer(middleware::from_fn_with_state(state.clone(), track_and_log))
        .with_state(state.clone());
    (app, state)
}

use super::post_check::{InFlightIds, check_post};
use super::sse;

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    axum::Json(json!({
        "status": "ok",
        "name": state.name,
        "version": state.version,
        "uptime_s": state.started.elapsed().as_secs(),
        "sessions": state.sessions.len().await,
    }))
}

/// Counts requests in flight (for a graceful drain) and logs each one;
/// with metrics on, counts the body bytes in and out.
async fn track_and_log(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let counting = metrics::enabled();
    let req = if counting {
        req.map(|body| super::metrics::counted(body, metrics::http_bytes_in))
    } else {
        req
    };
    let response = next.run(req).await;
    let response = if counting {
        response.map(|body| super::metrics::counted(body, metrics::http_bytes_out))
    } else {
        response
    };
    if state.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
        state.idle.notify_waiters();
    }
    state.trimmer.note_activity();
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// A request refused (401, 403, 413, 415...) may not have had its body
/// read to the end, and then the connection cannot carry another request:
/// say so, or a client may reuse it and see its next request fail with a
/// closed connection (seen under the fuzzer with pooled connections).
async fn close_after_refusal(req: Request, next: Next) -> Response {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_none_or(|len| len != "0")
        && req.method() != Method::GET
        && req.method() != Method::HEAD;
    let mut response = next.run(req).await;
    if has_body && response.status().is_client_error() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The body limit's 413 is plain text; a client gets a JSON-RPC error
/// that names the limit and the flag.
async fn too_large_as_json_rpc(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    metrics::refused(Reason::Size);
    if is_json {
        return response;
    }
    let refusal = super::message::Refusal::new(
        None,
        -32600,
        format!(
            "Invalid request: the message exceeds the {}-byte limit (raise it with --max-message-bytes)",
            state.options.max_message_bytes
        ),
    );
    super::post_check::refusal_response(StatusCode::PAYLOAD_TOO_LARGE, &refusal)
}

/// Session rules rmcp leaves to us:
/// - a POST without a session (an `initialize`) when `--max-sessions` are
///   alive gets 503 with Retry-After;
/// - DELETE of a session that does not exist gets 404 (rmcp says 202);
/// - DELETE of one that does gets 204: the Python and TypeScript SDKs expect
///   200 or 204 and log a failure on rmcp's 202. (A POST of a notification
///   keeps its 202, as the spec requires.)
async fn session_lifecycle(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_delete = req.method() == Method::DELETE;
    if !state.options.stateless {
        match (&session, req.method()) {
            (None, &Method::POST) if state.sessions.len().await >= state.options.max_sessions => {
                tracing::warn!(
                    max = state.options.max_sessions,
                    "session refused: server full"
                );
                return sessions_full(state.options.max_sessions);
            }
            (Some(id), &Method::DELETE) if !state.sessions.contains(id).await => {
                return json_error(
                    StatusCode::NOT_FOUND,
                    "Session not found: it was closed or never existed",
                );
            }
            _ => {}
        }
    }
    let mut response = next.run(req).await;
    if is_delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// Seconds a client refused for lack of sessions is told to wait.
const SESSIONS_FULL_RETRY_S: u64 = 5;

/// The answer to a new session when `max` are alive.
pub(super) fn sessions_full(max: usize) -> Response {
    metrics::refused(Reason::SessionsLimit);
    let mut response = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "Server busy: {max} sessions are open (--max-sessions); idle ones close after \
             --session-idle-timeout. Retry later, or end unused sessions with DELETE"
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(SESSIONS_FULL_RETRY_S),
    );
    response
}

async fn require_auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(token) = &state.options.auth_token else {
        return next.run(req).await;
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    if req.method() == Method::OPTIONS || constant_time_eq(presented, token.as_bytes()) {
        return next.run(req).await;
    }
    metrics::refused(Reason::Auth);
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        "Unauthorized: send the server's token as 'Authorization: Bearer <token>'",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mcp\""),
    );
    response
}

/// DNS-rebinding defence: a page on evil.com that resolves to 127.0.0.1
/// still sends `Host: evil.com` and `Origin: http://evil.com`.
async fn check_host_and_origin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(allowed) = &state.options.allowed_hosts {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        if !host_allowed(host, allowed) {
            tracing::warn!(host, "rejected: Host not allowed");
            metrics::refused(Reason::Host);
            return json_error(
                StatusCode::FORBIDDEN,
                &format!("Forbidden: Host '{host}' is not allowed (see --allowed-host)"),
            );
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, &state.options.allowed_origins) {
            tracing::warn!(origin, "rejected: Origin not allowed");
            metrics::refused(Reason::Origin);
            return json_error(
                StatusCode::FORBIDDEN,
                &format!("Forbidden: Origin '{origin}' is not allowed (see --allowed-origin)"),
            );
        }
    }
    next.run(req).await
}

fn cors(options: &HttpOptions) -> CorsLayer {
    let origins = options.allowed_origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| origin_allowed(o, &origins))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("mcp-session-id"),
            header::HeaderName::from_static("mcp-protocol-version"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("mcp-session-id"),
            header::WWW_AUTHENTICATE,
        ])
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32000, "message": message},
    });
    (status, axum::Json(body)).into_response()
}

/// Compares in time independent of where the inputs differ.
/// Only the length can leak, and a token's length is no secret worth keeping.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `host` is a Host header (`name`, `name:port`, `[v6]:port`); an allowed
/// entry without a port matches any port.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    let name = split_host_port(&host).0;
    allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let (entry_name, entry_port) = split_host_port(&entry);
        match entry_port {
            Some(_) => entry == host,
            None => entry_name == name,
        }
    })
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (name, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (name, after.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (authority, None),
    }
}

/// Entries: `*`, `null`, `scheme://host`, `scheme://host:port`, `scheme://host:*`.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://").unwrap_or(("", origin.as_str()));
    let (name, port) = split_host_port(authority);
    allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry == "*" || entry == origin {
            return true;
        }
        let Some((e_scheme, e_authority)) = entry.split_once("://") else {
            return false;
        };
        let (e_name, e_port) = split_host_port(e_authority);
        e_scheme == scheme
            && e_name == name
            && match e_port {
                Some("*") => true,
                Some(p) => Some(p) == port,
                None => port.is_none(),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret1"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn hosts_match_by_name_and_optional_port() {
        let allowed = s(&["localhost", "127.0.0.1", "::1", "example.com:8443"]);
        assert!(host_allowed("localhost:8000", &allowed));
        assert!(host_allowed("LOCALHOST", &allowed));
        assert!(host_allowed("[::1]:9000", &allowed));
        assert!(host_allowed("example.com:8443", &allowed));
        assert!(!host_allowed("example.com:80", &allowed));
        assert!(!host_allowed("evil.com", &allowed));
        assert!(!host_allowed("localhost.evil.com:8000", &allowed));
        assert!(!host_allowed("", &allowed));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let allowed = s(&["http://localhost:*", "https://app.example.com"]);
        assert!(origin_allowed("http://localhost:6274", &allowed));
        assert!(origin_allowed("https://app.example.com", &allowed));
        assert!(!origin_allowed("https://app.example.com:444", &allowed));
        assert!(!origin_allowed("https://localhost:6274", &allowed));
        assert!(!origin_allowed("http://evil.com", &allowed));
        assert!(!origin_allowed("null", &allowed));
        assert!(origin_allowed("http://evil.com", &s(&["*"])));
    }

    #[test]
    fn public_address_needs_a_token() {
        let mut args = ServeArgs {
            listen: "0.0.0.0:8000".parse().unwrap(),
            ..ServeArgs::default()
        };
        let err = HttpOptions::from_args(&args).unwrap_err().to_string();
        assert!(err.contains("--auth-token"), "{err}");
        args.insecure_no_auth = true;
        assert!(
            HttpOptions::from_args(&args)
                .unwrap()
                .allowed_hosts
                .is_none()
        );
        args.insecure_no_auth = false;
        args.auth_token = Some("t".into());
        assert!(HttpOptions::from_args(&args).is_ok());
    }
}
