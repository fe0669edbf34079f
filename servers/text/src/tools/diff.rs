//! diff: unified diffs, or line/word/character changes as structured hunks.

use std::time::{Duration, Instant};

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use rustc_hash::FxHashMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use similar::{
    Algorithm, DiffOp, DiffTag, DiffableStr, TextDiff, capture_diff_slices_deadline, diff_ratio,
    group_diff_ops,
};

use crate::TextServer;
use crate::input::{Int, ListPaging, PageInfo, TextPage, TextPaging, check_opt, data, schema};

/// Diffs give up on the optimal answer (and return a correct, larger one)
/// after this long.
const DIFF_TIMEOUT: Duration = Duration::from_secs(5);

/// Most lines of context around a unified hunk (hunks share their context,
/// so a diff is never longer than both texts, whatever this is).
pub const MAX_DIFF_CONTEXT: u64 = 1_000_000;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiffParams {
    /// The old text (or give `path_a`).
    #[serde(default)]
    pub a: Option<String>,
    /// The new text (or give `path_b`).
    #[serde(default)]
    pub b: Option<String>,
    /// A file inside the allowed directories to use as the old text.
    #[serde(default)]
    pub path_a: Option<String>,
    /// A file inside the allowed directories to use as the new text.
    #[serde(default)]
    pub path_b: Option<String>,
    /// "unified" (default): a unified diff like `diff -u`; "lines", "words"
    /// or "chars": the changes as structured hunks at that granularity.
    #[serde(default)]
    pub mode: Option<String>,
    /// Lines of context around each unified hunk, 0 to 1000000. Default 3.
    #[serde(default)]
    pub context: Option<Int<0, MAX_DIFF_CONTEXT>>,
    #[serde(flatten)]
    pub text_paging: TextPaging,
    #[serde(flatten)]
    pub paging: ListPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Hunk {
    /// "delete", "insert" or "replace".
    pub tag: String,
    /// Where the change is in the old text: 1-based line in "lines" mode,
    /// 0-based character offset in "words" and "chars" modes.
    pub old_start: usize,
    /// How many lines/words/chars of the old text it covers.
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    /// The old text of the change (empty for an insert).
    pub old: String,
    /// The new text of the change (empty for a delete).
    pub new: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffOutput {
    pub mode: String,
    /// Whether the texts are equal.
    pub identical: bool,
    /// Units (lines, words or chars) only in the old text.
    pub removed: usize,
    /// Units only in the new text.
    pub added: usize,
    /// Similarity from 0 to 1 at this granularity.
    pub similarity: f32,
    /// The unified diff ("unified" mode), paged by start_index/max_length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified: Option<TextPage>,
    /// The changes (other modes), paged by offset/limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hunks: Option<Vec<Hunk>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<PageInfo>,
}

#[tool_router(router = diff_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Diff Texts",
        description = "Compare two texts exactly: `a`/`b` inline or `path_a`/`path_b` files (mixable). mode \"unified\" (default) gives a unified diff with `context` lines (default 3); \"lines\", \"words\" or \"chars\" give the changes as structured hunks with positions. Also reports added/removed counts and similarity. Lines end at `\\n` only, as in GNU diff and patch (a lone `\\r` is part of its line; a last line without `\\n` is marked `\\ No newline at end of file`), so every unified diff applies with `patch`. Positions: lines 1-based; word and char offsets in characters (Unicode scalar values), 0-based.",
        output_schema = schema::<DiffOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn diff(&self, Parameters(p): Parameters<DiffParams>) -> ToolResult<CallToolResult> {
        let context = check_opt(&p.context, "context")?.unwrap_or(3);
        p.text_paging.check()?;
        p.paging.check()?;
        let mode = p.mode.unwrap_or_else(|| "unified".to_owned());
        if !["unified", "lines", "words", "chars"].contains(&mode.as_str()) {
            return Err(ToolError::new(format!(
                "unknown mode '{mode}'; use unified, lines, words or chars"
            )));
        }
        let label_a = p.path_a.clone().unwrap_or_else(|| "a".to_owned());
        let label_b = p.path_b.clone().unwrap_or_else(|| "b".to_owned());
        let a = self.load_named(p.a, p.path_a, "a", "path_a").await?.text;
        let b = self.load_named(p.b, p.path_b, "b", "path_b").await?.text;
        let text_paging = p.text_paging;
        let paging = p.paging;
        let out = blocking_unless_small(a.len() + b.len(), move || {
            Ok(compare(
                &a,
                &b,
                &mode,
                context,
                &label_a,
                &label_b,
                &text_paging,
                &paging,
            ))
        })
        .await?;
        data(&out)
    }
}

/// A unified diff of `old` and `new` (empty when equal).
pub fn unified(old: &str, new: &str, label_old: &str, label_new: &str, context: usize) -> String {
    Edit::lines(old, new).unified(context, label_old, label_new)
}

/// Two texts cut into units (lines, words or chars) and the shortest edit
/// script between them.
struct Edit<'a> {
    old: Vec<&'a str>,
    new: Vec<&'a str>,
    ops: Vec<DiffOp>,
}

