//! read_text_file, read_file, read_media_file, read_multiple_files.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_servers_core::content::{base64_read, file_uri};
use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::{fsutil, work};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use rmcp::tool;
use rmcp::tool_router;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;
use crate::encoding::{self, TextEncoding};

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
    /// Extension: prefix each line with its line number in the file, right-aligned in 6 columns, then a tab (as `cat -n`); also with head, tail and offset/limit.
    #[serde(rename = "lineNumbers", default)]
    #[schemars(default)]
    pub line_numbers: bool,
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
        description = "Read the complete contents of a file from the file system as text. Handles various text encodings and provides detailed error messages if the file cannot be read. Use this tool when you need to examine the contents of a single file. Use the 'head' parameter to read only the first N lines of a file, or the 'tail' parameter to read only the last N lines of a file; for large files use 'offset' and 'limit' to read a window of lines. 'lineNumbers' prefixes each line with its number in the file. A file that is not UTF-8 is decoded from UTF-16 (by its byte order mark) or Windows-1252, and a second content block says which. Operates on the file as text regardless of extension. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Read Text File", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn read_text_file(
        &self,
        Parameters(p): Parameters<ReadTextParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let max = self.config.max_read_bytes;
        let user_path = p.path.clone();
        let read = file_work(&user_path, move || {
            let path = sandbox.resolve_existing(&p.path)?;
            read_text(&path, &p, max)
        })
        .await?;
        let mut result = text_result(read.text);
        if let Some(note) = read.note {
            result.content.push(ContentBlock::text(note));
        }
        Ok(result)
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
        let sandbox = self.sandbox.clone();
        let max = self.config.max_media_bytes;
        let user_path = p.path.clone();
        let block = file_work(&user_path, move || {
            let path = sandbox.resolve_existing(&p.path)?;
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
        let current = Arc::new(Mutex::new(p.paths.first().cloned().unwrap_or_default()));
        let on = current.clone();
        let text = file_work_naming(current, move || {
            let mut budget = max;
            let parts: Vec<String> = p
                .paths
                .iter()
                .map(|user_path| {
                    user_path.clone_into(&mut on.lock().unwrap_or_else(PoisonError::into_inner));
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

/// read_text_file's answer: the text, and for a file that is not UTF-8,
/// a note saying how it was decoded (sent as a second content block, so
/// that the first, and `structuredContent`, hold the file's text alone).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TextRead {
    pub text: String,
    pub note: Option<String>,
}

/// Which lines of a file a read_text_file call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    All,
    Head(usize),
    Tail(usize),
    Range { offset: usize, limit: usize },
}

fn read_text(path: &Path, p: &ReadTextParams, max: u64) -> ToolResult<TextRead> {
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
    let lines = match (head, tail) {
        (Some(n), _) => Lines::Head(n),
        (_, Some(n)) => Lines::Tail(n),
        _ if offset.is_some() || limit.is_some() => Lines::Range {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(usize::MAX),
        },
        _ => Lines::All,
    };
    let numbers = p.line_numbers;
    if lines == Lines::All {
        return read_whole(path, max, numbers);
    }
    // UTF-16 is read whole to be decoded; the line readers below read
    // UTF-8 (and its ASCII would pass for UTF-8 with NULs).
    if starts_with_utf16_bom(path)? {
        return read_decoded(path, lines, max, numbers, None);
    }
    match read_utf8_lines(path, lines, max, numbers) {
        Ok(text) => Ok(TextRead { text, note: None }),
        // Not UTF-8: decoded whole if it is text in another encoding.
        Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            read_decoded(path, lines, max, numbers, Some(err))
        }
        Err(err) => Err(io_error(&err, path)),
    }
}

/// The whole file: UTF-8 as it is (the official server's output, a byte
/// order mark included), UTF-16 and Windows-1252 decoded with a note, and
/// anything else with invalid bytes replaced by U+FFFD, as the official
/// server does.
fn read_whole(path: &Path, max: u64, numbers: bool) -> ToolResult<TextRead> {
    let bytes = read_bytes_limited(path, max, "--max-read-bytes")?;
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => {
            let text = if numbers { number_whole(&text) } else { text };
            return Ok(TextRead { text, note: None });
        }
        Err(err) => err.into_bytes(),
    };
    let (text, note) = match encoding::detect(&bytes) {
        Ok(TextEncoding::Utf8 | TextEncoding::Utf8Bom) => (lossy(bytes), None),
        Ok(found) => {
            let (text, malformed) = encoding::decode(&bytes, found);
            (text.into_owned(), Some(decoded_note(found, malformed)))
        }
        Err(_) => (lossy(bytes), None),
    };
    let text = if numbers { number_whole(&text) } else { text };
    Ok(TextRead { text, note })
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

/// What read_text_file says about a file it decoded.
fn decoded_note(found: TextEncoding, malformed: bool) -> String {
    let name = found.name();
    if malformed {
        format!(
            "[decoded from {name} ({}); malformed sequences are shown as U+FFFD, so edit_file will refuse to edit this file]",
            found.evidence()
        )
    } else {
        format!(
            "[decoded from {name} ({}); edit_file writes this file back in {name}]",
            found.evidence()
        )
    }
}

/// Whether the file starts with a UTF-16 byte order mark.
fn starts_with_utf16_bom(path: &Path) -> ToolResult<bool> {
    let file = fsutil::open_regular_file(path).map_err(|e| io_error(&e, path))?;
    let mut start = Vec::with_capacity(4);
    file.take(4)
        .read_to_end(&mut start)
        .map_err(|e| io_error(&e, path))?;
    Ok(matches!(
        encoding::detect(&start),
        Ok(TextEncoding::Utf16Le | TextEncoding::Utf16Be)
    ))
}

/// Some lines of a UTF-8 file, read only as far as needed (core's line
/// readers), numbered if asked; `InvalidData` if they are not UTF-8.
fn read_utf8_lines(path: &Path, lines: Lines, max: u64, numbers: bool) -> std::io::Result<String> {
    Ok(match lines {
        Lines::All => unreachable!("whole files are read by read_whole"),
        Lines::Head(n) if !numbers => fsutil::read_head(path, n, max)?,
        Lines::Head(n) => {
            let range = fsutil::read_line_range(path, 0, n, max)?;
            number_lines(&range.text, 1, range.lines)
        }
        Lines::Tail(n) if !numbers => fsutil::read_tail(path, n, max)?,
        Lines::Tail(n) => {
            let text = fsutil::read_tail(path, n, max)?;
            let total = count_lines(path)?;
            let shown = n.min(total);
            number_lines(&text, total - shown + 1, shown)
        }
        Lines::Range { offset, limit } => {
            let range = fsutil::read_line_range(path, offset, limit, max)?;
            let mut text = if numbers {
                number_lines(&range.text, range.first_line, range.lines)
            } else {
                range.text
            };
            if range.more {
                text.push_str(&more_note(offset, range.lines));
            }
            text
        }
    })
}

/// Read after lines `offset..offset + shown` (0-based) of a longer file.
fn more_note(offset: usize, shown: usize) -> String {
    let next = offset + shown;
    format!(
        "\n\n[lines {}-{next} shown; the file continues: call again with offset={next}]",
        offset.saturating_add(1)
    )
}

/// Lines of a file that is not UTF-8, decoded whole (within `max`) if
/// [`encoding::detect`] knows its encoding; else `not_utf8` (the error of
/// the UTF-8 line reader) as before.
fn read_decoded(
    path: &Path,
    lines: Lines,
    max: u64,
    numbers: bool,
    not_utf8: Option<std::io::Error>,
) -> ToolResult<TextRead> {
    let bytes = read_bytes_limited(path, max, "--max-read-bytes").map_err(|too_big| {
        ToolError::new(format!(
            "{too_big} (a file that is not UTF-8 is decoded whole, even for head, tail or offset/limit)"
        ))
    })?;
    let found = match encoding::detect(&bytes) {
        Ok(found) => found,
        Err(not_text) => {
            return Err(match not_utf8 {
                Some(err) => io_error(&err, path),
                None => ToolError::new(format!("{} {}", path.display(), not_text.describe())),
            });
        }
    };
    let (text, malformed) = encoding::decode(&bytes, found);
    let text = select_lines(&text, lines, numbers);
    // A file that turned out to be UTF-8 (rewritten since) needs no note.
    let note = match found {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => None,
        _ => Some(decoded_note(found, malformed)),
    };
    Ok(TextRead { text, note })
}

/// The lines of `text` as core's line readers give them: split at `\n`, a
/// `\r` before it dropped, a final `\n` starting no extra line.
fn text_lines(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let (body, ended) = match text.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let mut lines: Vec<&str> = body.split('\n').collect();
    let last = lines.len() - 1;
    for (index, line) in lines.iter_mut().enumerate() {
        if index < last || ended {
            *line = line.strip_suffix('\r').unwrap_or(line);
        }
    }
    lines
}

/// [`read_utf8_lines`] on a decoded text in memory.
fn select_lines(text: &str, lines: Lines, numbers: bool) -> String {
    let all = text_lines(text);
    let (first, shown, more) = match lines {
        Lines::All => {
            return if numbers {
                number_whole(text)
            } else {
                text.to_owned()
            };
        }
        Lines::Head(n) => (0, n.min(all.len()), None),
        Lines::Tail(n) => {
            let shown = n.min(all.len());
            (all.len() - shown, shown, None)
        }
        Lines::Range { offset, limit } => {
            let first = offset.min(all.len());
            let shown = limit.min(all.len() - first);
            let more = (first + shown < all.len()).then_some(offset);
            (first, shown, more)
        }
    };
    let window = all[first..first + shown].join("\n");
    let mut out = if numbers {
        number_lines(&window, first + 1, shown)
    } else {
        window
    };
    if let Some(offset) = more {
        out.push_str(&more_note(offset, shown));
    }
    out
}

/// One numbered line: the number right-aligned in 6 columns, a tab, the line.
fn numbered(number: usize, line: &str) -> String {
    format!("{number:>6}\t{line}")
}

/// `count` lines joined by `\n` (so "" is one empty line if `count` is 1),
/// numbered from `first`.
fn number_lines(text: &str, first: usize, count: usize) -> String {
    if count == 0 {
        return String::new();
    }
    text.split('\n')
        .enumerate()
        .map(|(index, line)| numbered(first + index, line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A whole text, each line numbered and otherwise unchanged (its `\r\n`,
/// and the final newline if there is one, kept).
fn number_whole(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 8);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        out.push_str(&numbered(index + 1, line));
    }
    out
}

/// Lines in the file, as core's line readers count them (a final newline
/// starts no extra line): tail's first line number needs it, and it costs
/// one pass over the file, stopped at the call's deadline.
fn count_lines(path: &Path) -> std::io::Result<usize> {
    let mut file = fsutil::open_regular_file(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut newlines, mut last) = (0usize, None);
    loop {
        let read = file.read(&mut buf)?;
        if read == 0 {
            break;
        }
        newlines += buf[..read].iter().filter(|&&b| b == b'\n').count();
        last = Some(buf[read - 1]);
        work::check().map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(newlines + usize::from(last.is_some_and(|b| b != b'\n')))
}

/// Calls abandoned at their deadline whose file system work has not
/// returned yet: each holds a thread of the blocking pool.
static STUCK: AtomicUsize = AtomicUsize::new(0);

/// Past this many stuck calls, file work is refused at once rather than
/// given yet another thread.
const MAX_STUCK: usize = 64;

/// How long file work may take: the call's deadline (`--max-call-seconds`),
/// less a margin so that this answer, which names the path, comes first.
fn file_work_budget() -> Duration {
    let max = work::max_call_duration();
    max.saturating_sub((max / 20).min(Duration::from_millis(250)))
}

/// Runs `work`, which resolves `path` and reads or writes it, on the
/// blocking pool: a stat or read that never returns (a hung network or FUSE
/// mount) then holds up neither the protocol loop nor other calls, and the
/// call is answered by its deadline with an error naming the path.
pub(crate) async fn file_work<T, F>(path: &str, work: F) -> ToolResult<T>
where
    F: FnOnce() -> ToolResult<T> + Send + 'static,
    T: Send + 'static,
{
    file_work_naming(Arc::new(Mutex::new(path.to_owned())), work).await
}

/// [`file_work`] for work on several paths: `current` holds the one it is on.
pub(crate) async fn file_work_naming<T, F>(current: Arc<Mutex<String>>, work: F) -> ToolResult<T>
where
    F: FnOnce() -> ToolResult<T> + Send + 'static,
    T: Send + 'static,
{
    const RUNNING: u8 = 0;
    const DONE: u8 = 1;
    const ABANDONED: u8 = 2;
    let name = || {
        current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    };
    let stuck = STUCK.load(Ordering::Relaxed);
    if stuck >= MAX_STUCK {
        return Err(ToolError::new(format!(
            "{}: not tried: {stuck} earlier calls are still waiting for the file system \
             (a hung network or FUSE mount?); try again once it answers",
            name()
        )));
    }
    /// Marks the work done when it returns (or panics); if its call was
    /// abandoned, it is no longer stuck.
    struct Finished(Arc<AtomicU8>);
    impl Drop for Finished {
        fn drop(&mut self) {
            if self.0.swap(DONE, Ordering::AcqRel) == ABANDONED {
                STUCK.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    let state = Arc::new(AtomicU8::new(RUNNING));
    let finished = Finished(state.clone());
    let job = blocking(move || {
        let _finished = finished;
        work()
    });
    let budget = file_work_budget();
    match tokio::time::timeout(budget, job).await {
        Ok(result) => result,
        Err(_) => {
            if state
                .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                STUCK.fetch_add(1, Ordering::Relaxed);
            }
            Err(ToolError::new(format!(
                "{}: no answer from the file system within this call's deadline ({} s, \
                 --max-call-seconds): a hung network or FUSE mount, or more work than fits? \
                 The call was abandoned; other calls are not held up",
                name(),
                work::max_call_duration().as_secs(),
            )))
        }
    }
}

/// The whole file as text, invalid UTF-8 replaced by U+FFFD (as the official
/// server does), refused above `max` bytes.
pub(crate) fn read_lossy(path: &Path, max: u64) -> ToolResult<String> {
    Ok(lossy(read_bytes_limited(path, max, "--max-read-bytes")?))
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

    fn params(path: &Path) -> ReadTextParams {
        ReadTextParams {
            path: path.display().to_string(),
            head: None,
            tail: None,
            offset: None,
            limit: None,
            line_numbers: false,
        }
    }

    #[test]
    fn numbers_are_the_lines_real_numbers() {
        let ten: String = (1..=10).map(|i| format!("l{i}\n")).collect();
        assert_eq!(
            select_lines(&ten, Lines::Tail(3), true),
            "     8\tl8\n     9\tl9\n    10\tl10"
        );
        assert_eq!(
            select_lines(&ten, Lines::Head(2), true),
            "     1\tl1\n     2\tl2"
        );
        assert_eq!(
            select_lines(
                &ten,
                Lines::Range {
                    offset: 4,
                    limit: 2
                },
                true
            ),
            "     5\tl5\n     6\tl6\n\n[lines 5-6 shown; the file continues: call again with offset=6]"
        );
        assert_eq!(select_lines("", Lines::Tail(3), true), "");
        assert_eq!(select_lines("\n", Lines::Head(3), true), "     1\t");
        // A whole text keeps its line breaks and final newline.
        assert_eq!(number_whole("a\r\n\nb"), "     1\ta\r\n     2\t\n     3\tb");
        assert_eq!(number_whole("a\n"), "     1\ta\n");
        assert_eq!(number_whole(""), "");
        assert_eq!(numbered(1234567, "x"), "1234567\tx");
    }

    /// In-memory selection (decoded files) and core's streaming line readers
    /// (UTF-8 files) agree on every text and window.
    #[test]
    fn decoded_and_streamed_line_windows_agree() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let texts = [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb\r\n",
            "a\nb",
            "a\r",
            "a\r\n\r\n",
            "\n\nx\n\n",
            "l1\nl2\nl3\nl4\nl5\n",
        ];
        for text in texts {
            std::fs::write(&f, text).unwrap();
            let mut windows = vec![];
            for n in [0, 1, 2, 3, 7] {
                windows.push(Lines::Head(n));
                windows.push(Lines::Tail(n));
                for offset in [0, 1, 2, 6] {
                    windows.push(Lines::Range { offset, limit: n });
                }
                windows.push(Lines::Range {
                    offset: n,
                    limit: usize::MAX,
                });
            }
            for lines in windows {
                for numbers in [false, true] {
                    let streamed = read_utf8_lines(&f, lines, 1 << 20, numbers).unwrap();
                    assert_eq!(
                        select_lines(text, lines, numbers),
                        streamed,
                        "{text:?} {lines:?} numbers: {numbers}"
                    );
                }
            }
        }
    }

    #[test]
    fn other_encodings_are_decoded_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let text = "caf\u{e9}\r\n\u{2192} two\r\nthree\r\n";
        for encoding in [TextEncoding::Utf16Le, TextEncoding::Utf16Be] {
            std::fs::write(&f, encoding.encode(text).unwrap()).unwrap();
            let whole = read_text(&f, &params(&f), 1 << 20).unwrap();
            assert_eq!(whole.text, text);
            let note = whole.note.unwrap();
            assert!(
                note.contains(encoding.name()) && note.contains("byte order mark"),
                "{note}"
            );
            let tail = read_text(
                &f,
                &ReadTextParams {
                    tail: Some(2),
                    line_numbers: true,
                    ..params(&f)
                },
                1 << 20,
            )
            .unwrap();
            assert_eq!(tail.text, "     2\t\u{2192} two\n     3\tthree");
            assert!(tail.note.is_some());
        }
        std::fs::write(&f, b"na\xEFve\n\x93quoted\x94\n").unwrap();
        let head = read_text(
            &f,
            &ReadTextParams {
                head: Some(1),
                ..params(&f)
            },
            100,
        )
        .unwrap();
        // Its first line is ASCII-free but Windows-1252: read whole, decoded.
        assert_eq!(head.text, "na\u{ef}ve");
        assert!(head.note.unwrap().contains("Windows-1252"));
        let whole = read_text(&f, &params(&f), 100).unwrap();
        assert_eq!(whole.text, "na\u{ef}ve\n\u{201c}quoted\u{201d}\n");
        // Binary: whole reads as the official server (U+FFFD), no note;
        // line windows refused as before.
        std::fs::write(&f, b"\x89PNG\r\n\0\xff").unwrap();
        let whole = read_text(&f, &params(&f), 100).unwrap();
        assert_eq!(
            whole,
            TextRead {
                text: "\u{fffd}PNG\r\n\0\u{fffd}".into(),
                note: None
            }
        );
        let err = read_text(
            &f,
            &ReadTextParams {
                head: Some(1),
                ..params(&f)
            },
            100,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        // Malformed UTF-16 is read with U+FFFD, and the note says edit_file refuses.
        std::fs::write(&f, b"\xFF\xFEa\0b").unwrap();
        let odd = read_text(&f, &params(&f), 100).unwrap();
        assert_eq!(odd.text, "a\u{fffd}");
        assert!(odd.note.unwrap().contains("refuse"));
        // UTF-8 files are read as before: a BOM is kept, no note.
        std::fs::write(&f, b"\xEF\xBB\xBFx\n").unwrap();
        let bom = read_text(&f, &params(&f), 100).unwrap();
        assert_eq!(
            bom,
            TextRead {
                text: "\u{feff}x\n".into(),
                note: None
            }
        );
    }

    /// Work that never returns (a hung mount, simulated by a gate that
    /// stays shut) is answered by the deadline naming its path; past
    /// [`MAX_STUCK`] such calls, file work is refused at once; once the file
    /// system answers, the threads are counted free again.
    #[tokio::test]
    async fn hung_work_is_abandoned_at_the_deadline_and_capped() {
        work::set_max_call_seconds(1);
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let names: Vec<String> = (0..MAX_STUCK).map(|i| format!("/mnt/hung/{i}")).collect();
        let hung = names.iter().map(|name| {
            let gate = gate.clone();
            file_work(name, move || {
                let (open, opened) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = opened.wait(open).unwrap();
                }
                Ok(())
            })
        });
        let answers = futures::future::join_all(hung).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let err = answer.unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("/mnt/hung/{i}: no answer from the file system"))
                    && err.contains("1 s, --max-call-seconds"),
                "{err}"
            );
        }
        assert_eq!(STUCK.load(Ordering::Relaxed), MAX_STUCK);
        let refused = file_work("/mnt/other", || Ok(())).await.unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("/mnt/other: not tried: 64 earlier calls"),
            "{refused}"
        );
        // The mount answers: every stuck thread returns and is counted off.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let freed = tokio::time::timeout(Duration::from_secs(30), async {
            while STUCK.load(Ordering::Relaxed) > 0 {
                tokio::task::yield_now().await;
            }
        });
        freed
            .await
            .expect("stuck threads are counted off when they return");
        assert_eq!(file_work("/mnt/other", || Ok(7)).await.unwrap(), 7);
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
