//! chunk: split text into pieces of bounded size for embedding or
//! retrieval, at paragraph, then sentence, then word boundaries.

use crate::tokenize::Encoding;
use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::progress::Progress;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::Ticker;
use crate::TextServer;
use crate::input::{Input, Int, ListPaging, MAX_SAFE_INTEGER, PageInfo, check_opt, data, schema};
use crate::tokenize;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChunkParams {
    #[serde(flatten)]
    pub input: Input,
    /// Largest chunk in characters (at least 1). Give this or `max_tokens`.
    #[serde(default)]
    pub max_chars: Option<Int<1, MAX_SAFE_INTEGER>>,
    /// Largest chunk in tokens of `tokenizer` (at least 1). Give this or
    /// `max_chars`.
    #[serde(default)]
    pub max_tokens: Option<Int<1, MAX_SAFE_INTEGER>>,
    /// Tokenizer for max_tokens: o200k_base (default), cl100k_base,
    /// p50k_base or r50k_base.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// How much of the end of each chunk the next one repeats, in the same
    /// unit (characters or tokens), at most; it must be under half the
    /// maximum. Default 0.
    #[serde(default)]
    pub overlap: Int<0, MAX_SAFE_INTEGER>,
    /// Include each chunk's text (default true); false gives offsets only.
    #[serde(default)]
    pub include_text: Option<bool>,
    #[serde(flatten)]
    pub paging: ListPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Chunk {
    /// 0-based chunk number.
    pub index: usize,
    /// Byte offsets in the UTF-8 input: the chunk is input[start..end].
    pub start: usize,
    pub end: usize,
    /// Characters in the chunk.
    pub chars: usize,
    /// Tokens in the chunk (max_tokens only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChunkOutput {
    /// "chars" or "tokens".
    pub unit: String,
    pub max: usize,
    pub overlap: usize,
    pub chunks: Vec<Chunk>,
    /// Position of this page among all chunks (total = all chunks).
    pub page: PageInfo,
}

#[tool_router(router = chunk_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Chunk Text",
        description = "Split text into chunks of at most `max_chars` characters or `max_tokens` tokens (o200k_base by default), breaking at paragraph boundaries first, then sentences, then words (a single longer word is split by characters), with optional `overlap`. Each chunk has exact byte offsets into the input (chunks are trimmed of surrounding whitespace; no chunk repeats or lies inside the previous one). max_chars and overlap count characters (Unicode scalar values), max_tokens tokens; offsets are 0-based UTF-8 bytes. Line endings are kept inside chunks; a paragraph ends at a blank line (`\\n` or `\\r\\n` endings; a lone `\\r` does not end a line there). Paged by offset/limit. Input: `text` or `path`.",
        output_schema = schema::<ChunkOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn chunk(
        &self,
        Parameters(p): Parameters<ChunkParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let max_chars = check_opt(&p.max_chars, "max_chars")?;
        let max_tokens = check_opt(&p.max_tokens, "max_tokens")?;
        let overlap = p.overlap.check("overlap")?;
        p.paging.check()?;
        let (unit, max) = match (max_chars, max_tokens) {
            (Some(_), Some(_)) => {
                return Err(ToolError::new(
                    "give either `max_chars` or `max_tokens`, not both",
                ));
            }
            (None, None) => {
                return Err(ToolError::new(
                    "give `max_chars` (characters per chunk) or `max_tokens` (tokens per chunk)",
                ));
            }
            (Some(n), None) => (Unit::Chars, n),
            (None, Some(n)) => (Unit::Tokens, n),
        };
        if overlap.saturating_mul(2) > max {
            return Err(ToolError::new(format!(
                "`overlap` ({overlap}) must be at most half the chunk size ({max})"
            )));
        }
        let tokenizer = p.tokenizer.unwrap_or_else(|| "o200k_base".to_owned());
        tokenize::name_known(&tokenizer)?;
        let loaded = self.load(p.input).await?;
        let progress = Progress::from_context(&context);
        let reporter = progress.clone();
        let (include_text, paging) = (p.include_text.unwrap_or(true), p.paging);
        let out = blocking(move || {
            let encoding = match unit {
                Unit::Tokens => Some(tokenize::encoding(&tokenizer)?),
                Unit::Chars => None,
            };
            let measure = Measure { encoding };
            let text = &loaded.text;
            let ranges = chunk_ranges(text, max, overlap, &measure, &reporter)?;
            let info = paging.info(ranges.len());
            let chunks = ranges
                .into_iter()
                .enumerate()
                .skip(info.offset)
                .take(info.returned)
                .map(|(index, (start, end))| {
                    let piece = &text[start..end];
                    Chunk {
                        index,
                        start,
                        end,
                        chars: piece.chars().count(),
                        tokens: measure.encoding.map(|e| e.count(piece)),
                        text: include_text.then(|| piece.to_owned()),
                    }
                })
                .collect();
            Ok(ChunkOutput {
                unit: match unit {
                    Unit::Chars => "chars",
                    Unit::Tokens => "tokens",
                }
                .to_owned(),
                max,
                overlap,
                chunks,
                page: info,
            })
        })
        .await?;
        progress.flush().await;
        data(&out)
    }
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Chars,
    Tokens,
}

