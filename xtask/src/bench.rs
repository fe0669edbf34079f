//! `cargo xtask bench`: whole-process figures over stdio, with a raw
//! JSON-RPC load client cheap enough not to be the bottleneck.
//!
//! Measures cold start to the first `tools/list` answer, sequential
//! `tools/call` round trips (p50, p99), pipelined throughput at several
//! depths, and peak RSS; writes them to docs/benchmarks.md.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{cargo, exec, project_root};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure: `dispatch` (the test server), `criterion`, or `all`.
    #[arg(default_value = "dispatch")]
    pub what: String,
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    pub calls: usize,
    /// Do not rewrite docs/benchmarks.md.
    #[arg(long)]
    pub no_report: bool,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match args.what.as_str() {
        "criterion" => criterion(),
        "dispatch" => dispatch(args),
        "all" => {
            criterion()?;
            dispatch(args)
        }
        other => bail!("unknown bench '{other}': choose dispatch, criterion or all"),
    }
}

fn criterion() -> anyhow::Result<()> {
    exec(cargo().args(["bench", "-p", "mcp-servers-benches"]))
}

/// A trivial `tools/call` (echo) against the test server.
fn dispatch(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args([
        "build",
        "--release",
        "-p",
        "mcp-servers-tests",
        "--bin",
        "mcp-testserver",
    ]))?;
    let bin = project_root().join("target/release/mcp-testserver");
    let call = |id: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi"}}}}}}"#
        )
    };
    let cold = cold_start(&bin, 20)?;
    let mut server = Session::start(&bin)?;
    let sequential = server.sequential(args.calls.min(5_000), &call)?;
    let mut pipelined = Vec::new();
    for depth in [1usize, 8, 64] {
        let rate = server.pipelined(args.calls, depth, &call)?;
        pipelined.push((depth, rate));
    }
    let rss = server.peak_rss_kib();
    server.close();

    // The floor: `cat` answers each line with itself, so what remains is
    // pipes, syscalls, scheduling and this client.
    let mut floor = Session::spawn(Path::new("cat"))?;
    let floor_sequential = floor.sequential(args.calls.min(5_000), &call)?;
    let floor_64 = floor.pipelined(args.calls, 64, &call)?;
    floor.close();

    let mut report = String::new();
    report.push_str("| measure | mcp-testserver (release) | floor (`cat`) |\n|---|---|---|\n");
    report.push_str(&format!(
        "| cold start to first tools/list answer (median of 20) | {:.2} ms | |\n",
        ms(cold)
    ));
    report.push_str(&format!(
        "| sequential tools/call round trip, p50 / p99 | {:.1} us / {:.1} us | {:.1} us / {:.1} us |\n",
        us(sequential.0),
        us(sequential.1),
        us(floor_sequential.0),
        us(floor_sequential.1)
    ));
    for (depth, rate) in &pipelined {
        let floor = if *depth == 64 {
            format!("{floor_64:.0} calls/s")
        } else {
            String::new()
        };
        report.push_str(&format!(
            "| pipelined tools/call, {depth} in flight | {rate:.0} calls/s | {floor} |\n"
        ));
    }
    if let Some(rss) = rss {
        report.push_str(&format!(
            "| peak RSS after the run | {:.1} MiB | |\n",
            rss as f64 / 1024.0
        ));
    }
    println!("\n{report}");
    if !args.no_report {
        write_report(&report)?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"xtask-bench","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

fn cold_start(bin: &Path, runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let mut session = Session::start(bin)?;
        session.send(LIST)?;
        session.recv()?;
        times.push(start.elapsed());
        session.close();
    }
    times.sort();
    Ok(times[runs / 2])
}

struct Session {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl Session {
    /// Spawns the server and completes the initialize handshake.
    fn start(bin: &Path) -> anyhow::Result<Self> {
        let mut session = Self::spawn(bin)?;
        session.send(INIT)?;
        session.recv()?;
        session.send(INITIALIZED)?;
        Ok(session)
    }

    fn spawn(bin: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdin = BufWriter::new(child.stdin.take().context("stdin")?);
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            line: String::new(),
        })
    }

    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.stdin.write_all(line.as_bytes())?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        Ok(())
    }

    fn recv(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("the server closed stdout");
        }
        Ok(())
    }

    /// (p50, p99) of `n` one-at-a-time round trips.
    fn sequential(
        &mut self,
        n: usize,
        call: &dyn Fn(usize) -> String,
    ) -> anyhow::Result<(Duration, Duration)> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let request = call(10 + i);
            let start = Instant::now();
            self.send(&request)?;
            self.recv()?;
            times.push(start.elapsed());
        }
        times.sort();
        Ok((times[n / 2], times[n * 99 / 100]))
    }

    /// Calls per second with `depth` requests in flight: a writer thread
    /// takes a token per request, the reader gives one back per answer.
    fn pipelined(
        &mut self,
        n: usize,
        depth: usize,
        call: &dyn Fn(usize) -> String,
    ) -> anyhow::Result<f64> {
        let requests: Vec<String> = (0..n).map(|i| call(1_000_000 + i)).collect();
        let (tokens_tx, tokens_rx) = mpsc::sync_channel::<()>(depth);
        for _ in 0..depth {
            tokens_tx.send(())?;
        }
        let start = Instant::now();
        let stdin = &mut self.stdin;
        let stdout = &mut self.stdout;
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let writer = scope.spawn(move || -> anyhow::Result<()> {
                for request in &requests {
                    // Take a free slot without waiting if there is one;
                    // otherwise flush what is queued and wait for an answer.
                    if tokens_rx.try_recv().is_err() {
                        stdin.flush()?;
                        tokens_rx.recv()?;
                    }
                    stdin.write_all(request.as_bytes())?;
                    stdin.write_all(b"\n")?;
                }
                stdin.flush()?;
                Ok(())
            });
            let mut line = String::new();
            for _ in 0..n {
                line.clear();
                if stdout.read_line(&mut line)? == 0 {
                    bail!("the server closed stdout");
                }
                let _ = tokens_tx.try_send(());
            }
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("writer panicked"))??;
            Ok(())
        })?;
        Ok(n as f64 / start.elapsed().as_secs_f64())
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    fn close(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn write_report(table: &str) -> anyhow::Result<()> {
    let path: PathBuf = project_root().join("docs/benchmarks.md");
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let affinity = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let text = format!(
        "# Benchmarks\n\nGenerated by `cargo xtask bench dispatch`; re-running rewrites this file.\n\n\
         Machine: {machine}, {cores} cores usable (CPUs {affinity}). Toolchain: {rustc}.\n\n\
         On this virtual machine a wake-up across cores costs 50-100 us, more than the work of a call: \
         run `taskset -c 0 cargo xtask bench` to put client and server on one core, which is how \
         the figures below compare code rather than the hypervisor's scheduler.\n\n\
         ## Dispatch over stdio: a trivial `tools/call` (echo) on mcp-testserver\n\n\
         The load client speaks raw newline-delimited JSON-RPC over the server's pipes.\n\n{table}\n"
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
