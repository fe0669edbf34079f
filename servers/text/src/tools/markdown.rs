//! markdown (to HTML, to plain text, outline, links, code blocks) and
//! html_to_markdown (readable Markdown from a web page).

use std::cell::RefCell;

use mcp_servers_core::error::{ToolError, ToolResult, blocking_unless_small};
use mcp_servers_core::work;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::TextServer;
use crate::input::{
    Input, Int, LineCursor, ListPaging, MAX_SAFE_INTEGER, PageInfo, TextPage, TextPaging, data,
    schema,
};

pub const MARKDOWN_ACTIONS: [&str; 5] = ["html", "text", "outline", "links", "code_blocks"];

/// Elements that are never content.
const SKIP_TAGS: [&str; 10] = [
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "form", "button", "head",
];
/// Page furniture left out when extracting the main content.
const CHROME_TAGS: [&str; 4] = ["nav", "header", "footer", "aside"];

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MarkdownParams {
    #[serde(flatten)]
    pub input: Input,
    /// html (default): render to HTML; text: plain text without markup;
    /// outline: the headings; links: every link and image; code_blocks:
    /// every code block with its language.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(flatten)]
    pub text_paging: TextPaging,
    #[serde(flatten)]
    pub paging: ListPaging,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Heading {
    /// 1 to 6.
    pub level: u8,
    pub text: String,
    /// 1-based line in the input.
    pub line: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Link {
    /// "link", "image", "autolink" or "email".
    pub kind: String,
    pub url: String,
    /// The link text (or an image's alt text).
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub line: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CodeBlock {
    /// The fence's info string ("rust", "python title=x"), empty if none.
    pub language: String,
    pub code: String,
    /// 1-based line of the block's start in the input.
    pub line: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MarkdownOutput {
    pub action: String,
    /// HTML or plain text (html and text), paged by start_index/max_length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TextPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headings: Option<Vec<Heading>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_blocks: Option<Vec<CodeBlock>>,
    /// Paging of the list (outline, links, code_blocks), by offset/limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<PageInfo>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HtmlParams {
    #[serde(flatten)]
    pub input: Input,
    /// Keep only the main content: the <main> or <article> element when
    /// there is one, without navigation, header, footer and aside. Default
    /// true; false converts the whole page.
    #[serde(default)]
    pub main_content: Option<bool>,
    /// Character index to start the returned Markdown at (for the next page).
    /// Default 0.
    #[serde(default)]
    pub start_index: Int<0, MAX_SAFE_INTEGER>,
    /// Most characters of Markdown to return. Default 20000.
    #[serde(default)]
    pub max_length: Option<Int<1, MAX_SAFE_INTEGER>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HtmlOutput {
    /// The page's <title>, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Which part was converted: "main", "article", "body" or "document".
    pub source: String,
    /// The Markdown, paged by start_index/max_length.
    pub markdown: TextPage,
}

#[tool_router(router = markdown_router, vis = "pub(crate)")]
impl TextServer {
    #[tool(
        title = "Markdown",
        description = "Work on Markdown (CommonMark with tables, footnotes, strikethrough, task lists). action: html (default, render to HTML), text (plain text without markup), outline (headings with level and line), links (links and images with URL, text, line), code_blocks (language and code). Line endings: `\\n`, `\\r\\n` and a lone `\\r` all end a line (CommonMark); the `line` of headings, links and code blocks is 1-based, counted at `\\n`. Output text and HTML use `\\n`, paged by start_index/max_length in characters (Unicode scalar values). Input: `text` or `path`.",
        output_schema = schema::<MarkdownOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn markdown(
        &self,
        Parameters(p): Parameters<MarkdownParams>,
    ) -> ToolResult<CallToolResult> {
        p.text_paging.check()?;
        p.paging.check()?;
        let action = p.action.unwrap_or_else(|| "html".to_owned());
        if !MARKDOWN_ACTIONS.contains(&action.as_str()) {
            return Err(ToolError::new(format!(
                "unknown action '{action}'; use {}",
                MARKDOWN_ACTIONS.join(", ")
            )));
        }
        let loaded = self.load(p.input).await?;
        let (text_paging, paging, cap) = (p.text_paging, p.paging, self.output_cap());
        let out = blocking_unless_small(loaded.text.len(), move || {
            markdown(&loaded.text, &action, &text_paging, &paging, cap)
        })
        .await?;
        data(&out)
    }

    #[tool(
        title = "HTML to Markdown",
        description = "Turn HTML (a saved web page, an email) into readable Markdown, keeping headings, lists, tables, code and links, dropping scripts, styles and forms. By default keeps only the main content (<main> or <article>, without nav/header/footer/aside). Long output is paged like the fetch server: `max_length` (default 20000 characters) and `start_index`. `<pre>` becomes a fenced code block holding its text exactly (spaces, tabs, blank lines; language from a language-* or lang-* class). Line endings: the HTML parser reads `\\r\\n` and a lone `\\r` as `\\n` (HTML5), and the Markdown uses `\\n`. Pages nested more than 512 elements deep are refused. Input: `text` or `path`.",
        output_schema = schema::<HtmlOutput>(),
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn html_to_markdown(
        &self,
        Parameters(p): Parameters<HtmlParams>,
    ) -> ToolResult<CallToolResult> {
        let paging = TextPaging {
            start_index: p.start_index,
            max_length: p.max_length,
        };
        paging.check()?;
        let loaded = self.load(p.input).await?;
        let main_only = p.main_content.unwrap_or(true);
        let cap = self.output_cap();
        let out = blocking_unless_small(loaded.text.len(), move || {
            html_to_markdown(&loaded.text, main_only, &paging, cap)
        })
        .await?;
        data(&out)
    }
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// pulldown-cmark's events, checking for cancellation every few thousand:
/// a failed check ends the events early, and is kept for the caller.
struct Checked<'f, I> {
    events: I,
    seen: usize,
    failed: &'f RefCell<Option<ToolError>>,
}

impl<'f, I: Iterator> Checked<'f, I> {
    fn new(events: I, failed: &'f RefCell<Option<ToolError>>) -> Self {
        Self {
            events,
            seen: 0,
            failed,
        }
    }
}

impl<I: Iterator> Iterator for Checked<'_, I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.seen += 1;
        if self.seen.is_multiple_of(4096)
            && let Err(e) = work::check()
        {
            *self.failed.borrow_mut() = Some(e);
            return None;
        }
        self.events.next()
    }
}

/// A string that refuses to grow past a cap (a `fmt::Write` error then).
struct Capped {
    text: String,
    cap: usize,
    over: bool,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.cap {
            self.over = true;
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// The HTML of `text`, refused past `cap` bytes (nested quotes and lists,
/// and a link definition used many times, make HTML many times longer than
/// its Markdown).
fn render_html(text: &str, cap: usize) -> ToolResult<String> {
    let failed = RefCell::new(None);
    let mut out = Capped {
        text: String::with_capacity((text.len() * 3 / 2).min(cap)),
        cap,
        over: false,
    };
    let events = Checked::new(Parser::new_ext(text, options()), &failed);
    let written = pulldown_cmark::html::write_html_fmt(&mut out, events);
    if let Some(e) = failed.take() {
        return Err(e);
    }
    if out.over {
        return Err(ToolError::new(format!(
            "the HTML would be over the output cap of {cap} bytes (deeply nested quotes or lists, \
             or a link definition used many times, repeat markup); render a smaller part"
        )));
    }
    written.map_err(|e| ToolError::new(format!("cannot render the Markdown: {e}")))?;
    Ok(out.text)
}

pub fn markdown(
    text: &str,
    action: &str,
    text_paging: &TextPaging,
    paging: &ListPaging,
    cap: usize,
) -> ToolResult<MarkdownOutput> {
    let mut out = MarkdownOutput {
        action: action.to_owned(),
        result: None,
        headings: None,
        links: None,
        code_blocks: None,
        page: None,
    };
    let failed = RefCell::new(None);
    match action {
        "html" => out.result = Some(text_paging.page(&render_html(text, cap)?)),
        "text" => out.result = Some(text_paging.page(&plain_text(text)?)),
        _ => {
            let mut cursor = LineCursor::new(text);
            let mut line_of = |offset: usize| cursor.line_col(offset).0;
            // Entries are counted, and only those on the page are kept:
            // a link definition used a million times is one URL in the
            // input, and would be a million copies in the list.
            let mut headings = Vec::new();
            let mut links = Vec::new();
            let mut blocks = Vec::new();
            let (mut heading_count, mut link_count, mut block_count) = (0usize, 0usize, 0usize);
            // The element being collected: its text so far.
            let mut open: Option<(usize, String)> = None;
            let mut pending_link: Option<Link> = None;
            let mut pending_heading: Option<(u8, usize)> = None;
            let mut pending_code: Option<(String, usize)> = None;
            let events = Checked::new(Parser::new_ext(text, options()).into_offset_iter(), &failed);
            for (event, range) in events {
                match event {
                    Event::Start(Tag::Heading { level, .. }) => {
                        pending_heading = Some((heading_level(level), line_of(range.start)));
                        open = Some((range.start, String::new()));
                    }
                    Event::End(TagEnd::Heading(_)) => {
                        if let (Some((level, line)), Some((_, text))) =
                            (pending_heading.take(), open.take())
                        {
                            if action == "outline" && paging.wants(heading_count) {
                                headings.push(Heading {
                                    level,
                                    text: text.trim().to_owned(),
                                    line,
                                });
                            }
                            heading_count += 1;
                        }
                    }
                    Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        ..
                    }) => {
                        let kind = match link_type {
                            LinkType::Autolink => "autolink",
                            LinkType::Email => "email",
                            _ => "link",
                        };
                        link_count += 1;
                        if action != "links" || !paging.wants(link_count - 1) {
                            continue;
                        }
                        pending_link = Some(Link {
                            kind: kind.to_owned(),
                            url: dest_url.to_string(),
                            text: String::new(),
                            title: title.to_string(),
                            line: line_of(range.start),
                        });
                    }
                    Event::Start(Tag::Image {
                        dest_url, title, ..
                    }) => {
                        link_count += 1;
                        if action != "links" || !paging.wants(link_count - 1) {
                            continue;
                        }
                        pending_link = Some(Link {
                            kind: "image".to_owned(),
                            url: dest_url.to_string(),
                            text: String::new(),
                            title: title.to_string(),
                            line: line_of(range.start),
                        });
                    }
                    Event::End(TagEnd::Link | TagEnd::Image) => {
                        if let Some(mut link) = pending_link.take() {
                            link.text = link.text.trim().to_owned();
                            links.push(link);
                        }
                    }
                    Event::Start(Tag::CodeBlock(kind)) => {
                        let language = match kind {
                            CodeBlockKind::Fenced(info) => info.to_string(),
                            CodeBlockKind::Indented => String::new(),
                        };
                        pending_code = Some((language, line_of(range.start)));
                        open = Some((range.start, String::new()));
                    }
                    Event::End(TagEnd::CodeBlock) => {
                        if let (Some((language, line)), Some((_, code))) =
                            (pending_code.take(), open.take())
                        {
                            if action == "code_blocks" && paging.wants(block_count) {
                                blocks.push(CodeBlock {
                                    language,
                                    code,
                                    line,
                                });
                            }
                            block_count += 1;
                        }
                    }
                    Event::Text(t) | Event::Code(t) => {
                        if let Some((_, buf)) = &mut open {
                            buf.push_str(&t);
                        }
                        if let Some(link) = &mut pending_link {
                            link.text.push_str(&t);
                        }
                    }
                    Event::SoftBreak | Event::HardBreak => {
                        if let Some((_, buf)) = &mut open {
                            buf.push(' ');
                        }
                    }
                    _ => {}
                }
            }
            if let Some(e) = failed.take() {
                return Err(e);
            }
            match action {
                "outline" => {
                    out.headings = Some(headings);
                    out.page = Some(paging.info(heading_count));
                }
                "links" => {
                    out.links = Some(links);
                    out.page = Some(paging.info(link_count));
                }
                _ => {
                    out.code_blocks = Some(blocks);
                    out.page = Some(paging.info(block_count));
                }
            }
        }
    }
    Ok(out)
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// The text of a Markdown document without its markup: blocks separated by
/// blank lines, list items on their own lines, code kept as is.
pub fn plain_text(markdown: &str) -> ToolResult<String> {
    let failed = RefCell::new(None);
    let mut out = String::with_capacity(markdown.len());
    let block_break = |out: &mut String| {
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        if !out.is_empty() && !out.ends_with("\n\n") {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
    };
    for event in Checked::new(Parser::new_ext(markdown, options()), &failed) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&t)
            }
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) if !out.is_empty() && !out.ends_with('\n') => {
                out.push('\n');
            }
            Event::End(TagEnd::TableCell) => out.push('\t'),
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                if out.ends_with('\t') {
                    out.pop();
                }
                out.push('\n');
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::Table,
            ) => block_break(&mut out),
            Event::Rule => block_break(&mut out),
            _ => {}
        }
    }
    if let Some(e) = failed.take() {
        return Err(e);
    }
    Ok(out.trim_end().to_owned())
}

