//! End-to-end harness: spawn a real server binary, talk MCP to it.
//!
//! - [`stdio_client`] / [`HttpServer::client`]: rmcp's own client, on either
//!   lifecycle (initialize or 2026-07-28 discovery).
//! - [`RawStdio`] and [`HttpServer::post`]: raw JSON-RPC, for malformed input.
//!
//! Nothing here sleeps to wait: readiness is the server's own "listening"
//! line on stderr, answers are read as they arrive, and every wait has a
//! generous deadline so a broken server fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use rmcp::RoleClient;
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

pub use rmcp;

pub mod crash;
pub mod fuzz;
pub mod load;

/// The longest any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub type Client = RunningService<RoleClient, ()>;

/// Path of a workspace binary, built first unless `MCP_TEST_NO_BUILD` is set
/// (xtask builds every binary once before running the tests).
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let target = target_dir();
    let path = target.join("debug").join(bin);
    if std::env::var_os("MCP_TEST_NO_BUILD").is_none() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .status()
            .expect("cannot run cargo build");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {bin} failed"
        );
    }
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

/// [`workspace_bin`], built and looked up at most once per test process.
pub fn cached_bin(package: &str, bin: &str) -> &'static Path {
    static BINS: Mutex<Vec<(String, &'static Path)>> = Mutex::new(Vec::new());
    // A panicking build leaves nothing behind: the next caller tries again.
    let mut bins = BINS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = bins.iter().find(|(name, _)| name == bin) {
        return path;
    }
    let path: &'static Path = Box::leak(workspace_bin(package, bin).into_boxed_path());
    bins.push((bin.to_owned(), path));
    path
}

/// A temp dir holding `root/`, the allowed directory (canonical, so paths
/// the server reports compare equal), for a server binary started on it.
pub struct TempRoot {
    dir: tempfile::TempDir,
    /// The temp dir, canonical; `root`'s parent.
    pub base: PathBuf,
    pub root: PathBuf,
    bin: &'static Path,
}

