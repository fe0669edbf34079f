//! The rmcp cell of `cargo xtask interop`: rmcp's own client driving one
//! case (xtask/interop/README.md has the contract), on either lifecycle.
//!
//! `mcp-interop-rmcp CASE.json [initialize|discover]` prints one JSON line
//! `{"client": ..., "checks": [...]}` and exits 0 when no check failed.
#![allow(deprecated)] // MCP roots: deprecated in 2026-07-28, still used by clients.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use mcp_servers_tests::rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientInfo, Implementation,
    ListRootsResult, Root,
};
use mcp_servers_tests::rmcp::service::{RequestContext, RunningService};
use mcp_servers_tests::rmcp::transport::StreamableHttpClientTransport;
use mcp_servers_tests::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use mcp_servers_tests::rmcp::{ClientHandler, ErrorData, RoleClient};
use mcp_servers_tests::{Lifecycle, args};
use serde_json::{Value, json};

/// The whole run's limit, like the other drivers'.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a roots change may take to show.
const ROOTS_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
struct Handler {
    /// Some: the client offers roots, these.
    roots: Option<Arc<Mutex<Vec<String>>>>,
}

impl ClientHandler for Handler {
    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let roots = self
            .roots
            .as_ref()
            .map(|r| r.lock().unwrap().iter().map(Root::new).collect())
            .unwrap_or_default();
        Ok(ListRootsResult::new(roots))
    }

    fn get_info(&self) -> ClientInfo {
        let capabilities: ClientCapabilities = if self.roots.is_some() {
            serde_json::from_value(json!({"roots": {"listChanged": true}})).unwrap_or_default()
        } else {
            ClientCapabilities::default()
        };
        ClientInfo::new(capabilities, Implementation::new("mcp-interop-rmcp", "0"))
    }
}

struct Checks(Vec<Value>);

impl Checks {
    fn push(&mut self, name: &str, ok: Option<bool>, detail: impl Into<String>) {
        self.0
            .push(json!({"name": name, "ok": ok, "detail": detail.into()}));
    }

    fn failed(&self) -> bool {
        self.0.iter().any(|c| c["ok"] == json!(false))
    }
}

