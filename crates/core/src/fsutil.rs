//! File helpers the servers share: crash-safe writes, reads that cannot hang
//! on special files nor load more than asked, scratch directories, sizes.
//!
//! Paths given here are expected to come out of the sandbox already; these
//! functions do not decide containment.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Chunk size of [`read_tail`]'s backward reads.
const TAIL_CHUNK: usize = 64 * 1024;

/// Replaces `path` with `data` so that a crash or an error leaves either the
/// old content or the new one, never a mix.
///
/// Writes a temporary file beside the target, keeps the target's permissions
/// (and owner, where allowed), syncs it, renames it over the target, then
/// syncs the directory (best effort). On error the temporary file is removed
/// and the target is untouched. A symlink target is refused: callers resolve
/// symlinks through the sandbox first. So is anything but a regular file (a
/// directory, FIFO, socket or device), which the rename would replace.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomically(path, data, false)
}

/// Like [`atomic_write`], but fails with [`io::ErrorKind::AlreadyExists`] if
/// anything (even a dangling symlink) is at `path`, checked atomically by the
/// final rename.
pub fn atomic_write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomically(path, data, true)
}

/// Marks our temporary files: `.NAME.mcp-PID.RANDOM.tmp`.
const TEMP_MARK: &str = "mcp-";
/// Random characters in a temporary file's name (tempfile's alphanumerics).
const TEMP_RANDOM_LEN: usize = 6;
/// Ends every temporary file's name.
const TEMP_SUFFIX: &str = ".tmp";
/// Longest file name on Linux file systems, in bytes (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The pid in one of our temporary file names, if it is one: exactly
/// `.NAME.mcp-PID.RANDOM.tmp`, PID in decimal, RANDOM six ASCII letters or
/// digits, NAME any bytes (possibly shortened, possibly not UTF-8).
fn temp_owner(file_name: &[u8]) -> Option<u32> {
    let rest = file_name.strip_prefix(b".")?;
    let rest = rest.strip_suffix(TEMP_SUFFIX.as_bytes())?;
    let dot = rest.iter().rposition(|&b| b == b'.')?;
    let (before, random) = (&rest[..dot], &rest[dot + 1..]);
    if random.len() != TEMP_RANDOM_LEN || !random.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mark = format!(".{TEMP_MARK}");
    let mark = mark.as_bytes();
    let at = before.windows(mark.len()).rposition(|w| w == mark)?;
    let pid = &before[at + mark.len()..];
    if pid.is_empty() || pid.len() > 10 || !pid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// The part of a temporary file's name before its random characters:
/// `.NAME.mcp-PID.`, with NAME shortened (at a character boundary when it is
/// UTF-8) so that the whole name fits in `name_max` bytes whatever the
/// target's name is. An empty NAME part still makes a name of ours.
fn temp_prefix(name: &OsStr, pid: u32, name_max: usize) -> OsString {
    let mark = format!(".{TEMP_MARK}{pid}.");
    let fixed = 1 + mark.len() + TEMP_RANDOM_LEN + TEMP_SUFFIX.len();
    let budget = name_max.saturating_sub(fixed);
    let bytes = name.as_bytes();
    let mut cut = bytes.len().min(budget);
    // Never inside a UTF-8 sequence: back over up to three continuation
    // bytes (a name that is not UTF-8 there is cut where the budget falls).
    let is_continuation = |at: usize| at < bytes.len() && (bytes[at] & 0xC0) == 0x80;
    if let Some(back) = (0..=3.min(cut)).find(|&back| !is_continuation(cut - back)) {
        cut -= back;
    }
    let mut prefix = Vec::with_capacity(1 + cut + mark.len());
    prefix.push(b'.');
    prefix.extend_from_slice(&bytes[..cut]);
    prefix.extend_from_slice(mark.as_bytes());
    OsString::from_vec(prefix)
}

/// Removes the temporary files that a killed server (a pid no longer
/// running) left in `dir`; our own and live processes' are kept. Only
/// where /proc tells which processes run. Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_owner(name.as_bytes()) else {
            continue;
        };
        if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a stale temporary file");
            removed += 1;
        }
    }
    removed
}

/// Sweeps each directory at most once per process, on its first write:
/// after a crash, the next server to write there cleans up.
fn sweep_once(dir: &Path) {
    static SWEPT: std::sync::Mutex<Option<std::collections::HashSet<PathBuf>>> =
        std::sync::Mutex::new(None);
    let first = SWEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(Default::default)
        .insert(dir.to_path_buf());
    if first {
        remove_stale_temp_files(dir);
    }
}

