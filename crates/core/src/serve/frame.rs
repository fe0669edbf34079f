//! One outgoing stdio message as the byte runs to write, with its large
//! strings (images, audio, blobs, long texts) passed through untouched.
//!
//! serde_json checks every byte of a string for escapes, one at a time, into
//! a buffer that doubles as it grows: for an 8 MiB image (11 MiB of base64)
//! that is most of the call. Here each large string is swapped for a short
//! placeholder, the small rest of the message is serialized, and the string
//! is written where its placeholder was: as it is when a fast scan finds
//! nothing to escape (always, for base64), escaped by serde_json otherwise.

use std::sync::LazyLock;

use memchr::memmem;
use rmcp::RoleServer;
use rmcp::model::{ContentBlock, JsonRpcMessage, ResourceContents, ServerResult};
use rmcp::service::TxJsonRpcMessage;

/// Strings shorter than this are left to serde_json.
const LARGE_STRING: usize = 32 * 1024;

/// Per-process, so no text can carry a placeholder by chance; a collision
/// is still detected (the placeholder is then found twice) and the message
/// serialized plainly.
static NONCE: LazyLock<u64> = LazyLock::new(|| {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
});

/// The bytes of one message and its newline, in runs written in order.
#[derive(Debug, Default)]
pub struct Frame {
    runs: Vec<Vec<u8>>,
}

impl Frame {
    /// A frame of already serialized bytes (the newline is added).
    pub fn from_bytes(mut bytes: Vec<u8>) -> Self {
        bytes.push(b'\n');
        Frame { runs: vec![bytes] }
    }

    /// Serializes `message` as one line.
    pub fn encode(mut message: TxJsonRpcMessage<RoleServer>) -> serde_json::Result<Self> {
        // Each large string with its place among the content strings.
        let mut taken: Vec<(usize, String)> = Vec::new();
        let mut ordinal = 0;
        for_each_content_string(&mut message, &mut |s| {
            if s.len() >= LARGE_STRING {
                let placeholder = placeholder(taken.len());
                taken.push((ordinal, std::mem::replace(s, placeholder)));
            }
            ordinal += 1;
        });
        if taken.is_empty() {
            return Ok(Self::from_bytes(serde_json::to_vec(&message)?));
        }
        let skeleton = serde_json::to_vec(&message)?;
        match splice(&skeleton, taken) {
            Ok(frame) => Ok(frame),
            Err(taken) => {
                // A placeholder was not found exactly once: put every string
                // back and serialize the plain way.
                let mut taken = taken.into_iter().peekable();
                let mut ordinal = 0;
                for_each_content_string(&mut message, &mut |s| {
                    if let Some((_, original)) = taken.next_if(|(at, _)| *at == ordinal) {
                        *s = original;
                    }
                    ordinal += 1;
                });
                Ok(Self::from_bytes(serde_json::to_vec(&message)?))
            }
        }
    }

    /// Bytes in the line.
    pub fn byte_len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    pub fn runs(&self) -> &[Vec<u8>] {
        &self.runs
    }
}

fn placeholder(index: usize) -> String {
    format!("\u{1}mcp-frame-{:016x}-{index}\u{1}", *NONCE)
}

/// The frame with each of `taken` where its placeholder is in `skeleton`,
/// or `taken` back when a placeholder is not there exactly once.
fn splice(skeleton: &[u8], taken: Vec<(usize, String)>) -> Result<Frame, Vec<(usize, String)>> {
    let mut cuts = Vec::with_capacity(taken.len());
    let mut from = 0;
    for index in 0..taken.len() {
        let needle = serde_json::to_vec(&placeholder(index)).unwrap_or_default();
        let found = memmem::find_iter(skeleton, &needle).collect::<Vec<_>>();
        match found[..] {
            [at] if at >= from => {
                cuts.push((at, at + needle.len()));
                from = at + needle.len();
            }
            _ => return Err(taken),
        }
    }
    let mut runs = Vec::with_capacity(2 * taken.len() + 1);
    let mut head = Vec::new();
    let mut from = 0;
    for ((start, end), (_, string)) in cuts.into_iter().zip(taken) {
        head.extend_from_slice(&skeleton[from..start]);
        if needs_escape(string.as_bytes()) {
            head.extend_from_slice(&serde_json::to_vec(&string).unwrap_or_default());
        } else {
            head.push(b'"');
            runs.push(std::mem::take(&mut head));
            runs.push(string.into_bytes());
            head.push(b'"');
        }
        from = end;
    }
    head.extend_from_slice(&skeleton[from..]);
    head.push(b'\n');
    runs.push(head);
    Ok(Frame { runs })
}

