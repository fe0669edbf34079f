//! Builders for tool results: text, images, resource links, structured data,
//! and truncation that tells the model what was cut and how to get the rest.

use std::io::{self, Read};
use std::path::Path;

use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde::Serialize;

use crate::error::ToolError;

/// A successful result with one text block.
pub fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// Base64 of `bytes` (standard alphabet, padded), encoded straight into one
/// buffer of the final size with the CPU's SIMD instructions: images and
/// blobs are the largest payloads the servers send.
pub fn base64_encode(bytes: &[u8]) -> String {
    let len = bytes.len().div_ceil(3) * 4;
    let mut out = String::from_utf8(crate::heap::large_buffer(len)).unwrap_or_default();
    base64_simd::STANDARD.encode_append(bytes, &mut out);
    out
}

/// Base64 of what `reader` yields, read in blocks straight into the encoded
/// string: no buffer holds the whole input (for an 8 MiB image, 8 MiB less
/// to fault in, zero and copy). Reads at most `max + 1` bytes, so a total
/// over `max` means too big; `size_hint` sizes the string. Returns the
/// string and the number of bytes read.
pub fn base64_read(reader: impl Read, size_hint: u64, max: u64) -> io::Result<(String, u64)> {
    // A multiple of 3: full blocks encode without padding between them.
    const BLOCK: usize = 3 * 64 * 1024;
    let limit = max.saturating_add(1);
    let capacity = usize::try_from(size_hint.min(limit).div_ceil(3) * 4).unwrap_or(0);
    let mut out = String::from_utf8(crate::heap::large_buffer(capacity)).unwrap_or_default();
    let mut block = vec![0u8; BLOCK.min(usize::try_from(limit).unwrap_or(BLOCK)).max(1)];
    let mut reader = reader.take(limit);
    let mut total = 0u64;
    loop {
        // Fill the block (or reach the end): only the last one may pad.
        let mut filled = 0;
        while filled < block.len() {
            match reader.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        base64_simd::STANDARD.encode_append(&block[..filled], &mut out);
        total += filled as u64;
        if filled < block.len() {
            return Ok((out, total));
        }
    }
}

/// An image content block from raw encoded bytes (PNG, JPEG, ...).
pub fn image(bytes: &[u8], mime_type: &str) -> ContentBlock {
    ContentBlock::image(base64_encode(bytes), mime_type)
}

/// A `file://` URI for an absolute path, percent-encoding what a URI cannot
/// hold (spaces, `#`, `?`, `%`, non-ASCII bytes).
pub fn file_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b);
        if keep {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// A resource link to a file the tool wrote or found.
pub fn resource_link(path: &Path, mime_type: Option<&str>, size: Option<u64>) -> ContentBlock {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut resource = Resource::new(file_uri(path), name);
    if let Some(mime) = mime_type {
        resource = resource.with_mime_type(mime);
    }
    if let Some(size) = size {
        resource = resource.with_size(size);
    }
    ContentBlock::resource_link(resource)
}

/// A result carrying `value` as structured content, with `summary` as the
/// text block, so large data is not sent twice.
pub fn structured<T: Serialize>(
    value: &T,
    summary: impl Into<String>,
) -> Result<CallToolResult, ToolError> {
    let value = serde_json::to_value(value)
        .map_err(|e| ToolError::new(format!("internal error: cannot serialize result: {e}")))?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(summary)]);
    result.structured_content = Some(value);
    Ok(result)
}

/// Text cut to at most `max_bytes` (on a char boundary), with a note saying
/// how much was cut and how to page on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    pub text: String,
    /// Byte offset where the returned text ends in the original.
    pub end: usize,
    pub total: usize,
    pub truncated: bool,
}

/// Cuts `text` to `max_bytes` and, when cut, appends a marker that names the
/// offset to continue from with `hint` (e.g. "call again with offset=N").
pub fn truncate(text: &str, max_bytes: usize, hint: impl Fn(usize) -> String) -> Truncated {
    if text.len() <= max_bytes {
        return Truncated {
            text: text.to_owned(),
            end: text.len(),
            total: text.len(),
            truncated: false,
        };
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 128);
    out.push_str(&text[..end]);
    out.push_str(&format!(
        "\n\n[truncated: showed {end} of {} bytes; {}]",
        text.len(),
        hint(end)
    ));
    Truncated {
        text: out,
        end,
        total: text.len(),
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, to exercise block filling.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn base64_read_matches_base64_encode_at_every_block_edge() {
        let block = 3 * 64 * 1024;
        let data: Vec<u8> = (0..3 * block + 7).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [
            0,
            1,
            2,
            3,
            4,
            block - 1,
            block,
            block + 1,
            2 * block + 2,
            3 * block + 7,
        ] {
            let input = &data[..len];
            for step in [7, 4096, usize::MAX] {
                let (got, read) =
                    base64_read(Trickle { data: input, step }, len as u64, u64::MAX).unwrap();
                assert_eq!(read, len as u64);
                assert_eq!(got, base64_encode(input), "len {len}, step {step}");
            }
        }
    }

    #[test]
    fn base64_read_stops_one_byte_past_the_limit() {
        let data = vec![9u8; 1000];
        let (encoded, read) = base64_read(&data[..], 1000, 100).unwrap();
        assert_eq!(read, 101, "over the limit");
        assert_eq!(encoded, base64_encode(&data[..101]));
        let (_, read) = base64_read(&data[..], 1000, 1000).unwrap();
        assert_eq!(read, 1000, "exactly at the limit");
    }

    #[test]
    fn file_uri_escapes_what_uris_cannot_hold() {
        assert_eq!(
            file_uri(Path::new("/a b/c#d%.txt")),
            "file:///a%20b/c%23d%25.txt"
        );
        assert_eq!(file_uri(Path::new("/é")), "file:///%C3%A9");
    }

    #[test]
    fn truncate_keeps_char_boundaries_and_says_how_to_continue() {
        let t = truncate("héllo world", 2, |end| format!("continue at {end}"));
        assert!(t.truncated);
        assert_eq!(t.end, 1);
        assert!(
            t.text
                .starts_with("h\n\n[truncated: showed 1 of 12 bytes; continue at 1]")
        );
        let whole = truncate("abc", 3, |_| unreachable!());
        assert!(!whole.truncated);
        assert_eq!(whole.text, "abc");
    }

    #[test]
    fn structured_sends_summary_text_not_the_data_twice() {
        let r = structured(&serde_json::json!({"big": [1, 2, 3]}), "3 items").unwrap();
        assert_eq!(r.content[0].as_text().unwrap().text, "3 items");
        assert_eq!(r.structured_content.unwrap()["big"][2], 3);
    }

    #[test]
    fn image_is_base64() {
        let block = image(b"\x89PNG", "image/png");
        let img = block.as_image().unwrap();
        assert_eq!(img.data, "iVBORw==");
        assert_eq!(img.mime_type, "image/png");
    }

    /// The SIMD encoder agrees with the reference one on every tail length
    /// and on a buffer large enough for its wide loops.
    #[test]
    fn base64_matches_the_reference_encoder() {
        use base64::Engine;
        let bytes: Vec<u8> = (0..300_003u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..100).chain([4095, 4096, 4097, 65_536, 300_003]) {
            let slice = &bytes[..len];
            assert_eq!(
                base64_encode(slice),
                base64::engine::general_purpose::STANDARD.encode(slice),
                "length {len}"
            );
        }
    }
}
