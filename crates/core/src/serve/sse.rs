//! The legacy HTTP+SSE transport (protocol 2024-11-05), for clients
//! configured with `"url": "http://host:port/sse"`.
//!
//! `GET /sse` opens a stream whose first event, `endpoint`, names the URL to
//! POST messages to (`/message?sessionId=...`); answers come back on the
//! stream as `message` events. rmcp has no server side for it, so each stream
//! runs an rmcp service over a pair of channels.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServerHandler};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::message::{Parsed, Refusal};
use super::post_check::refusal_response;

type Sessions = Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>;

/// Messages buffered per session in each direction.
const CHANNEL_CAPACITY: usize = 64;

struct SseState<F> {
    make: F,
    sessions: Sessions,
    ct: CancellationToken,
    /// Most streams open at once (`--max-sessions`).
    max_sessions: usize,
}

/// `GET /sse` and `POST /message`; bodies up to `max_message_bytes`.
pub fn routes<S, F, T>(
    make: F,
    ct: CancellationToken,
    max_sessions: usize,
    max_message_bytes: usize,
) -> Router<T>
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let state = Arc::new(SseState {
        make,
        sessions: Sessions::default(),
        ct,
        max_sessions,
    });
    Router::new()
        .route("/sse", get(open_stream::<S, F>))
        .route("/message", post(post_message::<S, F>))
        // The framework's default body limit is 2 MiB; the flag is the limit.
        .layer(axum::extract::DefaultBodyLimit::max(max_message_bytes))
        .with_state(state)
}

/// One session's transport: messages in from POSTs, out to the SSE stream.
struct ChannelTransport {
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    outgoing: mpsc::Sender<ServerJsonRpcMessage>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outgoing = self.outgoing.clone();
        async move {
            outgoing
                .send(item)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "SSE stream closed"))
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.incoming.close();
        Ok(())
    }
}

/// Removes the session when the client's stream goes away.
struct SessionGuard {
    id: String,
    sessions: Sessions,
    _live: crate::metrics::SessionGuard,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&self.id);
        }
        tracing::info!(session = %self.id, "SSE session closed");
    }
}

async fn open_stream<S, F>(State(state): State<Arc<SseState<F>>>) -> Response
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, incoming) = mpsc::channel(CHANNEL_CAPACITY);
    let (outgoing, from_server) = mpsc::channel::<ServerJsonRpcMessage>(CHANNEL_CAPACITY);
    {
        let mut sessions = state
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.len() >= state.max_sessions {
            return super::http::sessions_full(state.max_sessions);
        }
        sessions.insert(id.clone(), to_server);
    }
    let session_ct = state.ct.child_token();
    let server = (state.make)();
    let transport = ChannelTransport { incoming, outgoing };
    let service_ct = session_ct.clone();
    tokio::spawn(async move {
        match rmcp::serve_server(server, transport).await {
            Ok(running) => {
                let token = running.cancellation_token();
                tokio::select! {
                    _ = running.waiting() => {}
                    () = service_ct.cancelled() => token.cancel(),
                }
            }
            Err(e) => tracing::info!("SSE session ended before it started: {e}"),
        }
    });
    tracing::info!(session = %id, "SSE session opened");

    let guard = SessionGuard {
        id: id.clone(),
        sessions: state.sessions.clone(),
        _live: crate::metrics::session(crate::metrics::Transport::Sse),
    };
    let stream = event_stream(id, guard, session_ct, from_server);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The SSE events: `endpoint` first, then one `message` per server message,
/// until the service ends or the server shuts down.
fn event_stream(
    id: String,
    guard: SessionGuard,
    ct: CancellationToken,
    from_server: mpsc::Receiver<ServerJsonRpcMessage>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/message?sessionId={id}"));
    let first = futures::stream::once(async move { Ok(endpoint) });
    let rest = futures::stream::unfold(
        (guard, ct, from_server),
        |(guard, ct, mut from_server)| async move {
            let message = tokio::select! {
                m = from_server.recv() => m,
                () = ct.cancelled() => None,
            }?;
            let data = serde_json::to_string(&message).unwrap_or_default();
            let event = Event::default().event("message").data(data);
            Some((Ok(event), (guard, ct, from_server)))
        },
    );
    futures::StreamExt::chain(first, rest)
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId", alias = "session_id")]
    session_id: String,
}

async fn post_message<S, F>(
    State(state): State<Arc<SseState<F>>>,
    query: Result<Query<SessionQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response
where
    S: ServerHandler,
    F: Fn() -> S + Send + Sync + 'static,
{
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let refusal = Refusal {
                id: None,
                code: -32600,
                message: format!("Invalid request: {rejection} (the limit is --max-message-bytes)"),
            };
            return refusal_response(rejection.status(), &refusal);
        }
    };
    let Ok(Query(query)) = query else {
        return (StatusCode::BAD_REQUEST, "Missing sessionId query parameter").into_response();
    };
    let sender = state
        .sessions
        .lock()
        .ok()
        .and_then(|s| s.get(&query.session_id).cloned());
    let Some(sender) = sender else {
        return (
            StatusCode::NOT_FOUND,
            "Session not found: open GET /sse first",
        )
            .into_response();
    };
    let message = match super::message::parse(&body) {
        Parsed::Message(m) => *m,
        Parsed::Ignored(why) => {
            tracing::debug!("ignoring {why}");
            return (StatusCode::ACCEPTED, "Accepted").into_response();
        }
        Parsed::Refused(refusal) => {
            crate::metrics::refused(crate::metrics::Refusal::Malformed);
            return refusal_response(StatusCode::BAD_REQUEST, &refusal);
        }
    };
    match sender.send(message).await {
        Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Err(_) => (StatusCode::GONE, "Session closed").into_response(),
    }
}