/// Sizes text in characters, or in tokens when a tokenizer is set.
pub struct Measure {
    pub encoding: Option<&'static Encoding>,
}

impl Measure {
    fn size(&self, text: &str) -> usize {
        match self.encoding {
            Some(encoding) => encoding.count(text),
            None => text.chars().count(),
        }
    }
}

/// Splits `text[start..end]` into consecutive pieces none larger than `max`
/// (except a single grapheme cluster), at the coarsest boundaries that work.
fn atoms(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    m: &Measure,
    level: usize,
    out: &mut Vec<(usize, usize, usize)>,
) {
    let piece = &text[start..end];
    let size = m.size(piece);
    if size <= max || level > 3 {
        out.push((start, end, size));
        return;
    }
    // Boundaries (relative byte offsets) at this level.
    let cuts: Vec<usize> = match level {
        0 => paragraph_starts(piece),
        1 => piece
            .split_sentence_bound_indices()
            .map(|(i, _)| i)
            .collect(),
        2 => piece.split_word_bound_indices().map(|(i, _)| i).collect(),
        _ => piece.grapheme_indices(true).map(|(i, _)| i).collect(),
    };
    if cuts.len() <= 1 {
        atoms(text, start, end, max, m, level + 1, out);
        return;
    }
    let mut bounds = cuts;
    bounds.push(piece.len());
    if level == 3 {
        for w in bounds.windows(2) {
            out.push((start + w[0], start + w[1], m.size(&piece[w[0]..w[1]])));
        }
        return;
    }
    for w in bounds.windows(2) {
        if w[0] < w[1] {
            atoms(text, start + w[0], start + w[1], max, m, level + 1, out);
        }
    }
}

/// Offsets where paragraphs start: after each run of blank lines.
fn paragraph_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("\n") {
        let nl = i + pos;
        // A blank line follows?
        let mut j = nl + 1;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t' || bytes[j] == b'\r') {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'\n' {
            // Skip the whole run of blank lines.
            let mut k = j;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < bytes.len() {
                // Back up to the start of the line holding the first non-blank.
                let line_start = text[..k].rfind('\n').map_or(0, |p| p + 1);
                starts.push(line_start);
            }
            i = k.max(nl + 1);
        } else {
            i = nl + 1;
        }
        if i >= bytes.len() {
            break;
        }
    }
    starts.dedup();
    starts
}

/// Byte ranges of the chunks of `text` (trimmed of surrounding whitespace).
pub fn chunk_ranges(
    text: &str,
    max: usize,
    overlap: usize,
    m: &Measure,
    progress: &Progress,
) -> ToolResult<Vec<(usize, usize)>> {
    let mut atoms_list = Vec::new();
    atoms(text, 0, text.len(), max, m, 0, &mut atoms_list);
    let mut ticker = Ticker::new(progress.clone(), text.len(), 64);
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < atoms_list.len() {
        ticker.tick(atoms_list[i].0)?;
        // Greedy: take atoms while the estimate fits, then check exactly.
        let mut j = i;
        let mut estimate = 0;
        while j < atoms_list.len() && (j == i || estimate + atoms_list[j].2 <= max) {
            estimate += atoms_list[j].2;
            j += 1;
        }
        if m.encoding.is_some() {
            while j > i + 1 && m.size(&text[atoms_list[i].0..atoms_list[j - 1].1]) > max {
                j -= 1;
            }
        }
        let (start, end) = (atoms_list[i].0, atoms_list[j - 1].1);
        // A chunk that ends where the previous one ends (or before) lies
        // inside it, once trimmed: overlap atoms and whitespace only, or an
        // overlap wider than the limit after an oversized atom (a long
        // emoji sequence). It adds nothing, so it is not a chunk.
        // And a chunk that starts where the previous one starts (its
        // overlap began in whitespace) holds it: it takes its place.
        if let Some(range) = trim(text, start, end)
            && chunks.last().is_none_or(|last| range.1 > last.1)
        {
            if chunks.last().is_some_and(|last| range.0 <= last.0) {
                chunks.pop();
            }
            chunks.push(range);
        }
        if j >= atoms_list.len() {
            break;
        }
        // Overlap: start the next chunk some atoms back, never at or before
        // this chunk's start.
        let mut next = j;
        let mut back = 0;
        while overlap > 0 && next > i + 1 && back + atoms_list[next - 1].2 <= overlap {
            back += atoms_list[next - 1].2;
            next -= 1;
        }
        i = next;
    }
    Ok(chunks)
}

