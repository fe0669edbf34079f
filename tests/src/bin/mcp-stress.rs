//! mcp-stress: the long reliability runs behind `cargo xtask stress` and
//! `cargo xtask load`: the protocol fuzzer, kill -9 crash rounds and HTTP
//! load against every server; prints a Markdown report section.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mcp_servers_tests::crash::{Operation, crash_rounds};
use mcp_servers_tests::fuzz::{
    BoundaryConfig, BoundaryReport, FuzzConfig, Transport, boundary, fuzz_http, fuzz_stdio,
};
use mcp_servers_tests::load::{LoadConfig, load_http};
use mcp_servers_tests::{RawStdio, memory_kib};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "mcp-stress",
    about = "Fuzz, crash and load runs against the servers"
)]
struct Cli {
    /// Where the server binaries are (target/release or target/debug).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Servers to run against (default: all four).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "filesystem,image,text,everything"
    )]
    servers: Vec<String>,
    /// Write the Markdown section here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    run: Run,
}

#[derive(Subcommand)]
enum Run {
    /// Fuzz every server over stdio and HTTP.
    Fuzz {
        #[arg(long, default_value_t = 10_000)]
        frames: usize,
        #[arg(long, default_value_t = 0x5EED)]
        seed: u64,
    },
    /// kill -9 the servers during the operations that write files.
    Crash {
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Hostile images (bombs, truncated, corrupt, absurd frame counts)
    /// through mcp-image's tools: clear errors, bounded memory.
    Images,
    /// Every parameter of every tool at and past its edges (numbers, empty
    /// and cap-sized strings, unknown enum values, deeply nested documents).
    Boundary {
        /// The servers' --max-message-bytes (large strings fill it).
        #[arg(long, default_value_t = mcp_servers_core::cli::DEFAULT_MAX_MESSAGE_BYTES)]
        max_message_bytes: usize,
        /// Nesting depths of the documents.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1000,10000,100000,1000000"
        )]
        depths: Vec<usize>,
        /// The CI subset (fewer numbers, one generic document family).
        #[arg(long)]
        short: bool,
        /// Only these tools (default: every tool).
        #[arg(long, value_delimiter = ',')]
        tools: Vec<String>,
        /// Transports to run over.
        #[arg(long, value_delimiter = ',', default_value = "stdio,http")]
        transports: Vec<String>,
        /// Peak RSS a server may reach, in MiB.
        #[arg(long, default_value_t = 1024)]
        rss_limit_mib: u64,
        /// Print every call and its outcome to stderr.
        #[arg(long)]
        verbose: bool,
    },
    /// Concurrent HTTP sessions calling a tool, stateful and stateless.
    Load {
        #[arg(long, default_value_t = 200)]
        sessions: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = match &cli.run {
        Run::Fuzz { frames, seed } => runtime.block_on(fuzz(&cli, *frames, *seed)),
        Run::Crash { rounds } => crash(&cli, *rounds),
        Run::Images => images(&cli),
        Run::Boundary {
            max_message_bytes,
            depths,
            short,
            tools,
            transports,
            rss_limit_mib,
            verbose,
        } => {
            let config = BoundaryConfig {
                max_message_bytes: *max_message_bytes,
                depths: depths.clone(),
                short: *short,
                rss_limit_kib: rss_limit_mib * 1024,
                rss_kill_kib: 2 * rss_limit_mib * 1024,
                tools: tools.clone(),
                verbose: *verbose,
                ..BoundaryConfig::full()
            };
            runtime.block_on(boundary_runs(&cli, &config, transports))
        }
        Run::Load { sessions, seconds } => runtime.block_on(load(&cli, *sessions, *seconds)),
    };
    match result {
        Ok((markdown, clean)) => {
            match &cli.out {
                Some(path) => {
                    if let Err(e) = std::fs::write(path, &markdown) {
                        eprintln!("mcp-stress: cannot write {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
                None => print!("{markdown}"),
            }
            if clean {
                ExitCode::SUCCESS
            } else {
                eprintln!("mcp-stress: failures found (see the report)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("mcp-stress: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bin(cli: &Cli, server: &str) -> PathBuf {
    cli.bin_dir.join(format!("mcp-{server}"))
}

/// The directory argument a server gets (everything takes none).
fn server_args(server: &str, dir: &Path) -> Vec<String> {
    match server {
        "everything" => vec![],
        _ => vec![dir.display().to_string()],
    }
}

async fn fuzz(cli: &Cli, frames: usize, seed: u64) -> anyhow::Result<(String, bool)> {
    let mut md = format!(
        "## Protocol fuzzing\n\n`mcp-stress fuzz --frames {frames} --seed {seed:#x}`: malformed and \
         mutated frames (tests/src/fuzz.rs) to each server, a `tools/list` health probe after \
         every 100. A failure is a crash, a hang (no answer in 30 s), a non-JSON stdout line \
         or an HTTP 5xx. RSS is the server's, after initialization and at its peak.\n\n\
         | server | transport | frames | probes | failures | RSS start | RSS peak | time | HTTP statuses |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    let mut clean = true;
    let config = FuzzConfig {
        seed,
        frames,
        ..FuzzConfig::default()
    };
    for server in &cli.servers {
        for transport in ["stdio", "http"] {
            let dir = tempfile::tempdir()?;
            let args = server_args(server, dir.path());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let report = if transport == "stdio" {
                fuzz_stdio(&bin(cli, server), &args, config)?
            } else {
                fuzz_http(&bin(cli, server), &args, config).await?
            };
            eprintln!("fuzz {server} {transport}: {report:?}");
            clean &= report.failures.is_empty();
            let statuses: Vec<String> = report
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            md.push_str(&format!(
                "| {server} | {transport} | {} | {} | {} | {:.1} MB | {:.1} MB | {:.1} s | {} |\n",
                report.frames,
                report.probes,
                report.failures.len(),
                report.rss_start_kib as f64 / 1024.0,
                report.rss_peak_kib as f64 / 1024.0,
                report.elapsed.as_secs_f64(),
                statuses.join(", ")
            ));
            for failure in report.failures.iter().take(3) {
                md.push_str(&format!("\n> {}\n", failure.replace('\n', " ")));
            }
        }
    }
    Ok((md, clean))
}

async fn boundary_runs(
    cli: &Cli,
    config: &BoundaryConfig,
    transports: &[String],
) -> anyhow::Result<(String, bool)> {
    let depths: Vec<String> = config.depths.iter().map(|d| format!("{d}")).collect();
    let mut md = format!(
        "## Boundary values\n\n`mcp-stress boundary{}` (tests/src/fuzz.rs, boundary mode): \
         every tool of each server's `tools/list`, each parameter in turn (the others at \
         minimal valid values, paths naming a small text file, a 16x16 PNG or a directory \
         in the server's allowed directory): numbers at 0, -1, 1, 2^31, 2^53, 2^63, 1e15 and \
         one past the schema's bounds; strings empty and of `A`s filling the message cap \
         (`--max-message-bytes {}`); enums, declared or listed in the description, at an \
         unknown value; document parameters (`text`, `content`, `a`, `b`) nested {} deep, in \
         the formats of the tool (JSON, YAML flow and block, TOML inline tables, arrays and \
         dotted keys for `json`; `<div>`, `<b><i>`, `<ul><li>`, `<blockquote>` for \
         `html_to_markdown`; `>` quotes and nested lists for `markdown`) under each `action` \
         or `mode`, where they fit under the cap. After every call the server must still \
         answer `tools/list`. A failure is a call without an answer within {} s (the servers \
         run with `--max-call-seconds {}`), the process exiting, a non-JSON stdout line, an \
         HTTP 5xx, a panic (even one answered as a tool error) or a peak RSS (VmHWM) over \
         {} MiB (a server passing twice that during a call is killed, to spare the machine). \
         *Answers*: results / tool errors / JSON-RPC errors.\n\n\
         | server | transport | calls | answers | failures | peak RSS | time |\n\
         |---|---|---|---|---|---|---|\n",
        if config.short { " --short" } else { "" },
        config.max_message_bytes,
        depths.join(", "),
        config.deadline.as_secs(),
        config.max_call_seconds,
        config.rss_limit_kib / 1024,
    );
    let mut clean = true;
    let mut details = String::new();
    for server in &cli.servers {
        for transport in transports {
            let transport = match transport.as_str() {
                "stdio" => Transport::Stdio,
                "http" => Transport::Http,
                other => anyhow::bail!("unknown transport {other:?} (stdio or http)"),
            };
            let dir = tempfile::tempdir()?;
            let args = server_args(server, dir.path());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let report = boundary(&bin(cli, server), &args, dir.path(), transport, config).await?;
            let name = transport.name();
            eprintln!(
                "boundary {server} {name}: {} calls, {} failures, peak {} KiB, {:.1} s",
                report.calls,
                report.failures.len(),
                report.rss_peak_kib,
                report.elapsed.as_secs_f64()
            );
            for failure in &report.failures {
                eprintln!("  FAIL {failure}");
            }
            clean &= report.failures.is_empty();
            md.push_str(&format!(
                "| {server} | {name} | {} | {} / {} / {} | {} | {:.1} MB | {:.1} s |\n",
                report.calls,
                report.results,
                report.tool_errors,
                report.rpc_errors,
                report.failures.len(),
                report.rss_peak_kib as f64 / 1024.0,
                report.elapsed.as_secs_f64()
            ));
            details.push_str(&boundary_details(server, name, &report));
        }
    }
    md.push_str(&details);
    Ok((md, clean))
}

/// The failures (each reproducible from its line) and slow calls of a run.
fn boundary_details(server: &str, transport: &str, report: &BoundaryReport) -> String {
    let mut md = String::new();
    if !report.failures.is_empty() {
        md.push_str(&format!(
            "\n**mcp-{server} over {transport}: {} failures**\n\n",
            report.failures.len()
        ));
        for failure in &report.failures {
            md.push_str(&format!(
                "- `{}` `{}`: {}\n",
                failure.tool,
                failure.arguments.replace('`', "'"),
                failure.what.replace('\n', " ")
            ));
        }
    }
    if !report.stopped_at_deadline.is_empty() {
        md.push_str(&format!(
            "\nmcp-{server} over {transport}: calls the server stopped at its \
             --max-call-seconds deadline (answered, with an error): {}\n",
            report.stopped_at_deadline.join("; ")
        ));
    }
    if !report.slow.is_empty() {
        md.push_str(&format!(
            "\nmcp-{server} over {transport}: calls over 5 s (answered in time): {}\n",
            report.slow.join("; ")
        ));
    }
    md
}

fn crash(cli: &Cli, rounds: usize) -> anyhow::Result<(String, bool)> {
    let mut md = format!(
        "## Crash consistency\n\n`mcp-stress crash --rounds {rounds}`: the server is killed \
         with SIGKILL at a point spread over one uninterrupted operation on a 4 MiB file \
         (measured first: the window), {rounds} times per operation: mcp-filesystem's writes, \
         edits and moves, mcp-text's `replace` on a file, mcp-image's `transform` of a 4 MiB \
         BMP to PNG over an existing `output_path`. Every file must be its old or its new \
         self; temporary files left by the kills (plus one planted, as from a kill between \
         the temporary file and the rename) must be gone after one restart.\n\n\
         | server | operation | rounds | window | old after kill | new after kill | corrupt | temp files after kills | after restart |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    let mut clean = true;
    for op in Operation::ALL {
        if !cli.servers.iter().any(|s| s == op.server()) {
            continue;
        }
        let dir = tempfile::tempdir()?;
        let dir = dir.path().canonicalize()?;
        let report = crash_rounds(&bin(cli, op.server()), &dir, op, rounds, 4 << 20, 0xC4A5)?;
        eprintln!("crash {}: {report:?}", op.name());
        clean &= report.corrupt.is_empty() && report.temp_files_after_restart == 0;
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} ms | {} | {} | {} | {} | {} |\n",
            op.server(),
            op.name(),
            report.rounds,
            report.window.as_secs_f64() * 1e3,
            report.old,
            report.new,
            report.corrupt.len(),
            report.temp_files_after_kills,
            report.temp_files_after_restart
        ));
    }
    Ok((md, clean))
}

/// The call each server gets under load.
fn load_call(server: &str, dir: &Path) -> anyhow::Result<(String, Value)> {
    Ok(match server {
        "filesystem" => {
            std::fs::write(dir.join("load.txt"), "load test file\n".repeat(64))?;
            (
                "read_text_file".into(),
                json!({"path": dir.join("load.txt").display().to_string()}),
            )
        }
        "image" => (
            "image_info".into(),
            json!({"data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="}),
        ),
        "text" => (
            "hash".into(),
            json!({"text": "the quick brown fox", "algorithm": "sha256"}),
        ),
        _ => ("test_simple_text".into(), json!({})),
    })
}

async fn load(cli: &Cli, sessions: usize, seconds: u64) -> anyhow::Result<(String, bool)> {
    let mut md = format!(
        "## Load\n\n`mcp-stress load --sessions {sessions} --seconds {seconds}`: {sessions} \
         concurrent clients over loopback HTTP, each its own session (or none, stateless), \
         calling one tool back to back for {seconds} s with the bearer token on; half end \
         their session with DELETE, half vanish and are reaped by `--session-idle-timeout`. \
         A failure is any answer that is not HTTP 200 with the call's own successful result. \
         Requests without the token must all get 401. *After*: once the idle timeout has \
         passed and the server has been quiet for {quiet} s (it then hands its free heap back \
         to the OS); *sessions left*: what its /health still counts then.\n\n\
         | server | mode | calls | failures | p50 | p99 | max | RSS before | RSS peak | RSS after | sessions left | 401 without token | vanished sessions reaped |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        quiet = mcp_servers_core::heap::QUIET.as_secs()
    );
    let mut clean = true;
    for server in &cli.servers {
        for stateless in [false, true] {
            let dir = tempfile::tempdir()?;
            let dir_path = dir.path().canonicalize()?;
            let args = server_args(server, &dir_path);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (tool, arguments) = load_call(server, &dir_path)?;
            let config = LoadConfig {
                sessions,
                duration: Duration::from_secs(seconds),
                stateless,
                tool,
                arguments,
                settle: Duration::from_secs(8),
            };
            let report = load_http(&bin(cli, server), &args, &config).await?;
            eprintln!("load {server} stateless={stateless}: {report:?}");
            clean &= report.failures == 0
                && report.sessions_left == 0
                && report.unauthorized.0 == report.unauthorized.1
                && report.reaped.0 == report.reaped.1;
            md.push_str(&format!(
                "| {server} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.1} ms | {:.1} MB | {:.1} MB | {:.1} MB | {} | {}/{} | {}/{} |\n",
                if stateless { "stateless" } else { "sessions" },
                report.calls,
                report.failures,
                report.p50.as_secs_f64() * 1e3,
                report.p99.as_secs_f64() * 1e3,
                report.max.as_secs_f64() * 1e3,
                report.rss_before_kib as f64 / 1024.0,
                report.rss_peak_kib as f64 / 1024.0,
                report.rss_after_kib as f64 / 1024.0,
                report.sessions_left,
                report.unauthorized.1,
                report.unauthorized.0,
                report.reaped.1,
                report.reaped.0
            ));
            for example in &report.examples {
                md.push_str(&format!("\n> {}\n", example.replace('\n', " ")));
            }
        }
    }
    Ok((md, clean))
}

/// A 1x1 RGBA PNG.
const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x05, 0x02, 0x00, 0x5f, 0xc8, 0xf1, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The 1x1 PNG with its header claiming `w` x `h` (checksum fixed).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = PIXEL_PNG.to_vec();
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A GIF of `frames` 1x1 frames.
fn gif_with_frames(frames: usize) -> Vec<u8> {
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00".to_vec();
    for _ in 0..frames {
        gif.extend_from_slice(b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
    }
    gif.push(b';');
    gif
}

fn images(cli: &Cli) -> anyhow::Result<(String, bool)> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().canonicalize()?;
    let mut corrupt_jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    let mut rng = mcp_servers_tests::fuzz::Rng::new(7);
    corrupt_jpeg.extend((0..20_000).map(|_| rng.below(256) as u8));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "PNG claiming 100000x100000 (bomb)",
            png_claiming(100_000, 100_000),
        ),
        ("PNG claiming 30000x30000", png_claiming(30_000, 30_000)),
        ("PNG truncated inside IDAT", PIXEL_PNG[..45].to_vec()),
        ("JPEG header then 20 KB of noise", corrupt_jpeg),
        ("GIF with 100,000 frames", gif_with_frames(100_000)),
        ("empty file", Vec::new()),
    ];
    let bin = bin(cli, "image");
    let mut server = RawStdio::spawn(&bin, &[root.to_str().unwrap_or_default()])?;
    server.initialize()?;
    let idle = memory_kib(server.pid(), "VmRSS").unwrap_or(0);
    let mut md = String::from(
        "## Hostile images\n\n`mcp-stress images`: each file through mcp-image's `image_info` \
         (header only), `transform` (a full decode and resize) and `prepare_for_model`, with the \
         default limits, in one server process. Every decode must be a tool error naming the \
         problem (image_info may describe an intact header); the process's peak RSS (VmHWM) shows what the attempts cost.\n\n\
         | input | image_info | transform | prepare_for_model |\n|---|---|---|---|\n",
    );
    let mut clean = true;
    let mut id = 10;
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let path = root.join(format!("hostile-{i}.img"));
        std::fs::write(&path, bytes)?;
        let path = path.display().to_string();
        let out = root.join(format!("out-{i}.png")).display().to_string();
        md.push_str(&format!("| {name} ({} bytes) |", bytes.len()));
        for (tool, arguments) in [
            ("image_info", json!({"path": path})),
            (
                "transform",
                json!({"path": path, "operations": [{"op": "resize", "width": 16}],
                       "output_path": out}),
            ),
            ("prepare_for_model", json!({"path": path})),
        ] {
            id += 1;
            let answer = server.request(
                id,
                "tools/call",
                json!({"name": tool, "arguments": arguments}),
            )?;
            let text = answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .replace(['\n', '|'], " ");
            let refused = answer["result"]["isError"] == json!(true);
            // image_info reads only the header: an intact header of a
            // broken file is rightly described, not refused.
            let header_only = tool == "image_info" && !refused;
            clean &= refused || header_only;
            let short: String = text.chars().take(110).collect();
            let verdict = match (refused, header_only) {
                (true, _) => "error",
                (false, true) => "header read (no decoding)",
                (false, false) => "**accepted**",
            };
            md.push_str(&format!(" {verdict}: {short} |"));
        }
        md.push('\n');
    }
    let pong = server.request(99, "ping", json!({}))?;
    clean &= pong.get("result").is_some();
    let peak = memory_kib(server.pid(), "VmHWM").unwrap_or(0);
    md.push_str(&format!(
        "\nRSS: {:.1} MB idle, {:.1} MB peak over all {} attempts; the server answered a ping \
         afterwards.\n",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        cases.len() * 3
    ));
    server.close()?;
    Ok((md, clean))
}
