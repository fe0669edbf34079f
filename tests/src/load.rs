//! HTTP load on loopback: many concurrent sessions calling a tool for a
//! fixed time, counting every failure, with latency percentiles and the
//! server's memory before, during and after (once idle sessions are
//! reaped). Also checks that with `--auth-token` a request without the
//! token gets 401 and runs nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::{DEADLINE, HttpServer, first_message, initialize_body, memory_kib};

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub sessions: usize,
    pub duration: Duration,
    pub stateless: bool,
    /// The tool called, and its arguments.
    pub tool: String,
    pub arguments: Value,
    /// How long to wait, after the load, for memory to settle (sessions
    /// are reaped after the server's `--session-idle-timeout`).
    pub settle: Duration,
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub sessions: usize,
    pub calls: usize,
    pub failures: usize,
    /// The first few failures, for the reader.
    pub examples: Vec<String>,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// Anonymous memory (the heap and stacks, not the binary's pages),
    /// before the load, at its end and after the settle time.
    pub anon_kib: [u64; 3],
    /// Requests sent without the token, and how many got 401.
    pub unauthorized: (usize, usize),
    /// Sessions whose clients vanished without DELETE, and how many the
    /// server had closed (404) once the idle timeout passed.
    pub reaped: (usize, usize),
    /// Sessions the server still held after the settle time (its /health).
    pub sessions_left: u64,
}

const TOKEN: &str = "load-test-token";

/// Runs `bin --transport http args...` (plus the load's own flags) under
/// `config`'s load.
pub async fn load_http(
    bin: &Path,
    args: &[&str],
    config: &LoadConfig,
) -> anyhow::Result<LoadReport> {
    let idle = (config.settle.as_secs() / 2).max(1).to_string();
    let mut argv: Vec<&str> = args.to_vec();
    argv.extend(["--auth-token", TOKEN, "--session-idle-timeout", &idle]);
    if config.stateless {
        argv.push("--stateless");
    }
    let mut server = HttpServer::spawn(bin, &argv)?;
    let http = reqwest::Client::builder()
        .timeout(DEADLINE)
        .pool_max_idle_per_host(config.sessions)
        .build()?;
    let url = server.url("/mcp");
    let pid = server.pid();
    let mut report = LoadReport {
        sessions: config.sessions,
        rss_before_kib: memory_kib(pid, "VmRSS").unwrap_or(0),
        anon_kib: [memory_kib(pid, "RssAnon").unwrap_or(0), 0, 0],
        ..LoadReport::default()
    };

    // Without the token: 401, and nothing runs.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": config.tool, "arguments": config.arguments}});
    for body in [initialize_body(1), call.clone()] {
        let status = post(&http, &url, &body, None, None).await?.0;
        report.unauthorized.0 += 1;
        report.unauthorized.1 += usize::from(status == 401);
    }

    let deadline = Instant::now() + config.duration;
    let sampler = {
        let done = deadline;
        tokio::spawn(async move {
            let mut peak = 0;
            while Instant::now() < done {
                peak = peak.max(memory_kib(pid, "VmRSS").unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let mut tasks = Vec::new();
    for worker in 0..config.sessions {
        let http = http.clone();
        let url = url.clone();
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            session(&http, &url, &config, worker, deadline).await
        }));
    }
    let mut latencies = Vec::new();
    let mut vanished = Vec::new();
    for task in tasks {
        let (mut lat, failures, left_open) = task.await.context("a load session panicked")?;
        vanished.extend(left_open);
        latencies.append(&mut lat);
        report.failures += failures.len();
        for failure in failures {
            if report.examples.len() < 5 {
                report.examples.push(failure);
            }
        }
    }
    report.rss_peak_kib = sampler.await.unwrap_or(0);
    report.anon_kib[1] = memory_kib(pid, "RssAnon").unwrap_or(0);
    latencies.sort_unstable();
    report.calls = latencies.len();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    report.p50 = at(0.50);
    report.p99 = at(0.99);
    report.max = latencies.last().copied().unwrap_or_default();
    // The clients are gone: their pooled keep-alive connections close too.
    drop(http);
    tokio::time::sleep(config.settle).await;
    report.rss_after_kib = memory_kib(pid, "VmRSS").unwrap_or(0);
    report.anon_kib[2] = memory_kib(pid, "RssAnon").unwrap_or(0);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let http = reqwest::Client::builder().timeout(DEADLINE).build()?;
    let health = server.health().await?;
    report.sessions_left = health["sessions"]
        .as_u64()
        .context("/health does not count sessions")?;
    for sid in &vanished {
        let status = post(&http, &url, &ping, Some(TOKEN), Some(sid)).await?.0;
        report.reaped.0 += 1;
        report.reaped.1 += usize::from(status == 404);
    }
    anyhow::ensure!(server.is_alive(), "the server died under load");
    Ok(report)
}

/// One client: initialize (unless stateless), then call until the deadline.
/// Returns its latencies, its failures, and its session id if it left it
/// open.
async fn session(
    http: &reqwest::Client,
    url: &str,
    config: &LoadConfig,
    worker: usize,
    deadline: Instant,
) -> (Vec<Duration>, Vec<String>, Option<String>) {
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut session_id = None;
    if !config.stateless {
        match post(http, url, &initialize_body(0), Some(TOKEN), None).await {
            Ok((200, _, sid)) if sid.is_some() => session_id = sid,
            other => {
                failures.push(format!("session {worker}: initialize: {other:?}"));
                return (latencies, failures, None);
            }
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        if let Err(e) = post(http, url, &note, Some(TOKEN), session_id.as_deref()).await {
            failures.push(format!("session {worker}: initialized: {e:#}"));
        }
    }
    let mut id = 1u64;
    while Instant::now() < deadline {
        id += 1;
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": config.tool, "arguments": config.arguments}});
        let start = Instant::now();
        match post(http, url, &call, Some(TOKEN), session_id.as_deref()).await {
            Ok((200, Some(answer), _))
                if answer["id"] == json!(id)
                    && answer["result"].is_object()
                    && answer["result"]["isError"] != json!(true) =>
            {
                latencies.push(start.elapsed());
            }
            other => failures.push(format!("session {worker}, call {id}: {other:?}")),
        }
    }
    // Half the clients end their session; the others just vanish, and the
    // idle timeout must reap theirs.
    if let Some(sid) = &session_id
        && worker.is_multiple_of(2)
    {
        let _ = http
            .delete(url)
            .bearer_auth(TOKEN)
            .header("mcp-session-id", sid)
            .send()
            .await;
        return (latencies, failures, None);
    }
    (latencies, failures, session_id)
}

/// Posts a message; returns the status, the answer (if any) and the
/// session id header (if any).
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    token: Option<&str>,
    session: Option<&str>,
) -> anyhow::Result<(u16, Option<Value>, Option<String>)> {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let answer = first_message(&content_type, &text).ok();
    Ok((status, answer, session))
}
