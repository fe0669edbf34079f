//! Core's transports, end to end, against the mcp-testserver binary.

use std::path::Path;
use std::time::Duration;

use mcp_servers_tests::rmcp::model::CallToolRequestParams;
use mcp_servers_tests::{
    DEADLINE, HttpServer, Lifecycle, RawStdio, args, first_message, initialize_body,
    session_headers, stdio_client, text_of,
};
use serde_json::{Value, json};

fn testserver() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mcp-testserver"))
}

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments))
}

async fn echo_round_trip(client: &mcp_servers_tests::Client) {
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"echo".to_owned()), "{names:?}");
    let result = client
        .call_tool(call("echo", json!({"text": "héllo"})))
        .await
        .unwrap();
    assert_eq!(text_of(&result), "héllo");
    assert_eq!(result.is_error, Some(false));
}

#[tokio::test]
async fn stdio_round_trip_with_initialize() {
    let client = stdio_client(testserver(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-testserver");
    echo_round_trip(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stdio_round_trip_with_discovery() {
    let client = stdio_client(testserver(), &[], Lifecycle::Discover)
        .await
        .unwrap();
    echo_round_trip(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn structured_output_and_tool_errors() {
    let client = stdio_client(testserver(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let ok = client
        .call_tool(call("add", json!({"a": 2, "b": 40})))
        .await
        .unwrap();
    assert_eq!(ok.structured_content, Some(json!({"sum": 42})));
    let overflow = client
        .call_tool(call("add", json!({"a": i64::MAX, "b": 1})))
        .await
        .unwrap();
    assert_eq!(overflow.is_error, Some(true));
    assert!(
        text_of(&overflow).contains("overflows"),
        "{}",
        text_of(&overflow)
    );
    let bad_args = client
        .call_tool(call("add", json!({"a": "two"})))
        .await
        .unwrap();
    assert_eq!(bad_args.is_error, Some(true));
    let unknown = client
        .call_tool(call("no_such_tool", json!({})))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("Unknown tool: no_such_tool"),
        "{unknown}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn panicking_tools_are_answered_and_the_server_survives() {
    let client = stdio_client(testserver(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    for tool in ["crash", "crash_blocking"] {
        let result = client.call_tool(call(tool, json!({}))).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{tool}");
        assert!(
            text_of(&result).contains("internal error"),
            "{}",
            text_of(&result)
        );
    }
    echo_round_trip(&client).await;
    client.cancel().await.unwrap();
}

#[test]
fn oversize_stdio_line_gets_an_error_with_its_id() {
    let mut server = RawStdio::spawn(testserver(), &["--max-message-bytes", "2000"]).unwrap();
    server.initialize().unwrap();
    let huge = "y".repeat(10_000);
    server
        .send(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": huge}}}))
        .unwrap();
    let (answer, _) = server.recv_response(&json!(7)).unwrap();
    assert_eq!(answer["error"]["code"], -32600);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("2000-byte limit"), "{message}");
    let ok = server
        .request(
            8,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "still here"}}),
        )
        .unwrap();
    assert_eq!(ok["result"]["content"][0]["text"], "still here");
}

#[test]
fn malformed_stdio_input_gets_json_rpc_errors() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    // Stray messages before initialization must not end the session.
    server
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .unwrap();
    server.initialize().unwrap();
    server.send_line("{not json").unwrap();
    let parse = server.recv().unwrap();
    assert_eq!(parse["error"]["code"], -32700);
    assert_eq!(parse["id"], Value::Null);
    server
        .send_line(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":"nope"}"#)
        .unwrap();
    let (invalid, _) = server.recv_response(&json!(5)).unwrap();
    assert!(invalid["error"]["code"].as_i64().is_some(), "{invalid}");
    let unknown = server.request(6, "no/such_method", json!({})).unwrap();
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let ok = server.request(9, "tools/list", json!({})).unwrap();
    assert!(ok["result"]["tools"].as_array().unwrap().len() >= 5);
}

#[test]
fn stdout_carries_only_protocol_even_with_debug_logs() {
    let mut server = RawStdio::spawn_with_env(
        testserver(),
        &["--log-level", "trace"],
        &[("RUST_LOG", "trace")],
    )
    .unwrap();
    server.initialize().unwrap();
    server.request(1, "tools/list", json!({})).unwrap();
    server
        .request(2, "tools/call", json!({"name": "crash", "arguments": {}}))
        .unwrap();
    let stderr = server.stderr.clone();
    let status = server.close().unwrap();
    assert!(status.success(), "exit status {status}");
    // recv() already failed the test on any non-JSON stdout line; the logs
    // went to stderr.
    assert!(!stderr.lock().unwrap().is_empty());
}

#[test]
fn stdio_exits_cleanly_on_eof() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    let status = server.close().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// A script that closes stdin right after its last request still gets every
/// answer whole (the answer is larger than the pipe, so the writer is still
/// writing when input ends).
#[test]
fn answers_are_written_whole_after_stdin_closes() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    let bytes = 5 * 1024 * 1024;
    for id in [2, 3] {
        server
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "big_text", "arguments": {"bytes": bytes}}}))
            .unwrap();
    }
    server.close_input();
    for id in [2, 3] {
        let (answer, _) = server.recv_response(&json!(id)).unwrap();
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(text.len(), bytes, "answer {id} was cut");
    }
    let status = server.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// A server with call 2 (`ask_client`) in progress, and its request to the
/// client (`roots/list`), not yet answered.
fn server_asking_the_client() -> (RawStdio, Value) {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "ask_client", "arguments": {}}}))
        .unwrap();
    let ask = server.recv().unwrap();
    assert_eq!(ask["method"], "roots/list", "{ask}");
    (server, ask)
}

