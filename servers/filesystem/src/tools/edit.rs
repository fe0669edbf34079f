//! edit_file: exact or whitespace-flexible replacements, shown as a unified
//! diff in the format of the `diff` npm package (`createTwoFilesPatch`).

use std::ops::Range;
use std::path::Path;

use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use super::read::{file_work, read_bytes_limited};
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;
use crate::encoding::{self, LineBreaks};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditOperation {
    /// Text to search for - must match exactly
    pub old_text: String,
    /// Text to replace with
    pub new_text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditParams {
    /// Path of the text file to edit.
    pub path: String,
    /// Edits applied in order, each to the result of the previous one.
    pub edits: Vec<EditOperation>,
    /// Preview changes using git-style diff format
    #[serde(default)]
    #[schemars(default)]
    pub dry_run: bool,
}

#[tool_router(router = edit_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Edit File",
        description = "Make line-based edits to a text file. Each edit replaces exact line sequences with new content; if an oldText does not match exactly, it is matched line by line ignoring leading and trailing whitespace, and the replacement keeps the file's indentation. Edits apply in order; if any edit does not match, nothing is written. Returns a git-style diff showing the changes made. Use dryRun to preview. The file keeps its line endings (oldText/newText may use \\n for CRLF files), byte order mark and encoding (UTF-8, UTF-16, Windows-1252); text the encoding cannot hold is refused. The write is atomic. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Edit File", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn edit_file(
        &self,
        Parameters(p): Parameters<EditParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let max = self.config.max_read_bytes;
        let user_path = p.path.clone();
        let text = file_work(&user_path, move || {
            let path = sandbox.resolve_for_write(&p.path)?;
            edit_path(&path, &p.edits, p.dry_run, max)
        })
        .await?;
        Ok(text_result(text))
    }
}

/// Edits the file at `path` (already resolved): decodes it, sets its
/// `\r\n` line breaks aside, applies `edits`, and unless `dry_run` writes
/// it back atomically in the same encoding, byte order mark and line breaks.
/// Returns the fenced diff of the texts (with `\n` line breaks).
fn edit_path(path: &Path, edits: &[EditOperation], dry_run: bool, max: u64) -> ToolResult<String> {
    let bytes = read_bytes_limited(path, max, "--max-read-bytes")?;
    let encoding = encoding::detect(&bytes).map_err(|not_text| {
        ToolError::new(format!(
            "{} {}; edit_file only edits text it can write back as it was \
             (UTF-8, UTF-16 with a byte order mark, Windows-1252), so it left the file alone",
            path.display(),
            not_text.describe()
        ))
    })?;
    let text = encoding::decode_exact(&bytes, encoding).ok_or_else(|| {
        ToolError::new(format!(
            "{} starts with a {name} byte order mark but is not valid {name} \
             (an odd number of bytes, or an unpaired surrogate); edit_file left it alone \
             rather than replace what it cannot read",
            path.display(),
            name = encoding.name()
        ))
    })?;
    let mut doc = LineBreaks::new(&text);
    drop(text);
    drop(bytes);
    let original = doc.text().to_owned();
    apply_edits_to(&mut doc, edits)?;
    let diff = unified_diff(&path.display().to_string(), &original, doc.text());
    let out = encoding.encode(&doc.restore()).map_err(|unmappable| {
        ToolError::new(format!(
            "{} is {} text, which cannot hold {} of the edited text; nothing was written. \
             Use characters it has, or rewrite the file as UTF-8 with write_file",
            path.display(),
            encoding.name(),
            unmappable.describe()
        ))
    })?;
    if !dry_run {
        fsutil::atomic_write(path, &out).map_err(|e| io_error(&e, path))?;
    }
    Ok(fence_diff(&diff))
}

pub fn normalize_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// What edits apply to: a text, and a way to replace part of it.
pub trait EditTarget {
    fn text(&self) -> &str;
    fn replace(&mut self, range: Range<usize>, new: &str);
}

impl EditTarget for String {
    fn text(&self) -> &str {
        self
    }

    fn replace(&mut self, range: Range<usize>, new: &str) {
        self.replace_range(range, new);
    }
}

/// A text whose `\r\n` are set aside: each replaced line break keeps its
/// kind, added ones take their neighbours' (see [`LineBreaks`]).
impl EditTarget for LineBreaks {
    fn text(&self) -> &str {
        LineBreaks::text(self)
    }

    fn replace(&mut self, range: Range<usize>, new: &str) {
        LineBreaks::replace(self, range, new);
    }
}