/// Whether JSON needs any byte of `bytes` escaped: control characters,
/// `"` and `\`. Checks 64 bytes per step without branching, so it runs on
/// SIMD.
fn needs_escape(bytes: &[u8]) -> bool {
    let escape = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(false, |found, &b| found | escape(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| escape(b))
}

/// Calls `f` on each string of `message` that is content: text, image and
/// audio data, resource text and blobs; always in the same order.
fn for_each_content_string(
    message: &mut TxJsonRpcMessage<RoleServer>,
    f: &mut impl FnMut(&mut String),
) {
    let JsonRpcMessage::Response(response) = message else {
        return;
    };
    let resource = |r: &mut ResourceContents, f: &mut dyn FnMut(&mut String)| match r {
        ResourceContents::TextResourceContents { text, .. } => f(text),
        ResourceContents::BlobResourceContents { blob, .. } => f(blob),
        _ => {}
    };
    match &mut response.result {
        ServerResult::CallToolResult(result) => {
            for block in &mut result.content {
                match block {
                    ContentBlock::Text(c) => f(&mut c.text),
                    ContentBlock::Image(c) => f(&mut c.data),
                    ContentBlock::Audio(c) => f(&mut c.data),
                    ContentBlock::Resource(c) => resource(&mut c.resource, f),
                    _ => {}
                }
            }
        }
        ServerResult::ReadResourceResult(result) => {
            for contents in &mut result.contents {
                resource(contents, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{
        CallToolResult, ContentBlock as Content, JsonRpcResponse, JsonRpcVersion2_0,
        NumberOrString, ReadResourceResult,
    };
    use serde_json::Value;

    fn response(result: ServerResult) -> TxJsonRpcMessage<RoleServer> {
        JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id: NumberOrString::Number(7),
            result,
        })
    }

    fn bytes(frame: &Frame) -> Vec<u8> {
        frame.runs().concat()
    }

    /// The frame is exactly serde_json's line, whatever was spliced.
    fn assert_same_as_serde(message: TxJsonRpcMessage<RoleServer>) -> Frame {
        let mut expected = serde_json::to_vec(&message).unwrap();
        expected.push(b'\n');
        let frame = Frame::encode(message).unwrap();
        assert_eq!(
            String::from_utf8(bytes(&frame)).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        frame
    }

    #[test]
    fn large_base64_is_written_as_it_is() {
        let data = "QUJD".repeat(50_000);
        let frame = assert_same_as_serde(response(ServerResult::CallToolResult(
            CallToolResult::success(vec![
                Content::text("small"),
                Content::image(data.clone(), "image/png"),
            ]),
        )));
        assert!(
            frame.runs().iter().any(|run| *run == data.as_bytes()),
            "the data is one run of its own, not copied into the rest"
        );
    }

    #[test]
    fn large_text_with_escapes_matches_serde_json() {
        let text = "line \"quoted\" \\ and\ttab\n\u{1}é".repeat(5_000);
        assert_same_as_serde(response(ServerResult::CallToolResult(
            CallToolResult::success(vec![Content::text(text.clone()), Content::text(text)]),
        )));
    }

    #[test]
    fn resources_and_several_strings_keep_their_order() {
        let a = "a".repeat(LARGE_STRING);
        let b = "b".repeat(LARGE_STRING + 1);
        assert_same_as_serde(response(ServerResult::ReadResourceResult(
            ReadResourceResult::new(vec![
                ResourceContents::text(a, "file:///a"),
                ResourceContents::blob(b, "file:///b"),
            ]),
        )));
    }

    #[test]
    fn a_placeholder_in_the_message_falls_back_to_plain_serde() {
        let data = "x".repeat(LARGE_STRING);
        // Small text that happens to be the first placeholder: found twice.
        let frame = assert_same_as_serde(response(ServerResult::CallToolResult(
            CallToolResult::success(vec![
                Content::text(placeholder(0)),
                Content::image(data, "image/png"),
            ]),
        )));
        assert_eq!(frame.runs().len(), 1);
    }

    #[test]
    fn small_messages_are_one_run() {
        let frame = assert_same_as_serde(response(ServerResult::CallToolResult(
            CallToolResult::success(vec![Content::text("hello")]),
        )));
        assert_eq!(frame.runs().len(), 1);
        let line: Value = serde_json::from_slice(&bytes(&frame)).unwrap();
        assert_eq!(line["result"]["content"][0]["text"], "hello");
    }

    #[test]
    fn escape_scan_finds_every_class_anywhere() {
        for at in [0, 1, 63, 64, 65, 127, 200] {
            for bad in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                let mut bytes = vec![b'a'; 201];
                bytes[at] = bad;
                assert!(needs_escape(&bytes), "{bad:#x} at {at}");
            }
        }
        assert!(!needs_escape(&[b'a'; 201]));
        assert!(!needs_escape("é/+=~\u{7f}".as_bytes()));
    }
}
