//! edit_file's matching: `mcp_filesystem::tools::edit::apply_edits` (exact
//! match first, else a line-by-line match ignoring surrounding whitespace,
//! re-indented to the file's indentation), then the diff it shows
//! (`unified_diff`, `fence_diff`).
//!
//! Edits are free text or cut from the content (a byte range, or whole
//! lines with their indentation changed) so that both matching paths are
//! reached. Checked:
//! - no panic, in the matching or the diff;
//! - applying the edits at once equals applying them one by one;
//! - each step: an empty oldText is an error; an oldText found in the text
//!   replaces its first occurrence exactly (so newText == oldText leaves the
//!   text unchanged); else, if some run of lines matches ignoring surrounding
//!   whitespace, the first such run is replaced: lines before and after it
//!   are unchanged, and each replacement line is a newText line with only its
//!   leading whitespace changed (blank lines made empty); else an error;
//! - the diff has a hunk exactly when the texts differ, and the fence is
//!   longer than any backtick run in it.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_filesystem::tools::edit::{
    EditOperation, apply_edits, fence_diff, normalize_line_endings, unified_diff,
};

#[derive(Debug, Arbitrary)]
enum Indent {
    Same,
    Strip,
    Spaces(u8),
    Tab,
    /// Unicode whitespace that `trim` removes (NBSP, ideographic space, ...).
    Unicode(u8),
    TrailingSpaces,
}

#[derive(Debug, Arbitrary)]
enum Text {
    Free(String),
    /// A byte range of the current content (snapped to char boundaries).
    Slice {
        from: u16,
        len: u16,
    },
    /// Whole lines of the content, re-indented.
    Lines {
        from: u8,
        count: u8,
        indent: Indent,
    },
}

#[derive(Debug, Arbitrary)]
enum NewText {
    Text(Text),
    SameAsOld,
    /// The old text with each line's indentation changed.
    Reindented(Indent),
}

#[derive(Debug, Arbitrary)]
struct Edit {
    old: Text,
    new: NewText,
    crlf: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    content: String,
    /// Re-indents the content's lines first (reaches Unicode indentation).
    content_indent: Option<Indent>,
    edits: Vec<Edit>,
    path: String,
}

const UNICODE_SPACES: [char; 6] = [
    '\u{a0}', '\u{3000}', '\u{2003}', '\u{85}', '\u{feff}', '\u{1680}',
];

