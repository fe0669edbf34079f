//! Observability end to end: `--metrics-listen` (Prometheus text at
//! `/metrics`, over HTTP and stdio), `--log-format json`, and a request's
//! `_meta.traceparent` carried into the server's logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use mcp_servers_tests::rmcp::model::CallToolRequestParams;
use mcp_servers_tests::{
    DEADLINE, HttpServer, Lifecycle, RawStdio, args, first_message, initialize_body,
    session_headers,
};
use serde_json::{Value, json};

fn testserver() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-testserver"))
}

fn text_bin() -> &'static Path {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-text", "mcp-text"))
}

const TOKEN: &str = "obs-s3cret";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments))
}

/// Waits (polling the captured stderr, up to the deadline) for the line
/// announcing the metrics listener; returns `http://ADDR/metrics`.
fn metrics_url(stderr: &Arc<Mutex<String>>) -> String {
    let start = Instant::now();
    loop {
        let text = stderr.lock().unwrap().clone();
        if let Some(rest) = text.split("metrics at ").nth(1) {
            let url: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            assert!(url.ends_with("/metrics"), "{url}");
            return url;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no metrics listener announced; stderr:\n{text}"
        );
        std::thread::yield_now();
    }
}

/// One scrape: every sample as `name{labels}` -> value.
#[derive(Debug)]
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    async fn take(url: &str) -> Self {
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!(samples.insert(key.to_owned(), value).is_none(), "{line}");
        }
        Self { text, samples }
    }

    /// The sample `key` (`name{labels}`); a missing series fails the test.
    fn get(&self, key: &str) -> f64 {
        *self
            .samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in:\n{}", self.text))
    }

    /// Histogram buckets of `tool` as (le, cumulative count), in order.
    fn buckets(&self, server: &str, tool: &str) -> Vec<(String, f64)> {
        let prefix = format!(
            r#"mcp_tool_call_duration_seconds_bucket{{server="{server}",tool="{tool}",le=""#
        );
        let mut buckets: Vec<(String, f64)> = self
            .samples
            .iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                Some((le.to_owned(), *v))
            })
            .collect();
        let bound = |le: &str| {
            if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            }
        };
        buckets.sort_by(|a, b| bound(&a.0).total_cmp(&bound(&b.0)));
        buckets
    }
}

/// Scrapes until `ready` holds (the event is recorded just after the
/// answer goes out), failing at the deadline.
async fn scrape_until(url: &str, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let start = Instant::now();
    loop {
        let scrape = Scrape::take(url).await;
        if ready(&scrape) {
            return scrape;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{what} never showed in:\n{}",
            scrape.text
        );
        tokio::task::yield_now().await;
    }
}

