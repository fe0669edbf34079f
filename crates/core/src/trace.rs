//! W3C trace context carried in a request's `_meta.traceparent` (SEP-414).
//!
//! A tool call that comes with a valid `traceparent` runs in a tracing span
//! whose fields continue the client's trace: `trace_id` (the client's),
//! `parent_span_id` (the client's span) and `span_id` (a new one for the
//! server's part), so every log line of the call, in text or JSON, can be
//! joined with the client's trace. Nothing is exported (no OTLP): the ids
//! live in the logs.

use tracing::Span;

/// A parsed `traceparent` (version 00 layout; later versions are read the
/// same way, as the spec asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: &'a str,
    /// 16 lowercase hex digits, not all zero: the caller's span.
    pub parent_id: &'a str,
    /// The `sampled` flag.
    pub sampled: bool,
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a `traceparent` value; `None` if it is not a valid one (it is
/// then ignored, as the spec says).
pub fn parse(value: &str) -> Option<TraceParent<'_>> {
    let value = value.trim_matches([' ', '\t']);
    let mut parts = value.splitn(5, '-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let rest = parts.next();
    if !lower_hex(version, 2) || version == "ff" {
        return None;
    }
    // Version 00 has exactly four fields; a later version may add more.
    if version == "00" && rest.is_some() {
        return None;
    }
    if !lower_hex(trace_id, 32) || trace_id.bytes().all(|b| b == b'0') {
        return None;
    }
    if !lower_hex(parent_id, 16) || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    if !lower_hex(flags, 2) {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled,
    })
}

/// A new span id: 16 lowercase hex digits, never all zero.
pub fn new_span_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The span a tool call runs in. With a valid `traceparent` it carries
/// the trace's ids and is enabled at WARN, so that the warnings and errors
/// of a traced call carry its trace id under the default filters too;
/// without one it is an INFO span naming the tool.
pub fn call_span(tool: &str, traceparent: Option<&str>) -> Span {
    match traceparent.and_then(parse) {
        Some(parent) => {
            let span = tracing::warn_span!(
                "tool_call",
                tool,
                trace_id = parent.trace_id,
                span_id = tracing::field::Empty,
                parent_span_id = parent.parent_id,
            );
            if !span.is_disabled() {
                span.record("span_id", new_span_id().as_str());
            }
            span
        }
        None => {
            if let Some(bad) = traceparent {
                tracing::debug!(traceparent = bad, "ignoring an invalid traceparent");
            }
            tracing::info_span!("tool_call", tool)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_traceparents_parse() {
        let parent = parse(VALID).unwrap();
        assert_eq!(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.parent_id, "00f067aa0ba902b7");
        assert!(parent.sampled);
        let unsampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.sampled);
        // A later version may carry more fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some());
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn span_ids_are_16_hex_digits() {
        let id = new_span_id();
        assert!(lower_hex(&id, 16) && id != "0000000000000000", "{id}");
        assert_ne!(id, new_span_id());
    }
}
