//! mcp-text beside Python, in one run, on the same generated prose of 1 KiB
//! to 100 MiB: token counting beside `tiktoken` (pinned below, installed into
//! target/peers/text), regex search beside `re` and diff beside `difflib`.
//!
//! Ours is timed over stdio as a client sees it (request to answer, the
//! server reading the file named by `path`); the Python side is timed
//! in-process by xtask/peers/text/bench.py, reading the same file in each
//! timed call. tiktoken cannot download its vocabularies here: bench.py lets
//! it fill its cache directory from the copies inside the tiktoken-rs crate,
//! which it checks against the hashes it expects.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::client::{ServerCmd, Session};
use super::{BenchArgs, pinned, write_section};
use crate::util::{cargo, exec, pip_install_pinned, project_root};

/// The tiktoken release measured against.
const TIKTOKEN_VERSION: &str = "0.12.0";
/// Label, bytes, timed calls per measurement (the median is reported).
const SIZES: [(&str, usize, usize); 4] = [
    ("1 KiB", 1 << 10, 15),
    ("1 MiB", 1 << 20, 5),
    ("10 MiB", 10 << 20, 3),
    ("100 MiB", 100 << 20, 1),
];
const TOKENIZERS: [&str; 2] = ["cl100k_base", "o200k_base"];
/// Words ending in "ing": the same in Rust `regex` and Python `re`.
const PATTERN: &str = r"\b\w+ing\b";
/// difflib sizes expected to take longer than this are skipped.
const DIFF_BUDGET_SECONDS: u64 = 30;
/// Bump when the generated data changes.
const DATA_VERSION: u32 = 1;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args(["build", "--release", "-p", "mcp-text"]))?;
    let inputs = generate_data()?;
    let data = project_root().join("target/bench-data/text");
    let server = ServerCmd::new(
        "mcp-text",
        project_root().join("target/release/mcp-text"),
        &[
            data.display().to_string(),
            // The default 32 MiB cap protects clients; lift it for 100 MiB.
            "--max-input-bytes".into(),
            (1u64 << 30).to_string(),
        ],
    );

    eprintln!("xtask: measuring mcp-text");
    let ours = measure_ours(&server, &inputs)?;

    eprintln!("xtask: measuring Python");
    let (peer, peer_note) = match measure_python(&inputs) {
        Ok(peer) => (peer, None),
        Err(e) => {
            eprintln!("xtask: Python peers unavailable ({e:#}); measuring ours alone");
            (Python::default(), Some(format!("{e:#}")))
        }
    };

    let table = report(&inputs, &ours, &peer, peer_note.as_deref());
    println!("\n{table}");
    if !args.no_report {
        write_section("3-text", &table)?;
    }
    Ok(())
}

/// One generated input: the text, and a copy with about 1% of lines changed.
struct Input {
    label: &'static str,
    reps: usize,
    a: PathBuf,
    b: PathBuf,
}

/// An operation both sides run: its key in bench.py's output, its row
/// label, and the target ratio (Python time / ours).
struct Op {
    key: String,
    label: String,
    peer: &'static str,
    target: f64,
}

fn ops() -> Vec<Op> {
    let mut ops: Vec<Op> = TOKENIZERS
        .iter()
        .map(|t| Op {
            key: format!("tokens:{t}"),
            label: format!("token count, {t} (`text_stats`)"),
            peer: "tiktoken `len(enc.encode_ordinary(text))`",
            target: 1.0,
        })
        .collect();
    ops.push(Op {
        key: "search".into(),
        label: format!("regex search `{PATTERN}` (`search`)"),
        peer: "`re`: count of `finditer`",
        target: 10.0,
    });
    ops.push(Op {
        key: "diff".into(),
        label: "unified diff, ~1% of lines changed (`diff`)".into(),
        peer: "`difflib.unified_diff`",
        target: 10.0,
    });
    ops
}

/// A measured cell: the median time and a count to check the two sides
/// against each other, or why there is no time.
#[derive(Debug, Clone)]
enum Cell {
    Time(Duration, Option<u64>),
    Missing(String),
}

