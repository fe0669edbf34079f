//! A seeded black-box protocol fuzzer for any MCP server binary, over stdio
//! and Streamable HTTP.
//!
//! It sends malformed and mutated frames: invalid JSON and UTF-8, wrong
//! envelopes, unknown methods and tools, arguments of the wrong type for
//! every tool (derived from the tools' own input schemas), missing and
//! extra fields, huge strings and numbers, deep nesting, responses and
//! duplicate ids sent to the server, batches, lines over the size cap, and
//! frames before initialization. After every batch the server must still
//! answer `tools/list` correctly; a crash, a hang (no answer within the
//! harness deadline), a non-JSON stdout line or a 5xx status is a failure.
//! The same seed sends the same frames, so a failure is reproducible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::{DEADLINE, HttpServer, RawStdio, first_message, initialize_body, memory_kib};

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct FuzzConfig {
    pub seed: u64,
    /// Frames to send after initialization (a few more go before it).
    pub frames: usize,
    /// Frames between two health probes.
    pub batch: usize,
    /// The server's `--max-message-bytes`; oversize frames exceed it.
    pub max_message_bytes: usize,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        Self {
            seed: 0x5EED,
            frames: 10_000,
            batch: 100,
            max_message_bytes: 256 * 1024,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct FuzzReport {
    pub frames: usize,
    pub probes: usize,
    /// Each failure, with the seed and frame number to reproduce it.
    pub failures: Vec<String>,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_peak_kib: u64,
    pub elapsed: Duration,
    /// HTTP only: how many answers had each status.
    pub statuses: BTreeMap<u16, usize>,
}

/// Frames before initialization: the server must not die of them.
const PRE_INIT_FRAMES: usize = 20;

/// Fuzzes `bin args...` over stdio.
pub fn fuzz_stdio(bin: &Path, args: &[&str], config: FuzzConfig) -> anyhow::Result<FuzzReport> {
    let cap = config.max_message_bytes.to_string();
    let mut argv = args.to_vec();
    argv.extend(["--max-message-bytes", &cap]);
    let mut server = RawStdio::spawn(bin, &argv)?;
    let mut frames = FrameGen::new(config, Vec::new());
    let mut report = FuzzReport::default();
    let start = Instant::now();

    for _ in 0..PRE_INIT_FRAMES {
        for line in frames.next_frame() {
            server.send_bytes(&line)?;
        }
    }
    server
        .initialize()
        .context("initialize after pre-init frames")?;
    let tools = server.request(1, "tools/list", json!({}))?;
    let tools = tools["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(!tools.is_empty(), "the server lists no tools");
    frames.set_tools(tools);
    report.rss_start_kib = memory_kib(server.pid(), "VmRSS").unwrap_or(0);

    while report.frames < config.frames {
        for _ in 0..config.batch {
            for line in frames.next_frame() {
                if let Err(e) = server.send_bytes(&line) {
                    report.fail(&config, format!("writing frame: {e}"));
                    break;
                }
                report.frames += 1;
            }
        }
        report.probes += 1;
        let probe = format!("probe-{}", report.probes);
        let outcome = server
            .send(&json!({"jsonrpc": "2.0", "id": probe, "method": "tools/list"}))
            .and_then(|()| server.recv_response(&json!(probe)));
        match outcome {
            Ok((answer, _)) => {
                let listed = answer["result"]["tools"].as_array().map_or(0, Vec::len);
                if listed != frames.tools.len() {
                    report.fail(&config, format!("probe answered {answer}"));
                }
            }
            Err(e) => {
                let alive = server.is_alive();
                report.probe_failed(&config, &e, alive, &server.stderr.lock().unwrap());
                break;
            }
        }
        report.sample_rss(server.pid());
    }
    report.elapsed = start.elapsed();
    if report.failures.is_empty() {
        server.close().context("the server did not exit on EOF")?;
    }
    Ok(report)
}

/// Fuzzes `bin --transport http args...` over Streamable HTTP: each batch's
/// frames are posted concurrently on one session, some without or with a
/// wrong session id or content type.
pub async fn fuzz_http(
    bin: &Path,
    args: &[&str],
    config: FuzzConfig,
) -> anyhow::Result<FuzzReport> {
    let cap = config.max_message_bytes.to_string();
    let mut argv = args.to_vec();
    argv.extend(["--max-message-bytes", &cap]);
    let mut server = HttpServer::spawn(bin, &argv)?;
    let http = reqwest::Client::builder().timeout(DEADLINE).build()?;
    let url = server.url("/mcp");
    let mut frames = FrameGen::new(config, Vec::new());
    let mut report = FuzzReport::default();
    let start = Instant::now();

    for _ in 0..PRE_INIT_FRAMES {
        for body in frames.next_frame() {
            let status = post(&http, &url, body, None, "application/json").await;
            report.record(&config, status);
        }
    }
    let session = open_session(&http, &url).await?;
    let tools = list_tools(&http, &url, session.as_deref(), "list").await?;
    anyhow::ensure!(!tools.is_empty(), "the server lists no tools");
    frames.set_tools(tools);
    report.rss_start_kib = memory_kib(server.pid(), "VmRSS").unwrap_or(0);

    while report.frames < config.frames {
        let mut posts = Vec::new();
        for _ in 0..config.batch {
            for body in frames.next_frame() {
                let (session, content_type) = match frames.rng.below(40) {
                    0 => (None, "application/json"),
                    1 => (Some("no-such-session"), "application/json"),
                    2 => (session.as_deref(), "text/plain"),
                    _ => (session.as_deref(), "application/json"),
                };
                posts.push(post(&http, &url, body, session, content_type));
                report.frames += 1;
            }
        }
        for status in futures::future::join_all(posts).await {
            report.record(&config, status);
        }
        report.probes += 1;
        let probe = format!("probe-{}", report.probes);
        match list_tools(&http, &url, session.as_deref(), &probe).await {
            Ok(tools) if tools.len() == frames.tools.len() => {}
            Ok(tools) => report.fail(&config, format!("probe listed {} tools", tools.len())),
            Err(e) => {
                let alive = server.is_alive();
                report.probe_failed(&config, &e, alive, &server.stderr.lock().unwrap());
                break;
            }
        }
        report.sample_rss(server.pid());
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

impl FuzzReport {
    fn probe_failed(&mut self, config: &FuzzConfig, e: &anyhow::Error, alive: bool, stderr: &str) {
        let stderr = tail(stderr, 2000);
        self.fail(
            config,
            format!("probe failed ({e:#}); alive: {alive}; stderr:\n{stderr}"),
        );
    }

    /// Records the server's resident memory after a batch.
    fn sample_rss(&mut self, pid: u32) {
        let rss = memory_kib(pid, "VmRSS").unwrap_or(0);
        self.rss_peak_kib = self.rss_peak_kib.max(rss);
        self.rss_end_kib = rss;
    }

    fn fail(&mut self, config: &FuzzConfig, what: String) {
        self.failures.push(format!(
            "seed {:#x}, after frame {}: {what}",
            config.seed, self.frames
        ));
    }

    fn record(&mut self, config: &FuzzConfig, status: anyhow::Result<u16>) {
        match status {
            Ok(status) => {
                *self.statuses.entry(status).or_default() += 1;
                if status >= 500 {
                    self.fail(config, format!("HTTP {status}"));
                }
            }
            Err(e) => self.fail(config, format!("request failed: {e:#}")),
        }
    }
}

/// Posts one frame and reads the whole answer; returns the status.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    session: Option<&str>,
    content_type: &str,
) -> anyhow::Result<u16> {
    let mut request = http
        .post(url)
        .header("content-type", content_type)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok(status)
}

/// Initializes at `url` (`initialize`, then `notifications/initialized`)
/// and returns the session id, if the server gave one.
async fn open_session(http: &reqwest::Client, url: &str) -> anyhow::Result<Option<String>> {
    let init = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body(0).to_string())
        .send()
        .await?;
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    init.bytes().await?;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(
        http,
        url,
        initialized.to_string().into_bytes(),
        session.as_deref(),
        "application/json",
    )
    .await?;
    Ok(session)
}

async fn list_tools(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    id: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}).to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "tools/list: HTTP {status}: {body}");
    let answer = first_message(&content_type, &body)?;
    answer["result"]["tools"]
        .as_array()
        .cloned()
        .with_context(|| format!("tools/list answered {answer}"))
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// SplitMix64: tiny, fast, and the same sequence for the same seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Strings that have broken parsers, path checks and regex engines before.
const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "/",
    ".",
    "..",
    "~",
    "\u{0}",
    "a\u{0}b",
    "file:///etc/passwd",
    "C:\\Windows\\System32",
    "\\\\server\\share",
    "%s%n%x",
    "${HOME}",
    "$(id)",
    "'; DROP TABLE x; --",
    "[",
    "(a+)+$",
    "\\",
    "**/*",
    "{a,b",
    "\u{202e}txt.exe",
    "\u{feff}",
    "e\u{301}",
    "🦀💥",
    "data:image/png;base64,AAAA",
    "data:,",
    "-1",
    "NaN",
    "null",
];

/// Numbers at and past the edges of the integer and float types.
const ODD_NUMBERS: &[&str] = &[
    "1e308",
    "-1",
    "18446744073709551616",
    "-9223372036854775809",
    "1.5",
    "-0",
    "0",
    "4294967296",
];

/// Generates frames: each call returns one or two lines to send.
pub struct FrameGen {
    rng: Rng,
    /// The server's tools (from tools/list), once known.
    tools: Vec<Value>,
    cap: usize,
    next_id: i64,
}

impl FrameGen {
    pub fn new(config: FuzzConfig, tools: Vec<Value>) -> Self {
        Self {
            rng: Rng::new(config.seed),
            tools,
            cap: config.max_message_bytes,
            next_id: 1000,
        }
    }

    /// The tools to mutate calls of, sorted: servers may list them in any
    /// order, and one seed must mean one sequence of frames.
    pub fn set_tools(&mut self, mut tools: Vec<Value>) {
        tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        self.tools = tools;
    }

    pub fn next_frame(&mut self) -> Vec<Vec<u8>> {
        let roll = self.rng.below(100);
        let frame = match roll {
            0..=6 => self.garbage(),
            7..=11 => self.truncated(),
            12..=15 => self.not_an_object(),
            16..=23 => self.bad_envelope(),
            24..=29 => self.unknown_method(),
            30..=33 => {
                let name = self.pick_str(&["no_such_tool", "", "../x"]);
                self.call(json!(name), json!({}))
            }
            34..=67 => self.mutated_call(),
            68..=72 => self.response_to_server(),
            73..=77 => return self.duplicate_ids(),
            78..=80 => vec![b'x'; self.cap + 1 + self.rng.below(4096)],
            81..=84 => self.batch(),
            85..=87 => self.deep_nesting(),
            _ => self.odd_params(),
        };
        vec![frame]
    }

    fn id(&mut self) -> Value {
        self.next_id += 1;
        match self.rng.below(4) {
            0 => json!(format!("s{}", self.next_id)),
            _ => json!(self.next_id),
        }
    }

    fn pick_str(&mut self, items: &[&str]) -> String {
        (*self.rng.pick(items)).to_owned()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": self.id(), "method": method, "params": params})
    }