/// A request the server is waiting on the client for, when the client
/// closes its input: the call is answered (with the failure), not dropped.
#[test]
fn a_call_waiting_on_the_client_is_answered_at_eof() {
    let (mut server, _ask) = server_asking_the_client();
    server.close_input();
    let (answer, _) = server.recv_response(&json!(2)).unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let status = server.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// The same id again while the first request is in progress: the duplicate
/// gets -32600, and the first still gets its own answer.
#[test]
fn a_duplicate_in_flight_id_is_refused_and_the_first_still_answered() {
    let (mut server, ask) = server_asking_the_client();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .unwrap();
    let duplicate = server.recv().unwrap();
    assert_eq!(duplicate["id"], 2, "{duplicate}");
    assert_eq!(duplicate["error"]["code"], -32600, "{duplicate}");
    let message = duplicate["error"]["message"].as_str().unwrap();
    assert!(message.contains("already used"), "{message}");
    server
        .send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"roots": []}}))
        .unwrap();
    let (first, _) = server.recv_response(&json!(2)).unwrap();
    assert_eq!(first["result"]["content"][0]["text"], "0 roots", "{first}");
    // Once answered, the id is free again.
    let again = server.request(2, "ping", json!({})).unwrap();
    assert!(again.get("result").is_some(), "{again}");
}