/// Ours: ops()[i] per input, then `text_stats` without tokenizers, and a
/// trivial call's round trip (the floor under every call).
struct Ours {
    cells: Vec<Vec<Cell>>,
    base: Vec<Cell>,
    floor: Cell,
}

fn measure_ours(server: &ServerCmd, inputs: &[Input]) -> anyhow::Result<Ours> {
    let mut session = Session::start(server)?;
    let mut id = 10;
    // Load the vocabularies and warm the caches outside the timings (the
    // Python side loads its encoders before timing too).
    for op in ops() {
        let request = request(&op.key, &inputs[0]);
        call(&mut session, &mut id, &request)?
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("warm-up of {}", op.key))?;
    }
    let trivial = ("hash", json!({"text": "x", "algorithm": "sha256"}));
    let floor = measure(&mut session, &mut id, &trivial, 31, |_| None)?;
    let mut cells = Vec::new();
    let mut base = Vec::new();
    for input in inputs {
        let mut row = Vec::new();
        for op in ops() {
            let cell = measure(
                &mut session,
                &mut id,
                &request(&op.key, input),
                ours_reps(input),
                |v| count_of(&op.key, v),
            )?;
            eprintln!("mcp-text: {} {}: {cell:?}", input.label, op.key);
            row.push(cell);
        }
        cells.push(row);
        base.push(measure(
            &mut session,
            &mut id,
            &request("stats", input),
            ours_reps(input),
            |_| None,
        )?);
    }
    session.close();
    Ok(Ours { cells, base, floor })
}

/// The tool and arguments for operation `key` on `input`.
fn request(key: &str, input: &Input) -> (&'static str, Value) {
    let a = input.a.display().to_string();
    let b = input.b.display().to_string();
    match key {
        "search" => (
            "search",
            json!({"path": a, "pattern": PATTERN, "regex": true}),
        ),
        "diff" => ("diff", json!({"path_a": a, "path_b": b})),
        "stats" => ("text_stats", json!({"path": a, "tokenizers": []})),
        tokens => (
            "text_stats",
            json!({"path": a, "tokenizers": [tokens.trim_start_matches("tokens:")]}),
        ),
    }
}

/// What the answer counted, to compare with Python's count.
fn count_of(key: &str, result: &Value) -> Option<u64> {
    let data = result.get("structuredContent")?;
    match key {
        "search" => data.pointer("/page/total")?.as_u64(),
        "diff" => Some(data.get("added")?.as_u64()? + data.get("removed")?.as_u64()?),
        tokens => data
            .get("tokens")?
            .get(tokens.trim_start_matches("tokens:"))?
            .as_u64(),
    }
}

/// Our calls per measurement: at least 3, since a lone first call at a
/// size can pay the kernel for assembling huge pages (up to twice the
/// steady time at 100 MiB here); Python's largest sizes take too long to
/// repeat.
fn ours_reps(input: &Input) -> usize {
    input.reps.max(3)
}

/// Median of `reps` calls; a tool error becomes a missing cell with its
/// message (a refusal is a result too).
fn measure(
    session: &mut Session,
    id: &mut u64,
    request: &(&str, Value),
    reps: usize,
    count: impl Fn(&Value) -> Option<u64>,
) -> anyhow::Result<Cell> {
    let mut times = Vec::with_capacity(reps);
    let mut counted = None;
    for _ in 0..reps {
        match call(session, id, request)? {
            Ok((time, result)) => {
                times.push(time);
                counted = count(&result);
            }
            Err(message) => return Ok(Cell::Missing(format!("refused: {message}"))),
        }
    }
    times.sort();
    Ok(Cell::Time(times[times.len() / 2], counted))
}

