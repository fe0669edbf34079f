//! transform: an ordered list of exact text operations.

use heck::{ToKebabCase, ToShoutySnakeCase, ToSnakeCase};
use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::work;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::TextServer;
use crate::input::{Input, Int, TextPage, TextPaging, check_opt, data, schema};

/// Widest tab stop for `tabs_to_spaces` and `spaces_to_tabs`.
pub const MAX_TAB_SIZE: u64 = 64;
/// Widest line for `wrap` (wider than any line is: wrapping never makes
/// text longer, whatever the width).
pub const MAX_WRAP_WIDTH: u64 = 1_000_000;

/// Every operation, with what it does (also served as text://operations).
pub const OPERATIONS: &[(&str, &str)] = &[
    ("upper", "UPPERCASE (full Unicode mapping: ß becomes SS)"),
    ("lower", "lowercase"),
    (
        "title",
        "Title Case: each word's first letter upper, the rest lower",
    ),
    (
        "sentence",
        "Sentence case: lower, then each sentence's first letter upper",
    ),
    ("snake_case", "snake_case, line by line"),
    ("kebab_case", "kebab-case, line by line"),
    ("camel_case", "camelCase, line by line"),
    (
        "pascal_case",
        "PascalCase, line by line (titlecase: ﬁle_name becomes FileName)",
    ),
    ("constant_case", "CONSTANT_CASE, line by line"),
    (
        "trim",
        "remove leading and trailing whitespace of the whole text",
    ),
    (
        "trim_lines",
        "remove trailing whitespace of every line (leading indentation is kept; `trim` trims both ends of the whole text)",
    ),
    (
        "collapse_whitespace",
        "every run of whitespace (newlines too) becomes one space; trimmed",
    ),
    (
        "remove_blank_lines",
        "drop lines that are empty or whitespace only",
    ),
    ("nfc", "Unicode normalization form C (composed)"),
    ("nfd", "Unicode normalization form D (decomposed)"),
    (
        "nfkc",
        "Unicode normalization form KC (compatibility, composed)",
    ),
    (
        "nfkd",
        "Unicode normalization form KD (compatibility, decomposed)",
    ),
    (
        "strip_diacritics",
        "remove accents and other combining marks: café becomes cafe",
    ),
    ("lf", "line endings to \\n"),
    ("crlf", "line endings to \\r\\n"),
    (
        "tabs_to_spaces",
        "expand tabs to the next tab stop (`tab_size`, default 4)",
    ),
    (
        "spaces_to_tabs",
        "leading runs of `tab_size` spaces (default 4) become tabs",
    ),
    ("sort_lines", "sort lines by Unicode code point"),
    (
        "unique_lines",
        "drop repeated lines, keeping the first of each",
    ),
    ("reverse_lines", "reverse the order of lines"),
    (
        "wrap",
        "wrap lines at `width` characters (default 80) on spaces",
    ),
    (
        "slugify",
        "URL slug as python-slugify: letters of every script transliterated to ASCII (Straße: strasse, Привет: privet), lowercase, joined by -",
    ),
];

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Operation {
    /// One of: upper, lower, title, sentence, snake_case, kebab_case,
    /// camel_case, pascal_case, constant_case, trim, trim_lines,
    /// collapse_whitespace, remove_blank_lines, nfc, nfd, nfkc, nfkd,
    /// strip_diacritics, lf, crlf, tabs_to_spaces, spaces_to_tabs,
    /// sort_lines, unique_lines, reverse_lines, wrap, slugify.
    pub op: String,
    /// Line width for `wrap`, 1 to 1000000. Default 80.
    #[serde(default)]
    pub width: Option<Int<1, MAX_WRAP_WIDTH>>,
    /// Tab size for `tabs_to_spaces` and `spaces_to_tabs`, 1 to 64.
    /// Default 4.
    #[serde(default)]
    pub tab_size: Option<Int<1, MAX_TAB_SIZE>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TransformParams {
    #[serde(flatten)]
    pub input: Input,
    /// Operations applied in order, e.g. [{"op": "nfc"}, {"op": "snake_case"}].
    pub operations: Vec<Operation>,
    #[serde(flatten)]
    pub paging: TextPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransformOutput {
    /// The operations applied, in order.
    pub applied: Vec<String>,
    /// Whether the text changed.
    pub changed: bool,
    /// The transformed text, paged by start_index/max_length.
    pub result: TextPage,
}

#[tool_router(router = transform_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Transform Text",
        description = "Apply exact operations in order: case (upper, lower, title, sentence, snake_case, kebab_case, camel_case, pascal_case, constant_case), whitespace (trim, trim_lines, collapse_whitespace, remove_blank_lines, tabs_to_spaces, spaces_to_tabs), Unicode (nfc, nfd, nfkc, nfkd, strip_diacritics), line endings (lf, crlf), lines (sort_lines, unique_lines, reverse_lines, wrap with `width`), slugify. `operations` is a list like [{\"op\": \"trim\"}, {\"op\": \"wrap\", \"width\": 72}]. Lines end at `\\r\\n`, `\\n` or a lone `\\r`; line operations keep each line's own ending (and whether the text ends with one). trim_lines trims the end of each line only (indentation kept). title and pascal_case use Unicode titlecase (ﬁ: Fi); slugify transliterates like python-slugify. width and tab_size count characters (Unicode scalar values). Input: `text` or `path` (the file is not changed).",
        output_schema = schema::<TransformOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn transform(
        &self,
        Parameters(p): Parameters<TransformParams>,
    ) -> ToolResult<CallToolResult> {
        validate(&p.operations)?;
        p.paging.check()?;
        let loaded = self.load(p.input).await?;
        let paging = p.paging;
        let ops = p.operations;
        let cap = self.output_cap();
        let out = blocking_unless_small(loaded.text.len(), move || {
            let original = loaded.text;
            let mut text = original.clone();
            for op in &ops {
                text = apply(&text, op, cap)?;
                work::check()?;
            }
            Ok(TransformOutput {
                applied: ops.iter().map(|o| o.op.clone()).collect(),
                changed: text != original,
                result: paging.page(&text),
            })
        })
        .await?;
        data(&out)
    }
}

/// Fails on the first unknown operation, naming it and the known ones, and
/// on the first parameter out of its bounds, naming it.
pub fn validate(ops: &[Operation]) -> ToolResult<()> {
    if ops.is_empty() {
        return Err(ToolError::new(
            "`operations` is empty; give at least one, e.g. [{\"op\": \"lower\"}]",
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        if !OPERATIONS.iter().any(|(name, _)| *name == op.op) {
            let names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
            return Err(ToolError::new(format!(
                "unknown operation '{}' at operations[{i}]; known: {}",
                op.op,
                names.join(", ")
            )));
        }
        check_opt(&op.width, &format!("operations[{i}].width"))?;
        check_opt(&op.tab_size, &format!("operations[{i}].tab_size"))?;
    }
    Ok(())
}

/// Applies one (validated) operation, refusing a result over `cap` bytes.
/// Where a parameter sets the growth (`tab_size`), or the growth can be
/// large (Unicode normalization: up to 18 characters for one), the result
/// is measured before it is built; other operations at most triple the
/// text and are checked after.
pub fn apply(text: &str, op: &Operation, cap: usize) -> ToolResult<String> {
    let tab = op.tab_size.as_ref().map_or(4, Int::get);
    let too_long = |len: u64| {
        ToolError::new(format!(
            "{}: the result would be {len} bytes, over the output cap of {cap} bytes{}",
            op.op,
            if op.op == "tabs_to_spaces" {
                "; use a smaller `tab_size`, or a smaller text"
            } else {
                "; transform a smaller text"
            }
        ))
    };
    let expected = match op.op.as_str() {
        "tabs_to_spaces" => Some(expanded_len(text, tab)),
        "nfd" | "strip_diacritics" => Some(utf8_len(text.nfd())),
        "nfkd" => Some(utf8_len(text.nfkd())),
        "nfc" => Some(utf8_len(text.nfc())),
        "nfkc" => Some(utf8_len(text.nfkc())),
        _ => None,
    };
    if let Some(len) = expected
        && len > cap as u64
    {
        return Err(too_long(len));
    }
    let out = apply_unchecked(text, op, tab)?;
    if out.len() > cap {
        return Err(too_long(out.len() as u64));
    }
    Ok(out)
}

fn utf8_len(chars: impl Iterator<Item = char>) -> u64 {
    chars.map(|c| c.len_utf8() as u64).sum()
}

/// The length of `text` after `tabs_to_spaces` with tab stops every `tab`
/// columns, counted without building it.
fn expanded_len(text: &str, tab: usize) -> u64 {
    let mut len = 0u64;
    let mut col = 0usize;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = tab - col % tab;
                len += n as u64;
                col += n;
            }
            '\n' | '\r' => {
                len += 1;
                col = 0;
            }
            c => {
                len += c.len_utf8() as u64;
                col += 1;
            }
        }
    }
    len
}

