//! What every tool shares: the `text` | `path` input, the input size limit,
//! paging of long results, and structured results with an output schema.

use std::path::PathBuf;
use std::sync::Arc;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::fsutil::{open_regular_file, read_to_string_limited, read_up_to, size_hint};
use mcp_servers_core::sandbox::SandboxError;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::TextServer;

/// Default page size of a text result, in characters.
pub const DEFAULT_MAX_LENGTH: usize = 20_000;
/// Default page size of a list result (matches, chunks, items), in entries.
pub const DEFAULT_LIMIT: usize = 100;
/// Results (before paging) may be this many times the input limit
/// (`--max-input-bytes`): room for the transforms that grow text (CRLF line
/// endings, tabs to spaces, pretty-printing), not for blowups. Work that
/// would make more is refused before it allocates.
pub const OUTPUT_FACTOR: u64 = 4;

/// Largest structured result also sent as JSON text (for clients that only
/// read the text content); larger ones are sent once, in structuredContent.
pub const TEXT_COPY_LIMIT: usize = 64 * 1024;

/// The largest integer JSON numbers hold exactly (2^53 - 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`): the bound of parameters that only select
/// (positions, offsets, counts), where no value costs more than another.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Most entries one page of a list result may hold (`limit`): each entry
/// is built and serialized, so the page size is work.
pub const MAX_LIMIT: u64 = 10_000;

/// An integer parameter with its bounds in its type: the JSON schema says
/// `minimum: MIN, maximum: MAX`, and [`check`](Self::check) refuses
/// anything else (a negative number, a fraction, a string, a number past
/// the bounds) with an error naming the parameter and the range, before
/// any work. Any JSON value deserializes, so that the error is this one and
/// not serde's (which names neither).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int<const MIN: u64, const MAX: u64>(Raw);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Raw {
    Int(i128),
    Float(f64),
    /// Not a number: what it was, for the error.
    Other(&'static str),
}

impl<const MIN: u64, const MAX: u64> Int<MIN, MAX> {
    pub const fn new(value: u64) -> Self {
        Self(Raw::Int(value as i128))
    }

    /// The value, or an error naming `name` and the range.
    pub fn check(&self, name: &str) -> ToolResult<usize> {
        let value = match self.0 {
            Raw::Int(v) => Some(v),
            // Whole numbers written as floats (1e3, 4.0) count.
            Raw::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 => Some(f as i128),
            _ => None,
        };
        match value {
            Some(v) if (i128::from(MIN)..=i128::from(MAX)).contains(&v) => {
                Ok(usize::try_from(v).unwrap_or(usize::MAX))
            }
            _ => Err(ToolError::new(format!(
                "`{name}` must be an integer from {MIN} to {MAX}; got {}",
                self.describe()
            ))),
        }
    }

    /// The value clamped into its bounds (what code past the check uses:
    /// even an unchecked value cannot ask for more than `MAX`).
    pub fn get(&self) -> usize {
        let v = match self.0 {
            Raw::Int(v) => v.clamp(i128::from(MIN), i128::from(MAX)),
            Raw::Float(f) if !f.is_nan() => (f.clamp(MIN as f64, MAX as f64)) as i128,
            _ => i128::from(MIN),
        };
        usize::try_from(v).unwrap_or(usize::MAX)
    }

    fn describe(&self) -> String {
        match self.0 {
            Raw::Int(v) => v.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Other(what) => what.to_owned(),
        }
    }
}

/// [`Int::check`] for an optional parameter.
pub fn check_opt<const MIN: u64, const MAX: u64>(
    value: &Option<Int<MIN, MAX>>,
    name: &str,
) -> ToolResult<Option<usize>> {
    value.as_ref().map(|v| v.check(name)).transpose()
}

impl<const MIN: u64, const MAX: u64> Default for Int<MIN, MAX> {
    fn default() -> Self {
        Self::new(MIN)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct AnyValue;
        impl<'de> Visitor<'de> for AnyValue {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
                Ok(Raw::Int(i128::try_from(v).unwrap_or(i128::MAX)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
                Ok(Raw::Other("a boolean"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Raw, E> {
                Ok(Raw::Other("a string"))
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Other("null"))
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Raw::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Raw::Other("an object"))
            }
        }
        deserializer.deserialize_any(AnyValue).map(Self)
    }
}

impl<const MIN: u64, const MAX: u64> JsonSchema for Int<MIN, MAX> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Int_{MIN}_{MAX}").into()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        format!("mcp_text::Int<{MIN}, {MAX}>").into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": MIN, "maximum": MAX})
    }
}

