//! mcp-text on a committed corpus of tricky inputs (issue 21): lone CR,
//! mixed line endings, BOM, NUL, ZWJ emoji, ligatures, RTL, combining marks,
//! big numbers. Every input goes through every tool of the real binary, and
//! each answer is held to invariants instead of expected strings: every call
//! answers, round trips are exact, line operations keep each line's ending,
//! diffs apply and give `b`, chunks cover the input in order.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mcp_servers_tests::{Client, Lifecycle, call, stdio_client, text_of};
use serde_json::{Value, json};

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-text", "mcp-text"))
}

/// The corpus: (name, text).
const CORPUS: &[(&str, &str)] = &[
    ("empty", ""),
    ("lone_cr", "a\rb\rc"),
    ("lone_cr_end", "one\rtwo\r"),
    ("mixed_endings", "x\ny\r\nz\rw\n\r\n\n"),
    ("crlf", "first line\r\nsecond line\r\n\r\nthird\r\n"),
    ("no_final_newline", "b\na\nc"),
    ("bom", "\u{feff}BOM first\nline two\n"),
    ("nul", "nul\0inside\n\0\nend"),
    (
        "zwj_emoji",
        "👨\u{200d}👩\u{200d}👧\u{200d}👦 a 👨\u{200d}👩\u{200d}👧\u{200d}👦 b\n🏳️\u{200d}🌈 flag 👍🏽\n",
    ),
    ("ligatures", "ﬁle_name ﬂow ﬀ ﬃ Æsir\nœuvre ß Straße\n"),
    (
        "rtl",
        "שלום עולם\nمرحبا بالعالم 123\n\u{202e}reversed\u{202c} mixed עברית and English\n",
    ),
    (
        "combining",
        "e\u{301}te\u{301} n\u{303} a\u{308}\u{304} Z\u{35b}\u{327}a\u{364}\n",
    ),
    (
        "big_numbers",
        "n = 123456789012345678901234567890, -98765432109876543210 and 1e400\n2024-01-02 10-20 555-1234\n",
    ),
    (
        "whitespace",
        "  lead\t\ttabs\t\n\u{a0}nbsp\u{2003}em space\u{2028}ls\u{2029}ps\n\n\n",
    ),
    (
        "markup",
        "# Title\r\n\r\n- `code` *em* [link](https://e.example/a?b=c&d=e)\r\n\r\n```\r\nfenced\r\n```\r\n<b>tag</b> &amp; @user #tag mail@x.example\n",
    ),
    ("duplicates", "b\r\na\nb\r\n\n  \na\r"),
];

/// JSON documents for the `json` round trips.
const JSON_CORPUS: &[&str] = &[
    r#"{"n":123456789012345678901234567890,"neg":-98765432109876543210,"f":1.0,"e":1E+3,"huge":1e400,"tiny":-0.0,"u":18446744073709551615}"#,
    r#"[1,"\u0000\ud83d\ude00",{"\u202e":"שלום"},[[]],{}]"#,
    "  {\r\n\t\"lone\\rcr\" : \"a\\rb\",\r\n  \"bom\": \"\u{feff}\"\r\n}\r\n",
    r#""just a string with ﬁ and 👨‍👩‍👧""#,
];

async fn client() -> Client {
    stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap()
}

/// The structured result of a call that must succeed (a JSON-RPC error
/// already fails inside `call`).
async fn ok(c: &Client, name: &str, arguments: Value) -> Value {
    let result = call(c, name, arguments.clone()).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{name} {arguments}: {}",
        text_of(&result)
    );
    result
        .structured_content
        .unwrap_or_else(|| panic!("{name}: no structured content"))
}

fn text_at<'v>(v: &'v Value, key: &str) -> &'v str {
    assert_ne!(v[key]["truncated"], true, "{key} was paged: {v}");
    v[key]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}.text in {v}"))
}

/// Lines with their endings, as the line operations cut them: `\r\n`,
/// `\n` or a lone `\r`.
fn lines_with_endings(text: &str) -> Vec<(&str, &str)> {
    let mut lines = Vec::new();
    let b = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let end = match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push((&text[start..i], &text[i..end]));
        start = end;
        i = end;
    }
    if start < text.len() {
        lines.push((&text[start..], ""));
    }
    lines
}