fn calls(server: &str, tool: &str, outcome: &str) -> String {
    format!(r#"mcp_tool_calls_total{{server="{server}",tool="{tool}",outcome="{outcome}"}}"#)
}

fn refusals(server: &str, reason: &str) -> String {
    format!(r#"mcp_refusals_total{{server="{server}",reason="{reason}"}}"#)
}

fn in_flight(server: &str) -> String {
    format!(r#"mcp_tool_calls_in_flight{{server="{server}"}}"#)
}

fn sessions_active(server: &str, transport: &str) -> String {
    format!(r#"mcp_sessions_active{{server="{server}",transport="{transport}"}}"#)
}

/// Over HTTP: calls are counted by tool and outcome with their latency,
/// unknown tools under `unknown`, every refusal under its reason, sessions
/// and body bytes as they happen.
#[tokio::test]
async fn http_metrics_count_calls_latency_sessions_bytes_and_refusals() {
    let server = HttpServer::spawn(
        testserver(),
        &[
            "--auth-token",
            TOKEN,
            "--metrics-listen",
            "127.0.0.1:0",
            "--max-sessions",
            "1",
            "--max-message-bytes",
            "65536",
        ],
    )
    .unwrap();
    let url = metrics_url(&server.stderr);
    let s = "mcp-testserver";

    let before = Scrape::take(&url).await;
    assert_eq!(before.get(&refusals(s, "auth")), 0.0);
    assert_eq!(before.get(&sessions_active(s, "streamable_http")), 0.0);
    assert!(
        !before.text.contains("mcp_tool_calls_total{"),
        "{}",
        before.text
    );

    let client = server
        .client(Some(TOKEN), Lifecycle::Initialize)
        .await
        .unwrap();
    let ok = client
        .call_tool(call("echo", json!({"text": "x".repeat(20_000)})))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    let failed = client
        .call_tool(call("add", json!({"a": i64::MAX, "b": 1})))
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    let crashed = client.call_tool(call("crash", json!({}))).await.unwrap();
    assert_eq!(crashed.is_error, Some(true));
    let unknown = client.call_tool(call("no_such_tool_1234", json!({}))).await;
    assert!(unknown.is_err(), "{unknown:?}");

    // Refusals, one of each kind the HTTP side has.
    let no_token = server.post(&initialize_body(1), &[]).await.unwrap();
    assert_eq!(no_token.status(), 401);
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("authorization", bearer.as_str());
    let full = server.post(&initialize_body(1), &[auth]).await.unwrap();
    assert_eq!(full.status(), 503, "one session is alive: --max-sessions 1");
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "y".repeat(70_000)}});
    assert_eq!(server.post(&big, &[auth]).await.unwrap().status(), 413);
    let foreign = server
        .post(
            &initialize_body(1),
            &[auth, ("origin", "http://evil.example")],
        )
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let host = server
        .post(&initialize_body(1), &[auth, ("host", "evil.example")])
        .await
        .unwrap();
    assert_eq!(host.status(), 403);
    let garbage = server
        .http
        .post(server.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);

    let after = scrape_until(&url, "the unknown tool's call", |m| {
        m.samples
            .contains_key(&calls(s, "unknown", "protocol_error"))
    })
    .await;
    assert_eq!(after.get(&calls(s, "echo", "ok")), 1.0);
    assert_eq!(after.get(&calls(s, "add", "tool_error")), 1.0);
    assert_eq!(after.get(&calls(s, "crash", "tool_error")), 1.0);
    assert_eq!(after.get(&calls(s, "unknown", "protocol_error")), 1.0);
    assert!(
        !after.text.contains("no_such_tool_1234"),
        "an unknown name must not become a label"
    );
    for (reason, count) in [
        ("auth", 1.0),
        ("sessions_limit", 1.0),
        ("size", 1.0),
        ("origin", 1.0),
        ("host", 1.0),
        ("malformed", 1.0),
        ("duplicate_id", 0.0),
        ("read_timeout", 0.0),
    ] {
        assert_eq!(after.get(&refusals(s, reason)), count, "{reason}");
    }

    // The latency histogram of echo: one observation, cumulative buckets
    // that never decrease, up to +Inf.
    let buckets = after.buckets(s, "echo");
    assert!(buckets.len() > 10, "{buckets:?}");
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 1.0));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.iter().find(|b| b.0 == "300").unwrap().1, 1.0);
    assert_eq!(
        after.get(&format!(
            r#"mcp_tool_call_duration_seconds_count{{server="{s}",tool="echo"}}"#
        )),
        1.0
    );
    assert!(
        after.get(&format!(
            r#"mcp_tool_call_duration_seconds_sum{{server="{s}",tool="echo"}}"#
        )) > 0.0
    );
    assert_eq!(
        after.get(&format!(
            r#"mcp_tool_call_duration_seconds_count{{server="{s}",tool="add"}}"#
        )),
        1.0
    );

    assert_eq!(after.get(&in_flight(s)), 0.0);
    assert_eq!(after.get(&sessions_active(s, "streamable_http")), 1.0);
    // The 20,000-byte argument went in and came back out.
    let bytes_in = after.get(&format!(
        r#"mcp_http_request_body_bytes_total{{server="{s}"}}"#
    ));
    let bytes_out = after.get(&format!(
        r#"mcp_http_response_body_bytes_total{{server="{s}"}}"#
    ));
    // (The 413's body was refused by its length, never read.)
    assert!(bytes_in > 20_000.0, "{bytes_in}");
    assert!(bytes_out > 20_000.0, "{bytes_out}");
    assert!(
        after
            .text
            .contains(&format!(r#"mcp_build_info{{server="{s}",version=""#))
    );

    // Ending the session takes it off the gauge.
    client.cancel().await.unwrap();
    scrape_until(&url, "the session's end", |m| {
        m.get(&sessions_active(s, "streamable_http")) == 0.0
    })
    .await;
}

/// Over stdio too: the metrics listener runs beside the session; a call
/// the client cancels is counted as cancelled, stdio refusals by reason.
#[tokio::test]
async fn stdio_metrics_count_calls_cancellations_and_refusals() {
    let mut server = RawStdio::spawn(
        testserver(),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--max-message-bytes",
            "4096",
        ],
    )
    .unwrap();
    let url = metrics_url(&server.stderr);
    let s = "mcp-testserver";
    server.initialize().unwrap();
    let echo = server
        .request(
            1,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .unwrap();
    assert_eq!(echo["result"]["isError"], false, "{echo}");
    server.send_line("{not json").unwrap();
    assert_eq!(server.recv().unwrap()["error"]["code"], -32700);
    server
        .send_line(&format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"ping","params":{{"p":"{}"}}}}"#,
            "z".repeat(5000)
        ))
        .unwrap();
    assert_eq!(server.recv().unwrap()["error"]["code"], -32600);

    // A runaway call, then the client cancels it.
    server
        .send(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "spin", "arguments": {}}}))
        .unwrap();
    scrape_until(&url, "the spin call in flight", |m| {
        m.get(&in_flight(s)) == 1.0
    })
    .await;
    server
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 3, "reason": "test"}}),
        )
        .unwrap();
    let after = scrape_until(&url, "the cancelled call", |m| {
        m.samples.get(&calls(s, "spin", "cancelled")) == Some(&1.0)
    })
    .await;
    assert_eq!(after.get(&calls(s, "echo", "ok")), 1.0);
    assert_eq!(after.get(&in_flight(s)), 0.0);
    assert_eq!(after.get(&sessions_active(s, "stdio")), 1.0);
    assert_eq!(after.get(&refusals(s, "malformed")), 1.0);
    assert_eq!(after.get(&refusals(s, "size")), 1.0);
    // No HTTP on stdio.
    assert_eq!(
        after.get(&format!(
            r#"mcp_http_request_body_bytes_total{{server="{s}"}}"#
        )),
        0.0
    );
    assert!(server.close().unwrap().success());
}