/// Ids are echoed exactly as sent, even when no 64-bit integer holds them;
/// batches get one clear -32600.
#[test]
fn stdio_ids_are_echoed_exactly_and_batches_refused() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    let big = "123456789012345678901234567890";
    server
        .send_line(&format!(
            r#"{{"jsonrpc":"2.0","id":{big},"method":"ping"}}"#
        ))
        .unwrap();
    // The raw line: a parsed Value would round the id.
    let line = server.recv_line().unwrap();
    assert!(line.contains(&format!(r#""id":{big},"#)), "{line}");
    assert!(line.contains("-32600"), "{line}");
    server
        .send_line(r#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#)
        .unwrap();
    let (after, _) = server.recv_response(&json!("after")).unwrap();
    assert!(after.get("result").is_some(), "{after}");
    server
        .send_line(r#"[{"jsonrpc":"2.0","id":5,"method":"ping"}]"#)
        .unwrap();
    let batch = server.recv().unwrap();
    assert_eq!(batch["error"]["code"], -32600, "{batch}");
    let message = batch["error"]["message"].as_str().unwrap();
    assert!(message.contains("batch"), "{message}");
}

/// An oversized last line with no newline before EOF is still answered.
#[test]
fn an_oversized_unterminated_last_line_is_answered() {
    let mut server = RawStdio::spawn(testserver(), &["--max-message-bytes", "1000"]).unwrap();
    server.initialize().unwrap();
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "a".repeat(3000)
    );
    server.send_raw(line.as_bytes()).unwrap();
    server.close_input();
    let (answer, _) = server.recv_response(&json!(77)).unwrap();
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(server.wait().unwrap().success());
}

#[test]
fn progress_notifications_reach_the_client() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "progress", "arguments": {"steps": 3},
                                 "_meta": {"progressToken": "tok"}}}))
        .unwrap();
    let (answer, before) = server.recv_response(&json!(3)).unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "3 steps");
    let progress: Vec<_> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{before:?}");
    assert_eq!(progress[2]["params"]["progressToken"], "tok");
    assert_eq!(progress[2]["params"]["total"], 3.0);
}

#[test]
fn tool_schemas_carry_no_nonstandard_formats() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    let list = server.request(1, "tools/list", json!({})).unwrap();
    let big_text = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "big_text")
        .unwrap()
        .clone();
    // `bytes: usize` would carry schemars' "format": "uint".
    assert_eq!(
        big_text["inputSchema"]["properties"]["bytes"]["type"],
        "integer"
    );
    assert_eq!(big_text["inputSchema"]["properties"]["bytes"]["minimum"], 0);
    let text = list.to_string();
    assert!(!text.contains("\"format\":\"uint"), "{text}");
}

#[test]
fn tool_filters_hide_tools_and_reject_typos() {
    let mut server =
        RawStdio::spawn(testserver(), &["--disable-tools", "crash,crash_blocking"]).unwrap();
    server.initialize().unwrap();
    let list = server.request(1, "tools/list", json!({})).unwrap();
    let names: Vec<_> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&"crash".to_owned()), "{names:?}");
    assert!(names.contains(&"echo".to_owned()));

    let out = std::process::Command::new(testserver())
        .args(["--enable-tools", "ecko"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown tool 'ecko'") && stderr.contains("echo"),
        "{stderr}"
    );
}

#[tokio::test]
async fn http_round_trip_on_both_lifecycles() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    for lifecycle in [Lifecycle::Initialize, Lifecycle::Discover] {
        let client = server.client(None, lifecycle).await.unwrap();
        echo_round_trip(&client).await;
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn http_session_delete_is_204_and_notifications_202() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let init = server.post(&initialize_body(1), &[]).await.unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(server.post(&note, &headers).await.unwrap().status(), 202);
    let mut delete = server.http.delete(server.url("/mcp"));
    for (k, v) in headers {
        delete = delete.header(k, v);
    }
    assert_eq!(delete.send().await.unwrap().status(), 204);
}

