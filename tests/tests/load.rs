//! A short HTTP load (the long one is `cargo xtask load`): concurrent
//! sessions with auth on, zero failed calls, 401 without the token, and
//! vanished sessions reaped by the idle timeout.

use std::time::Duration;

use mcp_servers_tests::load::{LoadConfig, load_http};
use mcp_servers_tests::workspace_bin;
use serde_json::json;

async fn check(stateless: bool) {
    let bin = workspace_bin("mcp-everything", "mcp-everything");
    let config = LoadConfig {
        sessions: 24,
        duration: Duration::from_secs(2),
        stateless,
        tool: "test_simple_text".into(),
        arguments: json!({}),
        settle: Duration::from_secs(5),
    };
    let report = load_http(&bin, &[], &config).await.unwrap();
    eprintln!("{report:?}");
    assert_eq!(report.failures, 0, "{:#?}", report.examples);
    assert!(
        report.calls > config.sessions,
        "only {} calls",
        report.calls
    );
    assert_eq!(
        report.unauthorized,
        (2, 2),
        "requests without the token ran"
    );
    assert_eq!(
        report.reaped.0, report.reaped.1,
        "idle sessions were not reaped"
    );
    assert_eq!(
        report.sessions_left, 0,
        "sessions outlived the idle timeout"
    );
    if !stateless {
        assert_eq!(report.reaped.0, config.sessions / 2);
    }
    // Freed heap goes back to the OS once the server is quiet: at least
    // half of what the load added (anonymous memory: the binary's own
    // pages, touched by the load, stay mapped and are not a leak).
    let [before, loaded, after] = report.anon_kib;
    let grown = loaded.saturating_sub(before);
    assert!(
        after <= before + grown / 2,
        "memory stayed up: {before} KiB before, {loaded} KiB under load, {after} KiB after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_under_load() {
    check(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_under_load() {
    check(true).await;
}
