//! encode, decode, hash: exact byte-level work.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::progress::Progress;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Ticker;
use crate::TextServer;
use crate::input::{Input, TextPage, TextPaging, data, schema};

/// Encodings, with what they are (also served as text://encodings).
pub const ENCODINGS: &[(&str, &str)] = &[
    (
        "base64",
        "standard base64 (RFC 4648 §4) with = padding; decoding accepts missing padding and ignores whitespace",
    ),
    (
        "base64url",
        "URL-safe base64 (RFC 4648 §5, - and _) without padding; decoding accepts padding",
    ),
    (
        "hex",
        "lowercase hexadecimal, two digits per byte; decoding accepts upper case and ignores whitespace",
    ),
    (
        "percent",
        "percent-encoding (RFC 3986): every byte except A-Z a-z 0-9 - . _ ~ becomes %XX",
    ),
    (
        "html",
        "HTML entities: & < > \" ' escaped; decoding understands every named and numeric entity of HTML5",
    ),
];

/// Hash algorithms, with what they are (also served as text://hashes).
pub const HASHES: &[(&str, &str)] = &[
    ("md5", "MD5, 128 bits (not for security)"),
    ("sha1", "SHA-1, 160 bits (not for security)"),
    ("sha256", "SHA-256, 256 bits"),
    ("sha512", "SHA-512, 512 bits"),
    ("blake3", "BLAKE3, 256 bits"),
    ("crc32", "CRC-32 (IEEE, as zlib, gzip and PNG), 32 bits"),
    ("xxh3", "XXH3 64-bit, seed 0 (as xxhsum -H3)"),
];

