//! mcp-text end to end: the real binary, driven by rmcp's client over stdio,
//! on inline text and on files in temporary directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mcp_servers_tests::{Client, Lifecycle, call, err_text as err, stdio_client, text_of};
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

#[tokio::test]
async fn json_validates_formats_queries_and_converts() {
    let fx = Fixture::new();
    let yaml = fx.write("conf.yaml", "name: demo\nports: [80, 443]\n");
    let c = fx.client(&[]).await;
    let r = ok(&c, "json", json!({"text": "{\n  \"a\": 1,\n  \"b\": ]\n}"})).await;
    assert_eq!(r["valid"], false);
    assert_eq!(r["error"]["line"], 3);
    assert_eq!(r["error"]["column"], 8);
    let r = ok(
        &c,
        "json",
        json!({"text": "{\"z\":1.0,\"a\":[]}", "action": "pretty", "indent": 4}),
    )
    .await;
    assert_eq!(r["result"]["text"], "{\n    \"z\": 1.0,\n    \"a\": []\n}");
    let r = ok(
        &c,
        "json",
        json!({"text": "{ \"b\" : 1 , \"a\" : 2 }", "action": "minify"}),
    )
    .await;
    assert_eq!(r["result"]["text"], "{\"b\":1,\"a\":2}");
    let r = ok(
        &c,
        "json",
        json!({"text": "{\"b\":1,\"a\":{\"d\":1,\"c\":2}}", "action": "sort_keys", "indent": 0}),
    )
    .await;
    assert_eq!(
        r["result"]["text"],
        "{\n\"a\": {\n\"c\": 2,\n\"d\": 1\n},\n\"b\": 1\n}"
    );
    let r = ok(&c, "json", json!({"text": "{\"items\":[{\"name\":\"x\"}]}", "action": "query", "pointer": "/items/0/name"})).await;
    assert_eq!(r["result"]["text"], "\"x\"");
    assert_eq!(r["value_type"], "string");
    // Format from the file extension.
    let r = ok(
        &c,
        "json",
        json!({"path": yaml, "action": "convert", "to": "json"}),
    )
    .await;
    assert_eq!(r["format"], "yaml");
    assert_eq!(
        r["result"]["text"],
        "{\n  \"name\": \"demo\",\n  \"ports\": [\n    80,\n    443\n  ]\n}"
    );
    let r = ok(
        &c,
        "json",
        json!({"path": yaml, "action": "convert", "to": "toml"}),
    )
    .await;
    assert_eq!(
        r["result"]["text"],
        "name = \"demo\"\nports = [\n    80,\n    443,\n]\n"
    );
    let e = err(&c, "json", json!({"text": "{", "action": "pretty"})).await;
    assert!(e.contains("line 1, column 1"), "{e}");
    let e = err(&c, "json", json!({"text": "{}", "action": "explode"})).await;
    assert!(e.contains("unknown action"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn markdown_renders_and_lists_structure() {
    let c = client().await;
    let doc = "# Intro\n\nRead [the docs](https://docs.example/a).\n\n## Usage\n\n```sh\ncargo run\n```\n";
    let r = ok(&c, "markdown", json!({"text": doc})).await;
    assert!(
        r["result"]["text"]
            .as_str()
            .unwrap()
            .contains("<h2>Usage</h2>")
    );
    let r = ok(&c, "markdown", json!({"text": doc, "action": "text"})).await;
    assert_eq!(
        r["result"]["text"],
        "Intro\n\nRead the docs.\n\nUsage\n\ncargo run"
    );
    let r = ok(&c, "markdown", json!({"text": doc, "action": "outline"})).await;
    assert_eq!(
        r["headings"],
        json!([{"level": 1, "text": "Intro", "line": 1}, {"level": 2, "text": "Usage", "line": 5}])
    );
    let r = ok(&c, "markdown", json!({"text": doc, "action": "links"})).await;
    assert_eq!(r["links"][0]["url"], "https://docs.example/a");
    assert_eq!(r["links"][0]["text"], "the docs");
    let r = ok(
        &c,
        "markdown",
        json!({"text": doc, "action": "code_blocks"}),
    )
    .await;
    assert_eq!(r["code_blocks"][0]["language"], "sh");
    assert_eq!(r["code_blocks"][0]["code"], "cargo run\n");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn html_to_markdown_keeps_main_content_and_pages() {
    let c = client().await;
    let page = "<html><head><title>Doc</title><script>var x;</script></head><body><nav>Menu</nav>\
                <article><h1>Heading</h1><p>Text with <a href=\"https://e.example/\">a link</a>.</p>\
                <ul><li>one</li><li>two</li></ul></article><footer>Footer</footer></body></html>";
    let r = ok(&c, "html_to_markdown", json!({"text": page})).await;
    assert_eq!(r["title"], "Doc");
    assert_eq!(r["source"], "article");
    let md = r["markdown"]["text"].as_str().unwrap();
    assert!(md.starts_with("# Heading"), "{md}");
    assert!(md.contains("[a link](https://e.example/)"), "{md}");
    assert!(
        md.contains("*   one") || md.contains("- one") || md.contains("* one"),
        "{md}"
    );
    assert!(
        !md.contains("Menu") && !md.contains("Footer") && !md.contains("var x"),
        "{md}"
    );
    let total = r["markdown"]["total_chars"].as_u64().unwrap();
    let p1 = ok(
        &c,
        "html_to_markdown",
        json!({"text": page, "max_length": 5}),
    )
    .await;
    assert_eq!(p1["markdown"]["text"], "# Hea");
    assert_eq!(p1["markdown"]["next_start_index"], 5);
    let p2 = ok(
        &c,
        "html_to_markdown",
        json!({"text": page, "start_index": 5, "max_length": 1000}),
    )
    .await;
    assert_eq!(
        p2["markdown"]["text"].as_str().unwrap().chars().count() as u64,
        total - 5
    );
    c.cancel().await.unwrap();
}

/// Issue 21: a `<pre>` becomes a fenced code block holding its text exactly
/// (spaces, tabs, blank lines), with a fence longer than any backtick run
/// inside and the language of its `language-*` class.
#[tokio::test]
async fn html_to_markdown_keeps_preformatted_text_exactly() {
    let c = client().await;
    let r = ok(
        &c,
        "html_to_markdown",
        json!({"text": "<pre>  line1\n\tline2  \n\n\nline5</pre>"}),
    )
    .await;
    assert_eq!(
        r["markdown"]["text"],
        "```\n  line1\n\tline2  \n\n\nline5\n```"
    );
    let r = ok(
        &c,
        "html_to_markdown",
        json!({"text": "<main><pre><code class=\"language-md\">``` x\n\n  *y*</code></pre></main>"}),
    )
    .await;
    assert_eq!(r["markdown"]["text"], "````md\n``` x\n\n  *y*\n````");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn chunk_by_chars_and_tokens_with_offsets() {
    let c = client().await;
    let text =
        "First paragraph here.\n\nSecond one is a bit longer. It has two sentences.\n\nThird.";
    let r = ok(&c, "chunk", json!({"text": text, "max_chars": 40})).await;
    let chunks = r["chunks"].as_array().unwrap();
    assert_eq!(chunks[0]["text"], "First paragraph here.");
    assert_eq!(chunks[1]["text"], "Second one is a bit longer.");
    for ch in chunks {
        let (s, e) = (
            ch["start"].as_u64().unwrap() as usize,
            ch["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[s..e], ch["text"].as_str().unwrap());
        assert!(ch["chars"].as_u64().unwrap() <= 40);
    }
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(30);
    let r = ok(&c, "chunk", json!({"text": long, "max_tokens": 20, "overlap": 5, "tokenizer": "cl100k_base", "limit": 500})).await;
    assert_eq!(r["unit"], "tokens");
    for ch in r["chunks"].as_array().unwrap() {
        assert!(ch["tokens"].as_u64().unwrap() <= 20, "{ch}");
    }
    let e = err(&c, "chunk", json!({"text": "x"})).await;
    assert!(e.contains("max_chars") && e.contains("max_tokens"), "{e}");
    let e = err(
        &c,
        "chunk",
        json!({"text": "x", "max_chars": 10, "overlap": 6}),
    )
    .await;
    assert!(e.contains("overlap"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn extract_finds_everything_with_positions() {
    let c = client().await;
    let text = "Mail ann@example.com or see https://example.com/x.\nOn 2024-05-01, @bob paid 1,200.50 #thanks";
    let r = ok(&c, "extract", json!({"text": text})).await;
    let kinds: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"email") && kinds.contains(&"url") && kinds.contains(&"date"));
    assert!(kinds.contains(&"mention") && kinds.contains(&"hashtag") && kinds.contains(&"number"));
    let r = ok(
        &c,
        "extract",
        json!({"text": text, "kinds": ["urls", "hashtags"]}),
    )
    .await;
    assert_eq!(r["items"][0]["value"], "https://example.com/x");
    assert_eq!(r["items"][1]["value"], "#thanks");
    assert_eq!(r["items"][1]["line"], 2);
    let e = err(&c, "extract", json!({"text": text, "kinds": ["phones"]})).await;
    assert!(e.contains("unknown kind 'phones'"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn prompts_are_listed_and_rendered_with_arguments() {
    use mcp_servers_tests::rmcp::model::GetPromptRequestParams;
    let c = client().await;
    let prompts = c.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    for name in ["proofread", "summarize", "explain-diff"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let proofread = prompts.iter().find(|p| p.name == "proofread").unwrap();
    let args = proofread.arguments.as_ref().unwrap();
    assert!(
        args.iter()
            .any(|a| a.name == "text" && a.required == Some(true))
    );
    assert!(
        args.iter()
            .any(|a| a.name == "style" && a.required != Some(true))
    );

    let get = |name: &str, arguments: Value| {
        GetPromptRequestParams::new(name).with_arguments(mcp_servers_tests::args(arguments))
    };
    let r = c
        .get_prompt(get(
            "proofread",
            json!({"text": "teh cat", "style": "formal"}),
        ))
        .await
        .unwrap();
    let msg = serde_json::to_value(&r.messages[0]).unwrap();
    let body = msg["content"]["text"].as_str().unwrap();
    assert!(
        body.contains("teh cat") && body.contains("formal"),
        "{body}"
    );
    let r = c
        .get_prompt(get(
            "explain-diff",
            json!({"before": "a\nb\n", "after": "a\nc\n"}),
        ))
        .await
        .unwrap();
    let msg = serde_json::to_value(&r.messages[0]).unwrap();
    let body = msg["content"]["text"].as_str().unwrap();
    assert!(body.contains("-b\n+c\n"), "{body}");
    let r = c
        .get_prompt(get(
            "summarize",
            json!({"text": "x", "length": "short", "format": "bullets"}),
        ))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&r.messages[0])
            .unwrap()
            .contains("bulleted")
    );
    // Bad arguments are protocol errors (prompts have no isError).
    assert!(
        c.get_prompt(get("summarize", json!({"text": "x", "length": "huge"})))
            .await
            .is_err()
    );
    assert!(c.get_prompt(get("explain-diff", json!({}))).await.is_err());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn resources_and_templates_describe_what_is_supported() {
    use mcp_servers_tests::rmcp::model::{ReadResourceRequestParams, ResourceContents};
    let fx = Fixture::new();
    let note = fx.write("note.md", "# Note\n");
    let bad = fx.write("bad.txt", b"\xff");
    let c = fx.client(&[]).await;
    let resources = c.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    for uri in [
        "text://tokenizers",
        "text://encodings",
        "text://hashes",
        "text://operations",
    ] {
        assert!(uris.contains(&uri), "{uris:?}");
    }
    let templates = c.list_all_resource_templates().await.unwrap();
    assert!(templates.iter().any(|t| t.uri_template == "file:///{path}"));
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "text://tokenizers/{name}")
    );

    let cr = &c;
    let read =
        |uri: String| async move { cr.read_resource(ReadResourceRequestParams::new(uri)).await };
    let text_of_contents =
        |r: &mcp_servers_tests::rmcp::model::ReadResourceResult| match &r.contents[0] {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("not text: {other:?}"),
        };
    let r = read("text://tokenizers".into()).await.unwrap();
    let list: Value = serde_json::from_str(&text_of_contents(&r)).unwrap();
    assert_eq!(list[0]["name"], "o200k_base");
    let r = read("text://operations/snake_case".into()).await.unwrap();
    let op: Value = serde_json::from_str(&text_of_contents(&r)).unwrap();
    assert_eq!(op["name"], "snake_case");
    let r = read(format!("file://{note}")).await.unwrap();
    assert_eq!(text_of_contents(&r), "# Note\n");
    assert!(read("text://nothing".into()).await.is_err());
    assert!(read(format!("file://{bad}")).await.is_err());
    assert!(read("file:///etc/passwd".into()).await.is_err());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn completions_for_prompt_arguments_names_and_paths() {
    use mcp_servers_tests::rmcp::model::{ArgumentInfo, CompleteRequestParams, Reference};
    let fx = Fixture::new();
    fx.write("alpha.txt", "a");
    fs::create_dir(fx.root.join("albums")).unwrap();
    let c = fx.client(&[]).await;
    let complete = |r: Reference, name: &str, value: &str| {
        c.complete(CompleteRequestParams::new(
            r,
            ArgumentInfo::new(name, value),
        ))
    };
    let r = complete(Reference::for_prompt("summarize"), "length", "s")
        .await
        .unwrap();
    assert_eq!(r.completion.values, ["short"]);
    let r = complete(Reference::for_prompt("proofread"), "style", "")
        .await
        .unwrap();
    assert!(r.completion.values.len() >= 5);
    let r = complete(
        Reference::for_resource("text://tokenizers/{name}"),
        "name",
        "cl",
    )
    .await
    .unwrap();
    assert_eq!(r.completion.values, ["cl100k_base"]);
    let r = complete(
        Reference::for_resource("text://encodings/{name}"),
        "name",
        "base",
    )
    .await
    .unwrap();
    assert_eq!(r.completion.values, ["base64", "base64url"]);
    let typed = format!(
        "{}/al",
        fx.root.display().to_string().trim_start_matches('/')
    );
    let r = complete(Reference::for_resource("file:///{path}"), "path", &typed)
        .await
        .unwrap();
    let base = fx.root.display().to_string();
    let base = base.trim_start_matches('/');
    assert_eq!(
        r.completion.values,
        [format!("{base}/albums/"), format!("{base}/alpha.txt")]
    );
    let r = complete(Reference::for_resource("file:///{path}"), "path", "")
        .await
        .unwrap();
    assert_eq!(r.completion.values, [format!("{base}/")]);
    c.cancel().await.unwrap();
}

#[test]
fn logging_follows_the_client_level_and_long_hashes_report_progress() {
    use mcp_servers_tests::RawStdio;
    let fx = Fixture::new();
    let file = fx.write("r.txt", "color\n");
    let root = fx.root.display().to_string();
    let mut raw = RawStdio::spawn(bin(), &[&root]).unwrap();
    raw.initialize().unwrap();
    let replace = |id: i64, from: &str, to: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "replace", "arguments": {"path": file, "pattern": from, "replacement": to}}})
    };
    let logs = |before: &[Value]| -> Vec<Value> {
        before
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .cloned()
            .collect()
    };
    // Until the client sets a level, only warnings and worse are sent.
    raw.send(&replace(1, "color", "colour")).unwrap();
    let (resp, before) = raw.recv_response(&json!(1)).unwrap();
    assert_eq!(resp["result"]["isError"], false, "{resp}");
    assert!(logs(&before).is_empty(), "{before:?}");

    let resp = raw
        .request(2, "logging/setLevel", json!({"level": "debug"}))
        .unwrap();
    assert!(resp.get("result").is_some(), "{resp}");
    raw.send(&replace(3, "colour", "color")).unwrap();
    let (_, before) = raw.recv_response(&json!(3)).unwrap();
    let logs = logs(&before);
    assert_eq!(logs.len(), 1, "{before:?}");
    assert_eq!(logs[0]["params"]["level"], "notice");
    assert_eq!(logs[0]["params"]["logger"], "mcp-text");
    assert!(
        logs[0]["params"]["data"]
            .as_str()
            .unwrap()
            .contains("1 replacements")
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "color\n");

    let big = "x".repeat(3 * 1024 * 1024);
    raw.send(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                     "params": {"name": "hash", "arguments": {"text": big, "algorithm": "sha256"},
                                "_meta": {"progressToken": "h"}}}))
        .unwrap();
    let (resp, before) = raw.recv_response(&json!(4)).unwrap();
    assert_eq!(
        resp["result"]["structuredContent"]["bytes"],
        3 * 1024 * 1024
    );
    let progress: Vec<_> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(!progress.is_empty(), "{before:?}");
    assert_eq!(progress[0]["params"]["progressToken"], "h");

    // text_stats counts a large input on two threads; its progress still
    // only goes up, and never past the total.
    let prose = "Counting words, e.g. these. And sentences!\n".repeat(60_000);
    raw.send(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                     "params": {"name": "text_stats", "arguments": {"text": prose},
                                "_meta": {"progressToken": "s"}}}))
        .unwrap();
    let (resp, before) = raw.recv_response(&json!(5)).unwrap();
    assert_eq!(resp["result"]["structuredContent"]["lines"], 60_000);
    let values: Vec<(f64, f64)> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            let p = &m["params"];
            (
                p["progress"].as_f64().unwrap(),
                p["total"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(!values.is_empty(), "{before:?}");
    assert!(values.windows(2).all(|w| w[0].0 < w[1].0), "{values:?}");
    assert!(values.iter().all(|(p, total)| p <= total), "{values:?}");
    raw.close().unwrap();
}

// Hardening regressions: hostile sizes and nesting get a clear tool error
// (or a bounded result), and the server keeps answering.

/// The server still answers an ordinary call.
async fn still_answers(c: &Client) {
    let r = ok(
        c,
        "text_stats",
        json!({"text": "still here", "tokenizers": []}),
    )
    .await;
    assert_eq!(r["words"], 2);
}

/// Regression: about 3,000 nested tags (18 KB of `<b><i>`) overflowed the
/// worker's stack in htmd's recursive walk and aborted the server; 50,000
/// nested divs took 13 s (html5ever's scope checks are quadratic in the
/// depth) before the abort. Now the parse stops at 512 levels with a clear
/// error, quickly, whatever the depth.
#[tokio::test]
async fn deeply_nested_html_is_refused_and_the_server_lives() {
    let c = client().await;
    for (open, close) in [
        ("<b><i>", "</i></b>"),
        ("<div>", "</div>"),
        ("<ul><li>", "</li></ul>"),
        ("<blockquote>", "</blockquote>"),
        ("<table><tr><td>", "</td></tr></table>"),
    ] {
        // 1,000 levels is under 16 KiB: worked on the request's own thread.
        for n in [1_000, 3_000, 100_000] {
            let html = format!("{}x{}", open.repeat(n), close.repeat(n));
            let started = std::time::Instant::now();
            let e = err(
                &c,
                "html_to_markdown",
                json!({"text": html, "main_content": false}),
            )
            .await;
            assert!(
                e.contains("nested more than 512 levels deep"),
                "{open} x{n}: {e}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{open} x{n} took {:?}",
                started.elapsed()
            );
        }
        still_answers(&c).await;
    }
    // Nesting within the cap still converts.
    let html = format!("{}deep{}", "<div>".repeat(500), "</div>".repeat(500));
    let r = ok(&c, "html_to_markdown", json!({"text": html})).await;
    assert_eq!(r["markdown"]["text"], "deep");
    c.cancel().await.unwrap();
}

/// Regression: unclosed `<main>` tags made the main-content search
/// quadratic (100,000 of them ran past 30 s), sibling inline tags made
/// htmd's merge quadratic, and table foster parenting made rcdom's
/// insertions quadratic. Each is now one pass.
#[tokio::test]
async fn html_with_many_siblings_converts_in_linear_time() {
    let c = client().await;
    let started = std::time::Instant::now();
    let r = ok(
        &c,
        "html_to_markdown",
        // (Inside a script, so that the parser does not nest them.)
        json!({"text": format!("<script>{}</script><p>text</p>", "<main>".repeat(100_000))}),
    )
    .await;
    assert_eq!(r["source"], "document");
    assert_eq!(r["markdown"]["text"], "text");
    let r = ok(
        &c,
        "html_to_markdown",
        json!({"text": "<b>x</b>".repeat(100_000), "main_content": false}),
    )
    .await;
    assert_eq!(r["markdown"]["total_chars"], 100_004);
    let r = ok(
        &c,
        "html_to_markdown",
        json!({"text": format!("<table>{}", "<i>x</i>".repeat(100_000)), "main_content": false}),
    )
    .await;
    assert_eq!(r["markdown"]["total_chars"], 100_002);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Lists nested 200 deep around 20,000 paragraphs: each line would be
    // indented 800 columns and copied at every level; refused up front.
    let html = format!("{}{}", "<ul><li>".repeat(200), "<p>a</p>".repeat(20_000));
    let e = err(
        &c,
        "html_to_markdown",
        json!({"text": html, "main_content": false}),
    )
    .await;
    assert!(e.contains("flatten the nesting"), "{e}");
    still_answers(&c).await;
    c.cancel().await.unwrap();
}

/// Regression: `"indent": 1000000000000000` aborted the server on a failed
/// allocation, and `"indent": 1000000000` grew until memory ran out. Now
/// `indent` is 0 to 16, checked before any work, and pretty output is
/// measured against the output cap before it is built.
#[tokio::test]
async fn json_indent_is_bounded() {
    let c = client().await;
    let doc = "{\"a\":[1,2]}";
    for action in ["pretty", "sort_keys", "query", "convert"] {
        for indent in [
            json!(1_000_000_000_000_000u64),
            json!(1_000_000_000),
            json!(1e9),
            json!(-1),
            json!(17),
        ] {
            let e = err(
                &c,
                "json",
                json!({"text": doc, "action": action, "indent": indent, "pointer": "", "to": "json"}),
            )
            .await;
            assert!(
                e.starts_with("`indent` must be an integer from 0 to 16; got "),
                "{action} {indent}: {e}"
            );
        }
        still_answers(&c).await;
    }
    let r = ok(
        &c,
        "json",
        json!({"text": doc, "action": "pretty", "indent": 0}),
    )
    .await;
    assert_eq!(r["result"]["text"], "{\n\"a\": [\n1,\n2\n]\n}");
    let r = ok(
        &c,
        "json",
        json!({"text": doc, "action": "pretty", "indent": 16}),
    )
    .await;
    let (i1, i2) = (" ".repeat(16), " ".repeat(32));
    assert_eq!(
        r["result"]["text"],
        format!("{{\n{i1}\"a\": [\n{i2}1,\n{i2}2\n{i1}]\n}}")
    );
    // Within the range, output past the cap is still refused: 1 MiB of
    // input allows 4 MiB of output; 125,000 values 120 levels deep, each on
    // a line indented 16 x 120 columns, would be about 240 MB.
    let deep = format!(
        "{}{}{}",
        "[".repeat(120),
        vec!["1"; 125_000].join(","),
        "]".repeat(120)
    );
    let c2 = stdio_client(
        bin(),
        &["--max-input-bytes", "1048576"],
        Lifecycle::Initialize,
    )
    .await
    .unwrap();
    let e = err(
        &c2,
        "json",
        json!({"text": deep, "action": "pretty", "indent": 16}),
    )
    .await;
    assert!(e.contains("over the output cap of 4194304 bytes"), "{e}");
    still_answers(&c2).await;
    c2.cancel().await.unwrap();
    c.cancel().await.unwrap();
}

/// Regression: `{"op": "tabs_to_spaces", "tab_size": 1000000000000000}` on
/// a single tab aborted the server. Now `tab_size` is 1 to 64, and the
/// expanded text is measured against the output cap first.
#[tokio::test]
async fn transform_tab_size_is_bounded() {
    let c = client().await;
    for tab_size in [
        json!(1_000_000_000_000_000u64),
        json!(1_000_000_000),
        json!(-1),
        json!(0),
        json!(65),
    ] {
        for op in ["tabs_to_spaces", "spaces_to_tabs"] {
            let e = err(
                &c,
                "transform",
                json!({"text": "\t", "operations": [{"op": op, "tab_size": tab_size}]}),
            )
            .await;
            assert!(
                e.starts_with("`operations[0].tab_size` must be an integer from 1 to 64; got "),
                "{op} {tab_size}: {e}"
            );
        }
        still_answers(&c).await;
    }
    let r = ok(
        &c,
        "transform",
        json!({"text": "\t", "operations": [{"op": "tabs_to_spaces", "tab_size": 64}]}),
    )
    .await;
    assert_eq!(r["result"]["text"], " ".repeat(64));
    // 1 MiB of tabs at 64 columns would be 64 MiB, over the 4 MiB cap.
    let c2 = stdio_client(
        bin(),
        &["--max-input-bytes", "1048576"],
        Lifecycle::Initialize,
    )
    .await
    .unwrap();
    let e = err(
        &c2,
        "transform",
        json!({"text": "\t".repeat(1 << 20), "operations": [{"op": "tabs_to_spaces", "tab_size": 64}]}),
    )
    .await;
    assert!(e.contains("tabs_to_spaces: the result would be 67108864 bytes, over the output cap of 4194304 bytes"), "{e}");
    still_answers(&c2).await;
    c2.cancel().await.unwrap();
    c.cancel().await.unwrap();
}

/// The class closed: every numeric parameter of every tool has bounds in
/// its schema, and a value just past either bound is a tool error naming
/// the parameter and its range, not work.
#[tokio::test]
async fn every_numeric_parameter_is_bounded_and_checked() {
    let c = client().await;
    let tools = c.list_all_tools().await.unwrap();
    // Arguments each tool needs besides the one under test.
    let base = |tool: &str| -> Value {
        match tool {
            "search" | "replace" => json!({"text": "a", "pattern": "a", "replacement": "b"}),
            "encode" | "decode" => json!({"text": "a", "encoding": "hex"}),
            "hash" => json!({"text": "a", "algorithm": "md5"}),
            "diff" => json!({"a": "a", "b": "b"}),
            "chunk" => json!({"text": "a", "max_chars": 10}),
            "transform" => json!({"text": "a"}),
            _ => json!({"text": "a"}),
        }
    };
    let mut checked = 0;
    for tool in &tools {
        let schema = Value::Object((*tool.input_schema).clone());
        let mut params: Vec<(String, Value, bool)> = Vec::new();
        for (name, prop) in schema["properties"].as_object().unwrap() {
            params.push((name.clone(), prop.clone(), false));
        }
        // transform's are inside `operations` items.
        if let Some(item) = schema["properties"]["operations"]["items"].as_object() {
            let item = match item.get("$ref").and_then(Value::as_str) {
                Some(r) => schema["$defs"][r.rsplit('/').next().unwrap()].clone(),
                None => Value::Object(item.clone()),
            };
            for (name, prop) in item["properties"].as_object().unwrap() {
                params.push((name.clone(), prop.clone(), true));
            }
        }
        for (name, prop, in_op) in params {
            let types = prop["type"].to_string();
            if !types.contains("integer") && !types.contains("number") {
                continue;
            }
            let (min, max) = (prop["minimum"].as_u64(), prop["maximum"].as_u64());
            let (Some(min), Some(max)) = (min, max) else {
                panic!("{}.{name} has no bounds: {prop}", tool.name);
            };
            let label = if in_op {
                format!("operations[0].{name}")
            } else {
                name.clone()
            };
            let mut bad = vec![json!(max as f64 + 1.0), json!(2.5)];
            bad.push(if min == 0 { json!(-1) } else { json!(min - 1) });
            for value in bad {
                let mut args = base(&tool.name);
                if in_op {
                    args["operations"] = json!([{"op": "wrap", name.clone(): value}]);
                } else {
                    if tool.name == "transform" {
                        args["operations"] = json!([{"op": "lower"}]);
                    }
                    if tool.name == "chunk" && name == "max_chars" {
                        args.as_object_mut().unwrap().remove("max_chars");
                    }
                    args[name.as_str()] = value.clone();
                }
                let e = err(&c, &tool.name, args).await;
                assert!(
                    e.starts_with(&format!(
                        "`{label}` must be an integer from {min} to {max}; got "
                    )),
                    "{}.{name} = {value}: {e}",
                    tool.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "only {checked} values checked");
    still_answers(&c).await;
    c.cancel().await.unwrap();
}
