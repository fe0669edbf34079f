//! list_directory, list_directory_with_sizes, directory_tree.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use globset::GlobSet;
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil::human_size;
use mcp_servers_core::progress::Progress;
use mcp_servers_core::sandbox::PathSandbox;
use mcp_servers_core::work;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::read::file_work;
use super::search::{build_globs, default_true, filtered_walk, is_git_dir, relative_slash};
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    #[default]
    Name,
    Size,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListWithSizesParams {
    /// Directory to list.
    pub path: String,
    /// Sort entries by name or size
    #[serde(default)]
    #[schemars(default)]
    pub sort_by: SortBy,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Directory to list.
    pub path: String,
    /// Extension: leave out what .gitignore, .ignore and .git/info/exclude ignore (here and in parent directories), and .git (default: false, as the official server).
    #[serde(default)]
    #[schemars(default)]
    pub respect_gitignore: bool,
    /// Extension: list entries whose name starts with a dot (default: true, as the official server).
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub include_hidden: bool,
}

/// Deepest `maxDepth` accepted (no path has more components: PATH_MAX is
/// 4096 bytes).
pub const MAX_TREE_DEPTH: u64 = 10_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreeParams {
    /// Directory at the top of the tree.
    pub path: String,
    /// Glob patterns, relative to `path`, of entries to leave out; a bare name (e.g. `node_modules`) excludes that entry wherever it is.
    #[serde(default)]
    #[schemars(default)]
    pub exclude_patterns: Vec<String>,
    /// Extension: levels to list, 1 being the entries of `path` itself (default: no limit). Directories on the last level have no `children` key: their content is not listed.
    #[schemars(range(min = 1, max = MAX_TREE_DEPTH))]
    pub max_depth: Option<u64>,
    /// Extension: leave out what .gitignore, .ignore and .git/info/exclude ignore (also those of parent directories), and .git folders (default: false, as the official server).
    #[serde(default)]
    #[schemars(default)]
    pub respect_gitignore: bool,
    /// Extension: list entries whose name starts with a dot (default: true, as the official server).
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub include_hidden: bool,
}

/// One directory entry, not following symlinks (as Node's `withFileTypes`).
struct Entry {
    name: String,
    path: PathBuf,
    is_dir: bool,
    is_symlink: bool,
}

/// A directory's entries sorted by name bytes (the order Node's readdir gives).
fn read_entries(dir: &Path) -> ToolResult<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(&e, dir))? {
        let entry = entry.map_err(|e| io_error(&e, dir))?;
        let ft = entry.file_type().map_err(|e| io_error(&e, &entry.path()))?;
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            path: entry.path(),
            is_dir: ft.is_dir(),
            is_symlink: ft.is_symlink(),
        });
    }
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(entries)
}