    fn call(&mut self, name: Value, arguments: Value) -> Vec<u8> {
        let params = json!({"name": name, "arguments": arguments});
        self.request("tools/call", params).to_string().into_bytes()
    }

    fn garbage(&mut self) -> Vec<u8> {
        const JSONISH: &[u8] = b"{}[]\":,0123456789aeflnrstu \\";
        let len = self.rng.below(300);
        (0..len)
            .map(|_| match self.rng.below(4) {
                // No newline: one frame is one line.
                0 => (self.rng.below(256) as u8).max(11),
                _ => *self.rng.pick(JSONISH),
            })
            .collect()
    }

    fn truncated(&mut self) -> Vec<u8> {
        let full = self.mutated_call();
        let cut = self.rng.below(full.len().max(1));
        full[..cut].to_vec()
    }

    fn not_an_object(&mut self) -> Vec<u8> {
        let value = match self.rng.below(6) {
            0 => json!(null),
            1 => json!(42),
            2 => json!("tools/list"),
            3 => json!([]),
            4 => json!(true),
            _ => json!([1, "two", {"three": 3}]),
        };
        value.to_string().into_bytes()
    }

    fn bad_envelope(&mut self) -> Vec<u8> {
        let id = self.id();
        let value = match self.rng.below(10) {
            0 => json!({"jsonrpc": "1.0", "id": id, "method": "tools/list"}),
            1 => json!({"id": id, "method": "tools/list"}),
            2 => json!({"jsonrpc": "2.0", "id": id}),
            3 => json!({"jsonrpc": "2.0", "id": id, "method": 7}),
            4 => json!({"jsonrpc": "2.0", "id": {"nested": true}, "method": "tools/list"}),
            5 => json!({"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}),
            6 => json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": "str"}),
            7 => json!({"jsonrpc": "2.0", "id": null, "method": "tools/list"}),
            8 => json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": []}),
            _ => json!({"jsonrpc": 2, "id": id, "method": "ping", "result": {}, "error": {}}),
        };
        value.to_string().into_bytes()
    }

    fn unknown_method(&mut self) -> Vec<u8> {
        let method = self.pick_str(&[
            "no/such/method",
            "",
            "tools/destroy",
            "initialize",
            "notifications/unknown",
            "$/cancelRequest",
            "rpc.discover",
            "server/discover",
        ]);
        if self.rng.below(2) == 0 {
            json!({"jsonrpc": "2.0", "method": method, "params": {}})
                .to_string()
                .into_bytes()
        } else {
            let params = json!({});
            self.request(&method, params).to_string().into_bytes()
        }
    }

    fn response_to_server(&mut self) -> Vec<u8> {
        let id = self.id();
        let value = match self.rng.below(3) {
            0 => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
            1 => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "x"}}),
            _ => json!({"jsonrpc": "2.0", "id": 0, "result": {"roots": [{"uri": "file:///"}]}}),
        };
        value.to_string().into_bytes()
    }

    fn duplicate_ids(&mut self) -> Vec<Vec<u8>> {
        let first = self.mutated_call();
        vec![first.clone(), first]
    }

    fn batch(&mut self) -> Vec<u8> {
        let n = self.rng.below(4);
        let items: Vec<Value> = (0..n)
            .map(|_| self.request("tools/list", json!({})))
            .collect();
        Value::Array(items).to_string().into_bytes()
    }

    fn deep_nesting(&mut self) -> Vec<u8> {
        let depth = 100 + self.rng.below(20_000);
        let mut line =
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', depth));
        line.extend(std::iter::repeat_n(b']', depth));
        line.push(b'}');
        line
    }

    fn odd_params(&mut self) -> Vec<u8> {
        let nasty = self.pick_str(NASTY_STRINGS);
        let (method, params) = match self.rng.below(8) {
            0 => ("resources/read", json!({"uri": nasty})),
            1 => ("resources/read", json!({"uri": 5})),
            2 => (
                "prompts/get",
                json!({"name": nasty, "arguments": {"x": nasty}}),
            ),
            3 => (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": nasty},
                       "argument": {"name": nasty, "value": nasty}}),
            ),
            4 => ("logging/setLevel", json!({"level": nasty})),
            5 => ("resources/subscribe", json!({"uri": nasty})),
            6 => ("ping", json!({"unexpected": [nasty]})),
            _ => ("tools/list", json!({"cursor": nasty})),
        };
        self.request(method, params).to_string().into_bytes()
    }

    /// A call of a real tool with arguments built from its input schema,
    /// then (usually) broken in one way.
    fn mutated_call(&mut self) -> Vec<u8> {
        if self.tools.is_empty() {
            return self.call(json!("tools_not_listed_yet"), json!({}));
        }
        let tool = self.rng.pick(&self.tools).clone();
        let schema = &tool["inputSchema"];
        let mut args = match self.plausible(schema, schema, 0) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let properties: Vec<(String, Value)> = schema["properties"]
            .as_object()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let arguments = match self.rng.below(9) {
            0 | 1 if !properties.is_empty() => {
                let (name, prop) = self.rng.pick(&properties).clone();
                let wrong = self.wrong_type(&prop);
                args.insert(name, wrong);
                Value::Object(args)
            }
            2 => {
                let required: Vec<String> = schema["required"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(name) = required.first() {
                    args.remove(name);
                }
                Value::Object(args)
            }
            3 => {
                let value = self.nasty_value();
                args.insert(self.pick_str(&["extra", "__proto__", "", "path "]), value);
                Value::Object(args)
            }
            4 if !properties.is_empty() => {
                let (name, _) = self.rng.pick(&properties).clone();
                let len = self.cap / 2 + self.rng.below(self.cap / 4);
                args.insert(name, json!("A".repeat(len)));
                Value::Object(args)
            }
            5 if !properties.is_empty() => {
                let (name, _) = self.rng.pick(&properties).clone();
                let text = self.pick_str(ODD_NUMBERS);
                let number: Value = serde_json::from_str(&text).unwrap_or(json!(0));
                args.insert(name, number);
                Value::Object(args)
            }
            6 => match self.rng.below(4) {
                0 => json!([args]),
                1 => json!("arguments"),
                2 => json!(null),
                _ => json!(7),
            },
            7 if !properties.is_empty() => {
                let (name, _) = self.rng.pick(&properties).clone();
                let mut value = json!("deep");
                for _ in 0..(64 + self.rng.below(200)) {
                    value = json!([value]);
                }
                args.insert(name, value);
                Value::Object(args)
            }
            _ => Value::Object(args),
        };
        self.call(tool["name"].clone(), arguments)
    }

    /// A value that fits `schema` (roughly): what a real client would send.
    fn plausible(&mut self, schema: &Value, root: &Value, depth: usize) -> Value {
        if depth > 6 {
            return json!(null);
        }
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap_or_default();
            let target = root["$defs"][name].clone();
            let target = if target.is_null() {
                root["definitions"][name].clone()
            } else {
                target
            };
            return self.plausible(&target, root, depth + 1);
        }
        if let Some(options) = schema["enum"].as_array().filter(|o| !o.is_empty()) {
            return self.rng.pick(options).clone();
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(options) = schema[key].as_array().filter(|o| !o.is_empty()) {
                let option = self.rng.pick(options).clone();
                return self.plausible(&option, root, depth + 1);
            }
        }
        let ty = match &schema["type"] {
            Value::String(t) => t.clone(),
            Value::Array(types) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null")
                .to_owned(),
            _ => "object".to_owned(),
        };
        match ty.as_str() {
            "string" => match self.rng.below(3) {
                0 => json!(self.pick_str(NASTY_STRINGS)),
                _ => json!(self.pick_str(&["fuzz.txt", "a", "hello world", "x/y.png"])),
            },
            "integer" => json!(self.rng.below(100)),
            "number" => json!(self.rng.below(1000) as f64 / 10.0),
            "boolean" => json!(self.rng.below(2) == 0),
            "array" => {
                let n = self.rng.below(3);
                let items = schema["items"].clone();
                Value::Array(
                    (0..n)
                        .map(|_| self.plausible(&items, root, depth + 1))
                        .collect(),
                )
            }
            "null" => json!(null),
            _ => {
                let mut map = Map::new();
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, prop) in properties {
                        if required.contains(&name.as_str()) || self.rng.below(3) == 0 {
                            let value = self.plausible(prop, root, depth + 1);
                            map.insert(name.clone(), value);
                        }
                    }
                }
                Value::Object(map)
            }
        }
    }

    /// A value of another JSON type than the schema says.
    fn wrong_type(&mut self, schema: &Value) -> Value {
        let declared = schema["type"].as_str().unwrap_or("");
        loop {
            let (ty, value) = match self.rng.below(6) {
                0 => ("string", json!(self.pick_str(NASTY_STRINGS))),
                1 => ("integer", json!(-7)),
                2 => ("number", json!(3.25)),
                3 => ("boolean", json!(true)),
                4 => ("array", json!(["a", 1, null])),
                _ => ("object", json!({"nested": {"deeper": []}})),
            };
            if ty != declared && !(declared == "number" && ty == "integer") {
                return value;
            }
        }
    }

    fn nasty_value(&mut self) -> Value {
        match self.rng.below(4) {
            0 => json!(self.pick_str(NASTY_STRINGS)),
            1 => json!(1e300),
            2 => json!({"a": [1, {"b": null}]}),
            _ => json!(null),
        }
    }
}

// ---------------------------------------------------------------------------
// Boundary mode: every parameter of every tool at and past its edges.
// ---------------------------------------------------------------------------
//
// For each tool of `tools/list`, from its input schema: numbers at 0, -1, 1,
// 2^31, 2^53, 2^63, 1e15 and one past the schema's own bounds; strings empty
// and as large as the message cap allows (and one past `maxLength`); enums
// (declared, or listed in the description) at an unknown value; parameters
// that take a document (`text`, `content`, ...) deeply nested documents of
// the formats the tool reads. The other parameters hold valid minimal values
// (real files in the server's directory for paths). Every call must be
// answered within the deadline, the process must live, print only JSON,
// answer no 5xx, stay under an RSS bound and still answer `tools/list`.
// A panic caught and answered as a tool error is a failure too (the server
// itself calls it a bug). No randomness: the cases follow from the schemas.

/// Which transport a boundary run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::Http => "http",
        }
    }
}

/// What a boundary run sends.
#[derive(Debug, Clone)]
pub struct BoundaryConfig {
    /// The server's `--max-message-bytes`; large strings and documents are
    /// sized to fit just under it.
    pub max_message_bytes: usize,
    /// Nesting depths of the documents given to document parameters.
    pub depths: Vec<usize>,
    /// Fewer numbers per parameter and one generic document family (CI).
    pub short: bool,
    /// Peak resident memory (VmHWM) a server may reach, in KiB.
    pub rss_limit_kib: u64,
    /// Resident memory at which the harness kills the server (SIGKILL) in
    /// the middle of a call, so that a runaway allocation cannot take the
    /// machine down with it; at least `rss_limit_kib`.
    pub rss_kill_kib: u64,
    /// How long a call may take to be answered.
    pub deadline: Duration,
    /// The server's `--max-call-seconds` (below `deadline`, so that work the
    /// server stops by itself is answered in time).
    pub max_call_seconds: u64,
    /// Only the tools named here (every tool when empty).
    pub tools: Vec<String>,
    /// Print every call and its outcome to stderr.
    pub verbose: bool,
}

