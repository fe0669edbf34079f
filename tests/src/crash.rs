//! Crash consistency: kill -9 a server in the middle of an operation that
//! writes a file (mcp-filesystem's `write_file`, `edit_file`, `move_file`,
//! mcp-text's `replace` on a file, mcp-image's `transform` to an
//! `output_path`), many times, and check that every file holds its old or
//! its new content, never a mix, and that no temporary file survives the
//! next start.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::RawStdio;
use crate::fuzz::Rng;

/// The operation interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    WriteFile,
    EditFile,
    MoveFile,
    /// mcp-text `replace` with `path`: the file is rewritten.
    TextReplace,
    /// mcp-image `transform` overwriting its `output_path`.
    ImageTransform,
}

impl Operation {
    pub const ALL: [Self; 5] = [
        Self::WriteFile,
        Self::EditFile,
        Self::MoveFile,
        Self::TextReplace,
        Self::ImageTransform,
    ];

    /// The tool called.
    pub fn name(self) -> &'static str {
        match self {
            Self::WriteFile => "write_file",
            Self::EditFile => "edit_file",
            Self::MoveFile => "move_file",
            Self::TextReplace => "replace",
            Self::ImageTransform => "transform",
        }
    }

    /// The server that has the tool (`filesystem`, `text`, `image`).
    pub fn server(self) -> &'static str {
        match self {
            Self::WriteFile | Self::EditFile | Self::MoveFile => "filesystem",
            Self::TextReplace => "text",
            Self::ImageTransform => "image",
        }
    }
}

#[derive(Debug, Default)]
pub struct CrashReport {
    pub rounds: usize,
    /// How long one uninterrupted operation took (kills land within it).
    pub window: Duration,
    /// Rounds after which the file held its old content (killed before the
    /// change landed) and its new one (after).
    pub old: usize,
    pub new: usize,
    /// Rounds whose files were neither (must stay 0), with what was seen.
    pub corrupt: Vec<String>,
    /// Temporary files left by the kills, before the restart.
    pub temp_files_after_kills: usize,
    /// Temporary files left after one restart (must stay 0).
    pub temp_files_after_restart: usize,
}

