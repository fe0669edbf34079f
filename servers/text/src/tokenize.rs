//! Token counts with OpenAI's BPE vocabularies, exactly as the reference
//! `tiktoken` counts them. The vocabularies ship inside `tiktoken-rs`, so
//! this works offline; each is loaded once, on first use.
//!
//! Text is encoded as ordinary text: special tokens such as `<|endoftext|>`
//! are counted as the characters they are made of, which is what Python's
//! `len(enc.encode(text, disallowed_special=()))` gives.
//!
//! tiktoken cuts text into pieces with a regex that needs a backtracking
//! engine for one look-ahead (`\s+(?!\S)`), and that engine is most of its
//! time. [`Encoding`] cuts with the same pattern minus that alternative on
//! the `regex` crate's DFA, and gives a run of white space before a
//! non-space its last character back, which is what the look-ahead does;
//! then it merges byte pairs as tiktoken does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use mcp_servers_core::error::ToolError;
use regex_automata::meta::{Cache, Regex};
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input};
use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

/// A tokenizer this server knows.
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
pub struct TokenizerInfo {
    pub name: &'static str,
    /// Models that use it.
    pub models: &'static str,
}

/// Every tokenizer, the default ones first.
pub const TOKENIZERS: &[TokenizerInfo] = &[
    TokenizerInfo {
        name: "o200k_base",
        models: "GPT-4o, GPT-4.1, GPT-5, o1, o3, o4-mini",
    },
    TokenizerInfo {
        name: "cl100k_base",
        models: "GPT-4, GPT-3.5-turbo, text-embedding-ada-002, text-embedding-3",
    },
    TokenizerInfo {
        name: "p50k_base",
        models: "Codex, text-davinci-002, text-davinci-003",
    },
    TokenizerInfo {
        name: "r50k_base",
        models: "GPT-3 (davinci, curie, babbage, ada)",
    },
];

/// What text_stats counts when not told otherwise.
pub const DEFAULT_TOKENIZERS: [&str; 2] = ["o200k_base", "cl100k_base"];

/// tiktoken's pre-tokenizer patterns (as in tiktoken-rs) without the
/// `\s+(?!\S)` alternative, possessive quantifiers made greedy (the same
/// matches here: nothing after them could take characters back).
const O200K_PIECES: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+",
);
const CL100K_PIECES: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+";
const P50K_PIECES: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$|\s+";

pub fn names() -> Vec<&'static str> {
    TOKENIZERS.iter().map(|t| t.name).collect()
}

/// Fails with the list of known names unless `name` is one (without
/// loading the vocabulary).
pub fn name_known(name: &str) -> Result<(), ToolError> {
    if index(name).is_some() {
        Ok(())
    } else {
        Err(unknown(name))
    }
}

fn unknown(name: &str) -> ToolError {
    ToolError::new(format!(
        "unknown tokenizer '{name}'; known: {}",
        names().join(", ")
    ))
}

/// The place of `name` in [`TOKENIZERS`].
fn index(name: &str) -> Option<usize> {
    TOKENIZERS.iter().position(|t| t.name == name)
}

static LOADED: [OnceLock<Encoding>; 4] = [const { OnceLock::new() }; 4];
/// Held while an encoding loads: concurrent first calls would otherwise
/// each build their own copy (50-100 MB at the peak of a load) and keep one.
static LOADING: Mutex<()> = Mutex::new(());
/// Loads done, per encoding.
static LOADS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// Whether the encoding called `name` is loaded (so using it is quick).
pub fn is_loaded(name: &str) -> bool {
    index(name).is_some_and(|i| LOADED[i].get().is_some())
}

/// The encoding called `name` (loaded on first use, 0.1-0.3 s).
pub fn encoding(name: &str) -> Result<&'static Encoding, ToolError> {
    let i = index(name).ok_or_else(|| unknown(name))?;
    if let Some(loaded) = LOADED[i].get() {
        return Ok(loaded);
    }
    let _loading = LOADING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(loaded) = LOADED[i].get() {
        return Ok(loaded);
    }
    let built = Encoding::load(name)?;
    LOADS[i].fetch_add(1, Ordering::Relaxed);
    Ok(LOADED[i].get_or_init(|| built))
}

