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

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// (session id, request id as JSON text) of every request in progress.
#[derive(Debug, Default)]
pub(super) struct InFlightIds(Mutex<HashSet<(String, String)>>);

/// Just enough of a message to tell a request and its id.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<IgnoredAny>,
}

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
    State(ids): State<Arc<InFlightIds>>,
    req: Request,
    next: Next,
) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if req.method() != Method::POST || !is_json {
        return next.run(req).await;
    }
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    // The body limit layer outside this one bounds the read.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let message = format!("request body too large or unreadable: {e}");
            return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, Value::Null, -32600, &message);
        }
    };
    let mut in_flight = None;
    match serde_json::from_slice::<Envelope>(&bytes) {
        Err(e) if e.is_syntax() || e.is_eof() => {
            let message = format!("Parse error: {e}");
            return rpc_error(StatusCode::BAD_REQUEST, Value::Null, -32700, &message);
        }
        // Valid JSON of another shape: rmcp refuses it (rewritten below).
        Err(_) => {}
        Ok(Envelope {
            id: Some(id),
            method: Some(_),
        }) if !id.is_null() => {
            if let Some(session) = session {
                let key = (session, id.to_string());
                let fresh = ids
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.clone());
                if !fresh {
                    let message = format!(
                        "Invalid Request: id {id} is already used by a request in progress in \
                         this session; request ids must be unique"
                    );
                    return rpc_error(StatusCode::BAD_REQUEST, id, -32600, &message);
                }
                in_flight = Some(InFlight { ids, key });
            }
        }
        Ok(_) => {}
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: expected one JSON-RPC request, notification or response object",
        );
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

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    (status, axum::Json(body)).into_response()
}