fn apply_unchecked(text: &str, op: &Operation, tab: usize) -> ToolResult<String> {
    let width = op.width.as_ref().map_or(80, Int::get);
    Ok(match op.op.as_str() {
        "upper" => text.to_uppercase(),
        "lower" => text.to_lowercase(),
        "title" => title_case(text),
        "sentence" => sentence_case(text),
        "snake_case" => per_line(text, |l| l.to_snake_case())?,
        "kebab_case" => per_line(text, |l| l.to_kebab_case())?,
        "camel_case" => per_line(text, |l| camel(l, false))?,
        "pascal_case" => per_line(text, |l| camel(l, true))?,
        "constant_case" => per_line(text, |l| l.to_shouty_snake_case())?,
        "trim" => text.trim().to_owned(),
        "trim_lines" => per_line(text, |l| l.trim_end().to_owned())?,
        "collapse_whitespace" => text.split_whitespace().collect::<Vec<_>>().join(" "),
        "remove_blank_lines" => map_lines(text, |lines| {
            lines
                .into_iter()
                .filter(|l| !l.0.trim().is_empty())
                .collect()
        }),
        "nfc" => text.nfc().collect(),
        "nfd" => text.nfd().collect(),
        "nfkc" => text.nfkc().collect(),
        "nfkd" => text.nfkd().collect(),
        "strip_diacritics" => strip_diacritics(text),
        "lf" => text.replace("\r\n", "\n").replace('\r', "\n"),
        "crlf" => text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\n', "\r\n"),
        "tabs_to_spaces" => per_line(text, |l| expand_tabs(l, tab))?,
        "spaces_to_tabs" => per_line(text, |l| unexpand_leading(l, tab))?,
        "sort_lines" => map_lines(text, |mut lines| {
            lines.sort_by(|a, b| a.0.cmp(b.0));
            lines
        }),
        "unique_lines" => map_lines(text, |lines| {
            let mut seen = std::collections::HashSet::new();
            lines.into_iter().filter(|l| seen.insert(l.0)).collect()
        }),
        "reverse_lines" => map_lines(text, |mut lines| {
            lines.reverse();
            lines
        }),
        "wrap" => per_line(text, |l| wrap(l, width))?,
        "slugify" => slugify(text),
        other => return Err(ToolError::new(format!("unknown operation '{other}'"))),
    })
}

