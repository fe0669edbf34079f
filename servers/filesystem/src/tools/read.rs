//! read_text_file, read_file, read_media_file, read_multiple_files.

use std::path::Path;

use mcp_servers_core::content::{base64_read, file_uri};
use mcp_servers_core::error::{ToolError, ToolResult, blocking, blocking_unless_small};
use mcp_servers_core::fsutil;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use rmcp::tool;
use rmcp::tool_router;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadTextParams {
    /// Path of the file (absolute, or relative to the first allowed directory).
    pub path: String,
    /// If provided, returns only the first N lines of the file
    #[schemars(range(max = MAX_LINE_ARG))]
    pub head: Option<u64>,
    /// If provided, returns only the last N lines of the file
    #[schemars(range(max = MAX_LINE_ARG))]
    pub tail: Option<u64>,
    /// Extension: 0-based line to start at (use with `limit` to page through large files).
    #[schemars(range(max = MAX_LINE_ARG))]
    pub offset: Option<u64>,
    /// Extension: how many lines to return from `offset` (default: to the end of the file).
    #[schemars(range(max = MAX_LINE_ARG))]
    pub limit: Option<u64>,
}

/// Largest line count or index accepted (2^53 - 1: the largest integer every
/// JSON client represents exactly). Larger values are refused before any
/// work; any value up to it costs no more than the file.
pub const MAX_LINE_ARG: u64 = (1 << 53) - 1;