/// One `tools/call`; skips notifications until the answer. The inner error
/// is the tool's own (`isError`), the outer one a broken session.
pub(super) fn call(
    session: &mut Session,
    id: &mut u64,
    (tool, arguments): &(&str, Value),
) -> anyhow::Result<Result<(Duration, Value), String>> {
    *id += 1;
    let request = json!({
        "jsonrpc": "2.0",
        "id": *id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    })
    .to_string();
    let start = Instant::now();
    session.send(&request)?;
    let answer: Value = loop {
        session.recv()?;
        let message: Value = serde_json::from_str(&session.line)
            .with_context(|| format!("not JSON: {}", session.line))?;
        if message.get("id").and_then(Value::as_u64) == Some(*id) {
            break message;
        }
    };
    let elapsed = start.elapsed();
    if let Some(error) = answer.get("error") {
        bail!("{tool}: JSON-RPC error {error}");
    }
    let result = answer.get("result").cloned().unwrap_or(Value::Null);
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = result
            .pointer("/content/0/text")
            .and_then(Value::as_str)
            .unwrap_or("(no message)");
        return Ok(Err(text.to_owned()));
    }
    Ok(Ok((elapsed, result)))
}

/// Python's results: versions, and cells per input and op (by key).
#[derive(Default)]
struct Python {
    python: String,
    tiktoken: Option<String>,
    cells: Vec<Vec<(String, Cell)>>,
}

impl Python {
    fn cell(&self, input: usize, key: &str) -> Cell {
        self.cells
            .get(input)
            .and_then(|row| row.iter().find(|(k, _)| k == key))
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| Cell::Missing("not measured".into()))
    }
}

fn measure_python(inputs: &[Input]) -> anyhow::Result<Python> {
    let peers = project_root().join("target/peers/text");
    let site = install_tiktoken(&peers)?;
    let cache = peers.join("tiktoken-cache");
    let script = project_root().join("xtask/peers/text/bench.py");
    let python = |args: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(args)
            .env("PYTHONPATH", &site)
            .env("TIKTOKEN_CACHE_DIR", &cache)
            .stderr(Stdio::inherit());
        cmd
    };
    let tiktoken = match tiktoken_assets() {
        Ok(assets) => {
            let out = python(&["setup", &assets.display().to_string()]).output()?;
            if out.status.success() {
                true
            } else {
                eprintln!(
                    "xtask: tiktoken's cache could not be filled from {} (see above); \
                     no token-count peer",
                    assets.display()
                );
                false
            }
        }
        Err(e) => {
            eprintln!("xtask: {e:#}; no token-count peer");
            false
        }
    };
    let spec = json!({
        "pattern": PATTERN,
        "diff_budget_seconds": DIFF_BUDGET_SECONDS,
        "tiktoken": tiktoken,
        "sizes": inputs.iter().map(|i| json!({
            "label": i.label,
            "reps": i.reps,
            "a": i.a.display().to_string(),
            "b": i.b.display().to_string(),
        })).collect::<Vec<_>>(),
    });
    let spec_path = peers.join("spec.json");
    std::fs::write(&spec_path, spec.to_string())?;
    let out = python(&["run", &spec_path.display().to_string()]).output()?;
    if !out.status.success() {
        bail!("bench.py run failed with {}", out.status);
    }
    let mut result = Python {
        cells: inputs.iter().map(|_| Vec::new()).collect(),
        ..Python::default()
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let row: Value = serde_json::from_str(line).with_context(|| format!("bench.py: {line}"))?;
        let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
        let op = text("op").unwrap_or_default();
        if op == "info" {
            result.python = text("python").unwrap_or_default();
            result.tiktoken = tiktoken.then(|| text("tiktoken").unwrap_or_default());
            continue;
        }
        let Some(index) = inputs
            .iter()
            .position(|i| Some(i.label) == text("size").as_deref())
        else {
            continue;
        };
        let cell = match (row.get("seconds").and_then(Value::as_f64), text("skipped")) {
            (Some(s), _) => Cell::Time(
                Duration::from_secs_f64(s),
                row.get("count").and_then(Value::as_u64),
            ),
            (None, skipped) => Cell::Missing(skipped.unwrap_or_else(|| "no result".into())),
        };
        result.cells[index].push((op, cell));
    }
    Ok(result)
}

