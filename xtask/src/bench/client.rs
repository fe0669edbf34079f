//! The load client: raw newline-delimited JSON-RPC over a child's pipes,
//! cheap enough not to be the bottleneck (compare it with the `cat` floor).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"xtask-bench","version":"0"}}}"#;
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
pub const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// How to start a server: program and arguments.
#[derive(Debug, Clone)]
pub struct ServerCmd {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl ServerCmd {
    pub fn new(label: &str, program: impl Into<PathBuf>, args: &[String]) -> Self {
        Self {
            label: label.to_owned(),
            program: program.into(),
            args: args.to_vec(),
            env: Vec::new(),
        }
    }

    pub fn with_env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.env.push((
            key.to_owned(),
            value.as_ref().to_string_lossy().into_owned(),
        ));
        self
    }
}

pub struct Session {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub line: String,
}

impl Session {
    /// Spawns the server and completes the initialize handshake.
    pub fn start(cmd: &ServerCmd) -> anyhow::Result<Self> {
        let mut session = Self::spawn(cmd)?;
        session.send(INIT)?;
        session.recv()?;
        session.send(INITIALIZED)?;
        Ok(session)
    }

    /// Spawns without a handshake (the `cat` floor).
    pub fn spawn(cmd: &ServerCmd) -> anyhow::Result<Self> {
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", cmd.program.display()))?;
        let stdin = BufWriter::new(child.stdin.take().context("stdin")?);
        // As large as the pipes our servers ask for: an 11 MiB answer in
        // 8 KiB reads costs the client over a thousand syscalls.
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().context("stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            line: SPARE_LINE.take(),
        })
    }

    pub fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.stdin.write_all(line.as_bytes())?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Reads one line into `self.line`.
    pub fn recv(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("the server closed stdout");
        }
        Ok(())
    }

    /// One request and its answer; fails on a JSON-RPC or tool error.
    pub fn call(&mut self, request: &str) -> anyhow::Result<Duration> {
        let start = Instant::now();
        self.send(request)?;
        self.recv()?;
        let elapsed = start.elapsed();
        if self.line.contains(r#""isError":true"#)
            || self.line.starts_with(r#"{"jsonrpc":"2.0","id":"#)
                && self.line.contains(r#","error":{"#)
        {
            bail!("the call failed: {}", truncate(&self.line, 300));
        }
        Ok(elapsed)
    }

    /// (p50, p99) of `n` one-at-a-time round trips.
    pub fn sequential(
        &mut self,
        n: usize,
        call: &dyn Fn(usize) -> String,
    ) -> anyhow::Result<(Duration, Duration)> {
        let times = self.sequential_samples(n, call)?;
        Ok((percentile(&times, 0.50), percentile(&times, 0.99)))
    }

    /// `n` one-at-a-time round trips, sorted.
    pub fn sequential_samples(
        &mut self,
        n: usize,
        call: &dyn Fn(usize) -> String,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let request = call(10 + i);
            let start = Instant::now();
            self.send(&request)?;
            self.recv()?;
            times.push(start.elapsed());
        }
        times.sort();
        Ok(times)
    }

    /// Calls per second with `depth` requests in flight: the writer takes a
    /// token per request, the reader gives one back per answer.
    pub fn pipelined(
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

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// Resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    pub fn close(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
        SPARE_LINE.set(std::mem::take(&mut self.line));
    }
}

thread_local! {
    /// The answer buffer of the last closed session, for the next one: the
    /// client should not pay page faults for a fresh 11 MiB line in every
    /// session of a large-payload measurement.
    static SPARE_LINE: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// The `q` quantile of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Median time from spawn to the first `tools/list` answer.
pub fn cold_start(cmd: &ServerCmd, runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let mut session = Session::start(cmd)?;
        session.send(LIST)?;
        session.recv()?;
        times.push(start.elapsed());
        session.close();
    }
    times.sort();
    Ok(times[runs / 2])
}
