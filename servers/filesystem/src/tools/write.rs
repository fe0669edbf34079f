//! write_file, create_directory, move_file.

use std::fs;
use std::io;
use std::path::Path;

use std::sync::{Arc, Mutex, PoisonError};

use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::read::{PathParams, file_work, file_work_naming, read_bytes_limited};
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;
use crate::encoding::{self, LineBreaks, TextEncoding};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteParams {
    /// Path of the file to create or overwrite.
    pub path: String,
    /// The complete new content of the file.
    pub content: String,
    /// Extension: the encoding to write the content in (default "utf-8"); the UTF-16 ones and "utf-8-bom" start with a byte order mark; "keep" is the existing file's (UTF-8 for a new file). Characters the encoding cannot hold are refused.
    pub encoding: Option<EncodingArg>,
    /// Extension: the line endings to write (default: as in content); "keep" is the existing file's when all its line breaks are alike, else as in content.
    #[serde(rename = "lineEndings")]
    pub line_endings: Option<LineEndingsArg>,
}

/// write_file's `encoding` (inlined in the schema: some clients do not
/// follow `$ref`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(inline)]
pub enum EncodingArg {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    #[serde(rename = "windows-1252")]
    Windows1252,
    #[serde(rename = "keep")]
    Keep,
}

/// write_file's `lineEndings` (inlined in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(inline)]
#[serde(rename_all = "lowercase")]
pub enum LineEndingsArg {
    Lf,
    Crlf,
    Keep,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MoveParams {
    /// The file or directory to move.
    pub source: String,
    /// Where to move it; must not exist yet.
    pub destination: String,
}

#[tool_router(router = write_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Write File",
        description = "Create a new file or completely overwrite an existing file with new content. Use with caution as it will overwrite existing files without warning. Handles text content with proper encoding; 'encoding' and 'lineEndings' choose the file's encoding and line endings, or keep the existing file's. The write is atomic (a crash never leaves a half-written file) and never follows a symbolic link out of the allowed directories. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Write File", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn write_file(
        &self,
        Parameters(p): Parameters<WriteParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let max = self.config.max_read_bytes;
        let user_path = p.path.clone();
        let written = file_work(&user_path, move || {
            let path = sandbox.resolve_for_write(&p.path)?;
            if p.encoding.is_none() && p.line_endings.is_none() {
                // The official server's write: the content as UTF-8, as is.
                fsutil::atomic_write(&path, p.content.as_bytes())
                    .map_err(|e| io_error(&e, &path))?;
                return Ok(String::new());
            }
            let (bytes, how) = encode_for_write(&path, &p, max)?;
            fsutil::atomic_write(&path, &bytes).map_err(|e| io_error(&e, &path))?;
            Ok(how)
        })
        .await?;
        Ok(text_result(format!(
            "Successfully wrote to {user_path}{written}"
        )))
    }

    #[tool(
        title = "Create Directory",
        description = "Create a new directory or ensure a directory exists. Can create multiple nested directories in one operation. If the directory already exists, this operation will succeed silently. Perfect for setting up directory structures for projects or ensuring required paths exist. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Create Directory", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn create_directory(
        &self,
        Parameters(p): Parameters<PathParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let user_path = p.path.clone();
        file_work(&user_path, move || {
            let path = sandbox.resolve_for_create_dir(&p.path)?;
            fs::create_dir_all(&path).map_err(|e| io_error(&e, &path))?;
            // A directory swapped for a symlink while we created it would
            // have taken us outside: check where we ended up.
            let real = fs::canonicalize(&path).map_err(|e| io_error(&e, &path))?;
            if !sandbox.contains(&real) {
                return Err(ToolError::new(format!(
                    "Access denied - {} resolved outside the allowed directories while being created",
                    path.display()
                )));
            }
            Ok(())
        })
        .await?;
        Ok(text_result(format!(
            "Successfully created directory {user_path}"
        )))
    }