/// Installs the pinned tiktoken into target/peers/text/python; returns
/// that directory (for PYTHONPATH).
fn install_tiktoken(peers: &Path) -> anyhow::Result<PathBuf> {
    let site = peers.join("python");
    pip_install_pinned(&site, "tiktoken", TIKTOKEN_VERSION)?;
    Ok(site)
}

/// The vocabulary files inside the tiktoken-rs crate that mcp-text is built
/// with (the version in Cargo.lock), in cargo's registry sources.
fn tiktoken_assets() -> anyhow::Result<PathBuf> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock"))?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"tiktoken-rs\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .context("tiktoken-rs is not in Cargo.lock")?;
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    for registry in std::fs::read_dir(home.join("registry/src"))? {
        let assets = registry?
            .path()
            .join(format!("tiktoken-rs-{version}/assets"));
        if TOKENIZERS
            .iter()
            .all(|t| assets.join(format!("{t}.tiktoken")).exists())
        {
            return Ok(assets);
        }
    }
    bail!("the sources of tiktoken-rs {version} are not in cargo's registry")
}

fn report(inputs: &[Input], ours: &Ours, peer: &Python, peer_note: Option<&str>) -> String {
    let mut t = format!(
        "## Text: mcp-text beside Python{}\n\n",
        if pinned() { " (pinned)" } else { "" }
    );
    t.push_str(&format!(
        "Python {}{}; generated prose (~80-character lines), diffed against a copy with ~1% \
         of lines changed. Times are medians of {} calls (1 KiB, 1 MiB, 10 MiB, 100 MiB; ours at least 3). \
         Ours is the whole call over stdio, the server reading the file named by `path`; \
         Python is timed in-process, reading the same file in each timed call. \
         *faster by* is Python's time over ours.\n\n",
        if peer.python.is_empty() {
            "(not run)"
        } else {
            &peer.python
        },
        peer.tiktoken
            .as_deref()
            .map(|v| format!(
                ", tiktoken {v} (vocabularies from the tiktoken-rs crate, same sha256)"
            ))
            .unwrap_or_default(),
        inputs
            .iter()
            .map(|i| i.reps.to_string())
            .collect::<Vec<_>>()
            .join("/"),
    ));
    if let Some(note) = peer_note {
        t.push_str(&format!("Python peers unavailable: {note}.\n\n"));
    }
    t.push_str("| operation | size | mcp-text | Python | faster by | target | same count |\n");
    t.push_str("|---|---|---|---|---|---|---|\n");
    let mut misses = Vec::new();
    for (o, op) in ops().iter().enumerate() {
        for (i, input) in inputs.iter().enumerate() {
            let mine = &ours.cells[i][o];
            let theirs = peer.cell(i, &op.key);
            let (ratio, status, same) = match (mine, &theirs) {
                (Cell::Time(a, ca), Cell::Time(b, cb)) => {
                    let r = b.as_secs_f64() / a.as_secs_f64();
                    let status = if r >= op.target {
                        "met".to_owned()
                    } else {
                        misses.push(format!(
                            "{} at {}: {r:.2}x of {}x",
                            op.key, input.label, op.target
                        ));
                        format!("**missed**: ours needs {:.1}x less time", op.target / r)
                    };
                    let same = match (ca, cb) {
                        (Some(x), Some(y)) if x == y => format!("yes ({x})"),
                        (Some(x), Some(y)) => format!("no: {x} / {y}"),
                        _ => String::new(),
                    };
                    (format!("{r:.1}x"), status, same)
                }
                _ => (String::new(), String::new(), String::new()),
            };
            let label = if i == 0 {
                format!("{} vs {}", op.label, op.peer)
            } else {
                String::new()
            };
            t.push_str(&format!(
                "| {label} | {} | {} | {} | {ratio} | >= {}x: {status} | {same} |\n",
                input.label,
                show(mine),
                show(&theirs),
                op.target,
            ));
        }
    }
    for (i, input) in inputs.iter().enumerate() {
        let label = if i == 0 {
            "`text_stats` with `tokenizers: []` (its other counts; included in the token rows)"
        } else {
            ""
        };
        t.push_str(&format!(
            "| {label} | {} | {} | | | | |\n",
            input.label,
            show(&ours.base[i])
        ));
    }
    t.push_str(
        "\n`text_stats` always also counts characters, grapheme clusters, words, sentences and \
         lines (the last rows), which tiktoken does not; the token rows include that work. \
         For diff, *same count* compares changed lines (ours: added + removed; difflib: `+`/`-` \
         lines); both are valid diffs and may differ. difflib sizes that would take over \
         30 s at the rate of the size before are skipped. At 1 KiB ours is mostly the stdio \
         round trip and opening the file (Python's side has no process boundary to cross); the \
         server keeps compiled patterns, as Python compiles its pattern once before timing.\n",
    );
    t.push_str(&format!(
        "\nThe floor under every row of ours: a trivial call (`hash` of one byte) took {} \
         (median of 31) in the same session.\n",
        show(&ours.floor)
    ));
    if !misses.is_empty() {
        t.push_str(&format!("\nTargets missed: {}.\n", misses.join("; ")));
    }
    t
}

