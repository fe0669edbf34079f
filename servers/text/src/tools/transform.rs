//! transform: an ordered list of exact text operations.

use heck::{ToKebabCase, ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
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
    ("pascal_case", "PascalCase, line by line"),
    ("constant_case", "CONSTANT_CASE, line by line"),
    (
        "trim",
        "remove leading and trailing whitespace of the whole text",
    ),
    ("trim_lines", "remove trailing whitespace of every line"),
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
        "URL slug: lowercase ASCII letters and digits joined by -",
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
        description = "Apply exact operations in order: case (upper, lower, title, sentence, snake_case, kebab_case, camel_case, pascal_case, constant_case), whitespace (trim, trim_lines, collapse_whitespace, remove_blank_lines, tabs_to_spaces, spaces_to_tabs), Unicode (nfc, nfd, nfkc, nfkd, strip_diacritics), line endings (lf, crlf), lines (sort_lines, unique_lines, reverse_lines, wrap with `width`), slugify. `operations` is a list like [{\"op\": \"trim\"}, {\"op\": \"wrap\", \"width\": 72}]. Input: `text` or `path` (the file is not changed).",
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
            '\n' => {
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
        "camel_case" => per_line(text, |l| l.to_lower_camel_case())?,
        "pascal_case" => per_line(text, |l| l.to_upper_camel_case())?,
        "constant_case" => per_line(text, |l| l.to_shouty_snake_case())?,
        "trim" => text.trim().to_owned(),
        "trim_lines" => per_line(text, |l| l.trim_end().to_owned())?,
        "collapse_whitespace" => text.split_whitespace().collect::<Vec<_>>().join(" "),
        "remove_blank_lines" => map_lines(text, |lines| {
            lines.into_iter().filter(|l| !l.trim().is_empty()).collect()
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
            lines.sort_unstable();
            lines
        }),
        "unique_lines" => map_lines(text, |lines| {
            let mut seen = std::collections::HashSet::new();
            lines.into_iter().filter(|l| seen.insert(*l)).collect()
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

/// Splits into lines (keeping the text's line ending style and final
/// newline), lets `f` rearrange them, joins them back.
fn map_lines<'a>(text: &'a str, f: impl FnOnce(Vec<&'a str>) -> Vec<&'a str>) -> String {
    if text.is_empty() {
        return String::new();
    }
    let ending = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let trailing = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = f(lines).join(ending);
    if trailing {
        out.push_str(ending);
    }
    out
}

/// Applies `f` to every line, keeping line endings as they were.
fn per_line(text: &str, f: impl Fn(&str) -> String) -> ToolResult<String> {
    let mut out = String::with_capacity(text.len());
    for (n, piece) in text.split_inclusive('\n').enumerate() {
        if n % 65_536 == 65_535 {
            work::check()?;
        }
        let (line, ending) = match piece.strip_suffix("\r\n") {
            Some(l) => (l, "\r\n"),
            None => match piece.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (piece, ""),
            },
        };
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
                out.extend(c.to_uppercase());
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

fn sentence_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut capitalize = true;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if capitalize {
                out.extend(c.to_uppercase());
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

fn slugify(text: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in strip_diacritics(text).chars().flat_map(char::to_lowercase) {
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