/// One BPE vocabulary with its pre-tokenizer. Shared by every thread: it
/// holds nothing mutable.
pub struct Encoding {
    /// Token bytes to rank (special tokens left out).
    ranks: FxHashMap<Vec<u8>, Rank>,
    /// Cuts text into pieces (see the module doc).
    pieces: Regex,
    /// Search state for `pieces`, one per thread at a time (creating one
    /// takes longer than counting a short text).
    caches: Pool<Cache, CacheFn>,
    /// Whether a run of white space ending in a line break is its own
    /// piece, line break included (cl100k_base and o200k_base).
    keeps_breaks: bool,
}

type CacheFn =
    Box<dyn Fn() -> Cache + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

/// Pieces this long or longer merge with a heap (tiktoken's own simple
/// merge takes quadratic time).
const LONG_PIECE: usize = 128;

impl Encoding {
    fn load(name: &str) -> Result<Encoding, ToolError> {
        let failed = |e: &dyn std::fmt::Display| {
            ToolError::new(format!("internal error: loading {name}: {e}"))
        };
        let (core, pattern, keeps_breaks) = match name {
            "o200k_base" => (tiktoken_rs::o200k_base(), O200K_PIECES, true),
            "cl100k_base" => (tiktoken_rs::cl100k_base(), CL100K_PIECES, true),
            "p50k_base" => (tiktoken_rs::p50k_base(), P50K_PIECES, false),
            "r50k_base" => (tiktoken_rs::r50k_base(), P50K_PIECES, false),
            other => return Err(unknown(other)),
        };
        let core = core.map_err(|e| failed(&e))?;
        let pieces = Regex::new(pattern).map_err(|e| failed(&e))?;
        let for_caches = pieces.clone();
        Ok(Encoding {
            ranks: ranks_of(&core),
            pieces,
            caches: Pool::new(Box::new(move || for_caches.create_cache())),
            keeps_breaks,
        })
    }

    /// Number of tokens `text` encodes to.
    pub fn count(&self, text: &str) -> usize {
        let mut tokens = 0;
        let mut at = 0;
        let mut cache = self.caches.get();
        while at < text.len() {
            // Every character starts a piece, so each piece starts where
            // the last ended: an anchored search finds its end alone.
            let input = Input::new(text).range(at..).anchored(Anchored::Yes);
            let Some(found) = self.pieces.search_half_with(&mut cache, &input) else {
                // Unreachable with these patterns; tiktoken skips what no
                // piece matches, and so would this.
                let Some(m) = self
                    .pieces
                    .search_with(&mut cache, &input.anchored(Anchored::No))
                else {
                    break;
                };
                at = m.start();
                continue;
            };
            let end = self.piece_end(text, at, found.offset());
            tokens += self.piece_tokens(&text.as_bytes()[at..end]);
            at = end;
        }
        tokens
    }

    /// Where the piece found at `start..end` really ends: tiktoken's
    /// `\s+(?!\S)` leaves the last white-space character of a run that a
    /// non-space follows to the next piece (a run of one stays whole).
    fn piece_end(&self, text: &str, start: usize, end: usize) -> usize {
        if end == text.len() {
            return end;
        }
        let mut chars = text[start..end].char_indices().rev();
        match (chars.next(), chars.next()) {
            (Some((last, c)), Some(_))
                if c.is_whitespace() && !(self.keeps_breaks && (c == '\n' || c == '\r')) =>
            {
                start + last
            }
            _ => end,
        }
    }

    /// Tokens in one piece: byte pairs merged as tiktoken merges them, the
    /// adjacent pair of lowest rank first (the leftmost on a tie), until no
    /// pair is a token.
    fn piece_tokens(&self, piece: &[u8]) -> usize {
        if piece.len() < 2 || self.ranks.contains_key(piece) {
            1
        } else if piece.len() < LONG_PIECE {
            self.merge_short(piece)
        } else {
            self.merge_long(piece)
        }
    }

    fn rank(&self, bytes: &[u8]) -> Rank {
        self.ranks.get(bytes).copied().unwrap_or(Rank::MAX)
    }

