//! Finding every match of a pattern fast, always exactly the matches of the
//! regex as written.
//!
//! The regex crate's fast engine (a lazy DFA) cannot do Unicode word
//! boundaries on non-ASCII text: `\b\w+ing\b` over prose with a few
//! accented words falls back to its slowest engine for the whole text.
//! Where both are ASCII, the same pattern with ASCII classes finds the same
//! matches on the DFA. Where only part of the text is ASCII, and no match
//! can cross a line, the ASCII lines go to the ASCII regex and each other
//! line to the Unicode one alone (small inputs get a fast backtracker).

use std::ops::Range;
use std::sync::Arc;

use mcp_servers_core::cache::ByteLru;
use mcp_servers_core::error::ToolResult;
use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::search::PatternParams;

/// Compiled patterns shared by every session, by source and flags. Building
/// a regex with Unicode classes (`\w`, `\b`) takes longer than searching a
/// few KiB with it, and agents repeat their patterns.
pub struct MatcherCache {
    lru: ByteLru<(String, bool), Arc<Matcher>>,
}

impl MatcherCache {
    /// Holds at most `entries` patterns.
    pub fn new(entries: usize) -> Self {
        MatcherCache {
            lru: ByteLru::new(entries),
        }
    }

    /// The matcher for `pattern`, compiled on first use.
    pub fn get(&self, pattern: &PatternParams) -> ToolResult<Arc<Matcher>> {
        let key = (pattern.source(), pattern.case_sensitive);
        if let Some(hit) = self.lru.get(&key) {
            return Ok(hit);
        }
        let matcher = Arc::new(pattern.matcher()?);
        self.lru.insert(key, matcher.clone(), 1);
        Ok(matcher)
    }
}

/// One compiled pattern, with its fast variants where they are exact.
#[derive(Debug)]
pub struct Matcher {
    unicode: Regex,
    /// The pattern with ASCII classes: exact on ASCII text.
    ascii: Option<Regex>,
    /// No match can contain a newline, be empty, or depend on the text's
    /// ends (`\A`, `\z`): each line can be searched on its own.
    line_local: bool,
    /// Line-local, and besides no match can contain a space nor depend on
    /// where a line starts or ends (`^`, `$`): each stretch between spaces
    /// can be searched on its own.
    space_local: bool,
}

impl Matcher {
    /// `hir` is `unicode`'s pattern parsed with the same flags; `ascii` the
    /// ASCII-class build (if the pattern has one).
    pub fn new(unicode: Regex, ascii: Option<Regex>, hir: Option<&Hir>) -> Self {
        let line_local = hir.is_some_and(|hir| {
            let props = hir.properties();
            props.minimum_len().is_some_and(|n| n > 0)
                && !props.look_set().contains(Look::Start)
                && !props.look_set().contains(Look::End)
                && !can_match_byte(hir, b'\n')
        });
        let space_local = line_local
            && hir.is_some_and(|hir| {
                !hir.properties().look_set().contains_anchor() && !can_match_byte(hir, b' ')
            });
        Matcher {
            unicode,
            ascii,
            line_local,
            space_local,
        }
    }

    /// Whether no match can cross a line (so text can be searched in parts
    /// cut after line feeds).
    pub fn is_line_local(&self) -> bool {
        self.line_local
    }

    /// The regex as written (for captures).
    pub fn regex(&self) -> &Regex {
        &self.unicode
    }

    /// Calls `found` with each match's byte range, in order; stops at the
    /// first error.
    pub fn for_each<E>(
        &self,
        text: &str,
        mut found: impl FnMut(Range<usize>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(ascii) = &self.ascii else {
            return each(&self.unicode, text, 0, &mut found);
        };
        if text.is_ascii() {
            return each(ascii, text, 0, &mut found);
        }
        if !self.line_local {
            return each(&self.unicode, text, 0, &mut found);
        }
        // Runs of ASCII text through the DFA; each line (or, for a
        // space-local pattern, each space-delimited stretch) with a
        // non-ASCII character alone through the Unicode regex.
        let bytes = text.as_bytes();
        let delimiter = |b: u8| b == b'\n' || self.space_local && b == b' ';
        let mut run_start = 0;
        let mut at = 0;
        while let Some(i) = first_non_ascii(&bytes[at..]) {
            let first = at + i;
            let start = bytes[run_start..first]
                .iter()
                .rposition(|&b| delimiter(b))
                .map_or(run_start, |d| run_start + d + 1);
            let mut end = first;
            // Up to the delimiter after the last non-ASCII byte of this
            // stretch and of the stretches right after it.
            loop {
                end = bytes[end..]
                    .iter()
                    .position(|&b| delimiter(b))
                    .map_or(bytes.len(), |d| end + d);
                match bytes.get(end + 1..).and_then(|rest| {
                    let next_end = rest
                        .iter()
                        .position(|&b| delimiter(b))
                        .map_or(rest.len(), |d| d);
                    rest[..next_end].iter().any(|&b| b >= 0x80).then_some(())
                }) {
                    Some(()) => end += 1,
                    None => break,
                }
            }
            each(ascii, &text[run_start..start], run_start, &mut found)?;
            each(&self.unicode, &text[start..end], start, &mut found)?;
            run_start = end;
            at = end;
        }
        each(ascii, &text[run_start..], run_start, &mut found)
    }
}

/// The index of the first byte of `bytes` that is not ASCII; 64 bytes a
/// step without branching, so it runs on SIMD.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(64);
    let mut offset = 0;
    for block in &mut blocks {
        if block.iter().fold(0, |any, &b| any | b) >= 0x80 {
            return block.iter().position(|&b| b >= 0x80).map(|i| offset + i);
        }
        offset += 64;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b >= 0x80)
        .map(|i| offset + i)
}

