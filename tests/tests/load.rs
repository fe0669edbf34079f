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
        settle: Duration::from_secs(3),
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
    if !stateless {
        assert_eq!(report.reaped.0, config.sessions / 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_under_load() {
    check(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_under_load() {
    check(true).await;
}
