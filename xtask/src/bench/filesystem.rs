//! mcp-filesystem beside the official Node server
//! (`@modelcontextprotocol/server-filesystem`, pinned in
//! xtask/peers/filesystem), on the same generated data, in one run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::client::{ServerCmd, Session, cold_start};
use super::{BenchArgs, ms, pinned, us, write_section};
use crate::util::{cargo, exec, npm_ci_pinned, project_root};

const PEER_ENTRY: &str = "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args(["build", "--release", "-p", "mcp-filesystem"]))?;
    let data = generate_data(args.tree_files)?;
    let root = data.display().to_string();
    let ours = ServerCmd::new(
        "mcp-filesystem",
        project_root().join("target/release/mcp-filesystem"),
        &[
            root.clone(),
            // The default caps protect clients; lift them so both servers
            // do the same work.
            "--max-tree-entries".into(),
            "10000000".into(),
            "--max-results".into(),
            "10000000".into(),
        ],
    );
    let mut servers = vec![ours];
    match install_peer() {
        Ok(entry) => servers.push(ServerCmd::new(
            "official (Node)",
            "node",
            &[entry.display().to_string(), root.clone()],
        )),
        Err(e) => {
            eprintln!("xtask: the official server is unavailable ({e:#}); measuring ours alone")
        }
    }

    let tree = data.join("tree").display().to_string();
    let big = data.join("big.txt").display().to_string();
    let image = data.join("image.png").display().to_string();
    let trivial = |id: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_allowed_directories","arguments":{{}}}}}}"#
        )
    };
    // (tool, arguments, runs): the median of `runs` fresh processes; more
    // for the quick ones, whose times this noisy machine scatters most.
    let heavy = [
        ("directory_tree", format!(r#"{{"path":"{tree}"}}"#), 7),
        (
            "search_files",
            format!(r#"{{"path":"{tree}","pattern":"**/*.md"}}"#),
            3,
        ),
        (
            "read_text_file",
            format!(r#"{{"path":"{big}","tail":10}}"#),
            11,
        ),
        ("read_media_file", format!(r#"{{"path":"{image}"}}"#), 11),
    ];

    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut push = |name: &str, values: Vec<String>| rows.push((name.to_owned(), values));
    let mut results: Vec<Results> = Vec::new();
    for server in &servers {
        eprintln!("xtask: measuring {}", server.label);
        let cold = cold_start(server, 10)?;
        let mut session = Session::start(server)?;
        let sequential = session.sequential(2_000, &trivial)?;
        let rate = session.pipelined(args.calls, 64, &trivial)?;
        let idle_rss = session.peak_rss_kib().unwrap_or(0);
        session.close();
        let mut ops = Vec::new();
        for (tool, arguments, runs) in &heavy {
            let request = format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
            );
            let mut times = Vec::new();
            let mut peak = 0;
            for _ in 0..*runs {
                let mut session = Session::start(server)?;
                times.push(
                    session
                        .call(&request)
                        .with_context(|| format!("{}: {tool}", server.label))?,
                );
                peak = peak.max(session.peak_rss_kib().unwrap_or(0));
                session.close();
            }
            times.sort();
            ops.push((times[times.len() / 2], peak));
        }
        results.push(Results {
            cold,
            sequential,
            rate,
            idle_rss,
            ops,
        });
    }

    let ratio = |ours: f64, peer: f64| {
        if peer > 0.0 && ours > 0.0 {
            format!("{:.1}x", peer / ours)
        } else {
            String::new()
        }
    };
    let cell = |f: &dyn Fn(&Results) -> f64, fmt: &dyn Fn(f64) -> String, lower_better: bool| {
        let mut v: Vec<String> = results.iter().map(|r| fmt(f(r))).collect();
        if results.len() == 2 {
            let (a, b) = (f(&results[0]), f(&results[1]));
            v.push(if lower_better {
                ratio(a, b)
            } else {
                ratio(b, a)
            });
        }
        v
    };
    push(
        "cold start to first tools/list answer (median of 10)",
        cell(&|r| ms(r.cold), &|v| format!("{v:.1} ms"), true),
    );
    push(
        "sequential trivial call, p50",
        cell(&|r| us(r.sequential.0), &|v| format!("{v:.0} us"), true),
    );
    push(
        "sequential trivial call, p99",
        cell(&|r| us(r.sequential.1), &|v| format!("{v:.0} us"), true),
    );
    push(
        "pipelined trivial calls, 64 in flight",
        cell(&|r| r.rate, &|v| format!("{v:.0}/s"), false),
    );
    push(
        "peak RSS after the trivial calls",
        cell(
            &|r| r.idle_rss as f64 / 1024.0,
            &|v| format!("{v:.1} MiB"),
            true,
        ),
    );
    let labels = [
        format!("directory_tree, {} files", args.tree_files),
        format!("search_files `**/*.md`, {} files", args.tree_files),
        "read_text_file tail 10 of 100 MiB".to_owned(),
        "read_media_file 8 MiB".to_owned(),
    ];
    for (i, label) in labels.iter().enumerate() {
        push(
            &format!("{label}: time (median of {})", heavy[i].2),
            cell(&|r| ms(r.ops[i].0), &|v| format!("{v:.1} ms"), true),
        );
        push(
            &format!("{label}: peak RSS"),
            cell(
                &|r| r.ops[i].1 as f64 / 1024.0,
                &|v| format!("{v:.1} MiB"),
                true,
            ),
        );
    }

    let mut t = format!(
        "## Filesystem: mcp-filesystem beside the official server{}\n\n",
        if pinned() { " (pinned)" } else { "" }
    );
    t.push_str("| measure |");
    for server in &servers {
        t.push_str(&format!(" {} |", server.label));
    }
    if servers.len() == 2 {
        t.push_str(" ours better by |");
    }
    t.push_str("\n|---|");
    for _ in 0..servers.len() + usize::from(servers.len() == 2) {
        t.push_str("---|");
    }
    t.push('\n');
    for (name, values) in &rows {
        t.push_str(&format!("| {name} | {} |\n", values.join(" | ")));
    }
    t.push_str(
        "\nEach heavy operation runs in a fresh process; its peak RSS is the whole process's. \
         `directory_tree` writes its JSON as the walk goes (no tree is built in memory) while \
         other threads read the next directories ahead. For 100,000 files the walk with its \
         JSON is about a third of the call; the rest is the answer itself: the 7.1 MB of JSON \
         sent twice (text content and `structuredContent`), escaped into one 16.6 MB line, \
         then the pipe. Its peak RSS is mostly that answer.\n",
    );
    println!("\n{t}");
    if !args.no_report {
        write_section("2-filesystem", &t)?;
    }
    Ok(())
}

struct Results {
    cold: Duration,
    sequential: (Duration, Duration),
    rate: f64,
    idle_rss: u64,
    /// (median time, peak RSS KiB) per heavy operation.
    ops: Vec<(Duration, u64)>,
}

fn install_peer() -> anyhow::Result<PathBuf> {
    let dir = project_root().join("target/peers/filesystem");
    npm_ci_pinned("xtask/peers/filesystem", &dir)?;
    Ok(dir.join(PEER_ENTRY))
}

/// target/bench-data/filesystem: a tree of `files` small files, a 100 MiB
/// text file and an 8 MiB image; made once and reused.
fn generate_data(files: usize) -> anyhow::Result<PathBuf> {
    let root = project_root().join("target/bench-data/filesystem");
    let marker = root.join(format!(".complete-{files}"));
    if marker.exists() {
        return Ok(root);
    }
    eprintln!("xtask: generating benchmark data in {}", root.display());
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let tree = root.join("tree");
    let per_dir = 1000;
    for i in 0..files {
        let dir = tree.join(format!("d{:03}", i / per_dir));
        if i % per_dir == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let ext = if i % 100 == 0 { "md" } else { "txt" };
        std::fs::write(dir.join(format!("f{i:06}.{ext}")), format!("file {i}\n"))?;
    }
    write_big_text(&root.join("big.txt"), 100 << 20)?;
    let mut image = b"\x89PNG\r\n\x1a\n".to_vec();
    image.extend((0..(8usize << 20)).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(root.join("image.png"), image)?;
    std::fs::write(&marker, "")?;
    Ok(root)
}

fn write_big_text(path: &Path, bytes: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0;
    let mut n = 0u64;
    while written < bytes {
        let line = format!("line {n}: the quick brown fox jumps over the lazy dog\n");
        out.write_all(line.as_bytes())?;
        written += line.len();
        n += 1;
    }
    out.flush()?;
    Ok(())
}
