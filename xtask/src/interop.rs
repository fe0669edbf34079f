//! `cargo xtask interop`: every server driven by the clients people use:
//! the official Python SDK, the official TypeScript SDK, the MCP
//! Inspector's CLI (all pinned in xtask/interop/ and installed into
//! target/peers/) and rmcp's client on both lifecycles, over every
//! transport each supports. Writes the matrix to docs/interop.md.
//!
//! A client whose registry cannot be reached is skipped with a note, not
//! failed. The drivers and their case format: xtask/interop/README.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::conformance::ensure_node;
use crate::util::{
    cargo, exec, npm_ci_pinned, pip_install_pinned, project_root, servers, spawn_http,
    write_report_section,
};

/// A 1x1 PNG, for the image server's case.
const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x05, 0x02, 0x00, 0x5f, 0xc8, 0xf1, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[derive(Debug, Args)]
pub struct InteropArgs {
    /// Servers to test (e.g. `filesystem`); default: all.
    pub servers: Vec<String>,
    /// Do not rewrite docs/interop.md.
    #[arg(long)]
    pub no_report: bool,
}

/// A third-party or in-house client and how to run its driver.
struct Client {
    name: &'static str,
    /// The command before the case file.
    command: Option<Vec<String>>,
    /// Why it cannot run here (its registry was unreachable).
    skipped: Option<String>,
    transports: &'static [&'static str],
    /// Why this client cannot offer roots, if it cannot.
    no_roots: Option<&'static str>,
}

/// One server started one way, and the cases run against it.
struct Fixture {
    server: String,
    transport: &'static str,
    /// Roots variant: the server started without directories.
    roots: bool,
    case: Value,
    child: Option<Child>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Cell {
    server: String,
    client: &'static str,
    transport: &'static str,
    roots: bool,
    /// None: skipped (the reason is in `detail`).
    passed: Option<bool>,
    detail: String,
}

pub fn run(args: &InteropArgs) -> anyhow::Result<()> {
    let root = project_root();
    let mut all = servers()?;
    if !args.servers.is_empty() {
        all.retain(|s| args.servers.contains(&s.name));
        if all.len() != args.servers.len() {
            bail!("unknown server in {:?}", args.servers);
        }
    }
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        "mcp-servers-tests",
        "--bin",
        "mcp-interop-rmcp",
    ]);
    for server in &all {
        build.args(["-p", &server.package, "--bin", &server.package]);
    }
    exec(&mut build)?;
    let clients = install_clients()?;

    let scratch = root.join("target/interop");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    let dirs = [scratch.join("root"), scratch.join("root2")];
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
    }
    let dirs = [dirs[0].canonicalize()?, dirs[1].canonicalize()?];
    std::fs::write(dirs[0].join("a.txt"), "hello from interop\n")?;
    std::fs::write(dirs[0].join("pixel.png"), PIXEL_PNG)?;

    let mut cells = Vec::new();
    let started = Instant::now();
    for server in &all {
        let bin = root.join("target/debug").join(&server.package);
        for transport in ["stdio", "http", "sse"] {
            for roots in [false, true] {
                if roots && server.name != "filesystem" {
                    continue;
                }
                let mut fixture = start(&server.name, &bin, transport, roots, &dirs)?;
                for client in &clients {
                    let not_applicable = if !client.transports.contains(&transport) {
                        Some(format!("n/a: {} has no {transport} client", client.name))
                    } else if roots {
                        client.no_roots.map(|why| format!("n/a: {why}"))
                    } else {
                        None
                    };
                    if let Some(detail) = not_applicable {
                        cells.push(Cell {
                            server: server.name.clone(),
                            client: client.name,
                            transport,
                            roots,
                            passed: None,
                            detail,
                        });
                        continue;
                    }
                    let cell = run_cell(&scratch, client, &mut fixture)?;
                    println!(
                        "{:<10} {:<5} {:<5} {:<24} {}",
                        cell.server,
                        cell.transport,
                        if roots { "roots" } else { "" },
                        cell.client,
                        match cell.passed {
                            Some(true) => "pass".to_owned(),
                            Some(false) => format!("FAIL {}", cell.detail),
                            None => cell.detail.clone(),
                        }
                    );
                    cells.push(cell);
                }
            }
        }
    }
    eprintln!(
        "interop: {} cells in {:.0?}",
        cells.len(),
        started.elapsed()
    );
    // A partial run would leave a partial matrix: only full runs write it.
    if !args.no_report && args.servers.is_empty() {
        write_matrix(&cells, &clients)?;
    }
    let failed: Vec<String> = cells
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| format!("{} x {} over {}", c.server, c.client, c.transport))
        .collect();
    if failed.is_empty() {
        println!("interop: every cell passed or does not apply");
        Ok(())
    } else {
        bail!("interop cells failed: {}", failed.join(", "))
    }
}