#[tokio::test]
async fn http_malformed_bodies_get_json_rpc_errors() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let raw = |body: &'static str| {
        server
            .http
            .post(server.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
    };
    for (body, code) in [
        ("{not json", -32700),
        ("", -32700),
        ("[]", -32600),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, -32600),
        ("42", -32600),
    ] {
        let response = raw(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{body:?}: {answer}");
        assert_eq!(answer["id"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn http_refusals_close_the_connection() {
    // A refused request's body may be unread: the connection must not be
    // reused (a pooled client would see its next request fail).
    let server = HttpServer::spawn(testserver(), &["--auth-token", "s3cret"]).unwrap();
    let no_token = server
        .http
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .body(initialize_body(1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    assert_eq!(no_token.headers()["connection"], "close");
    let wrong_type = server
        .http
        .post(server.url("/mcp"))
        .bearer_auth("s3cret")
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(wrong_type.headers()["connection"], "close");
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert!(health.headers().get("connection").is_none());
}

#[tokio::test]
async fn http_health_reports_name_version_uptime() {
    let server = HttpServer::spawn(testserver(), &["--auth-token", "s3cret"]).unwrap();
    // /health stays open even with auth on.
    let health = server.health().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["name"], "mcp-testserver");
    assert!(health["version"].is_string());
    assert!(health["uptime_s"].is_u64());
}

/// Sessions leave the server when closed (DELETE) and when reaped by the
/// idle timeout; /health counts those alive. rmcp alone keeps a reaped
/// session's entry forever: a leak per vanished client.
#[tokio::test]
async fn http_sessions_end_on_delete_and_idle_timeout() {
    let server = HttpServer::spawn(testserver(), &["--session-idle-timeout", "1"]).unwrap();
    let alive = || async {
        let health = server.health().await.unwrap();
        health["sessions"].as_u64().expect("/health has sessions")
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(server.open_session().await.unwrap());
    }
    assert_eq!(alive().await, 3);
    let deleted = server
        .http
        .delete(server.url("/mcp"))
        .header("mcp-session-id", &ids[0])
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(alive().await, 2);
    // The other two vanish: the idle timeout reaps them.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alive().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "idle sessions never left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"});
    for id in &ids {
        let answer = server.post(&ping, &session_headers(id)).await.unwrap();
        assert_eq!(answer.status(), 404, "session {id} still answers");
    }
    // New sessions still open.
    server.open_session().await.unwrap();
    assert_eq!(alive().await, 1);
}

#[tokio::test]
async fn http_bearer_auth() {
    let server = HttpServer::spawn(testserver(), &["--auth-token", "s3cret"]).unwrap();
    let none = server.post(&initialize_body(1), &[]).await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let wrong = server
        .post(&initialize_body(1), &[("authorization", "Bearer s3creT")])
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let sse = server.http.get(server.url("/sse")).send().await.unwrap();
    assert_eq!(sse.status(), 401);
    let right = server
        .post(&initialize_body(1), &[("authorization", "Bearer s3cret")])
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let client = server
        .client(Some("s3cret"), Lifecycle::Initialize)
        .await
        .unwrap();
    echo_round_trip(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn http_rejects_foreign_host_and_origin() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let host = server
        .post(&initialize_body(1), &[("host", "evil.example.com")])
        .await
        .unwrap();
    assert_eq!(host.status(), 403);
    let origin = server
        .post(
            &initialize_body(1),
            &[("origin", "http://evil.example.com")],
        )
        .await
        .unwrap();
    assert_eq!(origin.status(), 403);
    let local_origin = server
        .post(&initialize_body(1), &[("origin", "http://localhost:6274")])
        .await
        .unwrap();
    assert_eq!(local_origin.status(), 200);
    assert_eq!(
        local_origin.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
}

#[tokio::test]
async fn http_oversize_body_is_413() {
    let server = HttpServer::spawn(testserver(), &["--max-message-bytes", "4096"]).unwrap();
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                     "params": {"padding": "z".repeat(10_000)}});
    let response = server.post(&big, &[]).await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn http_stateless_answers_json_without_sessions() {
    let server = HttpServer::spawn(testserver(), &["--stateless"]).unwrap();
    let init = server.post(&initialize_body(1), &[]).await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.headers().get("mcp-session-id").is_none());
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "alone"}}});
    let response = server
        .post(&call, &[("mcp-protocol-version", "2025-06-18")])
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let message = first_message(&content_type, &response.text().await.unwrap()).unwrap();
    assert_eq!(message["result"]["content"][0]["text"], "alone");
}

#[tokio::test]
async fn legacy_sse_session_end_to_end() {
    use futures::StreamExt;
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let response = server.http.get(server.url("/sse")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    // Reads SSE events as (event, data) pairs.
    let mut next_event = async || -> (String, String) {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let raw: String = buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    return (event, data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(mcp_servers_tests::DEADLINE, stream.next())
                .await
                .expect("SSE event in time")
                .expect("stream open")
                .unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let (event, endpoint) = next_event().await;
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/message?sessionId="), "{endpoint}");
    let post = |body: Value| {
        server
            .http
            .post(server.url(&endpoint))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    assert_eq!(post(initialize_body(1)).await.unwrap().status(), 202);
    let (_, init) = next_event().await;
    let init: Value = serde_json::from_str(&init).unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-testserver");
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "over sse"}}});
    assert_eq!(post(call).await.unwrap().status(), 202);
    let (_, answer) = next_event().await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"]["content"][0]["text"], "over sse");

    let unknown = server
        .http
        .post(server.url("/message?sessionId=nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[test]
fn refuses_public_address_without_token() {
    let out = std::process::Command::new(testserver())
        .args(["--transport", "http", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--auth-token") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}

#[tokio::test]
async fn http_shuts_down_gracefully_on_sigterm() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let client = server.client(None, Lifecycle::Initialize).await.unwrap();
    echo_round_trip(&client).await;
    let status = server.terminate().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Slowloris: connections that send half a request are closed after
/// `--read-timeout`, and with every connection slot held by them the
/// server still serves others once their time is up.
#[tokio::test]
async fn http_half_sent_requests_cannot_starve_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = HttpServer::spawn(
        testserver(),
        &["--read-timeout", "1", "--max-connections", "8"],
    )
    .unwrap();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for i in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let half = if i % 2 == 0 {
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl".to_owned()
        } else {
            // Whole headers, half a body.
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\""
                .to_owned()
        };
        stream.write_all(half.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    // Every slot is held; /health still answers once the slow ones are cut.
    let health = tokio::time::timeout(DEADLINE, server.health()).await;
    assert!(matches!(health, Ok(Ok(_))), "/health starved: {health:?}");
    for mut stream in slow {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a half-sent request kept its connection");
    }
}

#[tokio::test]
async fn http_sessions_are_capped_with_503_and_retry_after() {
    let server = HttpServer::spawn(testserver(), &["--max-sessions", "2"]).unwrap();
    let first = server.open_session().await.unwrap();
    server.open_session().await.unwrap();
    let refused = server.post(&initialize_body(1), &[]).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("--max-sessions"), "{message}");
    // Ending one frees its place.
    let mut delete = server.http.delete(server.url("/mcp"));
    for (k, v) in session_headers(&first) {
        delete = delete.header(k, v);
    }
    assert_eq!(delete.send().await.unwrap().status(), 204);
    server.open_session().await.unwrap();
    // The legacy SSE transport counts against its own cap of the same size.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let stream = server.http.get(server.url("/sse")).send().await.unwrap();
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    let third = server.http.get(server.url("/sse")).send().await.unwrap();
    assert_eq!(third.status(), 503);
}

#[tokio::test]
async fn http_unknown_session_delete_is_404() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let mut delete = server.http.delete(server.url("/mcp"));
    for (k, v) in session_headers("no-such-session") {
        delete = delete.header(k, v);
    }
    assert_eq!(delete.send().await.unwrap().status(), 404);
}

/// Wrong params of a known method are -32602 (rmcp said "method not
/// found"), ids come back exactly as sent, batches get one -32600.
#[tokio::test]
async fn http_params_ids_and_batches_get_the_right_errors() {
    let server = HttpServer::spawn(testserver(), &["--stateless"]).unwrap();
    let raw = |body: &'static str| {
        server
            .http
            .post(server.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body)
            .send()
    };
    let params = raw(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":[1,2]}}"#)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let params: Value = serde_json::from_str(&params).unwrap();
    assert_eq!(params["error"]["code"], -32602, "{params}");
    assert_eq!(params["id"], 3);
    let big = raw(r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        big.contains(r#""id":123456789012345678901234567890,"#),
        "{big}"
    );
    let batch: Value = raw(
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(batch["error"]["code"], -32600, "{batch}");
    assert!(
        batch["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch")
    );
}

/// The legacy `POST /message` takes bodies up to --max-message-bytes (the
/// framework's default cap is 2 MiB) and answers a larger one with a
/// JSON-RPC error.
#[tokio::test]
async fn legacy_message_honours_max_message_bytes() {
    use futures::StreamExt;
    let server = HttpServer::spawn(testserver(), &["--max-message-bytes", "4000000"]).unwrap();
    let stream = server.http.get(server.url("/sse")).send().await.unwrap();
    let mut events = stream.bytes_stream();
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = events.next().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = seen.lines().find(|l| l.starts_with("data: /message")) {
            break line.trim_start_matches("data: ").to_owned();
        }
    };
    let post = |body: String| {
        server
            .http
            .post(server.url(&endpoint))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let init = initialize_body(1).to_string();
    assert_eq!(post(init).await.unwrap().status(), 202);
    let text = "x".repeat(3_000_000);
    let big = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {"text": text}}});
    assert_eq!(post(big.to_string()).await.unwrap().status(), 202);
    // Over the flag: headers announcing a larger body get a JSON-RPC error
    // at once (a client still writing the body would see the connection
    // close, so the body is not sent).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {endpoint} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 5000000\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, raw.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("-32600"), "{answer}");
    assert!(answer.contains("--max-message-bytes"), "{answer}");
}

/// No SSE stream carries a `retry:` field (the Java SDK's client rejects
/// any field but data, id and event).
#[tokio::test]
async fn http_sse_streams_carry_only_data_id_and_event() {
    let server = HttpServer::spawn(testserver(), &[]).unwrap();
    let session = server.open_session().await.unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "progress", "arguments": {"steps": 2},
                                 "_meta": {"progressToken": "p"}}});
    let answer = server
        .post(&call, &session_headers(&session))
        .await
        .unwrap();
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = answer.text().await.unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    for line in body.lines().filter(|l| !l.is_empty()) {
        let field = line.split(':').next().unwrap();
        assert!(
            ["data", "id", "event", ""].contains(&field),
            "SSE field {field:?} in {body:?}"
        );
    }
    assert!(body.contains("\"id\":2"), "{body}");
}

/// Polls the `spinning` tool, with ids from `first_id`, until it reports
/// `count` spin calls running; fails with `stuck` past the deadline.
fn wait_until_spinning(server: &mut RawStdio, first_id: i64, count: &str, stuck: &str) {
    let deadline = std::time::Instant::now() + DEADLINE;
    for id in first_id.. {
        let answer = server
            .request(
                id,
                "tools/call",
                json!({"name": "spinning", "arguments": {}}),
            )
            .unwrap();
        if answer["result"]["content"][0]["text"] == count {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{stuck}");
        std::thread::yield_now();
    }
}

/// A runaway call is stopped at --max-call-seconds: the client gets an
/// error naming the flag, and the work stops using CPU.
#[test]
fn a_runaway_call_stops_at_its_deadline() {
    let mut server = RawStdio::spawn(testserver(), &["--max-call-seconds", "1"]).unwrap();
    server.initialize().unwrap();
    let answer = server
        .request(2, "tools/call", json!({"name": "spin", "arguments": {}}))
        .unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let message = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(message.contains("--max-call-seconds"), "{message}");
    wait_until_spinning(&mut server, 3, "0", "a stopped call kept its thread busy");
}

/// notifications/cancelled stops the work, not only the answer.
#[test]
fn a_cancelled_call_stops_using_cpu() {
    let mut server = RawStdio::spawn(testserver(), &[]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "spin", "arguments": {}}}))
        .unwrap();
    // Wait until it runs, then cancel it.
    wait_until_spinning(&mut server, 10, "1", "spin never started");
    server
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 2, "reason": "test"}}),
        )
        .unwrap();
    wait_until_spinning(
        &mut server,
        1000,
        "0",
        "a cancelled call kept its thread busy",
    );
}
