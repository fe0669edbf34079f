//! Crash consistency: kill -9 the filesystem server in the middle of
//! `write_file`, `edit_file` and `move_file`, many times, and check that
//! every file holds its old or its new content, never a mix, and that no
//! temporary file survives the next start.

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
}

impl Operation {
    pub const ALL: [Self; 3] = [Self::WriteFile, Self::EditFile, Self::MoveFile];

    pub fn name(self) -> &'static str {
        match self {
            Self::WriteFile => "write_file",
            Self::EditFile => "edit_file",
            Self::MoveFile => "move_file",
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

/// Kills `bin` (mcp-filesystem) `rounds` times during `op` on a file of
/// `size` bytes in `dir`.
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
            continue;
        }
        // Where the kill lands varies from round to round; any landing
        // point must leave a whole file, so the check does not depend on it.
        let micros = window.as_micros().max(1) as usize;
        std::thread::sleep(Duration::from_micros(rng.below(micros) as u64));
        server.kill();
        report.rounds += 1;
        let edited = old.replacen("old line of text\nold line", "EDITED\nold line", 1);
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
                let content = fs::read_to_string(&target).unwrap_or_default();
                let expected_new = if op == Operation::EditFile {
                    &edited
                } else {
                    &new
                };
                if content == old {
                    report.old += 1;
                } else if &content == expected_new {
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
    // A restart (and its first write) cleans what the kills left.
    let mut server = RawStdio::spawn(bin, &[dir_arg])?;
    server.initialize()?;
    let answer = server.request(
        2,
        "tools/call",
        json!({"name": "write_file", "arguments": {
            "path": dir.join("after-restart.txt").display().to_string(), "content": "ok"}}),
    )?;
    if answer["result"]["isError"] == json!(true) {
        bail!("write after restart failed: {answer}");
    }
    server.close()?;
    report.temp_files_after_restart = temp_files(dir)?;
    Ok(report)
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
