//! mcp-filesystem's extensions to walking and copying, end to end on the
//! real binary: `maxDepth`, `respectGitignore` and `includeHidden` on
//! directory_tree, search_files and list_directory, and `copy_file`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use mcp_servers_tests::{Client, RawStdio, TempRoot, err_text, ok_text};
use serde_json::{Value, json};

fn bin() -> &'static Path {
    mcp_servers_tests::cached_bin("mcp-filesystem", "mcp-filesystem")
}

async fn tree(client: &Client, arguments: Value) -> Value {
    serde_json::from_str(&ok_text(client, "directory_tree", arguments).await).unwrap()
}

async fn search(client: &Client, arguments: Value) -> String {
    ok_text(client, "search_files", arguments).await
}

async fn list(client: &Client, arguments: Value) -> String {
    ok_text(client, "list_directory", arguments).await
}

async fn copy_ok(client: &Client, arguments: Value) -> String {
    ok_text(client, "copy_file", arguments).await
}

async fn copy_err(client: &Client, arguments: Value) -> String {
    err_text(client, "copy_file", arguments).await
}

/// `a/b/c/d/deep.txt`, with a file on every level.
fn levels(fx: &TempRoot) {
    fx.write("top.txt", "t");
    fx.write("a/one.txt", "1");
    fx.write("a/b/two.txt", "2");
    fx.write("a/b/c/three.txt", "3");
    fx.write("a/b/c/d/deep.txt", "4");
}

/// Names and kinds of a tree, one line per entry, indented by level; a
/// directory whose content was not listed is marked `(not listed)`.
fn outline(entries: &Value, level: usize, out: &mut Vec<String>) {
    for entry in entries.as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let kind = entry["type"].as_str().unwrap();
        let mark = match (kind, entry.get("children")) {
            ("directory", None) => " (not listed)",
            ("file", Some(_)) => panic!("a file with children: {entry}"),
            _ => "",
        };
        out.push(format!("{}{name}/{kind}{mark}", "  ".repeat(level)));
        if let Some(children) = entry.get("children") {
            outline(children, level + 1, out);
        }
    }
}

fn outlined(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    outline(tree, 0, &mut out);
    out
}