/// Applies `edits` in order: an exact match of `oldText` first (its first
/// occurrence, replaced by `newText` as is), else a line-by-line match
/// ignoring surrounding whitespace, whose replacement is re-indented into the
/// file's indentation (see [`reindent`]).
pub fn apply_edits(content: &str, edits: &[EditOperation]) -> Result<String, ToolError> {
    let mut modified = content.to_owned();
    apply_edits_to(&mut modified, edits)?;
    Ok(modified)
}

/// [`apply_edits`] on any [`EditTarget`]. `oldText` and `newText` have their
/// `\r\n` read as `\n`, as the target's text has.
pub fn apply_edits_to(target: &mut impl EditTarget, edits: &[EditOperation]) -> ToolResult<()> {
    for (index, edit) in edits.iter().enumerate() {
        let old = normalize_line_endings(&edit.old_text);
        let new = normalize_line_endings(&edit.new_text);
        if old.is_empty() {
            return Err(ToolError::new(format!(
                "Edit {} has an empty oldText; say which text to replace",
                index + 1
            )));
        }
        if let Some(at) = target.text().find(&old) {
            target.replace(at..at + old.len(), &new);
            continue;
        }
        match flexible_match(target.text(), &old, &new) {
            Some((range, replacement)) => target.replace(range, &replacement),
            None => {
                return Err(ToolError::new(format!(
                    "Could not find exact match for edit:\n{}",
                    edit.old_text
                )));
            }
        }
    }
    Ok(())
}

fn leading_ws(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Columns a tab counts for when tab and space indentation are compared.
const TAB_COLUMNS: usize = 4;

/// The width of an indentation in columns (a tab is [`TAB_COLUMNS`], any
/// other whitespace character one).
fn columns(indent: &str) -> usize {
    indent
        .chars()
        .map(|c| if c == '\t' { TAB_COLUMNS } else { 1 })
        .sum()
}

/// The indentation step of `lines`: the most common increase of indentation
/// from one non-blank line to the next (the smaller on a tie); `None` if it
/// never increases.
fn indent_unit<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<usize> {
    let mut steps: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut previous: Option<usize> = None;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let width = columns(leading_ws(line));
        if let Some(before) = previous
            && width > before
        {
            *steps.entry(width - before).or_default() += 1;
        }
        previous = Some(width);
    }
    // Ascending keys: on a tie `max_by_key` keeps the last, so compare
    // counts and prefer the smaller step explicitly.
    steps
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(step, _)| step)
}

/// How the file indents: with tabs, or with spaces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Tabs,
    Spaces,
}

impl Style {
    /// `width` columns of indentation in this style (tabs first, then the
    /// spaces that do not make a whole tab).
    fn render(self, width: usize) -> String {
        match self {
            Self::Tabs => "\t".repeat(width / TAB_COLUMNS) + &" ".repeat(width % TAB_COLUMNS),
            Self::Spaces => " ".repeat(width),
        }
    }
}

/// The file's indentation, as the matched lines show it; where they are
/// not indented at all, as most of the file's indented lines are.
fn file_style<'a>(matched: &[&str], file: impl IntoIterator<Item = &'a str>) -> Style {
    if matched.iter().any(|indent| indent.contains('\t')) {
        return Style::Tabs;
    }
    if matched.iter().any(|indent| !indent.is_empty()) {
        return Style::Spaces;
    }
    let (mut tabs, mut spaces) = (0usize, 0usize);
    for line in file {
        match line.chars().next() {
            Some('\t') if !line.trim().is_empty() => tabs += 1,
            Some(' ') if !line.trim().is_empty() => spaces += 1,
            _ => {}
        }
    }
    if tabs > spaces {
        Style::Tabs
    } else {
        Style::Spaces
    }
}

/// An old-text indentation and the file's indentation of the line it matched.
struct Anchor<'a> {
    old: &'a str,
    old_columns: usize,
    file: &'a str,
}

