//! mcp-filesystem end to end on text that is not plain UTF-8 with `\n`:
//! CRLF and mixed line endings, byte order marks, UTF-16 LE/BE and
//! Windows-1252 files (committed in `tests/fixtures/filesystem_text/`),
//! `lineNumbers`, indentation mapping inside such files, `write_file`'s
//! `encoding`/`lineEndings`, and a hung mount (a FUSE file system that never
//! answers) that must not hold up other calls.

use std::fs;
use std::path::Path;

use mcp_servers_tests::rmcp::model::CallToolResult;
use mcp_servers_tests::rmcp::service::serve_client_with_lifecycle;
use mcp_servers_tests::rmcp::transport::TokioChildProcess;
use mcp_servers_tests::{
    Client, DEADLINE, INDENT_CASES, Lifecycle, TempRoot, call, call_ok as ok, err_text, ok_text,
    text_of,
};
use serde_json::{Value, json};

fn bin() -> &'static Path {
    mcp_servers_tests::cached_bin("mcp-filesystem", "mcp-filesystem")
}

/// A temporary allowed directory holding a copy of every fixture.
fn fixture() -> TempRoot {
    let fx = TempRoot::new(bin());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/filesystem_text");
    for entry in fs::read_dir(fixtures).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_name().to_string_lossy().starts_with('.') {
            fs::copy(entry.path(), fx.root.join(entry.file_name())).unwrap();
        }
    }
    fx
}

async fn read_result(client: &Client, arguments: Value) -> CallToolResult {
    ok(client, "read_text_file", arguments).await
}

async fn read_text(client: &Client, arguments: Value) -> String {
    ok_text(client, "read_text_file", arguments).await
}

/// The second content block's text (read_text_file's note on a decoded file).
fn note_of(result: &CallToolResult) -> Option<String> {
    result
        .content
        .get(1)
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn utf16be(text: &str) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF];
    out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    out
}

/// Latin-1 characters as Windows-1252 bytes (the range both share).
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

const YAML: &str =
    "# Stra\u{df}e \u{2192} caf\u{e9}\r\nconfig:\r\n  name: old\r\n  items:\r\n    - \u{1F600}\r\n";

#[test]
fn fixtures_hold_the_bytes_the_tests_expect() {
    let fx = fixture();
    assert_eq!(fx.bytes("utf16le.yaml"), utf16le(YAML));
    assert_eq!(
        fx.bytes("utf16be.txt"),
        utf16be("line one\nz\u{fc}rich\nline three\n")
    );
    assert_eq!(
        fx.bytes("cp1252.txt"),
        b"Caf\xe9 cr\xe8me: \x805\r\n\x93quoted\x94 na\xefve\r\n"
    );
    assert!(
        fx.bytes("bom-tabs.cs")
            .starts_with(b"\xEF\xBB\xBFclass A {\r\n")
    );
    assert_eq!(
        fx.bytes("crlf-4space.py"),
        crlf("def f(x):\n    if x:\n        return 1\n    return 0\n").as_bytes()
    );
    assert_eq!(fx.bytes("mixed.txt"), b"one\r\ntwo\nthree\r\nfour");
}