#[tool_router(router = list_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "List Directory",
        description = "Get a detailed listing of all files and directories in a specified path. Results clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This tool is essential for understanding directory structure and finding specific files within a directory. Set respectGitignore to leave out what .gitignore ignores, includeHidden false to leave out dot files. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "List Directory", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_directory(
        &self,
        Parameters(p): Parameters<ListParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let path = p.path.clone();
        let text = file_work(&p.path, move || {
            let dir = sandbox.resolve_existing(&path)?;
            let mut entries = read_entries(&dir)?;
            if p.respect_gitignore || !p.include_hidden {
                let kept = visible_names(&dir, p.respect_gitignore, p.include_hidden)?;
                entries.retain(|e| e.path.file_name().is_some_and(|n| kept.contains(n)));
            }
            let lines: Vec<String> = entries
                .into_iter()
                .map(|e| format!("{} {}", if e.is_dir { "[DIR]" } else { "[FILE]" }, e.name))
                .collect();
            Ok(lines.join("\n"))
        })
        .await?;
        Ok(text_result(text))
    }

    #[tool(
        title = "List Directory with Sizes",
        description = "Get a detailed listing of all files and directories in a specified path, including sizes. Results clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This tool is useful for understanding directory structure and finding specific files within a directory. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "List Directory with Sizes", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_directory_with_sizes(
        &self,
        Parameters(p): Parameters<ListWithSizesParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let path = p.path.clone();
        let text = file_work(&p.path, move || {
            let dir = sandbox.resolve_existing(&path)?;
            list_with_sizes(&dir, p.sort_by, &sandbox)
        })
        .await?;
        Ok(text_result(text))
    }

    #[tool(
        title = "Directory Tree",
        description = "Get a recursive tree view of files and directories as a JSON structure. Each entry includes 'name', 'type' (file/directory), and 'children' for directories. Files have no children array, while directories always have a children array (which may be empty), except with maxDepth: directories on the last level listed have no children key (their content was not listed). The output is formatted with 2-space indentation for readability. Use excludePatterns (globs relative to path, or bare names like node_modules) to skip large folders, maxDepth to list only the first levels, respectGitignore to leave out what .gitignore ignores, includeHidden false to leave out dot files. Symbolic links are listed but not followed. Very large trees are cut at the server's entry limit, with a note saying so. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Directory Tree", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn directory_tree(
        &self,
        Parameters(p): Parameters<TreeParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let max_depth = match p.max_depth {
            None => usize::MAX,
            Some(d) if (1..=MAX_TREE_DEPTH).contains(&d) => {
                usize::try_from(d).unwrap_or(usize::MAX)
            }
            Some(d) => {
                return Err(ToolError::new(format!(
                    "`maxDepth` must be an integer from 1 to {MAX_TREE_DEPTH}; got {d}"
                )));
            }
        };
        let excludes = build_excludes(&p.exclude_patterns)?;
        let progress = Progress::from_context(&context);
        let walker = progress.clone();
        let options = TreeOptions {
            excludes,
            max_depth,
            max_entries: self.config.max_tree_entries,
            respect_gitignore: p.respect_gitignore,
            include_hidden: p.include_hidden,
        };
        let sandbox = self.sandbox.clone();
        let path = p.path.clone();
        let result = file_work(&p.path, move || {
            let root = sandbox.resolve_existing(&path)?;
            tree_text(&root, &options, &walker)
        })
        .await;
        progress.flush().await;
        Ok(text_result(result?))
    }
}

/// The names of `dir`'s entries that the gitignore and hidden-file rules
/// keep, decided by the walk `search_file_contents` uses.
fn visible_names(
    dir: &Path,
    respect_gitignore: bool,
    include_hidden: bool,
) -> ToolResult<HashSet<OsString>> {
    let mut builder = filtered_walk(dir, respect_gitignore, include_hidden);
    builder
        .max_depth(Some(1))
        .filter_entry(move |e| !(respect_gitignore && is_git_dir(e)));
    let mut names = HashSet::new();
    for entry in builder.build() {
        work::check()?;
        // An entry that cannot be read is the listing's to report.
        let Ok(entry) = entry else { continue };
        if entry.depth() == 1 {
            names.insert(entry.file_name().to_owned());
        }
    }
    Ok(names)
}

fn list_with_sizes(dir: &Path, sort_by: SortBy, sandbox: &Arc<PathSandbox>) -> ToolResult<String> {
    struct Sized {
        name: String,
        is_dir: bool,
        size: u64,
    }
    let mut entries: Vec<Sized> = read_entries(dir)?
        .into_iter()
        .map(|e| {
            // Follow a symlink for its size only if it stays inside.
            let follow = !e.is_symlink
                || fs::canonicalize(&e.path).is_ok_and(|real| sandbox.contains(&real));
            let size = if follow {
                fs::metadata(&e.path).map(|m| m.len()).unwrap_or(0)
            } else {
                0
            };
            Sized {
                name: e.name,
                is_dir: e.is_dir,
                size,
            }
        })
        .collect();
    match sort_by {
        SortBy::Name => entries.sort_by(|a, b| locale_compare(&a.name, &b.name)),
        SortBy::Size => entries.sort_by_key(|e| std::cmp::Reverse(e.size)),
    }
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let size = if e.is_dir {
                String::new()
            } else {
                format!("{:>10}", human_size(e.size))
            };
            format!(
                "{} {} {size}",
                if e.is_dir { "[DIR]" } else { "[FILE]" },
                pad_end(&e.name, 30)
            )
        })
        .collect();
    let files = entries.iter().filter(|e| !e.is_dir).count();
    let dirs = entries.len() - files;
    let total: u64 = entries.iter().filter(|e| !e.is_dir).map(|e| e.size).sum();
    lines.push(String::new());
    lines.push(format!("Total: {files} files, {dirs} directories"));
    lines.push(format!("Combined size: {}", human_size(total)));
    Ok(lines.join("\n"))
}

/// JavaScript's `padEnd` (by characters).
fn pad_end(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        s.to_owned()
    } else {
        format!("{s}{}", " ".repeat(width - len))
    }
}