/// Re-indents `new_lines` (the replacement of a whitespace-flexible match of
/// `old_lines` on `file_lines`) into the file's indentation.
///
/// Each non-blank old line says which file indentation its own indentation
/// stands for. A new line indented like an old line gets that line's file
/// indentation; one indented otherwise is placed from the nearest old
/// indentation at or below it, the difference converted from the old text's
/// indentation step to the file's (2 spaces to 4, 4 spaces to a tab, ...),
/// so the relative indentation inside newText is kept in the file's unit.
/// The first line always lands at the file's indentation of the first
/// matched line (as in the official server); when newText's first line is
/// not indented like oldText's, or oldText's indentation does not follow the
/// file's (equal indentation matched to different ones), newText is placed
/// from its first line alone. Blank lines become empty.
fn reindent(
    old_lines: &[&str],
    file_lines: &[&str],
    all_file_lines: &[&str],
    new_lines: &[&str],
) -> Vec<String> {
    let blank_or = |line: &str, indent: String| {
        let body = line.trim_start();
        if body.is_empty() {
            String::new()
        } else {
            indent + body
        }
    };
    let unchanged = || {
        new_lines
            .iter()
            .map(|l| blank_or(l, leading_ws(l).to_owned()))
            .collect()
    };
    let mut anchors: Vec<Anchor> = old_lines
        .iter()
        .zip(file_lines)
        .filter(|(old, _)| !old.trim().is_empty())
        .map(|(old, file)| {
            let old = leading_ws(old);
            Anchor {
                old,
                old_columns: columns(old),
                file: leading_ws(file),
            }
        })
        .collect();
    let (Some(first), Some(new_first)) = (
        anchors.first(),
        new_lines.iter().find(|l| !l.trim().is_empty()),
    ) else {
        return unchanged();
    };
    let (first_old, first_file) = (first.old, first.file);
    let new_first = leading_ws(new_first);

    let matched: Vec<&str> = anchors.iter().map(|a| a.file).collect();
    let style = file_style(&matched, all_file_lines.iter().copied());
    let file_unit = match style {
        Style::Tabs => Some(TAB_COLUMNS),
        Style::Spaces => indent_unit(file_lines.iter().copied())
            .or_else(|| indent_unit(all_file_lines.iter().copied())),
    };

    // Sorted by old indentation (stable: line order among equals); does
    // equal old indentation always stand for the same file indentation, and
    // deeper for deeper?
    anchors.sort_by_key(|a| a.old_columns);
    let consistent = anchors.windows(2).all(|pair| {
        if pair[0].old_columns == pair[1].old_columns {
            pair[0].file == pair[1].file
        } else {
            columns(pair[0].file) < columns(pair[1].file)
        }
    });
    let old_unit = || indent_unit(old_lines.iter().copied());
    let new_unit = || indent_unit(new_lines.iter().copied());
    let (anchors, old_unit) = if consistent && columns(new_first) == columns(first_old) {
        if anchors.iter().all(|a| a.old == a.file) {
            // oldText was indented as the file is: newText is too.
            return unchanged();
        }
        (anchors, old_unit().or_else(new_unit))
    } else {
        let only = Anchor {
            old: new_first,
            old_columns: columns(new_first),
            file: first_file,
        };
        (vec![only], new_unit().or_else(old_unit))
    };

    // Old-text columns to file columns: whole steps scaled, the rest kept.
    let convert = |delta: usize| match (old_unit, file_unit) {
        (Some(from), Some(to)) => delta / from * to + delta % from,
        _ => delta,
    };
    new_lines
        .iter()
        .map(|line| {
            let width = columns(leading_ws(line));
            // The deepest old indentation not deeper than this line (one
            // indented like an old line gets that line's file indentation),
            // else the shallowest.
            let at = anchors.partition_point(|a| a.old_columns <= width);
            let anchor = match at {
                0 => &anchors[0],
                _ => {
                    let deepest = anchors[at - 1].old_columns;
                    &anchors[anchors.partition_point(|a| a.old_columns < deepest)]
                }
            };
            let indent = if width >= anchor.old_columns {
                anchor.file.to_owned() + &style.render(convert(width - anchor.old_columns))
            } else {
                let target =
                    columns(anchor.file).saturating_sub(convert(anchor.old_columns - width));
                shorten(anchor.file, target, style)
            };
            blank_or(line, indent)
        })
        .collect()
}

/// The first `target` columns of a file indentation (its own characters as
/// far as they fit, then the rest in the file's style).
fn shorten(indent: &str, target: usize, style: Style) -> String {
    let mut kept = String::new();
    let mut width = 0;
    for c in indent.chars() {
        let w = columns(c.encode_utf8(&mut [0; 4]));
        if width + w > target {
            break;
        }
        kept.push(c);
        width += w;
    }
    kept + &style.render(target - width)
}