/// Applies a unified diff to `a` strictly (every context and removed line
/// must match; lines end at `\n` only, as in GNU diff and patch).
fn apply_unified(a: &str, diff: &str) -> String {
    let old: Vec<&str> = a.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut at = 0usize;
    let mut lines = diff.split_inclusive('\n').peekable();
    // Headers.
    while lines.peek().is_some_and(|l| !l.starts_with("@@")) {
        lines.next();
    }
    let mut last_pushed: Option<bool> = None; // Some(true): into out; Some(false): skipped
    for line in lines {
        if let Some(header) = line.strip_prefix("@@ -") {
            let range = header.split(' ').next().unwrap();
            let mut parts = range.split(',');
            let start: usize = parts.next().unwrap().parse().unwrap();
            let len: usize = parts.next().map_or(1, |l| l.parse().unwrap());
            let first = if len == 0 { start } else { start - 1 };
            assert!(first >= at, "hunks out of order in {diff:?}");
            for l in &old[at..first] {
                out.push_str(l);
            }
            at = first;
            continue;
        }
        if line.starts_with('\\') {
            // "\ No newline at end of file": the previous line had none.
            if last_pushed == Some(true) && out.ends_with('\n') {
                out.pop();
            }
            continue;
        }
        let (tag, body) = line.split_at(1);
        let body_nl = if body.ends_with('\n') {
            body.to_owned()
        } else {
            format!("{body}\n")
        };
        let matches_old = |at: usize| {
            let o = old.get(at).copied().unwrap_or_else(|| {
                panic!("diff goes past the end of a: {diff:?}");
            });
            assert!(
                o == body_nl || o == body_nl.trim_end_matches('\n'),
                "context/removed line {body:?} is {o:?} in a; diff {diff:?}"
            );
        };
        match tag {
            " " => {
                matches_old(at);
                out.push_str(old[at]);
                if !old[at].ends_with('\n') {
                    out.push('\n'); // taken back by a "\ No newline" marker
                }
                at += 1;
                last_pushed = Some(true);
            }
            "-" => {
                matches_old(at);
                at += 1;
                last_pushed = Some(false);
            }
            "+" => {
                out.push_str(&body_nl);
                last_pushed = Some(true);
            }
            other => panic!("unexpected diff line {other:?}{body:?} in {diff:?}"),
        }
    }
    for l in &old[at.min(old.len())..] {
        out.push_str(l);
    }
    out
}

#[test]
fn the_strict_applier_applies_known_diffs() {
    let diff = "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+B\n";
    assert_eq!(apply_unified("a\nb", diff), "a\nB\n");
    let diff = "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n";
    assert_eq!(apply_unified("", diff), "x\n");
}