fn file_uri(path: &str) -> String {
    format!("file://{}", path.replace(' ', "%20"))
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn connect(
    case: &Value,
    handler: Handler,
    lifecycle: Lifecycle,
) -> anyhow::Result<RunningService<RoleClient, Handler>> {
    match case["transport"].as_str() {
        Some("stdio") => {
            let argv: Vec<String> = serde_json::from_value(case["command"].clone())
                .context("a stdio case needs `command`")?;
            let (bin, rest) = argv.split_first().context("empty command")?;
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            mcp_servers_tests::stdio_client_with(handler, bin.as_ref(), &rest, lifecycle).await
        }
        Some("http") => {
            let url = case["url"].as_str().context("an http case needs `url`")?;
            let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
            let transport = StreamableHttpClientTransport::from_config(config);
            Ok(
                mcp_servers_tests::rmcp::service::serve_client_with_lifecycle(
                    handler,
                    transport,
                    lifecycle.mode(),
                )
                .await?,
            )
        }
        other => anyhow::bail!("transport {other:?} is not supported by rmcp's client"),
    }
}

async fn call(
    client: &RunningService<RoleClient, Handler>,
    spec: &Value,
) -> anyhow::Result<CallToolResult> {
    let name = spec["name"]
        .as_str()
        .context("a call needs `name`")?
        .to_owned();
    let params = CallToolRequestParams::new(name).with_arguments(args(spec["arguments"].clone()));
    Ok(client.call_tool(params).await?)
}

/// Polls `spec` until its text contains `want`.
async fn wait_for(
    client: &RunningService<RoleClient, Handler>,
    spec: &Value,
    want: &str,
) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        let got = text(&call(client, spec).await?);
        if got.contains(want) || start.elapsed() > ROOTS_WAIT {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(case: &Value, lifecycle: Lifecycle, checks: &mut Checks) -> anyhow::Result<()> {
    let roots_case = &case["roots"];
    let roots = roots_case.is_object().then(|| {
        let initial: Vec<String> = roots_case["initial"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(file_uri)
            .collect();
        Arc::new(Mutex::new(initial))
    });
    let handler = Handler {
        roots: roots.clone(),
    };
    let client = match connect(case, handler, lifecycle).await {
        Ok(client) => client,
        Err(e) => {
            checks.push("initialize", Some(false), format!("{e:#}"));
            return Ok(());
        }
    };
    let (name, version, protocol) = client
        .peer_info()
        .map(|i| {
            let server = i.server_info.clone().unwrap_or_default();
            (server.name, server.version, i.protocol_version.to_string())
        })
        .unwrap_or_default();
    checks.push(
        "initialize",
        Some(true),
        format!("serverInfo {name} {version}, protocol {protocol}"),
    );

    let tools = client.list_all_tools().await;
    match tools {
        Ok(tools) => {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            let missing: Vec<&str> = case["expect_tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|t| !names.contains(t))
                .collect();
            if missing.is_empty() {
                checks.push("tools/list", Some(true), format!("{} tools", tools.len()));
            } else {
                checks.push("tools/list", Some(false), format!("missing {missing:?}"));
            }
        }
        Err(e) => checks.push("tools/list", Some(false), e.to_string()),
    }
    if case["list_prompts"] == json!(true) {
        match client.list_all_prompts().await {
            Ok(p) => checks.push("prompts/list", Some(true), format!("{} prompts", p.len())),
            Err(e) => checks.push("prompts/list", Some(false), e.to_string()),
        }
    }
    if case["list_resources"] == json!(true) {
        match client.list_all_resources().await {
            Ok(r) => checks.push(
                "resources/list",
                Some(true),
                format!("{} resources", r.len()),
            ),
            Err(e) => checks.push("resources/list", Some(false), e.to_string()),
        }
    }
    if roots.is_some() {
        // The server asks for roots on its own schedule after connecting.
        let want = roots_case["expect_initial"].as_str().unwrap_or_default();
        wait_for(&client, &roots_case["call"], want).await.ok();
    }
    if let Some(spec) = case.get("call").filter(|c| c.is_object()) {
        let want = spec["expect_text"].as_str().unwrap_or_default();
        match call(&client, spec).await {
            Ok(r) if r.is_error != Some(true) && text(&r).contains(want) => {
                checks.push(
                    "tools/call",
                    Some(true),
                    format!("{}: {want}", spec["name"]),
                );
            }
            Ok(r) => checks.push("tools/call", Some(false), text(&r)),
            Err(e) => checks.push("tools/call", Some(false), e.to_string()),
        }
    }
    if let Some(spec) = case.get("error_call").filter(|c| c.is_object()) {
        let want = spec["expect_text"].as_str().unwrap_or_default();
        match call(&client, spec).await {
            Ok(r) if r.is_error == Some(true) && text(&r).contains(want) => {
                let detail = format!("{}: isError: {}", spec["name"], text(&r));
                checks.push("tool error", Some(true), detail);
            }
            Ok(r) => checks.push(
                "tool error",
                Some(false),
                format!("not an error: {}", text(&r)),
            ),
            Err(e) => checks.push("tool error", Some(false), format!("JSON-RPC error: {e}")),
        }
    }
    if let Some(roots) = roots {
        let initial = roots_case["expect_initial"].as_str().unwrap_or_default();
        let changed = roots_case["expect_changed"].as_str().unwrap_or_default();
        let first = wait_for(&client, &roots_case["call"], initial).await?;
        if first.contains(initial) {
            *roots.lock().unwrap() = roots_case["changed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(file_uri)
                .collect();
            client.notify_roots_list_changed().await?;
            let second = wait_for(&client, &roots_case["call"], changed).await?;
            if second.contains(changed) {
                checks.push(
                    "roots",
                    Some(true),
                    format!("roots followed: {initial}, then {changed} after roots/list_changed"),
                );
            } else {
                checks.push("roots", Some(false), format!("after the change: {second}"));
            }
        } else {
            checks.push(
                "roots",
                Some(false),
                format!("initial roots not used: {first}"),
            );
        }
    }
    client.cancel().await.ok();
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let (Some(path), lifecycle) = (argv.next(), argv.next()) else {
        eprintln!("usage: mcp-interop-rmcp CASE.json [initialize|discover]");
        return ExitCode::from(2);
    };
    let lifecycle = match lifecycle.as_deref() {
        None | Some("initialize") => Lifecycle::Initialize,
        Some("discover") => Lifecycle::Discover,
        Some(other) => {
            eprintln!("unknown lifecycle {other}: use initialize or discover");
            return ExitCode::from(2);
        }
    };
    let case: Value = match std::fs::read(&path)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(serde_json::from_slice(&b)?))
    {
        Ok(case) => case,
        Err(e) => {
            eprintln!("cannot read case {path}: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut checks = Checks(Vec::new());
    match tokio::time::timeout(TIMEOUT, run(&case, lifecycle, &mut checks)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => checks.push("error", Some(false), format!("{e:#}")),
        Err(_) => checks.push("timeout", Some(false), "no end within 30 s"),
    }
    let mode = match lifecycle {
        Lifecycle::Initialize => "initialize",
        Lifecycle::Discover => "discover",
    };
    let client = format!("rmcp 3.11 ({mode})");
    println!("{}", json!({"client": client, "checks": checks.0}));
    if checks.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
