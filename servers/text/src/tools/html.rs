//! HTML to Markdown within bounds: the page is parsed here (html5ever into
//! an rcdom tree, as htmd would), measured, and only then handed to htmd,
//! whose walk recurses once per level of nesting and copies each level's
//! Markdown into the level above.
//!
//! - **Depth.** The tree is never deeper than
//!   [`work::MAX_NESTING_DEPTH`](mcp_servers_core::work::MAX_NESTING_DEPTH):
//!   the sink drops elements below that depth as they are inserted (so
//!   nothing recursive, html5ever's or htmd's, ever meets a deeper tree) and
//!   the input is fed in pieces, the parse stopping at the first piece that
//!   went too deep. The call then fails with `work::too_deep`.
//! - **Time.** html5ever's scope checks walk its stack of open elements, so
//!   parse time grows with the square of the depth: stopping at the cap
//!   bounds it. rcdom finds a node among its siblings from the front (table
//!   foster parenting inserted thousands of nodes in quadratic time): this
//!   sink searches from the back, where they are. htmd merges adjacent
//!   inline siblings one removal at a time (quadratic in the siblings):
//!   [`merge_adjacent_inline`] does the same merge first, in one pass.
//! - **Size.** htmd re-indents every line of a list item or quote at each
//!   level, and every level copies the text below it. Before converting,
//!   one walk estimates the Markdown's size and the bytes htmd would copy
//!   (each node's output times its depth); the call is refused when either
//!   is over its cap.
//! - **Cancellation.** Every loop here calls [`work::check`] as it goes.
//!
//! The tree drops iteratively (rcdom's `Drop` takes children off a stack),
//! however deep it got before the cap.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, ExpandedName, QualName, parse_document};
use markup5ever_rcdom::{Handle, Node, NodeData, RcDom};
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::work::{self, MAX_NESTING_DEPTH};
use rustc_hash::FxHashMap;

/// Input is fed to the parser in pieces of about this many bytes; between
/// pieces the parse is checked for depth and cancellation.
const FEED_BYTES: usize = 16 * 1024;

/// Loops over nodes call [`work::check`] every this many nodes.
const CHECK_EVERY: usize = 4096;

/// htmd copies each node's Markdown once per level above it; the bytes it
/// may copy in all are this many times the output cap (2 GiB with the
/// default 32 MiB input limit, about half a second of copying). Documents
/// as large as the input limit and nested as deep as real pages are (tens
/// of levels) stay well under it.
pub const COPY_FACTOR: u64 = 16;

/// The HTML parsed into a tree no deeper than `MAX_NESTING_DEPTH`.
pub fn parse(html: &str) -> ToolResult<Handle> {
    let too_deep = Rc::new(Cell::new(false));
    let sink = DepthSink {
        dom: RcDom::default(),
        depths: RefCell::new(FxHashMap::default()),
        too_deep: too_deep.clone(),
    };
    // The options htmd parses with.
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            scripting_enabled: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut parser = parse_document(sink, opts);
    let mut rest = html;
    while !rest.is_empty() {
        let mut cut = rest.len().min(FEED_BYTES);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        parser.process(StrTendril::from_slice(piece));
        rest = tail;
        if too_deep.get() {
            return Err(work::too_deep("the HTML"));
        }
        work::check()?;
    }
    let dom = parser.finish();
    if too_deep.get() {
        return Err(work::too_deep("the HTML"));
    }
    Ok(dom.document.clone())
}

/// rcdom's sink, keeping each inserted node's depth: an element that would
/// sit deeper than `MAX_NESTING_DEPTH` is not attached (and the parse is
/// marked too deep), so the tree never gets deeper than the cap.
struct DepthSink {
    dom: RcDom,
    /// Depth of inserted nodes, by address (the document is 0). A node not
    /// in it counts as 0: a template's contents, a node not inserted yet.
    depths: RefCell<FxHashMap<*const Node, usize>>,
    too_deep: Rc<Cell<bool>>,
}

impl DepthSink {
    fn depth(&self, node: &Handle) -> usize {
        self.depths
            .borrow()
            .get(&Rc::as_ptr(node))
            .copied()
            .unwrap_or(0)
    }