/// Kills `bin` (the server of `op`) `rounds` times during `op` on a file of
/// about `size` bytes in `dir`.
pub fn crash_rounds(
    bin: &Path,
    dir: &Path,
    op: Operation,
    rounds: usize,
    size: usize,
    seed: u64,
) -> anyhow::Result<CrashReport> {
    let mut rng = Rng::new(seed);
    let mut report = CrashReport::default();
    let dir_arg = dir.to_str().context("non-UTF-8 directory")?;
    let old: String = "old line of text\n".repeat(size / 17 + 1);
    let new: String = "NEW CONTENT HERE\n".repeat(size / 17 + 1);
    let target = dir.join(format!("{}.txt", op.name()));
    let moved = dir.join(format!("{}-moved.txt", op.name()));
    // The image's source: an uncompressed BMP of about `size` bytes, which
    // the transform re-encodes as PNG over the old file.
    let source = dir.join("source.bmp");
    if op == Operation::ImageTransform {
        fs::write(&source, noise_bmp(size, seed))?;
    }
    // What the file holds once the operation has run (from the first,
    // uninterrupted run).
    let mut expected_new = Vec::new();
    // One uninterrupted run tells how long the operation takes; kills then
    // land anywhere from just after the request to just after the answer.
    let mut window = Duration::ZERO;
    for round in 0..=rounds {
        let calibrating = round == 0;
        fs::write(&target, &old)?;
        let _ = fs::remove_file(&moved);
        let mut server = RawStdio::spawn(bin, &[dir_arg])?;
        server.initialize()?;
        let path = target.display().to_string();
        let arguments = match op {
            Operation::WriteFile => json!({"path": path, "content": new}),
            Operation::EditFile => json!({"path": path, "edits": [
                {"oldText": "old line of text\nold line", "newText": "EDITED\nold line"}]}),
            Operation::MoveFile => {
                json!({"source": path, "destination": moved.display().to_string()})
            }
            Operation::TextReplace => json!({"path": path,
                "pattern": "old line of text", "replacement": "NEW CONTENT HERE"}),
            Operation::ImageTransform => json!({"path": source.display().to_string(),
                "operations": [{"op": "grayscale"}], "format": "png",
                "output_path": path, "overwrite": true}),
        };
        let start = Instant::now();
        server.send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                            "params": {"name": op.name(), "arguments": arguments}}))?;
        if calibrating {
            let (answer, _) = server.recv_response(&json!(1))?;
            if answer["result"]["isError"] == json!(true) {
                bail!("{} failed: {answer}", op.name());
            }
            window = start.elapsed().mul_f64(1.2);
            server.close()?;
            expected_new = fs::read(&target).unwrap_or_default();
            if op != Operation::MoveFile && expected_new == old.as_bytes() {
                bail!("{} did not change the file", op.name());
            }
            if op == Operation::WriteFile && expected_new != new.as_bytes() {
                bail!("write_file wrote something else");
            }
            continue;
        }
        // Where the kill lands varies from round to round; any landing
        // point must leave a whole file, so the check does not depend on it.
        let micros = window.as_micros().max(1) as usize;
        std::thread::sleep(Duration::from_micros(rng.below(micros) as u64));
        server.kill();
        report.rounds += 1;
        match op {
            Operation::MoveFile => {
                match (fs::read_to_string(&target), fs::read_to_string(&moved)) {
                    (Ok(content), Err(_)) if content == old => report.old += 1,
                    (Err(_), Ok(content)) if content == old => report.new += 1,
                    (a, b) => report.corrupt.push(format!(
                        "round {round}: source {:?} bytes, destination {:?} bytes",
                        a.map(|c| c.len()).ok(),
                        b.map(|c| c.len()).ok()
                    )),
                }
            }
            _ => {
                let content = fs::read(&target).unwrap_or_default();
                if content == old.as_bytes() {
                    report.old += 1;
                } else if content == expected_new {
                    report.new += 1;
                } else {
                    report.corrupt.push(format!(
                        "round {round}: {} bytes, neither old ({}) nor new ({})",
                        content.len(),
                        old.len(),
                        expected_new.len()
                    ));
                }
            }
        }
    }
    report.window = window;
    report.temp_files_after_kills = temp_files(dir)?;
    // What a kill between the temporary file and the rename leaves (the
    // kills above land there only sometimes): a dead pid's temporary file.
    fs::write(dir.join(".planted.txt.mcp-99999999.abcdef.tmp"), "partial")?;
    // A restart (and its first write in the directory) cleans what the
    // kills left.
    let mut server = RawStdio::spawn(bin, &[dir_arg])?;
    server.initialize()?;
    let after = dir.join("after-restart.txt").display().to_string();
    let arguments = match op {
        Operation::TextReplace => {
            fs::write(dir.join("after-restart.txt"), "x")?;
            json!({"path": after, "pattern": "x", "replacement": "ok"})
        }
        Operation::ImageTransform => json!({"path": source.display().to_string(),
            "operations": [{"op": "invert"}], "format": "png", "output_path": after}),
        _ => json!({"path": after, "content": "ok"}),
    };
    let name = match op {
        Operation::TextReplace | Operation::ImageTransform => op.name(),
        _ => "write_file",
    };
    let answer = server.request(
        2,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )?;
    if answer["result"]["isError"] == json!(true) {
        bail!("write after restart failed: {answer}");
    }
    server.close()?;
    report.temp_files_after_restart = temp_files(dir)?;
    Ok(report)
}

/// A 24-bit BMP of random pixels, about `size` bytes (a square image).
fn noise_bmp(size: usize, seed: u64) -> Vec<u8> {
    let side = ((size / 3) as f64).sqrt() as u32;
    let row = (side * 3).div_ceil(4) * 4;
    let pixels = row * side;
    let mut bmp = Vec::with_capacity(54 + pixels as usize);
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54 + pixels).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&side.to_le_bytes());
    bmp.extend_from_slice(&side.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&pixels.to_le_bytes());
    bmp.extend_from_slice(&[0; 16]);
    let mut rng = Rng::new(seed);
    // Smooth-ish noise: PNG has work to do, but not an incompressible mess.
    let mut value = 0u8;
    bmp.extend((0..pixels).map(|i| {
        if i % 7 == 0 {
            value = value.wrapping_add(rng.below(9) as u8);
        }
        value
    }));
    bmp
}

/// Hidden `*.tmp` files in `dir`.
fn temp_files(dir: &Path) -> anyhow::Result<usize> {
    Ok(fs::read_dir(dir)?
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .count())
}