impl TempRoot {
    pub fn new(bin: &'static Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        Self {
            dir,
            base,
            root,
            bin,
        }
    }

    /// The temp dir as created (not canonicalized).
    pub fn temp_path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` below the root, as a string for tool arguments.
    pub fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// Writes `rel` below the root, making its parents; returns its path.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> String {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        path.display().to_string()
    }

    /// The bytes of `rel` below the root.
    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root.join(rel)).unwrap()
    }

    /// rmcp's client over stdio to the binary, started with `extra` and then
    /// the root as its allowed directory.
    pub async fn client(&self, extra: &[&str]) -> Client {
        let root = self.root.display().to_string();
        let mut argv: Vec<&str> = extra.to_vec();
        argv.push(&root);
        stdio_client(self.bin, &argv, Lifecycle::Initialize)
            .await
            .unwrap()
    }
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // tests/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Which lifecycle the rmcp client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `initialize` + `notifications/initialized` (2024-11-05 .. 2025-11-25).
    Initialize,
    /// `server/discover` and per-request metadata (2026-07-28).
    Discover,
}

impl Lifecycle {
    pub fn mode(self) -> ClientLifecycleMode {
        match self {
            Self::Initialize => ClientLifecycleMode::Initialize,
            Self::Discover => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// rmcp's client over the binary's stdio.
pub async fn stdio_client(
    bin: &Path,
    args: &[&str],
    lifecycle: Lifecycle,
) -> anyhow::Result<Client> {
    stdio_client_with((), bin, args, lifecycle).await
}

/// rmcp's client over the binary's stdio, with `handler` answering the
/// server's requests (sampling, elicitation, roots) and notifications.
pub async fn stdio_client_with<H: rmcp::ClientHandler>(
    handler: H,
    bin: &Path,
    args: &[&str],
    lifecycle: Lifecycle,
) -> anyhow::Result<RunningService<RoleClient, H>> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args);
    let transport = TokioChildProcess::new(cmd)?;
    let client =
        rmcp::service::serve_client_with_lifecycle(handler, transport, lifecycle.mode()).await?;
    Ok(client)
}

/// Text of the first content block of a tool result.
pub fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls a tool and returns its result; a JSON-RPC error fails the test,
/// naming the tool (a tool error is a result, for the test to check).
pub async fn call<H: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(name.to_owned())
                .with_arguments(args(arguments)),
        )
        .await
        .unwrap_or_else(|e| panic!("{name} failed at the protocol level: {e}"))
}

/// Calls a tool that must succeed and returns its result; a tool error fails
/// the test with the error's text.
pub async fn call_ok<H: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    let result = call(client, name, arguments).await;
    assert_ne!(result.is_error, Some(true), "{name}: {}", text_of(&result));
    result
}

/// The text of a tool call that must succeed.
pub async fn ok_text<H: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    arguments: Value,
) -> String {
    text_of(&call_ok(client, name, arguments).await)
}

/// The error text of a tool call that must fail with a tool error.
pub async fn err_text<H: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    arguments: Value,
) -> String {
    let result = call(client, name, arguments).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} should fail: {}",
        text_of(&result)
    );
    text_of(&result)
}

/// (file, oldText, newText, the file after) for edit_file's indentation
/// mapping, all with `\n`: a file indented one way, an edit written
/// another way.
pub type IndentCase = (&'static str, &'static str, &'static str, &'static str);

/// The indentation cases (see [`IndentCase`]); the official server flattens
/// every one of these onto the first line's indentation.
pub const INDENT_CASES: [IndentCase; 6] = [
    // 4-space file, 2-space edit.
    (
        "def f():\n    if x:\n        a()\n    return\n",
        "  if x:\n    a()",
        "  if y:\n    a()\n    b()\n      c()",
        "def f():\n    if y:\n        a()\n        b()\n            c()\n    return\n",
    ),
    // Tab file, 4-space edit.
    (
        "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n",
        "    if x {\n        a();\n    }",
        "    if y {\n        a();\n        if z {\n            b();\n        }\n    }",
        "fn f() {\n\tif y {\n\t\ta();\n\t\tif z {\n\t\t\tb();\n\t\t}\n\t}\n}\n",
    ),
    // 2-space file, 4-space edit.
    (
        "a:\n  b:\n    c: 1\n",
        "    b:\n        c: 1",
        "    b:\n        c: 2\n        d:\n            e: 3",
        "a:\n  b:\n    c: 2\n    d:\n      e: 3\n",
    ),
    // 4-space file, tab edit.
    (
        "class A:\n    def f(self):\n        return 1\n",
        "\tdef f(self):\n\t\treturn 1",
        "\tdef f(self):\n\t\tif x:\n\t\t\treturn 2\n\t\treturn 1",
        "class A:\n    def f(self):\n        if x:\n            return 2\n        return 1\n",
    ),
    // Mixed: tab indentation with space alignment.
    (
        "\tcall(a,\n\t     b);\n",
        "call(a,\n     b);",
        "call(a,\n     b,\n     c);",
        "\tcall(a,\n\t     b,\n\t     c);\n",
    ),
    // Mixed: a 2-space and a 4-space function, each keeps its own.
    (
        "def f():\n  if a:\n    x()\n\ndef g():\n    if b:\n        y()\n",
        "if a:\n  x()",
        "if a:\n  x()\n  if c:\n    w()",
        "def f():\n  if a:\n    x()\n    if c:\n      w()\n\ndef g():\n    if b:\n        y()\n",
    ),
];

/// Call arguments from a JSON object literal.
pub fn args(value: Value) -> rmcp::model::JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// A server on raw stdio pipes, for bytes no well-behaved client sends.
pub struct RawStdio {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub stderr: Arc<Mutex<String>>,
}

impl RawStdio {
    pub fn spawn(bin: &Path, args: &[&str]) -> anyhow::Result<Self> {
        Self::spawn_with_env(bin, args, &[])
    }

    pub fn spawn_with_env(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = drain_stderr(child.stderr.take().expect("piped stderr"), None);
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        })
    }

    /// Writes one line (a newline is appended).
    pub fn send_line(&mut self, line: &str) -> anyhow::Result<()> {
        self.send_bytes(line.as_bytes())
    }

    /// Writes one line of arbitrary bytes (not necessarily UTF-8).
    pub fn send_bytes(&mut self, line: &[u8]) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        stdin.write_all(line)?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// Writes bytes as they are (no newline added).
    pub fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// The capacity of the pipe on the server's stdin, in bytes.
    pub fn stdin_pipe_capacity(&self) -> anyhow::Result<usize> {
        use std::os::fd::AsRawFd;
        let stdin = self.stdin.as_ref().context("stdin closed")?;
        #[allow(unsafe_code)]
        // SAFETY: F_GETPIPE_SZ on a descriptor this struct owns; no pointers.
        let capacity = unsafe { libc::fcntl(stdin.as_raw_fd(), libc::F_GETPIPE_SZ) };
        usize::try_from(capacity).map_err(|_| std::io::Error::last_os_error().into())
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn send(&mut self, value: &Value) -> anyhow::Result<()> {
        self.send_line(&value.to_string())
    }

    /// The next stdout line, parsed; every stdout line must be JSON.
    pub fn recv(&mut self) -> anyhow::Result<Value> {
        let line = self.recv_line()?;
        serde_json::from_str(&line).with_context(|| format!("stdout line is not JSON: {line:?}"))
    }

    /// The next stdout line as it was written.
    pub fn recv_line(&mut self) -> anyhow::Result<String> {
        self.lines
            .recv_timeout(DEADLINE)
            .context("no answer from the server in time")
    }

    /// Reads until the response with `id`, returning it and what came before.
    pub fn recv_response(&mut self, id: &Value) -> anyhow::Result<(Value, Vec<Value>)> {
        let mut before = Vec::new();
        loop {
            let msg = self.recv()?;
            if msg.get("id") == Some(id)
                && (msg.get("result").is_some() || msg.get("error").is_some())
            {
                return Ok((msg, before));
            }
            before.push(msg);
        }
    }

    /// Sends `initialize` and `notifications/initialized`.
    pub fn initialize(&mut self) -> anyhow::Result<Value> {
        self.send(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "raw-test", "version": "0"}}
        }))?;
        let (init, _) = self.recv_response(&json!(0))?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(init)
    }

    /// Sends a request and returns its response.
    pub fn request(&mut self, id: i64, method: &str, params: Value) -> anyhow::Result<Value> {
        Ok(self.exchange(id, method, params)?.0)
    }

    /// Sends a request; returns its response and the messages before it.
    pub fn exchange(
        &mut self,
        id: i64,
        method: &str,
        params: Value,
    ) -> anyhow::Result<(Value, Vec<Value>)> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        self.recv_response(&json!(id))
    }

    /// Closes stdin (EOF for the server) and keeps reading its stdout.
    pub fn close_input(&mut self) {
        drop(self.stdin.take());
    }

    /// Waits for the process to exit (after [`RawStdio::close_input`]).
    pub fn wait(mut self) -> anyhow::Result<std::process::ExitStatus> {
        wait_with_deadline(&mut self.child)
    }

    /// Closes stdin and waits for the process to exit.
    pub fn close(mut self) -> anyhow::Result<std::process::ExitStatus> {
        drop(self.stdin.take());
        wait_with_deadline(&mut self.child)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, waiting at most `timeout`: `Ok(None)` when
    /// nothing came in time, an error once the server's stdout is closed.
    pub fn recv_line_within(&mut self, timeout: Duration) -> anyhow::Result<Option<String>> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(Some(line)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the server closed its stdout"),
        }
    }

    /// How the process ended, if it ends within `timeout` (None while it runs).
    pub fn exit_status_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        exit_status_within(&mut self.child, timeout)
    }
}

impl Drop for RawStdio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_deadline(child: &mut Child) -> anyhow::Result<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            bail!("the server did not exit in time");
        }
        // Polling an exit status, not waiting for a result to appear.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit status of `child` if it exits within `timeout`.
fn exit_status_within(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < timeout => {}
            _ => return None,
        }
        // Polling an exit status, not waiting for a result to appear.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Copies a child's stderr into a buffer; sends the first "listening on"
/// address to `ready`.
fn drain_stderr(
    stderr: std::process::ChildStderr,
    ready: Option<mpsc::Sender<String>>,
) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1)
                && let Some(tx) = ready.take()
            {
                // "http://127.0.0.1:PORT/mcp ..." -> "http://127.0.0.1:PORT"
                let url = rest.split_whitespace().next().unwrap_or_default();
                let base = url.strip_suffix("/mcp").unwrap_or(url).to_owned();
                let _ = tx.send(base);
            }
            let mut buf = sink.lock().unwrap();
            buf.push_str(&line);
            buf.push('\n');
        }
    });
    buffer
}

/// A server running `--transport http` on a free loopback port.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub stderr: Arc<Mutex<String>>,
    pub http: reqwest::Client,
}

impl HttpServer {
    pub fn spawn(bin: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["--transport", "http", "--listen", "127.0.0.1:0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let (tx, rx) = mpsc::channel();
        let stderr = drain_stderr(child.stderr.take().expect("piped stderr"), Some(tx));
        let base = match rx.recv_timeout(DEADLINE) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "server never said where it listens; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Ok(Self {
            child,
            base,
            stderr,
            http: reqwest::Client::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, if it ends within `timeout` (None while it runs).
    pub fn exit_status_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        exit_status_within(&mut self.child, timeout)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// rmcp's Streamable HTTP client against `/mcp`.
    pub async fn client(
        &self,
        token: Option<&str>,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Client> {
        self.client_with((), token, lifecycle).await
    }

    /// rmcp's Streamable HTTP client with `handler` for the server's requests.
    pub async fn client_with<H: rmcp::ClientHandler>(
        &self,
        handler: H,
        token: Option<&str>,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<RunningService<RoleClient, H>> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url("/mcp"));
        if let Some(token) = token {
            config = config.auth_header(token);
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        Ok(
            rmcp::service::serve_client_with_lifecycle(handler, transport, lifecycle.mode())
                .await?,
        )
    }

    /// A raw POST to `/mcp` with MCP's headers plus `headers`.
    pub async fn post(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .http
            .post(self.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(req.send().await?)
    }

    /// `GET /health`, parsed (it needs no token).
    pub async fn health(&self) -> anyhow::Result<Value> {
        let response = self.http.get(self.url("/health")).send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "/health answered {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Opens a session with raw requests (initialize, then the initialized
    /// notification, which must get 202) and returns its id; send later
    /// requests with [`session_headers`].
    pub async fn open_session(&self) -> anyhow::Result<String> {
        let init = self.post(&initialize_body(1), &[]).await?;
        let session = init
            .headers()
            .get("mcp-session-id")
            .context("initialize answered without mcp-session-id")?
            .to_str()?
            .to_owned();
        drop(init);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let status = self.post(&note, &session_headers(&session)).await?.status();
        anyhow::ensure!(status == 202, "notifications/initialized answered {status}");
        Ok(session)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        wait_with_deadline(&mut self.child)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers of a request in session `session` (protocol 2025-06-18).
pub fn session_headers(session: &str) -> [(&str, &str); 2] {
    [
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-06-18"),
    ]
}

/// An `initialize` request body.
pub fn initialize_body(id: i64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw-test", "version": "0"}}
    })
}

/// Parses a JSON-RPC message from a JSON or SSE response body.
pub fn first_message(content_type: &str, body: &str) -> anyhow::Result<Value> {
    if content_type.starts_with("application/json") {
        return Ok(serde_json::from_str(body)?);
    }
    for line in body.lines() {
        if let Some(data) = line.strip_prefix("data:") {
            let data = data.trim();
            if data.starts_with('{') {
                return Ok(serde_json::from_str(data)?);
            }
        }
    }
    bail!("no JSON-RPC message in body: {body}")
}

/// Memory of a process in KiB from /proc/PID/status: `VmRSS` (now) or
/// `VmHWM` (peak). None where there is no /proc or the process is gone.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let value = l.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}
