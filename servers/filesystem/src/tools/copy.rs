//! copy_file: a file, or a directory tree, copied inside the allowed
//! directories.
//!
//! The copy is planned first (the source walked, every limit checked), so a
//! refused copy writes nothing. Then each directory is created, each file
//! written atomically (core's `atomic_write_new`, or `atomic_write` to
//! replace with `overwrite`), and each symlink recreated from its target
//! text: a link is never followed, so one pointing outside the allowed
//! directories is copied as a link and its target never read.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil;
use mcp_servers_core::progress::Progress;
use mcp_servers_core::sandbox::PathSandbox;
use mcp_servers_core::work;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::read::file_work_naming;
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

/// Most entries (files, directories, links) one call copies.
pub const MAX_COPY_ENTRIES: usize = 250_000;

/// Skipped entries named in the summary at most.
const MAX_SKIPPED_SHOWN: usize = 20;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyParams {
    /// The file or directory to copy (a directory is copied with everything in it; symbolic links inside it are copied as links).
    pub source: String,
    /// Path of the copy; must not exist yet unless `overwrite` is true. Its parent directory must exist.
    pub destination: String,
    /// Replace what exists at the destination (default: false: refuse if the destination exists). A directory copied onto an existing directory is merged into it: files of the same name are replaced, other entries kept.
    #[serde(default)]
    #[schemars(default)]
    pub overwrite: bool,
}

#[tool_router(router = copy_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Copy File",
        description = "Copy a file, or a directory with everything in it, to a new path. Fails if the destination exists, unless overwrite is true (then files are replaced, and a directory copied onto a directory is merged into it). Each file is written atomically and keeps its permissions; symbolic links are copied as links, never followed; FIFOs, sockets and devices are skipped. Returns a summary: files, directories, links, bytes and skipped entries. Both source and destination must be within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Copy File", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn copy_file(
        &self,
        Parameters(p): Parameters<CopyParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let max_file = self.config.max_read_bytes;
        let progress = Progress::from_context(&context);
        let reporter = progress.clone();
        let overwrite = p.overwrite;
        // The path being worked on, named if the file system stops answering.
        let current = Arc::new(Mutex::new(p.source.clone()));
        let on = current.clone();
        let (source_arg, destination_arg) = (p.source.clone(), p.destination.clone());
        let result = file_work_naming(current, move || {
            let source = sandbox.resolve_existing(&source_arg)?;
            set_current(&on, &destination_arg);
            let destination = sandbox.resolve_for_write(&destination_arg)?;
            let copy = Copy {
                source: &source,
                destination: &destination,
                overwrite,
                max_file,
                sandbox: &sandbox,
                progress: &reporter,
                current: &on,
            };
            copy.run()
        })
        .await;
        progress.flush().await;
        let summary = result?;
        Ok(text_result(format!(
            "Successfully copied {} to {}: {summary}",
            p.source, p.destination
        )))
    }
}

/// What an entry of the source is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir {
        mode: u32,
    },
    File {
        size: u64,
        mode: u32,
    },
    /// A symbolic link and its target, as text.
    Link(PathBuf),
    /// A FIFO, socket or device: skipped.
    Special(&'static str),
}

/// One entry to copy; `rel` is empty for the source itself.
#[derive(Debug)]
struct Item {
    rel: PathBuf,
    kind: Kind,
}

/// What was copied (or, on failure, copied before it).
#[derive(Debug, Default)]
struct Summary {
    files: u64,
    dirs: u64,
    links: u64,
    bytes: u64,
    /// Entries left out, with why (the top of a skipped directory only).
    skipped: Vec<(PathBuf, String)>,
    /// Entries left out, counting those inside skipped directories.
    skipped_count: u64,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}), {}, {}, {} skipped",
            plural(self.files, "file", "files"),
            fsutil::human_size(self.bytes),
            plural(self.dirs, "directory", "directories"),
            plural(self.links, "symbolic link", "symbolic links"),
            self.skipped_count
        )?;
        for (rel, why) in self.skipped.iter().take(MAX_SKIPPED_SHOWN) {
            let shown = if rel.as_os_str().is_empty() {
                Path::new(".")
            } else {
                rel
            };
            write!(f, "\nskipped {}: {why}", shown.display())?;
        }
        if self.skipped.len() > MAX_SKIPPED_SHOWN {
            write!(
                f,
                "\n... and {} more skipped",
                self.skipped.len() - MAX_SKIPPED_SHOWN
            )?;
        }
        Ok(())
    }
}