/// Installs the pinned clients; one whose registry is unreachable is
/// marked skipped.
fn install_clients() -> anyhow::Result<Vec<Client>> {
    let root = project_root();
    let peers = root.join("target/peers");
    let node = ensure_node()
        .map(|n| n.display().to_string())
        .map_err(|e| format!("no Node 22+: {e:#}"));
    let npm = node.clone().and_then(|node| {
        let dir = peers.join("interop");
        npm_ci_pinned("xtask/interop", &dir)
            .map_err(|e| format!("npm registry unreachable or install failed: {e:#}"))?;
        for driver in ["client.mjs", "inspector.mjs", "common.mjs"] {
            std::fs::copy(root.join("xtask/interop").join(driver), dir.join(driver))
                .map_err(|e| format!("copying {driver}: {e}"))?;
        }
        Ok((node, dir))
    });
    let site = peers.join("interop-py");
    let (package, version) = pinned_python_sdk()?;
    let python = pip_install_pinned(&site, &package, &version)
        .map_err(|e| format!("PyPI unreachable or install failed: {e:#}"));

    let node_client = |name, driver: &str, transports| match &npm {
        Ok((node, dir)) => Client {
            name,
            command: Some(vec![node.clone(), dir.join(driver).display().to_string()]),
            skipped: None,
            transports,
            no_roots: None,
        },
        Err(e) => Client {
            name,
            command: None,
            skipped: Some(e.clone()),
            transports,
            no_roots: None,
        },
    };
    let rmcp = root
        .join("target/debug/mcp-interop-rmcp")
        .display()
        .to_string();
    Ok(vec![
        match python {
            Ok(()) => Client {
                name: "python-sdk",
                command: Some(vec![
                    "python3".into(),
                    root.join("xtask/interop/client.py").display().to_string(),
                ]),
                skipped: None,
                transports: &["stdio", "http", "sse"],
                no_roots: None,
            },
            Err(e) => Client {
                name: "python-sdk",
                command: None,
                skipped: Some(e),
                transports: &["stdio", "http", "sse"],
                no_roots: None,
            },
        },
        node_client("typescript-sdk", "client.mjs", &["stdio", "http", "sse"]),
        node_client("inspector-cli", "inspector.mjs", &["stdio", "http", "sse"]),
        Client {
            name: "rmcp (initialize)",
            command: Some(vec![rmcp.clone(), "{case}".into(), "initialize".into()]),
            skipped: None,
            transports: &["stdio", "http"],
            no_roots: None,
        },
        Client {
            name: "rmcp (2026-07-28)",
            command: Some(vec![rmcp, "{case}".into(), "discover".into()]),
            skipped: None,
            transports: &["stdio", "http"],
            no_roots: Some("protocol 2026-07-28 has no roots (server-to-client requests are gone)"),
        },
    ])
}

/// `mcp==X.Y.Z` from xtask/interop/requirements.txt.
pub(crate) fn pinned_python_sdk() -> anyhow::Result<(String, String)> {
    let path = project_root().join("xtask/interop/requirements.txt");
    let text = std::fs::read_to_string(&path)?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.split_once("=="))
        .map(|(p, v)| (p.trim().to_owned(), v.trim().to_owned()))
        .with_context(|| format!("no `package==version` line in {}", path.display()))
}