/// `text` as lines, each with its own ending: `\r\n`, `\n` or a lone `\r`
/// (the breaks `lf` and `crlf` convert and `text_stats` counts); the last
/// line's ending is empty when the text does not end with a break.
pub fn lines_with_endings(text: &str) -> Vec<(&str, &str)> {
    LinesWithEndings::new(text).collect()
}

/// The iterator behind [`lines_with_endings`]: `(line, ending)` pairs.
pub struct LinesWithEndings<'t> {
    text: &'t str,
    start: usize,
}

impl<'t> LinesWithEndings<'t> {
    pub fn new(text: &'t str) -> Self {
        Self { text, start: 0 }
    }
}

impl<'t> Iterator for LinesWithEndings<'t> {
    type Item = (&'t str, &'t str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.text[self.start..];
        if rest.is_empty() {
            return None;
        }
        let Some(i) = memchr::memchr2(b'\n', b'\r', rest.as_bytes()) else {
            self.start = self.text.len();
            return Some((rest, ""));
        };
        let end = if rest[i..].starts_with("\r\n") {
            i + 2
        } else {
            i + 1
        };
        self.start += end;
        Some((&rest[..i], &rest[i..end]))
    }
}

/// Splits into lines, each keeping its own ending, lets `f` filter or
/// rearrange them, joins them back. Whether the text ends with a line
/// break is kept: a last line without one that moves up takes the ending
/// of the line that becomes last (`1\n2\n3` reversed is `3\n2\n1`).
fn map_lines<'a>(
    text: &'a str,
    f: impl FnOnce(Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)>,
) -> String {
    let lines = lines_with_endings(text);
    let unterminated = lines.last().is_some_and(|l| l.1.is_empty());
    let mut lines = f(lines);
    if unterminated && let Some(last) = lines.len().checked_sub(1) {
        if let Some(open) = lines.iter().position(|l| l.1.is_empty()) {
            let ending = lines[last].1;
            lines[open].1 = ending;
        }
        lines[last].1 = "";
    }
    let mut out = String::with_capacity(text.len());
    for (line, ending) in lines {
        out.push_str(line);
        out.push_str(ending);
    }
    out
}

