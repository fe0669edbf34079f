//! Faults around a request: a full disk, a client that cancels a long walk,
//! and one that disconnects mid-request. Each must end in a clear error or
//! a quiet stop, nothing corrupted, and the server still serving.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_servers_tests::{HttpServer, RawStdio, session_headers, workspace_bin};
use serde_json::{Value, json};

fn filesystem() -> PathBuf {
    workspace_bin("mcp-filesystem", "mcp-filesystem")
}

/// A 1 MiB tmpfs, unmounted on drop; None where mounting is not allowed.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_old_file_survives() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: this machine does not allow mounting a small tmpfs");
        return;
    };
    let root = disk.path().canonicalize().unwrap();
    let keep = root.join("keep.txt");
    fs::write(&keep, "the old content").unwrap();
    let mut server = RawStdio::spawn(&filesystem(), &[root.to_str().unwrap()]).unwrap();
    server.initialize().unwrap();

    let big = "x".repeat(2 << 20);
    for (id, path) in [(2, &keep), (3, &root.join("new.txt"))] {
        let answer = server
            .request(
                id,
                "tools/call",
                json!({"name": "write_file", "arguments": {
                    "path": path.display().to_string(), "content": big}}),
            )
            .unwrap();
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("No space left on device"), "{text}");
    }
    assert_eq!(fs::read_to_string(&keep).unwrap(), "the old content");
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["keep.txt"], "a partial or temporary file was left");

    // Still serving: a small write fits.
    let answer = server
        .request(
            4,
            "tools/call",
            json!({"name": "write_file", "arguments": {
                "path": root.join("small.txt").display().to_string(), "content": "fits"}}),
        )
        .unwrap();
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    server.close().unwrap();
}

#[test]
fn a_cancelled_walk_stops_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for a in 0..40 {
        let sub = root.join(format!("d{a}"));
        fs::create_dir(&sub).unwrap();
        for b in 0..250 {
            fs::write(sub.join(format!("f{b}.txt")), "").unwrap();
        }
    }
    let mut server = RawStdio::spawn(&filesystem(), &[root.to_str().unwrap()]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "directory_tree",
                                 "arguments": {"path": root.display().to_string()},
                                 "_meta": {"progressToken": "walk"}}}))
        .unwrap();
    // Cancel once the walk has reported progress (it is under way).
    let mut answered_before_cancel = false;
    loop {
        let message = server.recv().unwrap();
        if message["id"] == 2 {
            answered_before_cancel = true;
            break;
        }
        if message["method"] == "notifications/progress" {
            break;
        }
    }
    server
        .send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 2, "reason": "test"}}),
        )
        .unwrap();
    let (pong, before) = server
        .exchange(3, "tools/call", json!({"name": "list_allowed_directories"}))
        .unwrap();
    assert!(pong["result"]["content"][0]["text"].is_string(), "{pong}");
    // The walk either finished first, stopped silently, or answered that
    // it was cancelled; it never returned a partial tree as a success.
    let walk: Vec<&Value> = before.iter().filter(|m| m["id"] == 2).collect();
    if !answered_before_cancel && let Some(answer) = walk.first() {
        let text = answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let complete = text.matches("f249.txt").count() == 40;
        assert!(
            complete || answer["result"]["isError"] == true || answer.get("error").is_some(),
            "a cancelled walk returned a partial tree: {}",
            &text[..text.len().min(300)]
        );
    }
    server.close().unwrap();
}

#[tokio::test]
async fn a_client_that_disconnects_mid_request_does_not_hurt_the_server() {
    let server =
        HttpServer::spawn(&workspace_bin("mcp-everything", "mcp-everything"), &[]).unwrap();
    for round in 0..20 {
        let session = server.open_session().await.unwrap();
        let headers = session_headers(&session);
        // A slow call whose answer nobody reads: the response is dropped
        // as soon as its headers arrive.
        let slow = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": "test_reconnection", "arguments": {}}});
        drop(server.post(&slow, &headers).await.unwrap());
        let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
        let answer = server.post(&ping, &headers).await.unwrap();
        assert_eq!(answer.status(), 200, "round {round}");
    }
    let health = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