#[tokio::test]
async fn every_tool_answers_every_corpus_input() {
    let c = client().await;
    for &(name, text) in CORPUS {
        let stats = ok(&c, "text_stats", json!({"text": text})).await;
        assert_eq!(stats["bytes"], text.len(), "{name}: {stats}");
        assert_eq!(stats["chars"], text.chars().count(), "{name}");
        // Search: every match is the text at its byte offsets.
        for (pattern, regex) in [("a", false), (r"\w+", true), ("$", true), ("\r", false)] {
            let r = ok(
                &c,
                "search",
                json!({"text": text, "pattern": pattern, "regex": regex, "limit": 10000}),
            )
            .await;
            for m in r["matches"].as_array().unwrap() {
                let (s, e) = (
                    m["byte_offset"].as_u64().unwrap() as usize,
                    m["byte_end"].as_u64().unwrap() as usize,
                );
                assert_eq!(&text[s..e], m["text"], "{name} /{pattern}/: {m}");
                let before = &text[..s];
                let line = before.matches('\n').count() + 1;
                assert_eq!(m["line"], line, "{name} /{pattern}/: {m}");
                let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
                assert_eq!(m["column"], column, "{name} /{pattern}/: {m}");
            }
        }
        // Replace: the new text is what a literal replace gives.
        let r = ok(
            &c,
            "replace",
            json!({"text": text, "pattern": "a", "replacement": "∂\r\n"}),
        )
        .await;
        assert_eq!(text_at(&r, "result"), text.replace('a', "∂\r\n"), "{name}");
        for action in ["html", "text", "outline", "links", "code_blocks"] {
            ok(&c, "markdown", json!({"text": text, "action": action})).await;
        }
        for main_content in [true, false] {
            ok(
                &c,
                "html_to_markdown",
                json!({"text": text, "main_content": main_content}),
            )
            .await;
        }
        ok(&c, "extract", json!({"text": text})).await;
        for algorithm in ["md5", "sha1", "sha256", "sha512", "blake3", "crc32", "xxh3"] {
            let r = ok(&c, "hash", json!({"text": text, "algorithm": algorithm})).await;
            assert!(r["digest"].as_str().is_some_and(|d| !d.is_empty()), "{r}");
        }
        ok(&c, "json", json!({"text": text, "action": "validate"})).await;
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn encodings_round_trip_exactly() {
    let c = client().await;
    for &(name, text) in CORPUS {
        for encoding in ["base64", "base64url", "hex", "percent", "html"] {
            let enc = ok(&c, "encode", json!({"text": text, "encoding": encoding})).await;
            let encoded = text_at(&enc, "result");
            let dec = ok(&c, "decode", json!({"text": encoded, "encoding": encoding})).await;
            assert_eq!(text_at(&dec, "result"), text, "{name} {encoding}");
        }
        let sha = ok(&c, "hash", json!({"text": text, "algorithm": "sha256"})).await;
        let hex = ok(&c, "encode", json!({"text": text, "encoding": "hex"})).await;
        let back = ok(
            &c,
            "decode",
            json!({"text": text_at(&hex, "result"), "encoding": "hex", "output": "base64"}),
        )
        .await;
        let b64 = ok(&c, "encode", json!({"text": text, "encoding": "base64"})).await;
        assert_eq!(
            text_at(&back, "result"),
            text_at(&b64, "result"),
            "{name}: hex -> base64"
        );
        assert!(sha["digest"].as_str().is_some_and(|d| d.len() == 64));
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn json_round_trips_and_numbers_survive() {
    let c = client().await;
    let mut docs: Vec<String> = JSON_CORPUS.iter().map(|s| (*s).to_owned()).collect();
    // Every corpus text as a JSON string, beside a big integer.
    for &(_, text) in CORPUS {
        docs.push(json!({"s": text, "n": 1}).to_string().replacen(
            "\"n\":1",
            "\"n\":123456789012345678901234567890",
            1,
        ));
    }
    for doc in &docs {
        let json = |action: &str, text: &str| json!({"text": text, "action": action, "format": "json", "to": "json"});
        let min1 = ok(&c, "json", json("minify", doc)).await;
        let min1 = text_at(&min1, "result").to_owned();
        let pretty = ok(&c, "json", json("pretty", &min1)).await;
        let min2 = ok(&c, "json", json("minify", text_at(&pretty, "result"))).await;
        assert_eq!(text_at(&min2, "result"), min1, "{doc}");
        let conv = ok(&c, "json", json("convert", doc)).await;
        let min3 = ok(&c, "json", json("minify", text_at(&conv, "result"))).await;
        assert_eq!(text_at(&min3, "result"), min1, "{doc}");
        // Strings survive a query exactly.
        let value: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
        if let Some(s) = value.get("s").and_then(Value::as_str) {
            let q = ok(
                &c,
                "json",
                json!({"text": doc, "action": "query", "pointer": "/s"}),
            )
            .await;
            assert_eq!(
                serde_json::from_str::<Value>(text_at(&q, "result")).unwrap(),
                s,
                "{doc}"
            );
            // Disagreement left (README): a document spelling `\u0000`
            // is read by serde_json alone, big numbers through f64.
            if doc.contains("\\u0000") {
                continue;
            }
            let q = ok(
                &c,
                "json",
                json!({"text": doc, "action": "query", "pointer": "/n"}),
            )
            .await;
            assert_eq!(text_at(&q, "result"), "123456789012345678901234567890");
            // json -> yaml keeps the big integer digit for digit; the string
            // reads back through a YAML parser.
            let y = ok(
                &c,
                "json",
                json!({"text": doc, "action": "convert", "to": "yaml"}),
            )
            .await;
            let yaml = text_at(&y, "result");
            assert!(
                yaml.lines()
                    .any(|l| l == "n: 123456789012345678901234567890"),
                "{yaml}"
            );
        }
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn line_operations_keep_each_lines_ending() {
    let c = client().await;
    for &(name, text) in CORPUS {
        let input = lines_with_endings(text);
        let unterminated = input.last().is_some_and(|l| l.1.is_empty());
        for op in [
            "sort_lines",
            "reverse_lines",
            "unique_lines",
            "remove_blank_lines",
            "trim_lines",
        ] {
            let r = ok(
                &c,
                "transform",
                json!({"text": text, "operations": [{"op": op}]}),
            )
            .await;
            let out_text = text_at(&r, "result");
            let output = lines_with_endings(out_text);
            // Whether the text ends with a break is kept.
            if !output.is_empty() {
                assert_eq!(
                    output.last().unwrap().1.is_empty(),
                    unterminated,
                    "{name} {op}: {out_text:?}"
                );
            }
            // Every output line is an input line with that line's own
            // ending (the line that becomes last without a break, and the
            // one that was last, trade endings).
            let mut endings: Vec<&str> = input.iter().map(|l| l.1).collect();
            for (i, (line, ending)) in output.iter().enumerate() {
                let candidates: Vec<&(&str, &str)> = input
                    .iter()
                    .filter(|l| {
                        if op == "trim_lines" {
                            l.0.trim_end() == *line
                        } else {
                            l.0 == *line
                        }
                    })
                    .collect();
                assert!(
                    !candidates.is_empty(),
                    "{name} {op}: line {line:?} is in no input line"
                );
                let moved = unterminated && (i + 1 == output.len() || ending.is_empty());
                if !moved && !ending.is_empty() {
                    assert!(
                        candidates.iter().any(|l| l.1 == *ending)
                            || (unterminated && candidates.iter().any(|l| l.1.is_empty())),
                        "{name} {op}: line {line:?} ends {ending:?}, not its own ending"
                    );
                }
                if let Some(at) = endings.iter().position(|e| e == ending) {
                    endings.remove(at);
                } else {
                    panic!("{name} {op}: ending {ending:?} used more often than in the input");
                }
            }
            match op {
                "sort_lines" | "reverse_lines" | "trim_lines" => {
                    assert_eq!(output.len(), input.len(), "{name} {op}")
                }
                _ => assert!(output.len() <= input.len(), "{name} {op}"),
            }
            if op == "reverse_lines" {
                let lines: Vec<&str> = output.iter().map(|l| l.0).collect();
                let mut expected: Vec<&str> = input.iter().map(|l| l.0).collect();
                expected.reverse();
                assert_eq!(lines, expected, "{name}");
            }
        }
        // lf then crlf and back: only the endings change.
        let lf = ok(
            &c,
            "transform",
            json!({"text": text, "operations": [{"op": "lf"}]}),
        )
        .await;
        let lf_lines = lines_with_endings(text_at(&lf, "result"));
        assert_eq!(lf_lines.len(), input.len(), "{name}");
        for ((a, ae), (b, be)) in input.iter().zip(&lf_lines) {
            assert_eq!(a, b, "{name}");
            assert_eq!(ae.is_empty(), be.is_empty(), "{name}");
        }
        // text_stats counts the lines the line operations see.
        let stats = ok(&c, "text_stats", json!({"text": text})).await;
        assert_eq!(stats["lines"], input.len(), "{name}: {stats}");
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn diffs_apply_and_give_b() {
    let c = client().await;
    let texts: Vec<&str> = CORPUS.iter().map(|(_, t)| *t).collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, a) in texts.iter().enumerate() {
        let b = texts[(i + 1) % texts.len()];
        pairs.push(((*a).to_owned(), b.to_owned()));
        // Small edits: one changed line, a line added, the last break gone.
        pairs.push(((*a).to_owned(), a.replacen('a', "A", 1)));
        pairs.push(((*a).to_owned(), format!("{a}\nadded\r")));
        pairs.push(((*a).to_owned(), a.trim_end_matches(['\n', '\r']).to_owned()));
    }
    for (a, b) in &pairs {
        for context in [0, 3] {
            let r = ok(
                &c,
                "diff",
                json!({"a": a, "b": b, "context": context, "max_length": 1_000_000}),
            )
            .await;
            let diff = text_at(&r, "unified");
            assert_eq!(apply_unified(a, diff), *b, "a {a:?} b {b:?}\n{diff}");
            assert_eq!(r["identical"], a == b);
        }
        // replace's dryRun diff applies too.
        let r = ok(
            &c,
            "replace",
            json!({"text": a, "pattern": "a", "replacement": "A", "dryRun": true, "max_length": 1_000_000}),
        )
        .await;
        let diff = text_at(&r, "diff");
        assert_eq!(apply_unified(a, diff), a.replace('a', "A"), "{a:?}\n{diff}");
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn chunks_cover_the_input_in_order() {
    let c = client().await;
    for &(name, text) in CORPUS {
        for (max_chars, overlap) in [(5, 0), (5, 2), (12, 3), (40, 0)] {
            let r = ok(
                &c,
                "chunk",
                json!({"text": text, "max_chars": max_chars, "overlap": overlap, "limit": 10000}),
            )
            .await;
            let chunks = r["chunks"].as_array().unwrap();
            let mut covered = vec![false; text.len()];
            let (mut last_start, mut last_end) = (0usize, 0usize);
            for (i, ch) in chunks.iter().enumerate() {
                let (s, e) = (
                    ch["start"].as_u64().unwrap() as usize,
                    ch["end"].as_u64().unwrap() as usize,
                );
                assert_eq!(
                    &text[s..e],
                    ch["text"],
                    "{name} {max_chars}/{overlap}: {ch}"
                );
                if i > 0 {
                    assert!(s > last_start, "{name}: chunk {i} starts before the last");
                    assert!(e > last_end, "{name}: chunk {i} lies inside the last");
                }
                if overlap == 0 {
                    assert!(s >= last_end, "{name}: chunks overlap without overlap");
                }
                covered[s..e].iter_mut().for_each(|c| *c = true);
                (last_start, last_end) = (s, e);
            }
            for (i, ch) in text.char_indices() {
                if !ch.is_whitespace() {
                    assert!(
                        covered[i],
                        "{name} {max_chars}/{overlap}: {ch:?} at {i} in no chunk"
                    );
                }
            }
        }
    }
    c.cancel().await.unwrap();
}