impl BoundaryConfig {
    /// Everything: the server's default message cap, depths up to 10^6.
    pub fn full() -> Self {
        Self {
            max_message_bytes: mcp_servers_core::cli::DEFAULT_MAX_MESSAGE_BYTES,
            depths: vec![1_000, 10_000, 100_000, 1_000_000],
            short: false,
            rss_limit_kib: 1024 * 1024,
            rss_kill_kib: 2 * 1024 * 1024,
            deadline: DEADLINE,
            max_call_seconds: DEADLINE.as_secs() - 5,
            tools: Vec::new(),
            verbose: false,
        }
    }

    /// The CI subset: every tool and parameter, fewer values, a 1 MiB cap,
    /// depths up to 10^4.
    pub fn short() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            depths: vec![1_000, 10_000],
            short: true,
            ..Self::full()
        }
    }
}

/// One call that broke a rule, with what it takes to send it again.
#[derive(Debug, Clone)]
pub struct BoundaryFailure {
    pub tool: String,
    /// The arguments, the boundary value shown as `<...>` and the fixture
    /// directory as `$DIR`.
    pub arguments: String,
    pub what: String,
}

impl std::fmt::Display for BoundaryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.tool, self.arguments, self.what)
    }
}

/// What a boundary run found.
#[derive(Debug, Default)]
pub struct BoundaryReport {
    /// The tools the server listed.
    pub tools: Vec<String>,
    /// Calls sent (each followed by a `tools/list` probe).
    pub calls: usize,
    /// Successful results, tool errors and JSON-RPC errors among the answers.
    pub results: usize,
    pub tool_errors: usize,
    pub rpc_errors: usize,
    /// Documents that would not fit under the message cap (not sent).
    pub skipped: usize,
    pub probes: usize,
    pub failures: Vec<BoundaryFailure>,
    pub calls_per_tool: BTreeMap<String, usize>,
    /// Tools whose call with minimal valid arguments was a tool error: their
    /// boundary values may stop at the first check (for a reader to judge).
    pub baseline_errors: Vec<String>,
    /// Calls answered, but slowly (over [`SLOW_CALL`]).
    pub slow: Vec<String>,
    /// Calls the server stopped at its own `--max-call-seconds` deadline
    /// (answered in time, with an error; the work may be quadratic).
    pub stopped_at_deadline: Vec<String>,
    /// Server processes started again after a failure.
    pub restarts: usize,
    /// The highest VmHWM of any server process of the run.
    pub rss_peak_kib: u64,
    pub elapsed: Duration,
    /// HTTP only: how many calls had each status.
    pub statuses: BTreeMap<u16, usize>,
}

/// A call slower than this is listed in the report (not a failure).
pub const SLOW_CALL: Duration = Duration::from_secs(5);

/// Bytes left free under the cap when a string is sized to fit.
const CAP_MARGIN: usize = 64;

/// Stands where the boundary value goes until the frame is written.
const PLACEHOLDER: &str = "\u{1}boundary\u{1}";
/// The placeholder as serde_json writes it.
const PLACEHOLDER_JSON: &str = "\"\\u0001boundary\\u0001\"";

/// An enum value no server knows.
const UNKNOWN_CHOICE: &str = "\"boundary-unknown-value\"";

/// What a call stopped at `--max-call-seconds` is answered with.
const DEADLINE_MARK: &str = "ran past its deadline";

/// What [`call_tool_guarded`](mcp_servers_core::error) answers a panic with.
const PANIC_MARK: &str = "internal error: the tool crashed";

/// Runs every boundary case against `bin args...` over `transport`, with
/// the fixture files in `dir` (which `args` should allow, for servers that
/// take directories).
pub async fn boundary(
    bin: &Path,
    args: &[&str],
    dir: &Path,
    transport: Transport,
    config: &BoundaryConfig,
) -> anyhow::Result<BoundaryReport> {
    let fixtures = Fixtures::create(dir)?;
    let mut argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    argv.extend([
        "--max-message-bytes".to_owned(),
        config.max_message_bytes.to_string(),
        "--max-call-seconds".to_owned(),
        config.max_call_seconds.to_string(),
    ]);
    let start = Instant::now();
    let (mut conn, tools) = Conn::start(bin, &argv, transport, config.deadline).await?;
    anyhow::ensure!(!tools.is_empty(), "the server lists no tools");
    let cases = boundary_cases(&tools, &fixtures, config);
    anyhow::ensure!(!cases.is_empty(), "no tool matched {:?}", config.tools);
    let mut report = BoundaryReport {
        tools: tools
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect(),
        ..BoundaryReport::default()
    };
    let mut id = 1000_u64;
    for case in &cases {
        id += 1;
        let Some((frame, label)) = case.render(id, config.max_message_bytes) else {
            report.skipped += 1;
            continue;
        };
        fixtures.refresh()?;
        let stderr_from = conn.stderr_len();
        let started = Instant::now();
        let frame_len = frame.len();
        let watch = RssWatch::start(conn.pid(), config.rss_kill_kib.max(config.rss_limit_kib));
        let outcome = conn.call(&json!(id), frame, config.deadline).await;
        let took = started.elapsed();
        let (watched_peak, killed) = watch.finish();
        report.calls += 1;
        *report.calls_per_tool.entry(case.tool.clone()).or_default() += 1;
        let mut problems = Vec::new();
        // Whether the server is to be started again before the next case.
        let mut restart = false;
        report.rss_peak_kib = report.rss_peak_kib.max(watched_peak);
        if killed {
            problems.push(format!(
                "RSS reached {:.0} MiB during the call: killed by the harness (bound {:.0} MiB)",
                watched_peak as f64 / 1024.0,
                config.rss_limit_kib as f64 / 1024.0
            ));
            restart = true;
        }
        // Whether the server's stderr may say why (no answer, or gone).
        let mut show_stderr = false;
        match outcome {
            Ok(answer) => {
                if let Some(status) = answer.status {
                    *report.statuses.entry(status).or_default() += 1;
                }
                report.classify(case, &answer, frame_len, config, &mut problems);
                if answer.message.to_string().contains(DEADLINE_MARK) {
                    report.stopped_at_deadline.push(format!(
                        "{} {}: {:.1} s",
                        case.tool,
                        case.summary(&label, &fixtures.root),
                        took.as_secs_f64()
                    ));
                }
            }
            Err(e) => {
                problems.push(e);
                restart = true;
                show_stderr = true;
            }
        }
        if took > SLOW_CALL {
            report.slow.push(format!(
                "{} {}: {:.1} s",
                case.tool,
                case.summary(&label, &fixtures.root),
                took.as_secs_f64()
            ));
        }
        if let Some(peak) = memory_kib(conn.pid(), "VmHWM") {
            report.rss_peak_kib = report.rss_peak_kib.max(peak);
            if peak > config.rss_limit_kib && !killed {
                problems.push(format!(
                    "peak RSS {:.0} MiB, over the {:.0} MiB bound",
                    peak as f64 / 1024.0,
                    config.rss_limit_kib as f64 / 1024.0
                ));
                restart = true;
            }
        }
        let wait = if problems.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(2)
        };
        if let Some(status) = conn.exit_status_within(wait) {
            problems.push(format!("the server exited: {}", describe_exit(status)));
            restart = true;
            show_stderr = true;
        } else {
            report.probes += 1;
            let probe = json!(format!("probe-{}", report.probes));
            match conn.list_tools(&probe, config.deadline).await {
                Ok(listed) if listed.len() == tools.len() => {}
                Ok(listed) => problems.push(format!(
                    "tools/list afterwards listed {} tools, not {}",
                    listed.len(),
                    tools.len()
                )),
                Err(e) => {
                    problems.push(format!("tools/list afterwards failed: {e:#}"));
                    restart = true;
                    show_stderr = true;
                }
            }
        }
        if config.verbose {
            eprintln!(
                "{} {} -> {:.3} s, {}",
                case.tool,
                squeeze(&case.summary(&label, &fixtures.root)),
                took.as_secs_f64(),
                if problems.is_empty() {
                    "ok".to_owned()
                } else {
                    squeeze(&problems.join("; "))
                }
            );
        }
        if killed {
            // What follows the kill (no answer, SIGKILL) says nothing more.
            problems.truncate(1);
            show_stderr = false;
        }
        if !problems.is_empty() {
            let mut what = problems.join("; ");
            if show_stderr {
                // Warnings, errors and panics; not the request log.
                let stderr: Vec<String> = conn
                    .stderr_since(stderr_from)
                    .lines()
                    .filter(|l| {
                        ![" INFO ", " DEBUG ", " TRACE "]
                            .iter()
                            .any(|level| l.contains(level))
                    })
                    .map(str::to_owned)
                    .collect();
                let stderr = stderr.join("\n");
                let stderr = tail(stderr.trim(), 1200);
                if !stderr.is_empty() {
                    what.push_str(&format!("; stderr: {}", stderr.replace('\n', " | ")));
                }
            }
            report.failures.push(BoundaryFailure {
                tool: case.tool.clone(),
                arguments: case.summary(&label, &fixtures.root),
                what: squeeze(&what),
            });
        }
        if restart {
            drop(conn);
            conn = Conn::start(bin, &argv, transport, config.deadline)
                .await
                .context("starting the server again after a failure")?
                .0;
            report.restarts += 1;
        }
    }
    if let Some(peak) = memory_kib(conn.pid(), "VmHWM") {
        report.rss_peak_kib = report.rss_peak_kib.max(peak);
    }
    if let Conn::Stdio(server) = conn
        && report.failures.is_empty()
    {
        server
            .close()
            .context("the server did not exit on EOF after the boundary run")?;
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

impl BoundaryReport {
    /// Counts an answer, noting what in it is a failure.
    fn classify(
        &mut self,
        case: &BoundaryCase,
        answer: &Answer,
        frame_len: usize,
        config: &BoundaryConfig,
        problems: &mut Vec<String>,
    ) {
        let message = &answer.message;
        let text = message["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let error = message["error"]["message"].as_str().unwrap_or_default();
        let too_large = answer.status == Some(413)
            || (message["error"]["code"] == json!(-32600) && error.contains("exceeds"));
        if too_large && frame_len <= config.max_message_bytes {
            problems.push(format!(
                "refused as too large although the message is {frame_len} bytes, within \
                 --max-message-bytes {}: {}",
                config.max_message_bytes,
                short_text(if error.is_empty() { text } else { error }, 300)
            ));
        }
        if message.get("error").is_some() || message.is_null() {
            self.rpc_errors += 1;
            if error.contains(PANIC_MARK) {
                problems.push(format!("the tool panicked: {}", short_text(error, 600)));
            }
        } else if message["result"]["isError"] == json!(true) {
            self.tool_errors += 1;
            if text.contains(PANIC_MARK) {
                problems.push(format!("the tool panicked: {}", short_text(text, 600)));
            }
            if matches!(case.value, Probe::Baseline) {
                self.baseline_errors
                    .push(format!("{}: {}", case.tool, short_text(text, 200)));
            }
        } else {
            self.results += 1;
        }
    }
}

/// Watches a server's resident memory while a call runs and kills the
/// process past a bound: a call allocating tens of GiB would otherwise take
/// the machine (and every other process on it) down.
struct RssWatch {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<(u64, bool)>,
}

impl RssWatch {
    fn start(pid: u32, kill_kib: u64) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                let rss = memory_kib(pid, "VmRSS").unwrap_or(0);
                peak = peak.max(rss);
                if rss > kill_kib {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return (peak, true);
                }
                // A sampling interval, ended early when the call is over.
                match stopped.recv_timeout(Duration::from_millis(20)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return (peak, false),
                }
            }
        });
        Self { stop, thread }
    }

    /// The highest RSS seen (KiB), and whether the server was killed.
    fn finish(self) -> (u64, bool) {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or((0, false))
    }
}