/// Applies `f` to every line (cut as [`lines_with_endings`]), keeping each
/// line's ending as it was.
fn per_line(text: &str, f: impl Fn(&str) -> String) -> ToolResult<String> {
    let mut out = String::with_capacity(text.len());
    for (n, (line, ending)) in lines_with_endings(text).into_iter().enumerate() {
        if n % 65_536 == 65_535 {
            work::check()?;
        }
        out.push_str(&f(line));
        out.push_str(ending);
    }
    Ok(out)
}

fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if c.is_alphanumeric() || (c == '\'' && !at_word_start) {
            if at_word_start {
                push_title(&mut out, c);
            } else {
                out.extend(c.to_lowercase());
            }
            at_word_start = false;
        } else {
            out.push(c);
            at_word_start = true;
        }
    }
    out
}

/// Unicode's titlecase mapping, where it differs from uppercase (Python's
/// `str.title()` on each character, Unicode 15: ligatures such as `ﬁ`
/// become `Fi`, not `FI`; `ǆ` becomes `ǅ`; Georgian stays Mkhedruli).
/// Generated with `[(c, c.title()) for c in map(chr, range(0x110000)) if
/// c.title() != c.upper()]`.
fn titlecase_special(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00DF}' => "\u{0053}\u{0073}",
        '\u{01C4}' => "\u{01C5}",
        '\u{01C5}' => "\u{01C5}",
        '\u{01C6}' => "\u{01C5}",
        '\u{01C7}' => "\u{01C8}",
        '\u{01C8}' => "\u{01C8}",
        '\u{01C9}' => "\u{01C8}",
        '\u{01CA}' => "\u{01CB}",
        '\u{01CB}' => "\u{01CB}",
        '\u{01CC}' => "\u{01CB}",
        '\u{01F1}' => "\u{01F2}",
        '\u{01F2}' => "\u{01F2}",
        '\u{01F3}' => "\u{01F2}",
        '\u{0587}' => "\u{0535}\u{0582}",
        '\u{10D0}' => "\u{10D0}",
        '\u{10D1}' => "\u{10D1}",
        '\u{10D2}' => "\u{10D2}",
        '\u{10D3}' => "\u{10D3}",
        '\u{10D4}' => "\u{10D4}",
        '\u{10D5}' => "\u{10D5}",
        '\u{10D6}' => "\u{10D6}",
        '\u{10D7}' => "\u{10D7}",
        '\u{10D8}' => "\u{10D8}",
        '\u{10D9}' => "\u{10D9}",
        '\u{10DA}' => "\u{10DA}",
        '\u{10DB}' => "\u{10DB}",
        '\u{10DC}' => "\u{10DC}",
        '\u{10DD}' => "\u{10DD}",
        '\u{10DE}' => "\u{10DE}",
        '\u{10DF}' => "\u{10DF}",
        '\u{10E0}' => "\u{10E0}",
        '\u{10E1}' => "\u{10E1}",
        '\u{10E2}' => "\u{10E2}",
        '\u{10E3}' => "\u{10E3}",
        '\u{10E4}' => "\u{10E4}",
        '\u{10E5}' => "\u{10E5}",
        '\u{10E6}' => "\u{10E6}",
        '\u{10E7}' => "\u{10E7}",
        '\u{10E8}' => "\u{10E8}",
        '\u{10E9}' => "\u{10E9}",
        '\u{10EA}' => "\u{10EA}",
        '\u{10EB}' => "\u{10EB}",
        '\u{10EC}' => "\u{10EC}",
        '\u{10ED}' => "\u{10ED}",
        '\u{10EE}' => "\u{10EE}",
        '\u{10EF}' => "\u{10EF}",
        '\u{10F0}' => "\u{10F0}",
        '\u{10F1}' => "\u{10F1}",
        '\u{10F2}' => "\u{10F2}",
        '\u{10F3}' => "\u{10F3}",
        '\u{10F4}' => "\u{10F4}",
        '\u{10F5}' => "\u{10F5}",
        '\u{10F6}' => "\u{10F6}",
        '\u{10F7}' => "\u{10F7}",
        '\u{10F8}' => "\u{10F8}",
        '\u{10F9}' => "\u{10F9}",
        '\u{10FA}' => "\u{10FA}",
        '\u{10FD}' => "\u{10FD}",
        '\u{10FE}' => "\u{10FE}",
        '\u{10FF}' => "\u{10FF}",
        '\u{1F80}' => "\u{1F88}",
        '\u{1F81}' => "\u{1F89}",
        '\u{1F82}' => "\u{1F8A}",
        '\u{1F83}' => "\u{1F8B}",
        '\u{1F84}' => "\u{1F8C}",
        '\u{1F85}' => "\u{1F8D}",
        '\u{1F86}' => "\u{1F8E}",
        '\u{1F87}' => "\u{1F8F}",
        '\u{1F88}' => "\u{1F88}",
        '\u{1F89}' => "\u{1F89}",
        '\u{1F8A}' => "\u{1F8A}",
        '\u{1F8B}' => "\u{1F8B}",
        '\u{1F8C}' => "\u{1F8C}",
        '\u{1F8D}' => "\u{1F8D}",
        '\u{1F8E}' => "\u{1F8E}",
        '\u{1F8F}' => "\u{1F8F}",
        '\u{1F90}' => "\u{1F98}",
        '\u{1F91}' => "\u{1F99}",
        '\u{1F92}' => "\u{1F9A}",
        '\u{1F93}' => "\u{1F9B}",
        '\u{1F94}' => "\u{1F9C}",
        '\u{1F95}' => "\u{1F9D}",
        '\u{1F96}' => "\u{1F9E}",
        '\u{1F97}' => "\u{1F9F}",
        '\u{1F98}' => "\u{1F98}",
        '\u{1F99}' => "\u{1F99}",
        '\u{1F9A}' => "\u{1F9A}",
        '\u{1F9B}' => "\u{1F9B}",
        '\u{1F9C}' => "\u{1F9C}",
        '\u{1F9D}' => "\u{1F9D}",
        '\u{1F9E}' => "\u{1F9E}",
        '\u{1F9F}' => "\u{1F9F}",
        '\u{1FA0}' => "\u{1FA8}",
        '\u{1FA1}' => "\u{1FA9}",
        '\u{1FA2}' => "\u{1FAA}",
        '\u{1FA3}' => "\u{1FAB}",
        '\u{1FA4}' => "\u{1FAC}",
        '\u{1FA5}' => "\u{1FAD}",
        '\u{1FA6}' => "\u{1FAE}",
        '\u{1FA7}' => "\u{1FAF}",
        '\u{1FA8}' => "\u{1FA8}",
        '\u{1FA9}' => "\u{1FA9}",
        '\u{1FAA}' => "\u{1FAA}",
        '\u{1FAB}' => "\u{1FAB}",
        '\u{1FAC}' => "\u{1FAC}",
        '\u{1FAD}' => "\u{1FAD}",
        '\u{1FAE}' => "\u{1FAE}",
        '\u{1FAF}' => "\u{1FAF}",
        '\u{1FB2}' => "\u{1FBA}\u{0345}",
        '\u{1FB3}' => "\u{1FBC}",
        '\u{1FB4}' => "\u{0386}\u{0345}",
        '\u{1FB7}' => "\u{0391}\u{0342}\u{0345}",
        '\u{1FBC}' => "\u{1FBC}",
        '\u{1FC2}' => "\u{1FCA}\u{0345}",
        '\u{1FC3}' => "\u{1FCC}",
        '\u{1FC4}' => "\u{0389}\u{0345}",
        '\u{1FC7}' => "\u{0397}\u{0342}\u{0345}",
        '\u{1FCC}' => "\u{1FCC}",
        '\u{1FF2}' => "\u{1FFA}\u{0345}",
        '\u{1FF3}' => "\u{1FFC}",
        '\u{1FF4}' => "\u{038F}\u{0345}",
        '\u{1FF7}' => "\u{03A9}\u{0342}\u{0345}",
        '\u{1FFC}' => "\u{1FFC}",
        '\u{FB00}' => "\u{0046}\u{0066}",
        '\u{FB01}' => "\u{0046}\u{0069}",
        '\u{FB02}' => "\u{0046}\u{006C}",
        '\u{FB03}' => "\u{0046}\u{0066}\u{0069}",
        '\u{FB04}' => "\u{0046}\u{0066}\u{006C}",
        '\u{FB05}' => "\u{0053}\u{0074}",
        '\u{FB06}' => "\u{0053}\u{0074}",
        '\u{FB13}' => "\u{0544}\u{0576}",
        '\u{FB14}' => "\u{0544}\u{0565}",
        '\u{FB15}' => "\u{0544}\u{056B}",
        '\u{FB16}' => "\u{054E}\u{0576}",
        '\u{FB17}' => "\u{0544}\u{056D}",
        _ => return None,
    })
}

