//! text_stats: exact counts and token counts.

use std::collections::BTreeMap;

use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::progress::Progress;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::TextServer;
use crate::input::{Input, data, schema};
use crate::tokenize;
use mcp_servers_core::client_log::Level;

/// Average silent reading speed of adults, in words per minute.
pub const DEFAULT_WORDS_PER_MINUTE: u32 = 238;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatsParams {
    #[serde(flatten)]
    pub input: Input,
    /// Tokenizers to count tokens with: o200k_base, cl100k_base, p50k_base,
    /// r50k_base. Default: o200k_base and cl100k_base. [] counts none.
    #[serde(default)]
    pub tokenizers: Option<Vec<String>>,
    /// Reading speed for reading_time. Default 238.
    #[serde(default)]
    pub words_per_minute: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TextStats {
    /// UTF-8 bytes.
    pub bytes: usize,
    /// Unicode scalar values (what most languages call characters).
    pub chars: usize,
    /// Extended grapheme clusters (user-perceived characters: "e\u{301}" and
    /// "👍🏽" are one each).
    pub graphemes: usize,
    /// Unicode words (UAX #29) that contain a letter or digit.
    pub words: usize,
    /// Lines as an editor shows them: 0 for empty text, and a last line
    /// without a newline counts.
    pub lines: usize,
    /// Lines that are empty or whitespace only.
    pub blank_lines: usize,
    /// Characters in the longest line (without its line ending).
    pub longest_line_chars: usize,
    /// Unicode sentences (UAX #29) that contain a letter or digit.
    pub sentences: usize,
    /// Blocks of non-blank lines separated by blank lines.
    pub paragraphs: usize,
    /// "lf", "crlf", "cr", "mixed" or "none".
    pub line_endings: String,
    /// Estimated reading time in seconds (words / words_per_minute).
    pub reading_time_seconds: u64,
    /// The same, for people: "3 min 20 s".
    pub reading_time: String,
    pub words_per_minute: u32,
    /// Token count per tokenizer, exactly as OpenAI's tiktoken counts
    /// (special tokens such as <|endoftext|> count as plain text).
    pub tokens: BTreeMap<String, usize>,
}

#[tool_router(router = stats_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Text Statistics",
        description = "Count exactly: bytes, characters, grapheme clusters, words, lines, sentences, paragraphs, reading time, and tokens for OpenAI tokenizers (o200k_base for GPT-4o/4.1/5 and o-series, cl100k_base for GPT-4/3.5; exact tiktoken counts, offline). Use this instead of counting by eye. Input: `text` or `path`.",
        output_schema = schema::<TextStats>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn text_stats(
        &self,
        Parameters(p): Parameters<StatsParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let tokenizers: Vec<String> = p
            .tokenizers
            .unwrap_or_else(|| tokenize::DEFAULT_TOKENIZERS.map(String::from).to_vec());
        // Unknown names fail before any work.
        for name in &tokenizers {
            tokenize::bpe_name_known(name)?;
        }
        let wpm = p
            .words_per_minute
            .unwrap_or(DEFAULT_WORDS_PER_MINUTE)
            .max(1);
        let loaded = self.load(p.input).await?;
        let size = loaded.text.len();
        if size > 1024 * 1024 {
            self.log
                .send(
                    &context.peer,
                    Level::Info,
                    format!("text_stats: counting {size} bytes"),
                )
                .await;
        }
        let progress = Progress::from_context(&context);
        let reporter = progress.clone();
        let stats = blocking(move || compute(&loaded.text, &tokenizers, wpm, &reporter)).await?;
        progress.flush().await;
        data(&stats)
    }
}

