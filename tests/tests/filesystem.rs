//! mcp-filesystem end to end: the real binary, driven by rmcp's client over
//! stdio (and HTTP), on fixtures in temporary directories.

#![allow(deprecated)] // MCP roots: deprecated in the newest protocol, still used by clients.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use mcp_servers_tests::rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientInfo, Implementation, ListRootsResult, Root,
};
use mcp_servers_tests::rmcp::service::{RequestContext, RunningService};
use mcp_servers_tests::rmcp::transport::TokioChildProcess;
use mcp_servers_tests::rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use mcp_servers_tests::{
    Client, DEADLINE, HttpServer, INDENT_CASES, Lifecycle, RawStdio, args, call, err_text, ok_text,
    stdio_client, text_of,
};
use serde_json::{Value, json};
use tempfile::TempDir;

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-filesystem", "mcp-filesystem"))
}

/// A temp dir holding `root/` (the allowed directory, canonical) with a few files.
struct Fixture {
    _dir: TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        fs::create_dir_all(root.join("sub/deep")).unwrap();
        fs::write(root.join("five.txt"), "l1\nl2\nl3\nl4\nl5\n").unwrap();
        fs::write(root.join("a.txt"), "hello").unwrap();
        fs::write(root.join("top.md"), "# top\n").unwrap();
        fs::write(root.join("sub/r.md"), "# r\n").unwrap();
        fs::write(root.join("sub/deep/x.md"), "# x\n").unwrap();
        fs::write(root.join(".hidden"), "h").unwrap();
        Self {
            _dir: dir,
            base,
            root,
        }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn root_str(&self) -> String {
        self.root.display().to_string()
    }

    async fn client(&self, extra: &[&str]) -> Client {
        let root = self.root_str();
        let mut argv: Vec<&str> = extra.to_vec();
        argv.push(&root);
        stdio_client(bin(), &argv, Lifecycle::Initialize)
            .await
            .unwrap()
    }
}

#[test]
fn startup_refuses_missing_or_non_directory_arguments() {
    let fx = Fixture::new();
    for bad in [fx.p("nope"), fx.p("a.txt")] {
        let out = std::process::Command::new(bin())
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid allowed directory") && stderr.contains(&bad),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn tools_have_titles_annotations_schemas_and_camel_case_arguments() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let by_name = |n: &str| {
        tools
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("no tool {n}"))
    };
    let read_only = [
        "read_text_file",
        "read_file",
        "read_media_file",
        "read_multiple_files",
        "list_directory",
        "list_directory_with_sizes",
        "directory_tree",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
        "search_file_contents",
    ];
    for name in read_only {
        let t = by_name(name);
        let a = t.annotations.as_ref().unwrap();
        assert_eq!(a.read_only_hint, Some(true), "{name}");
        assert_eq!(a.open_world_hint, Some(false), "{name}");
        assert!(
            t.title.as_deref().is_some_and(|s| !s.is_empty()),
            "{name} has a title"
        );
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 40),
            "{name} has a description"
        );
    }
    let hints = |n: &str| {
        let a = by_name(n).annotations.clone().unwrap();
        (
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint,
        )
    };
    assert_eq!(
        hints("write_file"),
        (Some(false), Some(true), Some(true), Some(false))
    );
    assert_eq!(
        hints("edit_file"),
        (Some(false), Some(true), Some(false), Some(false))
    );
    assert_eq!(
        hints("create_directory"),
        (Some(false), Some(false), Some(true), Some(false))
    );
    assert_eq!(
        hints("move_file"),
        (Some(false), Some(true), Some(false), Some(false))
    );
    assert_eq!(tools.len(), 16);

    let props = |n: &str| {
        by_name(n).input_schema["properties"]
            .as_object()
            .unwrap()
            .clone()
    };
    assert!(props("directory_tree").contains_key("excludePatterns"));
    assert!(props("search_files").contains_key("excludePatterns"));
    assert!(props("list_directory_with_sizes").contains_key("sortBy"));
    assert!(props("edit_file").contains_key("dryRun"));
    let edit_schema = serde_json::to_string(&by_name("edit_file").input_schema).unwrap();
    assert!(
        edit_schema.contains("oldText") && edit_schema.contains("newText"),
        "{edit_schema}"
    );
    for name in ["head", "tail", "offset", "limit"] {
        assert!(props("read_text_file").contains_key(name), "{name}");
    }
    let out = by_name("read_text_file").output_schema.clone().unwrap();
    assert_eq!(out["properties"]["content"]["type"], "string");
    assert!(by_name("read_media_file").output_schema.is_none());
    client.cancel().await.unwrap();
}

/// Clients on the official SDKs reject a result without structured content
/// when the tool declares an output schema, whatever its size.
#[tokio::test]
async fn large_text_results_still_carry_structured_content() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let big = "y".repeat(200 * 1024);
    std::fs::write(fx.p("big.txt"), &big).unwrap();
    let result = call(&client, "read_text_file", json!({"path": fx.p("big.txt")})).await;
    assert_eq!(text_of(&result).len(), big.len());
    assert_eq!(result.structured_content, Some(json!({ "content": big })));
}

