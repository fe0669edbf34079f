//! diff: unified diffs, or line/word/character changes as structured hunks.

use std::time::Duration;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use similar::{ChangeTag, DiffTag, TextDiff};

use crate::TextServer;
use crate::input::{ListPaging, PageInfo, TextPage, TextPaging, data, schema};

/// Diffs give up on the optimal answer (and return a correct, larger one)
/// after this long.
const DIFF_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Lines of context around each unified hunk. Default 3.
    #[serde(default)]
    pub context: Option<usize>,
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
        description = "Compare two texts exactly: `a`/`b` inline or `path_a`/`path_b` files (mixable). mode \"unified\" (default) gives a unified diff with `context` lines (default 3); \"lines\", \"words\" or \"chars\" give the changes as structured hunks with positions. Also reports added/removed counts and similarity.",
        output_schema = schema::<DiffOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn diff(&self, Parameters(p): Parameters<DiffParams>) -> ToolResult<CallToolResult> {
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
        let context = p.context.unwrap_or(3);
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
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(context)
        .header(label_old, label_new)
        .to_string()
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
    let mut config = TextDiff::configure();
    config.timeout(DIFF_TIMEOUT);
    let diff = match mode {
        "words" => config.diff_words(a, b),
        "chars" => config.diff_chars(a, b),
        _ => config.diff_lines(a, b),
    };
    let (mut removed, mut added) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => removed += 1,
            ChangeTag::Insert => added += 1,
            ChangeTag::Equal => {}
        }
    }
    let mut out = DiffOutput {
        mode: mode.to_owned(),
        identical: a == b,
        removed,
        added,
        similarity: diff.ratio(),
        unified: None,
        hunks: None,
        page: None,
    };
    if mode == "unified" {
        let text = diff
            .unified_diff()
            .context_radius(context)
            .header(label_a, label_b)
            .to_string();
        out.unified = Some(text_paging.page(&text));
        return out;
    }
    // Positions: 1-based lines, or character offsets for words and chars.
    let old_tokens: Vec<&str> = diff.iter_old_slices().collect();
    let new_tokens: Vec<&str> = diff.iter_new_slices().collect();
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
            (1..=old_tokens.len() + 1).collect::<Vec<_>>(),
            (1..=new_tokens.len() + 1).collect::<Vec<_>>(),
        )
    } else {
        (char_starts(&old_tokens), char_starts(&new_tokens))
    };
    let hunks: Vec<Hunk> = diff
        .ops()
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
                old: old_tokens[old].concat(),
                new: new_tokens[new].concat(),
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
