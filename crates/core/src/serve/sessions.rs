//! rmcp's `LocalSessionManager`, minus its leak: a session whose worker
//! ends by itself (the idle timeout, a transport error) leaves its handle
//! in the manager's map for good, so every client that vanishes costs
//! memory until the process exits. Here each session's transport removes
//! its own entry when the session's service drops it, and tells the
//! [`HeapTrimmer`] that memory was freed.

use std::sync::{Arc, Weak};

use futures::Stream;
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::common::server_side_http::{ServerSseMessage, SessionId};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{RestoreOutcome, SessionManager};
use rmcp::transport::worker::WorkerTransport;

use crate::heap::HeapTrimmer;

/// A [`LocalSessionManager`] whose sessions leave its map when they end.
pub struct ReapingSessionManager {
    inner: Arc<LocalSessionManager>,
    trimmer: Arc<HeapTrimmer>,
}

impl ReapingSessionManager {
    pub fn new(inner: LocalSessionManager, trimmer: Arc<HeapTrimmer>) -> Self {
        ReapingSessionManager {
            inner: Arc::new(inner),
            trimmer,
        }
    }

    /// Sessions alive now.
    pub async fn len(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    /// Whether the session `id` is alive.
    pub async fn contains(&self, id: &str) -> bool {
        self.inner.sessions.read().await.contains_key(id)
    }

    fn wrap(&self, id: SessionId, inner: WorkerTransport<LocalSessionWorker>) -> SessionTransport {
        SessionTransport {
            inner,
            on_drop: Some(SessionEnd {
                id,
                manager: Arc::downgrade(&self.inner),
                trimmer: self.trimmer.clone(),
                _live: crate::metrics::session(crate::metrics::Transport::StreamableHttp),
            }),
        }
    }
}

/// A session's transport; dropping it (the session is over) removes the
/// session from the manager.
pub struct SessionTransport {
    inner: WorkerTransport<LocalSessionWorker>,
    on_drop: Option<SessionEnd>,
}

struct SessionEnd {
    id: SessionId,
    manager: Weak<LocalSessionManager>,
    trimmer: Arc<HeapTrimmer>,
    /// Counted in `mcp_sessions_active` until the session ends.
    _live: crate::metrics::SessionGuard,
}

impl Drop for SessionTransport {
    fn drop(&mut self) {
        let Some(end) = self.on_drop.take() else {
            return;
        };
        let Some(manager) = end.manager.upgrade() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let removed = manager.sessions.write().await.remove(&end.id);
            // Drop the handle outside the lock.
            if removed.is_some() {
                tracing::debug!(session = %end.id, "session ended: removed");
            }
            drop(removed);
            end.trimmer.note_activity();
        });
    }
}

impl Transport<RoleServer> for SessionTransport {
    type Error = <WorkerTransport<LocalSessionWorker> as Transport<RoleServer>>::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl SessionManager for ReapingSessionManager {
    type Error = LocalSessionManagerError;
    type Transport = SessionTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        Ok((id.clone(), self.wrap(id, transport)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        Ok(match self.inner.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(transport) => {
                RestoreOutcome::Restored(self.wrap(id, transport))
            }
            RestoreOutcome::AlreadyPresent => RestoreOutcome::AlreadyPresent,
            _ => RestoreOutcome::NotSupported,
        })
    }
}