#[tokio::test]
async fn read_text_file_whole_head_tail_and_ranges() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let five = fx.p("five.txt");
    let whole = call(&client, "read_text_file", json!({"path": five})).await;
    assert_eq!(text_of(&whole), "l1\nl2\nl3\nl4\nl5\n");
    assert_eq!(
        whole.structured_content,
        Some(json!({"content": "l1\nl2\nl3\nl4\nl5\n"}))
    );
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": five, "head": 2})).await,
        "l1\nl2"
    );
    // The official server returns "l5\n" here (it counts the empty last line).
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": five, "tail": 2})).await,
        "l4\nl5"
    );
    assert_eq!(
        err_text(
            &client,
            "read_text_file",
            json!({"path": five, "head": 1, "tail": 1})
        )
        .await,
        "Cannot specify both head and tail parameters simultaneously"
    );
    let range = ok_text(
        &client,
        "read_text_file",
        json!({"path": five, "offset": 1, "limit": 2}),
    )
    .await;
    assert!(range.starts_with("l2\nl3\n\n[lines 2-3 shown"), "{range}");
    assert!(range.contains("offset=3"), "{range}");
    assert_eq!(
        ok_text(
            &client,
            "read_text_file",
            json!({"path": five, "offset": 3})
        )
        .await,
        "l4\nl5"
    );
    // Relative paths resolve against the first allowed directory; extra arguments are ignored.
    assert_eq!(
        ok_text(&client, "read_file", json!({"path": "a.txt", "extra": 1})).await,
        "hello"
    );
    let missing = err_text(&client, "read_text_file", json!({"path": fx.p("nope.txt")})).await;
    assert!(missing.starts_with("ENOENT"), "{missing}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn paths_outside_sibling_prefixes_and_traversal_are_denied() {
    let fx = Fixture::new();
    let evil = fx.base.join("root-evil");
    fs::create_dir(&evil).unwrap();
    fs::write(evil.join("secret.txt"), "s").unwrap();
    let client = fx.client(&[]).await;
    let denied = err_text(&client, "read_text_file", json!({"path": "/etc/passwd"})).await;
    assert!(
        denied.starts_with("Access denied - path outside allowed directories: /etc/passwd not in "),
        "{denied}"
    );
    let sibling = err_text(
        &client,
        "read_text_file",
        json!({"path": evil.join("secret.txt")}),
    )
    .await;
    assert!(sibling.starts_with("Access denied"), "{sibling}");
    let traversal = err_text(
        &client,
        "read_text_file",
        json!({"path": format!("{}/../root-evil/secret.txt", fx.root_str())}),
    )
    .await;
    assert!(traversal.starts_with("Access denied"), "{traversal}");
    let write = err_text(
        &client,
        "write_file",
        json!({"path": evil.join("new.txt"), "content": "x"}),
    )
    .await;
    assert!(write.starts_with("Access denied"), "{write}");
    assert!(!evil.join("new.txt").exists());
    let nul = err_text(&client, "read_text_file", json!({"path": "a\u{0}b"})).await;
    assert!(nul.contains("NUL"), "{nul}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn symlinks_inside_are_followed_and_escapes_refused() {
    let fx = Fixture::new();
    let outside = fx.base.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    symlink(fx.root.join("a.txt"), fx.root.join("link-in")).unwrap();
    symlink(outside.join("secret.txt"), fx.root.join("link-out")).unwrap();
    symlink(&outside, fx.root.join("dir-out")).unwrap();
    symlink(fx.base.join("missing-target"), fx.root.join("broken")).unwrap();
    let client = fx.client(&[]).await;
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": fx.p("link-in")})).await,
        "hello"
    );
    for path in [fx.p("link-out"), fx.p("dir-out/secret.txt")] {
        let e = err_text(&client, "read_text_file", json!({"path": path})).await;
        assert!(e.starts_with("Access denied"), "{e}");
    }
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("link-out"), "content": "pwned"}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("dir-out/new.txt"), "content": "pwned"}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("broken"), "content": "x"}),
    )
    .await;
    assert!(e.contains("dangling symbolic link"), "{e}");
    assert!(!fx.base.join("missing-target").exists());
    assert_eq!(
        fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret"
    );
    // Walks list links but never descend through them.
    let found = ok_text(
        &client,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "**/secret.txt"}),
    )
    .await;
    assert_eq!(found, "No matches found");
    let tree = ok_text(&client, "directory_tree", json!({"path": fx.root_str()})).await;
    assert!(!tree.contains("secret"), "{tree}");
    let sizes = ok_text(
        &client,
        "list_directory_with_sizes",
        json!({"path": fx.root_str()}),
    )
    .await;
    assert!(sizes.contains("[FILE] link-out"), "{sizes}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_media_file_returns_image_audio_and_blob_resources() {
    let fx = Fixture::new();
    fs::write(fx.root.join("img.png"), b"\x89PNG\r\n").unwrap();
    fs::write(fx.root.join("s.wav"), b"RIFF").unwrap();
    fs::write(fx.root.join("data.bin"), b"abc\x00").unwrap();
    let client = fx.client(&["--max-media-bytes", "10"]).await;
    let img = serde_json::to_value(
        call(&client, "read_media_file", json!({"path": fx.p("img.png")})).await,
    )
    .unwrap();
    assert_eq!(
        img["content"][0],
        json!({"type": "image", "data": "iVBORw0K", "mimeType": "image/png"})
    );
    assert!(
        img.get("structuredContent").is_none(),
        "base64 is not sent twice"
    );
    let wav = serde_json::to_value(
        call(&client, "read_media_file", json!({"path": fx.p("s.wav")})).await,
    )
    .unwrap();
    assert_eq!(wav["content"][0]["type"], "audio");
    assert_eq!(wav["content"][0]["mimeType"], "audio/wav");
    let bin = serde_json::to_value(
        call(
            &client,
            "read_media_file",
            json!({"path": fx.p("data.bin")}),
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        bin["content"][0],
        json!({"type": "resource", "resource": {"uri": format!("file://{}", fx.p("data.bin")),
               "mimeType": "application/octet-stream", "blob": "YWJjAA=="}})
    );
    fs::write(fx.root.join("big.png"), vec![0u8; 11]).unwrap();
    let e = err_text(&client, "read_media_file", json!({"path": fx.p("big.png")})).await;
    assert!(
        e.contains("10-byte limit") && e.contains("--max-media-bytes"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

/// Large strings skip serde_json's escaping on the way out (core's stdio
/// frames): they must still arrive byte for byte, escaped where needed.
#[tokio::test]
async fn large_media_and_text_arrive_whole_over_stdio() {
    use base64::Engine;
    let fx = Fixture::new();
    let mut image = b"\x89PNG\r\n\x1a\n".to_vec();
    image.extend((0..3u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    fs::write(fx.root.join("big.png"), &image).unwrap();
    let text: String = (0..4000)
        .map(|i| format!("line {i}: \"quoted\" \\ back\ttab \u{1} é 👍\r\n"))
        .collect();
    fs::write(fx.root.join("big.txt"), &text).unwrap();
    let client = fx.client(&[]).await;
    let got = serde_json::to_value(
        call(&client, "read_media_file", json!({"path": fx.p("big.png")})).await,
    )
    .unwrap();
    let data = got["content"][0]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        image
    );
    let got = ok_text(&client, "read_text_file", json!({"path": fx.p("big.txt")})).await;
    assert_eq!(got, text);
    client.cancel().await.unwrap();
}

/// The server widens its stdio pipes to 1 MiB (fewer handoffs for large
/// answers), where the system allows it.
#[test]
fn stdio_pipes_are_widened() {
    let max: usize = fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let fx = Fixture::new();
    let mut server = RawStdio::spawn(bin(), &[&fx.root_str()]).unwrap();
    server.initialize().unwrap();
    let capacity = server.stdin_pipe_capacity().unwrap();
    assert_eq!(capacity, (1 << 20).min(max).max(64 * 1024));
    server.close().unwrap();
}

#[tokio::test]
async fn read_multiple_files_reports_failures_per_file() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let text = ok_text(
        &client,
        "read_multiple_files",
        json!({"paths": [fx.p("a.txt"), fx.p("nope"), "/etc/passwd", fx.p("five.txt")]}),
    )
    .await;
    let parts: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert_eq!(parts[0], format!("{}:\nhello\n", fx.p("a.txt")));
    assert!(
        parts[1].starts_with(&format!("{}: Error - ENOENT", fx.p("nope"))),
        "{}",
        parts[1]
    );
    assert!(
        parts[2].starts_with("/etc/passwd: Error - Access denied"),
        "{}",
        parts[2]
    );
    assert_eq!(
        parts[3],
        format!("{}:\nl1\nl2\nl3\nl4\nl5\n\n", fx.p("five.txt"))
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn write_file_creates_and_replaces_atomically_keeping_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let path = fx.p("new.txt");
    let r = call(
        &client,
        "write_file",
        json!({"path": path, "content": "one"}),
    )
    .await;
    assert_eq!(text_of(&r), format!("Successfully wrote to {path}"));
    assert_eq!(
        r.structured_content,
        Some(json!({"content": format!("Successfully wrote to {path}")}))
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    ok_text(
        &client,
        "write_file",
        json!({"path": path, "content": "two"}),
    )
    .await;
    assert_eq!(fs::read_to_string(&path).unwrap(), "two");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = fs::read_dir(&fx.root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left");
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("no/such/dir/f.txt"), "content": "x"}),
    )
    .await;
    assert!(e.contains("Parent directory does not exist"), "{e}");
    client.cancel().await.unwrap();
}

/// Valid names of 240, 250 and 255 bytes, ASCII and multi-byte UTF-8 (2-,
/// 3- and 4-byte characters, some shifted so a cut falls inside one).
fn long_names() -> Vec<String> {
    let mut names = Vec::new();
    for len in [240, 250, 255] {
        names.push("a".repeat(len));
        for wide in ["\u{e9}", "\u{65e5}", "\u{1f980}"] {
            for lead in ["", "x"] {
                let mut name = lead.to_owned();
                name.push_str(&wide.repeat((len - lead.len()) / wide.len()));
                name.push_str(&"z".repeat(len - name.len()));
                assert_eq!(name.len(), len);
                names.push(name);
            }
        }
    }
    names
}

fn temp_files_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[tokio::test]
async fn names_up_to_255_bytes_can_be_written_and_edited() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    for name in long_names() {
        let path = fx.root.join(&name);
        let r = call(
            &client,
            "write_file",
            json!({"path": path, "content": "one\ntwo\n"}),
        )
        .await;
        assert_ne!(
            r.is_error,
            Some(true),
            "write_file, {} bytes: {}",
            name.len(),
            text_of(&r)
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        ok_text(
            &client,
            "edit_file",
            json!({"path": path, "edits": [{"oldText": "two", "newText": "2"}]}),
        )
        .await;
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\n2\n");
        ok_text(
            &client,
            "write_file",
            json!({"path": path, "content": "three"}),
        )
        .await;
        assert_eq!(fs::read_to_string(&path).unwrap(), "three");
    }
    assert!(temp_files_in(&fx.root).is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stale_temp_files_of_long_names_are_swept_and_user_files_kept() {
    let fx = Fixture::new();
    // What a server killed mid-write leaves for a long name: the name cut at
    // a character boundary so that `.NAME.mcp-PID.RANDOM.tmp` fits 255 bytes.
    let dead = 99_999_999u32; // above the kernel's pid limit: never running
    let mark = format!(".mcp-{dead}.");
    let mut stale = Vec::new();
    let mut user = Vec::new();
    for name in long_names() {
        let mut cut = 255 - (1 + mark.len() + "Zz09aB.tmp".len());
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let temp = format!(".{}{mark}Zz09aB.tmp", &name[..cut]);
        assert!(temp.len() <= 255);
        stale.push(fx.root.join(temp));
        user.push(fx.root.join(&name));
        user.push(fx.root.join(format!(".{}{mark}Zz09aB.txt", &name[..cut])));
    }
    for path in &stale {
        fs::write(path, "stale").unwrap();
    }
    for path in &user {
        fs::write(path, "mine").unwrap();
    }
    let client = fx.client(&[]).await;
    ok_text(&client, "list_allowed_directories", json!({})).await;
    for path in &stale {
        assert!(!path.exists(), "stale {} left", path.display());
    }
    for path in &user {
        assert_eq!(fs::read_to_string(path).unwrap(), "mine");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn edit_file_diffs_dry_runs_and_keeps_indentation() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let five = fx.p("five.txt");
    let dry = ok_text(
        &client,
        "edit_file",
        json!({"path": five, "edits": [{"oldText": "l3", "newText": "L3\nextra"}], "dryRun": true}),
    )
    .await;
    let expected = format!(
        "```diff\nIndex: {five}\n{}\n--- {five}\toriginal\n+++ {five}\tmodified\n@@ -1,5 +1,6 @@\n l1\n l2\n-l3\n+L3\n+extra\n l4\n l5\n```\n\n",
        "=".repeat(67)
    );
    assert_eq!(dry, expected);
    assert_eq!(
        fs::read_to_string(&five).unwrap(),
        "l1\nl2\nl3\nl4\nl5\n",
        "dry run leaves the file"
    );
    let real = ok_text(
        &client,
        "edit_file",
        json!({"path": five, "edits": [{"oldText": "l3", "newText": "L3\nextra"}]}),
    )
    .await;
    assert_eq!(real, expected);
    assert_eq!(
        fs::read_to_string(&five).unwrap(),
        "l1\nl2\nL3\nextra\nl4\nl5\n"
    );

    let e = err_text(&client, "edit_file", json!({"path": five, "edits": [{"oldText": "l1", "newText": "x"}, {"oldText": "zzz", "newText": "y"}]})).await;
    assert_eq!(e, "Could not find exact match for edit:\nzzz");
    assert!(
        fs::read_to_string(&five).unwrap().starts_with("l1\n"),
        "a failing edit writes nothing"
    );

    let code = fx.p("code.js");
    fs::write(
        &code,
        "    if (x) {\n        foo();\n        bar();\n    }\n",
    )
    .unwrap();
    ok_text(&client, "edit_file", json!({"path": code, "edits": [{"oldText": "foo();\nbar();", "newText": "foo();\n  baz();\nbar();"}]})).await;
    // newText's 2-space step is one step of the file's 4 spaces.
    assert_eq!(
        fs::read_to_string(&code).unwrap(),
        "    if (x) {\n        foo();\n            baz();\n        bar();\n    }\n"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn edit_file_maps_indentation_into_tab_two_four_space_and_mixed_files() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    // (file, oldText, newText, the file after). The official server flattens
    // every one of these onto the first line's indentation.
    let cases = INDENT_CASES;
    for (index, (file, old, new, expected)) in cases.into_iter().enumerate() {
        let path = fx.p(&format!("indent{index}.txt"));
        fs::write(&path, file).unwrap();
        ok_text(
            &client,
            "edit_file",
            json!({"path": path, "edits": [{"oldText": old, "newText": new}]}),
        )
        .await;
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            expected,
            "oldText {old:?}, newText {new:?}"
        );
    }
    // An exact match is replaced as written, whatever its indentation.
    let path = fx.p("exact.txt");
    fs::write(&path, "fn f() {\n\tif x {\n\t\ta();\n\t}\n}\n").unwrap();
    ok_text(
        &client,
        "edit_file",
        json!({"path": path, "edits": [{"oldText": "\t\ta();", "newText": "\t\ta();\n    b();"}]}),
    )
    .await;
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "fn f() {\n\tif x {\n\t\ta();\n    b();\n\t}\n}\n"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn create_directory_makes_parents_and_accepts_existing() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let nested = fx.p("n1/n2/n3");
    assert_eq!(
        ok_text(&client, "create_directory", json!({"path": nested})).await,
        format!("Successfully created directory {nested}")
    );
    assert!(Path::new(&nested).is_dir());
    ok_text(&client, "create_directory", json!({"path": nested})).await;
    let e = err_text(&client, "create_directory", json!({"path": fx.p("a.txt")})).await;
    assert!(!e.is_empty());
    let e = err_text(
        &client,
        "create_directory",
        json!({"path": fx.base.join("elsewhere/x")}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn list_directory_and_sizes_formats() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    assert_eq!(
        ok_text(&client, "list_directory", json!({"path": fx.root_str()})).await,
        "[FILE] .hidden\n[FILE] a.txt\n[FILE] five.txt\n[DIR] sub\n[FILE] top.md"
    );
    let sizes = ok_text(
        &client,
        "list_directory_with_sizes",
        json!({"path": fx.root_str()}),
    )
    .await;
    assert_eq!(
        sizes,
        format!(
            "[FILE] {:<30} {:>10}\n[FILE] {:<30} {:>10}\n[FILE] {:<30} {:>10}\n[DIR] {:<30} \n[FILE] {:<30} {:>10}\n\nTotal: 4 files, 1 directories\nCombined size: 27 B",
            ".hidden", "1 B", "a.txt", "5 B", "five.txt", "15 B", "sub", "top.md", "6 B"
        )
    );
    let by_size = ok_text(
        &client,
        "list_directory_with_sizes",
        json!({"path": fx.root_str(), "sortBy": "size"}),
    )
    .await;
    let first_file = by_size.lines().find(|l| l.starts_with("[FILE]")).unwrap();
    assert!(first_file.starts_with("[FILE] five.txt"), "{by_size}");
    let e = err_text(&client, "list_directory", json!({"path": fx.p("a.txt")})).await;
    assert!(
        e.contains("ENOTDIR") || e.contains("Not a directory"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn directory_tree_with_excludes_and_hidden_files() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.root.join("node_modules/pkg")).unwrap();
    fs::write(fx.root.join("node_modules/pkg/i.js"), "").unwrap();
    let client = fx.client(&[]).await;
    let text = ok_text(&client, "directory_tree", json!({"path": fx.p("sub")})).await;
    assert_eq!(
        text,
        "[\n  {\n    \"name\": \"deep\",\n    \"type\": \"directory\",\n    \"children\": [\n      {\n        \"name\": \"x.md\",\n        \"type\": \"file\"\n      }\n    ]\n  },\n  {\n    \"name\": \"r.md\",\n    \"type\": \"file\"\n  }\n]"
    );
    let tree: Value = serde_json::from_str(
        &ok_text(
            &client,
            "directory_tree",
            json!({"path": fx.root_str(), "excludePatterns": ["node_modules", "*.txt"]}),
        )
        .await,
    )
    .unwrap();
    let names: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [".hidden", "sub", "top.md"]);
    let deep: Value = serde_json::from_str(
        &ok_text(
            &client,
            "directory_tree",
            json!({"path": fx.root_str(), "excludePatterns": ["**/deep"]}),
        )
        .await,
    )
    .unwrap();
    assert!(!deep.to_string().contains("x.md"));
    let capped = ok_text(&client, "directory_tree", json!({"path": fx.root_str()})).await;
    assert!(!capped.contains("[truncated"));
    client.cancel().await.unwrap();

    let small = fx.client(&["--max-tree-entries", "2"]).await;
    let text = ok_text(&small, "directory_tree", json!({"path": fx.root_str()})).await;
    assert!(
        text.contains("[truncated: the tree has more than 2 entries"),
        "{text}"
    );
    small.cancel().await.unwrap();
}

#[tokio::test]
async fn move_file_renames_and_refuses_existing_or_outside_destinations() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let (src, dst) = (fx.p("a.txt"), fx.p("sub/b.txt"));
    assert_eq!(
        ok_text(
            &client,
            "move_file",
            json!({"source": src, "destination": dst})
        )
        .await,
        format!("Successfully moved {src} to {dst}")
    );
    assert!(!Path::new(&src).exists());
    assert_eq!(fs::read_to_string(&dst).unwrap(), "hello");
    let e = err_text(
        &client,
        "move_file",
        json!({"source": dst, "destination": fx.p("five.txt")}),
    )
    .await;
    assert_eq!(
        e,
        format!("Destination already exists: {}", fx.p("five.txt"))
    );
    let e = err_text(
        &client,
        "move_file",
        json!({"source": dst, "destination": fx.base.join("stolen.txt")}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    ok_text(
        &client,
        "move_file",
        json!({"source": fx.p("sub"), "destination": fx.p("moved")}),
    )
    .await;
    assert!(fx.root.join("moved/deep/x.md").exists());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_files_glob_semantics_excludes_and_caps() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let top = ok_text(
        &client,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "*.md"}),
    )
    .await;
    assert_eq!(top, fx.p("top.md"));
    let all = ok_text(
        &client,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "**/*.md"}),
    )
    .await;
    assert_eq!(
        all,
        [fx.p("sub/deep/x.md"), fx.p("sub/r.md"), fx.p("top.md")].join("\n")
    );
    let ex = ok_text(
        &client,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "**/*.md", "excludePatterns": ["sub/deep"]}),
    )
    .await;
    assert_eq!(ex, [fx.p("sub/r.md"), fx.p("top.md")].join("\n"));
    assert_eq!(
        ok_text(
            &client,
            "search_files",
            json!({"path": fx.root_str(), "pattern": "zzz"})
        )
        .await,
        "No matches found"
    );
    let e = err_text(
        &client,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "a["}),
    )
    .await;
    assert!(e.contains("invalid glob"), "{e}");
    client.cancel().await.unwrap();

    let capped = fx.client(&["--max-results", "1"]).await;
    let text = ok_text(
        &capped,
        "search_files",
        json!({"path": fx.root_str(), "pattern": "**/*.md"}),
    )
    .await;
    assert!(
        text.starts_with(&format!(
            "{}\n\n[truncated: showing the first 1 matches",
            fx.p("sub/deep/x.md")
        )),
        "{text}"
    );
    capped.cancel().await.unwrap();
}

#[tokio::test]
async fn get_file_info_and_allowed_directories() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let info = ok_text(&client, "get_file_info", json!({"path": fx.p("a.txt")})).await;
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines.len(), 7, "{info}");
    assert_eq!(lines[0], "size: 5");
    for (i, key) in ["created: ", "modified: ", "accessed: "].iter().enumerate() {
        assert!(
            lines[i + 1].starts_with(key) && lines[i + 1].contains(" GMT"),
            "{info}"
        );
    }
    assert_eq!(&lines[4..6], ["isDirectory: false", "isFile: true"]);
    assert!(
        lines[6].starts_with("permissions: ") && lines[6].len() == "permissions: 644".len(),
        "{info}"
    );
    let dir = ok_text(&client, "get_file_info", json!({"path": fx.p("sub")})).await;
    assert!(dir.contains("isDirectory: true"), "{dir}");
    assert_eq!(
        ok_text(&client, "list_allowed_directories", json!({})).await,
        format!("Allowed directories:\n{}", fx.root_str())
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn unknown_tools_are_protocol_errors() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let err = client
        .call_tool(CallToolRequestParams::new("no_such_tool").with_arguments(args(json!({}))))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Unknown tool: no_such_tool"),
        "{err}"
    );
    let bad = call(&client, "read_text_file", json!({"head": 1})).await;
    assert_eq!(bad.is_error, Some(true), "missing path is refused");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn fifos_are_refused_not_hung_on() {
    let fx = Fixture::new();
    let fifo = fx.root.join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let client = fx.client(&[]).await;
    for tool in ["read_text_file", "read_media_file"] {
        let e = err_text(&client, tool, json!({"path": fifo})).await;
        assert!(e.contains("FIFO"), "{tool}: {e}");
    }
    let e = err_text(&client, "read_text_file", json!({"path": fifo, "tail": 1})).await;
    assert!(e.contains("FIFO"), "{e}");
    client.cancel().await.unwrap();
}

/// Makes a FIFO, a Unix socket and (as root) a character device named
/// `fifo`, `socket`, `chardev` in `dir`, each with a symlink `NAME-link` to
/// it; returns the names with the kind each error must name. The socket's
/// listener must stay alive while it is used.
fn special_files(
    dir: &Path,
) -> (
    Vec<(&'static str, &'static str)>,
    std::os::unix::net::UnixListener,
) {
    let fifo = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    let listener = std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap();
    let mut kinds = vec![("fifo", "is a FIFO"), ("socket", "is a socket")];
    // Only root may make device nodes (CI and this project's machines run
    // as root); without it the other kinds are still checked.
    let out = std::process::Command::new("mknod")
        .arg(dir.join("chardev"))
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    if out.status.success() {
        kinds.push(("chardev", "is a character device"));
    } else {
        eprintln!(
            "NOTE: character device not checked, mknod failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    for (name, _) in &kinds {
        symlink(dir.join(name), dir.join(format!("{name}-link"))).unwrap();
    }
    (kinds, listener)
}

fn file_kind(path: &Path) -> fs::FileType {
    fs::symlink_metadata(path).unwrap().file_type()
}

#[tokio::test]
async fn writes_never_replace_fifos_sockets_or_devices() {
    let fx = Fixture::new();
    let (kinds, _listener) = special_files(&fx.root);
    assert!(kinds.len() >= 2, "FIFO and socket are always checked");
    let client = fx.client(&[]).await;
    for (name, kind) in &kinds {
        let special = fx.root.join(name);
        let link = fx.root.join(format!("{name}-link"));
        let before = file_kind(&special);
        for path in [&special, &link] {
            let e = err_text(
                &client,
                "write_file",
                json!({"path": path, "content": "replaced"}),
            )
            .await;
            assert_eq!(
                e,
                format!(
                    "{} {kind}{}; only regular files can be written (refusing to replace it)",
                    special.display(),
                    if *name == "fifo" { " (named pipe)" } else { "" }
                ),
                "write_file {}",
                path.display()
            );
            let e = err_text(
                &client,
                "edit_file",
                json!({"path": path, "edits": [{"oldText": "a", "newText": "b"}]}),
            )
            .await;
            assert!(
                e.starts_with(&format!("{} {kind}", special.display())),
                "edit_file {}: {e}",
                path.display()
            );
            fs::write(fx.root.join("src.txt"), "src").unwrap();
            let e = err_text(
                &client,
                "move_file",
                json!({"source": fx.p("src.txt"), "destination": path}),
            )
            .await;
            assert!(
                e.starts_with("Destination already exists")
                    && e.contains(&format!("{} {kind}", special.display())),
                "move_file onto {}: {e}",
                path.display()
            );
            assert_eq!(fs::read_to_string(fx.root.join("src.txt")).unwrap(), "src");
        }
        assert_eq!(file_kind(&special), before, "{name} is unchanged");
        assert!(file_kind(&link).is_symlink(), "{name}-link is unchanged");
    }
    let leftovers: Vec<_> = fs::read_dir(&fx.root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    client.cancel().await.unwrap();
}

#[test]
fn stdout_is_protocol_only_and_roots_fallback_is_logged() {
    let fx = Fixture::new();
    let mut server = RawStdio::spawn_with_env(
        bin(),
        &["--log-level", "debug", &fx.root_str()],
        &[("RUST_LOG", "trace")],
    )
    .unwrap();
    server.initialize().unwrap();
    server.request(1, "tools/list", json!({})).unwrap();
    let r = server
        .request(
            2,
            "tools/call",
            json!({"name": "read_text_file", "arguments": {"path": fx.p("a.txt")}}),
        )
        .unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "hello");
    server
        .request(
            3,
            "tools/call",
            json!({"name": "directory_tree", "arguments": {"path": fx.root_str()}}),
        )
        .unwrap();
    let stderr = server.stderr.clone();
    let status = server.close().unwrap();
    assert!(status.success(), "{status}");
    let log = stderr.lock().unwrap().clone();
    assert!(
        log.contains(
            "Client does not support MCP Roots, using allowed directories set from server args"
        ),
        "{log}"
    );
}

#[test]
fn directory_tree_reports_progress_before_its_result() {
    let fx = Fixture::new();
    let mut server = RawStdio::spawn(bin(), &[&fx.root_str()]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                      "params": {"name": "directory_tree", "arguments": {"path": fx.root_str()},
                                 "_meta": {"progressToken": "t"}}}))
        .unwrap();
    let (answer, before) = server.recv_response(&json!(4)).unwrap();
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("top.md")
    );
    let progress: Vec<_> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "{before:?}");
    assert_eq!(progress.last().unwrap()["params"]["progressToken"], "t");
}