fn names(list: &[(&'static str, &str)]) -> String {
    list.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

fn check_encoding(encoding: &str) -> ToolResult<()> {
    if ENCODINGS.iter().any(|(n, _)| *n == encoding) {
        Ok(())
    } else {
        Err(ToolError::new(format!(
            "unknown encoding '{encoding}'; known: {}",
            names(ENCODINGS)
        )))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EncodeParams {
    #[serde(flatten)]
    pub input: Input,
    /// base64, base64url, hex, percent or html. With `path`, the file's raw
    /// bytes are encoded (binary files work).
    pub encoding: String,
    #[serde(flatten)]
    pub paging: TextPaging,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DecodeParams {
    #[serde(flatten)]
    pub input: Input,
    /// base64, base64url, hex, percent or html.
    pub encoding: String,
    /// "text" (default): the decoded bytes as UTF-8 text; "hex" or
    /// "base64": the decoded bytes in that form (for binary data).
    #[serde(default)]
    pub output: Option<String>,
    #[serde(flatten)]
    pub paging: TextPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CodecOutput {
    pub encoding: String,
    /// Bytes of input.
    pub input_bytes: usize,
    /// Bytes of the decoded data (decode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_bytes: Option<usize>,
    /// The encoded or decoded text, paged by start_index/max_length.
    pub result: TextPage,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HashParams {
    #[serde(flatten)]
    pub input: Input,
    /// md5, sha1, sha256, sha512, blake3, crc32 or xxh3. With `text`, its
    /// UTF-8 bytes are hashed exactly (no newline is added); with `path`,
    /// the file's raw bytes.
    pub algorithm: String,
    /// "hex" (default, lowercase) or "base64".
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HashOutput {
    pub algorithm: String,
    pub format: String,
    pub digest: String,
    /// Bytes hashed.
    pub bytes: usize,
}

#[tool_router(router = encode_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Encode",
        description = "Encode text (or a file's raw bytes) exactly: base64, base64url (no padding), hex, percent (URL, RFC 3986 unreserved kept) or html (entities). Works on bytes: the UTF-8 bytes of `text` (or the file's raw bytes), line endings (\\n, \\r\\n, \\r) encoded as they are, never converted. Input: `text` or `path`.",
        output_schema = schema::<CodecOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn encode(
        &self,
        Parameters(p): Parameters<EncodeParams>,
    ) -> ToolResult<CallToolResult> {
        p.paging.check()?;
        check_encoding(&p.encoding)?;
        let bytes = self.load_bytes(p.input).await?;
        let encoding = p.encoding;
        let paging = p.paging;
        let out = blocking_unless_small(bytes.len(), move || {
            let text = encode(&bytes, &encoding)?;
            Ok(CodecOutput {
                input_bytes: bytes.len(),
                decoded_bytes: None,
                result: paging.page(&text),
                encoding,
            })
        })
        .await?;
        data(&out)
    }

    #[tool(
        title = "Decode",
        description = "Decode base64, base64url, hex, percent (URL) or html entities exactly (html: HTML5 character references, as a browser and Python's html.unescape read them: &#x80; is €, &amp without a semicolon is &, &#0; is U+FFFD). Invalid input is an error naming the 0-based byte offset of the bad byte; base64 and hex ignore whitespace (so wrapped lines decode), percent and html keep line endings (\\n, \\r\\n, a lone \\r) as they are. The result is UTF-8 text, or hex/base64 of the bytes with `output`. Input: `text` or `path`.",
        output_schema = schema::<CodecOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn decode(
        &self,
        Parameters(p): Parameters<DecodeParams>,
    ) -> ToolResult<CallToolResult> {
        p.paging.check()?;
        check_encoding(&p.encoding)?;
        let output = p.output.unwrap_or_else(|| "text".to_owned());
        if !["text", "hex", "base64"].contains(&output.as_str()) {
            return Err(ToolError::new(format!(
                "unknown output '{output}'; use text, hex or base64"
            )));
        }
        let loaded = self.load(p.input).await?;
        let encoding = p.encoding;
        let paging = p.paging;
        let out = blocking_unless_small(loaded.text.len(), move || {
            let bytes = decode(&loaded.text, &encoding)?;
            let text = match output.as_str() {
                "hex" => encode(&bytes, "hex")?,
                "base64" => encode(&bytes, "base64")?,
                _ => String::from_utf8(bytes.clone()).map_err(|e| {
                    ToolError::new(format!(
                        "the {} decoded bytes are not UTF-8 text (invalid byte sequence at byte \
                         offset {}); call again with output \"hex\" or \"base64\"",
                        bytes.len(),
                        e.utf8_error().valid_up_to()
                    ))
                })?,
            };
            Ok(CodecOutput {
                input_bytes: loaded.text.len(),
                decoded_bytes: Some(bytes.len()),
                result: paging.page(&text),
                encoding,
            })
        })
        .await?;
        data(&out)
    }

    #[tool(
        title = "Hash",
        description = "Hash text (its exact UTF-8 bytes, no newline added) or a file's raw bytes: md5, sha1, sha256, sha512, blake3, crc32 or xxh3; hex (default) or base64 output. Units: bytes; line endings are hashed as they are (\\r\\n is two bytes, never converted to \\n). Input: `text` or `path`.",
        output_schema = schema::<HashOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn hash(
        &self,
        Parameters(p): Parameters<HashParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let algorithm = p.algorithm;
        if !HASHES.iter().any(|(n, _)| *n == algorithm) {
            return Err(ToolError::new(format!(
                "unknown algorithm '{algorithm}'; known: {}",
                names(HASHES)
            )));
        }
        let format = p.format.unwrap_or_else(|| "hex".to_owned());
        if format != "hex" && format != "base64" {
            return Err(ToolError::new(format!(
                "unknown format '{format}'; use hex or base64"
            )));
        }
        let bytes = self.load_bytes(p.input).await?;
        let progress = Progress::from_context(&context);
        let reporter = progress.clone();
        let out = blocking_unless_small(bytes.len(), move || {
            let digest = hash(&bytes, &algorithm, &reporter)?;
            let digest = if format == "hex" {
                hex(&digest)
            } else {
                base64::engine::general_purpose::STANDARD.encode(&digest)
            };
            Ok(HashOutput {
                algorithm,
                format,
                digest,
                bytes: bytes.len(),
            })
        })
        .await?;
        progress.flush().await;
        data(&out)
    }
}

const HASH_BLOCK: usize = 1 << 20;

/// The digest of `bytes`, fed in blocks so long inputs report progress and
/// stop when cancelled.
pub fn hash(bytes: &[u8], algorithm: &str, progress: &Progress) -> ToolResult<Vec<u8>> {
    use sha2::Digest;
    let mut ticker = Ticker::new(progress.clone(), bytes.len(), 1);
    let blocks = bytes.chunks(HASH_BLOCK);
    macro_rules! digest {
        ($hasher:expr) => {{
            let mut h = $hasher;
            let mut done = 0;
            for block in blocks {
                h.update(block);
                done += block.len();
                ticker.tick(done)?;
            }
            h.finalize().to_vec()
        }};
    }
    Ok(match algorithm {
        "md5" => digest!(md5::Md5::new()),
        "sha1" => digest!(sha1::Sha1::new()),
        "sha256" => digest!(sha2::Sha256::new()),
        "sha512" => digest!(sha2::Sha512::new()),
        "blake3" => {
            let mut h = blake3::Hasher::new();
            let mut done = 0;
            for block in blocks {
                h.update(block);
                done += block.len();
                ticker.tick(done)?;
            }
            h.finalize().as_bytes().to_vec()
        }
        "crc32" => {
            let mut crc = Crc32::new();
            let mut done = 0;
            for block in blocks {
                crc.update(block);
                done += block.len();
                ticker.tick(done)?;
            }
            crc.finish().to_be_bytes().to_vec()
        }
        "xxh3" => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            let mut done = 0;
            for block in blocks {
                h.update(block);
                done += block.len();
                ticker.tick(done)?;
            }
            h.digest().to_be_bytes().to_vec()
        }
        other => return Err(ToolError::new(format!("unknown algorithm '{other}'"))),
    })
}

/// CRC-32/ISO-HDLC (the zlib one), table-driven.
struct Crc32 {
    table: [u32; 256],
    value: u32,
}

impl Crc32 {
    fn new() -> Self {
        let mut table = [0u32; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        Self {
            table,
            value: 0xFFFF_FFFF,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.value =
                self.table[((self.value ^ u32::from(b)) & 0xFF) as usize] ^ (self.value >> 8);
        }
    }

    fn finish(&self) -> u32 {
        self.value ^ 0xFFFF_FFFF
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn lenient(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// `bytes` in `encoding` (a known name).
pub fn encode(bytes: &[u8], encoding: &str) -> ToolResult<String> {
    Ok(match encoding {
        "base64" => base64::engine::general_purpose::STANDARD.encode(bytes),
        "base64url" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        "hex" => hex(bytes),
        "percent" => {
            const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'-')
                .remove(b'.')
                .remove(b'_')
                .remove(b'~');
            percent_encoding::percent_encode(bytes, KEEP).to_string()
        }
        "html" => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                ToolError::new(format!(
                    "html encoding needs UTF-8 text (invalid byte sequence at byte offset {})",
                    e.valid_up_to()
                ))
            })?;
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    c => out.push(c),
                }
            }
            out
        }
        other => return Err(ToolError::new(format!("unknown encoding '{other}'"))),
    })
}

/// Decodes `text` from `encoding`; errors name the offset (in bytes of
/// `text`) of the first bad input.
pub fn decode(text: &str, encoding: &str) -> ToolResult<Vec<u8>> {
    match encoding {
        "base64" | "base64url" => {
            let alphabet = if encoding == "base64" {
                &alphabet::STANDARD
            } else {
                &alphabet::URL_SAFE
            };
            // Whitespace (line-wrapped base64) is skipped; keep where each
            // remaining byte was, for error messages.
            let (clean, origin): (Vec<u8>, Vec<usize>) = text
                .bytes()
                .enumerate()
                .filter(|(_, b)| !b.is_ascii_whitespace())
                .map(|(i, b)| (b, i))
                .unzip();
            let at = |i: usize| origin.get(i).copied().unwrap_or(text.len());
            lenient(alphabet).decode(&clean).map_err(|e| {
                use base64::DecodeError::*;
                let msg = match e {
                    InvalidByte(i, b'=') => format!(
                        "misplaced padding '=' at offset {} (padding may only end the input)",
                        at(i)
                    ),
                    InvalidByte(i, b) => format!(
                        "byte {} at offset {} is not in the {encoding} alphabet{}",
                        show_byte(b),
                        at(i),
                        match (encoding, b) {
                            ("base64", b'-' | b'_') => "; this looks like base64url",
                            ("base64url", b'+' | b'/') => "; this looks like standard base64",
                            _ => "",
                        }
                    ),
                    InvalidLength(n) => format!(
                        "invalid length: {n} {encoding} symbols; a valid input has 4k, 4k+2 or \
                         4k+3 symbols (the input looks truncated)"
                    ),
                    InvalidLastSymbol(i, b) => format!(
                        "invalid last symbol {} at offset {} (it carries bits that do not fit; \
                         the input looks truncated or corrupted)",
                        show_byte(b),
                        at(i)
                    ),
                    InvalidPadding => "invalid padding".to_owned(),
                };
                ToolError::new(format!("invalid {encoding}: {msg}"))
            })
        }
        "hex" => {
            let mut out = Vec::with_capacity(text.len() / 2);
            let mut high: Option<(u8, usize)> = None;
            for (i, b) in text.bytes().enumerate() {
                if b.is_ascii_whitespace() {
                    continue;
                }
                let Some(v) = (b as char).to_digit(16) else {
                    return Err(ToolError::new(format!(
                        "invalid hex: {} at offset {i} is not a hex digit",
                        show_char(text, i)
                    )));
                };
                match high.take() {
                    None => high = Some((v as u8, i)),
                    Some((h, _)) => out.push(h << 4 | v as u8),
                }
            }
            if let Some((_, i)) = high {
                return Err(ToolError::new(format!(
                    "invalid hex: odd number of digits; the digit at offset {i} has no partner"
                )));
            }
            Ok(out)
        }
        "percent" => {
            let bytes = text.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    let digits = bytes.get(i + 1..i + 3).and_then(|d| {
                        let s = std::str::from_utf8(d).ok()?;
                        u8::from_str_radix(s, 16).ok()
                    });
                    let Some(v) = digits else {
                        return Err(ToolError::new(format!(
                            "invalid percent-encoding: '%' at offset {i} is not followed by two hex digits"
                        )));
                    };
                    out.push(v);
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            Ok(out)
        }
        "html" => Ok(unescape_html(text).into_bytes()),
        other => Err(ToolError::new(format!("unknown encoding '{other}'"))),
    }
}

/// HTML character references decoded by the HTML5 rules, exactly as
/// Python's `html.unescape`: numeric references in the C1 range mean
/// windows-1252 (`&#x80;` is `€`), `&#0;`, surrogates and numbers past
/// U+10FFFF are U+FFFD, other control and noncharacter references vanish,
/// the legacy named references work without a semicolon (`&amp `, `&notin`
/// is `¬in`), and an unknown name is left as written. The names are the
/// HTML5 table (html5ever's, the 2231 of `html.entities.html5`).
pub fn unescape_html(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'&', &bytes[from..]) {
        let amp = from + found;
        from = amp + 1;
        let Some((len, replacement)) = char_reference(&text[amp + 1..]) else {
            continue;
        };
        out.push_str(&text[copied..amp]);
        out.push_str(&replacement);
        copied = amp + 1 + len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// The reference at the start of `rest` (just after a `&`): how many bytes
/// it takes and what it stands for, or `None` when it is not one.
fn char_reference(rest: &str) -> Option<(usize, String)> {
    let bytes = rest.as_bytes();
    if bytes.first() == Some(&b'#') {
        let hex = matches!(bytes.get(1), Some(b'x' | b'X'));
        let digits_start = if hex { 2 } else { 1 };
        let digits = bytes[digits_start..]
            .iter()
            .take_while(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let end = digits_start + digits;
        let len = end + usize::from(bytes.get(end) == Some(&b';'));
        let number = u32::from_str_radix(&rest[digits_start..end], if hex { 16 } else { 10 })
            .unwrap_or(u32::MAX);
        return Some((len, numeric_reference(number)));
    }
    // Python's `[^\t\n\f <&#;]{1,32};?`: up to 32 characters.
    let name_end = rest
        .char_indices()
        .take(32)
        .find(|(_, c)| matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';'))
        .map_or_else(
            || rest.char_indices().nth(32).map_or(rest.len(), |(i, _)| i),
            |(i, _)| i,
        );
    if name_end == 0 {
        return None;
    }
    let len = name_end + usize::from(bytes.get(name_end) == Some(&b';'));
    let name = &rest[..len];
    let entity = |name: &str| {
        html5ever::data::NAMED_ENTITIES
            .get(name)
            .filter(|cps| cps.0 != 0)
            .map(|&(a, b)| {
                [a, b]
                    .into_iter()
                    .filter(|&c| c != 0)
                    .filter_map(char::from_u32)
                    .collect::<String>()
            })
    };
    if let Some(value) = entity(name) {
        return Some((len, value));
    }
    // The longest known prefix of at least two characters (the legacy
    // names without a semicolon: `&notit;` is `¬it;`).
    (2..name.len())
        .rev()
        .filter(|&x| name.is_char_boundary(x))
        .find_map(|x| entity(&name[..x]).map(|value| (x, value)))
}

fn numeric_reference(number: u32) -> String {
    // Python's `html._invalid_charrefs`: NUL, CR and windows-1252's C1.
    const C1: [u32; 32] = [
        0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039,
        0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
        0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
    ];
    let c = match number {
        0 => '\u{fffd}',
        0x0d => '\r',
        0x80..=0x9f => char::from_u32(C1[(number - 0x80) as usize]).unwrap_or('\u{fffd}'),
        0xd800..=0xdfff | 0x11_0000.. => '\u{fffd}',
        // Python's `html._invalid_codepoints`: they vanish.
        0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f..=0x9f | 0xfdd0..=0xfdef => return String::new(),
        n if n & 0xfffe == 0xfffe => return String::new(),
        n => char::from_u32(n).unwrap_or('\u{fffd}'),
    };
    c.to_string()
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

fn show_char(text: &str, i: usize) -> String {
    match text[i..].chars().next() {
        Some(c) if !c.is_control() => format!("'{c}'"),
        _ => format!("0x{:02x}", text.as_bytes()[i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str, alg: &str) -> String {
        hex(&hash(text.as_bytes(), alg, &Progress::none()).unwrap())
    }

    #[test]
    fn known_digests() {
        assert_eq!(h("", "md5"), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(h("abc", "sha1"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            h("abc", "sha256"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(h("abc", "sha512").starts_with("ddaf35a193617aba"));
        assert_eq!(
            h("", "blake3"),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(h("123456789", "crc32"), "cbf43926");
        assert_eq!(h("", "xxh3"), "2d06800538d394c2");
    }

    #[test]
    fn hashing_stops_when_cancelled() {
        let ct = tokio_util::sync::CancellationToken::new();
        ct.cancel();
        let progress = Progress::with_cancellation(ct);
        let err = hash(&[0u8; 3 << 20], "sha256", &progress).unwrap_err();
        assert_eq!(err.message(), "cancelled by the client");
    }

    #[test]
    fn round_trips() {
        let data = "héllo wörld <&> \"'/+?";
        for enc in ["base64", "base64url", "hex", "percent", "html"] {
            let e = encode(data.as_bytes(), enc).unwrap();
            assert_eq!(decode(&e, enc).unwrap(), data.as_bytes(), "{enc}: {e}");
        }
        assert_eq!(encode(b"a b/c", "percent").unwrap(), "a%20b%2Fc");
        assert_eq!(encode(b"\xfb\xff", "base64url").unwrap(), "-_8");
        assert_eq!(decode("aGk", "base64").unwrap(), b"hi");
        assert_eq!(decode("aG\nk=", "base64").unwrap(), b"hi");
        assert_eq!(
            decode("&eacute;&#x41;&amp;", "html").unwrap(),
            "éA&".as_bytes()
        );
    }

    /// Issue 21: HTML5 character references, each expected value from
    /// Python 3.11's `html.unescape`.
    #[test]
    fn html_decodes_as_html5() {
        for (input, expected) in [
            ("&#x80;&#150;", "€–"),
            ("&amp &lt", "& <"),
            ("&#0;", "\u{fffd}"),
            ("&ampx;", "&x;"),
            ("&notit;", "¬it;"),
            ("&notin", "¬in"),
            ("&#x110000;", "\u{fffd}"),
            ("&#xD800;", "\u{fffd}"),
            ("&#1;", ""),
            ("&#65", "A"),
            ("&#x41x", "Ax"),
            ("&AElig&Aacute", "ÆÁ"),
            ("&zz;", "&zz;"),
            ("&;", "&;"),
            ("&#;", "&#;"),
            ("&#xFFFE;", ""),
            ("&#13;", "\r"),
            ("&#x81;", "\u{81}"),
            ("&amp;amp;", "&amp;"),
            ("&lt=", "<="),
            ("&NotNestedGreaterGreater;", "\u{2aa2}\u{338}"),
            ("&acE;", "\u{223e}\u{333}"),
            ("&#99999999999999999999;", "\u{fffd}"),
            ("é&eacute;&", "éé&"),
            ("&éacute;", "&éacute;"),
        ] {
            assert_eq!(
                String::from_utf8(decode(input, "html").unwrap()).unwrap(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn invalid_input_names_the_offset() {
        let e = decode("aGVs!G8=", "base64").unwrap_err().to_string();
        assert!(e.contains("'!' at offset 4"), "{e}");
        let e = decode("ab\ncd!", "base64").unwrap_err().to_string();
        assert!(e.contains("offset 5"), "{e}");
        let e = decode("abz", "hex").unwrap_err().to_string();
        assert!(e.contains("'z' at offset 2"), "{e}");
        let e = decode("abc", "hex").unwrap_err().to_string();
        assert!(e.contains("odd number"), "{e}");
        let e = decode("a%2", "percent").unwrap_err().to_string();
        assert!(e.contains("offset 1"), "{e}");
        let e = decode("a-b_", "base64").unwrap_err().to_string();
        assert!(e.contains("base64url"), "{e}");
    }
}