/// A real server (mcp-text) has the same metrics under its own name.
#[tokio::test]
async fn a_real_server_labels_its_metrics_with_its_name() {
    let server = HttpServer::spawn(text_bin(), &["--metrics-listen", "127.0.0.1:0"]).unwrap();
    let url = metrics_url(&server.stderr);
    let client = server.client(None, Lifecycle::Initialize).await.unwrap();
    let ok = client
        .call_tool(call("text_stats", json!({"text": "hello world"})))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    let failed = client
        .call_tool(call(
            "text_stats",
            json!({"text": "x", "tokenizers": ["no_such_tokenizer"]}),
        ))
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    let m = scrape_until(&url, "text_stats calls", |m| {
        m.samples
            .get(&calls("mcp-text", "text_stats", "tool_error"))
            == Some(&1.0)
    })
    .await;
    assert_eq!(m.get(&calls("mcp-text", "text_stats", "ok")), 1.0);
    assert_eq!(m.buckets("mcp-text", "text_stats").last().unwrap().1, 2.0);
    client.cancel().await.unwrap();
}

/// Every stderr line parsed as JSON (the test fails on one that is not).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// Waits for a stderr JSON line that `wanted` accepts.
fn wait_for_line(
    stderr: &Arc<Mutex<String>>,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let text = stderr.lock().unwrap().clone();
        if let Some(line) = json_lines(&text).into_iter().find(|l| wanted(l)) {
            return line;
        }
        assert!(start.elapsed() < DEADLINE, "no {what} in stderr:\n{text}");
        std::thread::yield_now();
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `--log-format json` over HTTP: every stderr line is a JSON object
/// (start-up notes and the ready line included), and
/// the call sent with `_meta.traceparent` is logged in a span carrying the
/// trace id, the client's span as parent and a new span id of its own.
#[tokio::test]
async fn json_logs_carry_the_trace_of_a_traceparent_over_http() {
    let server = HttpServer::spawn(text_bin(), &["--log-format", "json"]).unwrap();
    let session = server.open_session().await.unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "text_stats", "arguments": {"text": "hello"},
        "_meta": {"traceparent": traceparent()}}});
    let response = server
        .post(&body, &session_headers(&session))
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer = first_message(&content_type, &response.text().await.unwrap()).unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let untraced = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "text_stats", "arguments": {"text": "hello"}}});
    let response = server
        .post(&untraced, &session_headers(&session))
        .await
        .unwrap();
    drop(response.text().await.unwrap());

    let line = wait_for_line(&server.stderr, "traced tool call line", |l| {
        l["message"] == "tool call" && l["span"]["trace_id"] == TRACE_ID
    });
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["span"]["name"], "tool_call");
    assert_eq!(line["span"]["tool"], "text_stats");
    assert_eq!(line["span"]["parent_span_id"], PARENT_ID);
    let span_id = line["span"]["span_id"].as_str().unwrap();
    assert!(is_hex(span_id, 16) && span_id != PARENT_ID, "{span_id}");
    assert!(line["timestamp"].is_string());
    // The call without a traceparent is logged without trace ids.
    let plain = wait_for_line(&server.stderr, "untraced tool call line", |l| {
        l["message"] == "tool call" && l["span"].get("trace_id").is_none()
    });
    assert_eq!(plain["span"]["tool"], "text_stats");
    // The ready line is JSON too, and the request log lines.
    let all = json_lines(&server.stderr.lock().unwrap());
    assert!(all.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("mcp: listening on http://"))
    }));
    assert!(
        all.iter()
            .any(|l| l["message"] == "request" && l["path"] == "/mcp")
    );
    // So is the start-up note on --roots (no DIR given here).
    assert!(all.iter().any(|l| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("warning: --roots narrow"))
    }));
}