/// All the counts of `text`. Each tokenizer counts on its own thread while
/// this one does the Unicode counts, so a large input uses every core.
/// Reports one progress step per stage.
pub fn compute(
    text: &str,
    tokenizers: &[String],
    words_per_minute: u32,
    progress: &Progress,
) -> ToolResult<TextStats> {
    let stages = (3 + tokenizers.len()) as f64;
    progress.check()?;
    let bpes = tokenizers
        .iter()
        .map(|name| Ok((name, tokenize::bpe(name)?)))
        .collect::<ToolResult<Vec<_>>>()?;
    let (chars, graphemes, words, sentences, lines, tokens) = std::thread::scope(|scope| {
        let counting: Vec<_> = bpes
            .into_iter()
            .map(|(name, bpe)| scope.spawn(move || (name.clone(), tokenize::count(bpe, text))))
            .collect();
        let chars = text.chars().count();
        let graphemes = text.graphemes(true).count();
        progress.report(1.0, Some(stages), Some("characters"));
        let words = text.unicode_words().count();
        let sentences = text.unicode_sentences().count();
        progress.report(2.0, Some(stages), Some("words and sentences"));
        let lines = line_stats(text);
        progress.report(3.0, Some(stages), Some("lines"));
        let mut tokens = BTreeMap::new();
        for (i, handle) in counting.into_iter().enumerate() {
            let (name, count) = handle.join().map_err(|_| {
                ToolError::new("internal error: a tokenizer thread crashed; please report this bug")
            })?;
            progress.report(4.0 + i as f64, Some(stages), Some(&name));
            tokens.insert(name, count);
        }
        Ok::<_, ToolError>((chars, graphemes, words, sentences, lines, tokens))
    })?;
    progress.check()?;
    let seconds = (words as u64 * 60).div_ceil(u64::from(words_per_minute));
    Ok(TextStats {
        bytes: text.len(),
        chars,
        graphemes,
        words,
        lines: lines.lines,
        blank_lines: lines.blank,
        longest_line_chars: lines.longest,
        sentences,
        paragraphs: lines.paragraphs,
        line_endings: lines.endings.to_owned(),
        reading_time_seconds: seconds,
        reading_time: human_duration(seconds),
        words_per_minute,
        tokens,
    })
}

struct LineStats {
    lines: usize,
    blank: usize,
    longest: usize,
    paragraphs: usize,
    endings: &'static str,
}

fn line_stats(text: &str) -> LineStats {
    let crlf = text.matches("\r\n").count();
    let lf = text.matches('\n').count() - crlf;
    let cr = text.matches('\r').count() - crlf;
    let endings = match (lf > 0, crlf > 0, cr > 0) {
        (false, false, false) => "none",
        (true, false, false) => "lf",
        (false, true, false) => "crlf",
        (false, false, true) => "cr",
        _ => "mixed",
    };
    let (mut lines, mut blank, mut longest, mut paragraphs) = (0, 0, 0, 0);
    let mut in_paragraph = false;
    for line in text.lines() {
        lines += 1;
        longest = longest.max(line.chars().count());
        if line.trim().is_empty() {
            blank += 1;
            in_paragraph = false;
        } else if !in_paragraph {
            paragraphs += 1;
            in_paragraph = true;
        }
    }
    LineStats {
        lines,
        blank,
        longest,
        paragraphs,
        endings,
    }
}

fn human_duration(seconds: u64) -> String {
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(text: &str) -> TextStats {
        compute(
            text,
            &["cl100k_base".to_owned(), "o200k_base".to_owned()],
            200,
            &Progress::none(),
        )
        .unwrap()
    }

    #[test]
    fn counts_bytes_chars_graphemes() {
        let s = stats("e\u{301}👍🏽");
        assert_eq!(s.bytes, 3 + 8);
        assert_eq!(s.chars, 4);
        assert_eq!(s.graphemes, 2);
    }

    #[test]
    fn counts_lines_words_sentences_paragraphs() {
        let s = stats("Hello world. How are you?\n\nSecond para.\n");
        assert_eq!(s.lines, 3);
        assert_eq!(s.blank_lines, 1);
        assert_eq!(s.words, 7);
        assert_eq!(s.sentences, 3);
        assert_eq!(s.paragraphs, 2);
        assert_eq!(s.line_endings, "lf");
        assert_eq!(s.longest_line_chars, 25);
        assert_eq!(stats("").lines, 0);
        assert_eq!(stats("a").lines, 1);
        assert_eq!(stats("a\r\nb").line_endings, "crlf");
        assert_eq!(stats("a\r\nb\n").line_endings, "mixed");
    }

    #[test]
    fn token_counts_match_tiktoken() {
        let s = stats("hello world");
        assert_eq!(s.tokens["cl100k_base"], 2);
        assert_eq!(s.tokens["o200k_base"], 2);
    }

    #[test]
    fn reading_time() {
        let s = stats(&"word ".repeat(500));
        assert_eq!(s.reading_time_seconds, 150);
        assert_eq!(s.reading_time, "2 min 30 s");
        assert_eq!(human_duration(7260), "2 h 1 min");
    }
}
