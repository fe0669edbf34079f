//! Runs a server on the transport chosen on the command line.
//!
//! `run` owns process setup: logging to stderr, the tokio runtime (a
//! current-thread runtime for stdio, where a cross-thread wake-up per message
//! would dominate a round trip; a multi-thread one for HTTP), signals, and
//! the exit code.

mod frame;
mod http;
mod listen;
mod message;
mod post_check;
mod sessions;
mod sse;
mod stdio;
#[cfg(feature = "tls")]
mod tls;

use std::process::ExitCode;

use rmcp::ServerHandler;

use crate::cli::{ServeArgs, TransportKind};
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
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
