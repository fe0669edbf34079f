//! Checks on a POST to `/mcp` before rmcp sees it, so that every request
//! gets a JSON-RPC answer.
//!
//! rmcp answers a body that is not a JSON-RPC message with HTTP 415 and
//! plain text, and a request that reuses the id of a request still in
//! progress in the same session takes over that request's stream, which
//! then never gets its answer. Here invalid JSON gets HTTP 400 with a
//! `-32700` parse error, JSON that is not one message (a batch, a number)
//! HTTP 400 with `-32600`, and a duplicate in-flight id HTTP 400 with
//! `-32600` naming the id; the first request keeps its stream.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rmcp::model::JsonRpcMessage;

use super::message::{Parsed, Refusal};
use crate::metrics::{self, Refusal as Reason};

/// (session id, request id as JSON text) of every request in progress.
#[derive(Debug, Default)]
pub(super) struct InFlightIds(Mutex<HashSet<(String, String)>>);

/// Removes its id from the in-flight set when the answer's stream ends
/// (or the client goes away).
struct InFlight {
    ids: Arc<InFlightIds>,
    key: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.ids
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

pub(super) async fn check_post(
    State((ids, read_timeout)): State<(Arc<InFlightIds>, Duration)>,
    req: Request,
    next: Next,
) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if req.method() != Method::POST || !is_json {
        let response = next.run(req).await;
        count_rmcp_refusal(response.status());
        return response;
    }
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    // The body limit layer outside this one bounds the size; a client
    // that sends it slowly gets `read_timeout` for all of it.
    let bytes =
        match tokio::time::timeout(read_timeout, axum::body::to_bytes(body, usize::MAX)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                let message = format!("request body too large or unreadable: {e}");
                return refusal_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &Refusal::new(None, -32600, message),
                );
            }
            Err(_) => {
                let message = format!(
                    "the request body was not received within {} s (--read-timeout)",
                    read_timeout.as_secs()
                );
                metrics::refused(Reason::ReadTimeout);
                return refusal_response(
                    StatusCode::REQUEST_TIMEOUT,
                    &Refusal::new(None, -32600, message),
                );
            }
        };
    let mut in_flight = None;
    match super::message::parse(&bytes) {
        Parsed::Refused(refusal) => {
            metrics::refused(Reason::Malformed);
            // A request whose params are wrong is answered like any other
            // request; what cannot be read as a request is a bad one.
            let status = if refusal.code == -32602 {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            return refusal_response(status, &refusal);
        }
        // rmcp refuses it (rewritten below).
        Parsed::Ignored(_) => {}
        Parsed::Message(msg) => {
            if let (JsonRpcMessage::Request(req), Some(session)) = (*msg, session) {
                let id = serde_json::to_string(&req.id).unwrap_or_default();
                let key = (session, id.clone());
                let fresh = ids
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.clone());
                if !fresh {
                    metrics::refused(Reason::DuplicateId);
                    let refusal = Refusal::new(
                        Some(&id),
                        -32600,
                        format!(
                            "Invalid Request: id {id} is already used by a request in progress \
                             in this session; request ids must be unique"
                        ),
                    );
                    return refusal_response(StatusCode::BAD_REQUEST, &refusal);
                }
                in_flight = Some(InFlight { ids, key });
            }
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    count_rmcp_refusal(response.status());
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        let refusal = Refusal::new(
            None,
            -32600,
            "Invalid Request: expected one JSON-RPC request, notification or response object"
                .into(),
        );
        return refusal_response(StatusCode::BAD_REQUEST, &refusal);
    }
    match in_flight {
        None => response,
        Some(guard) => {
            let (parts, body) = response.into_parts();
            let stream = body.into_data_stream().map(move |chunk| {
                let _keep = &guard;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

/// rmcp's own refusals of what is not an MCP request: a body that is not
/// JSON (415), an Accept header without the types MCP needs (406).
fn count_rmcp_refusal(status: StatusCode) {
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::NOT_ACCEPTABLE {
        metrics::refused(Reason::Malformed);
    }
}

/// A refusal as a JSON-RPC error response with `status`.
pub(super) fn refusal_response(status: StatusCode, refusal: &Refusal) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        refusal.to_json(),
    )
        .into_response()
}
