//! text_stats: exact counts and token counts.

use std::collections::BTreeMap;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::progress::Progress;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::TextServer;
use crate::input::{Input, Int, check_opt, data, schema};
use crate::segment::{self, Segments};
use crate::tokenize;
use mcp_servers_core::client_log::Level;

/// Average silent reading speed of adults, in words per minute.
pub const DEFAULT_WORDS_PER_MINUTE: u32 = 238;

/// The fastest reading speed accepted, in words per minute.
pub const MAX_WORDS_PER_MINUTE: u64 = 10_000;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatsParams {
    #[serde(flatten)]
    pub input: Input,
    /// Tokenizers to count tokens with: o200k_base, cl100k_base, p50k_base,
    /// r50k_base. Default: o200k_base and cl100k_base. [] counts none.
    #[serde(default)]
    pub tokenizers: Option<Vec<String>>,
    /// Reading speed for reading_time, 1 to 10000 words per minute.
    /// Default 238.
    #[serde(default)]
    pub words_per_minute: Option<Int<1, MAX_WORDS_PER_MINUTE>>,
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
    /// without a newline counts. A line ends at `\r\n`, `\n` or a lone `\r`.
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
        description = "Count exactly: bytes, characters, grapheme clusters, words, lines, sentences, paragraphs, reading time, and tokens for OpenAI tokenizers (o200k_base for GPT-4o/4.1/5 and o-series, cl100k_base for GPT-4/3.5; exact tiktoken counts, offline). Use this instead of counting by eye. Units: bytes of UTF-8, characters are Unicode scalar values, graphemes and words and sentences per UAX #29. Lines end at `\\r\\n`, `\\n` or a lone `\\r` (line_endings says which occur). Input: `text` or `path`.",
        output_schema = schema::<TextStats>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn text_stats(
        &self,
        Parameters(p): Parameters<StatsParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let wpm = check_opt(&p.words_per_minute, "words_per_minute")?
            .map_or(DEFAULT_WORDS_PER_MINUTE, |n| n as u32);
        let tokenizers: Vec<String> = p
            .tokenizers
            .unwrap_or_else(|| tokenize::DEFAULT_TOKENIZERS.map(String::from).to_vec());
        // Unknown names fail before any work.
        for name in &tokenizers {
            tokenize::name_known(name)?;
        }
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
        // Loading a vocabulary takes 0.1-0.3 s: never on the async thread.
        let work = if tokenizers.iter().all(|t| tokenize::is_loaded(t)) {
            size
        } else {
            usize::MAX
        };
        let stats = blocking_unless_small(work, move || {
            compute(&loaded.text, &tokenizers, wpm, &reporter)
        })
        .await?;
        progress.flush().await;
        data(&stats)
    }
}

/// Work is cut into about 16 pieces (of 64 KiB to 1 MiB), so both threads
/// stay busy to the end.
fn piece_bytes(len: usize) -> usize {
    (len / 16).clamp(64 * 1024, 1 << 20)
}