/// The input of a tool: inline text, or a file inside the allowed directories.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The text to work on. Give this or `path`, not both.
    #[serde(default)]
    pub text: Option<String>,
    /// A UTF-8 file inside the allowed directories to read instead of `text`
    /// (absolute, or relative to the first allowed directory).
    #[serde(default)]
    pub path: Option<String>,
}

/// Loaded input: the text, and the real path it came from, if any.
#[derive(Debug)]
pub struct Loaded {
    pub text: String,
    pub path: Option<PathBuf>,
}

impl TextServer {
    /// The most bytes one result may hold before paging: [`OUTPUT_FACTOR`]
    /// times the input limit (128 MiB by default).
    pub fn output_cap(&self) -> usize {
        output_cap(self.config.max_input_bytes)
    }

    /// A user path through the sandbox, for reading.
    pub fn resolve(&self, user_path: &str) -> ToolResult<PathBuf> {
        self.sandbox
            .resolve_existing(user_path)
            .map_err(|e| match e {
                SandboxError::NoRoots => ToolError::new(
                    "no allowed directories are set, so `path` cannot be read: start the server \
                 with directories (mcp-text /path/to/dir), use a client that provides MCP roots, \
                 or pass the content inline",
                ),
                e => e.into(),
            })
    }

    /// Loads `text` or `path` (exactly one), enforcing the input size limit.
    pub async fn load(&self, input: Input) -> ToolResult<Loaded> {
        self.load_named(input.text, input.path, "text", "path")
            .await
    }

    /// Like [`load`](Self::load), with the argument names used in messages
    /// (`a`/`path_a` for diff).
    pub async fn load_named(
        &self,
        text: Option<String>,
        path: Option<String>,
        text_name: &str,
        path_name: &str,
    ) -> ToolResult<Loaded> {
        let limit = self.config.max_input_bytes;
        match (text, path) {
            (Some(_), Some(_)) => Err(ToolError::new(format!(
                "give either `{text_name}` or `{path_name}`, not both"
            ))),
            (None, None) => Err(ToolError::new(format!(
                "missing input: give `{text_name}` (the text itself) or `{path_name}` (a file inside the allowed directories)"
            ))),
            (Some(text), None) => {
                check_size(text.len() as u64, limit, &format!("`{text_name}`"))?;
                Ok(Loaded { text, path: None })
            }
            (None, Some(user_path)) => {
                let path = self.resolve(&user_path)?;
                let read_path = path.clone();
                let text = blocking_unless_small(size_hint(&path), move || {
                    let size = open_regular_file(&read_path)
                        .and_then(|f| f.metadata())
                        .map_err(|e| ToolError::io(&e, &read_path))?
                        .len();
                    check_size(size, limit, &read_path.display().to_string())?;
                    read_to_string_limited(&read_path, limit).map_err(|e| match e.kind() {
                        std::io::ErrorKind::FileTooLarge => ToolError::new(format!(
                            "{} grew past the input limit of {limit} bytes while being read",
                            read_path.display()
                        )),
                        std::io::ErrorKind::InvalidData => ToolError::new(e.to_string()),
                        _ => ToolError::io(&e, &read_path),
                    })
                })
                .await?;
                Ok(Loaded {
                    text,
                    path: Some(path),
                })
            }
        }
    }