fn show(cell: &Cell) -> String {
    match cell {
        Cell::Time(d, _) => {
            let s = d.as_secs_f64();
            if s < 1e-3 {
                format!("{:.0} us", s * 1e6)
            } else if s < 1.0 {
                format!("{:.1} ms", s * 1e3)
            } else {
                format!("{s:.2} s")
            }
        }
        Cell::Missing(why) => why.replace('|', "\\|").replace('\n', " "),
    }
}

/// target/bench-data/text: for each size, `SIZE-a.txt` (prose) and
/// `SIZE-b.txt` (the same with ~1% of lines changed, deleted or inserted);
/// made once and reused. The smaller files are prefixes of the larger.
fn generate_data() -> anyhow::Result<Vec<Input>> {
    let root = project_root().join("target/bench-data/text");
    let inputs: Vec<Input> = SIZES
        .iter()
        .map(|&(label, _, reps)| {
            let slug = label.replace(' ', "").to_lowercase();
            Input {
                label,
                reps,
                a: root.join(format!("{slug}-a.txt")),
                b: root.join(format!("{slug}-b.txt")),
            }
        })
        .collect();
    let marker = root.join(format!(".complete-{DATA_VERSION}"));
    if marker.exists() {
        return Ok(inputs);
    }
    eprintln!("xtask: generating benchmark data in {}", root.display());
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    let mut files = Vec::new();
    for (input, &(_, bytes, _)) in inputs.iter().zip(&SIZES) {
        let open = |p: &Path| -> anyhow::Result<_> {
            Ok(std::io::BufWriter::new(std::fs::File::create(p)?))
        };
        files.push((bytes, 0usize, open(&input.a)?, open(&input.b)?));
    }
    let mut prose = Prose::new(0x5eed);
    let mut edits = Lcg(0xd1ff);
    let mut n = 0u64;
    while files.iter().any(|f| f.1 < f.0) {
        let line = prose.line();
        let r = edits.next() % 300;
        // Always one change early, so even 1 KiB has something to diff.
        let (a, b) = match r {
            _ if n == 5 => (line.clone(), format!("{line} (revised)")),
            0 => (line.clone(), line.replacen(' ', " indeed ", 1)),
            1 => (line, String::new()),
            2 => (line.clone(), format!("{line}\n{}", prose.line())),
            _ => (line.clone(), line),
        };
        for (limit, written, fa, fb) in &mut files {
            if *written >= *limit {
                continue;
            }
            writeln!(fa, "{a}")?;
            if !b.is_empty() || a.is_empty() {
                writeln!(fb, "{b}")?;
            }
            *written += a.len() + 1;
        }
        n += 1;
    }
    for (_, _, mut fa, mut fb) in files {
        fa.flush()?;
        fb.flush()?;
    }
    std::fs::write(&marker, "")?;
    Ok(inputs)
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "she", "this", "are", "or", "his", "her", "from", "at", "which", "but",
    "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "year", "people",
    "way", "day", "man", "woman", "child", "world", "life", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "government", "number", "night", "point", "home",
    "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study",
    "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service",
    "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city",
    "community", "name", "president", "team", "minute", "idea", "kid", "body", "information",
    "back", "parent", "face", "others", "level", "office", "door", "health", "person", "art", "war",
    "history", "party", "result", "change", "morning", "reason", "research", "girl", "guy",
    "moment", "air", "teacher", "force", "education", "running", "thinking", "building", "morning",
    "evening", "nothing", "something", "being", "making", "reading", "writing", "during",
    "according", "bring", "string", "king", "spring", "looking", "working", "going", "coming",
    "saying", "everything", "meeting", "feeling", "good", "new", "first", "last", "long", "great",
    "little", "own", "other", "old", "big", "high", "different", "small", "large", "next", "early",
    "young", "important", "few", "public", "bad", "same", "able", "quickly", "slowly", "however",
    "therefore", "because", "although", "between", "through", "without", "again", "never", "always",
    "often", "still", "café", "naïve", "résumé",
];

