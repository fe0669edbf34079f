//! Grapheme, word and sentence counts (Unicode UAX #29), fast on simple text.
//!
//! `unicode-segmentation` walks every character through the full Unicode
//! tables: ~25 ns a byte for each of the three counts, most of a
//! `text_stats` call. Here every UAX #29 rule is written out for *simple*
//! characters: ASCII, and the upper- and lower-case letters of Latin-1 and
//! Latin Extended-A/B (`é`, `ß`, `Ł`: for all three segmentations plain
//! letters), and any line with another character goes to
//! `unicode-segmentation`. That split is exact: all three segmentations
//! break after a line feed (GB4, WB3a, SB4), so no segment spans two lines.
//! The tests check every count against `unicode-segmentation` on random
//! text.

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

/// Counts `text`: runs of simple lines on the fast path, other lines one by
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
        if !line.is_ascii() && !line.chars().all(is_simple) {
            total += simple(&text[run_start..line_start]);
            total += unicode(line);
            run_start = line_end;
        }
        line_start = line_end;
    }
    total += simple(&text[run_start..]);
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

/// ASCII, or a cased letter of Latin-1 Supplement or Latin Extended-A/B:
/// one grapheme cluster each (GB999), ALetter for words, Upper or Lower for
/// sentences. (`×`, `÷`, titlecase and uncased letters are not.)
fn is_simple(c: char) -> bool {
    c.is_ascii() || ('\u{c0}'..='\u{24f}').contains(&c) && (c.is_uppercase() || c.is_lowercase())
}

/// The counts of text made of simple characters only.
fn simple(text: &str) -> Segments {
    Segments {
        graphemes: simple_graphemes(text),
        words: simple_words(text),
        sentences: simple_sentences(text),
    }
}

/// Every simple character is a cluster of its own (GB999) except CR LF
/// (GB3).
fn simple_graphemes(text: &str) -> usize {
    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    chars - memchr::memmem::find_iter(text.as_bytes(), b"\r\n").count()
}

/// Word classes of the simple characters (WordBreakProperty.txt).
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

fn word_class(c: char) -> Word {
    match c {
        'a'..='z' | 'A'..='Z' => Word::Letter,
        '0'..='9' => Word::Digit,
        '_' => Word::Underscore,
        ':' => Word::MidLetter,
        ',' | ';' => Word::MidNum,
        '.' | '\'' => Word::MidBoth,
        c if !c.is_ascii() => Word::Letter,
        _ => Word::Other,
    }
}

/// Words with a letter or digit. A letter or digit starts a new word unless
/// UAX #29 joins it to an earlier one: right after another (WB5, WB8-10),
/// after underscores that follow one (WB13a-b), or across one middle
/// character between two letters (WB6-7) or two digits (WB11-12). A word
/// that starts with underscores still counts once, at its first letter.
fn simple_words(text: &str) -> usize {
    let alnum = |c: Word| matches!(c, Word::Letter | Word::Digit);
    let mut words = 0;
    // Classes of the previous two characters, and whether the underscores
    // just before this character follow a letter or digit.
    let (mut prev2, mut prev) = (Word::Other, Word::Other);
    let mut underscores_joined = false;
    for c in text.chars() {
        let class = word_class(c);
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

/// Sentence classes of the simple characters (SentenceBreakProperty.txt).
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

fn sentence_class(c: char) -> Sentence {
    match c {
        'A'..='Z' => Sentence::Upper,
        'a'..='z' => Sentence::Lower,
        '0'..='9' => Sentence::Digit,
        '.' => Sentence::ATerm,
        '!' | '?' => Sentence::STerm,
        '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' => Sentence::Close,
        ' ' | '\t' | '\u{b}' | '\u{c}' => Sentence::Sp,
        '\r' | '\n' => Sentence::ParaSep,
        ',' | '-' | ':' | ';' => Sentence::SContinue,
        c if c.is_uppercase() => Sentence::Upper,
        c if c.is_lowercase() => Sentence::Lower,
        _ => Sentence::Other,
    }
}

/// Sentences with a letter or digit. Breaks come only after a paragraph
/// separator (SB4; CR LF is one, SB3) or after a terminator with its closing
/// punctuation and spaces (SB11), unless SB6-SB8a keep the sentence going.
fn simple_sentences(text: &str) -> usize {
    let mut sentences = 0;
    let mut has_alnum = false;
    let mut end_sentence = |has_alnum: &mut bool| {
        if std::mem::take(has_alnum) {
            sentences += 1;
        }
    };
    let next_class = |chars: &std::str::Chars| chars.clone().next().map(sentence_class);
    let mut chars = text.chars();
    // The class of the character before the one at hand.
    let mut before = Sentence::Other;
    while let Some(c) = chars.next() {
        let class = sentence_class(c);
        match class {
            Sentence::Upper | Sentence::Lower | Sentence::Digit => has_alnum = true,
            Sentence::ParaSep => {
                // CR LF is one separator (SB3); break after it (SB4).
                if c == '\r' && chars.clone().next() == Some('\n') {
                    chars.next();
                }
                end_sentence(&mut has_alnum);
                before = Sentence::ParaSep;
                continue;
            }
            Sentence::ATerm | Sentence::STerm => {
                // SB6: `.` before a digit; SB7: `.` between a letter and
                // an upper-case letter.
                if class == Sentence::ATerm {
                    let next = next_class(&chars);
                    if next == Some(Sentence::Digit)
                        || next == Some(Sentence::Upper)
                            && matches!(before, Sentence::Upper | Sentence::Lower)
                    {
                        before = class;
                        continue;
                    }
                }
                before = class;
                while next_class(&chars) == Some(Sentence::Close) {
                    chars.next();
                    before = Sentence::Close;
                }
                while next_class(&chars) == Some(Sentence::Sp) {
                    chars.next();
                    before = Sentence::Sp;
                }
                match next_class(&chars) {
                    // The end: the last sentence ends below.
                    None => break,
                    // SB9-SB10, then SB4 ends it after the separator; SB8a:
                    // the sentence goes on.
                    Some(
                        Sentence::ParaSep | Sentence::SContinue | Sentence::ATerm | Sentence::STerm,
                    ) => continue,
                    Some(_) => {}
                }
                // SB8: after `.`, a lower-case letter before any upper-case
                // letter, separator or terminator goes on.
                if class == Sentence::ATerm {
                    let decides = chars.clone().map(sentence_class).find(|c| {
                        matches!(
                            c,
                            Sentence::Upper
                                | Sentence::Lower
                                | Sentence::ParaSep
                                | Sentence::ATerm
                                | Sentence::STerm
                        )
                    });
                    if decides == Some(Sentence::Lower) {
                        continue;
                    }
                }
                // SB11: a break here.
                end_sentence(&mut has_alnum);
                continue;
            }
            _ => {}
        }
        before = class;
    }
    end_sentence(&mut has_alnum);
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Lcg;

    #[test]
    fn simple_counts_match_unicode_segmentation_on_random_text() {
        // Every ASCII character and Latin letter, weighted towards the
        // classes the rules name.
        let alphabet: Vec<String> = (0u32..128)
            .chain(0xc0..0x250)
            .filter_map(char::from_u32)
            .map(|c| c.to_string())
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
        for round in 0..300_000 {
            let text = rng.text(&alphabet, 24);
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
            let text = rng.text(&alphabet, 40);
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
