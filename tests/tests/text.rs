//! mcp-text end to end: the real binary, driven by rmcp's client over stdio,
//! on inline text and on files in temporary directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mcp_servers_tests::rmcp::model::{CallToolRequestParams, CallToolResult};
use mcp_servers_tests::{Client, Lifecycle, args, stdio_client, text_of};
use serde_json::{Value, json};
use tempfile::TempDir;

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-text", "mcp-text"))
}

/// A temp dir (canonical) that the server is allowed to read.
struct Fixture {
    _dir: TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        Self { _dir: dir, root }
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> String {
        let path = self.root.join(name);
        fs::write(&path, data).unwrap();
        path.display().to_string()
    }

    async fn client(&self, extra: &[&str]) -> Client {
        let root = self.root.display().to_string();
        let mut argv: Vec<&str> = extra.to_vec();
        argv.push(&root);
        stdio_client(bin(), &argv, Lifecycle::Initialize)
            .await
            .unwrap()
    }
}

async fn client() -> Client {
    stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap()
}

async fn call(client: &Client, name: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{name} failed at the protocol level: {e}"))
}

/// The structured result of a successful call; its text block must be the
/// same JSON (small results are sent both ways).
async fn ok(client: &Client, name: &str, arguments: Value) -> Value {
    let result = call(client, name, arguments).await;
    assert_ne!(result.is_error, Some(true), "{name}: {}", text_of(&result));
    let value = result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{name}: no structured content"));
    let text: Value = serde_json::from_str(&text_of(&result)).expect("text block is JSON");
    assert_eq!(text, value, "{name}: text and structured content differ");
    value
}

async fn err(client: &Client, name: &str, arguments: Value) -> String {
    let result = call(client, name, arguments).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} should fail: {}",
        text_of(&result)
    );
    text_of(&result)
}