#[tokio::test]
async fn read_only_hides_and_refuses_writing_tools() {
    let fx = Fixture::new();
    let client = fx.client(&["--read-only"]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 11);
    for name in ["write_file", "edit_file", "create_directory", "move_file"] {
        assert!(!tools.iter().any(|t| t.name == name), "{name}");
        let err = client
            .call_tool(
                CallToolRequestParams::new(name)
                    .with_arguments(args(json!({"path": fx.p("x"), "content": "x"}))),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Unknown tool"), "{err}");
    }
    assert!(!fx.root.join("x").exists());
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": fx.p("a.txt")})).await,
        "hello"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_directories_or_roots_tools_explain_what_to_do() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let e = err_text(&client, "read_text_file", json!({"path": "/etc/passwd"})).await;
    assert!(e.starts_with("No allowed directories are set"), "{e}");
    assert!(e.contains("(e.g. mcp-filesystem /path/to/dir)"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_file_contents_literal_regex_gitignore_and_context() {
    let fx = Fixture::new();
    fs::write(
        fx.root.join("code.rs"),
        "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n",
    )
    .unwrap();
    fs::write(fx.root.join("ignored.rs"), "fn main() {}\n").unwrap();
    fs::write(fx.root.join(".gitignore"), "ignored.rs\n").unwrap();
    fs::write(fx.root.join("blob.bin"), b"fn main\x00\x01").unwrap();
    let client = fx.client(&[]).await;
    let code = fx.p("code.rs");
    let hits = ok_text(
        &client,
        "search_file_contents",
        json!({"path": fx.root_str(), "pattern": "FN MAIN"}),
    )
    .await;
    assert_eq!(hits, format!("{code}:1:fn main() {{"));
    let all = ok_text(&client, "search_file_contents", json!({"path": fx.root_str(), "pattern": "fn main", "respectGitignore": false, "caseSensitive": true})).await;
    assert!(
        all.contains("ignored.rs:1:") && !all.contains("blob.bin"),
        "{all}"
    );
    let re = ok_text(&client, "search_file_contents", json!({"path": fx.root_str(), "pattern": r"let \w+ = \d", "regex": true, "contextLines": 1})).await;
    assert_eq!(
        re,
        format!(
            "{code}-1-fn main() {{\n{code}:2:    let x = 1;\n{code}-3-    println!(\"{{x}}\");"
        )
    );
    let inc = ok_text(
        &client,
        "search_file_contents",
        json!({"path": fx.root_str(), "pattern": "#", "include": ["**/*.md"], "exclude": ["sub"]}),
    )
    .await;
    assert_eq!(inc, format!("{}:1:# top", fx.p("top.md")));
    assert_eq!(
        ok_text(
            &client,
            "search_file_contents",
            json!({"path": fx.root_str(), "pattern": "nothing here"})
        )
        .await,
        "No matches found"
    );
    let e = err_text(
        &client,
        "search_file_contents",
        json!({"path": fx.root_str(), "pattern": "(", "regex": true}),
    )
    .await;
    assert!(e.contains("invalid regular expression"), "{e}");
    let capped = ok_text(
        &client,
        "search_file_contents",
        json!({"path": fx.root_str(), "pattern": "#", "maxResults": 1}),
    )
    .await;
    assert!(
        capped.contains("[truncated: showing the first 1 matching lines"),
        "{capped}"
    );
    client.cancel().await.unwrap();
}

/// A client that advertises roots and answers roots/list from a shared list,
/// counting how often it was asked.
#[derive(Clone)]
struct RootsClient {
    roots: Arc<Mutex<Vec<String>>>,
    asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl RootsClient {
    fn new(roots: Vec<String>) -> Self {
        Self {
            roots: Arc::new(Mutex::new(roots)),
            asked: Arc::default(),
        }
    }

    fn times_asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl ClientHandler for RootsClient {
    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let roots = self.roots.lock().unwrap().iter().map(Root::new).collect();
        Ok(ListRootsResult::new(roots))
    }

    fn get_info(&self) -> ClientInfo {
        ClientInfo::new(
            ClientCapabilities::builder()
                .enable_roots()
                .enable_roots_list_changed()
                .build(),
            Implementation::new("roots-test", "0"),
        )
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display()).replace(' ', "%20")
}

/// Polls list_allowed_directories until it shows `expected` (the server asks
/// for roots on its own schedule); fails after the harness deadline.
async fn wait_for_allowed(client: &RunningService<RoleClient, RootsClient>, expected: &[&Path]) {
    let want = format!(
        "Allowed directories:\n{}",
        expected
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let start = std::time::Instant::now();
    loop {
        let got = ok_text(client, "list_allowed_directories", json!({})).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "allowed directories stayed {got:?}, wanted {want:?}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn client_roots_replace_cli_directories_and_follow_list_changed() {
    let fx = Fixture::new();
    let spaced = fx.base.join("with space");
    fs::create_dir(&spaced).unwrap();
    fs::write(spaced.join("in.txt"), "from roots").unwrap();
    let handler = RootsClient::new(vec![
        uri(&spaced),
        uri(&fx.base.join("missing")),
        uri(&fx.root.join("a.txt")),
    ]);
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg(&fx.root);
    let client = handler
        .clone()
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap();
    wait_for_allowed(&client, &[&spaced]).await;
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": "in.txt"})).await,
        "from roots"
    );
    let e = err_text(&client, "read_text_file", json!({"path": fx.p("a.txt")})).await;
    assert!(
        e.starts_with("Access denied"),
        "CLI directory replaced: {e}"
    );

    *handler.roots.lock().unwrap() = vec![uri(&fx.root), uri(&spaced)];
    client.notify_roots_list_changed().await.unwrap();
    wait_for_allowed(&client, &[&fx.root, &spaced]).await;
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": fx.p("a.txt")})).await,
        "hello"
    );

    // Only invalid roots: the current set stays.
    *handler.roots.lock().unwrap() = vec![uri(&fx.base.join("missing"))];
    client.notify_roots_list_changed().await.unwrap();
    assert_eq!(
        ok_text(&client, "read_text_file", json!({"path": fx.p("a.txt")})).await,
        "hello"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_http_each_session_keeps_its_own_roots() {
    use mcp_servers_tests::rmcp::transport::StreamableHttpClientTransport;
    use mcp_servers_tests::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let fx = Fixture::new();
    let sub = fx.root.join("sub");
    let server = HttpServer::spawn(bin(), &[&fx.root_str()]).unwrap();

    let plain = server.client(None, Lifecycle::Initialize).await.unwrap();
    let handler = RootsClient::new(vec![uri(&sub)]);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")),
    );
    let with_roots = handler.serve(transport).await.unwrap();
    wait_for_allowed(&with_roots, &[&sub]).await;
    assert_eq!(
        ok_text(
            &with_roots,
            "read_text_file",
            json!({"path": sub.join("r.md")})
        )
        .await,
        "# r\n"
    );
    let e = err_text(
        &with_roots,
        "read_text_file",
        json!({"path": fx.p("a.txt")}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");

    // The plain session still has the command-line directory.
    assert_eq!(
        ok_text(&plain, "list_allowed_directories", json!({})).await,
        format!("Allowed directories:\n{}", fx.root_str())
    );
    assert_eq!(
        ok_text(&plain, "read_text_file", json!({"path": fx.p("a.txt")})).await,
        "hello"
    );
    plain.cancel().await.unwrap();
    with_roots.cancel().await.unwrap();
}

/// Polls a server's captured stderr until it holds `needle` (a log line the
/// server writes once it has acted); fails after the harness deadline.
async fn wait_for_log(log: &Mutex<String>, needle: &str) {
    let start = std::time::Instant::now();
    loop {
        if log.lock().unwrap().contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {needle:?} on stderr:\n{}",
            log.lock().unwrap()
        );
        tokio::task::yield_now().await;
    }
}

/// The filesystem server over stdio with `args`, answering roots with
/// `handler`; its stderr is kept for [`wait_for_log`].
async fn stdio_with_roots(
    handler: RootsClient,
    args: &[&str],
) -> (RunningService<RoleClient, RootsClient>, Arc<Mutex<String>>) {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args);
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let mut lines = tokio::io::BufReader::new(stderr.expect("piped stderr")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (handler.serve(transport).await.unwrap(), log)
}

/// An HTTP client of `server` answering roots with `handler`.
async fn http_with_roots(
    server: &HttpServer,
    handler: RootsClient,
) -> RunningService<RoleClient, RootsClient> {
    server
        .client_with(handler, None, Lifecycle::Initialize)
        .await
        .unwrap()
}

/// What every `--roots` test checks: a file inside the command-line
/// directory and a secret outside it.
struct RootsFixture {
    fx: Fixture,
    secret: PathBuf,
}

impl RootsFixture {
    fn new() -> Self {
        let fx = Fixture::new();
        let secret = fx.base.join("outside/secret.txt");
        fs::create_dir_all(secret.parent().unwrap()).unwrap();
        fs::write(&secret, "secret").unwrap();
        Self { fx, secret }
    }

    /// The secret is out of reach and the command-line directory in reach.
    async fn assert_confined(&self, client: &RunningService<RoleClient, RootsClient>) {
        assert_eq!(
            ok_text(client, "list_allowed_directories", json!({})).await,
            format!("Allowed directories:\n{}", self.fx.root_str())
        );
        let e = err_text(client, "read_text_file", json!({"path": self.secret})).await;
        assert!(e.starts_with("Access denied"), "{e}");
        assert_eq!(
            ok_text(
                client,
                "read_text_file",
                json!({"path": self.fx.p("a.txt")})
            )
            .await,
            "hello"
        );
        let e = err_text(
            client,
            "write_file",
            json!({"path": self.fx.base.join("outside/new.txt"), "content": "x"}),
        )
        .await;
        assert!(e.starts_with("Access denied"), "{e}");
        assert!(!self.fx.base.join("outside/new.txt").exists());
    }

    /// The client's `file:///` root replaced the command-line directory.
    async fn assert_widened(&self, client: &RunningService<RoleClient, RootsClient>) {
        wait_for_allowed(client, &[Path::new("/")]).await;
        assert_eq!(
            ok_text(client, "read_text_file", json!({"path": self.secret})).await,
            "secret"
        );
    }
}

const NARROWED: &str = "Updated allowed directories from MCP roots (--roots narrow): ";

#[tokio::test]
async fn over_http_a_file_root_cannot_widen_access_by_default() {
    let rf = RootsFixture::new();
    let server = HttpServer::spawn(bin(), &["--log-level", "info", &rf.fx.root_str()]).unwrap();
    let handler = RootsClient::new(vec!["file:///".into()]);
    let client = http_with_roots(&server, handler.clone()).await;
    // `file:///` contains the command-line directory: it becomes that.
    wait_for_log(&server.stderr, &format!("{NARROWED}{}", rf.fx.root_str())).await;
    rf.assert_confined(&client).await;

    // A root inside narrows; one outside is dropped; `file:///` again gives
    // the whole command-line directory back, never more.
    let sub = rf.fx.root.join("sub");
    *handler.roots.lock().unwrap() = vec![uri(&sub)];
    client.notify_roots_list_changed().await.unwrap();
    wait_for_allowed(&client, &[&sub]).await;
    let e = err_text(&client, "read_text_file", json!({"path": rf.fx.p("a.txt")})).await;
    assert!(e.starts_with("Access denied"), "{e}");
    *handler.roots.lock().unwrap() = vec![uri(rf.secret.parent().unwrap())];
    client.notify_roots_list_changed().await.unwrap();
    wait_for_log(
        &server.stderr,
        "outside the directories given on the command line",
    )
    .await;
    wait_for_log(&server.stderr, "keeping the current allowed directories").await;
    wait_for_allowed(&client, &[&sub]).await;
    let e = err_text(&client, "read_text_file", json!({"path": rf.secret})).await;
    assert!(e.starts_with("Access denied"), "{e}");
    *handler.roots.lock().unwrap() = vec!["file:///".into()];
    client.notify_roots_list_changed().await.unwrap();
    wait_for_allowed(&client, &[&rf.fx.root]).await;
    rf.assert_confined(&client).await;
    assert_eq!(handler.times_asked(), 4);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_stdio_a_file_root_replaces_the_directories_by_default() {
    // The official server's behaviour: the client that runs the server chooses.
    let rf = RootsFixture::new();
    let handler = RootsClient::new(vec!["file:///".into()]);
    let (client, _log) = stdio_with_roots(handler, &[&rf.fx.root_str()]).await;
    rf.assert_widened(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn roots_replace_flag_lets_http_clients_widen() {
    let rf = RootsFixture::new();
    let server = HttpServer::spawn(bin(), &["--roots", "replace", &rf.fx.root_str()]).unwrap();
    let client = http_with_roots(&server, RootsClient::new(vec!["file:///".into()])).await;
    rf.assert_widened(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn roots_narrow_flag_confines_stdio_clients() {
    let rf = RootsFixture::new();
    let handler = RootsClient::new(vec!["file:///".into()]);
    let (client, log) = stdio_with_roots(
        handler,
        &[
            "--roots",
            "narrow",
            "--log-level",
            "info",
            &rf.fx.root_str(),
        ],
    )
    .await;
    wait_for_log(&log, &format!("{NARROWED}{}", rf.fx.root_str())).await;
    rf.assert_confined(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn roots_ignore_flag_never_asks_for_roots() {
    let rf = RootsFixture::new();
    // Over stdio...
    let handler = RootsClient::new(vec!["file:///".into()]);
    let (client, log) = stdio_with_roots(
        handler.clone(),
        &[
            "--roots",
            "ignore",
            "--log-level",
            "info",
            &rf.fx.root_str(),
        ],
    )
    .await;
    wait_for_log(&log, "Ignoring the client's MCP roots (--roots ignore)").await;
    client.notify_roots_list_changed().await.unwrap();
    wait_for_log(
        &log,
        "Not asking for the client's MCP roots (--roots ignore)",
    )
    .await;
    rf.assert_confined(&client).await;
    assert_eq!(handler.times_asked(), 0);
    client.cancel().await.unwrap();
    // ...and over HTTP.
    let server = HttpServer::spawn(
        bin(),
        &[
            "--roots",
            "ignore",
            "--log-level",
            "info",
            &rf.fx.root_str(),
        ],
    )
    .unwrap();
    let handler = RootsClient::new(vec!["file:///".into()]);
    let client = http_with_roots(&server, handler.clone()).await;
    wait_for_log(
        &server.stderr,
        "Ignoring the client's MCP roots (--roots ignore)",
    )
    .await;
    client.notify_roots_list_changed().await.unwrap();
    wait_for_log(
        &server.stderr,
        "Not asking for the client's MCP roots (--roots ignore)",
    )
    .await;
    rf.assert_confined(&client).await;
    assert_eq!(handler.times_asked(), 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn narrow_without_directories_allows_nothing_and_says_so() {
    let rf = RootsFixture::new();
    let server = HttpServer::spawn(bin(), &["--log-level", "info"]).unwrap();
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .contains("--roots narrow (the default over HTTP) and no DIR"),
        "{}",
        server.stderr.lock().unwrap()
    );
    let client = http_with_roots(
        &server,
        RootsClient::new(vec!["file:///".into(), uri(&rf.fx.root)]),
    )
    .await;
    wait_for_log(
        &server.stderr,
        "keeping the current allowed directories: (none)",
    )
    .await;
    let e = err_text(&client, "read_text_file", json!({"path": rf.fx.p("a.txt")})).await;
    assert!(e.starts_with("No allowed directories are set"), "{e}");
    let e = err_text(&client, "read_text_file", json!({"path": rf.secret})).await;
    assert!(e.starts_with("No allowed directories are set"), "{e}");
    client.cancel().await.unwrap();
    // Over stdio the default is replace: no note, the client's roots count.
    let handler = RootsClient::new(vec![uri(&rf.fx.root)]);
    let (client, log) = stdio_with_roots(handler, &[]).await;
    wait_for_allowed(&client, &[&rf.fx.root]).await;
    assert!(
        !log.lock().unwrap().contains("--roots narrow"),
        "{}",
        log.lock().unwrap()
    );
    client.cancel().await.unwrap();
}

/// Numeric arguments carry their bounds in the schema and are checked
/// before any work: over them is a tool error naming the argument.
#[test]
fn numeric_arguments_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    let bin = mcp_servers_tests::workspace_bin("mcp-filesystem", "mcp-filesystem");
    let mut server =
        mcp_servers_tests::RawStdio::spawn(&bin, &[dir.path().to_str().unwrap()]).unwrap();
    server.initialize().unwrap();
    let tools = server
        .request(1, "tools/list", serde_json::json!({}))
        .unwrap();
    let schema = |tool: &str, arg: &str| {
        tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tool)
            .unwrap()["inputSchema"]["properties"][arg]
            .clone()
    };
    for (tool, arg) in [
        ("read_text_file", "head"),
        ("read_text_file", "offset"),
        ("search_file_contents", "contextLines"),
        ("search_file_contents", "maxResults"),
    ] {
        assert!(
            schema(tool, arg)["maximum"].is_u64(),
            "{tool}.{arg}: {}",
            schema(tool, arg)
        );
    }
    let path = dir.path().join("a.txt").display().to_string();
    let call =
        |server: &mut mcp_servers_tests::RawStdio, id, name: &str, args: serde_json::Value| {
            server
                .request(
                    id,
                    "tools/call",
                    serde_json::json!({"name": name, "arguments": args}),
                )
                .unwrap()
        };
    let huge = call(
        &mut server,
        2,
        "read_text_file",
        serde_json::json!({"path": path, "head": 1u64 << 63}),
    );
    assert_eq!(huge["result"]["isError"], true, "{huge}");
    assert!(
        huge["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("`head`")
    );
    let ok = call(
        &mut server,
        3,
        "read_text_file",
        serde_json::json!({"path": path, "head": 1_000_000_000_000_000u64}),
    );
    assert_eq!(
        ok["result"]["content"][0]["text"], "one\ntwo\nthree",
        "{ok}"
    );
    let root = dir.path().display().to_string();
    for (args, name) in [
        (
            serde_json::json!({"path": root, "pattern": "t", "contextLines": 21}),
            "contextLines",
        ),
        (
            serde_json::json!({"path": root, "pattern": "t", "maxResults": 0}),
            "maxResults",
        ),
    ] {
        let refused = call(&mut server, 4, "search_file_contents", args);
        assert_eq!(refused["result"]["isError"], true, "{refused}");
        let text = refused["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(name), "{text}");
    }
}