fn write_atomically(path: &Path, data: &[u8], must_be_new: bool) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path (it has no file name)", path.display()),
        ));
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    let existing = if must_be_new {
        // `persist_noclobber` decides, without a window between check and use.
        None
    } else {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_symlink() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; refusing to replace it (resolve it to its target first)",
                        path.display()
                    ),
                ));
            }
            Ok(meta) if meta.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!(
                        "{} is a directory; cannot write a file over it",
                        path.display()
                    ),
                ));
            }
            // A FIFO, socket or device: the rename would silently replace it
            // with a regular file.
            Ok(meta) if !meta.is_file() => {
                let kind = special_kind(&meta.file_type()).unwrap_or("not a regular file");
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is {kind}; only regular files can be written (refusing to replace it)",
                        path.display()
                    ),
                ));
            }
            Ok(meta) => Some(meta),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(with_path(path, err)),
        }
    };

    sweep_once(dir);
    let create = |name_max: usize| {
        let prefix = temp_prefix(name, std::process::id(), name_max);
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .rand_bytes(TEMP_RANDOM_LEN)
            .suffix(TEMP_SUFFIX);
        if existing.is_none() {
            // The mode a plain `File::create` would give (0o666 less the umask)
            // instead of tempfile's 0o600.
            builder.permissions(Permissions::from_mode(0o666));
        }
        builder.tempfile_in(dir)
    };
    let created = match create(NAME_MAX) {
        // A file system with shorter names than Linux's 255 bytes (eCryptfs
        // allows 143): the same name with no NAME part at all.
        // (tempfile wraps the OS error, which keeps its kind but not its number.)
        Err(err)
            if err.kind() == io::ErrorKind::InvalidFilename
                || err.raw_os_error() == Some(libc::ENAMETOOLONG) =>
        {
            create(0)
        }
        other => other,
    };
    let mut temp = created.map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot create a temporary file in {}: {err}", dir.display()),
        )
    })?;
    // From here on, dropping `temp` (any early return) removes the file.
    if let Some(meta) = &existing {
        // Before the data goes in, so a private file's new content is never
        // readable by others. Owner first: chown clears setuid/setgid bits,
        // chmod sets them back. Not being allowed to give the file away is
        // normal for non-root.
        let file = temp.as_file();
        let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
        file.set_permissions(meta.permissions())
            .map_err(|err| with_path(temp.path(), err))?;
    }
    temp.write_all(data)
        .map_err(|err| with_path(temp.path(), err))?;
    temp.as_file()
        .sync_all()
        .map_err(|err| with_path(temp.path(), err))?;

    let persisted = if must_be_new {
        temp.persist_noclobber(path)
    } else {
        temp.persist(path)
    };
    // A failed persist hands the temporary file back inside the error;
    // dropping the error removes it.
    persisted.map_err(|err| {
        let err = err.error;
        if err.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(err.kind(), format!("{} already exists", path.display()))
        } else {
            with_path(path, err)
        }
    })?;

    // Makes the rename itself durable. Not every filesystem can sync a
    // directory, and the data is already in place, so errors are ignored.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Opens a file for reading, refusing anything but a regular file.
///
/// Opens without blocking, so a FIFO with no writer cannot hang the server,
/// then checks the kind on the opened handle (not the path, which could be
/// swapped in between).
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        // Opening a socket fails with ENXIO; say what it is.
        Err(err) if err.raw_os_error() == Some(libc::ENXIO) => {
            if let Ok(meta) = fs::metadata(path)
                && let Some(kind) = special_kind(&meta.file_type())
            {
                return Err(not_regular(path, kind));
            }
            return Err(with_path(path, err));
        }
        Err(err) => return Err(with_path(path, err)),
    };
    let meta = file.metadata().map_err(|err| with_path(path, err))?;
    match special_kind(&meta.file_type()) {
        None => Ok(file),
        Some(kind) => Err(not_regular(path, kind)),
    }
}

/// What a non-regular file is, for error messages ("a FIFO (named pipe)",
/// "a socket", ...); `None` for a regular file.
pub fn special_kind(file_type: &fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else {
        Some("not a regular file")
    }
}

fn not_regular(path: &Path, kind: &str) -> io::Error {
    let error_kind = if kind == "a directory" {
        io::ErrorKind::IsADirectory
    } else {
        io::ErrorKind::InvalidInput
    };
    io::Error::new(
        error_kind,
        format!(
            "{} is {kind}; only regular files can be read",
            path.display()
        ),
    )
}

/// The first `lines` lines, joined by `\n`, without a trailing newline (the
/// official filesystem server's format). Reads only as far as needed.
pub fn read_head(path: &Path, lines: usize, max_bytes: u64) -> io::Result<String> {
    let mut reader = LineReader::new(path, open_regular_file(path)?);
    let mut text = String::new();
    for index in 0..lines {
        if !reader.append_line(&mut text, index > 0, max_bytes)? {
            break;
        }
    }
    Ok(text)
}

/// The last `lines` lines, joined by `\n`, without a trailing newline.
///
/// Reads backwards from the end in chunks, so a large file costs only its
/// tail. A newline at the very end does not start an extra empty line, and
/// `\r\n` counts as one line ending (as in [`str::lines`]).
pub fn read_tail(path: &Path, lines: usize, max_bytes: u64) -> io::Result<String> {
    read_tail_chunked(path, lines, max_bytes, TAIL_CHUNK)
}

fn read_tail_chunked(
    path: &Path,
    lines: usize,
    max_bytes: u64,
    chunk: usize,
) -> io::Result<String> {
    let file = open_regular_file(path)?;
    let len = file.metadata().map_err(|err| with_path(path, err))?.len();
    if lines == 0 || len == 0 {
        return Ok(String::new());
    }
    let read_at = |buf: &mut [u8], offset: u64| {
        file.read_exact_at(buf, offset)
            .map_err(|err| with_path(path, err))
    };
    let mut last = [0u8];
    read_at(&mut last, len - 1)?;
    let ends_with_newline = last[0] == b'\n';
    let end = if ends_with_newline { len - 1 } else { len };

    // Each returned line loses at most one `\r`, so a region longer than this
    // cannot fit in `max_bytes` however it ends up split.
    let region_limit = max_bytes.saturating_add(u64::try_from(lines).unwrap_or(u64::MAX));
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut pos = end;
    let mut newlines = 0usize;
    let mut start = 0;
    'scan: while pos > 0 {
        let size = usize::try_from(pos).unwrap_or(usize::MAX).min(chunk.max(1));
        let chunk_start = pos - size as u64;
        let mut buf = vec![0; size];
        read_at(&mut buf, chunk_start)?;
        pos = chunk_start;
        for index in (0..size).rev() {
            if buf[index] == b'\n' {
                newlines += 1;
                if newlines == lines {
                    start = chunk_start + index as u64 + 1;
                    buf.drain(..=index);
                    chunks.push(buf);
                    break 'scan;
                }
            }
        }
        chunks.push(buf);
        if end - pos > region_limit {
            return Err(too_large(path, max_bytes));
        }
    }

    let mut region = Vec::new();
    for chunk in chunks.iter().rev() {
        region.extend_from_slice(chunk);
    }
    drop(chunks);
    let region = std::str::from_utf8(&region)
        .map_err(|err| invalid_utf8(path, start + err.valid_up_to() as u64))?;
    let mut parts: Vec<&str> = region.split('\n').collect();
    let last_index = parts.len() - 1;
    for (index, part) in parts.iter_mut().enumerate() {
        // The last part ended with `\n` only if the file did.
        if index < last_index || ends_with_newline {
            *part = part.strip_suffix('\r').unwrap_or(part);
        }
    }
    let text = parts.join("\n");
    if text.len() as u64 > max_bytes {
        return Err(too_large(path, max_bytes));
    }
    Ok(text)
}