/// An approximation of JavaScript's `localeCompare`: case-insensitive,
/// lowercase before uppercase on ties.
fn locale_compare(a: &str, b: &str) -> Ordering {
    a.to_lowercase()
        .cmp(&b.to_lowercase())
        .then_with(|| b.cmp(a))
}

/// directory_tree's exclusion rule: a pattern with `*` is a glob on the
/// relative path; a bare pattern also matches as a name or a directory
/// anywhere (`p`, `**/p`, `**/p/**`).
pub fn build_excludes(patterns: &[String]) -> ToolResult<GlobSet> {
    let mut expanded = Vec::new();
    for p in patterns {
        if p.contains('*') {
            expanded.push(p.clone());
        } else {
            let p = p.trim_end_matches('/');
            expanded.push(p.to_owned());
            expanded.push(format!("**/{p}"));
            expanded.push(format!("**/{p}/**"));
        }
    }
    build_globs(&expanded, "excludePatterns")
}

/// What `directory_tree` was asked for.
struct TreeOptions {
    excludes: GlobSet,
    /// Levels to list (`usize::MAX`: all of them).
    max_depth: usize,
    max_entries: usize,
    respect_gitignore: bool,
    include_hidden: bool,
}

/// directory_tree's text: the JSON, then a note if the entry limit cut it.
fn tree_text(root: &Path, options: &TreeOptions, progress: &Progress) -> ToolResult<String> {
    let mut tree = TreeBuilder {
        json: TreeJson::new(),
        count: 0,
        seen: 0,
        max: options.max_entries,
        truncated: false,
        progress,
    };
    if options.respect_gitignore {
        walk_gitignored(root, options, &mut tree)?;
    } else {
        walk_prefetched(root, options, &mut tree)?;
    }
    let (count, truncated) = (tree.count, tree.truncated);
    let mut text = tree.json.finish();
    if truncated {
        text.push_str(&format!(
            "\n\n[truncated: the tree has more than {} entries; list a subdirectory or add excludePatterns]",
            options.max_entries
        ));
    }
    progress.report_now(count as f64, None, Some("entries listed"));
    Ok(text)
}

/// The walk's bookkeeping: the entry limit, progress and cancellation, and
/// the JSON written so far.
struct TreeBuilder<'a> {
    json: TreeJson,
    /// Entries listed.
    count: usize,
    /// Entries looked at (listed or left out).
    seen: usize,
    max: usize,
    truncated: bool,
    progress: &'a Progress,
}