    /// Loads `text` or the raw bytes of `path` (hash and encode work on
    /// binary files too).
    pub async fn load_bytes(&self, input: Input) -> ToolResult<Vec<u8>> {
        let limit = self.config.max_input_bytes;
        match (input.text, input.path) {
            (Some(_), Some(_)) => Err(ToolError::new("give either `text` or `path`, not both")),
            (None, None) => Err(ToolError::new(
                "missing input: give `text` (the text itself) or `path` (a file inside the allowed directories)",
            )),
            (Some(text), None) => {
                check_size(text.len() as u64, limit, "`text`")?;
                Ok(text.into_bytes())
            }
            (None, Some(user_path)) => {
                let path = self.resolve(&user_path)?;
                blocking_unless_small(size_hint(&path), move || {
                    let file = open_regular_file(&path).map_err(|e| ToolError::io(&e, &path))?;
                    let size = file.metadata().map_err(|e| ToolError::io(&e, &path))?.len();
                    check_size(size, limit, &path.display().to_string())?;
                    let data =
                        read_up_to(file, size, limit).map_err(|e| ToolError::io(&e, &path))?;
                    check_size(data.len() as u64, limit, &path.display().to_string())?;
                    Ok(data)
                })
                .await
            }
        }
    }
}

/// [`OUTPUT_FACTOR`] times `max_input_bytes`, as a `usize`.
pub fn output_cap(max_input_bytes: u64) -> usize {
    usize::try_from(max_input_bytes.saturating_mul(OUTPUT_FACTOR)).unwrap_or(usize::MAX)
}

fn check_size(size: u64, limit: u64, what: &str) -> ToolResult<()> {
    if size > limit {
        return Err(ToolError::new(format!(
            "input too large: {what} is {size} bytes, over the input limit of {limit} bytes; \
             pass a smaller piece, or start the server with a larger --max-input-bytes"
        )));
    }
    Ok(())
}

/// Paging of a long text result, in characters.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TextPaging {
    /// Character index to start the returned text at (for the next page of a
    /// truncated result). Default 0.
    #[serde(default)]
    pub start_index: Int<0, MAX_SAFE_INTEGER>,
    /// Most characters of text to return. Default 20000.
    #[serde(default)]
    pub max_length: Option<Int<1, MAX_SAFE_INTEGER>>,
}

/// One page of a text result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TextPage {
    /// The text (this page of it).
    pub text: String,
    /// Character index of the first returned character.
    pub start_index: usize,
    /// Length of the whole result in characters.
    pub total_chars: usize,
    /// Whether characters after this page were left out.
    pub truncated: bool,
    /// Where the next page starts, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start_index: Option<usize>,
    /// How to get the rest, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TextPaging {
    pub fn new(start_index: usize, max_length: Option<usize>) -> Self {
        Self {
            start_index: Int::new(start_index as u64),
            max_length: max_length.map(|n| Int::new(n as u64)),
        }
    }

    /// Fails on a bound broken, naming the parameter.
    pub fn check(&self) -> ToolResult<()> {
        self.start_index.check("start_index")?;
        check_opt(&self.max_length, "max_length")?;
        Ok(())
    }

    pub fn page(&self, text: &str) -> TextPage {
        page_text(
            text,
            self.start_index.get(),
            self.max_length.as_ref().map(Int::get),
        )
    }
}

/// Cuts `text` to the characters `start..start + max_length`.
pub fn page_text(text: &str, start: usize, max_length: Option<usize>) -> TextPage {
    let max = max_length.unwrap_or(DEFAULT_MAX_LENGTH).max(1);
    let total = text.chars().count();
    let start = start.min(total);
    let mut indices = text.char_indices().map(|(i, _)| i).chain([text.len()]);
    let from = indices.nth(start).unwrap_or(text.len());
    let end_char = start.saturating_add(max).min(total);
    let to = if end_char == total {
        text.len()
    } else {
        text[from..]
            .char_indices()
            .nth(end_char - start)
            .map_or(text.len(), |(i, _)| from + i)
    };
    let truncated = end_char < total;
    TextPage {
        text: text[from..to].to_owned(),
        start_index: start,
        total_chars: total,
        truncated,
        next_start_index: truncated.then_some(end_char),
        note: truncated.then(|| {
            format!(
                "[truncated: showed characters {start}..{end_char} of {total}; \
                 call again with start_index={end_char} for more]"
            )
        }),
    }
}

/// Paging of a list result.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ListPaging {
    /// Number of entries to skip (for the next page). Default 0.
    #[serde(default)]
    pub offset: Int<0, MAX_SAFE_INTEGER>,
    /// Most entries to return, up to 10000. Default 100.
    #[serde(default)]
    pub limit: Option<Int<1, MAX_LIMIT>>,
}

