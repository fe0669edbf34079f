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
use std::path::Path;
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
    let init = http
        .post(&url)
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
        &http,
        &url,
        initialized.to_string().into_bytes(),
        session.as_deref(),
        "application/json",
    )
    .await?;
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
}