/// `value` as a line count, or an error naming `name` and the range.
fn line_arg(name: &str, value: Option<u64>) -> ToolResult<Option<usize>> {
    match value {
        Some(v) if v > MAX_LINE_ARG => Err(ToolError::new(format!(
            "`{name}` must be an integer from 0 to {MAX_LINE_ARG}; got {v}"
        ))),
        Some(v) => Ok(Some(usize::try_from(v).unwrap_or(usize::MAX))),
        None => Ok(None),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathParams {
    /// Path (absolute, or relative to the first allowed directory).
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadMultipleParams {
    /// Array of file paths to read. Each path must be a string pointing to a valid file within allowed directories.
    #[schemars(length(min = 1))]
    pub paths: Vec<String>,
}

#[tool_router(router = read_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Read Text File",
        description = "Read the complete contents of a file from the file system as text. Handles various text encodings and provides detailed error messages if the file cannot be read. Use this tool when you need to examine the contents of a single file. Use the 'head' parameter to read only the first N lines of a file, or the 'tail' parameter to read only the last N lines of a file; for large files use 'offset' and 'limit' to read a window of lines. Operates on the file as text regardless of extension. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Read Text File", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn read_text_file(
        &self,
        Parameters(p): Parameters<ReadTextParams>,
    ) -> ToolResult<CallToolResult> {
        let path = self.sandbox.resolve_existing(&p.path)?;
        let max = self.config.max_read_bytes;
        let text =
            blocking_unless_small(fsutil::size_hint(&path), move || read_text(&path, &p, max))
                .await?;
        Ok(text_result(text))
    }

    #[tool(
        title = "Read File (Deprecated)",
        description = "Read the complete contents of a file as text. DEPRECATED: Use read_text_file instead.",
        output_schema = text_output_schema(),
        annotations(title = "Read File (Deprecated)", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn read_file(
        &self,
        params: Parameters<ReadTextParams>,
    ) -> ToolResult<CallToolResult> {
        self.read_text_file(params).await
    }

    #[tool(
        title = "Read Media File",
        description = "Read a file and return it as a base64-encoded content block with its MIME type. Image and audio files are returned as image/audio content; any other file type is returned as an embedded resource. The MIME type comes from the file extension. Files over the server's media size limit are refused. Only works within allowed directories.",
        annotations(
            title = "Read Media File",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn read_media_file(
        &self,
        Parameters(p): Parameters<PathParams>,
    ) -> ToolResult<CallToolResult> {
        let path = self.sandbox.resolve_existing(&p.path)?;
        let max = self.config.max_media_bytes;
        let block = blocking_unless_small(fsutil::size_hint(&path), move || {
            let flag = "--max-media-bytes";
            let (file, size) = open_limited(&path, max, flag)?;
            let (data, read) = base64_read(file, size, max).map_err(|e| io_error(&e, &path))?;
            if read > max {
                return Err(too_big(&path, read, max, flag));
            }
            let mime = mime_for(&path);
            Ok(if mime.starts_with("image/") {
                ContentBlock::image(data, mime)
            } else if mime.starts_with("audio/") {
                ContentBlock::audio(data, mime)
            } else {
                ContentBlock::resource(ResourceContents::BlobResourceContents {
                    uri: file_uri(&path),
                    mime_type: Some(mime.to_owned()),
                    blob: data,
                    meta: None,
                })
            })
        })
        .await?;
        Ok(CallToolResult::success(vec![block]))
    }

    #[tool(
        title = "Read Multiple Files",
        description = "Read the contents of multiple files simultaneously. This is more efficient than reading files one by one when you need to analyze or compare multiple files. Each file's content is returned with its path as a reference. Failed reads for individual files won't stop the entire operation. The combined size is capped by the server's read limit. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Read Multiple Files", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn read_multiple_files(
        &self,
        Parameters(p): Parameters<ReadMultipleParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let max = self.config.max_read_bytes;
        let text = blocking(move || {
            let mut budget = max;
            let parts: Vec<String> = p
                .paths
                .iter()
                .map(|user_path| {
                    let read = sandbox
                        .resolve_existing(user_path)
                        .map_err(ToolError::from)
                        .and_then(|path| {
                            let text = read_lossy(&path, budget)?;
                            Ok(text)
                        });
                    match read {
                        Ok(text) => {
                            budget = budget.saturating_sub(text.len() as u64);
                            format!("{user_path}:\n{text}\n")
                        }
                        Err(err) => format!("{user_path}: Error - {err}"),
                    }
                })
                .collect();
            Ok(parts.join("\n---\n"))
        })
        .await?;
        Ok(text_result(text))
    }
}

fn read_text(path: &Path, p: &ReadTextParams, max: u64) -> ToolResult<String> {
    let io = |e: std::io::Error| io_error(&e, path);
    let (head, tail) = (line_arg("head", p.head)?, line_arg("tail", p.tail)?);
    let (offset, limit) = (line_arg("offset", p.offset)?, line_arg("limit", p.limit)?);
    if p.head.is_some() && p.tail.is_some() {
        return Err(ToolError::new(
            "Cannot specify both head and tail parameters simultaneously",
        ));
    }
    if (p.head.is_some() || p.tail.is_some()) && (p.offset.is_some() || p.limit.is_some()) {
        return Err(ToolError::new(
            "Cannot combine head or tail with offset/limit; use one or the other",
        ));
    }
    if let Some(n) = head {
        return fsutil::read_head(path, n, max).map_err(io);
    }
    if let Some(n) = tail {
        return fsutil::read_tail(path, n, max).map_err(io);
    }
    if offset.is_some() || limit.is_some() {
        let offset = offset.unwrap_or(0);
        let limit = limit.unwrap_or(usize::MAX);
        let range = fsutil::read_line_range(path, offset, limit, max).map_err(io)?;
        let mut text = range.text;
        if range.more {
            let next = offset + range.lines;
            text.push_str(&format!(
                "\n\n[lines {}-{} shown; the file continues: call again with offset={next}]",
                range.first_line,
                offset + range.lines
            ));
        }
        return Ok(text);
    }
    read_lossy(path, max)
}

/// The whole file as text, invalid UTF-8 replaced by U+FFFD (as the official
/// server does), refused above `max` bytes.
pub(crate) fn read_lossy(path: &Path, max: u64) -> ToolResult<String> {
    let bytes = read_bytes_limited(path, max, "--max-read-bytes")?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    })
}

/// A regular file's bytes, refused above `max` bytes (`flag` raises it).
pub(crate) fn read_bytes_limited(path: &Path, max: u64, flag: &str) -> ToolResult<Vec<u8>> {
    let (file, size) = open_limited(path, max, flag)?;
    let data = fsutil::read_up_to(file, size, max).map_err(|e| io_error(&e, path))?;
    if data.len() as u64 > max {
        return Err(too_big(path, data.len() as u64, max, flag));
    }
    Ok(data)
}

/// The regular file at `path` and its size, unless it is over `max`.
fn open_limited(path: &Path, max: u64, flag: &str) -> ToolResult<(std::fs::File, u64)> {
    let file = fsutil::open_regular_file(path).map_err(|e| io_error(&e, path))?;
    let size = file.metadata().map_err(|e| io_error(&e, path))?.len();
    if size > max {
        return Err(too_big(path, size, max, flag));
    }
    Ok((file, size))
}

fn too_big(path: &Path, size: u64, max: u64, flag: &str) -> ToolError {
    ToolError::new(format!(
        "{} is {size} bytes, over this server's {max}-byte limit ({flag}); \
         read text files in parts with head, tail or offset/limit",
        path.display()
    ))
}

/// MIME type by extension (the official server's table, plus a few).
pub fn mime_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "tif" | "tiff" => "image/tiff",
        "avif" => "image/avif",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "opus" => "audio/opus",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_by_extension() {
        assert_eq!(mime_for(Path::new("/a/B.PNG")), "image/png");
        assert_eq!(mime_for(Path::new("x.mp3")), "audio/mpeg");
        assert_eq!(mime_for(Path::new("x.bin")), "application/octet-stream");
        assert_eq!(mime_for(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn lossy_reads_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"ok\xff").unwrap();
        assert_eq!(read_lossy(&f, 100).unwrap(), "ok\u{fffd}");
        let err = read_lossy(&f, 2).unwrap_err().to_string();
        assert!(err.contains("over this server's 2-byte limit"), "{err}");
    }
}
