//! search_files (glob on paths) and search_file_contents (text in files).

use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path};
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::progress::Progress;
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::read::{file_work, read_bytes_limited};
use super::{text_output_schema, text_result};
use crate::FilesystemServer;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchFilesParams {
    /// Directory to search in.
    pub path: String,
    /// Glob matched against paths relative to `path`: `*.md` matches the top level only, `**/*.md` matches at any depth.
    pub pattern: String,
    /// Globs, relative to `path`, of entries to skip (a skipped directory is not searched).
    #[serde(default)]
    #[schemars(default)]
    pub exclude_patterns: Vec<String>,
    /// Extension: skip what .gitignore, .ignore and .git/info/exclude ignore, and .git folders (default: false, as the official server).
    #[serde(default)]
    #[schemars(default)]
    pub respect_gitignore: bool,
    /// Extension: include entries whose name starts with a dot (default: true, as the official server).
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub include_hidden: bool,
}

pub(crate) fn default_true() -> bool {
    true
}

/// The walk of every tool that filters by .gitignore or hides dot files
/// (`search_file_contents`; `search_files`, `directory_tree` and
/// `list_directory` with `respectGitignore` or `includeHidden: false`): the
/// `ignore` crate's rules (.gitignore, .ignore, .git/info/exclude, and those
/// of parent directories, whether or not in a git repository; never the
/// user's global excludes), symlinks listed but never followed, each
/// directory's entries in byte order of their names. The root (depth 0) is
/// always yielded. `.git` itself is the caller's to skip (see [`is_git_dir`]).
pub fn filtered_walk(
    root: &Path,
    respect_gitignore: bool,
    include_hidden: bool,
) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(!include_hidden)
        .follow_links(false)
        .git_ignore(respect_gitignore)
        .git_global(false)
        .git_exclude(respect_gitignore)
        .ignore(respect_gitignore)
        .parents(respect_gitignore)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    builder
}

/// Whether a walked entry below the root is a `.git` folder (or file, as in
/// worktrees and submodules): what git never lists.
pub fn is_git_dir(entry: &ignore::DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name() == ".git"
}

/// Longest glob accepted, in bytes: no path is longer (a 64 MiB glob took
/// 15 GB to compile).
pub const MAX_GLOB_BYTES: usize = 4096;

/// Most globs in one list.
pub const MAX_GLOBS: usize = 1000;

/// Longest `search_file_contents` pattern, in bytes (a compiled pattern
/// takes about a hundred times its length).
pub const MAX_SEARCH_PATTERN_BYTES: usize = 64 * 1024;

fn default_max_matches() -> u64 {
    200
}

/// Most context lines around a match.
pub const MAX_CONTEXT_LINES: u64 = 20;

/// Largest `maxResults` accepted (the server's --max-results caps it further).
pub const MAX_RESULTS_ARG: u64 = 1_000_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchContentsParams {
    /// Directory (or a single file) to search in.
    pub path: String,
    /// Text to look for; a regular expression (Rust `regex` syntax) when `regex` is true.
    pub pattern: String,
    /// Treat `pattern` as a regular expression (default: literal text).
    #[serde(default)]
    #[schemars(default)]
    pub regex: bool,
    /// Match case exactly (default: false, case-insensitive).
    #[serde(default)]
    #[schemars(default)]
    pub case_sensitive: bool,
    /// Only search files whose path relative to `path` matches one of these globs (e.g. `**/*.rs`).
    #[serde(default)]
    #[schemars(default)]
    pub include: Vec<String>,
    /// Skip files and directories whose path relative to `path` matches one of these globs.
    #[serde(default)]
    #[schemars(default)]
    pub exclude: Vec<String>,
    /// Skip what .gitignore, .ignore and .git/info/exclude ignore (default: true).
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub respect_gitignore: bool,
    /// Lines of context to show before and after each match (default 0, at most 20).
    #[serde(default)]
    #[schemars(default, range(max = MAX_CONTEXT_LINES))]
    pub context_lines: u64,
    /// Most matching lines to return (default 200; at most the server's --max-results).
    #[serde(default = "default_max_matches")]
    #[schemars(default = "default_max_matches", range(min = 1, max = MAX_RESULTS_ARG))]
    pub max_results: u64,
}