/// What a signal or exit code says, in words.
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGABRT => "SIGABRT (abort)",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGBUS => "SIGBUS",
                libc::SIGILL => "SIGILL",
                libc::SIGFPE => "SIGFPE",
                libc::SIGKILL => "SIGKILL",
                libc::SIGTERM => "SIGTERM",
                _ => "",
            };
            format!("killed by signal {signal} {name}")
                .trim_end()
                .to_owned()
        }
        None => format!("{status}"),
    }
}

/// `text` with every run of more than 32 equal characters written once
/// with its count: `AAAA... (1048477 x 'A')`.
fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        if run > 32 {
            out.extend(std::iter::repeat_n(c, 4));
            out.push_str(&format!("... ({run} x {c:?})"));
        } else {
            out.extend(std::iter::repeat_n(c, run));
        }
    }
    out
}

/// `text` cut to about `max` bytes, on one line.
fn short_text(text: &str, max: usize) -> String {
    let squeezed = squeeze(text);
    let text = squeezed.as_str();
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].replace('\n', " ");
    if end < text.len() {
        out.push_str(&format!("... ({} bytes)", text.len()));
    }
    out
}

// --- fixtures -----------------------------------------------------------------

/// The files path parameters point at, in the server's allowed directory;
/// restored before every call (tools may move, edit or delete them).
pub struct Fixtures {
    root: PathBuf,
    text: PathBuf,
    png: PathBuf,
    dir: PathBuf,
    new: PathBuf,
}

/// The small text file's content (edit_file's minimal `oldText` is in it).
const FIXTURE_TEXT: &str = "hello world\n";

impl Fixtures {
    pub fn create(root: &Path) -> anyhow::Result<Self> {
        let root = root
            .canonicalize()
            .with_context(|| format!("fixture directory {}", root.display()))?;
        let fixtures = Self {
            text: root.join("boundary.txt"),
            png: root.join("boundary.png"),
            dir: root.join("dir"),
            new: root.join("new"),
            root,
        };
        fixtures.refresh()?;
        Ok(fixtures)
    }

    fn refresh(&self) -> anyhow::Result<()> {
        std::fs::write(&self.text, FIXTURE_TEXT)?;
        std::fs::write(&self.png, png_rgb(16, 16))?;
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.dir.join("a.png"), png_rgb(16, 16))?;
        std::fs::write(self.dir.join("b.txt"), FIXTURE_TEXT)?;
        match std::fs::remove_dir_all(&self.new) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("clearing the fixtures' new/ directory"),
        }
        std::fs::create_dir(&self.new)?;
        Ok(())
    }

    fn path(&self, role: PathRole, tool: &str, param: &str) -> String {
        let path = match role {
            PathRole::TextFile => self.text.clone(),
            PathRole::Image => self.png.clone(),
            PathRole::Dir => self.dir.clone(),
            PathRole::NewFile(ext) => self.new.join(format!("{tool}-{param}{ext}")),
            PathRole::NewDir => self.new.join(format!("{tool}-{param}")),
        };
        path.display().to_string()
    }
}

/// A valid `width` x `height` 8-bit RGB PNG (a gradient), uncompressed
/// deflate blocks inside its zlib stream.
pub fn png_rgb(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend([
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                128,
            ]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        zlib.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        zlib.push(last);
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(block);
    }
    let (mut a, mut b) = (1_u32, 0_u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend(kind);
        png.extend(data);
        let crc = crc32fast::hash(&png[start..]);
        png.extend(crc.to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a path parameter should name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathRole {
    TextFile,
    Image,
    Dir,
    /// A file that does not exist yet, with this extension.
    NewFile(&'static str),
    NewDir,
}

/// Whether `param` of `tool` names a file or directory, and which.
fn path_role(tool: &str, images: bool, param: &str, description: &str) -> Option<PathRole> {
    let name = param.to_ascii_lowercase();
    let description = description.to_ascii_lowercase();
    let is_dir = name.ends_with("_dir") || name == "directory";
    if !(name.contains("path") || is_dir || name == "source" || name == "destination") {
        return None;
    }
    let images =
        images || description.contains("image") || tool.contains("image") || tool.contains("media");
    let new = name.contains("output")
        || name == "destination"
        || tool == "write_file"
        || tool == "create_directory";
    Some(match (new, is_dir || tool == "create_directory") {
        (true, true) => PathRole::NewDir,
        (true, false) => PathRole::NewFile(if images { ".png" } else { ".txt" }),
        (false, true) => PathRole::Dir,
        (false, false)
            if description.starts_with("directory")
                || tool.starts_with("list_directory")
                || tool == "directory_tree" =>
        {
            PathRole::Dir
        }
        (false, false) if images => PathRole::Image,
        (false, false) => PathRole::TextFile,
    })
}

// --- schemas --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Number,
    Str,
    Bool,
    Array,
    Object,
    Null,
    Other,
}

/// A parameter's schema, `$ref`s followed and `anyOf`/`oneOf` sorted out.
#[derive(Debug, Clone)]
struct Shape {
    kind: Kind,
    /// The schema that holds the bounds (`minimum`, `maxLength`, `items`).
    schema: Value,
    /// Declared choices (`enum`, `const`s), without null.
    choices: Vec<Value>,
    /// Objects: each variant's schema (one for a plain object).
    variants: Vec<Value>,
}

fn resolve<'a>(mut schema: &'a Value, root: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = schema["$ref"].as_str() else {
            break;
        };
        let name = reference.rsplit('/').next().unwrap_or_default();
        let target = &root["$defs"][name];
        schema = if target.is_null() {
            &root["definitions"][name]
        } else {
            target
        };
    }
    schema
}

fn kind_of_value(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Number,
        Value::Number(_) => Kind::Integer,
        Value::String(_) => Kind::Str,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

fn shape(schema: &Value, root: &Value, depth: usize) -> Shape {
    let s = resolve(schema, root);
    let plain = |kind| Shape {
        kind,
        schema: s.clone(),
        choices: Vec::new(),
        variants: Vec::new(),
    };
    if depth > 8 {
        return plain(Kind::Other);
    }
    if let Some(options) = s["enum"].as_array() {
        let choices: Vec<Value> = options.iter().filter(|v| !v.is_null()).cloned().collect();
        let kind = choices.first().map_or(Kind::Null, kind_of_value);
        return Shape {
            choices,
            ..plain(kind)
        };
    }
    if let Some(value) = s.get("const") {
        return Shape {
            choices: vec![value.clone()],
            ..plain(kind_of_value(value))
        };
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        let Some(options) = s[key].as_array() else {
            continue;
        };
        let shapes: Vec<Shape> = options
            .iter()
            .map(|o| shape(o, root, depth + 1))
            .filter(|o| o.kind != Kind::Null)
            .collect();
        let Some(first) = shapes.first() else {
            return plain(Kind::Null);
        };
        if shapes.iter().all(|o| !o.choices.is_empty()) {
            return Shape {
                choices: shapes.iter().flat_map(|o| o.choices.clone()).collect(),
                ..plain(first.kind)
            };
        }
        if shapes.iter().all(|o| o.kind == Kind::Object) {
            return Shape {
                variants: shapes.iter().flat_map(|o| o.variants.clone()).collect(),
                ..plain(Kind::Object)
            };
        }
        return first.clone();
    }
    let ty = match &s["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ => "",
    };
    match ty {
        "integer" => plain(Kind::Integer),
        "number" => plain(Kind::Number),
        "string" => plain(Kind::Str),
        "boolean" => plain(Kind::Bool),
        "array" => plain(Kind::Array),
        "object" => Shape {
            variants: vec![s.clone()],
            ..plain(Kind::Object)
        },
        "null" => plain(Kind::Null),
        _ => plain(Kind::Other),
    }
}

/// A property's description (on the property, else on what it refers to),
/// whitespace collapsed.
fn description(property: &Value, root: &Value) -> String {
    let text = property["description"]
        .as_str()
        .or_else(|| resolve(property, root)["description"].as_str())
        .unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Values a string parameter takes that its description lists:
/// `"hex" (default) or "base64"`, `One of: upper, lower, ...`,
/// `html (default): ...; text: ...; outline: ...`.
fn described_choices(description: &str) -> Vec<String> {
    if description.starts_with('"') {
        let quoted: Vec<String> = description
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|w| is_choice_word(w))
            .map(str::to_owned)
            .collect();
        if quoted.len() >= 2 {
            return quoted;
        }
    }
    let segments: Vec<&str> = description.split("; ").collect();
    if segments.len() >= 2 {
        let labels: Option<Vec<String>> = segments
            .iter()
            .map(|segment| {
                let (head, _) = segment.split_once(':')?;
                let head = head.split(" (").next()?.trim();
                is_choice_word(head).then(|| head.to_owned())
            })
            .collect();
        if let Some(labels) = labels.filter(|l| l.len() >= 2) {
            return labels;
        }
    }
    let mut candidates = vec![description];
    if let Some((_, after)) = description.split_once(':') {
        candidates.push(after);
    }
    for candidate in candidates {
        let mut rest = candidate.trim_start();
        for prefix in ["any of ", "one of "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let words = choice_list(rest);
        if words.len() >= 2 {
            return words;
        }
    }
    Vec::new()
}

fn is_choice_word(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// `a, b (note), c or d.` -> [a, b, c, d]; stops at the first thing that is
/// not a list of words.
fn choice_list(mut rest: &str) -> Vec<String> {
    let mut words = Vec::new();
    loop {
        let quote = rest.starts_with(['"', '`']);
        if quote {
            rest = &rest[1..];
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if !is_choice_word(word) {
            break;
        }
        rest = &rest[end..];
        if quote {
            rest = rest.strip_prefix(['"', '`']).unwrap_or(rest);
        }
        if let Some(after) = rest.strip_prefix(" (") {
            let Some(close) = after.find(')') else { break };
            rest = &after[close + 1..];
        }
        words.push(word.to_owned());
        let mut next = None;
        for separator in [", or ", ", ", " or "] {
            if let Some(after) = rest.strip_prefix(separator) {
                next = Some(after);
                break;
            }
        }
        match next {
            Some(after) => rest = after,
            None => {
                // A list ends at punctuation or the end, not mid-sentence.
                if !(rest.is_empty() || rest.starts_with(['.', ';', ':'])) {
                    words.clear();
                }
                break;
            }
        }
    }
    words
}

/// Whole words of `text` outside backquotes: siblings it refers to in prose.
fn bare_words(text: &str) -> Vec<&str> {
    text.split('`').step_by(2).flat_map(words).collect()
}

/// Whole words of `text` (letters, digits and `_`).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `description` names `other` as an alternative: "Give this or
/// `x`", "(or give `x`)", "instead of `x`", "alias of `x`".
fn names_alternative(description: &str, other: &str) -> bool {
    let quoted = format!("`{other}`");
    description.match_indices(&quoted).any(|(at, _)| {
        let before = description[..at].trim_end();
        before.ends_with(" or")
            || before.ends_with(" give")
            || (before.ends_with(" of") && !before.ends_with("extension of"))
    })
}

/// A document nested `depth` deep, in one of the shapes parsers recurse on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFamily {
    JsonArrays,
    JsonObjects,
    YamlFlowSequences,
    YamlFlowMappings,
    YamlBlockSequences,
    YamlBlockMappings,
    TomlInlineTables,
    TomlArrays,
    TomlDottedKeys,
    HtmlDivs,
    HtmlDivsUnclosed,
    HtmlBoldItalic,
    HtmlLists,
    HtmlBlockquotes,
    MarkdownQuotes,
    MarkdownListsIndented,
    MarkdownListsInline,
}

impl DocFamily {
    const DATA: &'static [Self] = &[
        Self::JsonArrays,
        Self::JsonObjects,
        Self::YamlFlowSequences,
        Self::YamlFlowMappings,
        Self::YamlBlockSequences,
        Self::YamlBlockMappings,
        Self::TomlInlineTables,
        Self::TomlArrays,
        Self::TomlDottedKeys,
    ];
    const HTML: &'static [Self] = &[
        Self::HtmlDivs,
        Self::HtmlDivsUnclosed,
        Self::HtmlBoldItalic,
        Self::HtmlLists,
        Self::HtmlBlockquotes,
    ];
    const MARKDOWN: &'static [Self] = &[
        Self::MarkdownQuotes,
        Self::MarkdownListsIndented,
        Self::MarkdownListsInline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::JsonArrays => "JSON [[[...]]]",
            Self::JsonObjects => "JSON {\"a\":{\"a\":...}}",
            Self::YamlFlowSequences => "YAML flow [[[...]]]",
            Self::YamlFlowMappings => "YAML flow {a: {a: ...}}",
            Self::YamlBlockSequences => "YAML block - - - x",
            Self::YamlBlockMappings => "YAML block mappings (indented)",
            Self::TomlInlineTables => "TOML a = {a = {...}}",
            Self::TomlArrays => "TOML a = [[[...]]]",
            Self::TomlDottedKeys => "TOML a.a.a... = 1",
            Self::HtmlDivs => "HTML <div>",
            Self::HtmlDivsUnclosed => "HTML <div> unclosed",
            Self::HtmlBoldItalic => "HTML <b><i>",
            Self::HtmlLists => "HTML <ul><li>",
            Self::HtmlBlockquotes => "HTML <blockquote>",
            Self::MarkdownQuotes => "Markdown > > >",
            Self::MarkdownListsIndented => "Markdown nested lists (indented)",
            Self::MarkdownListsInline => "Markdown nested lists - - - x",
        }
    }

    /// The data format, for the families a `format` parameter selects.
    pub fn format(self) -> Option<&'static str> {
        match self {
            Self::JsonArrays | Self::JsonObjects => Some("json"),
            Self::YamlFlowSequences
            | Self::YamlFlowMappings
            | Self::YamlBlockSequences
            | Self::YamlBlockMappings => Some("yaml"),
            Self::TomlInlineTables | Self::TomlArrays | Self::TomlDottedKeys => Some("toml"),
            _ => None,
        }
    }

    /// The document, or None if it would exceed `limit` bytes.
    pub fn build(self, depth: usize, limit: usize) -> Option<String> {
        // `before`, then `open` x depth, `middle`, `close` x depth, `after`.
        let wrap = |before: &str, open: &str, middle: &str, close: &str, after: &str| {
            let size = (open.len() + close.len()).checked_mul(depth)?
                + before.len()
                + middle.len()
                + after.len();
            (size <= limit).then(|| {
                let mut doc = String::with_capacity(size);
                doc.push_str(before);
                doc.push_str(&open.repeat(depth));
                doc.push_str(middle);
                doc.push_str(&close.repeat(depth));
                doc.push_str(after);
                doc
            })
        };
        let nest = |open: &str, middle: &str, close: &str| wrap("", open, middle, close, "");
        match self {
            Self::JsonArrays | Self::YamlFlowSequences => nest("[", "", "]"),
            Self::JsonObjects => nest("{\"a\":", "1", "}"),
            Self::YamlFlowMappings => nest("{a: ", "1", "}"),
            Self::YamlBlockSequences => nest("- ", "x\n", ""),
            Self::TomlInlineTables => wrap("a = ", "{a = ", "1", "}", "\n"),
            Self::TomlArrays => wrap("a = ", "[", "1", "]", "\n"),
            Self::TomlDottedKeys => wrap("", "a.", "a = 1\n", "", ""),
            Self::HtmlDivs => nest("<div>", "x", "</div>"),
            Self::HtmlDivsUnclosed => nest("<div>", "x", ""),
            Self::HtmlBlockquotes => nest("<blockquote>", "x", "</blockquote>"),
            Self::HtmlLists => nest("<ul><li>", "x", "</li></ul>"),
            Self::HtmlBoldItalic => {
                let size = 7_usize.checked_mul(depth)? + 1;
                (size <= limit).then(|| {
                    let mut doc = String::with_capacity(size);
                    for level in 0..depth {
                        doc.push_str(if level.is_multiple_of(2) {
                            "<b>"
                        } else {
                            "<i>"
                        });
                    }
                    doc.push('x');
                    for level in (0..depth).rev() {
                        doc.push_str(if level.is_multiple_of(2) {
                            "</b>"
                        } else {
                            "</i>"
                        });
                    }
                    doc
                })
            }
            Self::MarkdownQuotes => nest("> ", "x\n", ""),
            Self::MarkdownListsInline => nest("- ", "x\n", ""),
            Self::YamlBlockMappings | Self::MarkdownListsIndented => {
                let (line, last) = if self == Self::YamlBlockMappings {
                    ("a:\n", "a: 1\n")
                } else {
                    ("- x\n", "- x\n")
                };
                // Level i is indented by 2i spaces: quadratic in the depth.
                let indent = depth.checked_mul(depth.saturating_sub(1))?;
                let lines = depth.saturating_sub(1).checked_mul(line.len())?;
                let size = indent.checked_add(lines)? + last.len();
                (size <= limit).then(|| {
                    let mut doc = String::with_capacity(size);
                    for level in 0..depth {
                        doc.extend(std::iter::repeat_n(' ', 2 * level));
                        doc.push_str(if level + 1 == depth { last } else { line });
                    }
                    doc
                })
            }
        }
    }
}

