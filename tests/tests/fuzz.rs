//! The black-box protocol fuzzer (tests/src/fuzz.rs), short and with a
//! fixed seed, against every server over stdio and Streamable HTTP. The
//! long run is `cargo xtask stress`.

use std::path::PathBuf;

use mcp_servers_tests::fuzz::{FuzzConfig, FuzzReport, fuzz_http, fuzz_stdio};
use mcp_servers_tests::workspace_bin;

/// Frames per server and transport in CI; the xtask sends 10,000 or more.
const CI_FRAMES: usize = 1_500;

/// A server that answers every batch but grows past this is leaking.
const RSS_LIMIT_KIB: u64 = 512 * 1024;

fn config() -> FuzzConfig {
    FuzzConfig {
        frames: CI_FRAMES,
        ..FuzzConfig::default()
    }
}

/// The server's binary and a scratch directory it may touch.
fn server(name: &str) -> (PathBuf, tempfile::TempDir) {
    let package = format!("mcp-{name}");
    (
        workspace_bin(&package, &package),
        tempfile::tempdir().unwrap(),
    )
}

fn args<'a>(name: &str, dir: &'a tempfile::TempDir) -> Vec<&'a str> {
    match name {
        "everything" => vec![],
        _ => vec![dir.path().to_str().unwrap()],
    }
}

fn check(name: &str, transport: &str, report: &FuzzReport) {
    eprintln!(
        "{name} over {transport}: {} frames, {} probes, {} failures, RSS {} -> {} KiB \
         (peak {}), {:?}, statuses {:?}",
        report.frames,
        report.probes,
        report.failures.len(),
        report.rss_start_kib,
        report.rss_end_kib,
        report.rss_peak_kib,
        report.elapsed,
        report.statuses
    );
    assert!(
        report.failures.is_empty(),
        "{name} over {transport}:\n{}",
        report.failures.join("\n")
    );
    assert!(
        report.frames >= CI_FRAMES,
        "only {} frames sent",
        report.frames
    );
    assert!(
        report.rss_peak_kib < RSS_LIMIT_KIB,
        "{name} over {transport} grew to {} KiB",
        report.rss_peak_kib
    );
}

fn stdio(name: &str) {
    let (bin, dir) = server(name);
    let report = fuzz_stdio(&bin, &args(name, &dir), config()).unwrap();
    check(name, "stdio", &report);
}

async fn http(name: &str) {
    let (bin, dir) = server(name);
    let report = fuzz_http(&bin, &args(name, &dir), config()).await.unwrap();
    check(name, "http", &report);
    assert!(
        report.statuses.keys().any(|s| (400..500).contains(s)),
        "malformed frames should have drawn 4xx answers: {:?}",
        report.statuses
    );
}

#[test]
fn filesystem_over_stdio() {
    stdio("filesystem");
}

#[test]
fn image_over_stdio() {
    stdio("image");
}

#[test]
fn text_over_stdio() {
    stdio("text");
}

#[test]
fn everything_over_stdio() {
    stdio("everything");
}

#[tokio::test]
async fn filesystem_over_http() {
    http("filesystem").await;
}

#[tokio::test]
async fn image_over_http() {
    http("image").await;
}

#[tokio::test]
async fn text_over_http() {
    http("text").await;
}

#[tokio::test]
async fn everything_over_http() {
    http("everything").await;
}
