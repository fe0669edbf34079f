//! extract: URLs, emails, numbers, dates, hashtags and mentions, with
//! positions.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use regex::Regex;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::TextServer;
use crate::input::{Input, LineCursor, ListPaging, PageInfo, data, schema};

pub const KINDS: [&str; 6] = ["urls", "emails", "numbers", "dates", "hashtags", "mentions"];

const MONTH: &str = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";

static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    let date = format!(
        r"(?i)\b(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}|{MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? {MONTH}\.?,? \d{{4}})\b"
    );
    [
        ("urls", r#"(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'`]+"#.to_owned()),
        ("emails", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b".to_owned()),
        ("numbers", r"[-+]?(?:\b\d{1,3}(?:,\d{3})+|\b\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\b%?".to_owned()),
        ("dates", date),
        ("hashtags", r"\B#[\p{L}\p{N}_]*\p{L}[\p{L}\p{N}_]*".to_owned()),
        ("mentions", r"\B@[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?".to_owned()),
    ]
    .into_iter()
    .map(|(kind, re)| (kind, Regex::new(&re).expect("built-in pattern")))
    .collect()
});

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExtractParams {
    #[serde(flatten)]
    pub input: Input,
    /// What to extract: any of urls, emails, numbers, dates, hashtags,
    /// mentions. Default: all.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Report each distinct value once (its first occurrence). Default false.
    #[serde(default)]
    pub unique: bool,
    #[serde(flatten)]
    pub paging: ListPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Item {
    /// url, email, number, date, hashtag or mention.
    pub kind: String,
    pub value: String,
    /// For numbers: the value as a number (thousands separators removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<f64>,
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
    /// Byte offset in the UTF-8 input.
    pub byte_offset: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExtractOutput {
    /// Items found per kind (all of them, not just this page).
    pub counts: BTreeMap<String, usize>,
    /// Items in order of position, paged by offset/limit.
    pub items: Vec<Item>,
    pub page: PageInfo,
}

#[tool_router(router = extract_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Extract",
        description = "Find URLs, email addresses, numbers, dates (ISO 8601, 31/12/2024, Dec 31, 2024, 31 December 2024), #hashtags and @mentions in text, in order, with line, column and byte offset. `kinds` picks some; `unique` drops repeats. Numbers: a `-` or `+` right after a letter or digit is a hyphen, not a sign (2024-01-02 gives 2024, 01, 02); dates must exist on the calendar (2024-02-30 is not one). Positions: line 1-based, column 1-based in characters (Unicode scalar values), byte_offset 0-based in UTF-8 bytes; lines are counted at `\\n` (as `search` counts them; a lone `\\r` does not start one). Paged by offset/limit. Input: `text` or `path`.",
        output_schema = schema::<ExtractOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn extract(
        &self,
        Parameters(p): Parameters<ExtractParams>,
    ) -> ToolResult<CallToolResult> {
        p.paging.check()?;
        let kinds = p
            .kinds
            .unwrap_or_else(|| KINDS.iter().map(|k| (*k).to_owned()).collect());
        for kind in &kinds {
            if !KINDS.contains(&kind.as_str()) {
                return Err(ToolError::new(format!(
                    "unknown kind '{kind}'; use any of {}",
                    KINDS.join(", ")
                )));
            }
        }
        let loaded = self.load(p.input).await?;
        let (unique, paging) = (p.unique, p.paging);
        let out = blocking_unless_small(loaded.text.len(), move || {
            extract(&loaded.text, &kinds, unique, &paging)
        })
        .await?;
        data(&out)
    }
}

/// Every item of `kinds` in `text` (the values borrowed from it until the
/// page is cut, so that millions of items cost no copies), in order.
pub fn extract(
    text: &str,
    kinds: &[String],
    unique: bool,
    paging: &ListPaging,
) -> ToolResult<ExtractOutput> {
    let mut cursor = LineCursor::new(text);
    let mut found: Vec<(usize, &'static str, &str)> = Vec::new();
    for (kind, re) in PATTERNS.iter() {
        if !kinds.iter().any(|k| k == kind) {
            continue;
        }
        let singular = kind.trim_end_matches('s');
        let mut seen = HashSet::new();
        for (n, m) in re.find_iter(text).enumerate() {
            if n % 4096 == 4095 {
                mcp_servers_core::work::check()?;
            }
            let (mut start, mut value) = (m.start(), m.as_str());
            match *kind {
                "urls" => value = trim_url(value),
                // A sign right after a letter or digit is a hyphen
                // (`2024-01-02`, `10-20`, `555-1234`), not a minus.
                "numbers"
                    if value.starts_with(['-', '+'])
                        && text[..start]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_') =>
                {
                    start += 1;
                    value = &value[1..];
                }
                "dates" if !valid_date(value) => continue,
                _ => {}
            }
            if unique && !seen.insert(value) {
                continue;
            }
            found.push((start, singular, value));
        }
    }
    found.sort_by_key(|(offset, _, _)| *offset);
    let mut counts = BTreeMap::new();
    for (_, kind, _) in &found {
        *counts.entry(format!("{kind}s")).or_insert(0) += 1;
    }
    let (page, info) = paging.apply(found);
    let items = page
        .into_iter()
        .map(|(offset, kind, value)| {
            let (line, column) = cursor.line_col(offset);
            let number = (kind == "number").then(|| {
                value
                    .trim_end_matches('%')
                    .replace(',', "")
                    .parse::<f64>()
                    .ok()
            });
            Item {
                kind: kind.to_owned(),
                number: number.flatten(),
                value: value.to_owned(),
                line,
                column,
                byte_offset: offset,
            }
        })
        .collect();
    Ok(ExtractOutput {
        counts,
        items,
        page: info,
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Whether a day of a month exists (a two-digit year is taken as 20xx for
/// February 29th).
fn valid_day(year: u32, month: u32, day: u32) -> bool {
    let year = if year < 100 { 2000 + year } else { year };
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// Whether a date the pattern matched names a real day (and, for ISO
/// dates with a time, a real time): `2024-02-30` and `2024-13-01` are not
/// dates. `1/2/2024` is a date if either day/month or month/day order
/// makes one.
fn valid_date(value: &str) -> bool {
    let numbers: Vec<u32> = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().unwrap_or(u32::MAX))
        .collect();
    let bytes = value.as_bytes();
    if bytes.len() >= 10 && bytes[4] == b'-' && bytes[..4].iter().all(u8::is_ascii_digit) {
        // ISO: year, month, day, then hour, minute, second, fraction, zone.
        let ok_date = valid_day(numbers[0], numbers[1], numbers[2]);
        let time_part = &value[10..];
        let time_ok = time_part.is_empty() || {
            let t: Vec<u32> = time_part[1..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .take(2)
                .map(|n| n.parse().unwrap_or(u32::MAX))
                .collect();
            let seconds = time_part[1..]
                .get(5..)
                .filter(|r| r.starts_with(':'))
                .and_then(|r| r[1..].get(..2))
                .and_then(|s| s.parse::<u32>().ok());
            t[0] <= 23 && t[1] <= 59 && seconds.is_none_or(|s| s <= 60)
        };
        return ok_date && time_ok;
    }
    let month_name = value
        .chars()
        .any(|c| c.is_ascii_alphabetic() && !"stndrh".contains(c.to_ascii_lowercase()))
        || value.to_ascii_lowercase().contains("aug");
    if month_name {
        let lower = value.to_ascii_lowercase();
        let month = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ]
        .iter()
        .position(|m| lower.contains(m))
        .map_or(0, |i| i as u32 + 1);
        // The numbers are the day and the year, in either order.
        let (day, year) = if numbers[0] > 31 {
            (numbers[1], numbers[0])
        } else {
            (numbers[0], numbers[1])
        };
        return valid_day(year, month, day);
    }
    // 31/12/2024, 12/31/2024, 31.12.24.
    let (x, y, year) = (numbers[0], numbers[1], numbers[2]);
    valid_day(year, y, x) || valid_day(year, x, y)
}

/// A URL without the punctuation that usually ends the sentence around it,
/// and without a closing parenthesis it did not open.
fn trim_url(url: &str) -> &str {
    let mut url = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"']);
    while url.ends_with(')') && url.matches(')').count() > url.matches('(').count() {
        url = url[..url.len() - 1].trim_end_matches(['.', ',', ';', ':', '!', '?']);
    }
    while url.ends_with(']') && url.matches(']').count() > url.matches('[').count() {
        url = &url[..url.len() - 1];
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, kind: &str) -> Vec<String> {
        extract(text, &[kind.to_owned()], false, &ListPaging::default())
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.value)
            .collect()
    }

    #[test]
    fn urls_and_emails() {
        assert_eq!(
            values(
                "See https://example.com/a_(b)?x=1. Or (www.rust-lang.org).",
                "urls"
            ),
            ["https://example.com/a_(b)?x=1", "www.rust-lang.org"]
        );
        assert_eq!(
            values("mail a.b+c@mail.example.org, not @x", "emails"),
            ["a.b+c@mail.example.org"]
        );
    }

    #[test]
    fn numbers_dates_tags_mentions() {
        assert_eq!(
            values("Pay 1,234.50 or -3 or 2e3 (50%)", "numbers"),
            ["1,234.50", "-3", "2e3", "50%"]
        );
        let out = extract(
            "Pay 1,234.50",
            &["numbers".into()],
            false,
            &ListPaging::default(),
        )
        .unwrap();
        assert_eq!(out.items[0].number, Some(1234.5));
        assert_eq!(
            values(
                "On 2024-03-05T10:00Z, 31/12/2024, Dec 31, 2024 and 1 March 2025.",
                "dates"
            ),
            [
                "2024-03-05T10:00Z",
                "31/12/2024",
                "Dec 31, 2024",
                "1 March 2025"
            ]
        );
        assert_eq!(
            values("#rust and #1 and a#b #über_cool", "hashtags"),
            ["#rust", "#über_cool"]
        );
        assert_eq!(
            values("hi @alice and bob@x.com @bob_2.", "mentions"),
            ["@alice", "@bob_2"]
        );
    }

    /// Issue 21: a hyphen after a digit is not a minus sign.
    #[test]
    fn hyphens_between_digits_are_not_minus_signs() {
        assert_eq!(values("ISO 2024-01-02", "numbers"), ["2024", "01", "02"]);
        assert_eq!(values("10-20", "numbers"), ["10", "20"]);
        assert_eq!(values("555-1234", "numbers"), ["555", "1234"]);
        assert_eq!(values("COVID-19 x+1", "numbers"), ["19", "1"]);
        assert_eq!(
            values("-3, (-4) and 5 -6", "numbers"),
            ["-3", "-4", "5", "-6"]
        );
        let out = extract("10-20", &["numbers".into()], false, &ListPaging::default()).unwrap();
        assert_eq!(
            (out.items[1].number, out.items[1].byte_offset),
            (Some(20.0), 3)
        );
    }

    /// Issue 21: invalid dates are not dates (checked by the calendar,
    /// leap years included; Python's `datetime.date` agrees on each).
    #[test]
    fn invalid_dates_are_not_dates() {
        assert!(values("2024-02-30 2024-13-01 2023-02-29 2024-00-10", "dates").is_empty());
        assert_eq!(
            values("2024-02-29 2000-02-29 1900-02-29", "dates"),
            ["2024-02-29", "2000-02-29"]
        );
        assert!(values("2024-01-02T25:00 2024-01-02T10:60", "dates").is_empty());
        assert_eq!(
            values("2024-01-02T23:59:60Z", "dates"),
            ["2024-01-02T23:59:60Z"]
        );
        assert_eq!(
            values("31/12/2024 12/31/2024 32/12/2024 13/13/2024", "dates"),
            ["31/12/2024", "12/31/2024"]
        );
        assert_eq!(
            values("Feb 30, 2024 and 31 April 2024 and Apr 30, 2024", "dates"),
            ["Apr 30, 2024"]
        );
        assert_eq!(
            values("August 31st, 2024 and 1 Sept 2024", "dates"),
            ["August 31st, 2024", "1 Sept 2024"]
        );
    }

    #[test]
    fn unique_and_positions() {
        let out = extract(
            "#a #a\n#b",
            &["hashtags".into()],
            true,
            &ListPaging::default(),
        )
        .unwrap();
        assert_eq!(out.counts["hashtags"], 2);
        assert_eq!((out.items[1].line, out.items[1].column), (2, 1));
    }
}