impl<'a> Edit<'a> {
    /// Lines, with their `\n`, cut as GNU diff cuts them. Each
    /// distinct line becomes one integer (one fast hash per line), then
    /// `similar`'s Myers diff runs over the integers: the same script as
    /// `TextDiff::diff_slices` over the same lines.
    fn lines(old: &'a str, new: &'a str) -> Self {
        let (old, new) = (split_lines(old), split_lines(new));
        let mut ids: FxHashMap<&str, u32> =
            FxHashMap::with_capacity_and_hasher(old.len(), Default::default());
        let mut id_of = |line: &'a str| {
            let next = ids.len() as u32;
            *ids.entry(line).or_insert(next)
        };
        let old_ids: Vec<u32> = old.iter().map(|l| id_of(l)).collect();
        let new_ids: Vec<u32> = new.iter().map(|l| id_of(l)).collect();
        let deadline = Instant::now() + DIFF_TIMEOUT;
        let ops =
            capture_diff_slices_deadline(Algorithm::Myers, &old_ids, &new_ids, Some(deadline));
        Edit { old, new, ops }
    }

    /// Words or characters, through `similar`'s text diff.
    fn tokens(old: &'a str, new: &'a str, words: bool) -> Self {
        let cut = |text: &'a str| {
            if words {
                text.tokenize_words()
            } else {
                text.tokenize_chars()
            }
        };
        let (old, new) = (cut(old), cut(new));
        let ops = TextDiff::configure()
            .timeout(DIFF_TIMEOUT)
            .diff_slices(&old, &new)
            .ops()
            .to_vec();
        Edit { old, new, ops }
    }

    /// Units removed and added.
    fn counts(&self) -> (usize, usize) {
        self.ops
            .iter()
            .fold((0, 0), |(removed, added), op| match op.as_tag_tuple() {
                (DiffTag::Equal, _, _) => (removed, added),
                (_, old, new) => (removed + old.len(), added + new.len()),
            })
    }

    fn similarity(&self) -> f32 {
        diff_ratio(&self.ops, self.old.len(), self.new.len())
    }

    /// The script as `diff -u` writes it, as `similar`'s unified diff
    /// writes it (line units only).
    fn unified(&self, context: usize, label_old: &str, label_new: &str) -> String {
        let mut out = String::new();
        for hunk in group_diff_ops(self.ops.clone(), context) {
            let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else {
                continue;
            };
            if out.is_empty() {
                out.push_str(&format!("--- {label_old}\n+++ {label_new}\n"));
            }
            out.push_str(&format!(
                "@@ -{} +{} @@\n",
                HunkRange(first.old_range().start, last.old_range().end),
                HunkRange(first.new_range().start, last.new_range().end)
            ));
            for op in &hunk {
                let (tag, old, new) = op.as_tag_tuple();
                let old_lines = self.old[old]
                    .iter()
                    .map(|l| (if tag == DiffTag::Equal { ' ' } else { '-' }, l));
                let new_lines = self.new[new]
                    .iter()
                    .filter(|_| tag != DiffTag::Equal)
                    .map(|l| ('+', l));
                for (sign, line) in old_lines.chain(new_lines) {
                    out.push(sign);
                    out.push_str(line);
                    if !line.ends_with('\n') {
                        out.push_str("\n\\ No newline at end of file\n");
                    }
                }
            }
        }
        out
    }
}

/// A hunk header's line range: 1-based start and length, the length left
/// out when it is 1.
struct HunkRange(usize, usize);

impl std::fmt::Display for HunkRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.1.saturating_sub(self.0);
        match len {
            1 => write!(f, "{}", self.0 + 1),
            0 => write!(f, "{},0", self.0),
            _ => write!(f, "{},{}", self.0 + 1, len),
        }
    }
}

/// `text` cut after each `\n`, breaks kept. Only `\n` ends a line, as in
/// GNU diff and patch: a lone `\r` is an ordinary character of its line
/// (cutting there made patches that `patch` rejects as malformed), and
/// `\r\n` ends a line whose content ends with `\r`.
fn split_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::with_capacity(text.len() / 32 + 1);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', bytes) {
        lines.push(&text[start..=i]);
        start = i + 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[allow(clippy::too_many_arguments)]