    /// Part starts with the rank of merging each part with the next; one
    /// scan for the lowest per merge.
    fn merge_short(&self, piece: &[u8]) -> usize {
        let mut parts: Vec<(usize, Rank)> = (0..=piece.len())
            .map(|i| {
                (
                    i,
                    if i + 2 <= piece.len() {
                        self.rank(&piece[i..i + 2])
                    } else {
                        Rank::MAX
                    },
                )
            })
            .collect();
        loop {
            let mut lowest = (Rank::MAX, 0);
            for (i, &(_, rank)) in parts.iter().enumerate() {
                if rank < lowest.0 {
                    lowest = (rank, i);
                }
            }
            if lowest.0 == Rank::MAX {
                return parts.len() - 1;
            }
            let i = lowest.1;
            parts.remove(i + 1);
            let pair_rank = |parts: &[(usize, Rank)], i: usize| match parts.get(i + 2) {
                Some(&(end, _)) => self.rank(&piece[parts[i].0..end]),
                None => Rank::MAX,
            };
            parts[i].1 = pair_rank(&parts, i);
            if i > 0 {
                parts[i - 1].1 = pair_rank(&parts, i - 1);
            }
        }
    }

    /// The same merges with a heap of candidate pairs; a candidate is stale
    /// once either of its parts has merged.
    fn merge_long(&self, piece: &[u8]) -> usize {
        let len = piece.len();
        // Each part's start maps to the next part's start (len at the end),
        // and back; `usize::MAX` marks starts that are no longer parts.
        let mut next: Vec<usize> = (1..=len).collect();
        let mut prev: Vec<usize> = (0..len).map(|i| i.wrapping_sub(1)).collect();
        let mut heap = BinaryHeap::with_capacity(len);
        let mut parts = len;
        for i in 0..len - 1 {
            let rank = self.rank(&piece[i..i + 2]);
            if rank != Rank::MAX {
                heap.push(Reverse((rank, i, i + 2)));
            }
        }
        while let Some(Reverse((_, start, end))) = heap.pop() {
            let middle = next[start];
            if middle == usize::MAX || middle >= len || next[middle] != end {
                continue;
            }
            // Merge the part at `middle` into the one at `start`.
            next[start] = end;
            next[middle] = usize::MAX;
            if end < len {
                prev[end] = start;
                let after = next[end];
                let rank = self.rank(&piece[start..after]);
                if rank != Rank::MAX {
                    heap.push(Reverse((rank, start, after)));
                }
            }
            if start > 0 {
                let before = prev[start];
                let rank = self.rank(&piece[before..end]);
                if rank != Rank::MAX {
                    heap.push(Reverse((rank, before, end)));
                }
            }
            parts -= 1;
        }
        parts
    }
}