/// A whitespace-flexible match of `old` in `content`: the byte range of the
/// matched lines (without the last one's line break) and what replaces them
/// (`new`, re-indented into the file's indentation).
fn flexible_match(content: &str, old: &str, new: &str) -> Option<(Range<usize>, String)> {
    let old_lines: Vec<&str> = old.split('\n').collect();
    let content_lines: Vec<&str> = content.split('\n').collect();
    if old_lines.len() > content_lines.len() {
        return None;
    }
    let start = (0..=content_lines.len() - old_lines.len()).find(|&i| {
        old_lines
            .iter()
            .zip(&content_lines[i..])
            .all(|(o, c)| o.trim() == c.trim())
    })?;
    let end = start + old_lines.len();
    let new_lines: Vec<&str> = new.split('\n').collect();
    let reindented = reindent(
        &old_lines,
        &content_lines[start..end],
        &content_lines,
        &new_lines,
    );
    // Each line is followed by its `\n`, but the last.
    let from: usize = content_lines[..start].iter().map(|l| l.len() + 1).sum();
    let to = from
        + content_lines[start..end]
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>()
        - 1;
    Some((from..to, reindented.join("\n")))
}

/// The edit_file output: the diff in a fence longer than any backtick run in it.
pub fn fence_diff(diff: &str) -> String {
    let mut ticks = 3;
    while diff.contains(&"`".repeat(ticks)) {
        ticks += 1;
    }
    let fence = "`".repeat(ticks);
    format!("{fence}diff\n{diff}{fence}\n\n")
}