    /// Records `node` at `depth`; false (and the parse marked too deep)
    /// when that is below the cap.
    fn place(&self, node: &Handle, depth: usize) -> bool {
        self.depths.borrow_mut().insert(Rc::as_ptr(node), depth);
        if depth > MAX_NESTING_DEPTH {
            self.too_deep.set(true);
            return false;
        }
        true
    }
}

fn parent_of(node: &Handle) -> Option<Handle> {
    let weak = node.parent.take();
    let parent = weak.as_ref().and_then(std::rc::Weak::upgrade);
    node.parent.set(weak);
    parent
}

/// Detaches `node` from its parent, searching the parent's children from
/// the back (where the tree builder's moves happen).
fn detach(node: &Handle) {
    if let Some(parent) = parent_of(node) {
        let mut children = parent.children.borrow_mut();
        if let Some(i) = children.iter().rposition(|c| Rc::ptr_eq(c, node)) {
            children.remove(i);
        }
    }
    node.parent.set(None);
}

/// Appends `text` to `node` if it is a text node.
fn append_to_text(node: &Handle, text: &StrTendril) -> bool {
    match &node.data {
        NodeData::Text { contents } => {
            contents.borrow_mut().push_tendril(text);
            true
        }
        _ => false,
    }
}

impl TreeSink for DepthSink {
    type Handle = Handle;
    type Output = RcDom;
    type ElemName<'a>
        = ExpandedName<'a>
    where
        Self: 'a;

    fn finish(self) -> RcDom {
        self.dom
    }

    fn parse_error(&self, _msg: std::borrow::Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        self.dom.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> ExpandedName<'a> {
        self.dom.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        self.dom.create_element(name, attrs, flags)
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        self.dom.create_comment(text)
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Handle {
        self.dom.create_pi(target, data)
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        let depth = self.depth(parent);
        if depth > MAX_NESTING_DEPTH {
            // Under a dropped element.
            self.too_deep.set(true);
            return;
        }
        if let NodeOrText::AppendNode(node) = &child
            && !self.place(node, depth + 1)
        {
            return;
        }
        self.dom.append(parent, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        prev_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        if parent_of(element).is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.dom
            .append_doctype_to_document(name, public_id, system_id);
    }

    fn get_template_contents(&self, target: &Handle) -> Handle {
        self.dom.get_template_contents(target)
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        Rc::ptr_eq(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.dom.set_quirks_mode(mode);
    }

    /// rcdom's, but finding `sibling` from the back of its parent's
    /// children: table foster parenting inserts before the table, which
    /// stays last, so rcdom's search from the front made each insertion
    /// cost the number of nodes inserted so far.
    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        let Some(parent) = parent_of(sibling) else {
            // The sibling was dropped for depth: so is this.
            self.too_deep.set(true);
            return;
        };
        let depth = self.depth(&parent) + 1;
        let child = match new_node {
            NodeOrText::AppendText(text) => {
                let children = parent.children.borrow();
                let Some(i) = children.iter().rposition(|c| Rc::ptr_eq(c, sibling)) else {
                    return;
                };
                if i > 0 && append_to_text(&children[i - 1], &text) {
                    return;
                }
                Node::new(NodeData::Text {
                    contents: RefCell::new(text),
                })
            }
            NodeOrText::AppendNode(node) => {
                if !self.place(&node, depth) {
                    return;
                }
                detach(&node);
                node
            }
        };
        let mut children = parent.children.borrow_mut();
        let Some(i) = children.iter().rposition(|c| Rc::ptr_eq(c, sibling)) else {
            return;
        };
        child.parent.set(Some(Rc::downgrade(&parent)));
        children.insert(i, child);
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        self.dom.add_attrs_if_missing(target, attrs);
    }

    fn remove_from_parent(&self, target: &Handle) {
        detach(target);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        let depth = self.depth(new_parent) + 1;
        let moved = std::mem::take(&mut *node.children.borrow_mut());
        let mut kept = Vec::with_capacity(moved.len());
        for child in moved {
            // Only the moved children's own depths are updated: their
            // subtrees keep theirs (the final walk measures exactly).
            if matches!(child.data, NodeData::Text { .. }) || self.place(&child, depth) {
                child.parent.set(Some(Rc::downgrade(new_parent)));
                kept.push(child);
            } else {
                child.parent.set(None);
            }
        }
        new_parent.children.borrow_mut().extend(kept);
    }

    fn mark_script_already_started(&self, node: &Handle) {
        self.dom.mark_script_already_started(node);
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Handle) -> bool {
        self.dom.is_mathml_annotation_xml_integration_point(handle)
    }

    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Handle) {
        self.dom.maybe_clone_an_option_into_selectedcontent(option);
    }
}

/// Tags htmd treats as blocks (CommonMark's HTML block names): each starts
/// a line of its own.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "pre",
    "script",
    "search",
    "section",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
];