/// Pushes the titlecase of `c`.
fn push_title(out: &mut String, c: char) {
    match titlecase_special(c) {
        Some(t) => out.push_str(t),
        None => out.extend(c.to_uppercase()),
    }
}

/// `word` with its first character titlecased and the rest lowercased.
fn capitalize(word: &str, out: &mut String) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        push_title(out, first);
        out.push_str(&chars.as_str().to_lowercase());
    }
}

/// PascalCase (or camelCase) with heck's word boundaries: heck's snake_case
/// cuts and lowercases the words, then each is capitalized by its titlecase
/// (heck uppercases the first character: `ﬁle_name` became `FIleName`).
fn camel(line: &str, upper_first: bool) -> String {
    let snake = line.to_snake_case();
    let mut out = String::with_capacity(snake.len());
    for (n, word) in snake.split('_').enumerate() {
        if n == 0 && !upper_first {
            out.push_str(word);
        } else {
            capitalize(word, &mut out);
        }
    }
    out
}

fn sentence_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut capitalize = true;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if capitalize {
                push_title(&mut out, c);
                capitalize = false;
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            if matches!(c, '.' | '!' | '?' | '\n') {
                capitalize = true;
            }
            out.push(c);
        }
    }
    out
}

pub fn strip_diacritics(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .collect()
}