fn trim(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let piece = &text[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    (!trimmed.is_empty()).then(|| (start + lead, start + lead + trimmed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(text: &str, max: usize, overlap: usize) -> Vec<&str> {
        chunk_ranges(
            text,
            max,
            overlap,
            &Measure { encoding: None },
            &Progress::none(),
        )
        .unwrap()
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .collect()
    }

    #[test]
    fn prefers_paragraphs_then_sentences_then_words() {
        let text = "First para one. Still first.\n\nSecond para.\n\nThird para is here.";
        assert_eq!(
            chars(text, 30, 0),
            [
                "First para one. Still first.",
                "Second para.",
                "Third para is here."
            ]
        );
        assert_eq!(chars(text, 200, 0), [text]);
        assert_eq!(
            chars("One two. Three four five.", 12, 0),
            ["One two.", "Three four", "five."]
        );
        assert_eq!(chars("abcdefgh", 3, 0), ["abc", "def", "gh"]);
    }

    #[test]
    fn overlap_repeats_the_end_of_the_previous_chunk() {
        let c = chars("aa bb cc dd ee", 5, 2);
        assert_eq!(c, ["aa bb", "bb cc", "cc dd", "dd ee"]);
    }

    /// Issue 21: no duplicate chunk, and none inside the previous one.
    #[test]
    fn no_chunk_repeats_or_lies_inside_the_previous_one() {
        let family = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}\u{200d}\u{1f466}";
        let text = format!("{family} a {family} b");
        assert_eq!(chars(&text, 5, 2), [family, "a", family, "b"]);
        assert_eq!(chars("ab. cd! ef? gh", 4, 1), ["ab.", "cd!", "ef?", "gh"]);
    }

    /// Invariants on random text (ZWJ emoji, combining marks, RTL, CJK,
    /// every line ending, blank lines): chunks are in order, each ends past
    /// the previous one and starts after the previous start, none is
    /// longer than the limit unless it is one grapheme cluster, none has
    /// surrounding whitespace, and together they cover every non-space
    /// character of the input.
    #[test]
    fn chunks_cover_the_input_once_in_order() {
        let alphabet = [
            "a",
            "bc ",
            "word ",
            ". ",
            "! ",
            "\n",
            "\n\n",
            "\r\n",
            "\r",
            " ",
            "e\u{301}",
            "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}",
            "שלום ",
            "日本",
            "\t",
        ];
        let mut rng = crate::testing::Lcg(2121);
        for round in 0..2_000 {
            let text = rng.text(&alphabet, 30);
            let max = 1 + rng.below(12);
            let overlap = rng.below(max / 2 + 1);
            let ranges = chunk_ranges(
                &text,
                max,
                overlap,
                &Measure { encoding: None },
                &Progress::none(),
            )
            .unwrap();
            let mut covered = vec![false; text.len()];
            for (n, &(s, e)) in ranges.iter().enumerate() {
                let chunk = &text[s..e];
                assert_eq!(chunk, chunk.trim(), "round {round}");
                assert!(
                    chunk.chars().count() <= max || chunk.graphemes(true).count() == 1,
                    "round {round}: {chunk:?} over {max}"
                );
                if n > 0 {
                    let (ps, pe) = ranges[n - 1];
                    assert!(
                        s > ps && e > pe,
                        "round {round}: {text:?} {max}/{overlap}: {ranges:?}"
                    );
                }
                covered[s..e].iter_mut().for_each(|c| *c = true);
            }
            for (i, c) in text.char_indices() {
                assert!(
                    c.is_whitespace() || covered[i],
                    "round {round}: {text:?} {max}/{overlap}: {ranges:?}"
                );
            }
        }
    }

    #[test]
    fn token_chunks_never_exceed_the_limit() {
        let encoding = tokenize::encoding("cl100k_base").unwrap();
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(40);
        let m = Measure {
            encoding: Some(encoding),
        };
        let ranges = chunk_ranges(&text, 25, 5, &m, &Progress::none()).unwrap();
        assert!(ranges.len() > 10);
        for (s, e) in ranges {
            assert!(encoding.count(&text[s..e]) <= 25);
        }
    }

    #[test]
    fn offsets_are_exact_bytes() {
        let text = "héllo wörld.\n\nçava?";
        let ranges =
            chunk_ranges(text, 12, 0, &Measure { encoding: None }, &Progress::none()).unwrap();
        assert_eq!(&text[ranges[1].0..ranges[1].1], "çava?");
        assert_eq!(ranges[1].0, text.find('ç').unwrap());
    }
}
