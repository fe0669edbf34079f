//! mcp-demo: what `cargo xtask demo` runs. Starts each built server, drives
//! a real MCP session with rmcp's client, and prints what happens.

use std::path::{Path, PathBuf};

use mcp_servers_tests::rmcp::model::CallToolRequestParams;
use mcp_servers_tests::{Client, HttpServer, Lifecycle, args, stdio_client, text_of};
use serde_json::{Value, json};

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/debug")
        .join(name)
}

async fn show_call(client: &Client, tool: &str, arguments: Value) -> anyhow::Result<()> {
    let params =
        CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments.clone()));
    let result = client.call_tool(params).await?;
    let mut text = text_of(&result);
    if text.len() > 600 {
        text.truncate(600);
        text.push_str(" ...");
    }
    let marker = if result.is_error == Some(true) {
        "error"
    } else {
        "ok"
    };
    println!(
        "  -> {tool} {arguments}\n     [{marker}] {}",
        text.replace('\n', "\n     ")
    );
    Ok(())
}

async fn list_tools(client: &Client) -> anyhow::Result<()> {
    let info = client.peer_info();
    let server = info
        .and_then(|i| i.server_info.clone())
        .map(|s| format!("{} {}", s.name, s.version))
        .unwrap_or_default();
    let tools = client.list_all_tools().await?;
    println!("  connected to {server}; {} tools:", tools.len());
    for tool in tools {
        let description = tool.description.unwrap_or_default();
        let first = description.lines().next().unwrap_or_default();
        println!("    - {:<28} {first}", tool.name);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!("== mcp-testserver over stdio (initialize lifecycle)");
    let client = stdio_client(&bin("mcp-testserver"), &[], Lifecycle::Initialize).await?;
    list_tools(&client).await?;
    show_call(&client, "echo", json!({"text": "hello from the demo"})).await?;
    show_call(&client, "add", json!({"a": 20, "b": 22})).await?;
    show_call(&client, "add", json!({"a": i64::MAX, "b": 1})).await?;
    show_call(&client, "crash", json!({})).await?;
    client.cancel().await?;

    let filesystem = bin("mcp-filesystem");
    if filesystem.exists() {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("notes.md"),
            "# Notes\n\nline 1\nline 2\nline 3\n",
        )?;
        std::fs::create_dir(dir.path().join("src"))?;
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() {\n    println!(\"hi\");\n}\n",
        )?;
        let root = dir.path().display().to_string();
        println!("\n== mcp-filesystem over stdio, allowed directory {root}");
        let client = stdio_client(&filesystem, &[&root], Lifecycle::Initialize).await?;
        list_tools(&client).await?;
        show_call(&client, "list_directory", json!({"path": root})).await?;
        show_call(
            &client,
            "read_text_file",
            json!({"path": format!("{root}/notes.md"), "tail": 2}),
        )
        .await?;
        show_call(
            &client,
            "edit_file",
            json!({"path": format!("{root}/src/main.rs"),
                   "edits": [{"oldText": "println!(\"hi\");", "newText": "println!(\"hello\");"}],
                   "dryRun": true}),
        )
        .await?;
        show_call(
            &client,
            "search_files",
            json!({"path": root, "pattern": "**/*.rs"}),
        )
        .await?;
        show_call(&client, "read_text_file", json!({"path": "/etc/passwd"})).await?;
        client.cancel().await?;
    }

    println!("\n== mcp-testserver over Streamable HTTP (2026-07-28 discovery lifecycle)");
    let server = HttpServer::spawn(&bin("mcp-testserver"), &[])?;
    println!("  server listening at {}/mcp", server.base);
    let client = server.client(None, Lifecycle::Discover).await?;
    list_tools(&client).await?;
    show_call(&client, "echo", json!({"text": "hello over HTTP"})).await?;
    client.cancel().await?;
    let health = server
        .http
        .get(server.url("/health"))
        .send()
        .await?
        .text()
        .await?;
    println!("  GET /health -> {health}");
    println!("\ndemo finished: every call above went through a real MCP session");
    Ok(())
}