impl TreeBuilder<'_> {
    /// Called before each entry, listed or not: `Ok(false)` once the entry
    /// limit is reached (the walk stops there); an error once the call is
    /// cancelled or past its deadline.
    fn admit(&mut self) -> ToolResult<bool> {
        self.progress.check()?;
        self.seen += 1;
        if self.seen.is_multiple_of(4096) {
            work::check()?;
        }
        if self.count >= self.max {
            self.truncated = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Counts an entry that is listed.
    fn counted(&mut self) {
        self.count += 1;
        if self.count.is_multiple_of(256) {
            self.progress
                .report(self.count as f64, None, Some("entries listed"));
        }
    }
}

/// Indentation, sliced.
const SPACES: &str = "                                                                ";

/// directory_tree's JSON, written as the walk goes (no tree is built): byte
/// for byte what `serde_json::to_string_pretty` makes of the official
/// `[{name, type, children?}]` entries.
struct TreeJson {
    out: String,
    /// One per open array (the top one, then the `children` of each
    /// directory being listed): whether it has an item yet.
    open: Vec<bool>,
}

impl TreeJson {
    fn new() -> Self {
        Self {
            out: String::from("["),
            open: vec![false],
        }
    }

    /// Directories open (being listed).
    fn depth(&self) -> usize {
        self.open.len() - 1
    }

    fn indent(&mut self, mut n: usize) {
        while n > 0 {
            let k = n.min(SPACES.len());
            self.out.push_str(&SPACES[..k]);
            n -= k;
        }
    }

    /// Starts an item of the innermost open array, up to its `type`;
    /// returns the indentation of its fields.
    fn begin(&mut self, name: &str, kind: &str) -> usize {
        let fields = 4 * self.open.len();
        if let Some(has_items) = self.open.last_mut()
            && std::mem::replace(has_items, true)
        {
            self.out.push(',');
        }
        self.out.push('\n');
        self.indent(fields - 2);
        self.out.push_str("{\n");
        self.indent(fields);
        self.out.push_str("\"name\": ");
        push_json_string(&mut self.out, name);
        self.out.push_str(",\n");
        self.indent(fields);
        self.out.push_str("\"type\": \"");
        self.out.push_str(kind);
        self.out.push('"');
        fields
    }

    /// A file, or a directory whose content is not listed (at `maxDepth`).
    fn leaf(&mut self, name: &str, is_dir: bool) {
        let fields = self.begin(name, if is_dir { "directory" } else { "file" });
        self.out.push('\n');
        self.indent(fields - 2);
        self.out.push('}');
    }

    /// A directory whose entries come next, until [`close`](Self::close).
    fn open_dir(&mut self, name: &str) {
        let fields = self.begin(name, "directory");
        self.out.push_str(",\n");
        self.indent(fields);
        self.out.push_str("\"children\": [");
        self.open.push(false);
    }

    /// Ends the innermost directory being listed.
    fn close(&mut self) {
        if self.open.len() < 2 {
            return;
        }
        let had_items = self.open.pop().unwrap_or(false);
        let fields = 4 * self.open.len();
        if had_items {
            self.out.push('\n');
            self.indent(fields);
        }
        self.out.push_str("]\n");
        self.indent(fields - 2);
        self.out.push('}');
    }

    /// Closes whatever is open; the whole text.
    fn finish(mut self) -> String {
        while self.open.len() > 1 {
            self.close();
        }
        if self.open[0] {
            self.out.push('\n');
        }
        self.out.push(']');
        self.out
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it.
fn push_json_string(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::Value::from(s).to_string());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// One entry of a directory, as the tree needs it.
struct Item {
    /// As shown: invalid UTF-8 replaced, as the official server does.
    name: String,
    /// The real name, when it is not UTF-8.
    raw: Option<OsString>,
    is_dir: bool,
    /// Listed (not hidden nor excluded); decided by [`frame`].
    keep: bool,
    /// Descended into (its listing read ahead); decided by [`frame`].
    descend: bool,
}

/// A directory's entries, not following symlinks, in the order of
/// [`read_entries`] (byte order of the names as shown), without a path per
/// entry.
fn read_items(dir: &Path) -> ToolResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut all_utf8 = true;
    for entry in fs::read_dir(dir).map_err(|e| io_error(&e, dir))? {
        let entry = entry.map_err(|e| io_error(&e, dir))?;
        let ft = entry.file_type().map_err(|e| io_error(&e, &entry.path()))?;
        let (name, raw) = match entry.file_name().into_string() {
            Ok(name) => (name, None),
            Err(raw) => {
                all_utf8 = false;
                (raw.to_string_lossy().into_owned(), Some(raw))
            }
        };
        items.push(Item {
            name,
            raw,
            is_dir: ft.is_dir(),
            keep: true,
            descend: false,
        });
    }
    if all_utf8 {
        // Names in a directory differ: no ties to keep in order.
        items.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    } else {
        // Two names may look the same once made UTF-8: keep them in
        // read order, as the listing does.
        items.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(items)
}

/// A directory being listed.
struct Frame {
    items: std::vec::IntoIter<Item>,
    /// Depth of its entries (1: the root's).
    depth: usize,
    /// The directories among them that are descended into, in order: the
    /// id of their listing (read ahead), their path, and their path
    /// relative to the root, with `/` (when there are excludes).
    descents: VecDeque<(usize, PathBuf, String)>,
}

/// Decides which of a directory's entries are listed and descended into,
/// and queues those directories to be read ahead.
fn frame(
    mut items: Vec<Item>,
    dir: &Path,
    dir_rel: &str,
    depth: usize,
    options: &TreeOptions,
    prefetch: &Prefetch,
) -> Frame {
    let filtering = !options.include_hidden || !options.excludes.is_empty();
    let descending = depth < options.max_depth;
    let mut descents = Vec::new();
    if filtering || descending {
        for item in &mut items {
            let mut rel = String::new();
            if !options.include_hidden && item.name.starts_with('.') {
                item.keep = false;
            } else if !options.excludes.is_empty() {
                rel = if dir_rel.is_empty() {
                    item.name.clone()
                } else {
                    format!("{dir_rel}/{}", item.name)
                };
                item.keep = !options.excludes.is_match(&rel);
            }
            if item.keep && item.is_dir && descending {
                item.descend = true;
                let path = match &item.raw {
                    Some(raw) => dir.join(raw),
                    None => dir.join(&item.name),
                };
                descents.push((path, rel));
            }
        }
    }
    let descents = if descents.is_empty() {
        VecDeque::new()
    } else {
        let first = prefetch.submit(descents.iter().map(|(path, _)| path.clone()).collect());
        (first..)
            .zip(descents)
            .map(|(id, (path, rel))| (id, path, rel))
            .collect()
    };
    Frame {
        items: items.into_iter(),
        depth,
        descents,
    }
}

/// Queued directories from which reader threads start.
const SPAWN_AT: usize = 4;

/// The walk without gitignore rules: depth first in name order, writing the
/// JSON as it goes, while other cores read the next directories ahead.
fn walk_prefetched(root: &Path, options: &TreeOptions, tree: &mut TreeBuilder) -> ToolResult<()> {
    let prefetch = Prefetch::default();
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        - 1;
    std::thread::scope(|scope| {
        // Readers stop however the walk ends (an error, a panic).
        let _stop = StopOnDrop(&prefetch);
        let mut stack = vec![frame(read_items(root)?, root, "", 1, options, &prefetch)];
        // Readers start once enough directories wait (not for small trees).
        let mut spawn_readers = readers > 0;
        let mut pushed = true;
        loop {
            if std::mem::take(&mut pushed) && spawn_readers && prefetch.queued() >= SPAWN_AT {
                spawn_readers = false;
                for _ in 0..readers {
                    scope.spawn(|| prefetch.work());
                }
            }
            let Some(top) = stack.last_mut() else { break };
            let depth = top.depth;
            let Some(item) = top.items.next() else {
                stack.pop();
                tree.json.close();
                continue;
            };
            if !tree.admit()? {
                break;
            }
            if !item.keep {
                continue;
            }
            tree.counted();
            if !item.descend {
                tree.json.leaf(&item.name, item.is_dir);
                continue;
            }
            tree.json.open_dir(&item.name);
            let Some((job, path, rel)) = top.descents.pop_front() else {
                return Err(ToolError::new(
                    "internal error: a directory to list went missing",
                ));
            };
            let items = prefetch.take(job)?;
            stack.push(frame(items, &path, &rel, depth + 1, options, &prefetch));
            pushed = true;
        }
        Ok(())
    })
}

/// The walk with gitignore rules: the `ignore` crate's walk (the one
/// `search_file_contents` uses), one thread.
fn walk_gitignored(root: &Path, options: &TreeOptions, tree: &mut TreeBuilder) -> ToolResult<()> {
    // A root that cannot be listed fails as in the other walk.
    fs::read_dir(root).map_err(|e| io_error(&e, root))?;
    let mut builder = filtered_walk(root, true, options.include_hidden);
    // In the order of the other walk: names as shown (not UTF-8 made so).
    builder.sort_by_file_name(|a, b| a.to_string_lossy().cmp(&b.to_string_lossy()));
    if options.max_depth != usize::MAX {
        builder.max_depth(Some(options.max_depth));
    }
    let excludes = options.excludes.clone();
    let top = root.to_path_buf();
    builder.filter_entry(move |entry| {
        entry.depth() == 0
            || !(is_git_dir(entry)
                || (!excludes.is_empty() && excludes.is_match(relative_slash(&top, entry.path()))))
    });
    for entry in builder.build() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => match walk_failure(&err) {
                Some(failure) => return Err(failure),
                None => continue,
            },
        };
        let depth = entry.depth();
        if depth == 0 {
            continue;
        }
        while tree.json.depth() >= depth {
            tree.json.close();
        }
        if !tree.admit()? {
            break;
        }
        tree.counted();
        let name = entry.file_name().to_string_lossy();
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        if is_dir && depth < options.max_depth {
            tree.json.open_dir(&name);
        } else {
            tree.json.leaf(&name, is_dir);
        }
    }
    Ok(())
}

/// A walk error that fails the call, as in the other walk (a directory that
/// cannot be read); `None` for one about an ignore file, skipped as git
/// skips it.
fn walk_failure(err: &ignore::Error) -> Option<ToolError> {
    match err {
        ignore::Error::WithPath { path, err: inner }
            if matches!(**inner, ignore::Error::WithDepth { .. }) =>
        {
            Some(match err.io_error() {
                Some(io) => io_error(&std::io::Error::from(io.kind()), path),
                None => ToolError::new(err.to_string()),
            })
        }
        ignore::Error::WithDepth { .. } => Some(ToolError::new(err.to_string())),
        _ => None,
    }
}

/// Entries read ahead at most, beyond one directory: bounds the memory held
/// and the work wasted when the walk stops early (entry limit, error).
const PREFETCH_BUDGET: usize = 1 << 16;

/// Reads directories ahead of the walk on other threads: listing a
/// directory costs the kernel more than its JSON costs us, so the walk
/// writes while the next directories are read.
#[derive(Default)]
struct Prefetch {
    state: Mutex<PrefetchState>,
    changed: Condvar,
}

#[derive(Default)]
struct PrefetchState {
    /// Directories to read, the one the walk needs first on top.
    todo: Vec<usize>,
    slots: HashMap<usize, Slot>,
    next_id: usize,
    /// Entries read and not yet taken by the walk.
    buffered: usize,
    stop: bool,
}

enum Slot {
    Queued(PathBuf),
    Reading,
    Read(ToolResult<Vec<Item>>),
}

fn weight(result: &ToolResult<Vec<Item>>) -> usize {
    result.as_ref().map_or(1, Vec::len)
}

struct StopOnDrop<'a>(&'a Prefetch);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().stop = true;
        self.0.changed.notify_all();
    }
}