/// What converting a tree would cost, estimated from above.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Deepest element (`html` is 1).
    pub depth: usize,
    /// Bytes of Markdown.
    pub output: u64,
    /// Bytes htmd would copy: each node's Markdown once per level above it.
    pub copied: u64,
}

/// Walks the tree (iteratively) and measures its depth in elements (`html`
/// is 1), and estimates the Markdown htmd would make
/// of it: text with room for escapes, a few bytes of markup per element and
/// the URLs of links and images, and for each block a line break with the
/// indentation of the list items (4 columns, 13 for numbered ones) and
/// quotes (2) around it. Subtrees of `skip` tags are left out, as htmd
/// leaves them.
pub fn estimate(document: &Handle, skip: &[&str]) -> ToolResult<Estimate> {
    struct Frame {
        node: Handle,
        depth: usize,
        indent: u64,
        in_pre: bool,
    }
    let mut est = Estimate::default();
    let mut stack = vec![Frame {
        node: document.clone(),
        depth: 0,
        indent: 0,
        in_pre: false,
    }];
    let mut seen = 0usize;
    while let Some(Frame {
        node,
        depth,
        indent,
        in_pre,
    }) = stack.pop()
    {
        seen += 1;
        if seen.is_multiple_of(CHECK_EVERY) {
            work::check()?;
        }
        let mut child_indent = indent;
        let mut child_pre = in_pre;
        let own: u64 = match &node.data {
            NodeData::Text { contents } => {
                let text = contents.borrow();
                let bytes = text.as_bytes();
                // Escapes add at most 4 bytes (`<` becomes `&lt;`).
                let specials = bytes
                    .iter()
                    .filter(|b| {
                        matches!(
                            b,
                            b'\\' | b'*' | b'_' | b'`' | b'[' | b']' | b'<' | b'>' | b'&'
                        )
                    })
                    .count() as u64;
                let newlines = if in_pre {
                    memchr::memchr_iter(b'\n', bytes).count() as u64
                } else {
                    0
                };
                bytes.len() as u64 + 4 * specials + newlines * indent
            }
            NodeData::Element { name, attrs, .. } => {
                let tag: &str = &name.local;
                if skip.contains(&tag) {
                    continue;
                }
                est.depth = est.depth.max(depth);
                let urls: u64 = attrs
                    .borrow()
                    .iter()
                    .filter(|a| {
                        matches!(&*a.name.local, "href" | "src" | "alt" | "title")
                            // A code block's language comes from its class.
                            || (matches!(tag, "pre" | "code") && &*a.name.local == "class")
                    })
                    .map(|a| a.value.len() as u64 + 4)
                    .sum();
                match tag {
                    "li" => {
                        let in_ol = parent_of(&node).is_some_and(|p| {
                            matches!(&p.data, NodeData::Element { name, .. } if &*name.local == "ol")
                        });
                        child_indent += if in_ol { 13 } else { 4 };
                    }
                    "blockquote" => child_indent += 2,
                    "pre" => child_pre = true,
                    _ => {}
                }
                let lines = if BLOCK_TAGS.contains(&tag) {
                    2
                } else if tag == "br" {
                    1
                } else {
                    0
                };
                8 + urls + lines * (1 + child_indent)
            }
            _ => 0,
        };
        est.output = est.output.saturating_add(own);
        est.copied = est
            .copied
            .saturating_add(own.saturating_mul(depth as u64 + 1));
        for child in node.children.borrow().iter().rev() {
            stack.push(Frame {
                node: child.clone(),
                depth: depth + 1,
                indent: child_indent,
                in_pre: child_pre,
            });
        }
    }
    Ok(est)
}