/// Starts `bin` for one transport (HTTP: once, shared by every client) and
/// writes the case the drivers get.
fn start(
    server: &str,
    bin: &Path,
    transport: &'static str,
    roots: bool,
    dirs: &[PathBuf; 2],
) -> anyhow::Result<Fixture> {
    let root = dirs[0].display().to_string();
    let root2 = dirs[1].display().to_string();
    let mut args: Vec<String> = match server {
        "everything" => vec![],
        // Roots alone define the directories: over HTTP the default policy
        // (narrow) would let them allow nothing without command-line dirs.
        _ if roots => vec!["--roots".into(), "replace".into()],
        _ => vec![root.clone()],
    };
    let mut case = case_for(server, &root)?;
    if roots {
        case["roots"] = json!({
            "initial": [root],
            "changed": [root2],
            "call": {"name": "list_allowed_directories", "arguments": {}},
            "expect_initial": root,
            "expect_changed": root2,
        });
    }
    case["server"] = json!(server);
    case["transport"] = json!(transport);
    let mut child = None;
    if transport == "stdio" {
        let mut command = vec![bin.display().to_string()];
        command.append(&mut args);
        case["command"] = json!(command);
    } else {
        let (process, addr) = spawn_http(bin, &args)?;
        child = Some(process);
        let path = if transport == "sse" { "/sse" } else { "/mcp" };
        case["url"] = json!(format!("http://{addr}{path}"));
    }
    Ok(Fixture {
        server: server.to_owned(),
        transport,
        roots,
        case,
        child,
    })
}

/// What each server is asked: its tools, one real call, one failing call.
fn case_for(server: &str, root: &str) -> anyhow::Result<Value> {
    Ok(match server {
        "filesystem" => json!({
            "expect_tools": ["read_text_file", "write_file", "edit_file", "directory_tree",
                             "list_allowed_directories"],
            "call": {"name": "read_text_file", "arguments": {"path": format!("{root}/a.txt")},
                     "expect_text": "hello from interop"},
            "error_call": {"name": "read_text_file", "arguments": {"path": "/etc/passwd"},
                           "expect_text": "Access denied"},
        }),
        "image" => json!({
            "expect_tools": ["image_info", "transform", "prepare_for_model", "compare"],
            "call": {"name": "image_info", "arguments": {"path": format!("{root}/pixel.png")},
                     "expect_text": "PNG 1x1"},
            "error_call": {"name": "image_info", "arguments": {"data": "not base64!!"},
                           "expect_text": "base64"},
        }),
        "text" => json!({
            "expect_tools": ["text_stats", "search", "replace", "diff", "hash", "json"],
            "list_prompts": true,
            "list_resources": true,
            "call": {"name": "hash", "arguments": {"text": "abc", "algorithm": "sha256"},
                     "expect_text": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
            "error_call": {"name": "decode", "arguments": {"text": "%%%", "encoding": "base64"},
                           "expect_text": "base64"},
        }),
        "everything" => json!({
            "expect_tools": ["test_simple_text", "test_image_content", "test_sampling",
                             "test_elicitation", "json_schema_2020_12_tool"],
            "list_prompts": true,
            "list_resources": true,
            "call": {"name": "test_simple_text", "arguments": {},
                     "expect_text": "simple text response"},
            "error_call": {"name": "test_error_handling", "arguments": {},
                           "expect_text": "intentionally"},
        }),
        other => bail!("no interop case for server '{other}': add one in xtask/src/interop.rs"),
    })
}

fn run_cell(scratch: &Path, client: &Client, fixture: &mut Fixture) -> anyhow::Result<Cell> {
    let mut cell = Cell {
        server: fixture.server.clone(),
        client: client.name,
        transport: fixture.transport,
        roots: fixture.roots,
        passed: None,
        detail: String::new(),
    };
    let Some(command) = &client.command else {
        cell.detail = format!(
            "skipped: {}",
            client.skipped.as_deref().unwrap_or("unavailable")
        );
        return Ok(cell);
    };
    let case_path = scratch.join(format!(
        "{}-{}{}-{}.json",
        fixture.server,
        fixture.transport,
        if fixture.roots { "-roots" } else { "" },
        client.name.replace([' ', '(', ')'], "")
    ));
    std::fs::write(&case_path, serde_json::to_vec_pretty(&fixture.case)?)?;
    let case_arg = case_path.display().to_string();
    let mut argv: Vec<String> = command
        .iter()
        .map(|a| {
            if a == "{case}" {
                case_arg.clone()
            } else {
                a.clone()
            }
        })
        .collect();
    if !command.iter().any(|a| a == "{case}") {
        argv.push(case_arg);
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("PYTHONPATH", project_root().join("target/peers/interop-py"))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let output = output_with_deadline(&mut cmd, Duration::from_secs(60))?;
    let line = String::from_utf8_lossy(&output)
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(str::to_owned);
    let Some(line) = line else {
        cell.passed = Some(false);
        cell.detail = "the driver printed no result".into();
        return Ok(cell);
    };
    let result: Value = serde_json::from_str(&line)?;
    let checks = result["checks"].as_array().cloned().unwrap_or_default();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] == json!(false))
        .map(|c| format!("{}: {}", c["name"].as_str().unwrap_or("?"), c["detail"]))
        .collect();
    let names: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] == json!(true))
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    cell.passed = Some(failed.is_empty() && !checks.is_empty());
    cell.detail = if failed.is_empty() {
        let client = result["client"].as_str().unwrap_or(client.name);
        format!("{client}: {}", names.join(", "))
    } else {
        failed.join("; ")
    };
    Ok(cell)
}