impl Prefetch {
    fn lock(&self) -> MutexGuard<'_, PrefetchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, PrefetchState>) -> MutexGuard<'a, PrefetchState> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Queues directories, in the order the walk will need them; returns
    /// the id of the first (the others follow).
    fn submit(&self, paths: Vec<PathBuf>) -> usize {
        let mut state = self.lock();
        let first = state.next_id;
        state.next_id += paths.len();
        for (i, path) in paths.into_iter().enumerate().rev() {
            state.slots.insert(first + i, Slot::Queued(path));
            state.todo.push(first + i);
        }
        drop(state);
        self.changed.notify_all();
        first
    }

    fn queued(&self) -> usize {
        self.lock().todo.len()
    }

    /// The next directory to read, if the budget allows, marked as being read.
    fn next_job(state: &mut PrefetchState) -> Option<(usize, PathBuf)> {
        if state.buffered >= PREFETCH_BUDGET {
            return None;
        }
        while let Some(id) = state.todo.pop() {
            if let Some(slot) = state.slots.get_mut(&id)
                && let Slot::Queued(_) = slot
                && let Slot::Queued(path) = std::mem::replace(slot, Slot::Reading)
            {
                return Some((id, path));
            }
        }
        None
    }

    fn read(&self, id: usize, path: &Path) {
        // A panic must not leave the walk waiting for this listing.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_items(path)))
            .unwrap_or_else(|_| {
                Err(ToolError::new(format!(
                    "internal error while listing {}",
                    path.display()
                )))
            });
        let mut state = self.lock();
        state.buffered += weight(&result);
        state.slots.insert(id, Slot::Read(result));
        drop(state);
        self.changed.notify_all();
    }