/// htmd's merge of adjacent inline siblings (`<b>a</b><b>b</b>` becomes
/// `<b>ab</b>`), done in one pass over each node's children. htmd does it
/// as it walks, removing one child at a time and copying the merged text
/// each time: quadratic in the siblings. After this pass htmd finds
/// nothing left to merge.
pub fn merge_adjacent_inline(document: &Handle) -> ToolResult<()> {
    let mut stack = vec![document.clone()];
    let mut seen = 0usize;
    while let Some(node) = stack.pop() {
        seen += 1;
        if seen.is_multiple_of(CHECK_EVERY) {
            work::check()?;
        }
        let count = node.children.borrow().len();
        // htmd merges as it walks children, which it does everywhere but
        // in numbered lists and tables (whose handlers go through the
        // children themselves).
        let walked = !matches!(&node.data, NodeData::Element { name, .. }
            if matches!(&*name.local, "ol" | "table" | "thead" | "tbody" | "tfoot" | "tr"));
        if count > 1 && walked {
            let old = std::mem::take(&mut *node.children.borrow_mut());
            let mut kept: Vec<Handle> = Vec::with_capacity(old.len());
            // The text merged into the last kept child, if any.
            let mut merged: Option<StrTendril> = None;
            for child in old {
                if let Some(last) = kept.last()
                    && let Some(text) = combinable_text(last, &child)
                {
                    let buffer = merged.get_or_insert_with(|| own_text(last));
                    buffer.push_tendril(&text);
                    continue;
                }
                flush(kept.last(), &mut merged);
                kept.push(child);
            }
            flush(kept.last(), &mut merged);
            *node.children.borrow_mut() = kept;
        }
        stack.extend(node.children.borrow().iter().cloned());
    }
    Ok(())
}

/// The text of an element whose only child is a text node.
fn own_text(node: &Handle) -> StrTendril {
    match node.children.borrow().first().map(|c| &c.data) {
        Some(NodeData::Text { contents }) => contents.borrow().clone(),
        _ => StrTendril::new(),
    }
}

/// Writes merged text back into the element it belongs to.
fn flush(node: Option<&Handle>, merged: &mut Option<StrTendril>) {
    let (Some(node), Some(text)) = (node, merged.take()) else {
        return;
    };
    if let Some(NodeData::Text { contents }) = node.children.borrow().first().map(|c| &c.data) {
        *contents.borrow_mut() = text;
    }
}