fn each<E>(
    re: &Regex,
    haystack: &str,
    offset: usize,
    found: &mut impl FnMut(Range<usize>) -> Result<(), E>,
) -> Result<(), E> {
    if haystack.is_empty() {
        return Ok(());
    }
    for m in re.find_iter(haystack) {
        found(offset + m.start()..offset + m.end())?;
    }
    Ok(())
}

/// Whether any string `hir` matches could contain the ASCII byte `b`.
fn can_match_byte(hir: &Hir, b: u8) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b),
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .any(|r| r.start() <= char::from(b) && char::from(b) <= r.end()),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .any(|r| r.start() <= b && b <= r.end()),
        HirKind::Repetition(rep) => can_match_byte(&rep.sub, b),
        HirKind::Capture(cap) => can_match_byte(&cap.sub, b),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().any(|sub| can_match_byte(sub, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::RegexBuilder;

    fn matcher(pattern: &str, case_insensitive: bool) -> Matcher {
        let build = |unicode| {
            RegexBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .multi_line(true)
                .unicode(unicode)
                .build()
        };
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(case_insensitive)
            .multi_line(true)
            .build()
            .parse(pattern)
            .unwrap();
        Matcher::new(build(true).unwrap(), build(false).ok(), Some(&hir))
    }

    fn all(m: &Matcher, text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        m.for_each(text, |r| {
            out.push(r);
            Ok::<_, ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn line_local_only_where_no_match_can_cross_lines() {
        assert!(matcher(r"\b\w+ing\b", false).line_local);
        assert!(matcher(r"^\w+$", false).line_local);
        assert!(!matcher(r"\s+", false).line_local, "\\s matches newline");
        assert!(!matcher(r"a\nb", false).line_local);
        assert!(!matcher(r"[^x]+", false).line_local);
        assert!(!matcher(r"(?s)a.b", false).line_local);
        assert!(!matcher(r"\Aword", false).line_local);
        assert!(!matcher(r"x*", false).line_local, "matches empty");
        assert!(matcher(r"a.b", false).line_local, ". stops at newline");
    }

    #[test]
    fn mixed_text_gives_exactly_the_unicode_matches() {
        let text = "Sing, singing KING_ing 42\ncafé naïving résuméing ring\n\nbring\tthing ring.\r\nÉtinging ing\nlast ing";
        for (pattern, ci) in [
            (r"\b\w+ing\b", false),
            (r"\b\w+ING\b", true),
            (r"^\w+", false),
            (r"\w+$", false),
            (r"ing\b", false),
            (r"\Bing", true),
            (r"\d+|\s+", false),
            (r"[a-zé]+", false),
            (r"(?s)g.r", false),
            (r"é\w*", false),
        ] {
            let m = matcher(pattern, ci);
            let expected: Vec<_> = m.regex().find_iter(text).map(|m| m.range()).collect();
            assert_eq!(all(&m, text), expected, "{pattern}");
        }
    }

    #[test]
    fn space_local_only_where_no_match_can_hold_a_space_or_anchor() {
        assert!(matcher(r"\b\w+ing\b", false).space_local);
        assert!(matcher(r"[a-zé]+", true).space_local);
        assert!(!matcher(r"\w+ \w+", false).space_local);
        assert!(
            !matcher(r"^\w+", false).space_local,
            "^ needs the line start"
        );
        assert!(!matcher(r"\w+$", false).space_local);
        assert!(!matcher(r"a.b", false).space_local, ". matches a space");
        assert!(!matcher(r"[^x]", false).space_local);
        assert!(!matcher(r"\s", false).space_local);
    }

    /// Random text of ASCII, Latin, combining marks, CJK and emoji, with
    /// spaces, tabs and line breaks: the fast paths find exactly what the
    /// Unicode regex finds alone.
    #[test]
    fn random_mixed_text_gives_exactly_the_unicode_matches() {
        let alphabet = [
            "a", "b", "ing", "s", "Z", "1", "_", " ", " ", "\t", "\n", "\r\n", ".", "'", "-", "é",
            "ï", "e\u{301}", "中", "👍", "ß", "Ω", "\u{a0}", "\u{2009}",
        ];
        let patterns = [
            (r"\b\w+ing\b", false),
            (r"\w+", false),
            (r"\bING", true),
            (r"\Bs\b", false),
            (r"[a-zé]+", true),
            (r"\d+|_+", false),
            (r"^\w", false),
            (r"\w$", false),
            (r"\w+\s\w+", false),
            (r"\w+ \w+", false),
            (r"i.g", false),
            (r"\W+", false),
        ];
        let matchers: Vec<_> = patterns.iter().map(|&(p, ci)| matcher(p, ci)).collect();
        let mut rng = crate::testing::Lcg(12345);
        for round in 0..20_000 {
            let text = rng.text(&alphabet, 39);
            for (m, (pattern, _)) in matchers.iter().zip(&patterns) {
                let expected: Vec<_> = m.regex().find_iter(&text).map(|m| m.range()).collect();
                assert_eq!(
                    all(m, &text),
                    expected,
                    "round {round}: {pattern} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn errors_stop_the_walk() {
        let m = matcher(r"\w+", false);
        let mut seen = 0;
        let result = m.for_each("a b\nc é d", |_| {
            seen += 1;
            if seen == 2 { Err("stop") } else { Ok(()) }
        });
        assert_eq!(result, Err("stop"));
        assert_eq!(seen, 2);
    }
}