    /// The listing of directory `id`: read ahead already, read here if no
    /// reader took it yet, or (while a reader is on it) waited for, reading
    /// other directories meanwhile.
    fn take(&self, id: usize) -> ToolResult<Vec<Item>> {
        let mut state = self.lock();
        loop {
            match state.slots.remove(&id) {
                Some(Slot::Read(result)) => {
                    state.buffered -= weight(&result);
                    drop(state);
                    self.changed.notify_all();
                    return result;
                }
                Some(Slot::Queued(path)) => {
                    drop(state);
                    return read_items(&path);
                }
                Some(Slot::Reading) => {
                    state.slots.insert(id, Slot::Reading);
                    if let Some((other, path)) = Self::next_job(&mut state) {
                        drop(state);
                        self.read(other, &path);
                        state = self.lock();
                    } else {
                        state = self.wait(state);
                    }
                }
                None => {
                    return Err(ToolError::new(
                        "internal error: a directory listing went missing",
                    ));
                }
            }
        }
    }

    /// A reader thread: reads queued directories until the walk ends.
    fn work(&self) {
        let mut state = self.lock();
        while !state.stop {
            if let Some((id, path)) = Self::next_job(&mut state) {
                drop(state);
                self.read(id, &path);
                state = self.lock();
            } else {
                state = self.wait(state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as the server built it before streaming: entries in a
    /// tree, then `serde_json::to_string_pretty` (the official format).
    #[derive(serde::Serialize)]
    struct Reference {
        name: String,
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        children: Option<Vec<Reference>>,
    }

    /// The pre-streaming walk, plus maxDepth and includeHidden as specified.
    fn reference_tree(
        root: &Path,
        dir: &Path,
        depth: usize,
        options: &TreeOptions,
        count: &mut usize,
        truncated: &mut bool,
    ) -> Vec<Reference> {
        let mut out = Vec::new();
        for entry in read_entries(dir).unwrap() {
            if *count >= options.max_entries {
                *truncated = true;
                break;
            }
            if !options.include_hidden && entry.name.starts_with('.') {
                continue;
            }
            if !options.excludes.is_empty()
                && options.excludes.is_match(relative_slash(root, &entry.path))
            {
                continue;
            }
            *count += 1;
            let children = (entry.is_dir && depth < options.max_depth)
                .then(|| reference_tree(root, &entry.path, depth + 1, options, count, truncated));
            out.push(Reference {
                name: entry.name,
                kind: if entry.is_dir { "directory" } else { "file" },
                children,
            });
        }
        out
    }

    fn reference_text(root: &Path, options: &TreeOptions) -> String {
        let (mut count, mut truncated) = (0, false);
        let tree = reference_tree(root, root, 1, options, &mut count, &mut truncated);
        let mut text = serde_json::to_string_pretty(&tree).unwrap();
        if truncated {
            text.push_str(&format!(
                "\n\n[truncated: the tree has more than {} entries; list a subdirectory or add excludePatterns]",
                options.max_entries
            ));
        }
        text
    }

    fn options(
        max_depth: usize,
        max_entries: usize,
        hidden: bool,
        excludes: &[&str],
    ) -> TreeOptions {
        let excludes: Vec<String> = excludes.iter().map(|s| (*s).to_owned()).collect();
        TreeOptions {
            excludes: build_excludes(&excludes).unwrap(),
            max_depth,
            max_entries,
            respect_gitignore: false,
            include_hidden: hidden,
        }
    }

    /// A tree wide enough for the reader threads to start, with empty
    /// directories, dot files and names JSON must escape.
    fn sample_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in 0..12 {
            let sub = root.join(format!("d{d:02}"));
            fs::create_dir_all(sub.join("inner/deepest")).unwrap();
            fs::create_dir_all(sub.join("empty")).unwrap();
            for f in 0..(d * 3) {
                fs::write(sub.join(format!("f{f}.txt")), "x").unwrap();
            }
            fs::write(sub.join("inner/deepest/leaf.md"), "x").unwrap();
            fs::write(sub.join(".hidden"), "x").unwrap();
        }
        fs::create_dir(root.join(".config")).unwrap();
        fs::write(root.join(".config/settings"), "x").unwrap();
        fs::write(root.join("quote\"name\\back\tslash"), "x").unwrap();
        fs::write(root.join("caf\u{e9} \u{1f600}"), "x").unwrap();
        std::os::unix::fs::symlink("d00", root.join("link-to-dir")).unwrap();
        // Names that are not UTF-8, two of them shown alike.
        use std::os::unix::ffi::OsStrExt;
        let raw = |b: &[u8]| root.join(std::ffi::OsStr::from_bytes(b));
        fs::write(raw(b"bad\xffname"), "x").unwrap();
        fs::write(raw(b"bad\xfename"), "x").unwrap();
        fs::create_dir(raw(b"dir\xff")).unwrap();
        fs::write(raw(b"dir\xff/inside"), "x").unwrap();
        dir
    }

    #[test]
    fn streamed_json_is_serde_pretty_json() {
        let cases: [&[(&str, usize)]; 4] = [
            &[],
            &[("a", 1), ("b", 0)],
            &[("dir", 2), ("x\"y\n\u{1}", 0), ("e", 1)],
            &[("d", 2), ("d2", 2), ("d3", 1)],
        ];
        for events in cases {
            // (name, kind): 0 file, 1 directory not listed, 2 listed (empty).
            let mut json = TreeJson::new();
            let mut reference = Vec::new();
            for (name, kind) in events {
                match kind {
                    0 => json.leaf(name, false),
                    1 => json.leaf(name, true),
                    _ => {
                        json.open_dir(name);
                        json.close();
                    }
                }
                reference.push(Reference {
                    name: (*name).to_owned(),
                    kind: if *kind == 0 { "file" } else { "directory" },
                    children: (*kind == 2).then(Vec::new),
                });
            }
            assert_eq!(
                json.finish(),
                serde_json::to_string_pretty(&reference).unwrap()
            );
        }
    }

    #[test]
    fn both_walks_give_the_reference_tree() {
        let dir = sample_tree();
        let root = fs::canonicalize(dir.path()).unwrap();
        let progress = Progress::none();
        for options in [
            options(usize::MAX, 50_000, true, &[]),
            options(1, 50_000, true, &[]),
            options(2, 50_000, true, &[]),
            options(3, 50_000, false, &[]),
            options(usize::MAX, 50_000, false, &["inner", "*.md", "d0*/f1.txt"]),
            options(usize::MAX, 1, true, &[]),
            options(usize::MAX, 37, true, &[]),
            options(2, 40, false, &["empty"]),
        ] {
            let expected = reference_text(&root, &options);
            let fast = tree_text(&root, &options, &progress).unwrap();
            assert_eq!(
                fast, expected,
                "depth {} max {}",
                options.max_depth, options.max_entries
            );
            serde_json::from_str::<serde_json::Value>(fast.split("\n\n[truncated").next().unwrap())
                .unwrap();
            // No ignore file here: the gitignore walk lists the same tree.
            let (max_depth, max_entries) = (options.max_depth, options.max_entries);
            let gitignored = TreeOptions {
                respect_gitignore: true,
                ..options
            };
            let slow = tree_text(&root, &gitignored, &progress).unwrap();
            assert_eq!(slow, fast, "depth {max_depth} max {max_entries}");
        }
    }

    #[test]
    fn gitignore_rules_and_git_folders_are_left_out_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(root.join(".git/objects")).unwrap();
        fs::create_dir_all(root.join("target/debug")).unwrap();
        fs::create_dir_all(root.join("src")).unwrap();
        fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::write(root.join("src/main.rs"), "").unwrap();
        fs::write(root.join("src/debug.log"), "").unwrap();
        fs::write(root.join("target/debug/app"), "").unwrap();
        let progress = Progress::none();
        let mut opts = options(usize::MAX, 50_000, true, &[]);
        let all = tree_text(&root, &opts, &progress).unwrap();
        assert!(all.contains("\"target\"") && all.contains("debug.log") && all.contains(".git"));
        opts.respect_gitignore = true;
        let kept = tree_text(&root, &opts, &progress).unwrap();
        let names: Vec<&str> = kept
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"name\": "))
            .map(|n| n.trim_end_matches(','))
            .collect();
        assert_eq!(names, ["\".gitignore\"", "\"src\"", "\"main.rs\""]);
        let visible = visible_names(&root, true, false).unwrap();
        assert_eq!(visible, HashSet::from([OsString::from("src")]));
    }