/// Which documents a document parameter of `tool` gets.
fn doc_families(tool: &str, formats: &[String], short: bool) -> Vec<DocFamily> {
    let tool = tool.to_ascii_lowercase();
    if tool.contains("html") {
        return DocFamily::HTML.to_vec();
    }
    if tool.contains("markdown") {
        return DocFamily::MARKDOWN.to_vec();
    }
    let data_formats: Vec<&str> = ["json", "yaml", "toml"]
        .into_iter()
        .filter(|f| formats.iter().any(|c| c == f) || (formats.is_empty() && tool.contains(f)))
        .collect();
    if !data_formats.is_empty() {
        return DocFamily::DATA
            .iter()
            .copied()
            .filter(|f| f.format().is_some_and(|x| data_formats.contains(&x)))
            .collect();
    }
    if short {
        vec![DocFamily::JsonArrays]
    } else {
        vec![
            DocFamily::JsonArrays,
            DocFamily::MarkdownQuotes,
            DocFamily::HtmlDivs,
        ]
    }
}

/// Names of parameters that take a whole document.
const DOC_PARAMS: &[&str] = &[
    "text", "content", "json", "yaml", "toml", "html", "markdown", "a", "b", "document", "body",
];

// --- cases ----------------------------------------------------------------------

/// The boundary value of a case.
#[derive(Debug, Clone)]
enum Probe {
    /// Minimal valid arguments only.
    Baseline,
    /// A JSON literal as written (`9223372036854775808`, `1e15`, `""`).
    Raw(String),
    /// A string of `A`s as long as the message cap allows.
    Large,
    /// A string of `n` `A`s.
    Repeat(usize),
    Doc(DocFamily, usize),
}

/// One call: a tool, its arguments with [`PLACEHOLDER`] where the boundary
/// value goes, and that value.
#[derive(Debug, Clone)]
pub struct BoundaryCase {
    pub tool: String,
    arguments: Value,
    value: Probe,
}

impl BoundaryCase {
    /// The request line, and how the boundary value reads in a report; None
    /// if it does not fit under `cap`.
    fn render(&self, id: u64, cap: usize) -> Option<(Vec<u8>, String)> {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": self.tool, "arguments": self.arguments}});
        let text = request.to_string();
        let Some(at) = text.find(PLACEHOLDER_JSON) else {
            return Some((text.into_bytes(), "baseline".to_owned()));
        };
        let budget = cap.saturating_sub(text.len() - PLACEHOLDER_JSON.len() + CAP_MARGIN);
        let (value, label) = match &self.value {
            Probe::Baseline => return None,
            Probe::Raw(literal) => (literal.clone().into_bytes(), literal.clone()),
            Probe::Large => {
                let n = budget.checked_sub(2)?;
                (quoted_as(n), format!("<\"A\" x {n}>"))
            }
            Probe::Repeat(n) => (quoted_as(*n), format!("<\"A\" x {n}>")),
            Probe::Doc(family, depth) => {
                let doc = family.build(*depth, budget)?;
                let escaped = serde_json::to_string(&doc).ok()?;
                if escaped.len() > budget {
                    return None;
                }
                let label = format!(
                    "<{} nested {depth} deep, {} bytes>",
                    family.name(),
                    doc.len()
                );
                (escaped.into_bytes(), label)
            }
        };
        let mut frame = Vec::with_capacity(text.len() + value.len());
        frame.extend_from_slice(&text.as_bytes()[..at]);
        frame.extend_from_slice(&value);
        frame.extend_from_slice(&text.as_bytes()[at + PLACEHOLDER_JSON.len()..]);
        Some((frame, label))
    }

    /// The arguments with the boundary value as `label` and `root` as `$DIR`.
    fn summary(&self, label: &str, root: &Path) -> String {
        self.arguments
            .to_string()
            .replace(PLACEHOLDER_JSON, label)
            .replace(&root.display().to_string(), "$DIR")
            .replace(&base64(&png_rgb(16, 16)), "<base64 of $DIR/boundary.png>")
    }
}

fn quoted_as(n: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(n + 2);
    value.push(b'"');
    value.resize(n + 1, b'A');
    value.push(b'"');
    value
}

/// One step into the arguments.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn set_at(target: &mut Value, path: &[Seg], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    let slot = match first {
        Seg::Key(key) => {
            if !target.is_object() {
                *target = json!({});
            }
            target
                .as_object_mut()
                .expect("an object")
                .entry(key.clone())
                .or_insert(Value::Null)
        }
        Seg::Index(i) => {
            if !target.is_array() {
                *target = json!([]);
            }
            let items = target.as_array_mut().expect("an array");
            if items.len() <= *i {
                items.resize(i + 1, Value::Null);
            }
            &mut items[*i]
        }
    };
    set_at(slot, rest, value);
}

