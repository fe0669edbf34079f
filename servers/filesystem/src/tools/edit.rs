//! edit_file: exact or whitespace-flexible replacements, shown as a unified
//! diff in the format of the `diff` npm package (`createTwoFilesPatch`).

use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::fsutil;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

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
        description = "Make line-based edits to a text file. Each edit replaces exact line sequences with new content; if an oldText does not match exactly, it is matched line by line ignoring leading and trailing whitespace, and the replacement keeps the file's indentation. Edits apply in order; if any edit does not match, nothing is written. Returns a git-style diff showing the changes made. Use dryRun to preview. The write is atomic. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Edit File", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn edit_file(
        &self,
        Parameters(p): Parameters<EditParams>,
    ) -> ToolResult<CallToolResult> {
        let path = self.sandbox.resolve_for_write(&p.path)?;
        let max = self.config.max_read_bytes;
        let text = blocking(move || {
            let original =
                fsutil::read_to_string_limited(&path, max).map_err(|e| io_error(&e, &path))?;
            let original = normalize_line_endings(&original);
            let modified = apply_edits(&original, &p.edits)?;
            let diff = unified_diff(&path.display().to_string(), &original, &modified);
            if !p.dry_run {
                fsutil::atomic_write(&path, modified.as_bytes())
                    .map_err(|e| io_error(&e, &path))?;
            }
            Ok(fence_diff(&diff))
        })
        .await?;
        Ok(text_result(text))
    }
}

pub fn normalize_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// Applies `edits` in order: an exact match of `oldText` first (its first
/// occurrence), else a line-by-line match ignoring surrounding whitespace,
/// whose replacement is re-indented to the file's indentation.
pub fn apply_edits(content: &str, edits: &[EditOperation]) -> Result<String, ToolError> {
    let mut modified = content.to_owned();
    for (index, edit) in edits.iter().enumerate() {
        let old = normalize_line_endings(&edit.old_text);
        let new = normalize_line_endings(&edit.new_text);
        if old.is_empty() {
            return Err(ToolError::new(format!(
                "Edit {} has an empty oldText; say which text to replace",
                index + 1
            )));
        }
        if let Some(at) = modified.find(&old) {
            modified.replace_range(at..at + old.len(), &new);
            continue;
        }
        match flexible_replace(&modified, &old, &new) {
            Some(next) => modified = next,
            None => {
                return Err(ToolError::new(format!(
                    "Could not find exact match for edit:\n{}",
                    edit.old_text
                )));
            }
        }
    }
    Ok(modified)
}

fn leading_ws(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn flexible_replace(content: &str, old: &str, new: &str) -> Option<String> {
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
    let file_indent = leading_ws(content_lines[start]);
    let new_lines: Vec<&str> = new.split('\n').collect();
    // The indentation the model used for its first line is the baseline:
    // every line keeps its indentation relative to it, re-based on the file's.
    let base = leading_ws(new_lines[0]);
    let reindented: Vec<String> = new_lines
        .iter()
        .map(|line| {
            let body = line.trim_start();
            if body.is_empty() {
                return String::new();
            }
            let indent = leading_ws(line);
            if let Some(extra) = indent.strip_prefix(base) {
                return format!("{file_indent}{extra}{body}");
            }
            // Counted in characters: indentation may be any Unicode
            // whitespace (U+3000 is three bytes).
            let (width, base_width) = (indent.chars().count(), base.chars().count());
            if width >= base_width {
                format!("{file_indent}{}{body}", " ".repeat(width - base_width))
            } else {
                let keep = file_indent
                    .chars()
                    .count()
                    .saturating_sub(base_width - width);
                let kept: String = file_indent.chars().take(keep).collect();
                format!("{kept}{body}")
            }
        })
        .collect();
    let mut lines: Vec<String> = content_lines[..start]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    lines.extend(reindented);
    lines.extend(
        content_lines[start + old_lines.len()..]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    Some(lines.join("\n"))
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

/// Whether `path` can be edited (used by tests).
#[cfg(test)]
fn edit_in_place(path: &std::path::Path, edits: &[EditOperation]) -> ToolResult<String> {
    let original = normalize_line_endings(&std::fs::read_to_string(path).unwrap());
    let modified = apply_edits(&original, edits)?;
    std::fs::write(path, &modified).unwrap();
    Ok(modified)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // The official server loses the indentation here ("  baz();", "bar();").
        assert_eq!(
            out,
            "    if (x) {\n        foo();\n          baz();\n        bar();\n    }\n"
        );
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

    #[test]
    fn crlf_is_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "a\r\nb\r\n").unwrap();
        assert_eq!(edit_in_place(&f, &[edit("a\r\nb", "c")]).unwrap(), "c\n");
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