    #[tool(
        title = "Move File",
        description = "Move or rename files and directories. Can move files between directories and rename them in a single operation. If the destination exists, the operation will fail. Works across different directories and file systems (copy then delete) and can be used for simple renaming within the same directory. Both source and destination must be within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Move File", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn move_file(
        &self,
        Parameters(p): Parameters<MoveParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let current = Arc::new(Mutex::new(p.source.clone()));
        let on = current.clone();
        let (source_arg, destination_arg) = (p.source.clone(), p.destination.clone());
        file_work_naming(current, move || {
            let source = sandbox.resolve_existing(&source_arg)?;
            destination_arg.clone_into(&mut on.lock().unwrap_or_else(PoisonError::into_inner));
            let destination = sandbox.resolve_for_write(&destination_arg)?;
            let roots = sandbox.roots();
            if roots.iter().any(|r| r == &source) {
                return Err(ToolError::new(format!(
                    "Refusing to move {}: it is an allowed directory itself",
                    source.display()
                )));
            }
            move_path(&source, &destination)
        })
        .await?;
        Ok(text_result(format!(
            "Successfully moved {} to {}",
            p.source, p.destination
        )))
    }
}

/// write_file's content in the encoding and line endings asked for, and
/// what they were (" as UTF-16LE with CRLF line endings").
fn encode_for_write(path: &Path, p: &WriteParams, max: u64) -> ToolResult<(Vec<u8>, String)> {
    let keep =
        p.encoding == Some(EncodingArg::Keep) || p.line_endings == Some(LineEndingsArg::Keep);
    // The existing file's encoding and line breaks, for "keep".
    let existing = match fs::symlink_metadata(path) {
        Ok(meta) if keep && meta.is_file() => {
            let bytes = read_bytes_limited(path, max, "--max-read-bytes")?;
            let found = encoding::detect(&bytes).map_err(|not_text| {
                ToolError::new(format!(
                    "{} {}, so its encoding and line endings cannot be kept; nothing was written",
                    path.display(),
                    not_text.describe()
                ))
            })?;
            let (text, _) = encoding::decode(&bytes, found);
            Some((found, LineBreaks::new(&text).counts()))
        }
        _ => None,
    };
    let target = match p.encoding.unwrap_or(EncodingArg::Utf8) {
        EncodingArg::Utf8 => TextEncoding::Utf8,
        EncodingArg::Utf8Bom => TextEncoding::Utf8Bom,
        EncodingArg::Utf16Le => TextEncoding::Utf16Le,
        EncodingArg::Utf16Be => TextEncoding::Utf16Be,
        EncodingArg::Windows1252 => TextEncoding::Windows1252,
        EncodingArg::Keep => existing.map_or(TextEncoding::Utf8, |(found, _)| found),
    };
    let crlf = match p.line_endings {
        None => None,
        Some(LineEndingsArg::Lf) => Some(false),
        Some(LineEndingsArg::Crlf) => Some(true),
        Some(LineEndingsArg::Keep) => match existing.map(|(_, counts)| counts) {
            Some((crlf, 0)) if crlf > 0 => Some(true),
            Some((0, lf)) if lf > 0 => Some(false),
            _ => None,
        },
    };
    let content = match crlf {
        None => std::borrow::Cow::Borrowed(p.content.as_str()),
        Some(false) => p.content.replace("\r\n", "\n").into(),
        Some(true) => p.content.replace("\r\n", "\n").replace('\n', "\r\n").into(),
    };
    let bytes = target.encode(&content).map_err(|unmappable| {
        ToolError::new(format!(
            "{} cannot hold {} of the content; nothing was written to {}. \
             Use another encoding (utf-8 holds every character)",
            target.name(),
            unmappable.describe(),
            path.display()
        ))
    })?;
    let endings = match crlf {
        None => "",
        Some(true) => " with CRLF line endings",
        Some(false) => " with LF line endings",
    };
    Ok((bytes, format!(" as {}{endings}", target.name())))
}

