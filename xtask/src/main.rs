//! `cargo xtask`: the project's own commands, in plain Rust.
//!
//! It shells out to cargo, npm, pip and the built binaries; it never
//! depends on the servers' crates, so it builds in seconds.

mod bench;
mod conformance;
mod fuzz;
mod interop;
mod new_server;
mod stress;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::util::{cargo, exec, project_root, servers};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Project commands for the mcp-servers workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Release build of every server (binaries in target/release/).
    Build,
    /// Format check, clippy, the whole test suite, and a new-server smoke test.
    Test {
        /// Skip the new-server smoke test (it stamps, builds and tests a server).
        #[arg(long)]
        no_smoke: bool,
    },
    /// Benchmarks: criterion (in-process) and whole-process stdio figures.
    Bench(bench::BenchArgs),
    /// `cargo install` one server (by name, e.g. `filesystem`) or `all`.
    Install {
        #[arg(default_value = "all")]
        server: String,
    },
    /// Stamp a new server from the template: servers/NAME + its tests.
    NewServer(new_server::NewServerArgs),
    /// Build the servers and drive real MCP sessions against them.
    Demo,
    /// Run the official MCP conformance suite against servers' HTTP mode.
    Conformance(conformance::ConformanceArgs),
    /// Drive every server with the Python SDK, the TypeScript SDK, the
    /// Inspector CLI and rmcp, over every transport (docs/interop.md).
    Interop(interop::InteropArgs),
    /// Long fuzz, path-escape, crash and load runs (docs/reliability.md).
    Stress(stress::StressArgs),
    /// Only the HTTP load run of `stress`.
    Load(stress::LoadArgs),
    /// Run the cargo-fuzz targets in fuzz/ (not in CI), each for --seconds (default 60).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build => build(),
        Command::Test { no_smoke } => test(!no_smoke),
        Command::Bench(args) => bench::run(&args),
        Command::Install { server } => install(&server),
        Command::NewServer(args) => new_server::run(&args),
        Command::Demo => demo(),
        Command::Conformance(args) => conformance::run(&args),
        Command::Interop(args) => interop::run(&args),
        Command::Stress(args) => stress::stress(&args),
        Command::Load(args) => stress::load(&args),
        Command::Fuzz(args) => fuzz::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn build() -> anyhow::Result<()> {
    let mut cmd = cargo();
    cmd.args(["build", "--release"]);
    for server in servers()? {
        cmd.args(["-p", &server.package]);
    }
    exec(&mut cmd)?;
    for server in servers()? {
        let path = project_root().join("target/release").join(&server.package);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:<40} {:>6.2} MiB",
            path.display(),
            size as f64 / 1048576.0
        );
    }
    Ok(())
}

fn test(smoke: bool) -> anyhow::Result<()> {
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Build every binary once so the end-to-end tests need not.
    exec(cargo().args(["build", "--workspace", "--bins"]))?;
    exec(
        cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .env("MCP_TEST_NO_BUILD", "1"),
    )?;
    if smoke {
        new_server::smoke_test()?;
    }
    Ok(())
}

fn install(which: &str) -> anyhow::Result<()> {
    let all = servers()?;
    let chosen: Vec<_> = all
        .iter()
        .filter(|s| which == "all" || s.name == which || s.package == which)
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "no server named '{which}'; choose one of: {}, all",
            names.join(", ")
        );
    }
    for server in chosen {
        exec(
            cargo()
                .args(["install", "--locked", "--path"])
                .arg(&server.dir),
        )?;
    }
    Ok(())
}

fn demo() -> anyhow::Result<()> {
    exec(cargo().args(["build", "--workspace", "--bins"]))?;
    exec(
        cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "mcp-servers-tests",
                "--bin",
                "mcp-demo",
            ])
            .env("MCP_TEST_NO_BUILD", "1"),
    )
}
