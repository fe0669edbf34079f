//! `GET /metrics` on its own address (`--metrics-listen`), for every
//! transport, through the same bounded accept loop as the MCP endpoint; and
//! the body wrapper that counts HTTP bytes for [`crate::metrics`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};

/// Connections the metrics listener keeps open at once (scrapers are few).
const MAX_CONNECTIONS: usize = 16;

/// Time a scraper gets to send its request's headers.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr`, says where on stderr, and serves `/metrics` there until
/// the runtime stops. Returns the bound address.
pub async fn start(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for --metrics-listen"))?;
    let local = listener.local_addr()?;
    super::announce(&format!("mcp: metrics at http://{local}/metrics"));
    let app = Router::new().route("/metrics", axum::routing::get(scrape));
    let limits = super::listen::Limits {
        max_connections: MAX_CONNECTIONS,
        read_timeout: READ_TIMEOUT,
    };
    tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        if let Err(e) = super::listen::serve(listener, None, app, limits, forever).await {
            tracing::warn!("metrics listener stopped: {e:#}");
        }
    });
    Ok(local)
}

async fn scrape() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(),
    )
}

/// `body`, counting the bytes of each data frame with `count` as they
/// pass; its size hint is kept (a known length stays a Content-Length).
pub fn counted(body: Body, count: fn(u64)) -> Body {
    Body::new(Counted { inner: body, count })
}

struct Counted {
    inner: Body,
    count: fn(u64),
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            (self.count)(data.len() as u64);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static SEEN: AtomicU64 = AtomicU64::new(0);

    fn note(n: u64) {
        SEEN.fetch_add(n, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn counted_bodies_count_every_byte_and_keep_their_length() {
        let body = counted(Body::from("hello world"), note);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(11));
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&bytes[..], b"hello world");
        assert_eq!(SEEN.load(Ordering::SeqCst), 11);
    }
}