/// The part of `html` to convert: from the first `<main>` (else
/// `<article>`) tag to the last closing tag of the same name after it (as a
/// string slice), else the whole document. One pass per tag: the last
/// closing tag is found once, and only an opening tag before it can start
/// the part.
fn main_part(html: &str) -> (&str, &'static str) {
    let lower = html.to_ascii_lowercase();
    for tag in ["main", "article"] {
        let close = format!("</{tag}>");
        let Some(last_close) = lower.rfind(&close) else {
            continue;
        };
        let open = format!("<{tag}");
        let mut from = 0;
        while let Some(pos) = lower[from..last_close].find(&open) {
            let start = from + pos;
            let after = lower.as_bytes().get(start + open.len()).copied();
            if matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
                return (&html[start..last_close + close.len()], tag);
            }
            from = start + open.len();
        }
    }
    if lower.contains("<body") {
        (html, "body")
    } else {
        (html, "document")
    }
}

fn title_of(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let end = open_end + lower[open_end..].find("</title")?;
    let title = html_escape::decode_html_entities(html[open_end..end].trim()).into_owned();
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

pub fn html_to_markdown(
    html: &str,
    main_only: bool,
    paging: &TextPaging,
    output_cap: usize,
) -> ToolResult<HtmlOutput> {
    let title = title_of(html);
    let (part, source) = if main_only {
        main_part(html)
    } else {
        (html, "document")
    };
    let mut skip: Vec<&str> = SKIP_TAGS.to_vec();
    if main_only {
        skip.extend(CHROME_TAGS);
    }
    let converter = htmd::HtmlToMarkdown::builder()
        .skip_tags(skip.clone())
        .add_handler(
            vec!["pre"],
            super::html::pre_handler(skip.iter().map(|s| (*s).to_owned()).collect()),
        )
        .build();
    let markdown = super::html::to_markdown(part, &converter, &skip, output_cap)?;
    Ok(HtmlOutput {
        title,
        source: source.to_owned(),
        markdown: paging.page(&markdown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 128 << 20;

    const DOC: &str = "# Title\n\nSome *text* with a [link](https://a.example \"T\").\n\n## Part two\n\n- one\n- two\n\n```rust\nfn main() {}\n```\n\n![alt text](img.png)\n";

    fn md(action: &str) -> MarkdownOutput {
        markdown(
            DOC,
            action,
            &TextPaging::default(),
            &ListPaging::default(),
            CAP,
        )
        .unwrap()
    }

    #[test]
    fn renders_html_and_plain_text() {
        let html = md("html").result.unwrap().text;
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<a href=\"https://a.example\" title=\"T\">link</a>"));
        let text = md("text").result.unwrap().text;
        assert_eq!(
            text,
            "Title\n\nSome text with a link.\n\nPart two\n\none\ntwo\n\nfn main() {}\n\nalt text"
        );
    }

    #[test]
    fn outline_links_code_blocks() {
        let h = md("outline").headings.unwrap();
        assert_eq!(
            (h[1].level, h[1].text.as_str(), h[1].line),
            (2, "Part two", 5)
        );
        let l = md("links").links.unwrap();
        assert_eq!(l[0].url, "https://a.example");
        assert_eq!(l[0].text, "link");
        assert_eq!(l[0].title, "T");
        assert_eq!(
            (l[1].kind.as_str(), l[1].text.as_str()),
            ("image", "alt text")
        );
        let c = md("code_blocks").code_blocks.unwrap();
        assert_eq!(
            (c[0].language.as_str(), c[0].code.as_str(), c[0].line),
            ("rust", "fn main() {}\n", 10)
        );
    }

    #[test]
    fn html_main_content_keeps_links_drops_chrome() {
        let page = "<html><head><title>My &amp; Page</title><style>x{}</style></head><body>\
            <nav><a href=\"/\">Home</a></nav><main><h1>Hello</h1><p>See <a href=\"https://x.example/\">this</a>.</p>\
            <script>alert(1)</script></main><footer>foot</footer></body></html>";
        let out = html_to_markdown(page, true, &TextPaging::default(), CAP).unwrap();
        assert_eq!(out.title.as_deref(), Some("My & Page"));
        assert_eq!(out.source, "main");
        let md = out.markdown.text;
        assert!(md.contains("# Hello"), "{md}");
        assert!(md.contains("[this](https://x.example/)"), "{md}");
        assert!(
            !md.contains("Home") && !md.contains("alert") && !md.contains("foot"),
            "{md}"
        );
        let all = html_to_markdown(page, false, &TextPaging::default(), CAP).unwrap();
        assert!(all.markdown.text.contains("Home"));
    }

    fn page_markdown(html: &str) -> String {
        html_to_markdown(html, false, &TextPaging::default(), CAP)
            .unwrap()
            .markdown
            .text
    }

    /// The code blocks a CommonMark parser reads in `md`: (language, text).
    fn code_blocks_of(md: &str) -> Vec<(String, String)> {
        let mut blocks = Vec::new();
        let mut current: Option<(String, String)> = None;
        for event in Parser::new(md) {
            match event {
                Event::Start(Tag::CodeBlock(kind)) => {
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => info.to_string(),
                        CodeBlockKind::Indented => "(indented)".to_owned(),
                    };
                    current = Some((lang, String::new()));
                }
                Event::Text(t) => {
                    if let Some((_, text)) = current.as_mut() {
                        text.push_str(&t);
                    }
                }
                Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
                _ => {}
            }
        }
        blocks
    }

    fn escape_html(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    /// Issue 21: `<pre>` keeps its text exactly, in a fenced block (htmd
    /// gave the text raw, its blank lines collapsed and Markdown escaped).
    #[test]
    fn pre_is_a_fenced_block_holding_its_text_exactly() {
        let md = page_markdown("<pre>  line1\n\tline2  \n\n\nline5</pre>");
        assert_eq!(md, "```\n  line1\n\tline2  \n\n\nline5\n```");
        let md = page_markdown(
            "<p>before</p><pre><code class=\"hl language-rust\">fn main() {\n\n\n    let s = \"```\";\n}\n</code></pre><p>after</p>",
        );
        assert_eq!(
            md,
            "before\n\n````rust\nfn main() {\n\n\n    let s = \"```\";\n}\n````\n\nafter"
        );
        // `lang-*` on the <pre>, highlighting spans, <br>, Markdown
        // characters left alone.
        let md = page_markdown(
            "<pre class=\"lang-py\"><span class=k>def</span> *f*(_x):<br>  return [1]\\</pre>",
        );
        assert_eq!(md, "```py\ndef *f*(_x):\n  return [1]\\\n```");
        // Scripts inside are still dropped; an empty <pre> is an empty block.
        assert_eq!(
            page_markdown("<pre>a<script>x</script>b</pre>"),
            "```\nab\n```"
        );
        assert_eq!(page_markdown("<pre></pre>"), "```\n```");
    }

    /// Whatever a `<pre>` holds and wherever it sits (a list item, a
    /// quote), a CommonMark parser reads back its text exactly (plus the
    /// final line break every code block ends with).
    #[test]
    fn pre_text_reads_back_exactly_through_commonmark() {
        let texts = [
            "  line1\n\tline2  \n\n\nline5",
            "a`b``c```d````e",
            "```\nfenced inside\n```\n",
            "~~~\n# not a heading\n- not a list\n> not a quote\n",
            "<b>tags</b> & entities &amp; \\* \\_",
            "trailing blank lines\n\n\n",
            "\n\nleading blank lines",
            "    indented four\n        eight",
            "ünïcødé 👨‍👩‍👧 مرحبا ﬁ",
        ];
        for text in texts {
            let html_text = escape_html(text);
            let expected = if text.ends_with('\n') {
                text.to_owned()
            } else {
                format!("{text}\n")
            };
            for (open, close) in [
                ("", ""),
                ("<ul><li>item", "</li></ul>"),
                ("<ol><li>item", "</li></ol>"),
                ("<blockquote>", "</blockquote>"),
            ] {
                // htmd's list item handlers trim the end of every line
                // it re-indents (disagreement left, see the README).
                let trailing_space = text.lines().any(|l| l.ends_with([' ', '\t']));
                if trailing_space && open.contains("<li>") {
                    continue;
                }
                // The parser drops one line break right after <pre>.
                let html = format!(
                    "{open}<pre>\n<code class=\"language-x\">{html_text}</code></pre>{close}"
                );
                let md = page_markdown(&html);
                let blocks = code_blocks_of(&md);
                assert_eq!(
                    blocks,
                    vec![("x".to_owned(), expected.clone())],
                    "{html:?}\n{md}"
                );
            }
        }
    }

    /// pulldown-cmark keeps its tree in an arena and walks it in a loop: any
    /// nesting gets an answer, quickly, on any thread's stack.
    #[test]
    fn deep_nesting_is_answered_at_every_depth() {
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            for text in [
                ">".repeat(n) + " x",
                "- ".repeat(n) + "x",
                "1. ".repeat(n) + "x",
                "*".repeat(n) + "x" + &"*".repeat(n),
                "[".repeat(n) + "x" + &"](u)".repeat(n),
                "![".repeat(n) + "x" + &"](u)".repeat(n),
            ] {
                for action in MARKDOWN_ACTIONS {
                    let started = std::time::Instant::now();
                    let out = markdown(
                        &text,
                        action,
                        &TextPaging::default(),
                        &ListPaging::default(),
                        CAP,
                    );
                    // An answer, or the HTML over the output cap.
                    if let Err(e) = &out {
                        assert!(e.message().contains("output cap"), "{e}");
                    }
                    assert!(
                        started.elapsed() < std::time::Duration::from_secs(10),
                        "{action} x{n}: {:?}",
                        started.elapsed()
                    );
                }
            }
        }
    }

    #[test]
    fn html_is_capped_and_lists_keep_only_their_page() {
        // Nested quotes: 27 bytes of HTML per byte of Markdown.
        let quotes = ">".repeat(10_000) + " x";
        let err = markdown(
            &quotes,
            "html",
            &TextPaging::default(),
            &ListPaging::default(),
            100_000,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("over the output cap of 100000 bytes"), "{err}");
        // A link definition used 100,000 times: pulldown-cmark expands
        // references up to about the input's size, and the list keeps
        // only its page.
        let url = "https://example.com/".to_owned() + &"a".repeat(100);
        let text = format!("[l]: {url}\n\n{}", "[l] ".repeat(100_000));
        let list = |offset| {
            markdown(
                &text,
                "links",
                &TextPaging::default(),
                &ListPaging::new(offset, Some(5)),
                CAP,
            )
            .unwrap()
        };
        let total = list(0).page.unwrap().total;
        assert!(total > 1000, "{total}");
        assert!((total * url.len()) as u64 <= 2 * text.len() as u64 + 200_000);
        let out = list(total - 2);
        assert_eq!(out.page.unwrap().returned, 2);
        let links = out.links.unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].url, url);
    }
}