/// Every boundary case of `tools` (sorted by name; `config.tools` only).
pub fn boundary_cases(
    tools: &[Value],
    fixtures: &Fixtures,
    config: &BoundaryConfig,
) -> Vec<BoundaryCase> {
    let images = tools
        .iter()
        .any(|t| t["name"].as_str().is_some_and(|n| n.contains("image")));
    let mut tools: Vec<&Value> = tools
        .iter()
        .filter(|t| {
            config.tools.is_empty()
                || config
                    .tools
                    .iter()
                    .any(|name| t["name"].as_str() == Some(name.as_str()))
        })
        .collect();
    tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut cases = Vec::new();
    for tool in tools {
        let generator = CaseGen {
            tool: tool["name"].as_str().unwrap_or_default().to_owned(),
            root: &tool["inputSchema"],
            images,
            fixtures,
            config,
        };
        generator.cases(&mut cases);
    }
    cases
}

struct CaseGen<'a> {
    tool: String,
    root: &'a Value,
    images: bool,
    fixtures: &'a Fixtures,
    config: &'a BoundaryConfig,
}

/// A property of an object schema, described.
struct Prop {
    name: String,
    shape: Shape,
    description: String,
    required: bool,
    /// Declared or described choices, as strings.
    choices: Vec<String>,
}

impl CaseGen<'_> {
    fn props(&self, object: &Value) -> Vec<Prop> {
        let required: Vec<&str> = object["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut props: Vec<Prop> = object["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(name, schema)| {
                        let shape = shape(schema, self.root, 0);
                        let description = description(schema, self.root);
                        let mut choices: Vec<String> = shape
                            .choices
                            .iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect();
                        if choices.is_empty() && shape.kind == Kind::Str {
                            choices = described_choices(&description);
                        }
                        Prop {
                            required: required.contains(&name.as_str()),
                            name: name.clone(),
                            shape,
                            description,
                            choices,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        props.sort_by(|a, b| a.name.cmp(&b.name));
        props
    }

    /// A valid, minimal value for `prop`.
    fn minimal(&self, of: &Shape, name: &str, description: &str, choices: &[String]) -> Value {
        if let Some(first) = of.choices.first() {
            return first.clone();
        }
        match of.kind {
            Kind::Integer | Kind::Number => {
                let s = &of.schema;
                let low = s["minimum"]
                    .as_f64()
                    .or_else(|| s["exclusiveMinimum"].as_f64().map(|m| m.floor() + 1.0));
                let high = s["maximum"].as_f64();
                let step = s["multipleOf"].as_f64().filter(|m| *m > 0.0);
                let mut value = step.unwrap_or(1.0);
                if let Some(low) = low.filter(|l| value < *l) {
                    value = low;
                }
                if let Some(high) = high.filter(|h| value > *h) {
                    value = high;
                }
                if of.kind == Kind::Integer {
                    json!(value as i64)
                } else {
                    json!(value)
                }
            }
            Kind::Str => {
                if let Some(first) = choices.first() {
                    return json!(first);
                }
                if let Some(role) = path_role(&self.tool, self.images, name, description) {
                    return json!(self.fixtures.path(role, &self.tool, name));
                }
                if name.starts_with("data") && description.contains("base64") {
                    return json!(base64(&png_rgb(16, 16)));
                }
                if DOC_PARAMS.contains(&name) {
                    return json!(sample_text(&self.tool));
                }
                json!("hello")
            }
            Kind::Bool => json!(false),
            Kind::Array => {
                let items = shape(&of.schema["items"], self.root, 0);
                json!([self.minimal(&items, name, description, &[])])
            }
            Kind::Object => match of.variants.first() {
                Some(variant) => Value::Object(self.minimal_object(variant, false)),
                None => json!({}),
            },
            Kind::Null | Kind::Other => Value::Null,
        }
    }

    /// The required properties of `object` (plus constants, and at the top
    /// level the alternatives a tool needs one of: "Give this or `path`").
    fn minimal_object(&self, object: &Value, top: bool) -> Map<String, Value> {
        let props = self.props(object);
        let mut map = Map::new();
        for prop in &props {
            let constant = prop.shape.choices.len() == 1 && prop.shape.kind == Kind::Str;
            if prop.required || constant {
                let value = self.minimal(&prop.shape, &prop.name, &prop.description, &prop.choices);
                map.insert(prop.name.clone(), value);
            }
        }
        if top {
            for prop in &props {
                let wants = prop.description.contains("Give this or")
                    || prop.description.contains("(or give");
                let taken = map.keys().any(|k| names_alternative(&prop.description, k));
                if wants && !taken && !map.contains_key(&prop.name) {
                    let value =
                        self.minimal(&prop.shape, &prop.name, &prop.description, &prop.choices);
                    map.insert(prop.name.clone(), value);
                }
            }
        }
        map
    }

    /// Adjusts the siblings of `target` in `object` to what it needs: drops
    /// its alternatives, adds the siblings it names, and picks the choice of
    /// a sibling it names ("indent ... for pretty output" -> action=pretty).
    fn adjust(&self, object: &mut Map<String, Value>, props: &[Prop], target: &Prop) {
        let alternatives = |of: &Prop, object: &mut Map<String, Value>| {
            for prop in props {
                if prop.name != of.name
                    && !prop.required
                    && (names_alternative(&of.description, &prop.name)
                        || names_alternative(&prop.description, &of.name))
                {
                    object.remove(&prop.name);
                }
            }
        };
        alternatives(target, object);
        let mentioned = words(&target.description);
        let named = bare_words(&target.description);
        for prop in props {
            // Short names ("a", "to") are ordinary words too.
            if prop.name == target.name
                || prop.name.len() < 3
                || object.contains_key(&prop.name)
                || !named.contains(&prop.name.as_str())
            {
                continue;
            }
            let value = self.minimal(&prop.shape, &prop.name, &prop.description, &prop.choices);
            object.insert(prop.name.clone(), value);
            alternatives(prop, object);
        }
        for prop in props {
            if prop.name == target.name {
                continue;
            }
            if let Some(choice) = prop
                .choices
                .iter()
                .find(|c| mentioned.contains(&c.as_str()))
            {
                object.insert(prop.name.clone(), json!(choice));
            }
        }
    }

    fn cases(&self, out: &mut Vec<BoundaryCase>) {
        let baseline = self.minimal_object(self.root, true);
        out.push(BoundaryCase {
            tool: self.tool.clone(),
            arguments: Value::Object(baseline.clone()),
            value: Probe::Baseline,
        });
        self.object_cases(&Value::Object(baseline), &[], self.root, 0, out);
    }

    /// Cases for every property of `object`, which sits at `path` in `base`.
    fn object_cases(
        &self,
        base: &Value,
        path: &[Seg],
        object: &Value,
        level: usize,
        out: &mut Vec<BoundaryCase>,
    ) {
        if level > 3 {
            return;
        }
        let props = self.props(object);
        for prop in &props {
            if prop.shape.choices.len() == 1 {
                continue; // a constant (a variant's tag)
            }
            let mut arguments = base.clone();
            let mut holder = pointer(&arguments, path)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            self.adjust(&mut holder, &props, prop);
            set_at(&mut arguments, path, Value::Object(holder));
            let mut at = path.to_vec();
            at.push(Seg::Key(prop.name.clone()));
            self.value_cases(&arguments, &at, prop, &props, level, out);
        }
    }

    fn push(&self, out: &mut Vec<BoundaryCase>, base: &Value, at: &[Seg], value: Probe) {
        let mut arguments = base.clone();
        set_at(&mut arguments, at, json!(PLACEHOLDER));
        out.push(BoundaryCase {
            tool: self.tool.clone(),
            arguments,
            value,
        });
    }

    fn value_cases(
        &self,
        base: &Value,
        at: &[Seg],
        prop: &Prop,
        siblings: &[Prop],
        level: usize,
        out: &mut Vec<BoundaryCase>,
    ) {
        match prop.shape.kind {
            Kind::Integer | Kind::Number => {
                let integer = prop.shape.kind == Kind::Integer;
                for literal in numbers(&prop.shape.schema, integer, self.config.short) {
                    self.push(out, base, at, Probe::Raw(literal));
                }
            }
            Kind::Str => {
                self.push(out, base, at, Probe::Raw("\"\"".to_owned()));
                self.push(out, base, at, Probe::Large);
                if let Some(max) = prop.shape.schema["maxLength"].as_u64() {
                    self.push(out, base, at, Probe::Repeat(max as usize + 1));
                }
                if !prop.choices.is_empty() {
                    self.push(out, base, at, Probe::Raw(UNKNOWN_CHOICE.to_owned()));
                }
                let document = level == 0
                    && DOC_PARAMS.contains(&prop.name.as_str())
                    && path_role(&self.tool, self.images, &prop.name, &prop.description).is_none();
                if document {
                    self.doc_cases(base, at, siblings, out);
                }
            }
            Kind::Array => {
                let items = shape(&prop.shape.schema["items"], self.root, 0);
                let mut item_at = at.to_vec();
                item_at.push(Seg::Index(0));
                match items.kind {
                    Kind::Object => {
                        for variant in &items.variants {
                            let mut arguments = base.clone();
                            let item = self.minimal_object(variant, false);
                            set_at(&mut arguments, at, json!([item]));
                            self.object_cases(&arguments, &item_at, variant, level + 1, out);
                        }
                    }
                    _ => {
                        let mut arguments = base.clone();
                        let item = self.minimal(&items, &prop.name, &prop.description, &[]);
                        set_at(&mut arguments, at, json!([item]));
                        let item_prop = Prop {
                            name: prop.name.clone(),
                            description: prop.description.clone(),
                            required: true,
                            choices: if items.choices.is_empty() && items.kind == Kind::Str {
                                described_choices(&prop.description)
                            } else {
                                items
                                    .choices
                                    .iter()
                                    .filter_map(|c| c.as_str().map(str::to_owned))
                                    .collect()
                            },
                            shape: items,
                        };
                        self.value_cases(&arguments, &item_at, &item_prop, &[], level + 1, out);
                    }
                }
            }
            Kind::Object => {
                for variant in &prop.shape.variants {
                    let mut arguments = base.clone();
                    let object = self.minimal_object(variant, false);
                    set_at(&mut arguments, at, Value::Object(object));
                    self.object_cases(&arguments, at, variant, level + 1, out);
                }
            }
            Kind::Bool | Kind::Null | Kind::Other => {}
        }
    }

    /// Deeply nested documents for a document parameter at `at` (top level):
    /// the families of the formats the tool reads, each at every depth, with
    /// the tool's `format` set to match and every `action`/`mode`.
    fn doc_cases(&self, base: &Value, at: &[Seg], siblings: &[Prop], out: &mut Vec<BoundaryCase>) {
        let choices_of = |name: &str| {
            siblings
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.choices.clone())
                .unwrap_or_default()
        };
        let formats = choices_of("format");
        let actions: Vec<(String, String)> = ["action", "mode"]
            .iter()
            .flat_map(|name| {
                choices_of(name)
                    .into_iter()
                    .map(move |c| ((*name).to_owned(), c))
            })
            .collect();
        let targets = choices_of("to");
        for family in doc_families(&self.tool, &formats, self.config.short) {
            for &depth in &self.config.depths {
                let mut arguments = base.clone();
                if let (Some(format), Some(object)) = (family.format(), arguments.as_object_mut()) {
                    if formats.iter().any(|f| f == format) {
                        object.insert("format".to_owned(), json!(format));
                    }
                    if let Some(to) = targets.iter().find(|t| *t != format) {
                        object.insert("to".to_owned(), json!(to));
                    }
                }
                if actions.is_empty() {
                    self.push(out, &arguments, at, Probe::Doc(family, depth));
                }
                for (name, action) in &actions {
                    let mut arguments = arguments.clone();
                    if let Some(object) = arguments.as_object_mut() {
                        object.insert(name.clone(), json!(action));
                    }
                    self.push(out, &arguments, at, Probe::Doc(family, depth));
                }
            }
        }
    }
}

fn pointer<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(*i),
    })
}