/// A URL slug as python-slugify makes one: letters and digits of every
/// script transliterated to ASCII (deunicode, from the same Text::Unidecode
/// tables as python-slugify's `text-unidecode`: `Straße` is `strasse`,
/// `ﬁ` is `fi`, Greek and Cyrillic are spelled out), lowercased, every other
/// run of characters one `-`. Symbols and emoji are dropped (python-slugify
/// drops them too; deunicode would spell them out).
fn slugify(text: &str) -> String {
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else if c.is_alphanumeric() || is_combining_mark(c) {
            ascii.push_str(deunicode::deunicode_char(c).unwrap_or(" "));
        } else {
            ascii.push(' ');
        }
    }
    let mut slug = String::new();
    let mut dash = false;
    for c in ascii.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c);
        } else {
            dash = true;
        }
    }
    slug
}

fn expand_tabs(line: &str, tab: usize) -> String {
    let mut out = String::with_capacity(line.len());
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = tab - col % tab;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

fn unexpand_leading(line: &str, tab: usize) -> String {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let mut out = "\t".repeat(indent / tab);
    out.push_str(&" ".repeat(indent % tab));
    out.push_str(&line[indent..]);
    out
}

/// Greedy word wrap of one line at `width` characters; a word longer than
/// the width stays whole on its own line. Leading indentation is kept on
/// the first line.
fn wrap(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let indent_len = line.len() - line.trim_start().len();
    let mut out = String::from(&line[..indent_len]);
    let mut col = out.chars().count();
    let mut first = true;
    for word in line[indent_len..].split_whitespace() {
        let n = word.chars().count();
        if !first && col + 1 + n > width {
            out.push('\n');
            col = 0;
        } else if !first {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
        first = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> Operation {
        Operation {
            op: name.to_owned(),
            width: None,
            tab_size: None,
        }
    }

    const CAP: usize = 128 << 20;

    fn t(text: &str, name: &str) -> String {
        apply(text, &op(name), CAP).unwrap()
    }

    #[test]
    fn cases() {
        assert_eq!(t("straße", "upper"), "STRASSE");
        assert_eq!(t("hello WORLD it's", "title"), "Hello World It's");
        assert_eq!(t("HELLO. wORLD? yes", "sentence"), "Hello. World? Yes");
        assert_eq!(
            t("Hello World\nfooBar", "snake_case"),
            "hello_world\nfoo_bar"
        );
        assert_eq!(t("hello world", "kebab_case"), "hello-world");
        assert_eq!(t("hello world", "camel_case"), "helloWorld");
        assert_eq!(t("hello world", "pascal_case"), "HelloWorld");
        assert_eq!(t("hello world", "constant_case"), "HELLO_WORLD");
    }

    #[test]
    fn whitespace_and_lines() {
        assert_eq!(t("  a \n\t b  ", "collapse_whitespace"), "a b");
        assert_eq!(t("b\na\nb\n", "sort_lines"), "a\nb\nb\n");
        assert_eq!(t("b\r\na\r\nb\r\n", "unique_lines"), "b\r\na\r\n");
        assert_eq!(t("1\n2\n3", "reverse_lines"), "3\n2\n1");
        assert_eq!(t("a\n\n  \nb\n", "remove_blank_lines"), "a\nb\n");
        assert_eq!(t("a\r\nb\n", "lf"), "a\nb\n");
        assert_eq!(t("a\nb", "crlf"), "a\r\nb");
        assert_eq!(t("a\tb\n\tc", "tabs_to_spaces"), "a   b\n    c");
        assert_eq!(t("        x", "spaces_to_tabs"), "\t\tx");
        assert_eq!(t("x  \ny \n", "trim_lines"), "x\ny\n");
    }

    /// Issue 21: every line keeps its own ending (they all became CRLF when
    /// the text held one); a lone CR ends a line, as `lf`/`crlf` and
    /// `text_stats` say.
    #[test]
    fn line_operations_keep_each_lines_ending() {
        assert_eq!(t("x\ny\r\n", "remove_blank_lines"), "x\ny\r\n");
        assert_eq!(t("y\r\nx\n", "sort_lines"), "x\ny\r\n");
        assert_eq!(t("x\ny\r\n", "reverse_lines"), "y\r\nx\n");
        assert_eq!(t("x\n\r\ny\r\n", "remove_blank_lines"), "x\ny\r\n");
        assert_eq!(t("b\ra\rc", "sort_lines"), "a\rb\rc");
        assert_eq!(t("b\r\na\n", "unique_lines"), "b\r\na\n");
        assert_eq!(t("b\r\na\nb\r", "unique_lines"), "b\r\na\n");
        // The last line without an ending stays last-without-ending.
        assert_eq!(t("c\r\na\nb", "sort_lines"), "a\nb\r\nc");
        assert_eq!(t("a\n\n  ", "remove_blank_lines"), "a");
        assert_eq!(t("  a  \r\n\tb\t\r\n", "trim_lines"), "  a\r\n\tb\r\n");
        assert_eq!(t("a \rb ", "trim_lines"), "a\rb");
        assert_eq!(
            lines_with_endings("a\r\nb\rc\n\nd"),
            [
                ("a", "\r\n"),
                ("b", "\r"),
                ("c", "\n"),
                ("", "\n"),
                ("d", "")
            ]
        );
    }

    /// Issue 21: trim_lines trims line ends only, and says so.
    #[test]
    fn trim_lines_is_documented_as_trailing_only() {
        let doc = OPERATIONS.iter().find(|o| o.0 == "trim_lines").unwrap().1;
        assert!(
            doc.contains("trailing") && doc.contains("indentation is kept"),
            "{doc}"
        );
    }

    /// Issue 21: titlecase, not uppercase, for a word's first letter.
    /// Expected values from Python's `str.title()` and `str.capitalize()`.
    #[test]
    fn titlecase_of_ligatures_and_digraphs() {
        assert_eq!(t("ﬁle_name", "pascal_case"), "FileName");
        assert_eq!(t("ﬁle_name", "title"), "File_Name");
        assert_eq!(t("ﬁle_name", "camel_case"), "ﬁleName");
        assert_eq!(t("my ﬂow ﬃx", "camel_case"), "myFlowFfix");
        assert_eq!(t("ǆungla", "title"), "ǅungla");
        assert_eq!(t("ǆungla", "sentence"), "ǅungla");
        assert_eq!(t("ﬅ and և", "title"), "St And Եւ");
        assert_eq!(t("ᾳ", "title"), "ᾼ");
        assert_eq!(t("hello world", "pascal_case"), "HelloWorld");
        assert_eq!(t("XMLHttpRequest id", "pascal_case"), "XmlHttpRequestId");
        assert_eq!(t("XMLHttpRequest id", "camel_case"), "xmlHttpRequestId");
    }

    /// Issue 21: slugs as python-slugify 8 makes them (`slugify(s)`, run
    /// on each input to get the expected column). Left: python-slugify
    /// turns `ß` alone into `ss` and we agree; both drop emoji and symbols.
    #[test]
    fn slugify_transliterates_like_python_slugify() {
        let mut wrong = Vec::new();
        for (input, expected) in [
            ("ÄrgerÜberStraße", "argeruberstrasse"),
            ("ﬁle_name", "file-name"),
            ("Σίσυφος λόγος", "sisuphos-logos"),
            ("Привет мир", "privet-mir"),
            ("  Crème Brûlée: the BEST!  ", "creme-brulee-the-best"),
            ("日本語", "ri-ben-yu"),
            ("北京", "bei-jing"),
            ("naïve café – 10% off", "naive-cafe-10-off"),
            ("I ♥ Rust", "i-rust"),
            ("Ærøskøbing", "aeroskobing"),
            ("Œuvre", "oeuvre"),
            ("Łódź", "lodz"),
            ("ǅemal", "dzemal"),
            ("Đorđe", "dorde"),
            ("ﬆop", "stop"),
            ("x's", "x-s"),
            ("C++ & Go", "c-go"),
            ("👨\u{200d}👩\u{200d}👧\u{200d}👦 family", "family"),
            ("१२३", "123"),
            ("Ⅻ", "xii"),
            ("½ cup", "1-2-cup"),
            ("Hello_World", "hello-world"),
            ("a--b", "a-b"),
            ("ß", "ss"),
            ("İstanbul", "istanbul"),
            ("Ελληνικά", "ellenika"),
            // Disagreement left: deunicode spells Ukrainian ї as `yi` (the
            // national transliteration); text-unidecode says `i`.
            ("Україна", "ukrayina"),
            ("e\u{301}cole", "ecole"),
        ] {
            let got = t(input, "slugify");
            if got != expected {
                wrong.push(format!("{input:?}: {got:?}, python-slugify {expected:?}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn unicode() {
        assert_eq!(t("e\u{301}", "nfc"), "é");
        assert_eq!(t("é", "nfd"), "e\u{301}");
        assert_eq!(t("ﬁ", "nfkc"), "fi");
        assert_eq!(t("Crème Brûlée", "strip_diacritics"), "Creme Brulee");
        assert_eq!(
            t("  Crème Brûlée: the BEST!  ", "slugify"),
            "creme-brulee-the-best"
        );
    }

    #[test]
    fn wrap_lines() {
        let w = apply(
            "the quick brown fox jumps",
            &Operation {
                op: "wrap".into(),
                width: Some(Int::new(10)),
                tab_size: None,
            },
            CAP,
        )
        .unwrap();
        assert_eq!(w, "the quick\nbrown fox\njumps");
    }

    #[test]
    fn unknown_operations_are_named() {
        let err = validate(&[op("lower"), op("shout")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'shout' at operations[1]"), "{err}");
        assert!(err.contains("snake_case"));
    }

    fn with_tab(name: &str, tab: u64) -> Operation {
        Operation {
            op: name.to_owned(),
            width: None,
            tab_size: Some(Int::new(tab)),
        }
    }

    #[test]
    fn tab_sizes_are_bounded_and_expansion_is_measured_first() {
        // The attack: a tab size of 10^15 on one tab.
        let huge: Operation = serde_json::from_value(
            serde_json::json!({"op": "tabs_to_spaces", "tab_size": 1_000_000_000_000_000u64}),
        )
        .unwrap();
        let err = validate(&[op("lower"), huge]).unwrap_err().to_string();
        assert_eq!(
            err,
            "`operations[1].tab_size` must be an integer from 1 to 64; got 1000000000000000"
        );
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1e9),
        ] {
            let op: Operation =
                serde_json::from_value(serde_json::json!({"op": "wrap", "width": bad})).unwrap();
            let err = validate(&[op]).unwrap_err().to_string();
            assert!(
                err.starts_with("`operations[0].width` must be an integer from 1 to 1000000"),
                "{err}"
            );
        }
        // The largest tab size is fine on a small text...
        assert_eq!(
            apply("\t", &with_tab("tabs_to_spaces", 64), CAP).unwrap(),
            " ".repeat(64)
        );
        // ...and refused, before expanding, when the result would pass the cap.
        let tabs = "\t".repeat(10_000);
        let err = apply(&tabs, &with_tab("tabs_to_spaces", 64), 100_000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("would be 640000 bytes, over the output cap of 100000"),
            "{err}"
        );
        // The measure is exact.
        for text in ["a\tb\n\tc", "\t\r\n x\t\ty\r\tz\n", "é\tü\t\n", ""] {
            for tab in [1, 3, 4, 8] {
                let out = apply(text, &with_tab("tabs_to_spaces", tab), CAP).unwrap();
                assert_eq!(
                    expanded_len(text, tab as usize),
                    out.len() as u64,
                    "{text:?} {tab}"
                );
            }
        }
    }

    #[test]
    fn growing_operations_are_capped() {
        // U+FDFA is 3 bytes, and 33 once decomposed for compatibility.
        let text = "\u{FDFA}".repeat(1000);
        let err = apply(&text, &op("nfkd"), 10_000).unwrap_err().to_string();
        assert!(
            err.contains("nfkd: the result would be 33000 bytes"),
            "{err}"
        );
        assert!(apply(&text, &op("nfkd"), 33_000).is_ok());
        let err = apply(&"\n".repeat(1000), &op("crlf"), 1500)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crlf: the result would be 2000 bytes"),
            "{err}"
        );
    }
}