#[tokio::test]
async fn every_tool_is_listed_with_an_output_schema() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in [
        "text_stats",
        "search",
        "replace",
        "diff",
        "transform",
        "encode",
        "decode",
        "hash",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for tool in &tools {
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
        let props = tool.input_schema.get("properties").unwrap();
        if tool.name != "diff" {
            assert!(
                props.get("text").is_some() && props.get("path").is_some(),
                "{}",
                tool.name
            );
        }
    }
    let info = c.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-text");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn text_stats_counts_exactly_with_tiktoken_token_counts() {
    let c = client().await;
    let s = ok(&c, "text_stats", json!({"text": "hello world"})).await;
    assert_eq!(s["tokens"]["cl100k_base"], 2);
    assert_eq!(s["tokens"]["o200k_base"], 2);
    assert_eq!(s["bytes"], 11);
    assert_eq!(s["words"], 2);

    let s = ok(
        &c,
        "text_stats",
        json!({"text": "e\u{301}👍🏽 Hi.\n\nBye!\n", "tokenizers": ["r50k_base"]}),
    )
    .await;
    assert_eq!(s["chars"], 15);
    assert_eq!(s["graphemes"], 13);
    assert_eq!(s["lines"], 3);
    assert_eq!(s["paragraphs"], 2);
    assert_eq!(s["tokens"].as_object().unwrap().len(), 1);

    let e = err(
        &c,
        "text_stats",
        json!({"text": "x", "tokenizers": ["gpt9"]}),
    )
    .await;
    assert!(
        e.contains("unknown tokenizer 'gpt9'") && e.contains("o200k_base"),
        "{e}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn inputs_come_inline_or_from_allowed_files_only() {
    let fx = Fixture::new();
    let good = fx.write("good.txt", "alpha beta\n");
    let bad = fx.write("bad.txt", b"ok\xff\xfe");
    let c = fx.client(&[]).await;
    let s = ok(&c, "text_stats", json!({"path": good})).await;
    assert_eq!(s["words"], 2);

    let e = err(&c, "text_stats", json!({"path": bad})).await;
    assert!(
        e.contains("not valid UTF-8") && e.contains("offset 2"),
        "{e}"
    );
    let e = err(&c, "text_stats", json!({"path": "/etc/passwd"})).await;
    assert!(
        e.to_lowercase().contains("outside") || e.contains("denied"),
        "{e}"
    );
    let e = err(&c, "text_stats", json!({})).await;
    assert!(e.contains("missing input"), "{e}");
    let e = err(&c, "text_stats", json!({"text": "a", "path": good})).await;
    assert!(e.contains("not both"), "{e}");
    // hash and encode read binary files as bytes.
    let h = ok(&c, "hash", json!({"path": bad, "algorithm": "crc32"})).await;
    assert_eq!(h["bytes"], 4);
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn inputs_over_the_limit_are_refused_clearly() {
    let fx = Fixture::new();
    let big = fx.write("big.txt", "x".repeat(2000));
    let c = fx.client(&["--max-input-bytes", "1000"]).await;
    let e = err(&c, "text_stats", json!({"path": big})).await;
    assert!(
        e.contains("input too large")
            && e.contains("2000 bytes")
            && e.contains("--max-input-bytes"),
        "{e}"
    );
    let e = err(
        &c,
        "search",
        json!({"text": "y".repeat(1001), "pattern": "y"}),
    )
    .await;
    assert!(e.contains("input too large"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn search_literal_and_regex_with_positions_groups_and_context() {
    let c = client().await;
    let text = "fn main() {\n    let café = 1;\n    let x = 22;\n}\n";
    let r = ok(&c, "search", json!({"text": text, "pattern": "let"})).await;
    assert_eq!(r["page"]["total"], 2);
    assert_eq!(r["matches"][0]["line"], 2);
    assert_eq!(r["matches"][0]["column"], 5);

    let r = ok(
        &c,
        "search",
        json!({"text": text, "pattern": r"let (?P<name>\w+) = (\d+)", "regex": true, "context": 1}),
    )
    .await;
    let m = &r["matches"][0];
    assert_eq!(m["groups"][0]["name"], "name");
    assert_eq!(m["groups"][0]["text"], "café");
    assert_eq!(m["groups"][1]["text"], "1");
    assert_eq!(m["context_before"][0], "fn main() {");
    assert_eq!(m["context_after"][0], "    let x = 22;");
    // The column after a multi-byte character counts characters.
    let r = ok(&c, "search", json!({"text": text, "pattern": "= 1"})).await;
    assert_eq!(r["matches"][0]["column"], 14);
    assert_eq!(r["matches"][0]["byte_offset"], 12 + 14);

    let r = ok(
        &c,
        "search",
        json!({"text": "A a A", "pattern": "a", "case_sensitive": false, "max_results": 2}),
    )
    .await;
    assert_eq!(r["page"]["total"], 3);
    assert_eq!(r["matches"].as_array().unwrap().len(), 2);
    assert_eq!(r["page"]["next_offset"], 2);
    assert!(r["page"]["note"].as_str().unwrap().contains("offset=2"));

    let e = err(
        &c,
        "search",
        json!({"text": "x", "pattern": "(unclosed", "regex": true}),
    )
    .await;
    assert!(e.starts_with("invalid regex"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn replace_inline_dry_run_and_file_writes() {
    let fx = Fixture::new();
    let file = fx.write("f.txt", "color: red;\ncolor: blue;\n");
    let c = fx.client(&[]).await;
    let r = ok(
        &c,
        "replace",
        json!({"text": "2024-01-31", "pattern": r"(\d+)-(\d+)-(\d+)", "regex": true, "replacement": "$3/$2/$1"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "31/01/2024");
    // Without `regex`, `$1` is literal.
    let r = ok(
        &c,
        "replace",
        json!({"text": "a.b.c", "pattern": ".", "replacement": "$1", "count": 1}),
    )
    .await;
    assert_eq!(r["result"]["text"], "a$1b.c");
    assert_eq!(r["replacements"], 1);
    assert_eq!(r["total_matches"], 2);

    let r = ok(
        &c,
        "replace",
        json!({"path": file, "pattern": "color", "replacement": "colour", "dryRun": true}),
    )
    .await;
    let diff = r["diff"]["text"].as_str().unwrap();
    assert!(
        diff.contains("-color: red;\n-color: blue;\n+colour: red;\n+colour: blue;"),
        "{diff}"
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "color: red;\ncolor: blue;\n"
    );

    let r = ok(
        &c,
        "replace",
        json!({"path": file, "pattern": "color", "replacement": "colour"}),
    )
    .await;
    assert_eq!(r["replacements"], 2);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "colour: red;\ncolour: blue;\n"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn diff_unified_and_structured() {
    let fx = Fixture::new();
    let a = fx.write("a.txt", "one\ntwo\nthree\n");
    let c = fx.client(&[]).await;
    let r = ok(
        &c,
        "diff",
        json!({"path_a": a, "b": "one\n2\nthree\n", "context": 0}),
    )
    .await;
    let u = r["unified"]["text"].as_str().unwrap();
    assert!(u.contains("@@ -2 +2 @@\n-two\n+2\n"), "{u}");
    assert_eq!(r["identical"], false);
    let r = ok(
        &c,
        "diff",
        json!({"a": "the quick fox", "b": "the slow fox", "mode": "words"}),
    )
    .await;
    assert_eq!(r["hunks"][0]["old"], "quick");
    assert_eq!(r["hunks"][0]["new"], "slow");
    let r = ok(
        &c,
        "diff",
        json!({"a": "same", "b": "same", "mode": "chars"}),
    )
    .await;
    assert_eq!(r["identical"], true);
    assert_eq!(r["hunks"].as_array().unwrap().len(), 0);
    let e = err(&c, "diff", json!({"a": "x"})).await;
    assert!(e.contains("`b`") && e.contains("`path_b`"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn transform_applies_operations_in_order() {
    let c = client().await;
    let r = ok(
        &c,
        "transform",
        json!({"text": "  Crème Brûlée Recipe  ", "operations": [{"op": "trim"}, {"op": "strip_diacritics"}, {"op": "snake_case"}]}),
    )
    .await;
    assert_eq!(r["result"]["text"], "creme_brulee_recipe");
    assert_eq!(
        r["applied"],
        json!(["trim", "strip_diacritics", "snake_case"])
    );
    let r = ok(&c, "transform", json!({"text": "b\na\nb\n", "operations": [{"op": "unique_lines"}, {"op": "sort_lines"}, {"op": "crlf"}]})).await;
    assert_eq!(r["result"]["text"], "a\r\nb\r\n");
    let r = ok(
        &c,
        "transform",
        json!({"text": "e\u{301}", "operations": [{"op": "nfc"}]}),
    )
    .await;
    assert_eq!(r["result"]["text"], "é");
    let r = ok(&c, "transform", json!({"text": "aaaa bbbb cccc", "operations": [{"op": "wrap", "width": 9}], "max_length": 5})).await;
    assert_eq!(r["result"]["text"], "aaaa ");
    assert_eq!(r["result"]["truncated"], true);
    assert_eq!(r["result"]["total_chars"], 14);
    assert!(
        r["result"]["note"]
            .as_str()
            .unwrap()
            .contains("start_index=5")
    );
    let e = err(
        &c,
        "transform",
        json!({"text": "x", "operations": [{"op": "shout"}]}),
    )
    .await;
    assert!(
        e.contains("unknown operation 'shout'") && e.contains("kebab_case"),
        "{e}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn encode_decode_round_trip_and_errors_name_the_offset() {
    let c = client().await;
    let r = ok(&c, "encode", json!({"text": "hello", "encoding": "base64"})).await;
    assert_eq!(r["result"]["text"], "aGVsbG8=");
    let r = ok(
        &c,
        "decode",
        json!({"text": "aGVsbG8=", "encoding": "base64"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "hello");
    let r = ok(
        &c,
        "encode",
        json!({"text": "a b&c/é", "encoding": "percent"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "a%20b%26c%2F%C3%A9");
    let r = ok(
        &c,
        "decode",
        json!({"text": "&lt;p&gt; &eacute;", "encoding": "html"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "<p> é");
    let r = ok(
        &c,
        "decode",
        json!({"text": "ff00", "encoding": "hex", "output": "base64"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "/wA=");

    let e = err(
        &c,
        "decode",
        json!({"text": "aGVs*G8=", "encoding": "base64"}),
    )
    .await;
    assert!(
        e.contains("invalid base64") && e.contains("offset 4"),
        "{e}"
    );
    let e = err(&c, "decode", json!({"text": "ff00", "encoding": "hex"})).await;
    assert!(e.contains("not UTF-8") && e.contains("output"), "{e}");
    let e = err(&c, "encode", json!({"text": "x", "encoding": "rot13"})).await;
    assert!(
        e.contains("unknown encoding 'rot13'") && e.contains("base64url"),
        "{e}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn hash_gives_known_digests() {
    let c = client().await;
    for (alg, want) in [
        ("md5", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "sha256",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("crc32", "352441c2"),
        (
            "blake3",
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
    ] {
        let r = ok(&c, "hash", json!({"text": "abc", "algorithm": alg})).await;
        assert_eq!(r["digest"], want, "{alg}");
    }
    let r = ok(
        &c,
        "hash",
        json!({"text": "abc", "algorithm": "sha256", "format": "base64"}),
    )
    .await;
    assert_eq!(r["digest"], "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    let e = err(&c, "hash", json!({"text": "abc", "algorithm": "sha3"})).await;
    assert!(e.contains("unknown algorithm") && e.contains("xxh3"), "{e}");
    c.cancel().await.unwrap();
}
