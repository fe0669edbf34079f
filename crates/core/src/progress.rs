//! Progress notifications and cancellation for long tool work.
//!
//! [`Progress`] is cheap to clone and usable from blocking code (tree walks,
//! batches run under `spawn_blocking`): reports are throttled so a walk over a
//! million files sends a handful of notifications, not a million. Reports
//! go out in order; a tool awaits [`Progress::flush`] before it returns so
//! none of them arrives after its result.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use tokio_util::sync::CancellationToken;

use crate::error::ToolError;

/// Minimum time between two notifications for one request.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    target: Option<(Peer<RoleServer>, ProgressToken, tokio::runtime::Handle)>,
    ct: CancellationToken,
    interval: Duration,
    state: Mutex<SendState>,
}

#[derive(Default)]
struct SendState {
    last: Option<Instant>,
    /// The progress value last sent: the protocol wants each one larger,
    /// and workers on several threads may report out of order.
    sent: Option<f64>,
    /// The newest send: each send waits for the one before it.
    tail: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("reports", &self.inner.target.is_some())
            .field("cancelled", &self.inner.ct.is_cancelled())
            .finish()
    }
}

impl Progress {
    /// Reporter for the request behind `context`; it sends nothing when the
    /// request carried no progress token. Must be created inside the runtime.
    pub fn from_context(context: &RequestContext<RoleServer>) -> Self {
        let target = context.meta.get_progress_token().map(|token| {
            (
                context.peer.clone(),
                token,
                tokio::runtime::Handle::current(),
            )
        });
        Self::new(target, context.ct.clone(), DEFAULT_INTERVAL)
    }

    /// A reporter that sends nothing and is never cancelled (tests, benches).
    pub fn none() -> Self {
        Self::new(None, CancellationToken::new(), DEFAULT_INTERVAL)
    }

    /// A silent reporter cancelled through `ct`.
    pub fn with_cancellation(ct: CancellationToken) -> Self {
        Self::new(None, ct, DEFAULT_INTERVAL)
    }

    fn new(
        target: Option<(Peer<RoleServer>, ProgressToken, tokio::runtime::Handle)>,
        ct: CancellationToken,
        interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                target,
                ct,
                interval,
                state: Mutex::new(SendState::default()),
            }),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.ct.is_cancelled()
    }

    /// For long loops: `progress.check()?` stops the work once the client
    /// cancelled the request.
    pub fn check(&self) -> Result<(), ToolError> {
        if self.is_cancelled() {
            Err(ToolError::new("cancelled by the client"))
        } else {
            Ok(())
        }
    }

    /// Sends a notification unless one went out less than the interval ago.
    /// Returns whether it was sent.
    pub fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        self.send(progress, total, message, false)
    }

    /// Sends a notification regardless of the throttle (e.g. the final one).
    pub fn report_now(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        self.send(progress, total, message, true)
    }

    fn send(&self, progress: f64, total: Option<f64>, message: Option<&str>, force: bool) -> bool {
        let Some((peer, token, handle)) = &self.inner.target else {
            return false;
        };
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.sent.is_some_and(|sent| progress <= sent) {
            return false;
        }
        let now = Instant::now();
        if !force
            && state
                .last
                .is_some_and(|t| now.duration_since(t) < self.inner.interval)
        {
            return false;
        }
        state.last = Some(now);
        state.sent = Some(progress);
        let mut param = ProgressNotificationParam::new(token.clone(), progress);
        param.total = total;
        param.message = message.map(str::to_owned);
        let peer = peer.clone();
        let previous = state.tail.take();
        state.tail = Some(handle.spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            if let Err(e) = peer.notify_progress(param).await {
                tracing::debug!("progress notification not sent: {e}");
            }
        }));
        true
    }

    /// Waits until every report made so far has been handed to the transport.
    pub async fn flush(&self) {
        let tail = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tail
            .take();
        if let Some(tail) = tail {
            let _ = tail.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_reporter_sends_nothing() {
        let p = Progress::none();
        assert!(!p.report(1.0, None, None));
        assert!(p.check().is_ok());
    }

    #[test]
    fn cancellation_stops_loops() {
        let ct = CancellationToken::new();
        let p = Progress::with_cancellation(ct.clone());
        assert!(p.check().is_ok());
        ct.cancel();
        assert_eq!(p.check().unwrap_err().message(), "cancelled by the client");
    }
}