    #[test]
    fn unreadable_directories_fail_the_tree_in_both_walks() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let progress = Progress::none();
        for respect_gitignore in [false, true] {
            let opts = TreeOptions {
                respect_gitignore,
                ..options(usize::MAX, 50_000, true, &[])
            };
            let err = tree_text(&root.join("missing"), &opts, &progress).unwrap_err();
            assert!(err.message().starts_with("ENOENT"), "{err}");
        }
    }

    #[test]
    fn sizes_listing_matches_official_columns() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), "hello").unwrap();
        fs::write(dir.path().join("big.txt"), "x".repeat(1300)).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let sandbox = Arc::new(PathSandbox::new(&[dir.path()]).unwrap());
        let text = list_with_sizes(dir.path(), SortBy::Name, &sandbox).unwrap();
        assert_eq!(
            text,
            "[FILE] a.txt                                 5 B\n\
             [FILE] big.txt                           1.27 KB\n\
             [DIR] sub                            \n\
             \n\
             Total: 2 files, 1 directories\n\
             Combined size: 1.27 KB"
        );
        let by_size = list_with_sizes(dir.path(), SortBy::Size, &sandbox).unwrap();
        assert!(by_size.starts_with("[DIR] sub"), "{by_size}");
    }

    #[test]
    fn bare_excludes_match_names_anywhere_and_globs_match_paths() {
        let set = build_excludes(&["node_modules".into(), "*.txt".into()]).unwrap();
        assert!(set.is_match("node_modules"));
        assert!(set.is_match("a/node_modules"));
        assert!(set.is_match("a/node_modules/x.js"));
        assert!(set.is_match("top.txt"));
        assert!(
            !set.is_match("sub/deep.txt"),
            "* does not cross directories"
        );
        assert!(!set.is_match("src/main.rs"));
    }

    #[test]
    fn name_sort_is_case_insensitive() {
        let mut names = vec!["b", "A", ".hidden", "a"];
        names.sort_by(|a, b| locale_compare(a, b));
        assert_eq!(names, [".hidden", "a", "A", "b"]);
    }
}