/// A window of lines of a file, as returned by [`read_line_range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRange {
    /// The lines, joined by `\n`, without a trailing newline.
    pub text: String,
    /// 1-based number of the first line asked for.
    pub first_line: usize,
    /// How many lines `text` holds.
    pub lines: usize,
    /// Lines in the file; known only if reading reached the end of the file.
    pub total_lines: Option<usize>,
    /// Whether the file goes on after the returned lines.
    pub more: bool,
}

/// Lines `[offset, offset + limit)` (0-based `offset`), reading only as far as
/// the end of the range. Skipped lines are neither kept nor checked.
pub fn read_line_range(
    path: &Path,
    offset: usize,
    limit: usize,
    max_bytes: u64,
) -> io::Result<LineRange> {
    let mut reader = LineReader::new(path, open_regular_file(path)?);
    let mut skipped = 0;
    while skipped < offset && reader.skip_line()? {
        skipped += 1;
    }
    let mut text = String::new();
    let mut lines = 0;
    if skipped == offset {
        while lines < limit && reader.append_line(&mut text, lines > 0, max_bytes)? {
            lines += 1;
        }
    }
    let at_end = reader.at_end()?;
    Ok(LineRange {
        text,
        first_line: offset.saturating_add(1),
        lines,
        total_lines: at_end.then_some(skipped + lines),
        more: !at_end,
    })
}

/// The size of the regular file at `path`, to choose where to read it
/// (small files on the async thread, see `error::blocking_unless_small`);
/// anything else, or an error, counts as large.
pub fn size_hint(path: &Path) -> usize {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => usize::try_from(meta.len()).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

/// The file's bytes, but never more than `max_bytes + 1` of them (a file
/// can grow after its size was checked: more than `max_bytes` means too
/// big). `size` is the size the caller saw, to read into one buffer.
pub fn read_up_to(file: File, size: u64, max_bytes: u64) -> io::Result<Vec<u8>> {
    let capacity = size.min(max_bytes.saturating_add(1));
    let mut data = crate::heap::large_buffer(usize::try_from(capacity).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)?;
    Ok(data)
}

/// The whole file as text, refusing before reading it if it is over
/// `max_bytes`.
pub fn read_to_string_limited(path: &Path, max_bytes: u64) -> io::Result<String> {
    let file = open_regular_file(path)?;
    let size = file.metadata().map_err(|err| with_path(path, err))?.len();
    if size > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{} is {size} bytes, over the {max_bytes}-byte limit; \
                 read it in parts with head, tail or offset/limit",
                path.display()
            ),
        ));
    }
    // The file may grow after the size check; never read past the limit.
    let data = read_up_to(file, size, max_bytes).map_err(|err| with_path(path, err))?;
    if data.len() as u64 > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{} grew past the {max_bytes}-byte limit while being read; \
                 read it in parts with head, tail or offset/limit",
                path.display()
            ),
        ));
    }
    String::from_utf8(data).map_err(|err| invalid_utf8(path, err.utf8_error().valid_up_to() as u64))
}

/// Reads a file line by line from its start, tracking the byte offset for
/// error messages.
struct LineReader<'a> {
    path: &'a Path,
    reader: BufReader<File>,
    /// File offset of the next unread byte.
    pos: u64,
    buf: Vec<u8>,
}

impl<'a> LineReader<'a> {
    fn new(path: &'a Path, file: File) -> Self {
        Self {
            path,
            reader: BufReader::new(file),
            pos: 0,
            buf: Vec::new(),
        }
    }

    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.reader
            .fill_buf()
            .map_err(|err| with_path(self.path, err))
    }

    fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.fill_buf()?.is_empty())
    }

    /// Passes over one line without keeping it; false at end of file.
    fn skip_line(&mut self) -> io::Result<bool> {
        let mut any = false;
        loop {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Ok(any);
            }
            any = true;
            let (used, done) = match chunk.iter().position(|&byte| byte == b'\n') {
                Some(index) => (index + 1, true),
                None => (chunk.len(), false),
            };
            self.reader.consume(used);
            self.pos += used as u64;
            if done {
                return Ok(true);
            }
        }
    }

    /// Appends the next line, without its line ending and after a `\n` if
    /// `separator`, to `text`; false at end of file. Never holds much more
    /// than `max_bytes` of it, even for a file without newlines.
    fn append_line(
        &mut self,
        text: &mut String,
        separator: bool,
        max_bytes: u64,
    ) -> io::Result<bool> {
        let used = text.len() as u64 + u64::from(separator);
        // Room for the line, its `\r\n`, and one byte to tell "too long".
        let room = max_bytes.saturating_sub(used).saturating_add(2);
        self.buf.clear();
        let read = (&mut self.reader)
            .take(room)
            .read_until(b'\n', &mut self.buf)
            .map_err(|err| with_path(self.path, err))?;
        if read == 0 {
            return Ok(false);
        }
        let line_start = self.pos;
        self.pos += read as u64;
        let mut line = self.buf.as_slice();
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        if used + line.len() as u64 > max_bytes {
            return Err(too_large(self.path, max_bytes));
        }
        let line = std::str::from_utf8(line)
            .map_err(|err| invalid_utf8(self.path, line_start + err.valid_up_to() as u64))?;
        if separator {
            text.push('\n');
        }
        text.push_str(line);
        Ok(true)
    }
}