/// Renames `source` to `destination`, failing if the destination exists;
/// across file systems, copies then removes the source.
pub(crate) fn move_path(source: &Path, destination: &Path) -> ToolResult<()> {
    let exists = || {
        ToolError::new(format!(
            "Destination already exists: {}",
            destination.display()
        ))
    };
    if let Ok(meta) = fs::symlink_metadata(destination) {
        // Never replaced, whatever it is; say so when it is a special file.
        if let Some(kind) = fsutil::special_kind(&meta.file_type())
            && !meta.is_dir()
            && !meta.is_symlink()
        {
            return Err(ToolError::new(format!(
                "Destination already exists: {} is {kind}; refusing to replace it",
                destination.display()
            )));
        }
        return Err(exists());
    }
    if destination.starts_with(source) {
        return Err(ToolError::new(format!(
            "Cannot move {} into itself ({})",
            source.display(),
            destination.display()
        )));
    }
    let meta = fs::symlink_metadata(source).map_err(|e| io_error(&e, source))?;
    // One atomic step that never replaces: a crash leaves the source or the
    // destination, never both (the hard-link fallback below can leave both).
    match rename_noreplace(source, destination) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {} // copied below
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.kind() == io::ErrorKind::Unsupported => {
        }
        Err(e) => return Err(io_error(&e, source)),
    }
    if meta.is_file() {
        // A hard link is created only if nothing is there: no window for
        // clobbering a file that appeared after the check above.
        match fs::hard_link(source, destination) {
            Ok(()) => return fs::remove_file(source).map_err(|e| io_error(&e, source)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(_) => {} // other file system, or no hard links: fall through
        }
    }
    match fs::rename(source, destination) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_tree(source, destination)?;
            let removed = if meta.is_dir() {
                fs::remove_dir_all(source)
            } else {
                fs::remove_file(source)
            };
            removed.map_err(|e| {
                ToolError::new(format!(
                    "copied {} to {} but could not remove the source: {e}",
                    source.display(),
                    destination.display()
                ))
            })
        }
        Err(e) => Err(io_error(&e, source)),
    }
}

/// `rename` that fails with `AlreadyExists` instead of replacing, where the
/// kernel and file system can (Linux's `renameat2(RENAME_NOREPLACE)`);
/// elsewhere `Unsupported`, and the caller takes the slower way.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn rename_noreplace(source: &Path, destination: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(source.as_os_str().as_bytes())?;
    let to = CString::new(destination.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn rename_noreplace(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Copies a file or a directory tree (symlinks copied as links, not followed).
fn copy_tree(source: &Path, destination: &Path) -> ToolResult<()> {
    for entry in walkdir::WalkDir::new(source).follow_links(false) {
        let entry =
            entry.map_err(|e| ToolError::new(format!("cannot copy {}: {e}", source.display())))?;
        let rel = entry.path().strip_prefix(source).unwrap_or(Path::new(""));
        let target = if rel.as_os_str().is_empty() {
            destination.to_path_buf()
        } else {
            destination.join(rel)
        };
        let ft = entry.file_type();
        let result = if ft.is_dir() {
            fs::create_dir(&target)
        } else if ft.is_symlink() {
            fs::read_link(entry.path()).and_then(|link| std::os::unix::fs::symlink(link, &target))
        } else if ft.is_file() {
            fs::copy(entry.path(), &target).map(|_| ())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a special file; cannot copy it",
                    entry.path().display()
                ),
            ))
        };
        result.map_err(|e| io_error(&e, &target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_refuses_existing_destination_and_copies_trees() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, "A").unwrap();
        fs::write(&b, "B").unwrap();
        let err = move_path(&a, &b).unwrap_err().to_string();
        assert!(err.starts_with("Destination already exists"), "{err}");
        let c = dir.path().join("c");
        move_path(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&c).unwrap(), "A");

        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("sub/f"), "F").unwrap();
        let copy = dir.path().join("copy");
        copy_tree(&tree, &copy).unwrap();
        assert_eq!(fs::read_to_string(copy.join("sub/f")).unwrap(), "F");
        let err = move_path(&tree, &tree.join("sub/inner"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("into itself"), "{err}");
    }
}
