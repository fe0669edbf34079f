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
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::search::PatternParams;

/// The longest pattern source (after escaping) worth keeping compiled.
const MAX_CACHED_SOURCE: usize = 4096;

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

    /// The matcher for `pattern`, compiled on first use. Patterns longer
    /// than MAX_CACHED_SOURCE are compiled for the one call only: a
    /// compiled regex takes about a hundred times its source in memory, so
    /// sixteen 100 KiB literals would otherwise pin 200 MB.
    pub fn get(&self, pattern: &PatternParams) -> ToolResult<Arc<Matcher>> {
        let key = (pattern.source(), pattern.case_sensitive);
        if key.0.len() > MAX_CACHED_SOURCE {
            return Ok(Arc::new(pattern.matcher()?));
        }
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
    /// Literals one of which every match begins or ends with, when there
    /// are few: a stretch holding none of them has no match.
    needles: Option<Vec<Vec<u8>>>,
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
            needles: hir.and_then(needles),
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
        let Some(first) = first_non_ascii(text.as_bytes()) else {
            return each(ascii, text, 0, &mut found);
        };
        if !self.line_local {
            return each(&self.unicode, text, 0, &mut found);
        }
        // One walk of the ASCII regex over the whole text. A stretch holding
        // non-ASCII text (a line, or for a space-local pattern the run
        // between spaces) is bounded by ASCII delimiters no match can hold,
        // so no match crosses its edges: the ASCII matches inside it are
        // dropped and the Unicode regex's matches of it alone taken instead.
        let mut stretches = Stretches {
            bytes: text.as_bytes(),
            at: first,
            space_local: self.space_local,
        };
        let mut next = stretches.next();
        for m in ascii.find_iter(text) {
            while let Some(s) = next.clone().filter(|s| s.end <= m.start()) {
                self.each_in_stretch(text, s, &mut found)?;
                next = stretches.next();
            }
            if next.as_ref().is_some_and(|s| m.end() > s.start) {
                continue;
            }
            found(m.range())?;
        }
        while let Some(s) = next {
            self.each_in_stretch(text, s, &mut found)?;
            next = stretches.next();
        }
        Ok(())
    }

    /// The Unicode regex's matches in `text[stretch]`, skipped at once when
    /// the stretch lacks every literal a match must begin or end with.
    fn each_in_stretch<E>(
        &self,
        text: &str,
        stretch: Range<usize>,
        found: &mut impl FnMut(Range<usize>) -> Result<(), E>,
    ) -> Result<(), E> {
        let haystack = &text[stretch.clone()];
        if let Some(needles) = &self.needles
            && !needles
                .iter()
                .any(|n| memchr::memmem::find(haystack.as_bytes(), n).is_some())
        {
            return Ok(());
        }
        each(&self.unicode, haystack, stretch.start, found)
    }
}

/// The stretches of text around non-ASCII bytes, in order: from just after
/// the delimiter (line feed, or also space) before such a byte to the
/// delimiter after it.
struct Stretches<'t> {
    bytes: &'t [u8],
    /// Where to look for the next non-ASCII byte.
    at: usize,
    space_local: bool,
}

impl Stretches<'_> {
    fn is_delimiter(&self, b: u8) -> bool {
        b == b'\n' || self.space_local && b == b' '
    }
}

impl Iterator for Stretches<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let first = self.at + first_non_ascii(self.bytes.get(self.at..)?)?;
        let start = self.bytes[..first]
            .iter()
            .rposition(|&b| self.is_delimiter(b))
            .map_or(0, |d| d + 1);
        let end = self.bytes[first..]
            .iter()
            .position(|&b| self.is_delimiter(b))
            .map_or(self.bytes.len(), |d| first + d);
        self.at = end;
        Some(start..end)
    }
}

/// The index of the first byte of `bytes` that is not ASCII; 32 bytes a
/// step, as four words tested at once.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let word = |block: &[u8], i: usize| {
        u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    };
    let mut blocks = bytes.chunks_exact(32);
    let mut offset = 0;
    for block in &mut blocks {
        let any = (word(block, 0) | word(block, 1) | word(block, 2) | word(block, 3)) & HIGH_BITS;
        if any != 0 {
            for i in 0..4 {
                let high = word(block, i) & HIGH_BITS;
                if high != 0 {
                    return Some(offset + i * 8 + high.trailing_zeros() as usize / 8);
                }
            }
        }
        offset += 32;
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

/// Non-empty literals every match of `hir` must begin with (or end with),
/// at most 64 of them; of prefixes and suffixes, the set whose shortest
/// literal is longer.
fn needles(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(hir);
            let literals = seq.literals()?;
            let shortest = literals.iter().map(|l| l.as_bytes().len()).min()?;
            (shortest > 0 && literals.len() <= 64).then(|| {
                let needles: Vec<Vec<u8>> =
                    literals.iter().map(|l| l.as_bytes().to_vec()).collect();
                (shortest, needles)
            })
        })
        .max_by_key(|(shortest, needles)| (*shortest, std::cmp::Reverse(needles.len())))
        .map(|(_, needles)| needles)
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
            (r"é\w*ing", true),
            (r"ß|ss|\bz", true),
            (r"\w*ï\w*", false),
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
    fn first_non_ascii_at_every_position() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let ascii = vec![b'a'; len];
            assert_eq!(first_non_ascii(&ascii), None);
            for at in 0..len {
                let mut bytes = ascii.clone();
                bytes[at] = 0x80 | (at as u8);
                if at + 1 < len {
                    bytes[at + 1] = 0xff;
                }
                assert_eq!(first_non_ascii(&bytes), Some(at), "len {len} at {at}");
            }
        }
    }

    #[test]
    fn needles_are_the_literals_every_match_must_hold() {
        let needles = |p: &str, ci: bool| matcher(p, ci).needles;
        assert_eq!(needles(r"\b\w+ing\b", false), Some(vec![b"ing".to_vec()]));
        assert_eq!(needles(r"foo\w+", false), Some(vec![b"foo".to_vec()]));
        assert_eq!(needles(r"(?i)ab", false).map(|n| n.len()), Some(4));
        assert_eq!(needles(r"\w+", false), None);
        assert_eq!(needles(r"a?b*", false), None, "can match empty");
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
