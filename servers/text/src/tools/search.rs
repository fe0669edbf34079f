//! search and replace: literal or regex, with exact positions.

use std::cell::Cell;
use std::ops::Range;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::fsutil::atomic_write;
use mcp_servers_core::progress::Progress;
use regex::{Regex, RegexBuilder};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diff::unified;
use super::matcher::Matcher;
use super::{Ticker, worth_a_second_thread};
use crate::TextServer;
use crate::input::{
    Input, Int, LineCursor, Lines, ListPaging, MAX_LIMIT, MAX_SAFE_INTEGER, PageInfo, TextPage,
    TextPaging, check_opt, data, schema,
};
use mcp_servers_core::client_log::Level;

/// Largest compiled regex, in bytes.
const REGEX_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// Most lines of context before and after each match.
pub const MAX_CONTEXT_LINES: u64 = 100;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PatternParams {
    /// What to look for: literal text, or a regex when `regex` is true
    /// (at most 262144 bytes).
    #[schemars(length(max = 262144))]
    pub pattern: String,
    /// Treat `pattern` as a regular expression in Rust `regex` syntax
    /// (https://docs.rs/regex/latest/regex/#syntax): no look-around or
    /// backreferences; `^`/`$` match at line starts/ends; `(?s)` lets `.`
    /// match newlines. Default false (literal).
    #[serde(default)]
    pub regex: bool,
    /// Match case exactly. Default true.
    #[serde(default = "yes")]
    pub case_sensitive: bool,
    /// Only match whole words (the match must start and end at word
    /// boundaries). Default false.
    #[serde(default)]
    pub whole_word: bool,
}

fn yes() -> bool {
    true
}

/// Longest `pattern` accepted, in bytes: its compiled form takes about a
/// hundred times this (a 64 MiB literal took 6.5 GB).
pub const MAX_PATTERN_BYTES: usize = 256 * 1024;

impl PatternParams {
    pub fn compile(&self) -> ToolResult<Regex> {
        if self.pattern.is_empty() {
            return Err(ToolError::new("`pattern` is empty"));
        }
        self.builder()
            .build()
            .map_err(|e| ToolError::new(format!("invalid regex: {e}")))
    }

    /// The pattern with its fast variants (see `Matcher`).
    pub fn matcher(&self) -> ToolResult<Matcher> {
        if self.pattern.len() > MAX_PATTERN_BYTES {
            return Err(ToolError::new(format!(
                "`pattern` is {} bytes; at most {MAX_PATTERN_BYTES} are accepted (a compiled \
                 pattern takes about a hundred times its length in memory): search for a \
                 shorter, distinctive part of it",
                self.pattern.len()
            )));
        }
        let unicode = self.compile()?;
        // ASCII classes can only be exact for an ASCII pattern; patterns
        // that need Unicode (`\p{..}`, classes that could match non-UTF-8)
        // do not build this way.
        let ascii = self
            .pattern
            .is_ascii()
            .then(|| self.builder().unicode(false).build().ok())
            .flatten();
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(!self.case_sensitive)
            .multi_line(true)
            .build()
            .parse(&self.source())
            .ok();
        Ok(Matcher::new(unicode, ascii, hir.as_ref()))
    }

    pub(crate) fn source(&self) -> String {
        let source = if self.regex {
            self.pattern.clone()
        } else {
            regex::escape(&self.pattern)
        };
        if self.whole_word {
            format!(r"\b(?:{source})\b")
        } else {
            source
        }
    }