struct Copy<'a> {
    /// Canonical, inside the sandbox.
    source: &'a Path,
    /// From `resolve_for_write`: its parent is real and inside the sandbox.
    destination: &'a Path,
    overwrite: bool,
    max_file: u64,
    sandbox: &'a PathSandbox,
    progress: &'a Progress,
    /// The path being worked on, for the error if the file system hangs.
    current: &'a Mutex<String>,
}

impl Copy<'_> {
    fn run(&self) -> ToolResult<Summary> {
        let (src, dst) = (self.source, self.destination);
        let meta = fs::symlink_metadata(src).map_err(|e| io_error(&e, src))?;
        if src == dst {
            return Err(ToolError::new(format!(
                "Cannot copy {} onto itself",
                src.display()
            )));
        }
        if meta.is_dir() && dst.starts_with(src) {
            return Err(ToolError::new(format!(
                "Cannot copy {} into itself ({})",
                src.display(),
                dst.display()
            )));
        }
        match fs::symlink_metadata(dst) {
            Ok(existing) => {
                if !self.overwrite {
                    return Err(ToolError::new(format!(
                        "Destination already exists: {} (set overwrite to true to replace it)",
                        dst.display()
                    )));
                }
                if existing.dev() == meta.dev() && existing.ino() == meta.ino() {
                    return Err(ToolError::new(format!(
                        "Cannot copy {} onto itself ({} is the same file)",
                        src.display(),
                        dst.display()
                    )));
                }
                if meta.is_dir() && src.starts_with(dst) {
                    return Err(ToolError::new(format!(
                        "Cannot copy {} over {}, which contains it",
                        src.display(),
                        dst.display()
                    )));
                }
                if meta.is_dir() && !existing.is_dir() {
                    return Err(ToolError::new(format!(
                        "Destination {} is {}; cannot copy a directory over it",
                        dst.display(),
                        kind_name(&existing)
                    )));
                }
                if !meta.is_dir() && existing.is_dir() {
                    return Err(ToolError::new(format!(
                        "Destination {} is a directory; cannot copy a file over it (name the new file, inside it)",
                        dst.display()
                    )));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&e, dst)),
        }
        let items = self.plan(&meta)?;
        let mut summary = Summary::default();
        match self.execute(&items, &mut summary) {
            Ok(()) => Ok(summary),
            Err(e) if summary.files + summary.dirs + summary.links == 0 => Err(e),
            Err(e) => Err(ToolError::new(format!(
                "{e}\nThe copy stopped there; copied before it: {summary}"
            ))),
        }
    }

    /// Every entry of the source, parents before their content (breadth
    /// first, names in byte order), every limit checked before anything is
    /// written.
    fn plan(&self, meta: &fs::Metadata) -> ToolResult<Vec<Item>> {
        let src = self.source;
        let mut items = vec![Item {
            rel: PathBuf::new(),
            kind: self.kind_of(src, meta)?,
        }];
        let mut dirs = VecDeque::new();
        if meta.is_dir() {
            dirs.push_back(PathBuf::new());
        }
        while let Some(rel) = dirs.pop_front() {
            let dir = src.join(&rel);
            let mut entries: Vec<(OsString, fs::Metadata)> = Vec::new();
            for entry in fs::read_dir(&dir).map_err(|e| io_error(&e, &dir))? {
                self.progress.check()?;
                work::check()?;
                let entry = entry.map_err(|e| io_error(&e, &dir))?;
                // Not following symlinks (lstat).
                let meta = entry.metadata().map_err(|e| io_error(&e, &entry.path()))?;
                entries.push((entry.file_name(), meta));
            }
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (name, meta) in entries {
                if items.len() >= MAX_COPY_ENTRIES {
                    return Err(ToolError::new(format!(
                        "{} holds more than {MAX_COPY_ENTRIES} entries; copy_file copies at most {MAX_COPY_ENTRIES} in one call: copy its subdirectories one at a time",
                        src.display()
                    )));
                }
                let rel = rel.join(&name);
                let kind = self.kind_of(&src.join(&rel), &meta)?;
                if let Kind::Dir { .. } = kind {
                    dirs.push_back(rel.clone());
                }
                items.push(Item { rel, kind });
            }
            self.progress
                .report(items.len() as f64, None, Some("entries to copy found"));
        }
        Ok(items)
    }

    fn kind_of(&self, path: &Path, meta: &fs::Metadata) -> ToolResult<Kind> {
        let ft = meta.file_type();
        Ok(if ft.is_symlink() {
            Kind::Link(fs::read_link(path).map_err(|e| io_error(&e, path))?)
        } else if ft.is_dir() {
            Kind::Dir { mode: meta.mode() }
        } else if ft.is_file() {
            if meta.len() > self.max_file {
                return Err(ToolError::new(format!(
                    "{} is {}; copy_file copies files of up to {} each (--max-read-bytes); nothing was copied",
                    path.display(),
                    fsutil::human_size(meta.len()),
                    fsutil::human_size(self.max_file)
                )));
            }
            Kind::File {
                size: meta.len(),
                mode: meta.mode(),
            }
        } else {
            Kind::Special(fsutil::special_kind(&ft).unwrap_or("not a regular file"))
        })
    }

    fn execute(&self, items: &[Item], summary: &mut Summary) -> ToolResult<()> {
        // Progress counts steps: finding each entry (the plan reported
        // those), then copying it; so it only grows, and ends at the total.
        let found = items.len() as f64;
        let total = 2.0 * found;
        // Directories skipped (something else is in the way): their content too.
        let mut skipped_dirs: HashSet<&Path> = HashSet::new();
        // Directories whose own mode is set last, once their content is in.
        let mut modes_last: Vec<(PathBuf, u32)> = Vec::new();
        for (done, item) in items.iter().enumerate() {
            self.progress.check()?;
            work::check()?;
            self.progress
                .report(found + done as f64, Some(total), Some("entries copied"));
            if item.rel.parent().is_some_and(|p| skipped_dirs.contains(p)) {
                if let Kind::Dir { .. } = item.kind {
                    skipped_dirs.insert(&item.rel);
                }
                summary.skipped_count += 1;
                continue;
            }
            let (from, to) = if item.rel.as_os_str().is_empty() {
                (self.source.to_path_buf(), self.destination.to_path_buf())
            } else {
                (
                    self.source.join(&item.rel),
                    self.destination.join(&item.rel),
                )
            };
            set_current(self.current, &from.display().to_string());
            let outcome = match &item.kind {
                Kind::Dir { mode } => self.copy_dir(&from, &to, *mode, &mut modes_last),
                Kind::File { size, mode } => self.copy_file(&from, &to, *size, *mode),
                Kind::Link(target) => self.copy_link(target, &to),
                Kind::Special(kind) => Ok(Outcome::Skipped(format!("{kind}; not copied"))),
            }?;
            match outcome {
                Outcome::Copied => match &item.kind {
                    Kind::Dir { .. } => summary.dirs += 1,
                    Kind::File { size, .. } => {
                        summary.files += 1;
                        summary.bytes += size;
                    }
                    Kind::Link(_) => summary.links += 1,
                    Kind::Special(_) => {}
                },
                Outcome::Skipped(why) => {
                    if let Kind::Dir { .. } = item.kind {
                        skipped_dirs.insert(&item.rel);
                    }
                    summary.skipped_count += 1;
                    summary.skipped.push((item.rel.clone(), why));
                }
            }
        }
        for (dir, mode) in modes_last.iter().rev() {
            set_mode_nofollow(dir, *mode, libc::O_DIRECTORY).map_err(|e| io_error(&e, dir))?;
        }
        self.progress
            .report_now(total, Some(total), Some("entries copied"));
        Ok(())
    }

    /// What is at `to` when `overwrite` lets it be replaced; `None` if
    /// nothing.
    fn existing(&self, to: &Path) -> ToolResult<Option<fs::Metadata>> {
        match fs::symlink_metadata(to) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&e, to)),
        }
    }

    fn copy_dir(
        &self,
        from: &Path,
        to: &Path,
        mode: u32,
        modes_last: &mut Vec<(PathBuf, u32)>,
    ) -> ToolResult<Outcome> {
        ensure_real(from, self.sandbox)?;
        // Writable by us until its content is in; its own mode comes last.
        let mode = mode & 0o7777;
        match fs::DirBuilder::new().mode(mode | 0o700).create(to) {
            Ok(()) => {
                if mode & 0o700 != 0o700 {
                    modes_last.push((to.to_path_buf(), mode));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.overwrite => {
                match self.existing(to)? {
                    Some(meta) if meta.is_dir() => {} // merged into
                    Some(meta) => {
                        return Ok(Outcome::Skipped(format!(
                            "{} is in the way at the destination; not replaced by a directory",
                            kind_name(&meta)
                        )));
                    }
                    None => return Err(io_error(&e, to)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ToolError::new(format!(
                    "Destination already exists: {}",
                    to.display()
                )));
            }
            Err(e) => return Err(io_error(&e, to)),
        }
        // Everything below is written through this directory: it must be
        // where it was asked to be (not a symlink swapped in since).
        ensure_real(to, self.sandbox)?;
        Ok(Outcome::Copied)
    }

    fn copy_file(&self, from: &Path, to: &Path, size: u64, mode: u32) -> ToolResult<Outcome> {
        let replace = if self.overwrite {
            match self.existing(to)? {
                None => false,
                Some(meta) if meta.is_file() => true,
                Some(meta) => {
                    return Ok(Outcome::Skipped(format!(
                        "{} is in the way at the destination; not replaced by a file",
                        kind_name(&meta)
                    )));
                }
            }
        } else {
            false
        };
        let data = read_nofollow(from, size, self.max_file)?;
        let written = if replace {
            // Keeps the replaced file's permissions, as cp does.
            fsutil::atomic_write(to, &data)
        } else {
            let created = 0o666 & !umask();
            let wanted = copied_mode(created, mode);
            if created & !wanted & 0o044 != 0 {
                // A private file: made private while still empty, then filled
                // (`atomic_write` keeps the mode it finds).
                fsutil::atomic_write_new(to, b"")
                    .and_then(|()| set_mode_nofollow(to, wanted, 0))
                    .and_then(|()| fsutil::atomic_write(to, &data))
            } else {
                fsutil::atomic_write_new(to, &data).and_then(|()| {
                    if wanted == created {
                        Ok(())
                    } else {
                        set_mode_nofollow(to, wanted, 0)
                    }
                })
            }
        };
        match written {
            Ok(()) => Ok(Outcome::Copied),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ToolError::new(format!(
                "Destination already exists: {}",
                to.display()
            ))),
            Err(e) => Err(io_error(&e, to)),
        }
    }

    fn copy_link(&self, target: &Path, to: &Path) -> ToolResult<Outcome> {
        match std::os::unix::fs::symlink(target, to) {
            Ok(()) => Ok(Outcome::Copied),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.overwrite => {
                match self.existing(to)? {
                    Some(meta) if meta.is_file() || meta.is_symlink() => {
                        replace_with_link(target, to).map_err(|e| io_error(&e, to))?;
                        Ok(Outcome::Copied)
                    }
                    Some(meta) => Ok(Outcome::Skipped(format!(
                        "{} is in the way at the destination; not replaced by a symbolic link",
                        kind_name(&meta)
                    ))),
                    None => Err(io_error(&e, to)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ToolError::new(format!(
                "Destination already exists: {}",
                to.display()
            ))),
            Err(e) => Err(io_error(&e, to)),
        }
    }
}

fn set_current(current: &Mutex<String>, path: &str) {
    path.clone_into(&mut current.lock().unwrap_or_else(PoisonError::into_inner));
}

enum Outcome {
    Copied,
    Skipped(String),
}

/// "a directory", "a symbolic link", "a FIFO (named pipe)", "a file".
fn kind_name(meta: &fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_symlink() {
        "a symbolic link"
    } else {
        fsutil::special_kind(&ft).unwrap_or("a file")
    }
}

/// Fails unless `dir` is a real directory, reached through no symlink,
/// inside the sandbox: what the plan saw, not something swapped in since.
fn ensure_real(dir: &Path, sandbox: &PathSandbox) -> ToolResult<()> {
    let real = fs::canonicalize(dir).map_err(|e| io_error(&e, dir))?;
    if real != dir || !sandbox.contains(&real) {
        return Err(ToolError::new(format!(
            "Access denied - {} changed during the copy (it now leads to {}); stopped",
            dir.display(),
            real.display()
        )));
    }
    Ok(())
}

/// A regular file's bytes, opened without following a symlink (a file
/// swapped for a link since the plan is refused) nor hanging on a FIFO.
fn read_nofollow(path: &Path, size: u64, max: u64) -> ToolResult<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io_error(&e, path))?;
    let meta = file.metadata().map_err(|e| io_error(&e, path))?;
    if !meta.is_file() {
        return Err(ToolError::new(format!(
            "{} changed during the copy (it is now {}); stopped",
            path.display(),
            kind_name(&meta)
        )));
    }
    let data =
        fsutil::read_up_to(file, size.max(meta.len()), max).map_err(|e| io_error(&e, path))?;
    if data.len() as u64 > max {
        return Err(ToolError::new(format!(
            "{} grew past {} during the copy (--max-read-bytes); stopped",
            path.display(),
            fsutil::human_size(max)
        )));
    }
    Ok(data)
}

/// The mode of a new copy: the source's permissions within what a new file
/// gets here (`created`: 0o666 less the umask), executable where the
/// source is and the copy is readable, as cp does.
fn copied_mode(created: u32, source: u32) -> u32 {
    let rw = created & source & 0o666;
    let x = source & 0o111 & ((created & 0o444) >> 2);
    rw | x
}

/// Sets the mode of `path` through a handle opened without following a
/// symlink (`extra`: `O_DIRECTORY` for a directory).
fn set_mode_nofollow(path: &Path, mode: u32, extra: i32) -> io::Result<()> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | extra)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// The process's umask, from /proc (reading it with umask(2) would change
/// it for every thread meanwhile); 0o022 where /proc does not say.
fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(|| {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

/// Replaces the file or link at `to` with a symlink to `target` in one
/// step: the link is made under a temporary name beside it, then renamed
/// over it.
fn replace_with_link(target: &Path, to: &Path) -> io::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let name = to.file_name().unwrap_or_default().as_bytes();
    for _ in 0..16 {
        let temp = dir.join(temp_name(name));
        match std::os::unix::fs::symlink(target, &temp) {
            Ok(()) => {
                return fs::rename(&temp, to).inspect_err(|_| {
                    let _ = fs::remove_file(&temp);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free temporary name in {}", dir.display()),
    ))
}

/// `.NAME.mcp-PID.RANDOM.tmp`, the shape of core's temporary files, within
/// 255 bytes.
fn temp_name(name: &[u8]) -> OsString {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut bits = random.finish();
    let suffix: Vec<u8> = (0..6)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            c
        })
        .collect();
    let mark = format!(".mcp-{}.", std::process::id());
    let fixed = 1 + mark.len() + suffix.len() + ".tmp".len();
    let keep = name.len().min(255usize.saturating_sub(fixed));
    let mut out = Vec::with_capacity(fixed + keep);
    out.push(b'.');
    out.extend_from_slice(&name[..keep]);
    out.extend_from_slice(mark.as_bytes());
    out.extend_from_slice(&suffix);
    out.extend_from_slice(b".tmp");
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn run(dir: &Path, source: &Path, destination: &Path, overwrite: bool) -> ToolResult<Summary> {
        let sandbox = PathSandbox::new(&[dir]).unwrap();
        let progress = Progress::none();
        Copy {
            source,
            destination,
            overwrite,
            max_file: 1 << 20,
            sandbox: &sandbox,
            progress: &progress,
            current: &Mutex::new(String::new()),
        }
        .run()
    }

    #[test]
    fn copied_modes_follow_the_source_within_the_umask() {
        assert_eq!(copied_mode(0o644, 0o755), 0o755);
        assert_eq!(copied_mode(0o644, 0o600), 0o600);
        assert_eq!(copied_mode(0o644, 0o666), 0o644);
        assert_eq!(copied_mode(0o600, 0o755), 0o700);
        assert_eq!(copied_mode(0o664, 0o444), 0o444);
    }

    #[test]
    fn temp_names_fit_and_look_like_cores() {
        let name = temp_name(&[b'x'; 300]);
        assert!(name.len() <= 255, "{}", name.len());
        let short = temp_name(b"link").into_string().unwrap();
        assert!(short.starts_with(".link.mcp-"), "{short}");
        assert!(short.ends_with(".tmp"), "{short}");
    }

    #[test]
    fn trees_copy_with_links_modes_and_skipped_fifos() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let src = root.join("src");
        fs::create_dir_all(src.join("sub/deeper")).unwrap();
        fs::write(src.join("a.txt"), "alpha").unwrap();
        fs::write(src.join("sub/deeper/b.txt"), "beta").unwrap();
        fs::write(src.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(src.join("private"), "secret").unwrap();
        fs::set_permissions(src.join("private"), fs::Permissions::from_mode(0o600)).unwrap();
        symlink("/nonexistent/outside", src.join("out")).unwrap();
        let fifo = std::ffi::CString::new(src.join("pipe").as_os_str().as_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: a valid NUL-terminated path.
        let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) };
        assert_eq!(made, 0);

        let dst = root.join("dst");
        let summary = run(&root, &src, &dst, false).unwrap();
        assert_eq!(
            (
                summary.files,
                summary.dirs,
                summary.links,
                summary.skipped_count
            ),
            (4, 3, 1, 1)
        );
        assert_eq!(summary.bytes, 5 + 4 + 10 + 6);
        let text = summary.to_string();
        assert!(
            text.starts_with("4 files (25 B), 3 directories, 1 symbolic link, 1 skipped"),
            "{text}"
        );
        assert!(text.contains("skipped pipe: a FIFO"), "{text}");
        assert_eq!(
            fs::read_to_string(dst.join("sub/deeper/b.txt")).unwrap(),
            "beta"
        );
        assert_eq!(
            fs::read_link(dst.join("out")).unwrap(),
            Path::new("/nonexistent/outside")
        );
        let mode = |p: &str| fs::metadata(dst.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("run.sh") & 0o100, 0o100, "executable stays executable");
        assert_eq!(mode("private") & 0o077, 0, "private stays private");

        // Again: refused, nothing touched.
        let err = run(&root, &src, &dst, false).unwrap_err().to_string();
        assert!(err.starts_with("Destination already exists"), "{err}");
        // Merged with overwrite: a directory in the way of a file is kept.
        fs::remove_file(dst.join("a.txt")).unwrap();
        fs::create_dir(dst.join("a.txt")).unwrap();
        fs::write(dst.join("sub/deeper/b.txt"), "old").unwrap();
        fs::write(dst.join("extra"), "kept").unwrap();
        let summary = run(&root, &src, &dst, true).unwrap();
        assert_eq!(summary.skipped_count, 2, "{summary}");
        assert!(
            summary
                .to_string()
                .contains("skipped a.txt: a directory is in the way"),
            "{summary}"
        );
        assert_eq!(
            fs::read_to_string(dst.join("sub/deeper/b.txt")).unwrap(),
            "beta"
        );
        assert_eq!(fs::read_to_string(dst.join("extra")).unwrap(), "kept");
        assert_eq!(
            fs::read_link(dst.join("out")).unwrap(),
            Path::new("/nonexistent/outside")
        );
    }

    #[test]
    fn overlapping_copies_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let src = root.join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("f"), "f").unwrap();
        let err = run(&root, &src, &src, true).unwrap_err().to_string();
        assert!(err.contains("onto itself"), "{err}");
        let err = run(&root, &src, &src.join("sub/copy"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("into itself"), "{err}");
        let err = run(&root, &src.join("sub"), &src, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("which contains it"), "{err}");
        let err = run(&root, &src.join("f"), &src.join("f"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("onto itself"), "{err}");
        let err = run(&root, &src.join("f"), &src.join("sub"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory"), "{err}");
        assert!(!src.join("sub/copy").exists());
    }

    #[test]
    fn too_large_files_refuse_the_whole_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let src = root.join("src");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("a"), "small").unwrap();
        fs::write(src.join("b"), vec![b'x'; (1 << 20) + 1]).unwrap();
        let err = run(&root, &src, &root.join("dst"), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--max-read-bytes") && err.contains("nothing was copied"),
            "{err}"
        );
        assert!(!root.join("dst").exists());
    }
}
