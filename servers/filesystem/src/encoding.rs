//! Text encodings and line endings of the files read and edited as text.
//!
//! A file that is valid UTF-8 is text as it is (the official server's only
//! case). Otherwise [`detect`] tells UTF-16 by its byte order mark, and
//! legacy single-byte text, read as Windows-1252 (every byte decodes, and
//! encodes back to itself), from binary data and from UTF-8 with a few bad
//! bytes, which are neither. `edit_file` writes a file back in the encoding
//! it was read in, or refuses: it never writes U+FFFD for bytes it could not
//! read, nor a character the encoding cannot hold.
//!
//! [`LineBreaks`] sets a text's `\r\n` aside so that edits see only `\n`, and
//! puts each one back where it was.

use std::borrow::Cow;
use std::ops::Range;

use encoding_rs::{EncoderResult, UTF_16BE, UTF_16LE, WINDOWS_1252};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

/// The encoding a text file is read and written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// UTF-8 starting with a byte order mark (EF BB BF).
    Utf8Bom,
    /// UTF-16, little-endian, starting with its byte order mark (FF FE).
    Utf16Le,
    /// UTF-16, big-endian, starting with its byte order mark (FE FF).
    Utf16Be,
    /// Legacy single-byte text (a superset of ISO-8859-1's printable range).
    Windows1252,
}

impl TextEncoding {
    /// The name shown to the model.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf8Bom => "UTF-8 with a byte order mark",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
            Self::Windows1252 => "Windows-1252",
        }
    }

    /// How this encoding was recognised, for read_text_file's note.
    pub fn evidence(self) -> &'static str {
        match self {
            Self::Utf8 | Self::Utf8Bom => "valid UTF-8",
            Self::Utf16Le | Self::Utf16Be => "its byte order mark",
            Self::Windows1252 => "not UTF-8, and single-byte text rather than binary data",
        }
    }

    /// `text` in this encoding, with the byte order mark the encoding has;
    /// `Err` names the first character Windows-1252 cannot hold.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, Unmappable> {
        Ok(match self {
            Self::Utf8 => text.as_bytes().to_vec(),
            Self::Utf8Bom => [UTF8_BOM, text.as_bytes()].concat(),
            Self::Utf16Le => utf16(text, UTF16LE_BOM, u16::to_le_bytes),
            Self::Utf16Be => utf16(text, UTF16BE_BOM, u16::to_be_bytes),
            Self::Windows1252 => windows_1252(text)?,
        })
    }
}

fn utf16(text: &str, bom: &[u8], bytes: fn(u16) -> [u8; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bom.len() + text.len() * 2);
    out.extend_from_slice(bom);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&bytes(unit));
    }
    out
}

/// A character the file's encoding cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmappable {
    pub character: char,
    /// 1-based line of the text it is on.
    pub line: usize,
    /// How many characters of the text cannot be encoded, this one included.
    pub count: usize,
}

impl Unmappable {
    /// "U+2192 ('→') on line 3": the character, shown safely.
    pub fn describe(&self) -> String {
        let c = self.character;
        let shown = if c.is_control() {
            String::new()
        } else {
            format!(" ('{c}')")
        };
        let more = match self.count {
            0 | 1 => String::new(),
            n => format!(", and {} more", n - 1),
        };
        format!("U+{:04X}{shown} on line {}{more}", u32::from(c), self.line)
    }
}

fn windows_1252(text: &str) -> Result<Vec<u8>, Unmappable> {
    let mut encoder = WINDOWS_1252.new_encoder();
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    let mut first: Option<(char, usize)> = None;
    let mut count = 0;
    loop {
        // Single-byte: never more bytes than UTF-8 had.
        out.reserve(rest.len() + 16);
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(rest, &mut out, true);
        let done = text.len() - rest.len() + read;
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => break,
            EncoderResult::OutputFull => continue,
            EncoderResult::Unmappable(c) => {
                count += 1;
                first.get_or_insert((c, done - c.len_utf8()));
            }
        }
    }
    match first {
        None => Ok(out),
        Some((character, at)) => Err(Unmappable {
            character,
            line: text[..at].bytes().filter(|&b| b == b'\n').count() + 1,
            count,
        }),
    }
}

/// Why bytes are not text this module can decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotText {
    /// Offset of the first byte that is not valid UTF-8.
    pub invalid_at: usize,
    /// What the bytes look like instead.
    pub looks_like: &'static str,
}

