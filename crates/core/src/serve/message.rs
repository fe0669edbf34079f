//! One incoming JSON-RPC message, read the same way on every transport.
//!
//! rmcp's own parsing loses what a client needs to fix its request: a
//! batch is a "trailing characters" parse error, `tools/call` with
//! `arguments` of the wrong type falls through to "method not found", and
//! an id that does not fit in 64 bits is rounded. [`parse`] answers each
//! with the right code (-32700, -32600, -32602) and the id exactly as the
//! client wrote it.

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A message that is answered here with an error instead of reaching rmcp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request's id as the raw JSON text sent, if one could be read.
    pub id: Option<String>,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    /// `id` is the request's id as the raw JSON text sent, if known.
    pub fn new(id: Option<&str>, code: i64, message: String) -> Self {
        Self {
            id: id.map(str::to_owned),
            code,
            message,
        }
    }

    /// The error response, one line of JSON (without a newline).
    pub fn to_json(&self) -> String {
        let error = serde_json::json!({"code": self.code, "message": self.message});
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{error}}}"#,
            self.id.as_deref().unwrap_or("null")
        )
    }
}

/// What a message turned out to be.
#[derive(Debug)]
pub enum Parsed {
    Message(Box<ClientJsonRpcMessage>),
    /// A malformed notification or response: JSON-RPC answers neither.
    Ignored(String),
    Refused(Refusal),
}

/// Just enough of a message to tell what it was meant to be.
#[derive(Default, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// An id rmcp accepts: a string, or an integer within i64.
fn valid_id(raw: &str) -> bool {
    raw.starts_with('"') || raw.parse::<i64>().is_ok()
}

/// Reads one message (a stdio line without its newline, or an HTTP body).
pub fn parse(bytes: &[u8]) -> Parsed {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.first() == Some(&b'[') && serde_json::from_slice::<&RawValue>(bytes).is_ok() {
        return Parsed::Refused(Refusal::new(
            None,
            -32600,
            "Invalid request: JSON-RPC batches (arrays) are not part of the Model Context \
             Protocol; send one message at a time"
                .into(),
        ));
    }
    let error = match serde_json::from_slice::<ClientJsonRpcMessage>(bytes) {
        Ok(msg) => return check_params(bytes, msg),
        Err(e) => e,
    };
    if error.is_syntax() || error.is_eof() {
        return Parsed::Refused(Refusal::new(None, -32700, format!("Parse error: {error}")));
    }
    let shape = serde_json::from_slice::<Envelope>(bytes).unwrap_or_default();
    let id = shape.id.map(RawValue::get).filter(|id| *id != "null");
    if id.is_none() && shape.method.is_some() {
        return Parsed::Ignored(format!("malformed notification: {error}"));
    }
    if shape.result.is_some() || shape.error.is_some() {
        return Parsed::Ignored(format!("malformed response: {error}"));
    }
    let message = match id {
        Some(id) if !valid_id(id) => format!(
            "Invalid request: the id {id} is not a string or an integer that fits in 64 bits"
        ),
        _ => format!("Invalid request: {error}"),
    };
    Parsed::Refused(Refusal::new(id, -32600, message))
}

/// rmcp reads a standard method whose params do not fit its type as a
/// custom request, which it then answers "method not found". Such a
/// request gets -32602 with what is wrong in its params.
fn check_params(bytes: &[u8], msg: ClientJsonRpcMessage) -> Parsed {
    let JsonRpcMessage::Request(request) = &msg else {
        return Parsed::Message(Box::new(msg));
    };
    let ClientRequest::CustomRequest(custom) = &request.request else {
        return Parsed::Message(Box::new(msg));
    };
    let Some(problem) = standard_params_error(&custom.method, bytes) else {
        return Parsed::Message(Box::new(msg));
    };
    let id = serde_json::to_string(&request.id).ok();
    Parsed::Refused(Refusal::new(
        id.as_deref(),
        -32602,
        format!("Invalid params for {}: {problem}", custom.method),
    ))
}

/// Why `bytes` is not a valid request of the standard `method`, or `None`
/// when `method` is not one rmcp knows.
#[allow(deprecated)] // subscribe and logging: legacy, still sent by clients
fn standard_params_error(method: &str, bytes: &[u8]) -> Option<String> {
    use rmcp::model as m;
    macro_rules! try_as {
        ($($name:literal => $ty:ty),* $(,)?) => {
            match method {
                $($name => serde_json::from_slice::<m::JsonRpcRequest<$ty>>(bytes)
                    .err()
                    .map(|e| e.to_string())
                    .or_else(|| Some("the params do not match the method".into())),)*
                _ => None,
            }
        };
    }
    try_as! {
        "initialize" => m::InitializeRequest,
        "ping" => m::PingRequest,
        "tools/call" => m::CallToolRequest,
        "tools/list" => m::ListToolsRequest,
        "prompts/get" => m::GetPromptRequest,
        "prompts/list" => m::ListPromptsRequest,
        "resources/read" => m::ReadResourceRequest,
        "resources/list" => m::ListResourcesRequest,
        "resources/templates/list" => m::ListResourceTemplatesRequest,
        "resources/subscribe" => m::SubscribeRequest,
        "resources/unsubscribe" => m::UnsubscribeRequest,
        "completion/complete" => m::CompleteRequest,
        "logging/setLevel" => m::SetLevelRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(bytes: &str) -> Refusal {
        match parse(bytes.as_bytes()) {
            Parsed::Refused(r) => r,
            other => panic!("{bytes}: not refused: {other:?}"),
        }
    }

    #[test]
    fn batches_are_refused_with_32600() {
        let r = refused(r#" [{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
        assert_eq!((r.code, r.id), (-32600, None));
        assert!(r.message.contains("batch"), "{}", r.message);
    }

    #[test]
    fn huge_ids_are_echoed_exactly() {
        let r = refused(r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#);
        assert_eq!(r.id.as_deref(), Some("123456789012345678901234567890"));
        assert!(
            r.to_json()
                .contains(r#""id":123456789012345678901234567890,"#)
        );
    }

    #[test]
    fn wrong_params_of_a_known_method_are_32602() {
        let r = refused(
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
        );
        assert_eq!((r.code, r.id.as_deref()), (-32602, Some("4")));
        assert!(r.message.contains("tools/call"), "{}", r.message);
    }

    #[test]
    fn unknown_methods_and_good_messages_pass() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"no/such","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ] {
            assert!(matches!(parse(ok.as_bytes()), Parsed::Message(_)), "{ok}");
        }
    }

    #[test]
    fn syntax_errors_are_32700_and_bad_notifications_ignored() {
        assert_eq!(refused("{nope").code, -32700);
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":5}"#),
            Parsed::Ignored(_)
        ));
    }
}
