//! The boundary mode of the fuzzer (tests/src/fuzz.rs), short: every tool of
//! every server, each parameter at its edges (numbers at 0, -1, 2^63, 1e15
//! and one past the schema's bounds; strings empty and filling a 1 MiB
//! message cap; enums at an unknown value; documents nested 10^3 and 10^4
//! deep), over stdio and Streamable HTTP. Every call must be answered, the
//! server must live and still answer `tools/list`, no panic, bounded
//! memory. The full run (64 MiB cap, 2^31, 2^53, depths to 10^6) is
//! `cargo xtask stress --only boundary`.

use mcp_servers_tests::fuzz::{BoundaryConfig, Transport, boundary};
use mcp_servers_tests::workspace_bin;

async fn run(name: &str, transport: Transport) {
    let package = format!("mcp-{name}");
    let bin = workspace_bin(&package, &package);
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_owned();
    let args: Vec<&str> = match name {
        "everything" => vec![],
        _ => vec![&dir_arg],
    };
    let config = BoundaryConfig::short();
    let report = boundary(&bin, &args, dir.path(), transport, &config)
        .await
        .unwrap();
    let transport = transport.name();
    eprintln!(
        "mcp-{name} over {transport}: {} calls ({} results, {} tool errors, {} JSON-RPC \
         errors), {} skipped, {} failures, peak RSS {} KiB, {:.1} s",
        report.calls,
        report.results,
        report.tool_errors,
        report.rpc_errors,
        report.skipped,
        report.failures.len(),
        report.rss_peak_kib,
        report.elapsed.as_secs_f64()
    );
    for note in &report.baseline_errors {
        eprintln!("  minimal call answered with a tool error: {note}");
    }
    assert!(
        report.failures.is_empty(),
        "mcp-{name} over {transport}: {} failures:\n{}",
        report.failures.len(),
        report
            .failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for tool in &report.tools {
        assert!(
            report.calls_per_tool.get(tool).copied().unwrap_or(0) >= 1,
            "mcp-{name}: {tool} was never called"
        );
    }
    assert_eq!(report.probes, report.calls, "a probe after every call");
    assert!(
        report.calls >= report.tools.len() && !report.tools.is_empty(),
        "{} calls for {} tools",
        report.calls,
        report.tools.len()
    );
    assert!(report.rss_peak_kib > 0, "no memory reading");
}

#[tokio::test]
async fn filesystem_over_stdio() {
    run("filesystem", Transport::Stdio).await;
}

#[tokio::test]
async fn filesystem_over_http() {
    run("filesystem", Transport::Http).await;
}

#[tokio::test]
async fn text_over_stdio() {
    run("text", Transport::Stdio).await;
}

#[tokio::test]
async fn text_over_http() {
    run("text", Transport::Http).await;
}

#[tokio::test]
async fn image_over_stdio() {
    run("image", Transport::Stdio).await;
}

#[tokio::test]
async fn image_over_http() {
    run("image", Transport::Http).await;
}

#[tokio::test]
async fn everything_over_stdio() {
    run("everything", Transport::Stdio).await;
}

#[tokio::test]
async fn everything_over_http() {
    run("everything", Transport::Http).await;
}