/// A small valid input for a tool's document parameter.
fn sample_text(tool: &str) -> &'static str {
    match tool {
        "decode" => "aGVsbG8gd29ybGQ=",
        t if t.contains("json") || t.contains("yaml") || t.contains("toml") => {
            "{\"a\": [1, \"hello world\"]}"
        }
        _ => "hello\tworld\n  hello again\n",
    }
}

/// The numbers a numeric parameter is tried at, as JSON literals.
fn numbers(schema: &Value, integer: bool, short: bool) -> Vec<String> {
    let mut out: Vec<String> = if short {
        ["0", "-1", "9223372036854775808"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        [
            "0",
            "-1",
            "1",
            "2147483648",
            "9007199254740992",
            "9223372036854775808",
            "1e15",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    };
    if integer {
        out.push("1000000000000000".to_owned());
    } else if short {
        out.push("1e15".to_owned());
    }
    for (key, delta) in [
        ("minimum", -1),
        ("maximum", 1),
        ("exclusiveMinimum", 0),
        ("exclusiveMaximum", 0),
    ] {
        let Some(bound) = schema.get(key).and_then(Value::as_number) else {
            continue;
        };
        let literal = if let Some(n) = bound.as_i64() {
            (i128::from(n) + delta).to_string()
        } else if let Some(n) = bound.as_u64() {
            (i128::from(n) + delta).to_string()
        } else {
            let x = bound.as_f64().unwrap_or_default() + delta as f64;
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{x:.1}")
            } else {
                format!("{x}")
            }
        };
        out.push(literal);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|literal| seen.insert(literal.clone()));
    out
}

// --- the connection -----------------------------------------------------------

/// An answer to a call: the JSON-RPC message (null if an HTTP error status
/// came without one) and, over HTTP, the status.
struct Answer {
    message: Value,
    status: Option<u16>,
}

enum Conn {
    Stdio(RawStdio),
    Http {
        server: HttpServer,
        http: reqwest::Client,
        url: String,
        session: Option<String>,
    },
}

impl Conn {
    /// Starts the server, initializes, and lists its tools.
    async fn start(
        bin: &Path,
        argv: &[String],
        transport: Transport,
        deadline: Duration,
    ) -> anyhow::Result<(Self, Vec<Value>)> {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut conn = match transport {
            Transport::Stdio => {
                let mut server = RawStdio::spawn(bin, &argv)?;
                server.initialize().context("initialize")?;
                Self::Stdio(server)
            }
            Transport::Http => {
                let server = HttpServer::spawn(bin, &argv)?;
                let http = reqwest::Client::builder().timeout(deadline).build()?;
                let url = server.url("/mcp");
                let session = open_session(&http, &url).await?;
                Self::Http {
                    server,
                    http,
                    url,
                    session,
                }
            }
        };
        let tools = conn.list_tools(&json!("list"), deadline).await?;
        Ok((conn, tools))
    }

    fn pid(&self) -> u32 {
        match self {
            Self::Stdio(server) => server.pid(),
            Self::Http { server, .. } => server.pid(),
        }
    }

    fn stderr(&self) -> &Arc<Mutex<String>> {
        match self {
            Self::Stdio(server) => &server.stderr,
            Self::Http { server, .. } => &server.stderr,
        }
    }

    fn stderr_len(&self) -> usize {
        self.stderr().lock().map(|s| s.len()).unwrap_or(0)
    }

    fn stderr_since(&self, from: usize) -> String {
        self.stderr()
            .lock()
            .map(|s| s.get(from..).unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    fn exit_status_within(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        match self {
            Self::Stdio(server) => server.exit_status_within(wait),
            Self::Http { server, .. } => server.exit_status_within(wait),
        }
    }

    async fn list_tools(&mut self, id: &Value, deadline: Duration) -> anyhow::Result<Vec<Value>> {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        let answer = self
            .call(id, request.to_string().into_bytes(), deadline)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        answer.message["result"]["tools"]
            .as_array()
            .cloned()
            .with_context(|| format!("tools/list answered {}", answer.message))
    }

    /// Sends one request and waits for its answer; an error says why none
    /// came (or why the answer breaks the protocol).
    async fn call(
        &mut self,
        id: &Value,
        frame: Vec<u8>,
        deadline: Duration,
    ) -> Result<Answer, String> {
        match self {
            Self::Stdio(server) => stdio_call(server, id, &frame, deadline),
            Self::Http {
                http, url, session, ..
            } => http_call(http, url, session.as_deref(), id, frame, deadline).await,
        }
    }
}

fn stdio_call(
    server: &mut RawStdio,
    id: &Value,
    frame: &[u8],
    deadline: Duration,
) -> Result<Answer, String> {
    server
        .send_bytes(frame)
        .map_err(|e| format!("writing the request failed: {e:#}"))?;
    let start = Instant::now();
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        let line = match server.recv_line_within(left) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(format!("no answer within {} s", deadline.as_secs())),
            Err(e) => return Err(format!("no answer: {e:#}")),
        };
        let message: Value = serde_json::from_str(&line)
            .map_err(|_| format!("non-JSON line on stdout: {}", short_text(&line, 300)))?;
        if message.get("id") == Some(id)
            && (message.get("result").is_some() || message.get("error").is_some())
        {
            return Ok(Answer {
                message,
                status: None,
            });
        }
        if message.get("method").is_some()
            && let Some(request_id) = message.get("id")
        {
            // A request from the server (sampling, elicitation, roots):
            // refused, so that the tool waiting for it goes on.
            let refusal = json!({"jsonrpc": "2.0", "id": request_id,
                "error": {"code": -32601, "message": "not supported by the boundary harness"}});
            server
                .send(&refusal)
                .map_err(|e| format!("writing a refusal failed: {e:#}"))?;
        }
    }
}

async fn http_call(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    id: &Value,
    frame: Vec<u8>,
    deadline: Duration,
) -> Result<Answer, String> {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(frame);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("no answer within {} s", deadline.as_secs())
        } else {
            format!("HTTP request failed: {e:#}")
        }
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.map_err(failed)?;
    let body = String::from_utf8_lossy(&body);
    if status >= 500 {
        return Err(format!("HTTP {status}: {}", short_text(&body, 300)));
    }
    let messages = http_messages(&content_type, &body);
    if let Some(message) = messages.iter().find(|m| {
        m.get("id") == Some(id) && (m.get("result").is_some() || m.get("error").is_some())
    }) {
        return Ok(Answer {
            message: message.clone(),
            status: Some(status),
        });
    }
    if (400..500).contains(&status) {
        // Refused before it reached the session: an answer all the same.
        return Ok(Answer {
            message: messages.into_iter().next().unwrap_or(Value::Null),
            status: Some(status),
        });
    }
    Err(format!(
        "HTTP {status} without an answer to the call: {}",
        short_text(&body, 300)
    ))
}

