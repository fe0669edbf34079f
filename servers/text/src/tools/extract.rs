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
        description = "Find URLs, email addresses, numbers, dates (ISO 8601, 31/12/2024, Dec 31, 2024, 31 December 2024), #hashtags and @mentions in text, in order, with line, column and byte offset. `kinds` picks some; `unique` drops repeats. Paged by offset/limit. Input: `text` or `path`.",
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
            let mut value = m.as_str();
            if *kind == "urls" {
                value = trim_url(value);
            }
            if unique && !seen.insert(value) {
                continue;
            }
            found.push((m.start(), singular, value));
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
