//! The HTTP accept loop, plain or TLS: at most `max_connections` open at
//! once (more wait in the kernel's accept queue), and a client gets
//! `read_timeout` to send each request's headers (also the most a kept-alive
//! connection may idle), so half-sent requests cannot hold connections and
//! starve everyone else (slowloris). Bodies get the same time, checked where
//! they are read. On shutdown, no new connections are taken and open ones
//! finish their request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long open connections get to finish after shutdown starts.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What bounds the connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub read_timeout: Duration,
}

#[cfg(feature = "tls")]
pub type Acceptor = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature there is no acceptor to pass.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub enum Acceptor {}

/// Serves `app` until `shutdown` resolves, then lets open connections
/// finish (for at most [`CLOSE_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    acceptor: Option<Acceptor>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment
                    // instead of spinning, and keep serving.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        super::http::no_delay(&stream);
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = match acceptor {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    let tls = match tokio::time::timeout(limits.read_timeout, handshake).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let connection = builder.serve_connection(TokioIo::new(tls), service);
                    watcher.watch(connection).await
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}