/// The vocabulary's ordinary tokens, read back from tiktoken-rs's encoder
/// (which keeps its tables private); the encoder itself is then dropped.
fn ranks_of(core: &CoreBPE) -> FxHashMap<Vec<u8>, Rank> {
    let special = core.special_tokens();
    let mut ranks = FxHashMap::default();
    // Ranks run from 0 without gaps up to the last ordinary token; special
    // tokens sit among the last (p50k_base) or after them.
    let mut rank: Rank = 0;
    while let Ok(bytes) = core.decode_bytes(&[rank]) {
        if !std::str::from_utf8(&bytes).is_ok_and(|s| special.contains(s)) {
            ranks.insert(bytes, rank);
        }
        rank += 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, text: &str) -> usize {
        encoding(name).unwrap().count(text)
    }

    fn reference(name: &str) -> &'static CoreBPE {
        match name {
            "o200k_base" => tiktoken_rs::o200k_base_singleton(),
            "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
            "p50k_base" => tiktoken_rs::p50k_base_singleton(),
            _ => tiktoken_rs::r50k_base_singleton(),
        }
    }

    /// Every encoding counts `text` as tiktoken-rs does.
    fn counts_as_tiktoken(text: &str, what: &str) {
        for t in TOKENIZERS {
            assert_eq!(
                n(t.name, text),
                reference(t.name).encode_ordinary(text).len(),
                "{} on {what}",
                t.name
            );
        }
    }

    #[test]
    fn known_counts() {
        // From tiktoken's own test suite and tiktoken-rs's published vectors.
        assert_eq!(n("cl100k_base", "hello world"), 2);
        assert_eq!(n("o200k_base", "hello world"), 2);
        assert_eq!(n("r50k_base", "hello world"), 2);
        assert_eq!(n("cl100k_base", ""), 0);
        // tiktoken: enc.encode("hello <|endoftext|>", allowed_special="all")
        // is [15339, 220, 100257]; as ordinary text the marker is several tokens.
        assert!(n("cl100k_base", "hello <|endoftext|>") > 3);
    }

    #[test]
    fn every_ordinary_token_is_read_back() {
        for (name, tokens) in [
            ("r50k_base", 50_256),
            ("p50k_base", 50_280),
            ("cl100k_base", 100_256),
            ("o200k_base", 199_998),
        ] {
            let encoding = encoding(name).unwrap();
            assert_eq!(encoding.ranks.len(), tokens, "{name}");
            assert_eq!(
                encoding.ranks.get(b"hello".as_slice()),
                reference(name).encode_ordinary("hello").first(),
                "{name}"
            );
        }
    }

    #[test]
    fn o200k_pattern_is_tiktokens_without_the_look_ahead() {
        assert_eq!(
            tiktoken_rs::O200K_BASE_PAT_STR.replace(r"|\s+(?!\S)", ""),
            O200K_PIECES
        );
    }

    /// Random text of letters in every case, digits, contractions, white
    /// space of every kind, punctuation and non-ASCII letters, marks and
    /// symbols: the same count as tiktoken for every encoding.
    #[test]
    fn counts_equal_tiktokens_on_random_text() {
        let alphabet = [
            "a",
            "b",
            "Z",
            "Q",
            "ing",
            "The",
            "HTML",
            "'s",
            "'T",
            "'ll",
            "'re",
            "'",
            "1",
            "23",
            "4567",
            " ",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\r",
            "\n\n",
            "\u{b}",
            "\u{c}",
            ".",
            ",",
            "!",
            "/",
            "-",
            "(",
            "é",
            "ï",
            "e\u{301}",
            "ß",
            "ſ",
            "K",
            "Ω",
            "中文",
            "ǅ",
            "ʰ",
            "👍",
            "🏽",
            "\u{a0}",
            "\u{2009}",
            "\u{3000}",
            "\u{85}",
            "٣",
            "Ⅻ",
            "<|endoftext|>",
        ];
        let mut rng = crate::testing::Lcg(2026);
        for round in 0..4_000 {
            let text = rng.text(&alphabet, 24);
            counts_as_tiktoken(&text, &format!("round {round}: {text:?}"));
        }
    }

    /// Long pieces (a word of thousands of letters, long runs of spaces or
    /// digits) merge on the heap path to tiktoken's count.
    #[test]
    fn long_pieces_count_as_tiktoken() {
        let mut rng = crate::testing::Lcg(7);
        let syllables = ["ab", "ra", "ca", "da", "x", "qu", "ee", "n", "th", "é"];
        for len in [LONG_PIECE - 1, LONG_PIECE, 300, 5_000] {
            let mut word = String::new();
            while word.len() < len {
                word.push_str(syllables[rng.below(syllables.len())]);
            }
            for text in [
                word.clone(),
                format!("x {word}"),
                " ".repeat(len) + "y",
                "7".repeat(len),
            ] {
                counts_as_tiktoken(&text, &format!("{len} bytes"));
            }
        }
    }

    #[test]
    fn short_and_long_merges_agree() {
        let encoding = encoding("cl100k_base").unwrap();
        let mut rng = crate::testing::Lcg(99);
        for _ in 0..2_000 {
            let len = 2 + rng.below(60);
            let piece: Vec<u8> = (0..len).map(|_| b"aeinrst "[rng.below(8)]).collect();
            assert_eq!(
                encoding.merge_short(&piece),
                encoding.merge_long(&piece),
                "{piece:?}"
            );
            assert_eq!(
                encoding.merge_short(&piece),
                tiktoken_rs::byte_pair_split(&piece, &encoding.ranks).len()
            );
        }
    }

    #[test]
    fn loading_is_remembered() {
        assert!(!is_loaded("no_such_tokenizer"));
        encoding("r50k_base").unwrap();
        assert!(is_loaded("r50k_base"));
    }

    #[test]
    fn concurrent_first_calls_load_once() {
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    encoding("p50k_base").map(|e| e as *const Encoding as usize)
                })
            })
            .collect();
        let addresses: Vec<usize> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert!(addresses.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            LOADS[index("p50k_base").unwrap()].load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn unknown_tokenizer_names_the_known_ones() {
        let err = name_known("gpt2").unwrap_err().to_string();
        assert!(encoding("gpt2").is_err());
        assert!(
            err.contains("o200k_base") && err.contains("cl100k_base"),
            "{err}"
        );
    }
}