impl NotText {
    /// "is not valid UTF-8 (...) and ..." for an error about `path`.
    pub fn describe(&self) -> String {
        format!(
            "is not valid UTF-8 (invalid byte sequence at byte offset {}) and {}",
            self.invalid_at, self.looks_like
        )
    }
}

/// Which encoding `bytes` are in: UTF-8 if they are valid UTF-8 (with or
/// without a byte order mark); UTF-16 if they start with its byte order mark;
/// Windows-1252 if they look like single-byte text: no NUL bytes, hardly any
/// control characters, and not mostly UTF-8.
pub fn detect(bytes: &[u8]) -> Result<TextEncoding, NotText> {
    let invalid_at = match std::str::from_utf8(bytes) {
        Ok(_) if bytes.starts_with(UTF8_BOM) => return Ok(TextEncoding::Utf8Bom),
        Ok(_) => return Ok(TextEncoding::Utf8),
        Err(err) => err.valid_up_to(),
    };
    // FF FE 00 00 starts UTF-32LE, which is not supported.
    if bytes.starts_with(UTF16LE_BOM) && !bytes.starts_with(b"\xFF\xFE\0\0") {
        return Ok(TextEncoding::Utf16Le);
    }
    if bytes.starts_with(UTF16BE_BOM) {
        return Ok(TextEncoding::Utf16Be);
    }
    let not_text = |looks_like| NotText {
        invalid_at,
        looks_like,
    };
    if bytes.contains(&0) {
        return Err(not_text(
            "holds NUL bytes without a UTF-16 byte order mark: binary data?",
        ));
    }
    // Control characters besides tab, line breaks, form feed, escape and
    // DOS's end-of-file mark; and the five bytes Windows-1252 leaves
    // undefined (decoded to C1 controls).
    let controls = bytes
        .iter()
        .filter(|&&b| {
            matches!(b, 0x01..=0x08 | 0x0E..=0x19 | 0x1C..=0x1F | 0x7F)
                || matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D)
        })
        .count();
    if controls * 100 > bytes.len() {
        return Err(not_text(
            "holds many control bytes: binary data, or an encoding other than UTF-16 or Windows-1252?",
        ));
    }
    // UTF-8 with a few bad bytes is not Windows-1252: decoding it so would
    // turn every one of its non-ASCII characters into two or three.
    let (mut utf8_chars, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        utf8_chars += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += usize::from(!chunk.invalid().is_empty());
    }
    if utf8_chars > invalid {
        return Err(not_text(
            "is mostly UTF-8 with some invalid bytes: damaged, or a mix of encodings?",
        ));
    }
    Ok(TextEncoding::Windows1252)
}

/// `bytes` (in `encoding`, as [`detect`] said) as text without its byte
/// order mark, and whether anything was malformed (then replaced by U+FFFD:
/// only UTF-16 can be).
pub fn decode(bytes: &[u8], encoding: TextEncoding) -> (Cow<'_, str>, bool) {
    match encoding {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => {
            let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
            match std::str::from_utf8(body) {
                Ok(text) => (Cow::Borrowed(text), false),
                Err(_) => (String::from_utf8_lossy(body), true),
            }
        }
        TextEncoding::Utf16Le => UTF_16LE.decode_without_bom_handling(&bytes[2..]),
        TextEncoding::Utf16Be => UTF_16BE.decode_without_bom_handling(&bytes[2..]),
        TextEncoding::Windows1252 => WINDOWS_1252.decode_without_bom_handling(bytes),
    }
}

/// Like [`decode`], but `None` if anything is malformed (an odd number of
/// UTF-16 bytes, an unpaired surrogate): nothing is replaced.
pub fn decode_exact(bytes: &[u8], encoding: TextEncoding) -> Option<Cow<'_, str>> {
    match decode(bytes, encoding) {
        (text, false) => Some(text),
        (_, true) => None,
    }
}

/// A text with its `\r\n` line breaks set aside: edits work on `text`,
/// which has only `\n`, and [`restore`](Self::restore) puts every `\r\n`
/// back where it was. A `\r` not followed by `\n` is an ordinary character.
///
/// A replacement keeps the line breaks it replaces, in order; any it adds
/// take the last replaced one's kind (or, where it replaces none, the kind
/// of the break ending its line). So a CRLF file stays CRLF, an LF one LF,
/// and in a mixed file every line not edited keeps its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBreaks {
    text: String,
    /// Per `\n` of `text`: whether it was `\r\n`.
    crlf: Vec<bool>,
}