fn reindent(text: &str, indent: &Indent) -> String {
    text.split('\n')
        .map(|line| match indent {
            Indent::Same => line.to_owned(),
            Indent::Strip => line.trim_start().to_owned(),
            Indent::Spaces(n) => {
                format!("{}{}", " ".repeat(usize::from(*n % 17)), line.trim_start())
            }
            Indent::Tab => format!("\t{line}"),
            Indent::Unicode(i) => format!(
                "{}{}",
                UNICODE_SPACES[usize::from(*i) % UNICODE_SPACES.len()],
                line.trim_start()
            ),
            Indent::TrailingSpaces => format!("{line}  "),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text(spec: &Text, content: &str) -> String {
    match spec {
        Text::Free(s) => s.clone(),
        Text::Slice { from, len } => {
            let from = content.floor_char_boundary(usize::from(*from) % (content.len() + 1));
            let to = content.floor_char_boundary(from.saturating_add(usize::from(*len)));
            content[from..to.max(from)].to_owned()
        }
        Text::Lines {
            from,
            count,
            indent,
        } => {
            let lines: Vec<&str> = content.split('\n').collect();
            let from = usize::from(*from) % lines.len();
            let to = (from + usize::from(*count % 8) + 1).min(lines.len());
            reindent(&lines[from..to].join("\n"), indent)
        }
    }
}

/// The first run of lines of `content` equal to `old`'s ignoring
/// surrounding whitespace.
fn flexible_match(content: &str, old: &str) -> Option<usize> {
    let old_lines: Vec<&str> = old.split('\n').collect();
    let lines: Vec<&str> = content.split('\n').collect();
    if old_lines.len() > lines.len() {
        return None;
    }
    (0..=lines.len() - old_lines.len()).find(|&i| {
        old_lines
            .iter()
            .zip(&lines[i..])
            .all(|(o, c)| o.trim() == c.trim())
    })
}

fn is_ws(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// Checks one step of apply_edits against its specification.
fn check_step(before: &str, edit: &EditOperation, result: &Result<String, String>) {
    let old = normalize_line_endings(&edit.old_text);
    let new = normalize_line_endings(&edit.new_text);
    if old.is_empty() {
        assert!(result.is_err(), "empty oldText accepted: {result:?}");
        return;
    }
    if before.contains(&old) {
        let expected = before.replacen(&old, &new, 1);
        assert_eq!(
            result.as_deref(),
            Ok(expected.as_str()),
            "exact match of {old:?} in {before:?}"
        );
        if new == old {
            assert_eq!(result.as_deref(), Ok(before));
        }
        return;
    }
    let Some(start) = flexible_match(before, &old) else {
        assert!(
            result.is_err(),
            "no match of {old:?} in {before:?}, yet {result:?}"
        );
        return;
    };
    let after = match result {
        Ok(after) => after,
        Err(err) => panic!("{old:?} matches lines {start}.. of {before:?}, yet error {err}"),
    };
    let lines: Vec<&str> = before.split('\n').collect();
    let old_n = old.split('\n').count();
    let new_lines: Vec<&str> = new.split('\n').collect();
    let out: Vec<&str> = after.split('\n').collect();
    assert_eq!(
        out.len(),
        lines.len() - old_n + new_lines.len(),
        "line count after replacing {old:?} by {new:?} in {before:?}: {after:?}"
    );
    assert_eq!(
        &out[..start],
        &lines[..start],
        "lines before the match changed"
    );
    assert_eq!(
        &out[start + new_lines.len()..],
        &lines[start + old_n..],
        "lines after the match changed"
    );
    for (got, want) in out[start..start + new_lines.len()].iter().zip(&new_lines) {
        let body = want.trim_start();
        if body.is_empty() {
            assert_eq!(*got, "", "a blank newText line is not empty: {got:?}");
        } else {
            let indent = got.strip_suffix(body).unwrap_or_else(|| {
                panic!("replacement line {got:?} does not end with newText's {body:?}")
            });
            assert!(
                is_ws(indent),
                "replacement line {got:?} has a non-blank indent"
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let content = normalize_line_endings(&input.content);
    let content = match &input.content_indent {
        Some(indent) => reindent(&content, indent),
        None => content,
    };
    let mut edits = Vec::new();
    for edit in input.edits.iter().take(8) {
        let old = text(&edit.old, &content);
        let new = match &edit.new {
            NewText::Text(spec) => text(spec, &content),
            NewText::SameAsOld => old.clone(),
            NewText::Reindented(indent) => reindent(&old, indent),
        };
        let (old, new) = if edit.crlf {
            (old.replace('\n', "\r\n"), new.replace('\n', "\r\n"))
        } else {
            (old, new)
        };
        edits.push(EditOperation {
            old_text: old,
            new_text: new,
        });
    }

    let all = apply_edits(&content, &edits).map_err(|e| e.to_string());

    // One by one, each step checked.
    let mut current = Ok(content.clone());
    for edit in &edits {
        let Ok(before) = &current else { break };
        let step = apply_edits(before, std::slice::from_ref(edit)).map_err(|e| e.to_string());
        check_step(before, edit, &step);
        current = step;
    }
    match (&all, &current) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "all at once differs from one by one"),
        (Err(_), Err(_)) => {}
        _ => panic!("all at once {all:?}, one by one {current:?}"),
    }

    if let Ok(modified) = &all {
        // Any path renders (it may hold newlines); the hunk check uses a plain one.
        let _ = unified_diff(&input.path, &content, modified);
        let diff = unified_diff("f", &content, modified);
        let hunks = diff.lines().any(|l| l.starts_with("@@ "));
        assert_eq!(
            hunks,
            content != *modified,
            "diff of {content:?} -> {modified:?}:\n{diff}"
        );
        let fenced = fence_diff(&diff);
        let ticks = fenced.chars().take_while(|&c| c == '`').count();
        assert!(ticks >= 3 && !diff.contains(&"`".repeat(ticks)));
    }
});
