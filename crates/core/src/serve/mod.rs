//! Runs a server on the transport chosen on the command line.
//!
//! `run` owns process setup: logging to stderr (text or JSON lines), the
//! tokio runtime (a current-thread runtime for stdio, where a cross-thread
//! wake-up per message would dominate a round trip; a multi-thread one for
//! HTTP), the metrics listener, signals, and the exit code.

mod frame;
mod http;
mod listen;
mod message;
mod metrics;
mod post_check;
mod sessions;
mod sse;
mod stdio;
#[cfg(feature = "tls")]
mod tls;

use std::process::ExitCode;
use std::sync::OnceLock;

use rmcp::ServerHandler;

use crate::cli::{LogFormat, ServeArgs, TransportKind};
use crate::heap::{self, HeapTrimmer};

pub use http::{HttpOptions, router as http_router};
pub use stdio::StdioTransport;

/// Entry point of every server binary: `make` builds one server instance
/// (called once for stdio, once per session over HTTP).
pub fn run<S, F>(args: ServeArgs, make: F) -> ExitCode
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    init_logging(&args);
    // Panics inside tools are answered by `call_tool_guarded`; log them as
    // one line instead of the default hook's backtrace on stderr.
    std::panic::set_hook(Box::new(|info| tracing::error!("panic: {info}")));
    crate::work::set_max_call_seconds(args.max_call_seconds);
    let mut builder = match args.transport {
        TransportKind::Stdio => tokio::runtime::Builder::new_current_thread(),
        TransportKind::Http => tokio::runtime::Builder::new_multi_thread(),
    };
    // Tool work runs on the runtime's threads, and small inputs on stdio on
    // the thread that drives it: every one of them gets the same known
    // stack, not the platform's main-thread default (1 MiB on Windows).
    let runtime = builder
        .enable_all()
        .thread_stack_size(crate::work::WORKER_STACK_BYTES)
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let driver = std::thread::Builder::new()
        .name("mcp-serve".into())
        .stack_size(crate::work::WORKER_STACK_BYTES)
        .spawn(move || {
            let result = runtime.block_on(async move {
                if let Some(addr) = args.metrics_listen {
                    let info = make().get_info().server_info;
                    crate::metrics::enable(&info.name, &info.version);
                    metrics::start(addr).await?;
                }
                match args.transport {
                    TransportKind::Stdio => serve_stdio(make(), &args).await,
                    TransportKind::Http => http::serve(make, &args).await,
                }
            });
            // Blocking tasks (a walk, a decode) must not hold the exit hostage.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            result
        });
    let result = match driver.map(std::thread::JoinHandle::join) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(anyhow::anyhow!("the server thread panicked")),
        Err(e) => Err(anyhow::anyhow!("cannot start the server thread: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if LOG_FORMAT.get() == Some(&LogFormat::Json) {
                stderr_line(LogFormat::Json, "ERROR", &format!("error: {e:#}"));
            } else {
                tracing::error!("{e:#}");
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Serves one session on stdin/stdout until EOF or a signal.
pub async fn serve_stdio<S: ServerHandler>(server: S, args: &ServeArgs) -> anyhow::Result<()> {
    stdio::widen_pipes();
    let (read, write) = rmcp::transport::stdio_pipes();
    let trimmer = HeapTrimmer::new();
    let idle_ct = tokio_util::sync::CancellationToken::new();
    tokio::spawn(trimmer.clone().run(heap::QUIET, idle_ct.clone()));
    let _stop_trimmer = idle_ct.drop_guard();
    let transport =
        StdioTransport::with_trimmer(read, write, args.max_message_bytes, Some(trimmer));
    let flushed = transport.flushed();
    let session = async {
        let running = match rmcp::serve_server(server, transport).await {
            Ok(running) => running,
            Err(e) => {
                // The client went away before a session started (EOF): not an error.
                tracing::info!("no session started: {e}");
                return;
            }
        };
        let _live = crate::metrics::session(crate::metrics::Transport::Stdio);
        let quit = running.waiting().await;
        tracing::info!("session ended: {quit:?}");
    };
    // Every answer asked for is written whole before the process exits:
    // the session ends once the requests read are answered, then the
    // writer drains what is queued for stdout.
    tokio::select! {
        () = async { session.await; flushed.await } => {}
        () = shutdown_signal() => {
            tracing::info!("signal received, shutting down");
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The log format chosen at start-up.
static LOG_FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// A line scripts and tests wait for ("listening on ..."), written to
/// stderr whatever the log filter, in the log format chosen.
pub(crate) fn announce(message: &str) {
    let format = LOG_FORMAT.get().copied().unwrap_or(LogFormat::Text);
    stderr_line(format, "INFO", message);
}

/// One line on stderr outside the log filter (start-up notes, the ready
/// line, the fatal error): as it is with text logs, as a JSON object shaped
/// like the other log lines (`level` as tracing writes it, e.g. `WARN`)
/// with `--log-format json`, so a log pipeline reads every line.
pub(crate) fn stderr_line(format: LogFormat, level: &str, message: &str) {
    if format == LogFormat::Text {
        eprintln!("{message}");
        return;
    }
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
    let mut timestamp = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    let line = serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "message": message,
        "target": "mcp",
    });
    eprintln!("{line}");
}

/// Logs go to stderr only: stdout belongs to the protocol in stdio mode.
fn init_logging(args: &ServeArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match args.transport {
        TransportKind::Stdio => "warn",
        TransportKind::Http => "info",
    };
    let filter = args
        .log_level
        .as_deref()
        .map(EnvFilter::try_new)
        .or_else(|| std::env::var("RUST_LOG").ok().map(EnvFilter::try_new))
        .and_then(Result::ok)
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = LOG_FORMAT.set(args.log_format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init(),
        // One object per line: the event's fields at the top level, the
        // current span's (tool, trace_id, span_id...) under "span".
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