#[tokio::test]
async fn edit_file_keeps_line_endings_boms_and_encodings() {
    let fx = fixture();
    let client = fx.client(&[]).await;
    let edit = |name: &str, old: &str, new: &str| json!({"path": fx.p(name), "edits": [{"oldText": old, "newText": new}]});

    // CRLF: LF oldText matches, newText is written with CRLF; the diff
    // shows the lines without their \r, as for an LF file.
    let diff = ok_text(
        &client,
        "edit_file",
        edit(
            "crlf-4space.py",
            "    if x:\n        return 1",
            "    if x:\n        return 1\n    elif y:\n        return 2",
        ),
    )
    .await;
    assert_eq!(
        fx.bytes("crlf-4space.py"),
        crlf(
            "def f(x):\n    if x:\n        return 1\n    elif y:\n        return 2\n    return 0\n"
        )
        .as_bytes()
    );
    assert!(
        diff.contains("+    elif y:\n+        return 2\n") && !diff.contains('\r'),
        "{diff}"
    );

    // A UTF-8 BOM and CRLF kept; a 4-space oldText matched in a tab file.
    ok(
        &client,
        "edit_file",
        edit(
            "bom-tabs.cs",
            "    void F() {\n        G();\n    }",
            "    void F() {\n        G();\n        H();\n    }",
        ),
    )
    .await;
    assert_eq!(
        fx.bytes("bom-tabs.cs"),
        b"\xEF\xBB\xBFclass A {\r\n\tvoid F() {\r\n\t\tG();\r\n\t\tH();\r\n\t}\r\n}\r\n"
    );

    // UTF-16LE with CRLF: stays UTF-16LE with its BOM and CRLF.
    ok(
        &client,
        "edit_file",
        json!({"path": fx.p("utf16le.yaml"), "edits": [
            {"oldText": "name: old", "newText": "name: neu \u{2192} \u{fc}"},
            {"oldText": "    items:\n        - \u{1F600}", "newText": "    items:\n        - \u{1F600}\n        - \u{2713}"},
        ]}),
    )
    .await;
    assert_eq!(
        fx.bytes("utf16le.yaml"),
        utf16le(
            "# Stra\u{df}e \u{2192} caf\u{e9}\r\nconfig:\r\n  name: neu \u{2192} \u{fc}\r\n  items:\r\n    - \u{1F600}\r\n    - \u{2713}\r\n"
        )
    );

    // UTF-16BE with LF.
    ok(
        &client,
        "edit_file",
        edit("utf16be.txt", "z\u{fc}rich", "Z\u{fc}rich\nGen\u{e8}ve"),
    )
    .await;
    assert_eq!(
        fx.bytes("utf16be.txt"),
        utf16be("line one\nZ\u{fc}rich\nGen\u{e8}ve\nline three\n")
    );

    // Windows-1252: every new character it can hold is written in it.
    ok(
        &client,
        "edit_file",
        edit("cp1252.txt", "\u{20AC}5", "\u{20AC}6 (\u{bd} off)"),
    )
    .await;
    assert_eq!(
        fx.bytes("cp1252.txt"),
        b"Caf\xe9 cr\xe8me: \x806 (\xbd off)\r\n\x93quoted\x94 na\xefve\r\n"
    );

    // Mixed endings: untouched lines keep theirs; an added line takes the
    // break of the line it is added to (the last line has none: the one
    // before it).
    ok(
        &client,
        "edit_file",
        json!({"path": fx.p("mixed.txt"), "edits": [
            {"oldText": "two", "newText": "two\n2.5"},
            {"oldText": "four", "newText": "four\nfive"},
        ]}),
    )
    .await;
    assert_eq!(
        fx.bytes("mixed.txt"),
        b"one\r\ntwo\n2.5\nthree\r\nfour\r\nfive"
    );

    // A dry run writes nothing, whatever the encoding.
    let before = fx.bytes("utf16be.txt");
    let diff = ok_text(
        &client,
        "edit_file",
        json!({"path": fx.p("utf16be.txt"), "edits": [{"oldText": "line one", "newText": "line 1"}], "dryRun": true}),
    )
    .await;
    assert!(diff.contains("-line one\n+line 1\n"), "{diff}");
    assert_eq!(fx.bytes("utf16be.txt"), before);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn edit_file_refuses_what_it_cannot_write_back_as_it_was() {
    let fx = fixture();
    fs::write(
        fx.root.join("binary.bin"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff",
    )
    .unwrap();
    fs::write(fx.root.join("odd16.txt"), b"\xFF\xFEa\0b\0c").unwrap();
    let client = fx.client(&[]).await;
    let before = fx.bytes("cp1252.txt");
    for dry_run in [false, true] {
        let e = err_text(
            &client,
            "edit_file",
            json!({"path": fx.p("cp1252.txt"), "edits": [{"oldText": "\u{20AC}5", "newText": "\u{2192} 5"}], "dryRun": dry_run}),
        )
        .await;
        assert!(
            e.contains("Windows-1252") && e.contains("U+2192") && e.contains("nothing was written"),
            "{e}"
        );
        assert_eq!(fx.bytes("cp1252.txt"), before);
    }
    let e = err_text(
        &client,
        "edit_file",
        json!({"path": fx.p("binary.bin"), "edits": [{"oldText": "PNG", "newText": "GIF"}]}),
    )
    .await;
    assert!(
        e.contains("NUL bytes") && e.contains("left the file alone"),
        "{e}"
    );
    assert!(fx.bytes("binary.bin").starts_with(b"\x89PNG"));
    let e = err_text(
        &client,
        "edit_file",
        json!({"path": fx.p("odd16.txt"), "edits": [{"oldText": "a", "newText": "x"}]}),
    )
    .await;
    assert!(e.contains("not valid UTF-16LE"), "{e}");
    assert_eq!(fx.bytes("odd16.txt"), b"\xFF\xFEa\0b\0c");
    client.cancel().await.unwrap();
}

/// Indentation mapping (tabs, 2 and 4 spaces, tab-and-space alignment)
/// inside CRLF, UTF-16 and Windows-1252 files: the file's indentation,
/// line endings and encoding all survive an edit written with LF and other
/// indentation.
#[tokio::test]
async fn edit_file_maps_indentation_in_crlf_utf16_and_windows_1252_files() {
    let fx = fixture();
    let client = fx.client(&[]).await;
    // All but the 4-space file with a tab edit and the file with two
    // indentation styles.
    let cases = [0, 1, 2, 4].map(|i| INDENT_CASES[i]);
    type Encode = fn(&str) -> Vec<u8>;
    let variants: [(&str, Encode); 4] = [
        ("utf-8 crlf", |t| crlf(t).into_bytes()),
        ("utf-16le crlf", |t| utf16le(&crlf(t))),
        ("utf-16be lf", utf16be),
        ("windows-1252 crlf", |t| {
            latin1(&crlf(&format!("# caf\u{e9}\n{t}")))
        }),
    ];
    for (variant, encode) in variants {
        for (index, (file, old, new, expected)) in cases.iter().enumerate() {
            let name = format!("indent-{index}.txt");
            fs::write(fx.root.join(&name), encode(file)).unwrap();
            ok(
                &client,
                "edit_file",
                json!({"path": fx.p(&name), "edits": [{"oldText": old, "newText": new}]}),
            )
            .await;
            assert_eq!(
                fx.bytes(&name),
                encode(expected),
                "{variant}: oldText {old:?}, newText {new:?}"
            );
        }
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_text_file_decodes_utf16_and_windows_1252_with_a_note() {
    let fx = fixture();
    let client = fx.client(&[]).await;
    let read = |name: &str| json!({"path": fx.p(name)});
    for (name, text, encoding) in [
        ("utf16le.yaml", YAML, "UTF-16LE"),
        (
            "utf16be.txt",
            "line one\nz\u{fc}rich\nline three\n",
            "UTF-16BE",
        ),
        (
            "cp1252.txt",
            "Caf\u{e9} cr\u{e8}me: \u{20AC}5\r\n\u{201C}quoted\u{201D} na\u{ef}ve\r\n",
            "Windows-1252",
        ),
    ] {
        let result = read_result(&client, read(name)).await;
        // The file's text alone in the first block and the structured
        // content; the note in a second block.
        assert_eq!(text_of(&result), text, "{name}");
        assert_eq!(result.structured_content, Some(json!({"content": text})));
        assert_eq!(result.content.len(), 2, "{name}");
        let note = note_of(&result).unwrap();
        assert!(
            note.starts_with(&format!("[decoded from {encoding} (")) && note.contains("edit_file"),
            "{note}"
        );
    }
    // UTF-8 files: the official output, one block, a BOM included.
    for (name, text) in [
        (
            "crlf-4space.py",
            "def f(x):\r\n    if x:\r\n        return 1\r\n    return 0\r\n",
        ),
        (
            "bom-tabs.cs",
            "\u{feff}class A {\r\n\tvoid F() {\r\n\t\tG();\r\n\t}\r\n}\r\n",
        ),
    ] {
        let result = read_result(&client, read(name)).await;
        assert_eq!(text_of(&result), text);
        assert_eq!(result.content.len(), 1, "{name}");
    }
    // head, tail and offset/limit decode too.
    let head = read_result(&client, json!({"path": fx.p("cp1252.txt"), "head": 1})).await;
    assert_eq!(text_of(&head), "Caf\u{e9} cr\u{e8}me: \u{20AC}5");
    assert!(note_of(&head).unwrap().contains("Windows-1252"));
    let tail = read_result(&client, json!({"path": fx.p("utf16be.txt"), "tail": 2})).await;
    assert_eq!(text_of(&tail), "z\u{fc}rich\nline three");
    let range = read_result(
        &client,
        json!({"path": fx.p("utf16le.yaml"), "offset": 1, "limit": 2}),
    )
    .await;
    assert_eq!(
        text_of(&range),
        "config:\n  name: old\n\n[lines 2-3 shown; the file continues: call again with offset=3]"
    );
    // Binary files: as the official server (U+FFFD), no note.
    fs::write(fx.root.join("binary.bin"), b"\x89PNG\0\xff").unwrap();
    let binary = read_result(&client, read("binary.bin")).await;
    assert_eq!(text_of(&binary), "\u{fffd}PNG\0\u{fffd}");
    assert_eq!(binary.content.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_text_file_line_numbers_with_head_tail_and_ranges() {
    let fx = fixture();
    let ten: String = (1..=10).map(|i| format!("l{i}\n")).collect();
    fs::write(fx.root.join("ten.txt"), &ten).unwrap();
    let client = fx.client(&[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let read_tool = tools.iter().find(|t| t.name == "read_text_file").unwrap();
    assert_eq!(
        read_tool.input_schema["properties"]["lineNumbers"]["type"],
        "boolean"
    );
    let read = |extra: Value| {
        let mut args = json!({"path": fx.p("ten.txt")});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };
    let numbered = |range: std::ops::RangeInclusive<usize>| {
        range
            .map(|i| format!("{i:>6}\tl{i}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // tail 3 of 10 lines: the real numbers 8, 9, 10.
    assert_eq!(
        read_text(&client, read(json!({"tail": 3, "lineNumbers": true}))).await,
        numbered(8..=10)
    );
    assert_eq!(
        read_text(&client, read(json!({"head": 2, "lineNumbers": true}))).await,
        numbered(1..=2)
    );
    assert_eq!(
        read_text(
            &client,
            read(json!({"offset": 4, "limit": 2, "lineNumbers": true}))
        )
        .await,
        format!(
            "{}\n\n[lines 5-6 shown; the file continues: call again with offset=6]",
            numbered(5..=6)
        )
    );
    assert_eq!(
        read_text(&client, read(json!({"offset": 8, "lineNumbers": true}))).await,
        numbered(9..=10)
    );
    // The whole file: every line numbered, its final newline kept.
    assert_eq!(
        read_text(&client, read(json!({"lineNumbers": true}))).await,
        numbered(1..=10) + "\n"
    );
    // tail past the start, and lineNumbers false: as without it.
    assert_eq!(
        read_text(&client, read(json!({"tail": 30, "lineNumbers": true}))).await,
        numbered(1..=10)
    );
    assert_eq!(
        read_text(&client, read(json!({"tail": 2, "lineNumbers": false}))).await,
        "l9\nl10"
    );
    // A CRLF file whole keeps its \r\n; a window drops them, as without numbers.
    assert_eq!(
        read_text(
            &client,
            json!({"path": fx.p("mixed.txt"), "lineNumbers": true})
        )
        .await,
        "     1\tone\r\n     2\ttwo\n     3\tthree\r\n     4\tfour"
    );
    assert_eq!(
        read_text(
            &client,
            json!({"path": fx.p("mixed.txt"), "tail": 2, "lineNumbers": true})
        )
        .await,
        "     3\tthree\n     4\tfour"
    );
    // A decoded file: numbered the same way, the note still separate.
    let tail = read_result(
        &client,
        json!({"path": fx.p("utf16le.yaml"), "tail": 2, "lineNumbers": true}),
    )
    .await;
    assert_eq!(text_of(&tail), "     4\t  items:\n     5\t    - \u{1F600}");
    assert!(note_of(&tail).unwrap().contains("UTF-16LE"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn write_file_encoding_and_line_endings_are_optional() {
    let fx = fixture();
    let client = fx.client(&[]).await;
    // Optional enums, inlined (no `$ref` for clients to follow).
    let tools = client.list_all_tools().await.unwrap();
    let schema = &tools
        .iter()
        .find(|t| t.name == "write_file")
        .unwrap()
        .input_schema;
    assert!(!schema.contains_key("$defs"), "{schema:?}");
    assert_eq!(
        schema["properties"]["lineEndings"]["enum"],
        json!(["lf", "crlf", "keep", null])
    );
    assert_eq!(schema["required"], json!(["path", "content"]));
    // Default: the content as UTF-8, as is, and the official message.
    let path = fx.p("plain.txt");
    assert_eq!(
        ok_text(
            &client,
            "write_file",
            json!({"path": path, "content": "a\r\nb\n"})
        )
        .await,
        format!("Successfully wrote to {path}")
    );
    assert_eq!(fx.bytes("plain.txt"), b"a\r\nb\n");
    let message = ok_text(
        &client,
        "write_file",
        json!({"path": fx.p("new16.txt"), "content": "a\nb\u{2192}\n", "encoding": "utf-16le", "lineEndings": "crlf"}),
    )
    .await;
    assert!(
        message.ends_with("as UTF-16LE with CRLF line endings"),
        "{message}"
    );
    assert_eq!(fx.bytes("new16.txt"), utf16le("a\r\nb\u{2192}\r\n"));
    // "keep": the existing file's encoding and (uniform) line endings.
    ok(
        &client,
        "write_file",
        json!({"path": fx.p("utf16le.yaml"), "content": "x: 1\ny: \u{e9}\n", "encoding": "keep", "lineEndings": "keep"}),
    )
    .await;
    assert_eq!(fx.bytes("utf16le.yaml"), utf16le("x: 1\r\ny: \u{e9}\r\n"));
    ok(
        &client,
        "write_file",
        json!({"path": fx.p("cp1252.txt"), "content": "\u{e9}t\u{e9}\n", "encoding": "keep", "lineEndings": "lf"}),
    )
    .await;
    assert_eq!(fx.bytes("cp1252.txt"), b"\xe9t\xe9\n");
    // Mixed endings: "keep" leaves the content's as they are.
    ok(
        &client,
        "write_file",
        json!({"path": fx.p("mixed.txt"), "content": "a\nb\r\n", "lineEndings": "keep"}),
    )
    .await;
    assert_eq!(fx.bytes("mixed.txt"), b"a\nb\r\n");
    // A character the encoding cannot hold: refused, nothing written.
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("never.txt"), "content": "ok \u{2192}", "encoding": "windows-1252"}),
    )
    .await;
    assert!(
        e.contains("Windows-1252 cannot hold U+2192") && e.contains("nothing was written"),
        "{e}"
    );
    assert!(!fx.root.join("never.txt").exists());
    let e = err_text(
        &client,
        "write_file",
        json!({"path": fx.p("never.txt"), "content": "x", "encoding": "ebcdic"}),
    )
    .await;
    assert!(e.contains("ebcdic") || e.contains("encoding"), "{e}");
    client.cancel().await.unwrap();
}

/// How this machine can mount a FUSE file system in a private mount
/// namespace (as root, or as a user mapped to root): `unshare`'s flags, or
/// `None` if it cannot.
fn fuse_unshare_flags(dir: &Path) -> Option<&'static [&'static str]> {
    if !Path::new("/dev/fuse").exists() {
        return None;
    }
    let probe = dir.join("probe");
    fs::create_dir_all(&probe).unwrap();
    let variants: [&'static [&'static str]; 2] = [
        &["--mount", "--propagation", "private"],
        &[
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ],
    ];
    variants.into_iter().find(|flags| {
        std::process::Command::new("unshare")
            .args(*flags)
            .args(["sh", "-c", MOUNT_HUNG, "sh"])
            .arg(&probe)
            .arg("true")
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Mounts at `$1/hung` (or `$1` for the probe) a FUSE file system whose
/// server never answers (its /dev/fuse descriptor is only held open), then
/// runs the rest of the arguments: every lookup under it blocks until the
/// process exits.
const MOUNT_HUNG: &str = r#"dir=$1; shift; [ -d "$dir/hung" ] && dir=$dir/hung
exec 3<>/dev/fuse && mount -i -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 mcp-hung "$dir" && exec "$@""#;

/// A stat or read that never returns (a hung network or FUSE mount) holds up
/// neither other calls nor the protocol loop, and the call is answered by its
/// deadline with an error naming the path. Before, the whole server stopped
/// answering, and the deadline never fired.
#[tokio::test]
async fn a_hung_mount_holds_up_no_other_call_and_times_out_naming_the_path() {
    let fx = fixture();
    fs::create_dir(fx.root.join("hung")).unwrap();
    let fifo = fx.root.join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let Some(flags) = fuse_unshare_flags(fx.temp_path()) else {
        // No FUSE here: what can still be checked is that a FIFO, which
        // would block a plain open, is refused at once.
        eprintln!("no FUSE mount possible here: checking only the FIFO refusal");
        let client = fx.client(&[]).await;
        let e = err_text(&client, "read_text_file", json!({"path": fifo})).await;
        assert!(e.contains("FIFO"), "{e}");
        client.cancel().await.unwrap();
        return;
    };
    let root = fx.root.display().to_string();
    let server = bin().display().to_string();
    let mut argv: Vec<&str> = flags.to_vec();
    argv.extend(["sh", "-c", MOUNT_HUNG, "sh", &root, &server]);
    argv.extend(["--max-call-seconds", "6", &root]);
    let mut command = tokio::process::Command::new("unshare");
    command.args(&argv);
    let transport = TokioChildProcess::new(command).unwrap();
    // If an assertion fails, the server may still be waiting on the mount;
    // rmcp's kill on drop needs a runtime that a failing test has left.
    let mut guard = KillOnPanic(transport.id());
    let client: Client = serve_client_with_lifecycle((), transport, Lifecycle::Initialize.mode())
        .await
        .unwrap();

    let hung_path = fx.p("hung/file.txt");
    {
        let hung = call(&client, "read_text_file", json!({"path": hung_path}));
        let others = async {
            // Answered while the hung read is still waiting: reads, an edit,
            // a FIFO (refused, not blocking), a write into the hung mount
            // (which waits too, and is answered by its deadline).
            let text = read_text(&client, json!({"path": fx.p("mixed.txt")})).await;
            assert_eq!(text, "one\r\ntwo\nthree\r\nfour");
            ok(
                &client,
                "edit_file",
                json!({"path": fx.p("mixed.txt"), "edits": [{"oldText": "four", "newText": "4"}]}),
            )
            .await;
            let e = err_text(&client, "read_text_file", json!({"path": fifo})).await;
            assert!(e.contains("FIFO"), "{e}");
        };
        tokio::pin!(hung);
        let first = async {
            tokio::select! {
                biased;
                result = &mut hung => panic!("the hung read answered first: {}", text_of(&result)),
                () = others => {}
            }
        };
        tokio::time::timeout(DEADLINE, first)
            .await
            .expect("other calls are answered while a read waits on a hung mount");
        let write = call(
            &client,
            "write_file",
            json!({"path": fx.p("hung/new.txt"), "content": "x"}),
        );
        let (hung, write) = tokio::time::timeout(DEADLINE, async { tokio::join!(hung, write) })
            .await
            .expect("the hung calls are answered by their deadline");
        for (result, path) in [(hung, hung_path), (write, fx.p("hung/new.txt"))] {
            assert_eq!(result.is_error, Some(true));
            let e = text_of(&result);
            assert!(
                e.starts_with(&format!("{path}: no answer from the file system"))
                    && e.contains("--max-call-seconds"),
                "{e}"
            );
        }
    }
    // Still serving afterwards.
    assert_eq!(
        read_text(&client, json!({"path": fx.p("mixed.txt")})).await,
        "one\r\ntwo\nthree\r\n4"
    );
    client.cancel().await.unwrap();
    guard.0 = None;
}

/// Kills the server (SIGKILL, which also ends a wait on a FUSE mount) when
/// dropped while still armed.
struct KillOnPanic(Option<u32>);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}