impl LineBreaks {
    pub fn new(original: &str) -> Self {
        if !original.contains("\r\n") {
            let crlf = vec![false; original.bytes().filter(|&b| b == b'\n').count()];
            return Self {
                text: original.to_owned(),
                crlf,
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut crlf = Vec::new();
        for piece in original.split_inclusive('\n') {
            match piece.strip_suffix("\r\n") {
                Some(body) => {
                    text.push_str(body);
                    text.push('\n');
                    crlf.push(true);
                }
                None => {
                    text.push_str(piece);
                    if piece.ends_with('\n') {
                        crlf.push(false);
                    }
                }
            }
        }
        Self { text, crlf }
    }

    /// The text with `\n` line breaks only.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// (`\r\n` breaks, `\n` breaks).
    pub fn counts(&self) -> (usize, usize) {
        let crlf = self.crlf.iter().filter(|&&c| c).count();
        (crlf, self.crlf.len() - crlf)
    }

    /// Replaces `range` of [`text`](Self::text) with `new` (whose line
    /// breaks are `\n`).
    pub fn replace(&mut self, range: Range<usize>, new: &str) {
        let newlines = |s: &str| s.bytes().filter(|&b| b == b'\n').count();
        let first = newlines(&self.text[..range.start]);
        let replaced = newlines(&self.text[range.clone()]);
        let added = newlines(new);
        let old = &self.crlf[first..first + replaced];
        let fill = old
            .last()
            .or_else(|| self.crlf.get(first))
            .or_else(|| first.checked_sub(1).and_then(|i| self.crlf.get(i)))
            .copied()
            .unwrap_or(false);
        let kept = replaced.min(added);
        let breaks: Vec<bool> = old[..kept]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(fill, added - kept))
            .collect();
        self.crlf.splice(first..first + replaced, breaks);
        self.text.replace_range(range, new);
    }

    /// The text with each line break as it was (`\r\n` or `\n`).
    pub fn restore(&self) -> Cow<'_, str> {
        if !self.crlf.contains(&true) {
            return Cow::Borrowed(&self.text);
        }
        let mut out = String::with_capacity(self.text.len() + self.crlf.len());
        let mut breaks = self.crlf.iter();
        for piece in self.text.split_inclusive('\n') {
            match piece.strip_suffix('\n') {
                Some(body) => {
                    out.push_str(body);
                    out.push_str(if breaks.next() == Some(&true) {
                        "\r\n"
                    } else {
                        "\n"
                    });
                }
                None => out.push_str(piece),
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_utf8_boms_and_single_byte_text() {
        assert_eq!(detect(b"plain"), Ok(TextEncoding::Utf8));
        assert_eq!(detect(b""), Ok(TextEncoding::Utf8));
        assert_eq!(detect("caf\u{e9}".as_bytes()), Ok(TextEncoding::Utf8));
        assert_eq!(detect(b"\xEF\xBB\xBFx"), Ok(TextEncoding::Utf8Bom));
        assert_eq!(detect(b"\xFF\xFEa\0"), Ok(TextEncoding::Utf16Le));
        assert_eq!(detect(b"\xFE\xFF\0a"), Ok(TextEncoding::Utf16Be));
        assert_eq!(
            detect(b"caf\xE9 cr\xE8me \x93quoted\x94"),
            Ok(TextEncoding::Windows1252)
        );
        // UTF-32LE, binary, and UTF-8 with one stray byte are none of them.
        assert!(detect(b"\xFF\xFE\0\0a\0\0\0").is_err());
        let binary = detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap_err();
        assert_eq!(binary.invalid_at, 0);
        assert!(binary.looks_like.contains("NUL"), "{binary:?}");
        let controls = detect(b"\x80\x01\x02\x03 abc").unwrap_err();
        assert!(controls.looks_like.contains("control"), "{controls:?}");
        let mostly = detect(&["na\u{ef}ve caf\u{e9} ".as_bytes(), b"\xE9"].concat()).unwrap_err();
        assert!(mostly.looks_like.contains("mostly UTF-8"), "{mostly:?}");
        assert!(
            mostly.describe().contains("offset 13"),
            "{}",
            mostly.describe()
        );
    }

    #[test]
    fn decodes_and_encodes_back_byte_for_byte() {
        let text = "a\u{e9}\r\n\u{1F600}b";
        for encoding in [
            TextEncoding::Utf8,
            TextEncoding::Utf8Bom,
            TextEncoding::Utf16Le,
            TextEncoding::Utf16Be,
        ] {
            let bytes = encoding.encode(text).unwrap();
            assert_eq!(detect(&bytes), Ok(encoding), "{encoding:?}");
            assert_eq!(decode_exact(&bytes, encoding).unwrap(), text);
        }
        assert_eq!(
            TextEncoding::Utf16Le.encode("a\u{1F600}").unwrap(),
            b"\xFF\xFEa\0\x3D\xD8\x00\xDE"
        );
        assert_eq!(TextEncoding::Utf16Be.encode("a").unwrap(), b"\xFE\xFF\0a");
        // Every byte of Windows-1252 decodes, and encodes back to itself
        // (its five undefined bytes as C1 controls).
        let all: Vec<u8> = (0..=255).collect();
        let (decoded, errors) = decode(&all, TextEncoding::Windows1252);
        assert!(!errors);
        assert_eq!(decoded.chars().nth(0x80), Some('\u{20AC}'));
        assert_eq!(decoded.chars().nth(0x81), Some('\u{81}'));
        assert_eq!(TextEncoding::Windows1252.encode(&decoded).unwrap(), all);
    }

    #[test]
    fn malformed_utf16_is_replaced_when_read_and_refused_when_exact() {
        let odd = b"\xFF\xFEa\0b";
        assert_eq!(detect(odd), Ok(TextEncoding::Utf16Le));
        let (text, errors) = decode(odd, TextEncoding::Utf16Le);
        assert!(errors);
        assert_eq!(text, "a\u{FFFD}");
        assert!(decode_exact(odd, TextEncoding::Utf16Le).is_none());
        let lone_surrogate = b"\xFE\xFF\xD8\x00\0a";
        assert!(decode_exact(lone_surrogate, TextEncoding::Utf16Be).is_none());
    }

    #[test]
    fn windows_1252_refuses_what_it_cannot_hold() {
        assert_eq!(
            TextEncoding::Windows1252
                .encode("\u{20AC}5 caf\u{e9}")
                .unwrap(),
            b"\x805 caf\xE9"
        );
        let err = TextEncoding::Windows1252
            .encode("ok\nan \u{2192} arrow \u{4E2D}")
            .unwrap_err();
        assert_eq!(
            err,
            Unmappable {
                character: '\u{2192}',
                line: 2,
                count: 2
            }
        );
        assert_eq!(err.describe(), "U+2192 ('\u{2192}') on line 2, and 1 more");
    }

    #[test]
    fn line_breaks_round_trip_exactly() {
        for original in [
            "",
            "a",
            "a\n",
            "a\r\nb\r\n",
            "a\r\nb\nc\r\n\r\nd",
            "lone\rcr\r\r\n\r",
            "\r\n",
        ] {
            let breaks = LineBreaks::new(original);
            assert_eq!(breaks.restore(), original);
        }
        assert_eq!(LineBreaks::new("a\r\nb\nc\r\n").counts(), (2, 1));
    }

    #[test]
    fn replacements_keep_and_extend_line_breaks() {
        // CRLF file: whatever is replaced or added is CRLF.
        let mut b = LineBreaks::new("one\r\ntwo\r\nthree\r\n");
        b.replace(4..7, "2\n2.5");
        assert_eq!(b.restore(), "one\r\n2\r\n2.5\r\nthree\r\n");
        b.replace(0..b.text().len(), "x");
        assert_eq!(b.restore(), "x");
        // Last line without a break: added breaks take the previous one's.
        let mut b = LineBreaks::new("a\r\nb");
        b.replace(2..3, "b\nc");
        assert_eq!(b.restore(), "a\r\nb\r\nc");
        // Mixed: lines keep their own; added ones take the last replaced
        // (the \n after b), the break after c is not replaced.
        let mut b = LineBreaks::new("a\r\nb\nc\r\nd\n");
        b.replace(2..5, "B\nC\nC2");
        assert_eq!(b.restore(), "a\r\nB\nC\nC2\r\nd\n");
        b.replace(0..b.text().len(), "z\n");
        assert_eq!(b.restore(), "z\r\n");
        // Fewer breaks: the first ones are kept.
        let mut b = LineBreaks::new("a\nb\r\nc\r\n");
        b.replace(0..4, "ab\n");
        assert_eq!(b.restore(), "ab\nc\r\n");
        // No breaks at all: added ones are \n.
        let mut b = LineBreaks::new("a");
        b.replace(0..1, "a\nb");
        assert_eq!(b.restore(), "a\nb");
    }
}