/// Runs to completion and returns stdout; kills the command past `limit`.
fn output_with_deadline(cmd: &mut Command, limit: Duration) -> anyhow::Result<Vec<u8>> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let mut stdout = child.stdout.take().context("piped stdout")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        // Polling an exit status, not timing a result.
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(reader.join().unwrap_or_default())
}

fn write_matrix(cells: &[Cell], clients: &[Client]) -> anyhow::Result<()> {
    let mut md = String::from(
        "## Client matrix\n\nGenerated by `cargo xtask interop`. Each cell: the client connects \
         (initialize, or discovery for rmcp's 2026-07-28 cell and the Python SDK 2.x's default), \
         lists the tools (and prompts and resources where the server serves them), calls one \
         tool with real arguments and checks the answer's text, calls one that must fail and \
         checks it comes back as a result with `isError: true`; the *roots* rows start the \
         filesystem server without directories and check that it follows the client's roots, \
         then a `roots/list_changed` mid-session. \n\n",
    );
    md.push_str("| server | transport | ");
    md.push_str(
        &clients
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(" | "),
    );
    md.push_str(" |\n|---|---|");
    md.push_str(&"---|".repeat(clients.len()));
    md.push('\n');
    let mut rows: Vec<(String, &str, bool)> = Vec::new();
    for cell in cells {
        let key = (cell.server.clone(), cell.transport, cell.roots);
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    for (server, transport, roots) in &rows {
        let label = if *roots {
            format!("{transport} + roots")
        } else {
            (*transport).to_owned()
        };
        md.push_str(&format!("| {server} | {label} |"));
        for client in clients {
            let cell = cells.iter().find(|c| {
                &c.server == server
                    && c.transport == *transport
                    && c.roots == *roots
                    && c.client == client.name
            });
            let text = match cell.map(|c| (c.passed, c.detail.as_str())) {
                Some((Some(true), _)) => "pass".to_owned(),
                Some((Some(false), detail)) => format!("**FAIL**: {}", detail.replace('|', "/")),
                Some((None, detail)) => detail.replace('|', "/"),
                None => "-".to_owned(),
            };
            md.push_str(&format!(" {text} |"));
        }
        md.push('\n');
    }
    md.push_str("\nWhat passed, per client (one cell each):\n\n");
    for client in clients {
        if let Some(cell) = cells
            .iter()
            .find(|c| c.client == client.name && c.passed == Some(true))
        {
            md.push_str(&format!("- {}\n", cell.detail));
        }
    }
    write_report_section("docs/interop", "2-matrix", &md, "docs/interop.md", HEADER)
}

pub const HEADER: &str = "# Interoperability and conformance\n\nGenerated by `cargo xtask \
    conformance` (the official conformance suite) and `cargo xtask interop` (the clients \
    people use); each rewrites its own section, kept in docs/interop/.\n";