#[tokio::test]
async fn directory_tree_max_depth_three_lists_three_levels() {
    let fx = TempRoot::new(bin());
    levels(&fx);
    let client = fx.client(&[]).await;
    let three = tree(&client, json!({"path": fx.p(""), "maxDepth": 3})).await;
    assert_eq!(
        outlined(&three),
        [
            "a/directory",
            "  b/directory",
            "    c/directory (not listed)",
            "    two.txt/file",
            "  one.txt/file",
            "top.txt/file",
        ]
    );
    // Deep enough for the whole tree: exactly the tree without maxDepth.
    let all = ok_text(&client, "directory_tree", json!({"path": fx.p("")})).await;
    let deep = ok_text(
        &client,
        "directory_tree",
        json!({"path": fx.p(""), "maxDepth": 10}),
    )
    .await;
    assert_eq!(deep, all);
    assert!(all.contains("deep.txt"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn directory_tree_max_depth_one_lists_only_the_top_and_is_bounded() {
    let fx = TempRoot::new(bin());
    levels(&fx);
    fs::create_dir(fx.root.join("empty")).unwrap();
    let client = fx.client(&[]).await;
    let text = ok_text(
        &client,
        "directory_tree",
        json!({"path": fx.p(""), "maxDepth": 1}),
    )
    .await;
    assert_eq!(
        text,
        "[\n  {\n    \"name\": \"a\",\n    \"type\": \"directory\"\n  },\n  {\n    \"name\": \"empty\",\n    \"type\": \"directory\"\n  },\n  {\n    \"name\": \"top.txt\",\n    \"type\": \"file\"\n  }\n]"
    );
    // Without maxDepth an empty directory keeps its empty children array.
    let all = tree(&client, json!({"path": fx.p("")})).await;
    assert_eq!(all[1]["children"], json!([]));

    let tools = client.list_all_tools().await.unwrap();
    let schema = &tools
        .iter()
        .find(|t| t.name == "directory_tree")
        .unwrap()
        .input_schema["properties"]["maxDepth"];
    assert_eq!(schema["minimum"], 1, "{schema}");
    assert_eq!(schema["maximum"], 10_000, "{schema}");
    for bad in [0u64, 10_001, 1 << 40] {
        let e = err_text(
            &client,
            "directory_tree",
            json!({"path": fx.p(""), "maxDepth": bad}),
        )
        .await;
        assert!(e.contains("`maxDepth`") && e.contains("1 to 10000"), "{e}");
    }
    client.cancel().await.unwrap();
}

/// A git-like project: `build/` and `*.log` ignored.
fn project(fx: &TempRoot) {
    fx.write(".gitignore", "build/\n*.log\n");
    fx.write("src/main.rs", "fn main() {}\n");
    fx.write("src/trace.log", "log\n");
    fx.write("build/out/app.md", "binary\n");
    fx.write("notes.md", "notes\n");
    fs::create_dir_all(fx.root.join(".git/refs")).unwrap();
    fx.write(".git/HEAD", "ref: refs/heads/main\n");
}

#[tokio::test]
async fn gitignored_folders_are_left_out_only_on_request() {
    let fx = TempRoot::new(bin());
    project(&fx);
    let client = fx.client(&[]).await;

    let all = outlined(&tree(&client, json!({"path": fx.p("")})).await);
    let explicit = outlined(
        &tree(
            &client,
            json!({"path": fx.p(""), "respectGitignore": false}),
        )
        .await,
    );
    assert_eq!(all, explicit, "false is the default");
    for name in ["build/directory", "  trace.log/file", ".git/directory"] {
        assert!(
            all.iter().any(|l| l.trim_start() == name.trim_start()),
            "{name}: {all:?}"
        );
    }
    let kept = outlined(&tree(&client, json!({"path": fx.p(""), "respectGitignore": true})).await);
    assert_eq!(
        kept,
        [
            ".gitignore/file",
            "notes.md/file",
            "src/directory",
            "  main.rs/file"
        ]
    );

    let found = search(&client, json!({"path": fx.p(""), "pattern": "**/*.md"})).await;
    assert_eq!(
        found,
        [fx.p("build/out/app.md"), fx.p("notes.md")].join("\n")
    );
    let found = search(
        &client,
        json!({"path": fx.p(""), "pattern": "**/*.md", "respectGitignore": true}),
    )
    .await;
    assert_eq!(found, fx.p("notes.md"));

    let listed = list(&client, json!({"path": fx.p("")})).await;
    assert_eq!(
        listed,
        "[DIR] .git\n[FILE] .gitignore\n[DIR] build\n[FILE] notes.md\n[DIR] src"
    );
    let listed = list(&client, json!({"path": fx.p(""), "respectGitignore": true})).await;
    assert_eq!(listed, "[FILE] .gitignore\n[FILE] notes.md\n[DIR] src");
    // The rules of parent directories apply to a subdirectory's listing.
    let listed = list(
        &client,
        json!({"path": fx.p("src"), "respectGitignore": true}),
    )
    .await;
    assert_eq!(listed, "[FILE] main.rs");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn hidden_entries_are_listed_unless_include_hidden_is_false() {
    let fx = TempRoot::new(bin());
    fx.write(".env", "SECRET=1\n");
    fx.write(".config/tool.md", "x\n");
    fx.write("visible/.hidden.md", "x\n");
    fx.write("visible/shown.md", "x\n");
    let client = fx.client(&[]).await;

    let all = outlined(&tree(&client, json!({"path": fx.p("")})).await);
    let with = outlined(&tree(&client, json!({"path": fx.p(""), "includeHidden": true})).await);
    assert_eq!(all, with, "true is the default");
    assert_eq!(all.len(), 6, "{all:?}");
    let without = outlined(&tree(&client, json!({"path": fx.p(""), "includeHidden": false})).await);
    assert_eq!(without, ["visible/directory", "  shown.md/file"]);

    let found = search(&client, json!({"path": fx.p(""), "pattern": "**/*.md"})).await;
    assert_eq!(
        found,
        [
            fx.p(".config/tool.md"),
            fx.p("visible/.hidden.md"),
            fx.p("visible/shown.md")
        ]
        .join("\n")
    );
    let found = search(
        &client,
        json!({"path": fx.p(""), "pattern": "**/*.md", "includeHidden": false}),
    )
    .await;
    assert_eq!(found, fx.p("visible/shown.md"));

    let listed = list(&client, json!({"path": fx.p("")})).await;
    assert_eq!(listed, "[DIR] .config\n[FILE] .env\n[DIR] visible");
    let listed = list(&client, json!({"path": fx.p(""), "includeHidden": false})).await;
    assert_eq!(listed, "[DIR] visible");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn copy_file_copies_refuses_to_clobber_and_overwrites_on_request() {
    let fx = TempRoot::new(bin());
    fx.write("a.txt", "alpha");
    fx.write("b.txt", "bravo");
    let client = fx.client(&[]).await;

    let tools = client.list_all_tools().await.unwrap();
    let copy = tools.iter().find(|t| t.name == "copy_file").unwrap();
    let a = copy.annotations.clone().unwrap();
    assert_eq!(
        (a.read_only_hint, a.destructive_hint, a.open_world_hint),
        (Some(false), Some(true), Some(false))
    );
    let props = copy.input_schema["properties"].as_object().unwrap();
    for name in ["source", "destination", "overwrite"] {
        assert!(props.contains_key(name), "{name}");
    }

    let done = copy_ok(
        &client,
        json!({"source": fx.p("a.txt"), "destination": fx.p("copy.txt")}),
    )
    .await;
    assert_eq!(
        done,
        format!(
            "Successfully copied {} to {}: 1 file (5 B), 0 directories, 0 symbolic links, 0 skipped",
            fx.p("a.txt"),
            fx.p("copy.txt")
        )
    );
    assert_eq!(
        fs::read_to_string(fx.root.join("copy.txt")).unwrap(),
        "alpha"
    );
    // Relative paths, like every tool's.
    copy_ok(
        &client,
        json!({"source": "a.txt", "destination": "rel.txt"}),
    )
    .await;
    assert_eq!(
        fs::read_to_string(fx.root.join("rel.txt")).unwrap(),
        "alpha"
    );

    let refused = copy_err(
        &client,
        json!({"source": fx.p("a.txt"), "destination": fx.p("b.txt")}),
    )
    .await;
    assert!(
        refused.starts_with(&format!("Destination already exists: {}", fx.p("b.txt"))),
        "{refused}"
    );
    assert_eq!(fs::read_to_string(fx.root.join("b.txt")).unwrap(), "bravo");

    fs::set_permissions(fx.root.join("b.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    copy_ok(
        &client,
        json!({"source": fx.p("a.txt"), "destination": fx.p("b.txt"), "overwrite": true}),
    )
    .await;
    assert_eq!(fs::read_to_string(fx.root.join("b.txt")).unwrap(), "alpha");
    let mode = fs::metadata(fx.root.join("b.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "the replaced file keeps its mode");
    let temp: Vec<_> = fs::read_dir(&fx.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temp.is_empty(), "{temp:?}");
    client.cancel().await.unwrap();
}

/// Every file under `dir` with its content, and every link with its
/// target, sorted: what a copy must reproduce.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(path);
            } else {
                out.push(format!("{rel}: {}", fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn copy_file_copies_links_out_as_links_and_never_reads_through_them() {
    let fx = TempRoot::new(bin());
    let outside = fx.base.join("outside");
    fs::create_dir_all(outside.join("vault")).unwrap();
    fs::write(outside.join("vault/secret.txt"), "secret").unwrap();
    fs::write(outside.join("file.txt"), "outside file").unwrap();
    let before_outside = snapshot(&outside);

    fx.write("proj/src/lib.rs", "pub fn f() {}\n");
    fx.write("proj/README.md", "# proj\n");
    fs::create_dir(fx.root.join("proj/empty")).unwrap();
    symlink(outside.join("vault"), fx.root.join("proj/vault-link")).unwrap();
    symlink(outside.join("file.txt"), fx.root.join("proj/src/file-link")).unwrap();
    symlink(
        "../../../outside/file.txt",
        fx.root.join("proj/src/relative-link"),
    )
    .unwrap();
    symlink(fx.base.join("nowhere"), fx.root.join("proj/dangling")).unwrap();
    symlink("lib.rs", fx.root.join("proj/src/inside-link")).unwrap();
    let client = fx.client(&[]).await;

    let done = copy_ok(
        &client,
        json!({"source": fx.p("proj"), "destination": fx.p("copy")}),
    )
    .await;
    assert!(
        done.ends_with(": 2 files (21 B), 3 directories, 5 symbolic links, 0 skipped"),
        "{done}"
    );
    assert_eq!(
        snapshot(&fx.root.join("copy")),
        snapshot(&fx.root.join("proj"))
    );
    for link in [
        "vault-link",
        "src/file-link",
        "src/relative-link",
        "dangling",
    ] {
        let meta = fs::symlink_metadata(fx.root.join("copy").join(link)).unwrap();
        assert!(meta.is_symlink(), "{link} is copied as a link");
    }
    assert_eq!(
        snapshot(&outside),
        before_outside,
        "nothing outside touched"
    );
    assert!(!fx.base.join("nowhere").exists());

    // Overwriting a copy: the links are replaced by links, still never
    // followed (writing through vault-link would land outside).
    fs::remove_file(fx.root.join("copy/vault-link")).unwrap();
    fs::write(fx.root.join("copy/vault-link"), "a file in the way").unwrap();
    let again = copy_ok(
        &client,
        json!({"source": fx.p("proj"), "destination": fx.p("copy"), "overwrite": true}),
    )
    .await;
    assert!(again.ends_with("5 symbolic links, 0 skipped"), "{again}");
    assert_eq!(
        snapshot(&fx.root.join("copy")),
        snapshot(&fx.root.join("proj"))
    );
    assert_eq!(snapshot(&outside), before_outside);

    // A link named as the source is resolved like every path: one leading
    // outside is refused.
    let e = copy_err(
        &client,
        json!({"source": fx.p("proj/vault-link"), "destination": fx.p("stolen")}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    assert!(!fx.root.join("stolen").exists());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn copy_file_refuses_itself_its_own_subtree_and_outside_destinations() {
    let fx = TempRoot::new(bin());
    fx.write("tree/sub/f.txt", "f");
    fx.write("a.txt", "a");
    let client = fx.client(&[]).await;
    let before = snapshot(&fx.root);

    let e = copy_err(
        &client,
        json!({"source": fx.p("a.txt"), "destination": fx.p("a.txt"), "overwrite": true}),
    )
    .await;
    assert!(e.contains("onto itself"), "{e}");
    let e = copy_err(
        &client,
        json!({"source": fx.p("tree"), "destination": fx.p("tree"), "overwrite": true}),
    )
    .await;
    assert!(e.contains("onto itself"), "{e}");
    let e = copy_err(
        &client,
        json!({"source": fx.p("tree"), "destination": fx.p("tree/sub/inner")}),
    )
    .await;
    assert!(e.contains("into itself"), "{e}");
    let e = copy_err(
        &client,
        json!({"source": fx.p("tree/sub"), "destination": fx.p("tree"), "overwrite": true}),
    )
    .await;
    assert!(e.contains("which contains it"), "{e}");
    assert_eq!(snapshot(&fx.root), before, "nothing written");

    for destination in [
        fx.base.join("stolen.txt"),
        fx.base.join("root-evil"),
        fx.root.join("../stolen.txt"),
    ] {
        let e = copy_err(
            &client,
            json!({"source": fx.p("a.txt"), "destination": destination}),
        )
        .await;
        assert!(e.starts_with("Access denied"), "{e}");
    }
    let e = copy_err(
        &client,
        json!({"source": fx.p("tree"), "destination": fx.base.join("stolen-tree")}),
    )
    .await;
    assert!(e.starts_with("Access denied"), "{e}");
    let e = copy_err(
        &client,
        json!({"source": fx.base.join("root").join("..").join("x"), "destination": fx.p("x")}),
    )
    .await;
    assert!(
        e.starts_with("Access denied") || e.contains("ENOENT"),
        "{e}"
    );
    let names: Vec<String> = fs::read_dir(&fx.base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["root"], "nothing created outside");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_only_hides_copy_file() {
    let fx = TempRoot::new(bin());
    let client = fx.client(&["--read-only"]).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().all(|t| t.name != "copy_file"));
    assert!(tools.iter().any(|t| t.name == "directory_tree"));
    client.cancel().await.unwrap();
}

#[test]
fn copy_file_reports_progress_before_its_summary() {
    let fx = TempRoot::new(bin());
    for i in 0..50 {
        fx.write(&format!("many/d{}/f{i}.txt", i % 5), "x");
    }
    let mut server = RawStdio::spawn(bin(), &[&fx.root.display().to_string()]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "copy_file",
                                 "arguments": {"source": fx.p("many"), "destination": fx.p("copied")},
                                 "_meta": {"progressToken": "copy"}}}))
        .unwrap();
    let (answer, before) = server.recv_response(&json!(7)).unwrap();
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.ends_with(": 50 files (50 B), 6 directories, 0 symbolic links, 0 skipped"),
        "{text}"
    );
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    let last = progress.last().expect("progress notifications");
    assert_eq!(last["params"]["progressToken"], "copy");
    assert_eq!(last["params"]["progress"], last["params"]["total"]);
    assert_eq!(
        snapshot(&fx.root.join("copied")),
        snapshot(&fx.root.join("many"))
    );
}