/// htmd's `can_combine` (htmd 0.5, Apache-2.0): two inline elements, each
/// with one text child, of the same tag (`i`/`em` and `b`/`strong` count as
/// the same) and attributes, not links. Gives the second one's text.
fn combinable_text(first: &Node, second: &Node) -> Option<StrTendril> {
    let (
        NodeData::Element {
            name: name1,
            attrs: attrs1,
            template_contents: template1,
            mathml_annotation_xml_integration_point: point1,
        },
        NodeData::Element {
            name: name2,
            attrs: attrs2,
            template_contents: template2,
            mathml_annotation_xml_integration_point: point2,
        },
    ) = (&first.data, &second.data)
    else {
        return None;
    };
    let (tag1, tag2): (&str, &str) = (&name1.local, &name2.local);
    if BLOCK_TAGS.contains(&tag1) || tag1 == "a" {
        return None;
    }
    let same_tag = name1 == name2
        || matches!(
            (tag1, tag2),
            ("i", "em") | ("em", "i") | ("b", "strong") | ("strong", "b")
        );
    if !same_tag
        || template1.borrow().is_some()
        || template2.borrow().is_some()
        || *attrs1.borrow() != *attrs2.borrow()
        || point1 != point2
    {
        return None;
    }
    let (c1, c2) = (first.children.borrow(), second.children.borrow());
    match (&c1[..], &c2[..]) {
        ([a], [b]) => match (&a.data, &b.data) {
            (NodeData::Text { .. }, NodeData::Text { contents }) => Some(contents.borrow().clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `<pre>` as a fenced code block holding the element's text exactly:
/// spaces, tabs and blank lines kept (htmd trims the blank lines at either
/// end and escapes Markdown in text directly inside `<pre>`). The text is
/// every text node below the `<pre>` (highlighting spans included, `<br>`
/// as a line break, subtrees of `skip` tags left out); the fence is
/// backticks, one more than the longest run of backticks in the text (at
/// least three); the language is the first `language-*` or `lang-*` class
/// of the `<pre>` or of a `<code>` directly inside it.
pub fn pre_handler(
    skip: Vec<String>,
) -> impl Fn(
    &dyn htmd::element_handler::Handlers,
    htmd::Element,
) -> Option<htmd::element_handler::HandlerResult>
+ Send
+ Sync
+ 'static {
    move |_handlers, element| {
        let text = pre_text(element.node, &skip);
        let language = language_of(element.attrs).or_else(|| {
            let children = element.node.children.borrow();
            children.iter().find_map(|child| match &child.data {
                NodeData::Element { name, attrs, .. } if &*name.local == "code" => {
                    language_of(&attrs.borrow())
                }
                _ => None,
            })
        });
        Some(fenced_code_block(&text, language.as_deref()).into())
    }
}

/// The fenced code block holding `text` exactly, as a Markdown block.
pub fn fenced_code_block(text: &str, language: Option<&str>) -> String {
    let mut longest = 0usize;
    let mut run = 0usize;
    for b in text.bytes() {
        if b == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(3.max(longest + 1));
    let mut out = String::with_capacity(text.len() + 2 * fence.len() + 8);
    out.push_str("\n\n");
    out.push_str(&fence);
    out.push_str(language.unwrap_or(""));
    out.push('\n');
    out.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push_str("\n\n");
    out
}

/// The language named by a `language-*` or `lang-*` class, if it can be
/// a backtick fence's info string (no backticks, no whitespace).
fn language_of(attrs: &[Attribute]) -> Option<String> {
    let class = attrs.iter().find(|a| &*a.name.local == "class")?;
    class.value.split_ascii_whitespace().find_map(|c| {
        let lang = c
            .strip_prefix("language-")
            .or_else(|| c.strip_prefix("lang-"))?;
        (!lang.is_empty() && !lang.contains('`')).then(|| lang.to_owned())
    })
}

/// The text below `node` in document order (iteratively), `<br>` as a
/// line break, subtrees of `skip` tags left out.
fn pre_text(node: &Handle, skip: &[String]) -> String {
    let mut text = String::new();
    let mut stack: Vec<Handle> = node.children.borrow().iter().rev().cloned().collect();
    while let Some(node) = stack.pop() {
        match &node.data {
            NodeData::Text { contents } => text.push_str(&contents.borrow()),
            NodeData::Element { name, .. } => {
                let tag: &str = &name.local;
                if tag == "br" {
                    text.push('\n');
                } else if !skip.iter().any(|s| s == tag) {
                    stack.extend(node.children.borrow().iter().rev().cloned());
                }
            }
            _ => {}
        }
    }
    text
}

/// Converts `html` to Markdown with `converter`, refusing (before htmd
/// runs) trees nested deeper than `MAX_NESTING_DEPTH` and conversions whose
/// Markdown would exceed `output_cap` bytes or whose copying would exceed
/// `COPY_FACTOR` times that.
pub fn to_markdown(
    html: &str,
    converter: &htmd::HtmlToMarkdown,
    skip: &[&str],
    output_cap: usize,
) -> ToolResult<String> {
    let document = parse(html)?;
    let est = estimate(&document, skip)?;
    if est.depth > MAX_NESTING_DEPTH {
        return Err(work::too_deep("the HTML"));
    }
    let cap = output_cap as u64;
    if est.output > cap {
        return Err(ToolError::new(format!(
            "the Markdown of this HTML would be about {} bytes, over the output cap of {cap} \
             bytes; convert a smaller part of the page",
            est.output
        )));
    }
    let copy_budget = cap.saturating_mul(COPY_FACTOR);
    if est.copied > copy_budget {
        return Err(ToolError::new(format!(
            "converting this HTML would copy about {} bytes (its text is nested up to {} levels \
             deep, and each level copies and re-indents what is inside it), over the limit of \
             {copy_budget} bytes; flatten the nesting or convert a smaller part of the page",
            est.copied, est.depth
        )));
    }
    merge_adjacent_inline(&document)?;
    work::check()?;
    let markdown = converter.tree_to_markdown(&document);
    work::check()?;
    Ok(markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 128 * 1024 * 1024;

    fn convert(html: &str) -> ToolResult<String> {
        let converter = htmd::HtmlToMarkdown::new();
        to_markdown(html, &converter, &[], CAP)
    }

    /// Runs `f` on a thread with the stack tool work gets.
    fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(work::WORKER_STACK_BYTES)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    fn nested(open: &str, close: &str, n: usize) -> String {
        format!("{}x{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn same_markdown_as_htmd_on_ordinary_pages() {
        let pages = [
            "<h1>Title</h1><p>Some <b>bold</b><b>er</b> and <i>it</i><em>alic</em> text, \
             <a href=\"https://x.example/\">a link</a><a href=\"https://y.example/\">another</a>.</p>",
            "<ul><li>one<ul><li>two <strong>a</strong><b>b</b></li><li>three</li></ul></li></ul>\
             <ol start=\"9\"><li>nine</li><li>ten<blockquote><p>quoted</p><p>more</p></blockquote></li></ol>",
            "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>\
             <pre><code class=\"language-rust\">fn main() {\n    x\n}</code></pre>",
            "<p>a<br>b</p><span>s</span><span>t</span><code>c</code><code>d</code>\
             <img src=\"i.png\" alt=\"pic\"><hr><h2>H *2*</h2><p>1. not a list</p>",
            "<table><b>x</b><i>y</i><tr><td>z</td></tr></table>",
        ];
        let converter = htmd::HtmlToMarkdown::new();
        for page in pages {
            let expected = converter.convert(page).unwrap();
            assert_eq!(convert(page).unwrap(), expected, "{page}");
        }
    }

    #[test]
    fn merging_siblings_matches_htmd_and_is_linear() {
        let converter = htmd::HtmlToMarkdown::new();
        let page = "<b>x</b>".repeat(2000) + &"<i>y</i><em>z</em>".repeat(1000);
        assert_eq!(convert(&page).unwrap(), converter.convert(&page).unwrap());
        let big = "<b>x</b>".repeat(200_000);
        let md = convert(&big).unwrap();
        assert_eq!(md, format!("**{}**", "x".repeat(200_000)));
    }

    #[test]
    fn nesting_at_the_cap_converts_and_past_it_is_refused() {
        // html and body take two levels.
        for (open, close) in [
            ("<div>", "</div>"),
            ("<b>", "</b>"),
            ("<blockquote>", "</blockquote>"),
            ("<span>", "</span>"),
        ] {
            let ok = nested(open, close, MAX_NESTING_DEPTH - 2);
            let md = on_worker(move || convert(&ok)).unwrap();
            assert!(md.contains('x'), "{open}: {md:.80}");
            let deep = nested(open, close, MAX_NESTING_DEPTH);
            let err = on_worker(move || convert(&deep)).unwrap_err().to_string();
            assert!(err.contains("nested more than 512 levels"), "{open}: {err}");
        }
        let ok = nested("<ul><li>", "</li></ul>", MAX_NESTING_DEPTH / 2 - 1);
        assert!(on_worker(move || convert(&ok)).is_ok());
    }

    /// Every kind of nesting, at 10^3 to 10^6 levels: a clear error (or,
    /// for tags the parser does not nest, a result), fast, on a worker's
    /// stack.
    #[test]
    fn deep_nesting_is_refused_quickly_at_every_depth() {
        for (open, close, nests) in [
            ("<b><i>", "</i></b>", true),
            ("<div>", "</div>", true),
            ("<ul><li>", "</li></ul>", true),
            ("<blockquote>", "</blockquote>", true),
            ("<table><tr><td>", "</td></tr></table>", true),
            ("<span>", "</span>", true),
            ("<svg>", "</svg>", true),
            ("<a href=x>", "</a>", false),
            ("<select><option>", "</option></select>", false),
            ("<p>", "</p>", false),
        ] {
            for n in [1_000, 10_000, 100_000, 1_000_000] {
                // Tags the parser does not nest make a tree as large as the
                // input: linear, but slow in a debug build past 10^5.
                if !nests && n > 100_000 {
                    continue;
                }
                let html = nested(open, close, n);
                let started = std::time::Instant::now();
                let result = on_worker(move || convert(&html));
                let took = started.elapsed();
                match result {
                    Err(e) => assert!(
                        e.message().contains("nested more than 512"),
                        "{open} x{n}: {e}"
                    ),
                    Ok(md) => assert!(!nests && md.contains('x'), "{open} x{n}: {md:.80}"),
                }
                assert!(
                    took < std::time::Duration::from_secs(10),
                    "{open} x{n} took {took:?}"
                );
            }
        }
    }

    #[test]
    fn parsing_stops_at_the_first_piece_too_deep() {
        // The tree never holds more than the cap, whatever the input.
        let html = "<div>".repeat(200_000);
        let err = parse(&html).unwrap_err().to_string();
        assert!(err.contains("nested more than"), "{err}");
    }

    #[test]
    fn foster_parenting_is_linear() {
        let html = format!("<table>{}", "<i>x</i>".repeat(100_000));
        let started = std::time::Instant::now();
        let md = convert(&html).unwrap();
        assert_eq!(md.len(), 100_002, "{:.40}", md);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn re_indenting_blowups_are_refused_before_converting() {
        // 400 nested list items around many paragraphs: every line would be
        // indented by 1600 columns and copied 800 times.
        let html = format!("{}{}", "<ul><li>".repeat(200), "<p>a</p>".repeat(20_000));
        let err = on_worker(move || convert(&html)).unwrap_err().to_string();
        assert!(err.contains("flatten the nesting"), "{err}");
        // Text nested 500 deep is copied 500 times.
        let html = format!("{}{}", "<b>".repeat(500), "word ".repeat(1_000_000));
        let err = on_worker(move || convert(&html)).unwrap_err().to_string();
        assert!(err.contains("flatten the nesting"), "{err}");
        // A small output cap refuses large output.
        let converter = htmd::HtmlToMarkdown::new();
        let err = to_markdown(&"<p>abc</p>".repeat(1000), &converter, &[], 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the output cap of 1000 bytes"), "{err}");
    }

    #[test]
    fn estimates_bound_the_real_output() {
        let converter = htmd::HtmlToMarkdown::new();
        for page in [
            format!(
                "{}{}",
                "<ul><li>".repeat(30),
                "<p>a *b* [c]</p>".repeat(100)
            ),
            format!(
                "{}{}",
                "<blockquote>".repeat(30),
                "<p>a<br>b</p>".repeat(100)
            ),
            format!(
                "{}{}",
                "<ol><li>".repeat(30),
                "<pre>a\nb\nc</pre>".repeat(100)
            ),
            "<p><a href=\"https://example.com/a/long/url\">x</a></p>".repeat(100),
        ] {
            let document = parse(&page).unwrap();
            let est = estimate(&document, &[]).unwrap();
            let md = converter.convert(&page).unwrap();
            assert!(
                est.output >= md.len() as u64,
                "{} < {}",
                est.output,
                md.len()
            );
        }
    }

    #[test]
    fn cancelled_calls_stop_parsing() {
        use std::time::{Duration, Instant};
        let ct = tokio_util::sync::CancellationToken::new();
        ct.cancel();
        let limits = work::CallLimits::new(ct, Instant::now() + Duration::from_secs(60));
        let html = "<p>x</p>".repeat(10_000);
        let err = work::enter(Some(limits), || convert(&html))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cancelled"), "{err}");
    }

    /// rcdom's `Drop` takes children off a stack instead of recursing: a
    /// million-deep tree (deeper than any parse here makes) drops on a
    /// small stack.
    #[test]
    fn deep_trees_drop_without_recursion() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let root = Node::new(NodeData::Document);
                let mut parent = root.clone();
                for _ in 0..1_000_000 {
                    let child = Node::new(NodeData::Comment {
                        contents: StrTendril::new(),
                    });
                    parent.children.borrow_mut().push(child.clone());
                    parent = child;
                }
                drop(parent);
                drop(root);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