/// The JSON-RPC messages of an HTTP answer (one JSON body, or SSE events).
fn http_messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        return serde_json::from_str(body).into_iter().collect();
    }
    let mut messages = Vec::new();
    let mut data = String::new();
    for line in body.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(message) = serde_json::from_str(&data) {
                messages.push(message);
            }
            data.clear();
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_frames() {
        let tools = vec![json!({"name": "t", "inputSchema": {"type": "object",
            "properties": {"path": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["path"]}})];
        let config = FuzzConfig {
            seed: 7,
            ..FuzzConfig::default()
        };
        let mut a = FrameGen::new(config, tools.clone());
        let mut b = FrameGen::new(config, tools);
        for _ in 0..500 {
            assert_eq!(a.next_frame(), b.next_frame());
        }
    }

    #[test]
    fn frames_are_single_lines() {
        let mut frames = FrameGen::new(FuzzConfig::default(), Vec::new());
        for _ in 0..2000 {
            for line in frames.next_frame() {
                assert!(!line.contains(&b'\n'), "a frame spans lines");
            }
        }
    }

    #[test]
    fn wrong_types_differ_from_the_declared_one() {
        let mut frames = FrameGen::new(FuzzConfig::default(), Vec::new());
        for _ in 0..200 {
            assert!(!frames.wrong_type(&json!({"type": "string"})).is_string());
            assert!(!frames.wrong_type(&json!({"type": "integer"})).is_i64());
        }
    }

    fn fixtures() -> (tempfile::TempDir, Fixtures) {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Fixtures::create(dir.path()).unwrap();
        (dir, fixtures)
    }

    #[test]
    fn described_choices_read_the_lists_in_descriptions() {
        let cases: &[(&str, &[&str])] = &[
            (
                "base64, base64url, hex, percent or html. With `path`, raw bytes.",
                &["base64", "base64url", "hex", "percent", "html"],
            ),
            ("One of: upper, lower, title.", &["upper", "lower", "title"]),
            (
                "validate (default), pretty, minify, sort_keys (recursively, pretty printed), \
                 query (by `pointer`) or convert (to `to`).",
                &[
                    "validate",
                    "pretty",
                    "minify",
                    "sort_keys",
                    "query",
                    "convert",
                ],
            ),
            (
                "\"unified\" (default): a unified diff like `diff -u`; \"lines\", \"words\" or \
                 \"chars\": the changes",
                &["unified", "lines", "words", "chars"],
            ),
            (
                "html (default): render to HTML; text: plain text; outline: the headings",
                &["html", "text", "outline"],
            ),
            (
                "Format of the input: json (default; or from `path`), yaml or toml.",
                &["json", "yaml", "toml"],
            ),
            (
                "What to extract: any of urls, emails, numbers. Default: all.",
                &["urls", "emails", "numbers"],
            ),
            (
                "What to look for: literal text, or a regex when `regex` is true.",
                &[],
            ),
            (
                "Path (absolute, or relative to the first allowed directory).",
                &[],
            ),
            (
                "JSON Pointer (RFC 6901) for query, e.g. \"/items/0/name\"; \"\" is all.",
                &[],
            ),
            (
                "Spaces per indentation level for pretty output, 0 to 16. Default 2.",
                &[],
            ),
        ];
        for (description, expected) in cases {
            assert_eq!(described_choices(description), *expected, "{description}");
        }
    }

    #[test]
    fn numbers_cover_the_edges_and_one_past_the_bounds() {
        let full = numbers(&json!({"minimum": 1, "maximum": 10000}), true, false);
        for expected in [
            "0",
            "-1",
            "1",
            "2147483648",
            "9007199254740992",
            "9223372036854775808",
            "1e15",
            "1000000000000000",
            "10001",
        ] {
            assert!(
                full.contains(&expected.to_owned()),
                "{expected} in {full:?}"
            );
        }
        let unique: std::collections::HashSet<&String> = full.iter().collect();
        assert_eq!(unique.len(), full.len(), "duplicates in {full:?}");
        let short = numbers(
            &json!({"exclusiveMinimum": 0, "maximum": 250.5}),
            false,
            true,
        );
        assert_eq!(short, ["0", "-1", "9223372036854775808", "1e15", "251.5"]);
        let negative = numbers(&json!({"minimum": -360, "maximum": 360}), true, true);
        assert!(negative.contains(&"-361".to_owned()) && negative.contains(&"361".to_owned()));
        for literal in full.iter().chain(&short).chain(&negative) {
            let parsed: Value = serde_json::from_str(literal).unwrap();
            assert!(parsed.is_number(), "{literal}");
        }
    }

    #[test]
    fn the_fixture_png_is_a_valid_image() {
        use base64::Engine as _;
        let png = png_rgb(16, 16);
        let decoded = image::load_from_memory(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (16, 16));
        let wide = png_rgb(300, 100); // more than one stored block
        assert_eq!(image::load_from_memory(&wide).unwrap().width(), 300);
        for bytes in [&png[..], b"", b"a", b"ab", b"abc"] {
            assert_eq!(
                base64(bytes),
                base64::engine::general_purpose::STANDARD.encode(bytes)
            );
        }
    }

    #[test]
    fn documents_nest_as_deep_as_asked_and_respect_the_limit() {
        let all = [DocFamily::DATA, DocFamily::HTML, DocFamily::MARKDOWN].concat();
        for family in all {
            let doc = family.build(1000, 64 << 20).unwrap();
            let levels = match family {
                DocFamily::JsonArrays | DocFamily::YamlFlowSequences => doc.matches('[').count(),
                DocFamily::TomlArrays => doc.matches('[').count(),
                DocFamily::JsonObjects | DocFamily::YamlFlowMappings => doc.matches('{').count(),
                DocFamily::TomlInlineTables => doc.matches('{').count(),
                DocFamily::TomlDottedKeys => doc.matches("a.").count(),
                DocFamily::YamlBlockSequences | DocFamily::MarkdownListsInline => {
                    doc.matches("- ").count()
                }
                DocFamily::YamlBlockMappings | DocFamily::MarkdownListsIndented => {
                    doc.lines().count()
                }
                DocFamily::HtmlDivs | DocFamily::HtmlDivsUnclosed => doc.matches("<div>").count(),
                DocFamily::HtmlBoldItalic => {
                    doc.matches("<b>").count() + doc.matches("<i>").count()
                }
                DocFamily::HtmlLists => doc.matches("<ul>").count(),
                DocFamily::HtmlBlockquotes => doc.matches("<blockquote>").count(),
                DocFamily::MarkdownQuotes => doc.matches('>').count(),
            };
            assert_eq!(levels, 1000, "{}", family.name());
            assert!(
                family.build(1000, doc.len() - 1).is_none(),
                "{}",
                family.name()
            );
            assert!(
                family.build(1000, doc.len()).as_deref() == Some(doc.as_str()),
                "{}",
                family.name()
            );
        }
        // Quadratic families fit only at small depths; linear ones at 10^6.
        assert!(
            DocFamily::YamlBlockMappings
                .build(10_000, 64 << 20)
                .is_none()
        );
        assert!(DocFamily::JsonObjects.build(1_000_000, 64 << 20).is_some());
        // The JSON families parse (where serde_json's recursion limit allows).
        let doc = DocFamily::JsonObjects.build(100, 1 << 20).unwrap();
        let value: Value = serde_json::from_str(&doc).unwrap();
        assert!(value.pointer(&"/a".repeat(99)).unwrap().is_object());
    }

    /// A tool schema with what the servers use: bounds, an enum behind a
    /// `$ref`, a described choice, an array of tagged variants, a path,
    /// alternatives ("Give this or `path`").
    fn sample_tool() -> Value {
        json!({"name": "json", "inputSchema": {
            "type": "object",
            "$defs": {
                "Mode": {"type": "string", "enum": ["fast", "slow"]},
                "Op": {"oneOf": [
                    {"type": "object", "properties": {
                        "op": {"const": "resize", "type": "string"},
                        "width": {"type": ["integer", "null"], "minimum": 1, "maximum": 100}},
                     "required": ["op"]},
                    {"type": "object", "properties": {"op": {"const": "invert"}},
                     "required": ["op"]}
                ]}
            },
            "properties": {
                "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
                "mode": {"$ref": "#/$defs/Mode"},
                "action": {"type": ["string", "null"],
                           "description": "validate (default), pretty or query."},
                "indent": {"type": "integer", "maximum": 16,
                           "description": "Spaces for pretty output."},
                "format": {"type": ["string", "null"],
                           "description": "Format of the input: json (default), yaml or toml."},
                "ops": {"type": "array", "items": {"$ref": "#/$defs/Op"}},
                "path": {"type": ["string", "null"],
                         "description": "A file to read instead of `text`."},
                "text": {"type": ["string", "null"],
                         "description": "The text. Give this or `path`, not both."},
                "label": {"type": "string"}
            },
            "required": ["label"]
        }})
    }

    fn sample_cases(config: &BoundaryConfig) -> (tempfile::TempDir, Fixtures, Vec<BoundaryCase>) {
        let (dir, fixtures) = fixtures();
        let cases = boundary_cases(&[sample_tool()], &fixtures, config);
        (dir, fixtures, cases)
    }

    /// The cases as their report lines.
    fn summaries(cases: &[BoundaryCase], fixtures: &Fixtures, cap: usize) -> Vec<String> {
        cases
            .iter()
            .enumerate()
            .filter_map(|(i, case)| {
                let (_, label) = case.render(i as u64, cap)?;
                Some(case.summary(&label, &fixtures.root))
            })
            .collect()
    }

    #[test]
    fn cases_follow_the_schema() {
        let config = BoundaryConfig::short();
        let (_dir, fixtures, cases) = sample_cases(&config);
        let lines = summaries(&cases, &fixtures, config.max_message_bytes);
        let has = |needle: &str| lines.iter().any(|l| l == needle);
        let text = "\"{\\\"a\\\": [1, \\\"hello world\\\"]}\"";
        let base = format!("\"label\":\"hello\",\"text\":{text}");
        assert!(has(&format!("{{{base}}}")), "baseline: {lines:#?}");
        for n in ["0", "6", "-1", "9223372036854775808", "1000000000000000"] {
            let wanted = format!("\"n\":{n},");
            assert!(
                lines.iter().any(|l| l.contains(&wanted)),
                "n = {n}: {lines:#?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"mode\":\"boundary-unknown-value\""))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"action\":\"boundary-unknown-value\""))
        );
        // indent names "pretty", a choice of action: set with it.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"action\":\"pretty\",\"indent\":17"))
        );
        // A variant's number, its tag set.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"ops\":[{\"op\":\"resize\",\"width\":101}]"))
        );
        // The path replaces its alternative, the text.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"path\":\"\"") && !l.contains("\"text\""))
        );
        // The documents: every data format at every depth, under every action.
        for family in ["JSON [[[...]]]", "YAML block - - - x", "TOML a.a.a... = 1"] {
            for depth in &config.depths {
                for action in ["validate", "pretty", "query"] {
                    assert!(
                        lines
                            .iter()
                            .any(|l| l.contains(&format!("<{family} nested {depth} deep"))
                                && l.contains(&format!("\"action\":\"{action}\""))),
                        "{family} {depth} {action}: {lines:#?}"
                    );
                }
            }
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"format\":\"toml\"") && l.contains("<TOML"))
        );
        assert!(lines.iter().any(|l| l.contains("<\"A\" x ")));
    }

    #[test]
    fn large_strings_fill_the_cap_and_documents_that_do_not_fit_are_skipped() {
        let config = BoundaryConfig::short();
        let (_dir, _fixtures, cases) = sample_cases(&config);
        let cap = 64 * 1024;
        let mut large = 0;
        let mut skipped = 0;
        for (i, case) in cases.iter().enumerate() {
            let Some((frame, label)) = case.render(i as u64, cap) else {
                skipped += 1;
                continue;
            };
            assert!(frame.len() <= cap, "{label}: {} bytes", frame.len());
            let request: Value = serde_json::from_slice(&frame).unwrap();
            assert_eq!(request["params"]["name"], "json");
            assert!(
                !frame
                    .windows(8)
                    .any(|w| w == b"boundary" && !label.contains("unknown"))
            );
            if matches!(case.value, Probe::Large) {
                large += 1;
                assert!(frame.len() > cap - 2 * CAP_MARGIN, "{} bytes", frame.len());
            }
        }
        assert!(large >= 4, "{large} large strings");
        // 10^4 levels of TOML inline tables (~60 KB escaped) do not fit in 64 KiB.
        assert!(skipped > 0);
    }

    #[test]
    fn path_parameters_name_fixtures_of_the_right_kind() {
        assert_eq!(
            path_role("read_text_file", false, "path", "Path of the file."),
            Some(PathRole::TextFile)
        );
        assert_eq!(
            path_role("read_media_file", false, "path", "Path."),
            Some(PathRole::Image)
        );
        assert_eq!(
            path_role("list_directory", false, "path", "Path."),
            Some(PathRole::Dir)
        );
        assert_eq!(
            path_role("search_files", false, "path", "Directory to search in."),
            Some(PathRole::Dir)
        );
        assert_eq!(
            path_role("write_file", false, "path", "Path."),
            Some(PathRole::NewFile(".txt"))
        );
        assert_eq!(
            path_role("create_directory", false, "path", "Path."),
            Some(PathRole::NewDir)
        );
        assert_eq!(
            path_role("move_file", false, "destination", "Where."),
            Some(PathRole::NewFile(".txt"))
        );
        assert_eq!(
            path_role("move_file", false, "source", "What."),
            Some(PathRole::TextFile)
        );
        assert_eq!(
            path_role("transform", true, "output_path", "Write here."),
            Some(PathRole::NewFile(".png"))
        );
        assert_eq!(
            path_role("batch_transform", true, "input_dir", "Read here."),
            Some(PathRole::Dir)
        );
        assert_eq!(
            path_role("batch_transform", true, "output_dir", "Write here."),
            Some(PathRole::NewDir)
        );
        assert_eq!(
            path_role("search", false, "pattern", "What to look for."),
            None
        );
    }

    #[test]
    fn http_answers_are_read_from_json_and_sse_bodies() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                   id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\n\
                   data: \"result\":{}}\n\n";
        let messages = http_messages("text/event-stream", sse);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1]["id"], 7);
        let json = http_messages(
            "application/json",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        );
        assert_eq!(json[0]["id"], 1);
    }

    #[test]
    fn long_runs_are_squeezed_in_reports() {
        let text = format!("x{}y", "A".repeat(1000));
        assert_eq!(squeeze(&text), "xAAAA... (1000 x 'A')y");
        assert_eq!(squeeze("1000000000000000"), "1000000000000000");
    }
}
