//! list_directory, list_directory_with_sizes, directory_tree.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::GlobSet;
use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::fsutil::human_size;
use mcp_servers_core::progress::Progress;
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::read::PathParams;
use super::search::{build_globs, relative_slash};
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
pub struct TreeParams {
    /// Directory at the top of the tree.
    pub path: String,
    /// Glob patterns, relative to `path`, of entries to leave out; a bare name (e.g. `node_modules`) excludes that entry wherever it is.
    #[serde(default)]
    #[schemars(default)]
    pub exclude_patterns: Vec<String>,
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

#[derive(Debug, Serialize)]
pub struct TreeEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<TreeEntry>>,
}

#[tool_router(router = list_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "List Directory",
        description = "Get a detailed listing of all files and directories in a specified path. Results clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This tool is essential for understanding directory structure and finding specific files within a directory. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "List Directory", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_directory(
        &self,
        Parameters(p): Parameters<PathParams>,
    ) -> ToolResult<CallToolResult> {
        let dir = self.sandbox.resolve_existing(&p.path)?;
        let text = blocking(move || {
            let lines: Vec<String> = read_entries(&dir)?
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
        let dir = self.sandbox.resolve_existing(&p.path)?;
        let sandbox = self.sandbox.clone();
        let text = blocking(move || list_with_sizes(&dir, p.sort_by, &sandbox)).await?;
        Ok(text_result(text))
    }

    #[tool(
        title = "Directory Tree",
        description = "Get a recursive tree view of files and directories as a JSON structure. Each entry includes 'name', 'type' (file/directory), and 'children' for directories. Files have no children array, while directories always have a children array (which may be empty). The output is formatted with 2-space indentation for readability. Use excludePatterns (globs relative to path, or bare names like node_modules) to skip large folders. Symbolic links are listed but not followed. Very large trees are cut at the server's entry limit, with a note saying so. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Directory Tree", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn directory_tree(
        &self,
        Parameters(p): Parameters<TreeParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let root = self.sandbox.resolve_existing(&p.path)?;
        let excludes = build_excludes(&p.exclude_patterns)?;
        let progress = Progress::from_context(&context);
        let max = self.config.max_tree_entries;
        let walker = progress.clone();
        let result = blocking(move || {
            let mut state = TreeState { count: 0, max, truncated: false, progress: walker };
            let tree = build_tree(&root, &root, &excludes, &mut state)?;
            let mut text = serde_json::to_string_pretty(&tree)
                .map_err(|e| ToolError::new(format!("internal error: {e}")))?;
            if state.truncated {
                text.push_str(&format!(
                    "\n\n[truncated: the tree has more than {max} entries; list a subdirectory or add excludePatterns]"
                ));
            }
            state.progress.report_now(state.count as f64, None, Some("entries listed"));
            Ok(text)
        })
        .await;
        progress.flush().await;
        Ok(text_result(result?))
    }
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

struct TreeState {
    count: usize,
    max: usize,
    truncated: bool,
    progress: Progress,
}

fn build_tree(
    root: &Path,
    dir: &Path,
    excludes: &GlobSet,
    state: &mut TreeState,
) -> ToolResult<Vec<TreeEntry>> {
    let mut out = Vec::new();
    for entry in read_entries(dir)? {
        state.progress.check()?;
        if state.count >= state.max {
            state.truncated = true;
            break;
        }
        // Most trees have no excludes: skip building each relative path then.
        if !excludes.is_empty() && excludes.is_match(relative_slash(root, &entry.path)) {
            continue;
        }
        state.count += 1;
        if state.count.is_multiple_of(256) {
            state
                .progress
                .report(state.count as f64, None, Some("entries listed"));
        }
        let children = if entry.is_dir {
            Some(build_tree(root, &entry.path, excludes, state)?)
        } else {
            None
        };
        out.push(TreeEntry {
            name: entry.name,
            kind: if entry.is_dir { "directory" } else { "file" },
            children,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