/// Compiles globs minimatch-style: `*` stays within one path component,
/// `**` crosses them, dot files match.
pub fn build_globs(patterns: &[String], what: &str) -> ToolResult<GlobSet> {
    if patterns.len() > MAX_GLOBS {
        return Err(ToolError::new(format!(
            "{what}: {} globs; at most {MAX_GLOBS} are accepted",
            patterns.len()
        )));
    }
    if let Some(long) = patterns.iter().find(|p| p.len() > MAX_GLOB_BYTES) {
        return Err(ToolError::new(format!(
            "{what}: a glob of {} bytes; at most {MAX_GLOB_BYTES} are accepted (a path is never longer)",
            long.len()
        )));
    }
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| ToolError::new(format!("invalid glob in {what}: {p:?}: {e}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| ToolError::new(format!("invalid glob in {what}: {e}")))
}

/// `path` relative to `root`, with `/` separators.
pub fn relative_slash(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Whether a walked entry may be reported: not a symlink, or one whose
/// target is inside the sandbox.
fn allowed(entry_path: &Path, is_symlink: bool, sandbox: &PathSandbox) -> bool {
    !is_symlink || fs::canonicalize(entry_path).is_ok_and(|real| sandbox.contains(&real))
}

#[tool_router(router = search_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Search Files",
        description = "Recursively search for files and directories matching a pattern. The patterns should be glob-style patterns that match paths relative to the working directory. Use pattern like '*.ext' to match files in current directory, and '**/*.ext' to match files in all subdirectories. Returns full paths to all matching items, one per line, or 'No matches found'. Great for finding files when you don't know their exact location. Symbolic links are not followed; results are capped at the server's limit, with a note saying so. Set respectGitignore to skip what .gitignore ignores, includeHidden false to skip dot files. Only searches within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Search Files", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn search_files(
        &self,
        Parameters(p): Parameters<SearchFilesParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let pattern = build_globs(std::slice::from_ref(&p.pattern), "pattern")?;
        let excludes = build_globs(&p.exclude_patterns, "excludePatterns")?;
        let sandbox = self.sandbox.clone();
        let max = self.config.max_results;
        let progress = Progress::from_context(&context);
        let walker = progress.clone();
        let path = p.path.clone();
        let result = file_work(&p.path, move || {
            let root = sandbox.resolve_existing(&path)?;
            let mut results = Vec::new();
            let mut truncated = false;
            let mut seen = 0usize;
            let mut builder = filtered_walk(&root, p.respect_gitignore, p.include_hidden);
            let skip_git = p.respect_gitignore;
            let top = root.clone();
            // An excluded directory is not searched.
            builder.filter_entry(move |entry| {
                entry.depth() == 0
                    || !((skip_git && is_git_dir(entry))
                        || (!excludes.is_empty()
                            && excludes.is_match(relative_slash(&top, entry.path()))))
            });
            for entry in builder.build() {
                walker.check()?;
                let Ok(entry) = entry else { continue };
                if entry.depth() == 0 {
                    continue;
                }
                seen += 1;
                walker.report(seen as f64, None, Some("entries searched"));
                if !allowed(entry.path(), entry.path_is_symlink(), &sandbox) {
                    continue;
                }
                if pattern.is_match(relative_slash(&root, entry.path())) {
                    if results.len() >= max {
                        truncated = true;
                        break;
                    }
                    results.push(entry.path().display().to_string());
                }
            }
            walker.report_now(seen as f64, None, Some("entries searched"));
            if results.is_empty() {
                return Ok("No matches found".to_owned());
            }
            let mut text = results.join("\n");
            if truncated {
                let _ = write!(
                    text,
                    "\n\n[truncated: showing the first {max} matches; narrow the pattern or path]"
                );
            }
            Ok(text)
        })
        .await;
        progress.flush().await;
        Ok(text_result(result?))
    }

    #[tool(
        title = "Search File Contents",
        description = "Search inside text files for a literal string or a regular expression, like ripgrep. Returns matching lines as `path:line:text` (context lines as `path-line-text`, groups separated by `--`), or 'No matches found'. Skips binary files, and by default what .gitignore ignores. Narrow with include/exclude globs relative to path. Use this to find where something is defined or used; use search_files to find files by name. Only searches within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Search File Contents", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn search_file_contents(
        &self,
        Parameters(p): Parameters<SearchContentsParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        if p.pattern.len() > MAX_SEARCH_PATTERN_BYTES {
            return Err(ToolError::new(format!(
                "`pattern` is {} bytes; at most {MAX_SEARCH_PATTERN_BYTES} are accepted: search for a shorter, distinctive part",
                p.pattern.len()
            )));
        }
        let source = if p.regex {
            p.pattern.clone()
        } else {
            regex::escape(&p.pattern)
        };
        let re = regex::RegexBuilder::new(&source)
            .case_insensitive(!p.case_sensitive)
            .size_limit(16 * 1024 * 1024)
            .build()
            .map_err(|e| ToolError::new(format!("invalid regular expression: {e}")))?;
        let include = build_globs(&p.include, "include")?;
        let exclude = build_globs(&p.exclude, "exclude")?;
        let sandbox = self.sandbox.clone();
        if p.context_lines > MAX_CONTEXT_LINES {
            return Err(ToolError::new(format!(
                "`contextLines` must be an integer from 0 to {MAX_CONTEXT_LINES}; got {}",
                p.context_lines
            )));
        }
        if !(1..=MAX_RESULTS_ARG).contains(&p.max_results) {
            return Err(ToolError::new(format!(
                "`maxResults` must be an integer from 1 to {MAX_RESULTS_ARG} (the server returns at most {}); got {}",
                self.config.max_results, p.max_results
            )));
        }
        let max_matches = usize::try_from(p.max_results)
            .unwrap_or(usize::MAX)
            .min(self.config.max_results);
        let max_file = self.config.max_read_bytes;
        let progress = Progress::from_context(&context);
        let walker = progress.clone();
        let path = p.path.clone();
        let result = file_work(&p.path, move || {
            let root = sandbox.resolve_existing(&path)?;
            let search = ContentSearch {
                root: &root,
                re: &re,
                include: &include,
                exclude: &exclude,
                sandbox: &sandbox,
                context: usize::try_from(p.context_lines).unwrap_or(0),
                max_matches,
                max_file,
                progress: &walker,
            };
            search.run(p.respect_gitignore)
        })
        .await;
        progress.flush().await;
        Ok(text_result(result?))
    }
}

struct ContentSearch<'a> {
    root: &'a Path,
    re: &'a regex::Regex,
    include: &'a GlobSet,
    exclude: &'a GlobSet,
    sandbox: &'a Arc<PathSandbox>,
    context: usize,
    max_matches: usize,
    max_file: u64,
    progress: &'a Progress,
}

impl ContentSearch<'_> {
    fn run(&self, respect_gitignore: bool) -> ToolResult<String> {
        let mut builder = filtered_walk(self.root, respect_gitignore, true);
        let root = self.root.to_path_buf();
        let exclude = self.exclude.clone();
        builder.filter_entry(move |entry| {
            let rel = relative_slash(&root, entry.path());
            entry.file_name() != ".git" && (rel.is_empty() || !exclude.is_match(&rel))
        });
        let mut out = String::new();
        let mut matches = 0usize;
        let mut files = 0usize;
        let mut truncated = false;
        'walk: for entry in builder.build() {
            self.progress.check()?;
            let Ok(entry) = entry else { continue };
            let Some(ft) = entry.file_type() else {
                continue;
            };
            if !ft.is_file() {
                continue;
            }
            let rel = relative_slash(self.root, entry.path());
            if !self.include.is_empty() && !self.include.is_match(&rel) {
                continue;
            }
            if !allowed(entry.path(), entry.path_is_symlink(), self.sandbox) {
                continue;
            }
            files += 1;
            self.progress
                .report(files as f64, None, Some("files searched"));
            let Ok(bytes) = read_bytes_limited(entry.path(), self.max_file, "--max-read-bytes")
            else {
                continue;
            };
            if bytes[..bytes.len().min(8192)].contains(&0) {
                continue; // binary
            }
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let display = entry.path().display().to_string();
            let is_match: Vec<bool> = lines.iter().map(|l| self.re.is_match(l)).collect();
            let mut last_printed: Option<usize> = None;
            for i in 0..lines.len() {
                if !is_match[i] {
                    continue;
                }
                if matches >= self.max_matches {
                    truncated = true;
                    break 'walk;
                }
                matches += 1;
                let from = i.saturating_sub(self.context);
                let to = (i + self.context).min(lines.len() - 1);
                let start = match last_printed {
                    Some(last) if last + 1 >= from => last + 1,
                    _ => {
                        if !out.is_empty() {
                            out.push_str("--\n");
                        }
                        from
                    }
                };
                for j in start..=to {
                    let sep = if is_match[j] { ':' } else { '-' };
                    let _ = writeln!(out, "{display}{sep}{}{sep}{}", j + 1, lines[j]);
                }
                if start <= to {
                    last_printed = Some(to);
                }
            }
        }
        self.progress
            .report_now(files as f64, None, Some("files searched"));
        if matches == 0 {
            return Ok("No matches found".to_owned());
        }
        let mut text = out.trim_end_matches('\n').to_owned();
        if truncated {
            let _ = write!(
                text,
                "\n\n[truncated: showing the first {} matching lines; narrow the pattern, path or include globs, or raise maxResults]",
                self.max_matches
            );
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_minimatch_rules() {
        let top = build_globs(&["*.md".into()], "p").unwrap();
        assert!(top.is_match("a.md"));
        assert!(top.is_match(".hidden.md"), "dot files match");
        assert!(!top.is_match("sub/a.md"), "* stays at the top level");
        let deep = build_globs(&["**/*.md".into()], "p").unwrap();
        assert!(deep.is_match("a.md"));
        assert!(deep.is_match("sub/deep/a.md"));
        assert!(build_globs(&["[".into()], "pattern").is_err());
        // Huge globs are refused before they are compiled (a 64 MiB one
        // took 15 GB), and so are too many.
        let long = "A".repeat(MAX_GLOB_BYTES + 1);
        let err = build_globs(&[long], "excludePatterns").unwrap_err();
        assert!(err.message().contains("at most 4096"), "{err}");
        assert!(build_globs(&["a".repeat(MAX_GLOB_BYTES)], "x").is_ok());
        let many = vec!["*.md".to_owned(); MAX_GLOBS + 1];
        assert!(build_globs(&many, "exclude").is_err());
    }

    #[test]
    fn context_groups_merge_and_separate() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("f.txt"), "a\nhit1\nhit2\nb\nc\nd\ne\nhit3\n").unwrap();
        let sandbox = Arc::new(PathSandbox::new(&[&root]).unwrap());
        let re = regex::Regex::new("hit").unwrap();
        let none = build_globs(&[], "x").unwrap();
        let progress = Progress::none();
        let search = ContentSearch {
            root: &root,
            re: &re,
            include: &none,
            exclude: &none,
            sandbox: &sandbox,
            context: 1,
            max_matches: 10,
            max_file: 1 << 20,
            progress: &progress,
        };
        let f = root.join("f.txt").display().to_string();
        assert_eq!(
            search.run(true).unwrap(),
            format!("{f}-1-a\n{f}:2:hit1\n{f}:3:hit2\n{f}-4-b\n--\n{f}-7-e\n{f}:8:hit3")
        );
    }

    #[test]
    fn relative_paths_use_slashes() {
        assert_eq!(
            relative_slash(Path::new("/r"), Path::new("/r/a/b.txt")),
            "a/b.txt"
        );
        assert_eq!(relative_slash(Path::new("/r"), Path::new("/r")), "");
    }
}
