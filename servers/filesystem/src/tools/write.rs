//! write_file, create_directory, move_file.

use std::fs;
use std::io;
use std::path::Path;

use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::fsutil;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::read::PathParams;
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteParams {
    /// Path of the file to create or overwrite.
    pub path: String,
    /// The complete new content of the file.
    pub content: String,
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
        description = "Create a new file or completely overwrite an existing file with new content. Use with caution as it will overwrite existing files without warning. Handles text content with proper encoding. The write is atomic (a crash never leaves a half-written file) and never follows a symbolic link out of the allowed directories. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Write File", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn write_file(
        &self,
        Parameters(p): Parameters<WriteParams>,
    ) -> ToolResult<CallToolResult> {
        let path = self.sandbox.resolve_for_write(&p.path)?;
        blocking(move || {
            fsutil::atomic_write(&path, p.content.as_bytes()).map_err(|e| io_error(&e, &path))
        })
        .await?;
        Ok(text_result(format!("Successfully wrote to {}", p.path)))
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
        let path = self.sandbox.resolve_for_create_dir(&p.path)?;
        let sandbox = self.sandbox.clone();
        blocking(move || {
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
            "Successfully created directory {}",
            p.path
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
        let source = self.sandbox.resolve_existing(&p.source)?;
        let destination = self.sandbox.resolve_for_write(&p.destination)?;
        let roots = self.sandbox.roots();
        if roots.iter().any(|r| r == &source) {
            return Err(ToolError::new(format!(
                "Refusing to move {}: it is an allowed directory itself",
                source.display()
            )));
        }
        blocking(move || move_path(&source, &destination)).await?;
        Ok(text_result(format!(
            "Successfully moved {} to {}",
            p.source, p.destination
        )))
    }
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