/// Where a page of a list sits in the whole.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PageInfo {
    /// Entries in the whole result.
    pub total: usize,
    /// Index of the first returned entry.
    pub offset: usize,
    /// Entries returned.
    pub returned: usize,
    /// Whether entries after this page were left out.
    pub truncated: bool,
    /// Offset of the next page, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
    /// How to get the rest, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ListPaging {
    pub fn new(offset: usize, limit: Option<usize>) -> Self {
        Self {
            offset: Int::new(offset as u64),
            limit: limit.map(|n| Int::new(n as u64)),
        }
    }

    /// Fails on a bound broken, naming the parameter.
    pub fn check(&self) -> ToolResult<()> {
        self.offset.check("offset")?;
        check_opt(&self.limit, "limit")?;
        Ok(())
    }

    pub fn offset(&self) -> usize {
        self.offset.get()
    }

    pub fn limit(&self) -> usize {
        self.limit.as_ref().map_or(DEFAULT_LIMIT, Int::get)
    }

    /// Whether the entry at `index` (counting all entries) is on this page.
    pub fn wants(&self, index: usize) -> bool {
        let offset = self.offset();
        index >= offset && index - offset < self.limit()
    }

    pub fn info(&self, total: usize) -> PageInfo {
        let offset = self.offset().min(total);
        let end = offset.saturating_add(self.limit()).min(total);
        let truncated = end < total;
        PageInfo {
            total,
            offset,
            returned: end - offset,
            truncated,
            next_offset: truncated.then_some(end),
            note: truncated.then(|| {
                format!(
                    "[truncated: showed entries {offset}..{end} of {total}; \
                     call again with offset={end} for more]"
                )
            }),
        }
    }

    /// The page of `items`.
    pub fn apply<T>(&self, items: Vec<T>) -> (Vec<T>, PageInfo) {
        let info = self.info(items.len());
        let page = items
            .into_iter()
            .skip(info.offset)
            .take(info.returned)
            .collect();
        (page, info)
    }
}

/// The output schema of a tool returning `T`.
pub fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_output::<T>()
}

/// A structured result: `value` in structuredContent, and the same JSON as
/// text when it is small (clients that only read text still get it); a large
/// one is not sent twice.
pub fn data<T: Serialize>(value: &T) -> ToolResult<CallToolResult> {
    let value = serde_json::to_value(value)
        .map_err(|e| ToolError::new(format!("internal error: cannot serialize result: {e}")))?;
    let json = value.to_string();
    let text = if json.len() <= TEXT_COPY_LIMIT {
        json
    } else {
        format!(
            "The result is {} bytes of JSON, sent once in structuredContent; \
             ask for a smaller page (max_length or limit) to also get it as text.",
            json.len()
        )
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    Ok(result)
}

/// 1-based lines and columns (in characters) of byte offsets, counting line
/// feeds only between one offset asked and the next: a page of matches near
/// the start of a huge text never scans the rest, and offsets asked in
/// order cost one pass in all.
pub struct LineCursor<'t> {
    text: &'t str,
    /// The last offset asked, its line, and where that line starts.
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'t> LineCursor<'t> {
    pub fn new(text: &'t str) -> Self {
        LineCursor {
            text,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// Line and column of byte `offset` (a char boundary).
    pub fn line_col(&mut self, offset: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        if offset >= self.offset {
            let passed = &bytes[self.offset..offset];
            if let Some(last) = memchr::memrchr(b'\n', passed) {
                self.line += memchr::memchr_iter(b'\n', passed).count();
                self.line_start = self.offset + last + 1;
            }
        } else {
            self.line -= memchr::memchr_iter(b'\n', &bytes[offset..self.offset]).count();
            self.line_start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |i| i + 1);
        }
        self.offset = offset;
        let column = self.text[self.line_start..offset].chars().count() + 1;
        (self.line, column)
    }
}

/// Lines of `text` near a byte range, without their line endings (`\n` or
/// `\r\n`), as splitting `text` at every `\n` would give them.
pub struct Lines<'t> {
    text: &'t str,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Self {
        Lines { text }
    }

    /// Byte offset where the line holding `offset` starts.
    pub fn start_of(&self, offset: usize) -> usize {
        memchr::memrchr(b'\n', &self.text.as_bytes()[..offset]).map_or(0, |i| i + 1)
    }

    /// Byte offset where the line holding `offset` ends (its `\n`, or the
    /// end of the text).
    pub fn end_of(&self, offset: usize) -> usize {
        memchr::memchr(b'\n', &self.text.as_bytes()[offset..])
            .map_or(self.text.len(), |i| offset + i)
    }

    /// The lines in `start..end` (a line start to a line end).
    pub fn within(&self, start: usize, end: usize) -> impl Iterator<Item = &'t str> {
        self.text[start..end].split('\n').map(strip_cr)
    }

    /// Up to `n` lines before the line starting at `start`, in order.
    pub fn before(&self, start: usize, n: usize) -> Vec<&'t str> {
        let mut lines = Vec::new();
        let mut at = start;
        while lines.len() < n && at > 0 {
            let line_start = self.start_of(at - 1);
            lines.push(strip_cr(&self.text[line_start..at - 1]));
            at = line_start;
        }
        lines.reverse();
        lines
    }

    /// Up to `n` lines after the line ending at `end`.
    pub fn after(&self, end: usize, n: usize) -> Vec<&'t str> {
        let mut lines = Vec::new();
        let mut at = end;
        while lines.len() < n && at < self.text.len() {
            let line_end = self.end_of(at + 1);
            lines.push(strip_cr(&self.text[at + 1..line_end]));
            at = line_end;
        }
        lines
    }
}

fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int<const MIN: u64, const MAX: u64>(json: serde_json::Value) -> Int<MIN, MAX> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn bounded_integers_name_the_parameter_and_range() {
        use serde_json::json;
        assert_eq!(int::<0, 16>(json!(4)).check("indent").unwrap(), 4);
        assert_eq!(int::<0, 16>(json!(0)).check("indent").unwrap(), 0);
        assert_eq!(int::<0, 16>(json!(16)).check("indent").unwrap(), 16);
        // Whole numbers written as floats count.
        assert_eq!(int::<0, 16>(json!(8.0)).check("indent").unwrap(), 8);
        for (value, got) in [
            (json!(17), "got 17"),
            (json!(1_000_000_000_000_000u64), "got 1000000000000000"),
            (json!(1e9), "got 1000000000"),
            (json!(-1), "got -1"),
            (json!(2.5), "got 2.5"),
            (json!(u64::MAX), "got 18446744073709551615"),
            (json!(1e300), "got 1"),
            (json!("4"), "got a string"),
            (json!(true), "got a boolean"),
            (json!([1]), "got an array"),
            (json!({"a": 1}), "got an object"),
        ] {
            let err = int::<0, 16>(value.clone())
                .check("indent")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("`indent` must be an integer from 0 to 16; ") && err.contains(got),
                "{value}: {err}"
            );
        }
        // Past the check, values are clamped into range.
        assert_eq!(int::<1, 64>(json!(1_000_000_000_000_000u64)).get(), 64);
        assert_eq!(int::<1, 64>(json!(-5)).get(), 1);
        assert_eq!(int::<1, 64>(json!("x")).get(), 1);
        assert_eq!(int::<1, 64>(json!(1e300)).get(), 64);
        // Inside a parameter struct (flattened, optional, defaulted).
        let paging: TextPaging =
            serde_json::from_value(json!({"start_index": -3, "max_length": null})).unwrap();
        let err = paging.check().unwrap_err().to_string();
        assert!(
            err.contains("`start_index` must be an integer from 0 to 9007199254740991"),
            "{err}"
        );
        let paging: ListPaging = serde_json::from_value(json!({"limit": 0})).unwrap();
        let err = paging.check().unwrap_err().to_string();
        assert!(
            err.contains("`limit` must be an integer from 1 to 10000; got 0"),
            "{err}"
        );
        let paging: ListPaging = serde_json::from_value(json!({})).unwrap();
        assert!(paging.check().is_ok());
        assert_eq!((paging.offset(), paging.limit()), (0, DEFAULT_LIMIT));
    }

    #[test]
    fn bounded_integers_have_their_bounds_in_the_schema() {
        let schema = serde_json::to_value(schemars::schema_for!(ListPaging)).unwrap();
        let limit = &schema["properties"]["limit"];
        assert_eq!(limit["minimum"], 1, "{schema}");
        assert_eq!(limit["maximum"], MAX_LIMIT, "{schema}");
        assert_eq!(schema["properties"]["offset"]["maximum"], MAX_SAFE_INTEGER);
    }

    #[test]
    fn the_output_cap_is_four_inputs() {
        assert_eq!(output_cap(32 << 20), 128 << 20);
        assert_eq!(output_cap(u64::MAX), usize::MAX);
    }

    #[test]
    fn pages_cut_on_characters_and_say_how_to_continue() {
        let p = page_text("héllo wörld", 0, Some(5));
        assert_eq!(p.text, "héllo");
        assert!(p.truncated);
        assert_eq!(p.next_start_index, Some(5));
        assert!(p.note.unwrap().contains("start_index=5"));
        let rest = page_text("héllo wörld", 5, Some(100));
        assert_eq!(rest.text, " wörld");
        assert!(!rest.truncated);
        assert_eq!(page_text("abc", 10, None).text, "");
    }

    #[test]
    fn list_paging() {
        let paging = ListPaging::new(1, Some(2));
        let (page, info) = paging.apply(vec![1, 2, 3, 4]);
        assert_eq!(page, [2, 3]);
        assert_eq!(info.next_offset, Some(3));
        assert!(paging.wants(2) && !paging.wants(3) && !paging.wants(0));
    }

    #[test]
    fn lines_and_columns_are_one_based_chars() {
        let text = "ab\nçd\n";
        let mut cursor = LineCursor::new(text);
        assert_eq!(cursor.line_col(0), (1, 1));
        assert_eq!(cursor.line_col(3), (2, 1));
        assert_eq!(cursor.line_col(5), (2, 2));
        assert_eq!(cursor.line_col(6), (2, 3));
        assert_eq!(cursor.line_col(7), (3, 1));
        assert_eq!(cursor.line_col(1), (1, 2), "backwards");
        assert_eq!(cursor.line_col(3), (2, 1));
    }

    /// Lines and columns, and the lines around a range, as a split of the
    /// whole text at every line feed gives them, for every offset of texts
    /// with empty lines, CRLF and non-ASCII.
    #[test]
    fn line_cursor_and_lines_agree_with_splitting_the_text() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "\n\nb",
            "ab\r\nçd\n\nxyz\r\n",
            "é\n\r\n€x",
        ] {
            let split: Vec<&str> = text.split('\n').map(strip_cr).collect();
            let starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect();
            let lines = Lines::new(text);
            let mut cursor = LineCursor::new(text);
            let offsets: Vec<usize> = (0..=text.len())
                .filter(|&o| text.is_char_boundary(o))
                .collect();
            // Forwards, then backwards, then jumping about.
            let jumps = offsets
                .iter()
                .map(|&o| offsets[(o * 7 + 3) % offsets.len()]);
            for offset in offsets
                .iter()
                .copied()
                .chain(offsets.iter().rev().copied())
                .chain(jumps)
            {
                let line = starts.partition_point(|&s| s <= offset);
                let column = text[starts[line - 1]..offset].chars().count() + 1;
                assert_eq!(
                    cursor.line_col(offset),
                    (line, column),
                    "{text:?} at {offset}"
                );
                let (start, end) = (lines.start_of(offset), lines.end_of(offset));
                assert_eq!(start, starts[line - 1]);
                assert_eq!(
                    lines.within(start, end).collect::<Vec<_>>(),
                    [split[line - 1]]
                );
                for n in 0..4 {
                    let from = line.saturating_sub(1 + n);
                    assert_eq!(
                        lines.before(start, n),
                        split[from..line - 1],
                        "{text:?} {offset} {n}"
                    );
                    let to = (line + n).min(split.len());
                    assert_eq!(
                        lines.after(end, n),
                        split[line..to],
                        "{text:?} {offset} {n}"
                    );
                }
            }
        }
    }
}