/// Deterministic prose: sentences of random words, wrapped at ~80
/// characters, in paragraphs separated by blank lines.
struct Prose {
    rng: Lcg,
    words: std::collections::VecDeque<String>,
    blank_next: bool,
}

impl Prose {
    fn new(seed: u64) -> Self {
        Self {
            rng: Lcg(seed),
            words: Default::default(),
            blank_next: false,
        }
    }

    fn line(&mut self) -> String {
        if std::mem::take(&mut self.blank_next) {
            return String::new();
        }
        let mut line = String::new();
        loop {
            if self.words.is_empty() {
                self.sentence();
            }
            let word = &self.words[0];
            if !line.is_empty() && line.len() + 1 + word.len() > 80 {
                return line;
            }
            if !line.is_empty() {
                line.push(' ');
            }
            let word = self.words.pop_front().unwrap_or_default();
            let paragraph_end = word.ends_with(".\n");
            line.push_str(word.trim_end_matches('\n'));
            if paragraph_end {
                self.blank_next = true;
                return line;
            }
        }
    }

    /// Queues the words of one sentence; "\n" after the final period ends
    /// the paragraph.
    fn sentence(&mut self) {
        let len = 4 + self.rng.next() % 15;
        for i in 0..len {
            let mut word = WORDS[self.rng.next() as usize % WORDS.len()].to_owned();
            if i == 0 {
                word = word[..1].to_uppercase() + &word[1..];
            }
            if i + 1 == len {
                word.push('.');
                if self.rng.next().is_multiple_of(6) {
                    word.push('\n');
                }
            } else if self.rng.next().is_multiple_of(12) {
                word.push(',');
            }
            self.words.push_back(word);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_is_deterministic_and_wrapped() {
        let lines = |seed| {
            let mut p = Prose::new(seed);
            (0..200).map(|_| p.line()).collect::<Vec<_>>()
        };
        let a = lines(1);
        assert_eq!(a, lines(1));
        assert!(a.iter().all(|l| l.chars().count() <= 80), "{a:?}");
        assert!(a.iter().any(String::is_empty), "paragraphs");
        assert!(a.iter().any(|l| l.contains("ing")));
    }

    #[test]
    fn every_op_builds_a_request() {
        let input = Input {
            label: "1 KiB",
            reps: 1,
            a: "/d/a.txt".into(),
            b: "/d/b.txt".into(),
        };
        for op in ops() {
            let (tool, args) = request(&op.key, &input);
            assert!(["text_stats", "search", "diff"].contains(&tool));
            assert!(args.get("path").or(args.get("path_a")).is_some());
        }
        let (_, args) = request("tokens:o200k_base", &input);
        assert_eq!(args["tokenizers"], json!(["o200k_base"]));
        let result = json!({"structuredContent": {"tokens": {"o200k_base": 7}}});
        assert_eq!(count_of("tokens:o200k_base", &result), Some(7));
    }
}