/// A unified diff exactly as jsdiff's `createTwoFilesPatch(path, path, old,
/// new, "original", "modified")` prints it (3 lines of context).
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    const CONTEXT: usize = 3;
    // Runs of lines, each line with its `\n` if it had one, as jsdiff's
    // diffLines gives them: removed before added.
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Same,
        Removed,
        Added,
    }
    let diff = TextDiff::from_lines(old, new);
    let mut runs: Vec<(Kind, Vec<&str>)> = Vec::new();
    for op in diff.ops() {
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let mut same = Vec::new();
        for change in diff.iter_changes(op) {
            match change.tag() {
                ChangeTag::Equal => same.push(change.value()),
                ChangeTag::Delete => removed.push(change.value()),
                ChangeTag::Insert => added.push(change.value()),
            }
        }
        for (kind, lines) in [
            (Kind::Same, same),
            (Kind::Removed, removed),
            (Kind::Added, added),
        ] {
            if lines.is_empty() {
                continue;
            }
            match runs.last_mut() {
                Some((last, existing)) if *last == kind => existing.extend(lines),
                _ => runs.push((kind, lines)),
            }
        }
    }
    // jsdiff appends an empty sentinel run to flush the last hunk.
    runs.push((Kind::Same, Vec::new()));

    struct Hunk {
        old_start: usize,
        old_lines: usize,
        new_start: usize,
        new_lines: usize,
        lines: Vec<String>,
    }
    let mut hunks: Vec<Hunk> = Vec::new();
    let (mut old_range_start, mut new_range_start) = (0usize, 0usize);
    let mut cur: Vec<String> = Vec::new();
    let (mut old_line, mut new_line) = (1usize, 1usize);
    let n = runs.len();
    for i in 0..n {
        let (kind, lines) = &runs[i];
        if *kind != Kind::Same {
            if old_range_start == 0 {
                old_range_start = old_line;
                new_range_start = new_line;
                if i > 0 {
                    let prev = &runs[i - 1].1;
                    let ctx = &prev[prev.len().saturating_sub(CONTEXT)..];
                    cur = ctx.iter().map(|l| format!(" {l}")).collect();
                    old_range_start -= cur.len();
                    new_range_start -= cur.len();
                }
            }
            let sign = if *kind == Kind::Added { '+' } else { '-' };
            cur.extend(lines.iter().map(|l| format!("{sign}{l}")));
            if *kind == Kind::Added {
                new_line += lines.len();
            } else {
                old_line += lines.len();
            }
        } else {
            if old_range_start != 0 {
                if lines.len() <= CONTEXT * 2 && i + 2 < n {
                    cur.extend(lines.iter().map(|l| format!(" {l}")));
                } else {
                    let ctx = lines.len().min(CONTEXT);
                    cur.extend(lines[..ctx].iter().map(|l| format!(" {l}")));
                    hunks.push(Hunk {
                        old_start: old_range_start,
                        old_lines: old_line - old_range_start + ctx,
                        new_start: new_range_start,
                        new_lines: new_line - new_range_start + ctx,
                        lines: std::mem::take(&mut cur),
                    });
                    old_range_start = 0;
                    new_range_start = 0;
                }
            }
            old_line += lines.len();
            new_line += lines.len();
        }
    }

    let mut out = Vec::new();
    out.push(format!("Index: {path}"));
    out.push("=".repeat(67));
    out.push(format!("--- {path}\toriginal"));
    out.push(format!("+++ {path}\tmodified"));
    for hunk in hunks {
        let old_start = if hunk.old_lines == 0 {
            hunk.old_start - 1
        } else {
            hunk.old_start
        };
        let new_start = if hunk.new_lines == 0 {
            hunk.new_start - 1
        } else {
            hunk.new_start
        };
        out.push(format!(
            "@@ -{old_start},{} +{new_start},{} @@",
            hunk.old_lines, hunk.new_lines
        ));
        for line in hunk.lines {
            match line.strip_suffix('\n') {
                Some(body) => out.push(body.to_owned()),
                None => {
                    out.push(line);
                    out.push("\\ No newline at end of file".to_owned());
                }
            }
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::TextEncoding;

    fn edit(old: &str, new: &str) -> EditOperation {
        EditOperation {
            old_text: old.into(),
            new_text: new.into(),
        }
    }

    #[test]
    fn exact_match_replaces_first_occurrence_only() {
        let out = apply_edits("a b a", &[edit("a", "X")]).unwrap();
        assert_eq!(out, "X b a");
        // `$&` is not special (the official server guards String.replace too).
        assert_eq!(apply_edits("a", &[edit("a", "$&$&")]).unwrap(), "$&$&");
    }

    #[test]
    fn unicode_indentation_is_re_based_by_characters() {
        // Found by the edit_matching fuzz target: U+3000 indentation with a
        // newText line indented less than its first line sliced inside a
        // character and panicked.
        let out = apply_edits("\u{3000}x", &[edit(" x", " y\nz")]).unwrap();
        assert_eq!(out, "\u{3000}y\nz");
        let out = apply_edits("\u{3000}\u{3000}x", &[edit("  x", "  y\n z")]).unwrap();
        assert_eq!(out, "\u{3000}\u{3000}y\n\u{3000}z");
    }

    #[test]
    fn edits_apply_in_order_and_errors_name_the_edit() {
        let out = apply_edits("one\ntwo\n", &[edit("one", "1"), edit("1\ntwo", "12")]).unwrap();
        assert_eq!(out, "12\n");
        let err = apply_edits("one", &[edit("zz", "y")])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "Could not find exact match for edit:\nzz");
    }

    #[test]
    fn flexible_match_keeps_file_and_relative_indentation() {
        let file = "    if (x) {\n        foo();\n        bar();\n    }\n";
        let out = apply_edits(file, &[edit("foo();\nbar();", "foo();\n  baz();\nbar();")]).unwrap();
        // newText's one step deeper (2 spaces, its own unit) is one step of
        // the file's (4 spaces). The official server loses the indentation
        // here ("  baz();", "bar();").
        assert_eq!(
            out,
            "    if (x) {\n        foo();\n            baz();\n        bar();\n    }\n"
        );
        // oldText indented unlike the file (both lines at one level): newText
        // is placed from its first line (the official server gives 6 spaces).
        let out = apply_edits(
            file,
            &[edit("  if (x) {\n  foo();", "if (y) {\n    foo(1);")],
        )
        .unwrap();
        assert_eq!(
            out,
            "    if (y) {\n        foo(1);\n        bar();\n    }\n"
        );
    }

    /// (file, oldText, newText, the file after the edit). What the official
    /// server makes of each is in the comment above it.
    const REINDENT_CASES: [(&str, &str, &str, &str); 12] = [
        // A 4-space file edited with 2-space text.
        // Official: "    if y:\n    a()\n    b()\n      c()".
        (
            "def f():\n    if x:\n        a()\n    return\n",
            "  if x:\n    a()",
            "  if y:\n    a()\n    b()\n      c()",
            "def f():\n    if y:\n        a()\n        b()\n            c()\n    return\n",
        ),
        // A tab file edited with 4-space text.
        // Official: "\tif y {\n\ta();\n\t    if z {\n            b();\n        }\n    }".
        (
            "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n",
            "    if x {\n        a();\n    }",
            "    if y {\n        a();\n        if z {\n            b();\n        }\n    }",
            "fn f() {\n\tif y {\n\t\ta();\n\t\tif z {\n\t\t\tb();\n\t\t}\n\t}\n}\n",
        ),
        // A tab file edited with 2-space text.
        // Official: "\tif y {\n\ta();\n\t  b();\n      c();\n  }".
        (
            "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n",
            "  if x {\n    a();\n  }",
            "  if y {\n    a();\n    b();\n      c();\n  }",
            "fn f() {\n\tif y {\n\t\ta();\n\t\tb();\n\t\t\tc();\n\t}\n}\n",
        ),
        // A 2-space file edited with 4-space text.
        // Official: "  b:\n  c: 2\n        d:\n            e: 3".
        (
            "a:\n  b:\n    c: 1\n",
            "    b:\n        c: 1",
            "    b:\n        c: 2\n        d:\n            e: 3",
            "a:\n  b:\n    c: 2\n    d:\n      e: 3\n",
        ),
        // A 4-space file edited with tab text.
        // Official: "    def f(self):\n    if x:\n\t\t\treturn 2\n\t\treturn 1".
        (
            "class A:\n    def f(self):\n        return 1\n",
            "\tdef f(self):\n\t\treturn 1",
            "\tdef f(self):\n\t\tif x:\n\t\t\treturn 2\n\t\treturn 1",
            "class A:\n    def f(self):\n        if x:\n            return 2\n        return 1\n",
        ),
        // Mixed: tabs, then spaces aligning a continuation line.
        // Official: "\tcall(a,\n\tb,\n     c);".
        (
            "\tcall(a,\n\t     b);\n",
            "call(a,\n     b);",
            "call(a,\n     b,\n     c);",
            "\tcall(a,\n\t     b,\n\t     c);\n",
        ),
        // Mixed: a 2-space function and a 4-space one; each keeps its own.
        // Official: "    if c:\n    y()\n    if d:\n        z()".
        (
            "def f():\n  if a:\n    x()\n\ndef g():\n    if b:\n        y()\n",
            "if b:\n    y()",
            "if c:\n    y()\n    if d:\n        z()",
            "def f():\n  if a:\n    x()\n\ndef g():\n    if c:\n        y()\n        if d:\n            z()\n",
        ),
        // Official: "  if a:\n  x()\n  if c:\n    w()".
        (
            "def f():\n  if a:\n    x()\n\ndef g():\n    if b:\n        y()\n",
            "if a:\n  x()",
            "if a:\n  x()\n  if c:\n    w()",
            "def f():\n  if a:\n    x()\n    if c:\n      w()\n\ndef g():\n    if b:\n        y()\n",
        ),
        // newText without indentation: its first line takes the file's.
        // Official: the same.
        (
            "def f():\n    return x\n",
            "\treturn x",
            "return y",
            "def f():\n    return y\n",
        ),
        // Lines dedented below oldText, converted too.
        // Official: "    return 1\n\ndef g():\n  pass".
        (
            "def f():\n    return 1\n",
            "  return 1  ",
            "  return 1\n\ndef g():\n  pass",
            "def f():\n    return 1\n\ndef g():\n    pass\n",
        ),
        // oldText indented as the file is (only trailing space differs):
        // newText is kept as written, its 2-space alignment too.
        // Official: the same.
        (
            "def f():\n    x = 1\n    y = 2\n",
            "    x = 1 \n    y = 2",
            "    x = 1\n    y = [\n      3]",
            "def f():\n    x = 1\n    y = [\n      3]\n",
        ),
        // Blank lines become empty, whatever whitespace they had.
        // Official: "\tif y {\n  \n\ta();\n\t}" (the blank line kept as sent).
        (
            "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n",
            "  if x {\n    a();\n  }",
            "  if y {\n  \n    a();\n  }",
            "fn f() {\n\tif y {\n\n\t\ta();\n\t}\n}\n",
        ),
    ];

    #[test]
    fn flexible_match_maps_indentation_into_the_files() {
        for (file, old, new, expected) in REINDENT_CASES {
            assert!(!file.contains(old), "{old:?} must not match exactly");
            let out = apply_edits(file, &[edit(old, new)]).unwrap();
            assert_eq!(
                out, expected,
                "file {file:?}, oldText {old:?}, newText {new:?}"
            );
        }
    }

    #[test]
    fn exact_matches_are_replaced_as_written() {
        // Even where newText's indentation differs from the file's.
        let file = "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n";
        let out = apply_edits(file, &[edit("\t\ta();", "\t\ta();\n    b();")]).unwrap();
        assert_eq!(out, "fn f() {\n\tif x {\n\t\ta();\n    b();\n\t}\n}\n");
        let file = "    a\n        b\n";
        let out = apply_edits(file, &[edit("a\n        b", "a\n  b\n\tc")]).unwrap();
        assert_eq!(out, "    a\n  b\n\tc\n");
    }

    #[test]
    fn indentation_helpers() {
        assert_eq!(columns(""), 0);
        assert_eq!(columns("\t  "), TAB_COLUMNS + 2);
        assert_eq!(columns("\u{3000}"), 1);
        assert_eq!(indent_unit(["a", "  b", "    c", "  d", "e"]), Some(2));
        assert_eq!(
            indent_unit(["a", "    b", "", "    c", "      d", "        e"]),
            Some(2)
        );
        assert_eq!(
            indent_unit(["a", "    b", "a", "    b", "      c"]),
            Some(4)
        );
        assert_eq!(
            indent_unit(["a", "  b", "a", "    b"]),
            Some(2),
            "a tie: the smaller"
        );
        assert_eq!(indent_unit(["  a", "  b", "a"]), None);
        assert_eq!(Style::Tabs.render(9), "\t\t ");
        assert_eq!(Style::Spaces.render(3), "   ");
        assert_eq!(shorten("\t\t", 4, Style::Tabs), "\t");
        assert_eq!(shorten("\t\t", 6, Style::Tabs), "\t  ");
        assert_eq!(shorten("        ", 2, Style::Spaces), "  ");
        assert_eq!(shorten("\u{3000}\u{3000}", 1, Style::Spaces), "\u{3000}");
    }

    #[test]
    fn reindent_keeps_bodies_and_lines_on_generated_edits() {
        // The edit_matching fuzz target's specification, on a deterministic
        // sample: whatever the indentation, only indentation changes.
        let indents = [
            "", " ", "  ", "\t", "    ", "\t  ", "        ", "\u{3000}", "\t\t",
        ];
        let bodies = ["a", "b()", "{", "}", "", "c d"];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut checked = 0;
        for _ in 0..3000 {
            let file_lines: Vec<String> = (0..1 + next(8))
                .map(|_| {
                    format!(
                        "{}{}",
                        indents[next(indents.len())],
                        bodies[next(bodies.len())]
                    )
                })
                .collect();
            let file = file_lines.join("\n");
            let start = next(file_lines.len());
            let len = 1 + next(file_lines.len() - start);
            let old: Vec<String> = file_lines[start..start + len]
                .iter()
                .map(|l| format!("{}{}", indents[next(indents.len())], l.trim()))
                .collect();
            let old = old.join("\n");
            let new: Vec<String> = (0..1 + next(6))
                .map(|_| {
                    format!(
                        "{}{}",
                        indents[next(indents.len())],
                        bodies[next(bodies.len())]
                    )
                })
                .collect();
            let new_text = new.join("\n");
            let Ok(out) = apply_edits(&file, &[edit(&old, &new_text)]) else {
                continue; // an empty oldText or an unmatched one
            };
            if file.contains(&old) {
                continue; // exact: replaced as written
            }
            checked += 1;
            let out: Vec<&str> = out.split('\n').collect();
            let (lines, old_n) = (
                file.split('\n').collect::<Vec<_>>(),
                old.split('\n').count(),
            );
            let at = (0..=lines.len() - old_n)
                .find(|&i| {
                    old.split('\n')
                        .zip(&lines[i..])
                        .all(|(o, c)| o.trim() == c.trim())
                })
                .unwrap();
            assert_eq!(
                out.len(),
                lines.len() - old_n + new.len(),
                "{file:?} {old:?} {new_text:?}"
            );
            assert_eq!(&out[..at], &lines[..at]);
            assert_eq!(&out[at + new.len()..], &lines[at + old_n..]);
            for (got, want) in out[at..at + new.len()].iter().zip(&new) {
                let body = want.trim_start();
                if body.is_empty() {
                    assert_eq!(*got, "");
                } else {
                    let indent = got.strip_suffix(body).unwrap();
                    assert!(indent.chars().all(char::is_whitespace), "{got:?}");
                }
            }
        }
        assert!(checked > 1000, "only {checked} flexible matches");
    }

    /// `bytes` after edit_file's `edits` (`Err` if refused, the file then
    /// checked to be untouched).
    fn edited(bytes: &[u8], edits: &[EditOperation]) -> ToolResult<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, bytes).unwrap();
        let result = edit_path(&f, edits, false, 1 << 20);
        let after = std::fs::read(&f).unwrap();
        match result {
            Ok(_) => Ok(after),
            Err(err) => {
                assert_eq!(after, bytes, "a refused edit left the file alone");
                Err(err)
            }
        }
    }

    #[test]
    fn crlf_files_stay_crlf() {
        // LF oldText matches CRLF text; newText's lines are written CRLF.
        assert_eq!(
            edited(b"a\r\nb\r\nc\r\n", &[edit("a\nb", "x\ny\nz")]).unwrap(),
            b"x\r\ny\r\nz\r\nc\r\n"
        );
        assert_eq!(
            edited(b"a\r\nb\r\n", &[edit("a\r\nb", "c")]).unwrap(),
            b"c\r\n"
        );
        // A whitespace-flexible match in a CRLF tab file: re-indented, CRLF.
        assert_eq!(
            edited(
                b"fn f() {\r\n\tif x {\r\n\t\ta();\r\n\t}\r\n}\r\n",
                &[edit(
                    "  if x {\n    a();\n  }",
                    "  if y {\n    a();\n    b();\n  }"
                )]
            )
            .unwrap(),
            b"fn f() {\r\n\tif y {\r\n\t\ta();\r\n\t\tb();\r\n\t}\r\n}\r\n"
        );
        // Mixed: lines not edited keep their own; an added line takes the
        // break of the line it is added to.
        assert_eq!(
            edited(b"a\r\nb\nc\r\n", &[edit("b", "b\nb2"), edit("c", "c\nc2")]).unwrap(),
            b"a\r\nb\nb2\nc\r\nc2\r\n"
        );
        // LF files, and files without a break, as before.
        assert_eq!(edited(b"a\nb", &[edit("b", "b\nc")]).unwrap(), b"a\nb\nc");
    }

    #[test]
    fn boms_and_encodings_are_written_back() {
        // A UTF-8 BOM is kept, and does not stop a flexible match of line 1.
        assert_eq!(
            edited(b"\xEF\xBB\xBF  a\r\n  b\r\n", &[edit("a\nb", "c\nd")]).unwrap(),
            b"\xEF\xBB\xBF  c\r\n  d\r\n"
        );
        for encoding in [TextEncoding::Utf16Le, TextEncoding::Utf16Be] {
            let before = encoding.encode("caf\u{e9}\r\n\u{2192} x\r\n").unwrap();
            assert_eq!(
                edited(&before, &[edit("\u{2192} x", "\u{2192} y\n\u{1F600}")]).unwrap(),
                encoding
                    .encode("caf\u{e9}\r\n\u{2192} y\r\n\u{1F600}\r\n")
                    .unwrap(),
                "{encoding:?}"
            );
        }
        assert_eq!(
            edited(
                b"caf\xE9 \x80\r\n",
                &[edit("\u{20AC}", "\u{20AC}5 na\u{ef}ve")]
            )
            .unwrap(),
            b"caf\xE9 \x805 na\xEFve\r\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_write_back_as_it_was() {
        let err = edited(
            b"caf\xE9\n",
            &[edit("caf\u{e9}", "caf\u{e9} \u{2192} \u{4E2D}")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "Windows-1252 text, which cannot hold U+2192 ('\u{2192}') on line 1, and 1 more"
            ) && err.contains("nothing was written"),
            "{err}"
        );
        let err = edited(b"\x89PNG\r\n\x1a\n\0\0", &[edit("PNG", "JPG")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("NUL bytes") && err.contains("left the file alone"),
            "{err}"
        );
        let err = edited(b"\xFF\xFEa\0b", &[edit("a", "c")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid UTF-16LE"), "{err}");
        let err = edited(
            &["\u{e9}t\u{e9} ".as_bytes(), b"\xE9"].concat(),
            &[edit("t", "T")],
        );
        let err = err.unwrap_err().to_string();
        assert!(err.contains("mostly UTF-8"), "{err}");
        // A dry run refuses too, and writes nothing when it would succeed.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"a\xE9\r\n").unwrap();
        let err = edit_path(&f, &[edit("a", "\u{2192}")], true, 100).unwrap_err();
        assert!(err.to_string().contains("cannot hold"), "{err}");
        let diff = edit_path(&f, &[edit("a", "b")], true, 100).unwrap();
        assert!(diff.contains("-a\u{e9}\n+b\u{e9}\n"), "{diff}");
        assert_eq!(std::fs::read(&f).unwrap(), b"a\xE9\r\n");
    }

    #[test]
    fn diff_matches_jsdiff_format() {
        let d = unified_diff(
            "/r/five.txt",
            "l1\nl2\nl3\nl4\nl5\n",
            "l1\nl2\nL3\nextra\nl4\nl5\n",
        );
        assert_eq!(
            d,
            "Index: /r/five.txt\n===================================================================\n--- /r/five.txt\toriginal\n+++ /r/five.txt\tmodified\n@@ -1,5 +1,6 @@\n l1\n l2\n-l3\n+L3\n+extra\n l4\n l5\n"
        );
        assert_eq!(fence_diff("x\n"), "```diff\nx\n```\n\n");
        assert!(fence_diff("```\n").starts_with("````diff\n"));
    }

    #[test]
    fn diff_of_identical_texts_has_no_hunks() {
        assert_eq!(
            unified_diff("f", "a\n", "a\n"),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
        );
    }
}
