//! Token counts with OpenAI's BPE vocabularies, exactly as the reference
//! `tiktoken` counts them. The vocabularies ship inside `tiktoken-rs`, so
//! this works offline; each is loaded once, on first use.
//!
//! Text is encoded as ordinary text: special tokens such as `<|endoftext|>`
//! are counted as the characters they are made of, which is what Python's
//! `len(enc.encode(text, disallowed_special=()))` gives.

use mcp_servers_core::error::ToolError;
use std::sync::atomic::{AtomicBool, Ordering};

use tiktoken_rs::CoreBPE;

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

pub fn names() -> Vec<&'static str> {
    TOKENIZERS.iter().map(|t| t.name).collect()
}

/// Fails with the list of known names unless `name` is one (without
/// loading the vocabulary).
pub fn bpe_name_known(name: &str) -> Result<(), ToolError> {
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

/// Which of [`TOKENIZERS`] [`bpe`] has loaded.
static LOADED: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

/// The place of `name` in [`TOKENIZERS`].
fn index(name: &str) -> Option<usize> {
    TOKENIZERS.iter().position(|t| t.name == name)
}

/// Whether the encoder called `name` is loaded (so using it is quick).
pub fn is_loaded(name: &str) -> bool {
    index(name).is_some_and(|i| LOADED[i].load(Ordering::Relaxed))
}

/// The encoder called `name` (loaded on first use).
pub fn bpe(name: &str) -> Result<&'static CoreBPE, ToolError> {
    let bpe = load(name)?;
    if let Some(i) = index(name) {
        LOADED[i].store(true, Ordering::Relaxed);
    }
    Ok(bpe)
}

fn load(name: &str) -> Result<&'static CoreBPE, ToolError> {
    Ok(match name {
        "o200k_base" => tiktoken_rs::o200k_base_singleton(),
        "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
        "p50k_base" => tiktoken_rs::p50k_base_singleton(),
        "r50k_base" => tiktoken_rs::r50k_base_singleton(),
        other => return Err(unknown(other)),
    })
}

/// A second copy of the encoder called `name`, for a second thread (built
/// on first use, then kept). tiktoken's encoder shares its regex engine's
/// caches among all the threads that use it: two threads on one copy were
/// measured slower than one thread alone, two on two copies twice as fast.
/// A copy costs what the first did (cl100k_base ~24 MB, o200k_base ~45 MB),
/// so there is only ever one.
pub fn second_copy(name: &str) -> Result<&'static CoreBPE, ToolError> {
    use std::sync::OnceLock;
    static COPIES: [OnceLock<CoreBPE>; 4] = [const { OnceLock::new() }; 4];
    let index = index(name).ok_or_else(|| unknown(name))?;
    if let Some(copy) = COPIES[index].get() {
        return Ok(copy);
    }
    let built = match name {
        "o200k_base" => tiktoken_rs::o200k_base(),
        "cl100k_base" => tiktoken_rs::cl100k_base(),
        "p50k_base" => tiktoken_rs::p50k_base(),
        _ => tiktoken_rs::r50k_base(),
    }
    .map_err(|e| ToolError::new(format!("internal error: loading {name}: {e}")))?;
    Ok(COPIES[index].get_or_init(|| built))
}

/// Number of tokens `text` encodes to.
pub fn count(bpe: &CoreBPE, text: &str) -> usize {
    bpe.encode_ordinary(text).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, text: &str) -> usize {
        count(bpe(name).unwrap(), text)
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
        assert_eq!(
            bpe("cl100k_base").unwrap().encode_ordinary("hello world"),
            [15339, 1917]
        );
        assert_eq!(
            bpe("o200k_base").unwrap().encode_ordinary("hello world"),
            [24912, 2375]
        );
    }

    #[test]
    fn loading_is_remembered() {
        assert!(!is_loaded("no_such_tokenizer"));
        bpe("r50k_base").unwrap();
        assert!(is_loaded("r50k_base"));
    }

    #[test]
    fn second_copies_count_the_same() {
        for t in TOKENIZERS {
            let copy = second_copy(t.name).unwrap();
            assert!(!std::ptr::eq(copy, bpe(t.name).unwrap()));
            assert_eq!(
                count(copy, "Hello, world! é 👍"),
                n(t.name, "Hello, world! é 👍")
            );
        }
    }

    #[test]
    fn unknown_tokenizer_names_the_known_ones() {
        let err = bpe_name_known("gpt2").unwrap_err().to_string();
        assert!(bpe("gpt2").is_err());
        assert!(
            err.contains("o200k_base") && err.contains("cl100k_base"),
            "{err}"
        );
    }
}