/// On stdio (logs at `warn` by default) a traced call's errors carry its
/// trace id, and stdout still carries only protocol.
#[test]
fn json_logs_carry_the_trace_of_a_failing_call_over_stdio() {
    let mut server = RawStdio::spawn(testserver(), &["--log-format", "json"]).unwrap();
    server.initialize().unwrap();
    let answer = server
        .request(
            1,
            "tools/call",
            json!({"name": "crash", "arguments": {}, "_meta": {"traceparent": traceparent()}}),
        )
        .unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let line = wait_for_line(&server.stderr, "the traced panic", |l| {
        l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("tool panicked"))
    });
    assert_eq!(line["span"]["trace_id"], TRACE_ID);
    assert_eq!(line["span"]["parent_span_id"], PARENT_ID);
    assert_eq!(line["span"]["tool"], "crash");
    assert!(is_hex(line["span"]["span_id"].as_str().unwrap(), 16));
    // An invalid traceparent is ignored: the call runs, untraced.
    let answer = server
        .request(
            2,
            "tools/call",
            json!({"name": "crash", "arguments": {}, "_meta": {"traceparent": "00-zz-yy-01"}}),
        )
        .unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    wait_for_line(&server.stderr, "the untraced panic", |l| {
        l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("tool panicked"))
            && l["span"].get("trace_id").is_none()
    });
    assert!(server.close().unwrap().success());
}