/// A temporary directory in the system temp dir, removed when dropped.
pub fn scratch_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot create a scratch directory in {}: {err}",
                    std::env::temp_dir().display()
                ),
            )
        })
}

/// A size in the official filesystem server's format: `15 B`, `1.20 KB`,
/// `3.50 MB` (1024-based, two decimals above bytes, TB at most).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut unit = 0;
    let mut divisor: u128 = 1;
    while unit + 1 < UNITS.len() && u128::from(bytes) >= divisor * 1024 {
        unit += 1;
        divisor *= 1024;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    // Integer rounding, half up like JavaScript's `toFixed` on these exact
    // binary fractions; floats would round some halves down.
    let hundredths = (u128::from(bytes) * 200 + divisor) / (divisor * 2);
    format!(
        "{}.{:02} {}",
        hundredths / 100,
        hundredths % 100,
        UNITS[unit]
    )
}

fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

fn too_large(path: &Path, max_bytes: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "{}: the requested text exceeds {max_bytes} bytes; ask for fewer lines",
            path.display()
        ),
    )
}

fn invalid_utf8(path: &Path, offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} is not valid UTF-8 text (invalid byte sequence at byte offset {offset})",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::process::Command;
    use tempfile::TempDir;

    fn dir() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn file_with(dir: &TempDir, name: &str, content: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn temp_owners_are_read_from_our_names_only() {
        let owner = |name: &str| temp_owner(name.as_bytes());
        assert_eq!(owner(".a.txt.mcp-123.Xy9abc.tmp"), Some(123));
        assert_eq!(owner(".a.mcp-1.b.mcp-77.r0Z9ab.tmp"), Some(77));
        assert_eq!(owner("..mcp-5.abcdef.tmp"), Some(5), "an empty NAME part");
        assert_eq!(owner(".a.txt.Xy9abc.tmp"), None);
        assert_eq!(owner("a.txt.mcp-123.Xy9abc.tmp"), None);
        assert_eq!(owner(".a.txt.mcp-12x.Xy9abc.tmp"), None);
        assert_eq!(owner(".a.txt.mcp-123.Xy9abc"), None);
        assert_eq!(owner(".a.txt.mcp-.Xy9abc.tmp"), None);
        // RANDOM is exactly tempfile's six letters or digits.
        assert_eq!(owner(".a.mcp-1.b.mcp-77.r.tmp"), None);
        assert_eq!(owner(".a.txt.mcp-123.Xy9abcd.tmp"), None);
        assert_eq!(owner(".a.txt.mcp-123.Xy9-bc.tmp"), None);
        assert_eq!(owner(".a.txt.mcp-12345678901.Xy9abc.tmp"), None);
        // A NAME that is not UTF-8.
        assert_eq!(temp_owner(b".caf\xe9.mcp-42.Xy9abc.tmp"), Some(42));
    }

    /// Target names of many lengths up to 255 bytes, ASCII and multi-byte.
    fn long_names() -> Vec<String> {
        let mut names = Vec::new();
        for len in [1, 100, 200, 226, 227, 228, 229, 230, 240, 250, 254, 255] {
            names.push("a".repeat(len));
            for wide in ["\u{e9}", "\u{65e5}", "\u{1f980}"] {
                // Multi-byte characters all the way, padded with ASCII to `len`.
                let mut name = wide.repeat(len / wide.len());
                name.push_str(&"b".repeat(len - name.len()));
                names.push(name);
                // Shifted by one byte, so that some cut falls in the middle
                // of a character wherever the budget ends.
                if len > wide.len() {
                    let mut shifted = "c".to_owned();
                    shifted.push_str(&wide.repeat((len - 1) / wide.len()));
                    shifted.push_str(&"d".repeat(len - shifted.len()));
                    names.push(shifted);
                }
            }
        }
        names
    }

    #[test]
    fn temp_names_fit_in_255_bytes_and_stay_ours() {
        for pid in [1, 77, 4_194_304, u32::MAX] {
            let mark = format!(".mcp-{pid}.");
            for name in long_names() {
                let prefix = temp_prefix(OsStr::new(&name), pid, NAME_MAX);
                let prefix = prefix.to_str().expect("a UTF-8 name stays UTF-8");
                let full = format!("{prefix}Ab3dE9.tmp");
                assert!(full.len() <= NAME_MAX, "{} bytes: {full}", full.len());
                assert_eq!(temp_owner(full.as_bytes()), Some(pid), "{full}");
                let kept = &prefix[1..prefix.len() - mark.len()];
                assert!(
                    name.starts_with(kept),
                    "{kept:?} is not a prefix of {name:?}"
                );
                if 1 + name.len() + mark.len() + 10 <= NAME_MAX {
                    assert_eq!(kept, name, "short names are kept whole");
                } else {
                    // Shortened to the budget, less at most the three bytes
                    // of a cut character.
                    assert!(full.len() + 3 >= NAME_MAX, "{} bytes: {full}", full.len());
                }
            }
        }
        // Not UTF-8: cut at the byte budget, still ours.
        let name = OsStr::from_bytes(&[0xff; 255]);
        let mut full = temp_prefix(name, 9, NAME_MAX).into_vec();
        full.extend_from_slice(b"abcdef.tmp");
        assert_eq!(full.len(), NAME_MAX);
        assert_eq!(temp_owner(&full), Some(9));
        // A file system with short names: the NAME part may vanish entirely.
        assert_eq!(
            temp_prefix(OsStr::new("abc"), 12, 0),
            OsStr::new("..mcp-12.")
        );
    }

    #[test]
    fn atomic_write_takes_names_up_to_255_bytes() {
        let dir = dir();
        for name in long_names() {
            let path = dir.path().join(&name);
            atomic_write(&path, b"first").unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
            atomic_write(&path, name.as_bytes()).unwrap();
            assert_eq!(fs::read(&path).unwrap(), name.as_bytes());
            fs::remove_file(&path).unwrap();
            atomic_write_new(&path, b"new").unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"new");
            fs::remove_file(&path).unwrap();
        }
        assert!(names_in(dir.path()).is_empty());
        // 256 bytes is no name at all: a clean error, nothing left behind.
        let err = atomic_write(&dir.path().join("x".repeat(256)), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidFilename, "{err}");
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn stale_temp_files_with_long_names_are_removed_and_user_files_kept() {
        let dir = dir();
        let dead = 99_999_999; // above the kernel's pid limit: never running
        let stale_name = |name: &OsStr| {
            let mut full = temp_prefix(name, dead, NAME_MAX).into_vec();
            full.extend_from_slice(b"Zz09aB.tmp");
            dir.path().join(OsStr::from_bytes(&full))
        };
        let mut stale: Vec<PathBuf> = long_names()
            .iter()
            .map(|name| stale_name(OsStr::new(name)))
            .collect();
        stale.push(stale_name(OsStr::from_bytes(&[0xfe; 250])));
        stale.sort();
        stale.dedup();
        for path in &stale {
            fs::write(path, "stale").unwrap();
        }
        // The user's own files, of the same lengths, some nearly ours.
        let mut user: Vec<PathBuf> = long_names()
            .iter()
            .map(|name| dir.path().join(name))
            .collect();
        let long = "u".repeat(200);
        for name in [
            format!(".{long}.mcp-{dead}.Zz09aB.txt"),
            format!(".{long}.mcp-{dead}.Zz09a.tmp"),
            format!("{long}.mcp-{dead}.Zz09aB.tmp"),
            format!(".{long}.mcp-x{dead}.Zz09aB.tmp"),
            format!(".{long}.mcp{dead}.Zz09aB.tmp"),
        ] {
            user.push(dir.path().join(name));
        }
        for path in &user {
            fs::write(path, "mine").unwrap();
        }
        assert_eq!(remove_stale_temp_files(dir.path()), stale.len());
        for path in &stale {
            assert!(!path.exists(), "{} left", path.display());
        }
        for path in &user {
            assert_eq!(fs::read(path).unwrap(), b"mine", "{}", path.display());
        }
    }

    #[test]
    fn stale_temp_files_of_dead_processes_are_removed() {
        let dir = dir();
        // A pid above the kernel's maximum (4194304) never runs.
        let stale = dir.path().join(".a.txt.mcp-99999999.abcdef.tmp");
        let mine = dir
            .path()
            .join(format!(".b.txt.mcp-{}.abcdef.tmp", std::process::id()));
        let foreign = dir.path().join(".c.txt.abcdef.tmp");
        for path in [&stale, &mine, &foreign] {
            fs::write(path, "x").unwrap();
        }
        assert_eq!(remove_stale_temp_files(dir.path()), 1);
        assert!(!stale.exists());
        assert!(mine.exists(), "a live process's temp file must stay");
        assert!(foreign.exists(), "only our own naming is swept");
    }

    #[test]
    fn atomic_write_creates_and_replaces() {
        let dir = dir();
        let path = dir.path().join("a.txt");
        atomic_write(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        atomic_write(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        atomic_write(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(names_in(dir.path()), ["a.txt"]);
    }

    #[test]
    fn atomic_write_replaces_the_inode() {
        // A reader holding the old file keeps seeing the old content.
        let dir = dir();
        let path = file_with(&dir, "a.txt", b"old");
        let old = File::open(&path).unwrap();
        atomic_write(&path, b"new").unwrap();
        let mut seen = String::new();
        (&old).read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old");
        assert_ne!(
            old.metadata().unwrap().ino(),
            fs::metadata(&path).unwrap().ino()
        );
    }

    #[test]
    fn atomic_write_keeps_permissions() {
        let dir = dir();
        for wanted in [0o640, 0o755, 0o600, 0o444] {
            let path = file_with(&dir, "p.txt", b"x");
            fs::set_permissions(&path, Permissions::from_mode(wanted)).unwrap();
            atomic_write(&path, b"y").unwrap();
            assert_eq!(mode(&path), wanted, "mode {wanted:o}");
            assert_eq!(fs::read(&path).unwrap(), b"y");
            fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn atomic_write_keeps_the_owner_where_allowed() {
        let dir = dir();
        let path = file_with(&dir, "owned.txt", b"x");
        // Only root may give a file away; elsewhere there is nothing to keep.
        if std::os::unix::fs::chown(&path, Some(4321), Some(4322)).is_err() {
            return;
        }
        fs::set_permissions(&path, Permissions::from_mode(0o2640)).unwrap();
        atomic_write(&path, b"y").unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
        assert_eq!(mode(&path), 0o2640);
    }

    #[test]
    fn atomic_write_gives_new_files_the_default_mode() {
        let dir = dir();
        let reference = dir.path().join("reference");
        File::create(&reference).unwrap();
        let path = dir.path().join("new.txt");
        atomic_write(&path, b"x").unwrap();
        assert_eq!(mode(&path), mode(&reference));
        let path = dir.path().join("new2.txt");
        atomic_write_new(&path, b"x").unwrap();
        assert_eq!(mode(&path), mode(&reference));
    }

    #[test]
    fn atomic_write_refuses_a_symlink_target() {
        let dir = dir();
        let target = file_with(&dir, "target.txt", b"keep");
        let link = dir.path().join("link.txt");
        symlink(&target, &link).unwrap();
        let err = atomic_write(&link, b"changed").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        // A dangling one too: writing would create its target.
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(
            atomic_write(&dangling, b"x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(names_in(dir.path()), ["dangling", "link.txt", "target.txt"]);
    }

    #[test]
    fn atomic_write_refuses_a_directory_target() {
        let dir = dir();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let err = atomic_write(&sub, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        assert!(sub.is_dir());
        assert_eq!(names_in(dir.path()), ["sub"]);
    }

    #[test]
    fn atomic_write_refuses_special_files() {
        let dir = dir();
        let fifo = dir.path().join("pipe");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let socket = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let mut cases = vec![(fifo, "a FIFO (named pipe)"), (socket, "a socket")];
        // Only root may make device nodes; elsewhere the other kinds are still checked.
        let device = dir.path().join("null");
        match Command::new("mknod")
            .arg(&device)
            .args(["c", "1", "3"])
            .output()
        {
            Ok(out) if out.status.success() => cases.push((device, "a character device")),
            other => eprintln!("character device not checked: mknod failed: {other:?}"),
        }
        for (path, kind) in &cases {
            let before = fs::symlink_metadata(path).unwrap().file_type();
            assert_eq!(
                atomic_write_new(path, b"x").unwrap_err().kind(),
                io::ErrorKind::AlreadyExists
            );
            let err = atomic_write(path, b"x").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(
                err.to_string(),
                format!(
                    "{} is {kind}; only regular files can be written (refusing to replace it)",
                    path.display()
                )
            );
            assert_eq!(fs::symlink_metadata(path).unwrap().file_type(), before);
        }
        assert!(cases.len() >= 2);
        let mut names = names_in(dir.path());
        names.retain(|n| n.ends_with(".tmp"));
        assert!(names.is_empty(), "temporary files left: {names:?}");
    }

    #[test]
    fn atomic_write_refuses_a_path_without_file_name() {
        let err = atomic_write(Path::new("/"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let dir = dir();
        let err = atomic_write(&dir.path().join("sub/.."), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails_cleanly() {
        let dir = dir();
        let path = dir.path().join("missing/a.txt");
        let err = atomic_write(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .contains("cannot create a temporary file in"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&dir.path().join("missing").display().to_string()),
            "{err}"
        );
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn atomic_write_new_creates_but_never_replaces() {
        let dir = dir();
        let path = dir.path().join("new.txt");
        atomic_write_new(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        // Fails at the final rename, after the temporary file was written:
        // that file must be gone and the target untouched.
        let err = atomic_write_new(&path, b"two").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            err.to_string(),
            format!("{} already exists", path.display())
        );
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(names_in(dir.path()), ["new.txt"]);
        // A dangling symlink counts as existing.
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(
            atomic_write_new(&dangling, b"x").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(names_in(dir.path()), ["dangling", "new.txt"]);
    }

    #[test]
    fn open_regular_file_reads_regular_files() {
        let dir = dir();
        let path = file_with(&dir, "a.txt", b"hello");
        let mut text = String::new();
        open_regular_file(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
        let err = open_regular_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn open_regular_file_does_not_hang_on_a_fifo() {
        let dir = dir();
        let fifo = dir.path().join("pipe");
        let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let err = open_regular_file(&fifo).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a FIFO (named pipe); only regular files can be read",
                fifo.display()
            )
        );
        // Every reader goes through the same check.
        assert!(read_head(&fifo, 1, 100).is_err());
        assert!(read_tail(&fifo, 1, 100).is_err());
        assert!(read_line_range(&fifo, 0, 1, 100).is_err());
        assert!(read_to_string_limited(&fifo, 100).is_err());
    }

    #[test]
    fn open_regular_file_refuses_other_special_files() {
        let dir = dir();
        let err = open_regular_file(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a directory; only regular files can be read",
                dir.path().display()
            )
        );

        let socket = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = open_regular_file(&socket).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a socket; only regular files can be read",
                socket.display()
            )
        );

        let err = open_regular_file(Path::new("/dev/null")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/null is a character device; only regular files can be read"
        );

        let block = fs::read_dir("/dev")
            .unwrap()
            .filter_map(Result::ok)
            .find(|entry| {
                entry.file_type().is_ok_and(|kind| kind.is_block_device())
                    && File::open(entry.path()).is_ok()
            });
        if let Some(block) = block {
            let err = open_regular_file(&block.path()).unwrap_err();
            assert!(
                err.to_string()
                    .ends_with(" is a block device; only regular files can be read"),
                "{err}"
            );
        }

        // A symlink to a regular file is followed (containment is the sandbox's job).
        let target = file_with(&dir, "t.txt", b"t");
        symlink(&target, dir.path().join("l")).unwrap();
        assert!(open_regular_file(&dir.path().join("l")).is_ok());
    }

    #[test]
    fn head_returns_the_first_lines() {
        let dir = dir();
        let path = file_with(&dir, "f", b"l1\nl2\nl3\nl4\nl5\n");
        assert_eq!(read_head(&path, 2, 1000).unwrap(), "l1\nl2");
        assert_eq!(read_head(&path, 5, 1000).unwrap(), "l1\nl2\nl3\nl4\nl5");
        assert_eq!(read_head(&path, 50, 1000).unwrap(), "l1\nl2\nl3\nl4\nl5");
        assert_eq!(read_head(&path, 0, 1000).unwrap(), "");
        let crlf = file_with(&dir, "crlf", b"a\r\nb\r\nc");
        assert_eq!(read_head(&crlf, 2, 1000).unwrap(), "a\nb");
        assert_eq!(read_head(&crlf, 3, 1000).unwrap(), "a\nb\nc");
        let no_newline = file_with(&dir, "nn", b"only");
        assert_eq!(read_head(&no_newline, 3, 1000).unwrap(), "only");
        let empty = file_with(&dir, "empty", b"");
        assert_eq!(read_head(&empty, 3, 1000).unwrap(), "");
        let blank = file_with(&dir, "blank", b"\n\nx\n");
        assert_eq!(read_head(&blank, 2, 1000).unwrap(), "\n");
        assert_eq!(read_head(&blank, 3, 1000).unwrap(), "\n\nx");
        // A lone `\r` is content, as in `str::lines`.
        let lone_cr = file_with(&dir, "cr", b"a\rb\r");
        assert_eq!(read_head(&lone_cr, 1, 1000).unwrap(), "a\rb\r");
    }

    #[test]
    fn head_stops_after_the_lines_it_needs() {
        // Invalid UTF-8 after the wanted lines is never read.
        let dir = dir();
        let path = file_with(&dir, "f", b"ok1\nok2\n\xff\xfe\n");
        assert_eq!(read_head(&path, 2, 1000).unwrap(), "ok1\nok2");
        let err = read_head(&path, 3, 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not valid UTF-8 text (invalid byte sequence at byte offset 8)",
                path.display()
            )
        );
    }

    #[test]
    fn head_respects_max_bytes() {
        let dir = dir();
        let path = file_with(&dir, "f", b"abc\ndef\nghi\n");
        // "abc\ndef" is 7 bytes.
        assert_eq!(read_head(&path, 2, 7).unwrap(), "abc\ndef");
        let err = read_head(&path, 2, 6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the requested text exceeds 6 bytes; ask for fewer lines",
                path.display()
            )
        );
        // `\r\n` is not counted, the returned `\n` is.
        let crlf = file_with(&dir, "crlf", b"abc\r\ndef\r\n");
        assert_eq!(read_head(&crlf, 2, 7).unwrap(), "abc\ndef");
        // A long line with no newline fails without being read whole.
        let long = file_with(&dir, "long", &vec![b'x'; 1 << 20]);
        assert_eq!(
            read_head(&long, 1, 10).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(read_head(&long, 1, 1 << 20).unwrap().len(), 1 << 20);
    }

    /// What `read_tail` must return, computed the obvious way.
    fn tail_reference(content: &str, lines: usize) -> String {
        let all: Vec<&str> = content.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = dir();
        let path = file_with(&dir, "f", b"l1\nl2\nl3\nl4\nl5\n");
        assert_eq!(read_tail(&path, 2, 1000).unwrap(), "l4\nl5");
        assert_eq!(read_tail(&path, 1, 1000).unwrap(), "l5");
        assert_eq!(read_tail(&path, 5, 1000).unwrap(), "l1\nl2\nl3\nl4\nl5");
        assert_eq!(read_tail(&path, 9, 1000).unwrap(), "l1\nl2\nl3\nl4\nl5");
        assert_eq!(read_tail(&path, 0, 1000).unwrap(), "");
        let no_newline = file_with(&dir, "nn", b"l1\nl2\nl3");
        assert_eq!(read_tail(&no_newline, 2, 1000).unwrap(), "l2\nl3");
        let crlf = file_with(&dir, "crlf", b"a\r\nb\r\nc\r\n");
        assert_eq!(read_tail(&crlf, 2, 1000).unwrap(), "b\nc");
        let empty = file_with(&dir, "empty", b"");
        assert_eq!(read_tail(&empty, 3, 1000).unwrap(), "");
        let one_newline = file_with(&dir, "nl", b"\n");
        assert_eq!(read_tail(&one_newline, 3, 1000).unwrap(), "");
        let blank = file_with(&dir, "blank", b"x\n\n\n");
        assert_eq!(read_tail(&blank, 2, 1000).unwrap(), "\n");
        assert_eq!(read_tail(&blank, 3, 1000).unwrap(), "x\n\n");
    }

    #[test]
    fn tail_matches_the_reference_for_every_chunk_size() {
        let dir = dir();
        let contents = [
            "l1\nl2\nl3\nl4\nl5\n",
            "héllo wörld\n日本語のテキスト\nemoji 🦀🦀\n\nlast",
            "a\r\nbé\r\n\r\n🦀\r\n",
            "no newline at all: ünïcödé",
            "\n\n\n",
            "x\n",
        ];
        for (index, content) in contents.iter().enumerate() {
            let path = file_with(&dir, &format!("f{index}"), content.as_bytes());
            for chunk in 1..=9 {
                for lines in 0..=7 {
                    assert_eq!(
                        read_tail_chunked(&path, lines, 1000, chunk).unwrap(),
                        tail_reference(content, lines),
                        "content {content:?}, chunk {chunk}, lines {lines}"
                    );
                }
            }
        }
    }

    #[test]
    fn tail_reads_only_the_end() {
        // Invalid UTF-8 before the wanted lines is never looked at.
        let dir = dir();
        let mut content = b"\xff\xfe garbage\n".to_vec();
        content.extend_from_slice("ok1\nök2\n".as_bytes());
        let path = file_with(&dir, "f", &content);
        assert_eq!(read_tail_chunked(&path, 2, 1000, 3).unwrap(), "ok1\nök2");
        assert_eq!(read_tail(&path, 2, 1000).unwrap(), "ok1\nök2");
        let err = read_tail_chunked(&path, 3, 1000, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().ends_with("at byte offset 0)"), "{err}");
        let bad_middle = file_with(&dir, "g", b"a\nb\xffc\nd\n");
        let err = read_tail_chunked(&bad_middle, 2, 1000, 2).unwrap_err();
        assert!(err.to_string().ends_with("at byte offset 3)"), "{err}");
    }

    #[test]
    fn tail_respects_max_bytes() {
        let dir = dir();
        let path = file_with(&dir, "f", b"abc\ndef\nghi\n");
        assert_eq!(read_tail(&path, 2, 7).unwrap(), "def\nghi");
        let err = read_tail(&path, 2, 6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the requested text exceeds 6 bytes; ask for fewer lines",
                path.display()
            )
        );
        let crlf = file_with(&dir, "crlf", b"abc\r\ndef\r\nghi\r\n");
        assert_eq!(read_tail_chunked(&crlf, 2, 7, 2).unwrap(), "def\nghi");
        assert_eq!(
            read_tail_chunked(&crlf, 2, 6, 2).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        // One huge line: gives up after about max_bytes, not at the start.
        let long = file_with(&dir, "long", &vec![b'x'; 1 << 20]);
        assert_eq!(
            read_tail_chunked(&long, 1, 10, 4).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
    }

    #[test]
    fn line_range_returns_a_window() {
        let dir = dir();
        let path = file_with(&dir, "f", b"l1\nl2\nl3\nl4\nl5\n");
        assert_eq!(
            read_line_range(&path, 0, 2, 1000).unwrap(),
            LineRange {
                text: "l1\nl2".into(),
                first_line: 1,
                lines: 2,
                total_lines: None,
                more: true
            }
        );
        assert_eq!(
            read_line_range(&path, 2, 2, 1000).unwrap(),
            LineRange {
                text: "l3\nl4".into(),
                first_line: 3,
                lines: 2,
                total_lines: None,
                more: true
            }
        );
        assert_eq!(
            read_line_range(&path, 3, 2, 1000).unwrap(),
            LineRange {
                text: "l4\nl5".into(),
                first_line: 4,
                lines: 2,
                total_lines: Some(5),
                more: false
            }
        );
        assert_eq!(
            read_line_range(&path, 3, 10, 1000).unwrap(),
            LineRange {
                text: "l4\nl5".into(),
                first_line: 4,
                lines: 2,
                total_lines: Some(5),
                more: false
            }
        );
        assert_eq!(
            read_line_range(&path, 5, 3, 1000).unwrap(),
            LineRange {
                text: String::new(),
                first_line: 6,
                lines: 0,
                total_lines: Some(5),
                more: false
            }
        );
        assert_eq!(
            read_line_range(&path, 40, 3, 1000).unwrap(),
            LineRange {
                text: String::new(),
                first_line: 41,
                lines: 0,
                total_lines: Some(5),
                more: false
            }
        );
        assert_eq!(
            read_line_range(&path, 1, 0, 1000).unwrap(),
            LineRange {
                text: String::new(),
                first_line: 2,
                lines: 0,
                total_lines: None,
                more: true
            }
        );
    }

    #[test]
    fn line_range_edge_files() {
        let dir = dir();
        let empty = file_with(&dir, "empty", b"");
        assert_eq!(
            read_line_range(&empty, 0, 5, 1000).unwrap(),
            LineRange {
                text: String::new(),
                first_line: 1,
                lines: 0,
                total_lines: Some(0),
                more: false
            }
        );
        let crlf = file_with(&dir, "crlf", b"a\r\nb\r\nc");
        assert_eq!(
            read_line_range(&crlf, 1, 5, 1000).unwrap(),
            LineRange {
                text: "b\nc".into(),
                first_line: 2,
                lines: 2,
                total_lines: Some(3),
                more: false
            }
        );
        let blank = file_with(&dir, "blank", b"\n\n");
        assert_eq!(
            read_line_range(&blank, 0, 5, 1000).unwrap(),
            LineRange {
                text: "\n".into(),
                first_line: 1,
                lines: 2,
                total_lines: Some(2),
                more: false
            }
        );
    }

    #[test]
    fn line_range_reads_only_what_it_needs() {
        // Invalid UTF-8 in skipped lines and after the range is never checked;
        // a huge skipped line is passed over.
        let dir = dir();
        let mut content = vec![b'x'; 100_000];
        content.extend_from_slice(b"\n\xff\nwanted\nalso\n\xfe\n");
        let path = file_with(&dir, "f", &content);
        let range = read_line_range(&path, 2, 2, 20).unwrap();
        assert_eq!(
            range,
            LineRange {
                text: "wanted\nalso".into(),
                first_line: 3,
                lines: 2,
                total_lines: None,
                more: true
            }
        );
        let err = read_line_range(&path, 2, 3, 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .ends_with(&format!("at byte offset {})", 100_000 + 15)),
            "{err}"
        );
        let err = read_line_range(&path, 0, 1, 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn to_string_limited_checks_size_before_reading() {
        let dir = dir();
        let path = file_with(&dir, "f", "héllo".as_bytes());
        assert_eq!(read_to_string_limited(&path, 6).unwrap(), "héllo");
        let err = read_to_string_limited(&path, 5).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            format!(
                "{} is 6 bytes, over the 5-byte limit; read it in parts with head, tail or offset/limit",
                path.display()
            )
        );
        let bad = file_with(&dir, "bad", b"abc\xffdef");
        let err = read_to_string_limited(&bad, 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not valid UTF-8 text (invalid byte sequence at byte offset 3)",
                bad.display()
            )
        );
        let empty = file_with(&dir, "empty", b"");
        assert_eq!(read_to_string_limited(&empty, 0).unwrap(), "");
        assert_eq!(
            read_to_string_limited(dir.path(), 100).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn scratch_dir_is_removed_on_drop() {
        let scratch = scratch_dir("mcp-test-").unwrap();
        let path = scratch.path().to_path_buf();
        assert!(path.is_dir());
        assert!(path.starts_with(std::env::temp_dir()));
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("mcp-test-")
        );
        fs::write(path.join("inside"), "x").unwrap();
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn human_size_matches_the_official_format() {
        let cases: [(u64, &str); 15] = [
            (0, "0 B"),
            (1, "1 B"),
            (15, "15 B"),
            (1023, "1023 B"),
            (1024, "1.00 KB"),
            (1229, "1.20 KB"),
            (1536, "1.50 KB"),
            (1152, "1.13 KB"),
            (1_048_575, "1024.00 KB"),
            (1_048_576, "1.00 MB"),
            (3_670_016, "3.50 MB"),
            (1 << 30, "1.00 GB"),
            (2 << 40, "2.00 TB"),
            (1 << 50, "1024.00 TB"),
            (u64::MAX, "16777216.00 TB"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(human_size(bytes), expected, "{bytes}");
        }
    }
}
