//! Grapheme, word and sentence counts (Unicode UAX #29), fast on ASCII.
//!
//! `unicode-segmentation` walks every character through the full Unicode
//! tables: ~25 ns a byte for each of the three counts, most of a
//! `text_stats` call on a large file. Every UAX #29 rule that could join two
//! ASCII characters is written out here for ASCII, and any line with a
//! non-ASCII byte goes to `unicode-segmentation`. That split is exact: all
//! three segmentations break after a line feed (GB4, WB3a, SB4), so no
//! segment spans two lines. The tests check every count against
//! `unicode-segmentation` on random text.

use unicode_segmentation::UnicodeSegmentation;

/// The three counts; words and sentences count only segments that contain
/// a letter or digit (as `unicode_words` and `unicode_sentences` do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub graphemes: usize,
    pub words: usize,
    pub sentences: usize,
}

impl std::ops::AddAssign for Segments {
    fn add_assign(&mut self, other: Self) {
        self.graphemes += other.graphemes;
        self.words += other.words;
        self.sentences += other.sentences;
    }
}

/// Counts `text`: runs of ASCII lines on the fast path, other lines one by
/// one through the Unicode tables.
pub fn count(text: &str) -> Segments {
    let bytes = text.as_bytes();
    let mut total = Segments::default();
    let mut run_start = 0;
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end =
            memchr::memchr(b'\n', &bytes[line_start..]).map_or(bytes.len(), |i| line_start + i + 1);
        let line = &text[line_start..line_end];
        if !line.is_ascii() {
            total += ascii(&bytes[run_start..line_start]);
            total += unicode(line);
            run_start = line_end;
        }
        line_start = line_end;
    }
    total += ascii(&bytes[run_start..]);
    total
}

/// The counts through `unicode-segmentation`, for any text.
pub fn unicode(text: &str) -> Segments {
    Segments {
        graphemes: text.graphemes(true).count(),
        words: text.unicode_words().count(),
        sentences: text.unicode_sentences().count(),
    }
}

/// The counts of ASCII text.
fn ascii(text: &[u8]) -> Segments {
    debug_assert!(text.is_ascii());
    Segments {
        graphemes: ascii_graphemes(text),
        words: ascii_words(text),
        sentences: ascii_sentences(text),
    }
}

/// Every ASCII character is a cluster of its own (GB999) except CR LF (GB3).
fn ascii_graphemes(text: &[u8]) -> usize {
    text.len() - memchr::memmem::find_iter(text, b"\r\n").count()
}

/// Word classes of the ASCII characters (WordBreakProperty.txt).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Letter,
    Digit,
    /// `_` (ExtendNumLet).
    Underscore,
    /// `:` (MidLetter): joins letters only.
    MidLetter,
    /// `,` `;` (MidNum): join digits only.
    MidNum,
    /// `.` `'` (MidNumLet, Single_Quote): join letters, or digits.
    MidBoth,
    Other,
}

fn word_class(b: u8) -> Word {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Word::Letter,
        b'0'..=b'9' => Word::Digit,
        b'_' => Word::Underscore,
        b':' => Word::MidLetter,
        b',' | b';' => Word::MidNum,
        b'.' | b'\'' => Word::MidBoth,
        _ => Word::Other,
    }
}

/// Words with a letter or digit. A letter or digit starts a new word unless
/// UAX #29 joins it to an earlier one: right after another (WB5, WB8-10),
/// after underscores that follow one (WB13a-b), or across one middle
/// character between two letters (WB6-7) or two digits (WB11-12). A word
/// that starts with underscores still counts once, at its first letter.
fn ascii_words(text: &[u8]) -> usize {
    let alnum = |c: Word| matches!(c, Word::Letter | Word::Digit);
    let mut words = 0;
    // Classes of the previous two bytes, and whether the underscores just
    // before this byte follow a letter or digit.
    let (mut prev2, mut prev) = (Word::Other, Word::Other);
    let mut underscores_joined = false;
    for &b in text {
        let class = word_class(b);
        if alnum(class) {
            let joined = match prev {
                Word::Letter | Word::Digit => true,
                Word::Underscore => underscores_joined,
                Word::MidLetter => prev2 == Word::Letter && class == Word::Letter,
                Word::MidNum => prev2 == Word::Digit && class == Word::Digit,
                Word::MidBoth => prev2 == class,
                Word::Other => false,
            };
            if !joined {
                words += 1;
            }
        } else if class == Word::Underscore {
            underscores_joined = match prev {
                Word::Letter | Word::Digit => true,
                Word::Underscore => underscores_joined,
                _ => false,
            };
        }
        prev2 = prev;
        prev = class;
    }
    words
}

/// Sentence classes of the ASCII characters (SentenceBreakProperty.txt).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sentence {
    Upper,
    Lower,
    Digit,
    /// `.`
    ATerm,
    /// `!` `?`
    STerm,
    /// Quotes and brackets.
    Close,
    /// Space, tab, vertical tab, form feed.
    Sp,
    /// CR and LF (ParaSep).
    ParaSep,
    /// `,` `-` `:` `;`
    SContinue,
    Other,
}