/// All the counts of `text`. The text is cut into pieces at line starts,
/// and two threads take pieces for the segment counts and each tokenizer,
/// so a large input keeps two cores busy to the end (the encodings are
/// shared: they hold nothing mutable). Reports progress per piece.
pub fn compute(
    text: &str,
    tokenizers: &[String],
    words_per_minute: u32,
    progress: &Progress,
) -> ToolResult<TextStats> {
    progress.check()?;
    let parallel = super::worth_a_second_thread(text.len());
    let encodings = tokenizers
        .iter()
        .map(|name| tokenize::encoding(name))
        .collect::<ToolResult<Vec<_>>>()?;
    let pieces = pieces(text, piece_bytes(text.len()));
    // Job 0 counts lines over the whole text (first, so it overlaps the
    // rest); job j > 0 counts piece (j - 1) / per_piece for segments
    // (kind 0) or with tokenizer k (kind k + 1).
    let per_piece = 1 + encodings.len();
    let jobs = pieces.len() * per_piece + 1;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let work = || {
        let mut sums = Sums::new(encodings.len());
        loop {
            if progress.is_cancelled() {
                break;
            }
            let job = next.fetch_add(1, Ordering::Relaxed);
            if job >= jobs {
                break;
            }
            if job == 0 {
                sums.lines = Some(line_stats(text));
            } else {
                let piece = pieces[(job - 1) / per_piece];
                match (job - 1) % per_piece {
                    0 => sums.segments += segment::count(piece),
                    k => sums.tokens[k - 1] += encodings[k - 1].count(piece),
                }
            }
            let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress.report(finished as f64, Some(jobs as f64), Some("counting"));
        }
        sums
    };
    let sums = if parallel {
        std::thread::scope(|scope| {
            let second = scope.spawn(work);
            let mut sums = work();
            let theirs = second.join().map_err(|_| {
                ToolError::new("internal error: a counting thread crashed; please report this bug")
            })?;
            sums.merge(theirs);
            Ok::<_, ToolError>(sums)
        })?
    } else {
        work()
    };
    progress.check()?;
    let Sums {
        segments,
        tokens: token_counts,
        lines,
    } = sums;
    let lines = lines.ok_or_else(|| ToolError::new("internal error: lines were not counted"))?;
    let chars = text.chars().count();
    let (graphemes, words, sentences) = (segments.graphemes, segments.words, segments.sentences);
    let tokens: BTreeMap<String, usize> = tokenizers.iter().cloned().zip(token_counts).collect();
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

/// What one worker counted.
struct Sums {
    segments: Segments,
    /// Per tokenizer, in the order asked.
    tokens: Vec<usize>,
    lines: Option<LineStats>,
}

impl Sums {
    fn new(tokenizers: usize) -> Self {
        Sums {
            segments: Segments::default(),
            tokens: vec![0; tokenizers],
            lines: None,
        }
    }

    fn merge(&mut self, other: Sums) {
        self.segments += other.segments;
        for (mine, theirs) in self.tokens.iter_mut().zip(other.tokens) {
            *mine += theirs;
        }
        self.lines = self.lines.take().or(other.lines);
    }
}

/// `text` cut into pieces of about `size` bytes. Each cut is just after a
/// line feed and before a printable ASCII character, where every count
/// starts afresh: UAX #29 breaks after a line feed, and tiktoken's
/// pre-tokenizer ends its whitespace pieces there (none of its patterns
/// runs from a newline into a following non-space).
pub fn pieces(text: &str, size: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::with_capacity(text.len() / size.max(1) + 1);
    let mut start = 0;
    while text.len() - start > size {
        let mut at = start + size;
        let cut = loop {
            match memchr::memchr(b'\n', &bytes[at..]) {
                Some(i) if bytes.get(at + i + 1).is_some_and(|b| b.is_ascii_graphic()) => {
                    break Some(at + i + 1);
                }
                Some(i) => at += i + 1,
                None => break None,
            }
        };
        let Some(cut) = cut else { break };
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces.push(&text[start..]);
    pieces
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
    // Lines end where `line_endings` says they do: `\r\n`, `\n` or a
    // lone `\r` (str::lines ignores a lone `\r`: `a\rb\rc` was one line).
    for (line, _) in crate::tools::transform::LinesWithEndings::new(text) {
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
    use crate::tools::PARALLEL_FROM;

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
        // Issue 21: a lone CR ends a line, as `line_endings` says.
        let s = stats("a\rb\rc");
        assert_eq!(
            (s.lines, s.longest_line_chars, s.line_endings.as_str()),
            (3, 1, "cr")
        );
        let s = stats("ab\r\rc\r\nd\n");
        assert_eq!((s.lines, s.blank_lines, s.longest_line_chars), (4, 1, 2));
        assert_eq!(s.line_endings, "mixed");
    }

    #[test]
    fn token_counts_match_tiktoken() {
        let s = stats("hello world");
        assert_eq!(s.tokens["cl100k_base"], 2);
        assert_eq!(s.tokens["o200k_base"], 2);
    }

    /// Counting piece by piece gives the whole text's counts: segments and
    /// every tokenizer, on text full of what could straddle a cut.
    #[test]
    fn pieces_count_the_same_as_the_whole() {
        let text = "Hello there.\n'Tis the season\n  indented\n\n\nDouble blank\r\n\
                    CRLF line. e.g. this\n123 456\n\tTabbed\n!bang\né accent\n👍🏽 emoji\n\
                    \u{a0}nbsp\nends with space \nx"
            .repeat(50);
        for size in [1, 7, 64, 1000] {
            let pieces = pieces(&text, size);
            assert!(pieces.len() > 1);
            assert_eq!(pieces.concat(), text);
            let mut segments = Segments::default();
            for piece in &pieces {
                segments += segment::count(piece);
            }
            assert_eq!(segments, segment::unicode(&text), "size {size}");
            for name in ["cl100k_base", "o200k_base", "p50k_base", "r50k_base"] {
                let encoding = tokenize::encoding(name).unwrap();
                let sum: usize = pieces.iter().map(|p| encoding.count(p)).sum();
                assert_eq!(sum, encoding.count(&text), "{name}, size {size}");
            }
        }
    }

    #[test]
    fn large_input_counts_in_parallel_the_same() {
        let text = "One sentence here. Another one, e.g. this!\nSecond line é.\n".repeat(20_000);
        assert!(text.len() > PARALLEL_FROM);
        let s = stats(&text);
        let whole = segment::unicode(&text);
        assert_eq!(
            (s.graphemes, s.words, s.sentences),
            (whole.graphemes, whole.words, whole.sentences)
        );
        for name in ["cl100k_base", "o200k_base"] {
            assert_eq!(
                s.tokens[name],
                tokenize::encoding(name).unwrap().count(&text)
            );
        }
        assert_eq!(s.lines, 40_000);
    }

    #[test]
    fn reading_time() {
        let s = stats(&"word ".repeat(500));
        assert_eq!(s.reading_time_seconds, 150);
        assert_eq!(s.reading_time, "2 min 30 s");
        assert_eq!(human_duration(7260), "2 h 1 min");
    }
}