    fn builder(&self) -> RegexBuilder {
        let mut builder = RegexBuilder::new(&self.source());
        builder
            .case_insensitive(!self.case_sensitive)
            .multi_line(true)
            .size_limit(REGEX_SIZE_LIMIT);
        builder
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchParams {
    #[serde(flatten)]
    pub input: Input,
    #[serde(flatten)]
    pub pattern: PatternParams,
    /// Lines of context to include before and after each match, 0 to 100.
    /// Default 0.
    #[serde(default)]
    pub context: Int<0, MAX_CONTEXT_LINES>,
    /// Most matches to return (alias of `limit`), up to 10000. Default 100.
    #[serde(default)]
    pub max_results: Option<Int<1, MAX_LIMIT>>,
    #[serde(flatten)]
    pub paging: ListPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Group {
    /// Group number (1 is the first parenthesised group).
    pub index: usize,
    /// Group name for `(?P<name>...)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The captured text; absent when the group did not take part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_offset: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Match {
    /// The matched text.
    pub text: String,
    /// 1-based line of the match start.
    pub line: usize,
    /// 1-based column of the match start, in characters.
    pub column: usize,
    /// 1-based line and column just past the match end.
    pub end_line: usize,
    pub end_column: usize,
    /// Byte offsets of the match in the UTF-8 input: [byte_offset, byte_end).
    pub byte_offset: usize,
    pub byte_end: usize,
    /// The whole line (or lines) the match is on, without line endings.
    pub line_text: String,
    /// Capture groups (regex only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context_before: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context_after: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    pub matches: Vec<Match>,
    /// Position of this page among all matches (total = all matches).
    pub page: PageInfo,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReplaceParams {
    #[serde(flatten)]
    pub input: Input,
    #[serde(flatten)]
    pub pattern: PatternParams,
    /// Replacement text. With `regex`, `$1`, `${name}` and `$0` insert
    /// captures and `$$` is a literal `$`; without, it is taken literally.
    pub replacement: String,
    /// Replace at most this many matches (at least 1), first to last.
    /// Default: all.
    #[serde(default)]
    pub count: Option<Int<1, MAX_SAFE_INTEGER>>,
    /// Only preview: return a unified diff and change nothing. With `path`,
    /// false (the default) rewrites the file atomically.
    #[serde(default, rename = "dryRun", alias = "dry_run")]
    pub dry_run: bool,
    #[serde(flatten)]
    pub paging: TextPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplaceOutput {
    /// Matches replaced (or that would be, in a dry run).
    pub replacements: usize,
    /// Matches in the whole input.
    pub total_matches: usize,
    pub dry_run: bool,
    /// The file written, when `path` was given and this was not a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    /// Unified diff of the change (dry runs and file edits), paged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<TextPage>,
    /// The new text (inline input, not a dry run), paged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TextPage>,
}

#[tool_router(router = search_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Search Text",
        description = "Find every match of a literal string or a regex (Rust regex syntax: no look-around or backreferences; ^ and $ match at line boundaries) with exact 1-based line and column (in characters), byte offsets, capture groups and optional context lines. Units: columns count characters (Unicode scalar values), byte offsets are 0-based UTF-8 bytes. Lines end at `\\n` (a `\\r` before it is part of the line, so `$` matches before the `\\n`, after the `\\r`; a lone `\\r` does not end a line), as `extract` and `diff` count them. Paged: `offset`, `limit`/`max_results` (default 100, at most 10000); `page.total` is the number of all matches. Input: `text` or `path`.",
        output_schema = schema::<SearchOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn search(
        &self,
        Parameters(p): Parameters<SearchParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let ctx = p.context.check("context")?;
        check_opt(&p.max_results, "max_results")?;
        p.paging.check()?;
        let matcher = self.matchers.get(&p.pattern)?;
        let loaded = self.load(p.input).await?;
        let mut paging = p.paging;
        if paging.limit.is_none() {
            paging.limit = p.max_results;
        }
        let progress = Progress::from_context(&context);
        let reporter = progress.clone();
        let cap = self.output_cap();
        let out = blocking_unless_small(loaded.text.len(), move || {
            search(&loaded.text, &matcher, ctx, &paging, &reporter, cap)
        })
        .await?;
        progress.flush().await;
        if out.page.truncated {
            self.log
                .send(
                    &context.peer,
                    Level::Info,
                    format!(
                        "search: {} matches, returned {}",
                        out.page.total, out.page.returned
                    ),
                )
                .await;
        }
        data(&out)
    }

    #[tool(
        title = "Replace Text",
        description = "Replace matches of a literal string or a regex (Rust regex syntax; `$1`/`${name}` in `replacement` insert captures) exactly, optionally only the first `count`. `dryRun: true` returns a unified diff and changes nothing. With `text`, returns the new text (paged by start_index/max_length); with `path`, rewrites the file atomically and returns the diff. Line endings are left as they are (the replacement is inserted verbatim; matches are found as `search` finds them, lines ending at `\\n`); the diff counts lines as `diff` does (only `\\n` ends a line, so it applies with `patch`). `count` counts matches; the paged text is measured in characters.",
        output_schema = schema::<ReplaceOutput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn replace(
        &self,
        Parameters(p): Parameters<ReplaceParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let limit = check_opt(&p.count, "count")?.unwrap_or(usize::MAX);
        p.paging.check()?;
        let re = self.matchers.get(&p.pattern)?.regex().clone();
        let literal = !p.pattern.regex;
        let loaded = self.load(p.input).await?;
        let progress = Progress::from_context(&context);
        progress.check()?;
        let cap = self.output_cap();
        let replacement = p.replacement;
        let dry_run = p.dry_run;
        let paging = p.paging;
        let path = loaded.path.clone();
        // A file is rewritten on the pool, whatever its size.
        let work = if path.is_some() {
            usize::MAX
        } else {
            loaded.text.len()
        };
        let out = blocking_unless_small(work, move || {
            let text = loaded.text;
            let (total_matches, new_len) =
                measure_replacement(&re, &text, &replacement, literal, limit)?;
            if new_len > cap as u64 {
                return Err(ToolError::new(format!(
                    "the replaced text would be up to {new_len} bytes, over the output cap of \
                     {cap} bytes (`replacement` is copied for every match); replace fewer \
                     matches (`count`) or in a smaller text"
                )));
            }
            let replacements = total_matches.min(limit);
            let new = if literal {
                re.replacen(&text, limit, regex::NoExpand(&replacement))
            } else {
                re.replacen(&text, limit, replacement.as_str())
            };
            let label = path
                .as_ref()
                .map_or_else(|| "text".to_owned(), |p| p.display().to_string());
            let mut out = ReplaceOutput {
                replacements,
                total_matches,
                dry_run,
                written: None,
                diff: None,
                result: None,
            };
            if dry_run || path.is_some() {
                out.diff = Some(paging.page(&unified(&text, &new, &label, &label, 3)));
            }
            if !dry_run {
                match &path {
                    Some(path) => {
                        if replacements > 0 {
                            atomic_write(path, new.as_bytes())
                                .map_err(|e| ToolError::io(&e, path))?;
                        }
                        out.written = Some(path.display().to_string());
                    }
                    None => out.result = Some(paging.page(&new)),
                }
            }
            Ok(out)
        })
        .await?;
        if let Some(written) = &out.written {
            self.log
                .send(
                    &context.peer,
                    Level::Notice,
                    format!("replace: {} replacements in {written}", out.replacements),
                )
                .await;
        }
        data(&out)
    }
}

/// The number of matches of `re` in `text`, and (from above) the length of
/// the text once the first `limit` are replaced: each replacement is the
/// replacement text plus, for each `$` in it (with a regex), at most the
/// whole match again (a group is part of the match).
fn measure_replacement(
    re: &Regex,
    text: &str,
    replacement: &str,
    literal: bool,
    limit: usize,
) -> ToolResult<(usize, u64)> {
    let refs = if literal {
        0
    } else {
        memchr::memchr_iter(b'$', replacement.as_bytes()).count() as u64
    };
    let mut total = 0usize;
    let mut len = text.len() as u64;
    for m in re.find_iter(text) {
        total += 1;
        if total.is_multiple_of(4096) {
            mcp_servers_core::work::check()?;
        }
        if total <= limit {
            let matched = m.len() as u64;
            len = len.saturating_add(replacement.len() as u64 + refs.saturating_mul(matched))
                - matched;
        }
    }
    Ok((total, len))
}

/// Every match of `re` in `text`; the page `paging` asks for is filled in,
/// the others only counted. The page's text (each match's lines and
/// context, which long lines repeat for every match on them) is refused
/// past `cap` bytes, before it is copied.
pub fn search(
    text: &str,
    matcher: &Matcher,
    context: usize,
    paging: &ListPaging,
    progress: &Progress,
    cap: usize,
) -> ToolResult<SearchOutput> {
    let re = matcher.regex();
    // Lines are counted only up to the last returned match.
    let mut cursor = LineCursor::new(text);
    let lines = Lines::new(text);
    let names: Vec<Option<String>> = re.capture_names().map(|n| n.map(str::to_owned)).collect();
    let has_groups = re.captures_len() > 1;
    let mut ticker = Ticker::new(progress.clone(), text.len(), 4096);
    let mut matches = Vec::new();
    let total = Cell::new(0usize);
    let mut page_bytes = 0usize;
    // Matches beyond the page are only counted; capture groups are resolved
    // for the returned page alone.
    let mut on_match = |m: Range<usize>| -> Result<(), ToolError> {
        ticker.tick(m.start)?;
        if paging.wants(total.get()) {
            let (line, column) = cursor.line_col(m.start);
            let (end_line, end_column) = cursor.line_col(m.end);
            let ends_with_newline = m.end > m.start && text[..m.end].ends_with('\n');
            let first_start = lines.start_of(m.start);
            let last_end = if ends_with_newline {
                m.end - 1
            } else {
                lines.end_of(m.end)
            };
            let before = lines.before(first_start, context);
            let after = lines.after(last_end, context);
            page_bytes = page_bytes
                .saturating_add(2 * m.len() + (last_end - first_start))
                .saturating_add(before.iter().chain(&after).map(|l| l.len()).sum());
            if page_bytes > cap {
                return Err(ToolError::new(format!(
                    "this page of matches would hold over {cap} bytes of text (the output cap): \
                     each match repeats its whole line and its context; ask for fewer matches \
                     (`limit`) or less `context`"
                )));
            }
            let caps = has_groups.then(|| re.captures_at(text, m.start)).flatten();
            let groups = if let Some(caps) = caps {
                (1..caps.len())
                    .map(|i| Group {
                        index: i,
                        name: names[i].clone(),
                        text: caps.get(i).map(|g| g.as_str().to_owned()),
                        byte_offset: caps.get(i).map(|g| g.start()),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            matches.push(Match {
                text: text[m.clone()].to_owned(),
                line,
                column,
                end_line,
                end_column,
                byte_offset: m.start,
                byte_end: m.end,
                line_text: lines
                    .within(first_start, last_end)
                    .collect::<Vec<_>>()
                    .join("\n"),
                groups,
                context_before: before.into_iter().map(str::to_owned).collect(),
                context_after: after.into_iter().map(str::to_owned).collect(),
            });
        }
        total.set(total.get() + 1);
        Ok(())
    };
    match parallel_split(text, matcher) {
        None => matcher.for_each(text, &mut on_match)?,
        Some(mid) => {
            // The tail is counted on a second thread while this one walks
            // the head; the tail is walked again only for a page that
            // reaches into it.
            let (head, tail) = text.split_at(mid);
            let tail_count = std::thread::scope(|scope| {
                let counting = scope.spawn(|| count_matches(matcher, tail, progress));
                let head_walk = matcher.for_each(head, &mut on_match);
                let tail_count = counting.join().map_err(|_| {
                    ToolError::new(
                        "internal error: a search thread crashed; please report this bug",
                    )
                })?;
                head_walk.and(tail_count)
            })?;
            let head_count = total.get();
            let page_end = paging.offset().saturating_add(paging.limit());
            if page_end > head_count {
                let walk = matcher.for_each(tail, |m| {
                    if total.get() >= page_end {
                        return Err(None);
                    }
                    on_match(m.start + mid..m.end + mid).map_err(Some)
                });
                if let Err(Some(e)) = walk {
                    return Err(e);
                }
            }
            total.set(head_count + tail_count);
        }
    }
    Ok(SearchOutput {
        matches,
        page: paging.info(total.get()),
    })
}

/// Where to cut `text` in two for two threads: just after the line feed
/// nearest its middle, when the pattern cannot match across lines (so each
/// half finds exactly its own matches) and there is a second core.
fn parallel_split(text: &str, matcher: &Matcher) -> Option<usize> {
    if !worth_a_second_thread(text.len()) || !matcher.is_line_local() {
        return None;
    }
    let middle = text.len() / 2;
    memchr::memchr(b'\n', &text.as_bytes()[middle..]).map(|i| middle + i + 1)
}

/// The number of matches in `text`, stopping early if cancelled.
fn count_matches(matcher: &Matcher, text: &str, progress: &Progress) -> ToolResult<usize> {
    let mut count = 0usize;
    matcher.for_each(text, |_| {
        count += 1;
        if count.is_multiple_of(4096) {
            progress.check()?;
        }
        Ok::<_, ToolError>(())
    })?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::PARALLEL_FROM;

    const CAP: usize = 128 << 20;

    fn params(p: &str, regex: bool, case_sensitive: bool, whole_word: bool) -> PatternParams {
        PatternParams {
            pattern: p.to_owned(),
            regex,
            case_sensitive,
            whole_word,
        }
    }

    #[test]
    fn compiled_patterns_are_reused_by_source_and_case() {
        use super::super::matcher::MatcherCache;
        let cache = MatcherCache::new(2);
        let a = cache.get(&params(r"\w+ing", true, true, false)).unwrap();
        let again = cache.get(&params(r"\w+ing", true, true, false)).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &again));
        let folded = cache.get(&params(r"\w+ing", true, false, false)).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&a, &folded));
        // A literal is escaped: not the same source as the regex.
        let literal = cache.get(&params(r"\w+ing", false, true, false)).unwrap();
        assert!(literal.regex().is_match(r"a\w+ing"));
        assert!(!literal.regex().is_match("sing"));
        assert!(cache.get(&params("(", true, true, false)).is_err());
        // A long pattern is compiled for its call and not kept.
        let long = "A".repeat(5000);
        let first = cache.get(&params(&long, false, true, false)).unwrap();
        let second = cache.get(&params(&long, false, true, false)).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&first, &second));
        assert!(second.regex().is_match(&long));
    }

    /// A pattern over the cap is refused before it is compiled (a 64 MiB
    /// literal took 6.5 GB); one at the cap compiles.
    #[test]
    fn huge_patterns_are_refused_before_compiling() {
        let params = |pattern: String| PatternParams {
            pattern,
            regex: false,
            case_sensitive: true,
            whole_word: false,
        };
        let err = params("A".repeat(MAX_PATTERN_BYTES + 1))
            .matcher()
            .unwrap_err();
        assert!(err.message().contains("`pattern`"), "{err}");
        assert!(params("A".repeat(64)).matcher().is_ok());
    }

    /// Every match through the matcher's fast paths is a match of the
    /// regex as written, on ASCII, mixed and non-ASCII text.
    #[test]
    fn matcher_finds_exactly_the_unicode_matches() {
        let texts = [
            "Sing, singing KING_ing 42 rings\nbring\tthing ring.",
            "Sing, café-ing KING_ing 42\nnaïveing ring\r\n\nbring ſing thing",
        ];
        for (p, regex, case, word) in [
            (r"\b\w+ing\b", true, true, false),
            (r"(?i)ING\b", true, true, false),
            ("ing", false, false, true),
            ("sing", false, false, false),
            (r"^\w+", true, true, false),
            (r"\d+|\s+", true, true, false),
            (r"\w+", true, true, false),
        ] {
            let params = params(p, regex, case, word);
            let unicode = params.compile().unwrap();
            let matcher = params.matcher().unwrap();
            for text in texts {
                let expected: Vec<_> = unicode.find_iter(text).map(|m| m.range()).collect();
                let mut found = Vec::new();
                matcher
                    .for_each(text, |r| {
                        found.push(r);
                        Ok::<_, ()>(())
                    })
                    .unwrap();
                assert_eq!(found, expected, "{p} in {text:?}");
            }
        }
    }

    fn pattern(p: &str, regex: bool, case_sensitive: bool) -> Matcher {
        PatternParams {
            pattern: p.to_owned(),
            regex,
            case_sensitive,
            whole_word: false,
        }
        .matcher()
        .unwrap()
    }

    fn run(text: &str, re: &Matcher, context: usize) -> SearchOutput {
        search(
            text,
            re,
            context,
            &ListPaging::default(),
            &Progress::none(),
            CAP,
        )
        .unwrap()
    }

    #[test]
    fn literal_matches_have_lines_and_char_columns() {
        let out = run("héllo a.b\nxa.b\n", &pattern("a.b", false, true), 0);
        assert_eq!(out.page.total, 2);
        assert_eq!((out.matches[0].line, out.matches[0].column), (1, 7));
        assert_eq!(out.matches[0].byte_offset, 7);
        assert_eq!((out.matches[1].line, out.matches[1].column), (2, 2));
        assert_eq!(out.matches[1].line_text, "xa.b");
    }

    #[test]
    fn regex_groups_case_and_context() {
        let text = "one\nKey = 1\nkey = 22\nlast\n";
        let out = run(text, &pattern(r"(?P<k>key) = (\d+)", true, false), 1);
        assert_eq!(out.page.total, 2);
        let m = &out.matches[1];
        assert_eq!(m.groups[0].name.as_deref(), Some("k"));
        assert_eq!(m.groups[1].text.as_deref(), Some("22"));
        assert_eq!(m.context_before, ["Key = 1"]);
        assert_eq!(m.context_after, ["last"]);
        assert!(run("^x", &pattern("^x$", true, true), 0).matches.is_empty());
    }

    #[test]
    fn invalid_regex_is_a_clear_error() {
        let err = PatternParams {
            pattern: "(".into(),
            regex: true,
            case_sensitive: true,
            whole_word: false,
        }
        .compile()
        .unwrap_err();
        assert!(err.message().starts_with("invalid regex"), "{err}");
    }

    #[test]
    fn paging_counts_everything_and_fills_one_page() {
        let paging = ListPaging::new(2, Some(2));
        let out = search(
            "aaaaa",
            &pattern("a", false, true),
            0,
            &paging,
            &Progress::none(),
            CAP,
        )
        .unwrap();
        assert_eq!(out.page.total, 5);
        assert_eq!(out.matches.len(), 2);
        assert_eq!(out.matches[0].byte_offset, 2);
        assert_eq!(out.page.next_offset, Some(4));
    }

    /// Large inputs are searched in two halves on two threads: every page,
    /// including those around and past the cut, holds exactly the matches a
    /// single walk finds, with their global positions and lines.
    #[test]
    fn split_search_pages_like_one_walk() {
        let line = "singing bring ring café naïving thing\n";
        let text = line.repeat(2 * PARALLEL_FROM / line.len());
        let re = pattern(r"\b\w+ing\b", true, true);
        assert!(re.is_line_local());
        let expected: Vec<usize> = re.regex().find_iter(&text).map(|m| m.start()).collect();
        assert!(parallel_split(&text, &re).is_some() || num_cpus_is_one());
        for offset in [
            0,
            expected.len() / 2 - 3,
            expected.len() - 2,
            expected.len() + 5,
        ] {
            let paging = ListPaging::new(offset, Some(6));
            let out = search(&text, &re, 1, &paging, &Progress::none(), CAP).unwrap();
            assert_eq!(out.page.total, expected.len());
            let got: Vec<usize> = out.matches.iter().map(|m| m.byte_offset).collect();
            let want: Vec<usize> = expected.iter().copied().skip(offset).take(6).collect();
            assert_eq!(got, want, "offset {offset}");
            for m in &out.matches {
                assert_eq!(&text[m.byte_offset..m.byte_end], m.text);
                assert_eq!(m.line, m.byte_offset / line.len() + 1);
            }
        }
    }

    fn num_cpus_is_one() -> bool {
        std::thread::available_parallelism().map_or(true, |n| n.get() == 1)
    }

    #[test]
    fn a_page_of_long_lines_is_refused_before_it_is_copied() {
        // 100 matches on one 1 MB line: each would copy the line.
        let line = "a".repeat(1 << 20);
        let re = pattern("a", false, true);
        let err = search(
            &line,
            &re,
            0,
            &ListPaging::default(),
            &Progress::none(),
            10 << 20,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`limit`"), "{err}");
        let out = search(
            &line,
            &re,
            0,
            &ListPaging::new(0, Some(5)),
            &Progress::none(),
            10 << 20,
        )
        .unwrap();
        assert_eq!(out.matches.len(), 5);
        assert_eq!(out.page.total, 1 << 20);
        // Context lines count too.
        let text = "x\n".repeat(1000);
        let err = search(
            &text,
            &pattern("x", false, true),
            100,
            &ListPaging::default(),
            &Progress::none(),
            10_000,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`context`"), "{err}");
    }

    #[test]
    fn replacements_are_measured_from_above() {
        let re = Regex::new("a").unwrap();
        // Literal: exact.
        let (total, len) = measure_replacement(&re, "banana", "xyz", true, usize::MAX).unwrap();
        assert_eq!((total, len), (3, 3 + 9));
        let (_, len) = measure_replacement(&re, "banana", "xyz", true, 1).unwrap();
        assert_eq!(len, 5 + 3);
        // With captures, each `$` may copy the whole match again.
        let re = Regex::new("(an)+").unwrap();
        let text = "banana";
        let (total, len) = measure_replacement(&re, text, "$1$1$1", false, usize::MAX).unwrap();
        let real = re.replace_all(text, "$1$1$1");
        assert_eq!(total, 1);
        assert!(len >= real.len() as u64, "{len} < {}", real.len());
    }
}