fn compare(
    a: &str,
    b: &str,
    mode: &str,
    context: usize,
    label_a: &str,
    label_b: &str,
    text_paging: &TextPaging,
    paging: &ListPaging,
) -> DiffOutput {
    let edit = match mode {
        "words" => Edit::tokens(a, b, true),
        "chars" => Edit::tokens(a, b, false),
        _ => Edit::lines(a, b),
    };
    let (removed, added) = edit.counts();
    let mut out = DiffOutput {
        mode: mode.to_owned(),
        identical: a == b,
        removed,
        added,
        similarity: edit.similarity(),
        unified: None,
        hunks: None,
        page: None,
    };
    if mode == "unified" {
        out.unified = Some(text_paging.page(&edit.unified(context, label_a, label_b)));
        return out;
    }
    // Positions: 1-based lines, or character offsets for words and chars.
    let char_starts = |tokens: &[&str]| -> Vec<usize> {
        let mut acc = 0;
        let mut v = Vec::with_capacity(tokens.len() + 1);
        for t in tokens {
            v.push(acc);
            acc += t.chars().count();
        }
        v.push(acc);
        v
    };
    let (old_pos, new_pos) = if mode == "lines" {
        (
            (1..=edit.old.len() + 1).collect::<Vec<_>>(),
            (1..=edit.new.len() + 1).collect::<Vec<_>>(),
        )
    } else {
        (char_starts(&edit.old), char_starts(&edit.new))
    };
    let hunks: Vec<Hunk> = edit
        .ops
        .iter()
        .filter_map(|op| {
            let (tag, old, new) = op.as_tag_tuple();
            let tag = match tag {
                DiffTag::Equal => return None,
                DiffTag::Delete => "delete",
                DiffTag::Insert => "insert",
                DiffTag::Replace => "replace",
            };
            Some(Hunk {
                tag: tag.to_owned(),
                old_start: old_pos[old.start],
                old_len: old.len(),
                new_start: new_pos[new.start],
                new_len: new.len(),
                old: edit.old[old].concat(),
                new: edit.new[new].concat(),
            })
        })
        .collect();
    let (page, info) = paging.apply(hunks);
    out.hunks = Some(page);
    out.page = Some(info);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str, mode: &str) -> DiffOutput {
        compare(
            a,
            b,
            mode,
            3,
            "a",
            "b",
            &TextPaging::default(),
            &ListPaging::default(),
        )
    }

    #[test]
    fn unified_diff_has_headers_and_hunks() {
        let out = cmp("one\ntwo\nthree\n", "one\n2\nthree\n", "unified");
        let text = out.unified.unwrap().text;
        assert!(
            text.starts_with("--- a\n+++ b\n@@ -1,3 +1,3 @@\n"),
            "{text}"
        );
        assert!(text.contains("-two\n+2\n"));
        assert_eq!((out.removed, out.added), (1, 1));
        assert!(cmp("x", "x", "unified").identical);
        assert_eq!(unified("x\n", "x\n", "a", "b", 3), "");
    }

    /// Applies a unified diff of ours to `old` twice: with `diffy` (an
    /// independent patch reader that, like GNU patch, splits lines at `\n`
    /// only; with context, since without it diffy may place a hunk by
    /// content), and with a strict applier below that follows the hunk
    /// headers' line numbers and checks every context and removed line.
    fn apply(old: &str, patch: &str, context: usize) -> String {
        if patch.is_empty() {
            return old.to_owned();
        }
        let parsed = diffy::Patch::from_str(patch)
            .unwrap_or_else(|e| panic!("malformed patch ({e}):\n{patch}"));
        let strict = apply_strict(old, patch);
        if context > 0 {
            let by_diffy = diffy::apply(old, &parsed)
                .unwrap_or_else(|e| panic!("patch does not apply ({e}):\n{patch}"));
            assert_eq!(by_diffy, strict, "{patch}");
        }
        strict
    }

    fn apply_strict(old: &str, patch: &str) -> String {
        let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
        let mut out = String::new();
        let mut next = 0; // index of the next old line to copy
        let mut lines = patch.split_inclusive('\n').skip(2).peekable();
        while let Some(header) = lines.next() {
            let ranges = header
                .strip_prefix("@@ -")
                .and_then(|h| h.strip_suffix(" @@\n"))
                .unwrap_or_else(|| panic!("bad hunk header {header:?}"));
            let (old_range, _) = ranges.split_once(" +").unwrap();
            let (start, len) = match old_range.split_once(',') {
                Some((s, l)) => (s.parse::<usize>().unwrap(), l.parse::<usize>().unwrap()),
                None => (old_range.parse().unwrap(), 1),
            };
            let first = if len == 0 { start } else { start - 1 };
            assert!(first >= next, "hunks out of order");
            out.extend(old_lines[next..first].iter().copied());
            next = first;
            while let Some(line) = lines.next_if(|l| !l.starts_with("@@")) {
                let mut body = line[1..].to_owned();
                if lines
                    .next_if(|l| *l == "\\ No newline at end of file\n")
                    .is_some()
                {
                    body.pop();
                }
                match &line[..1] {
                    "+" => out.push_str(&body),
                    sign => {
                        assert_eq!(old_lines[next], body, "{sign} line differs");
                        if sign == " " {
                            out.push_str(&body);
                        }
                        next += 1;
                    }
                }
            }
        }
        out.extend(old_lines[next..].iter().copied());
        out
    }

    fn has_lone_cr(text: &str) -> bool {
        text.match_indices('\r')
            .any(|(i, _)| text.as_bytes().get(i + 1) != Some(&b'\n'))
    }

    /// Random texts of few distinct lines (so that most lines match), with
    /// every kind of line break, lone CRs inside lines and a last line with
    /// or without a `\n`: the same script, counts and similarity as
    /// `similar`'s diff over the same `\n`-cut lines, the same unified text
    /// as `similar`'s line diff when no `\r` stands alone (`similar` cuts lines
    /// there too), and every patch applies and gives `b` exactly.
    #[test]
    fn line_diffs_equal_similars_and_apply() {
        let alphabet = [
            "a\n", "b\n", "c\n", "a", "b\r\n", "\r", "\n", "dé\n", "x y\n", "a\rb", "\r\r\n",
        ];
        let mut rng = crate::testing::Lcg(404);
        for round in 0..3_000 {
            let a = rng.text(&alphabet, 40);
            let b = if round % 3 == 0 {
                // A small edit of `a`: a few lines put in after its first.
                let cut = a.find('\n').map_or(0, |i| i + 1);
                format!("{}{}{}", &a[..cut], rng.text(&alphabet, 3), &a[cut..])
            } else {
                rng.text(&alphabet, 40)
            };
            let (old, new) = (
                a.split_inclusive('\n').collect::<Vec<_>>(),
                b.split_inclusive('\n').collect::<Vec<_>>(),
            );
            let reference = TextDiff::configure().diff_slices(&old, &new);
            let edit = Edit::lines(&a, &b);
            assert_eq!(edit.old, old);
            assert_eq!(edit.ops, reference.ops(), "round {round}: {a:?} -> {b:?}");
            assert_eq!(edit.similarity(), reference.ratio());
            for context in [0, 1, 3] {
                let ours = edit.unified(context, "a", "b");
                if !has_lone_cr(&a) && !has_lone_cr(&b) {
                    // Where only `\n` and `\r\n` end lines, `similar`'s own
                    // line diff cuts them the same way.
                    let reference = TextDiff::configure().diff_lines(a.as_str(), b.as_str());
                    assert_eq!(
                        ours,
                        reference
                            .unified_diff()
                            .context_radius(context)
                            .header("a", "b")
                            .to_string(),
                        "round {round}, context {context}: {a:?} -> {b:?}"
                    );
                }
                assert_eq!(
                    apply(&a, &ours, context),
                    b,
                    "round {round}: {a:?} -> {b:?}"
                );
            }
        }
    }

    /// Issue 21: lone CRs are not line ends (GNU diff: `diff -u` of
    /// `a\rb\rc` and `a\rB\rc` is one changed line, each without a newline).
    #[test]
    fn lone_cr_is_not_a_line_end() {
        let patch = unified("a\rb\rc", "a\rB\rc", "a", "b", 3);
        assert_eq!(
            patch,
            "--- a\n+++ b\n@@ -1 +1 @@\n-a\rb\rc\n\\ No newline at end of file\n+a\rB\rc\n\\ No newline at end of file\n"
        );
        assert_eq!(apply("a\rb\rc", &patch, 3), "a\rB\rc");
        for (a, b) in [
            ("x\r\ny\r\n", "x\r\nz\r\n"),
            ("x\ry\n", "x\ry\r"),
            ("one\r", "one\r\n"),
            ("\r\r\r", "\r\n\r"),
        ] {
            assert_eq!(
                apply(a, &unified(a, b, "a", "b", 3), 3),
                b,
                "{a:?} -> {b:?}"
            );
        }
    }

    #[test]
    fn word_and_char_hunks_have_positions() {
        let out = cmp("the quick fox", "the slow fox", "words");
        let h = &out.hunks.unwrap()[0];
        assert_eq!(h.tag, "replace");
        assert_eq!((h.old.as_str(), h.new.as_str()), ("quick", "slow"));
        assert_eq!(h.old_start, 4);
        let out = cmp("abc", "abxc", "chars");
        let h = &out.hunks.unwrap()[0];
        assert_eq!(
            (h.tag.as_str(), h.new.as_str(), h.new_start),
            ("insert", "x", 2)
        );
        let out = cmp("a\nb\nc\n", "a\nc\n", "lines");
        let h = &out.hunks.unwrap()[0];
        assert_eq!(
            (h.tag.as_str(), h.old_start, h.old.as_str()),
            ("delete", 2, "b\n")
        );
    }
}