fn sentence_class(b: u8) -> Sentence {
    match b {
        b'A'..=b'Z' => Sentence::Upper,
        b'a'..=b'z' => Sentence::Lower,
        b'0'..=b'9' => Sentence::Digit,
        b'.' => Sentence::ATerm,
        b'!' | b'?' => Sentence::STerm,
        b'"' | b'\'' | b'(' | b')' | b'[' | b']' | b'{' | b'}' => Sentence::Close,
        b' ' | b'\t' | 0x0b | 0x0c => Sentence::Sp,
        b'\r' | b'\n' => Sentence::ParaSep,
        b',' | b'-' | b':' | b';' => Sentence::SContinue,
        _ => Sentence::Other,
    }
}

/// Sentences with a letter or digit. Breaks come only after a paragraph
/// separator (SB4; CR LF is one, SB3) or after a terminator with its closing
/// punctuation and spaces (SB11), unless SB6-SB8a keep the sentence going.
fn ascii_sentences(text: &[u8]) -> usize {
    let mut sentences = 0;
    let mut has_alnum = false;
    let mut i = 0;
    let mut end_sentence = |has_alnum: &mut bool| {
        if std::mem::take(has_alnum) {
            sentences += 1;
        }
    };
    while i < text.len() {
        let class = sentence_class(text[i]);
        match class {
            Sentence::Upper | Sentence::Lower | Sentence::Digit => has_alnum = true,
            Sentence::ParaSep => {
                // CR LF is one separator (SB3); break after it (SB4).
                if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                end_sentence(&mut has_alnum);
                continue;
            }
            Sentence::ATerm | Sentence::STerm => {
                let term = i;
                i += 1;
                // SB6: `.` before a digit; SB7: `.` between a letter and
                // an upper-case letter.
                if class == Sentence::ATerm
                    && let Some(&next) = text.get(i)
                {
                    let next = sentence_class(next);
                    let before = term
                        .checked_sub(1)
                        .map_or(Sentence::Other, |b| sentence_class(text[b]));
                    if next == Sentence::Digit
                        || next == Sentence::Upper
                            && matches!(before, Sentence::Upper | Sentence::Lower)
                    {
                        continue;
                    }
                }
                while i < text.len() && sentence_class(text[i]) == Sentence::Close {
                    i += 1;
                }
                while i < text.len() && sentence_class(text[i]) == Sentence::Sp {
                    i += 1;
                }
                let Some(&next) = text.get(i) else {
                    break;
                };
                match sentence_class(next) {
                    // SB9-SB10, then SB4 ends it after the separator.
                    Sentence::ParaSep => continue,
                    // SB8a: the sentence goes on.
                    Sentence::SContinue | Sentence::ATerm | Sentence::STerm => continue,
                    _ => {}
                }
                // SB8: after `.`, a lower-case letter before any upper-case
                // letter, separator or terminator goes on.
                if class == Sentence::ATerm {
                    let lower_first = text[i..].iter().map(|&b| sentence_class(b)).find(|c| {
                        matches!(
                            c,
                            Sentence::Upper
                                | Sentence::Lower
                                | Sentence::ParaSep
                                | Sentence::ATerm
                                | Sentence::STerm
                        )
                    }) == Some(Sentence::Lower);
                    if lower_first {
                        continue;
                    }
                }
                // SB11: a break here.
                end_sentence(&mut has_alnum);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    end_sentence(&mut has_alnum);
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no test-only dependency).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    fn random_text(rng: &mut Lcg, alphabet: &[&str], max_len: u64) -> String {
        let len = rng.next() % (max_len + 1);
        (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn ascii_counts_match_unicode_segmentation_on_random_text() {
        // Every ASCII class the rules name, weighted towards the tricky ones.
        let alphabet: Vec<String> = (0u8..128)
            .map(|b| (b as char).to_string())
            .chain(
                [
                    "a", "b", "Z", "Q", "1", "7", ".", ".", "!", "?", "'", "\"", ")", "(", " ",
                    " ", "\t", "\r", "\n", "\r\n", "_", "_", ":", ",", ";", "-", "e.g.", "U.S.",
                    "3.14", "etc. ", ". a", ". A", "...", "?!",
                ]
                .map(str::to_owned),
            )
            .collect();
        let alphabet: Vec<&str> = alphabet.iter().map(String::as_str).collect();
        let mut rng = Lcg(7);
        for round in 0..200_000 {
            let text = random_text(&mut rng, &alphabet, 24);
            assert_eq!(count(&text), unicode(&text), "round {round}: {text:?}");
        }
    }

    #[test]
    fn mixed_lines_match_unicode_segmentation() {
        let alphabet = [
            "a", "B", "1", ".", "!", " ", "\n", "\r\n", "'", "_", "é", "e\u{301}", "👍🏽", "中", "ß",
            ":", "\u{200d}", "Ω", ",", "\"",
        ];
        let mut rng = Lcg(11);
        for round in 0..50_000 {
            let text = random_text(&mut rng, &alphabet, 40);
            assert_eq!(count(&text), unicode(&text), "round {round}: {text:?}");
        }
    }

    #[test]
    fn prose() {
        let text = "Dr. Smith paid $3.50 for the U.S. edition, e.g. the first. \
                    Did he? Yes!\r\n\"Fine.\" (It was.) can't stop_here 1,000.5\n\nEnd";
        assert_eq!(count(text), unicode(text));
        assert_eq!(count(text).words, unicode(text).words);
        assert_eq!(count("").words, 0);
    }
}
