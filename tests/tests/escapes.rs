//! Path escapes, end to end, against every server that takes user paths
//! (mcp-filesystem, mcp-image, mcp-text):
//!
//! - a table of escape classes ([`cases`]) crossed with a table of every
//!   path-taking tool argument ([`tools`]); each cell runs on a fresh
//!   fixture and checks the answer, that no outside secret leaks into it,
//!   and that everything outside the allowed directory is byte for byte
//!   unchanged;
//! - races: a thread flips a symlink between an inside and an outside target
//!   as fast as it can while the client reads (and writes) through it.
//!
//! Nothing here sleeps: the flipper runs until an atomic stop flag is set.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::FutureExt;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use mcp_servers_tests::rmcp::model::CallToolResult;
use mcp_servers_tests::{Client, DEADLINE, Lifecycle, RawStdio, call, stdio_client};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The marker of every file outside the allowed directory: it must never
/// appear in an answer.
const SECRET: &str = "TOP-SECRET-7d1f3c";
/// Content of the outside secret files.
const SECRET_FILE: &str = "TOP-SECRET-7d1f3c: the launch codes are 0000\n";
/// Content of the outside file that a hard link inside shares.
const HARD_FILE: &str = "HARD-LINKED-8e2b: the launch codes are 1111\n";
const HARD: &str = "HARD-LINKED-8e2b";
/// What edits, searches and replacements look for: in both files above, but
/// never the secret marker itself, so an echoed argument is not a leak.
const PATTERN: &str = "launch codes";
/// One call may take this long before the cell counts as a hang.
const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// Rounds of each race.
const ROUNDS: usize = 1000;

// ---------------------------------------------------------------- servers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Filesystem,
    Image,
    Text,
}

impl Server {
    const ALL: [Server; 3] = [Server::Filesystem, Server::Image, Server::Text];

    fn name(self) -> &'static str {
        match self {
            Self::Filesystem => "mcp-filesystem",
            Self::Image => "mcp-image",
            Self::Text => "mcp-text",
        }
    }

    fn bin(self) -> &'static Path {
        static FILESYSTEM: OnceLock<PathBuf> = OnceLock::new();
        static IMAGE: OnceLock<PathBuf> = OnceLock::new();
        static TEXT: OnceLock<PathBuf> = OnceLock::new();
        let cell = match self {
            Self::Filesystem => &FILESYSTEM,
            Self::Image => &IMAGE,
            Self::Text => &TEXT,
        };
        cell.get_or_init(|| mcp_servers_tests::workspace_bin(self.name(), self.name()))
    }

    async fn client(self, root: &Path) -> Client {
        let root = root.display().to_string();
        stdio_client(self.bin(), &[&root], Lifecycle::Initialize)
            .await
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name()))
    }
}

// ---------------------------------------------------------------- fixture

/// `base/allowed` is the allowed directory; `base/outside` and
/// `base/allowed-evil` (a prefix sibling) hold the secrets. Rebuilt from
/// scratch before every cell:
///
/// ```text
/// allowed/inside.txt, in.png, sub/
/// allowed/link-file -> outside/secret.txt     allowed/link-png -> outside/secret.png
/// allowed/dir-out -> outside
/// allowed/loop-a -> loop-b, allowed/loop-b -> loop-a
/// allowed/dangling -> outside/created-through-dangling.txt      (never exists)
/// allowed/dangling-deep -> outside/newdir/created.txt           (never exists)
/// allowed/hard.txt, hard.png: hard links of outside/hard.txt, hard.png
/// allowed/nonutf8/caf\xe9.txt, allowed/nonutf8/d\xff\xfe/f.txt
/// outside/, allowed-evil/: secret.txt, secret.png, sub/secret.txt
/// ```
struct Fx {
    _dir: TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    evil: PathBuf,
    png: Vec<u8>,
}

/// A small PNG (any decodable image will do).
fn png_bytes() -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(4, 4, |x, y| {
        Rgb([(x * 60) as u8, (y * 60) as u8, 90])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn remove_any(path: &Path) {
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        fs::remove_dir_all(path).unwrap();
    } else {
        fs::remove_file(path).unwrap();
    }
}

impl Fx {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let fx = Self {
            root: base.join("allowed"),
            outside: base.join("outside"),
            evil: base.join("allowed-evil"),
            base,
            _dir: dir,
            png: png_bytes(),
        };
        fs::create_dir(&fx.root).unwrap();
        fx.reset();
        fx
    }

    /// Everything back to the layout above; the allowed directory itself
    /// stays (the server holds its path), its content is rebuilt.
    fn reset(&self) {
        for entry in fs::read_dir(&self.base).unwrap() {
            let path = entry.unwrap().path();
            if path != self.root {
                remove_any(&path);
            }
        }
        for entry in fs::read_dir(&self.root).unwrap() {
            remove_any(&entry.unwrap().path());
        }
        for dir in [&self.outside, &self.evil] {
            fs::create_dir_all(dir.join("sub")).unwrap();
            fs::write(dir.join("secret.txt"), SECRET_FILE).unwrap();
            fs::write(dir.join("secret.png"), &self.png).unwrap();
            fs::write(dir.join("sub/secret.txt"), SECRET_FILE).unwrap();
        }
        fs::write(self.outside.join("hard.txt"), HARD_FILE).unwrap();
        fs::write(self.outside.join("hard.png"), &self.png).unwrap();

        let root = &self.root;
        fs::write(root.join("inside.txt"), "inside\n").unwrap();
        fs::write(root.join("in.png"), &self.png).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        symlink(self.outside.join("secret.txt"), root.join("link-file")).unwrap();
        symlink(self.outside.join("secret.png"), root.join("link-png")).unwrap();
        symlink(&self.outside, root.join("dir-out")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
        symlink(
            self.outside.join("created-through-dangling.txt"),
            root.join("dangling"),
        )
        .unwrap();
        symlink(
            self.outside.join("newdir/created.txt"),
            root.join("dangling-deep"),
        )
        .unwrap();
        fs::hard_link(self.outside.join("hard.txt"), root.join("hard.txt")).unwrap();
        fs::hard_link(self.outside.join("hard.png"), root.join("hard.png")).unwrap();
        let nonutf8 = root.join("nonutf8");
        fs::create_dir(&nonutf8).unwrap();
        fs::write(nonutf8.join(OsStr::from_bytes(b"caf\xe9.txt")), "latin-1\n").unwrap();
        let odd_dir = nonutf8.join(OsStr::from_bytes(b"d\xff\xfe"));
        fs::create_dir(&odd_dir).unwrap();
        fs::write(odd_dir.join("f.txt"), "x\n").unwrap();
    }

    /// A path under the allowed directory, as a user would type it.
    fn r(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root.display())
    }

    fn root_s(&self) -> String {
        self.root.display().to_string()
    }

    /// Names and contents of everything outside the allowed directory.
    fn outside_snapshot(&self) -> BTreeMap<PathBuf, Node> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.base.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path == self.root {
                    continue;
                }
                let meta = fs::symlink_metadata(&path).unwrap();
                let node = if meta.is_symlink() {
                    Node::Link(fs::read_link(&path).unwrap())
                } else if meta.is_dir() {
                    stack.push(path.clone());
                    Node::Dir
                } else {
                    Node::File(fs::read(&path).unwrap())
                };
                out.insert(path.strip_prefix(&self.base).unwrap().to_path_buf(), node);
            }
        }
        out
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

fn snapshot_diff(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) -> String {
    let mut diffs = Vec::new();
    for (path, node) in after {
        match before.get(path) {
            None => diffs.push(format!("{} appeared", path.display())),
            Some(old) if old != node => diffs.push(format!("{} changed", path.display())),
            Some(_) => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        diffs.push(format!("{} disappeared", path.display()));
    }
    diffs.join(", ")
}

// ---------------------------------------------------------------- tables

/// What a tool does with the path it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// An existing (text) file.
    File,
    /// An existing image.
    Image,
    /// An existing directory.
    Dir,
    /// A file to create.
    NewFile,
    /// Directories to create.
    NewDir,
}

/// The file a slot names inside an outside-like directory.
fn rel(slot: Slot) -> &'static str {
    match slot {
        Slot::File => "secret.txt",
        Slot::Image => "secret.png",
        Slot::Dir => "sub",
        Slot::NewFile => "new.txt",
        Slot::NewDir => "newdir/sub",
    }
}

/// One path-taking argument of one tool.
struct Tool {
    server: Server,
    name: &'static str,
    /// The tool and the argument the path goes in.
    label: &'static str,
    slot: Slot,
    /// The path is a write target (or the tool moves or rewrites it).
    writes: bool,
    /// Per-path failures come inside a successful answer ("PATH: Error - ...").
    inline_errors: bool,
    /// The answer quotes the file (text, diff or base64).
    shows_content: bool,
    args: fn(&Fx, String) -> Value,
}

/// What a case expects of a tool.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A tool error saying one of these; `names_path`: the message names a
    /// path under the fixture.
    Refused {
        any_of: &'static [&'static str],
        names_path: bool,
    },
    Succeeds(Shows),
    /// A success or a clean tool error (not a protocol error, not a hang).
    Either,
}

#[derive(Debug, Clone, Copy)]
enum Shows {
    Nothing,
    /// The answer quotes the hard-linked outside file.
    HardLinked,
    /// The answer contains this text.
    Text(&'static str),
}

/// An escape class: the path it gives each slot (`None`: not applicable)
/// and what it expects.
struct Case {
    name: &'static str,
    path: fn(&Fx, Slot) -> Option<String>,
    expect: fn(&Tool) -> Expect,
}

const ACCESS_DENIED: Expect = Expect::Refused {
    any_of: &["Access denied - path outside allowed directories"],
    names_path: true,
};

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "traversal root/../outside",
            path: |fx, slot| Some(format!("{}/../outside/{}", fx.root_s(), rel(slot))),
            expect: |_| ACCESS_DENIED,
        },
        Case {
            name: "traversal, relative ../outside",
            path: |_, slot| Some(format!("../outside/{}", rel(slot))),
            expect: |_| ACCESS_DENIED,
        },
        Case {
            name: "traversal from a subdirectory root/sub/../../outside",
            path: |fx, slot| Some(format!("{}/sub/../../outside/{}", fx.root_s(), rel(slot))),
            expect: |_| ACCESS_DENIED,
        },
        Case {
            name: "absolute path outside",
            path: |fx, slot| Some(fx.outside.join(rel(slot)).display().to_string()),
            expect: |_| ACCESS_DENIED,
        },
        Case {
            // CVE-2025-53110 in the official server: a string-prefix check.
            name: "prefix sibling allowed-evil",
            path: |fx, slot| Some(fx.evil.join(rel(slot)).display().to_string()),
            expect: |_| ACCESS_DENIED,
        },
        Case {
            // CVE-2025-53109 in the official server.
            name: "symlink inside to an outside file",
            path: |fx, slot| match slot {
                Slot::File => Some(fx.r("link-file")),
                Slot::Image => Some(fx.r("link-png")),
                _ => None,
            },
            expect: |_| ACCESS_DENIED,
        },
        Case {
            name: "symlinked parent directory",
            path: |fx, slot| match slot {
                Slot::Dir => Some(fx.r("dir-out")),
                slot => Some(fx.r(&format!("dir-out/{}", rel(slot)))),
            },
            expect: |_| ACCESS_DENIED,
        },
        Case {
            name: "symlink loop a -> b -> a",
            path: |fx, slot| match slot {
                Slot::NewFile => Some(fx.r("loop-a/new.txt")),
                Slot::NewDir => Some(fx.r("loop-a/newdir")),
                _ => Some(fx.r("loop-a")),
            },
            expect: |_| Expect::Refused {
                any_of: &["Too many levels of symbolic links"],
                names_path: true,
            },
        },
        Case {
            // Writing through the link would create the outside file: refused
            // as dangling (writers) or not found (readers); the snapshot
            // proves nothing was created.
            name: "dangling symlink to a missing outside file",
            path: |fx, slot| match slot {
                Slot::NewFile => Some(fx.r("dangling-deep")),
                Slot::NewDir => Some(fx.r("dangling/sub")),
                _ => Some(fx.r("dangling")),
            },
            expect: |_| Expect::Refused {
                any_of: &[
                    "Refusing to write through a dangling symbolic link",
                    "ENOENT: no such file or directory",
                ],
                names_path: true,
            },
        },
        Case {
            // A hard link is the same file under an inside name: no path
            // check can tell, so reads succeed and show the outside file's
            // content (the servers make no attempt to detect st_nlink > 1).
            // Writes succeed too but go through core's atomic_write (temp
            // file + rename), which replaces the inside name with a new
            // inode: the outside file is never modified, which the snapshot
            // asserts. Either behaviour changing fails this case.
            name: "hard link to an outside file",
            path: |fx, slot| match slot {
                Slot::File => Some(fx.r("hard.txt")),
                Slot::Image => Some(fx.r("hard.png")),
                _ => None,
            },
            expect: |tool| {
                Expect::Succeeds(if tool.shows_content {
                    Shows::HardLinked
                } else {
                    Shows::Nothing
                })
            },
        },
        Case {
            // Walking tools on the allowed directory itself meet every link
            // above: they list links but must not follow them out.
            name: "walk over the links (the allowed directory)",
            path: |fx, slot| (slot == Slot::Dir).then(|| fx.root_s()),
            expect: |_| Expect::Succeeds(Shows::Nothing),
        },
        Case {
            // JSON strings cannot name `caf\xe9.txt`; the nearest a client can
            // type is U+FFFD, which names nothing on disk. Listing shows the
            // names lossily; writes may create new (UTF-8) names inside.
            name: "non-UTF-8 names inside",
            path: |fx, slot| match slot {
                Slot::File => Some(fx.r("nonutf8/caf\u{FFFD}.txt")),
                Slot::Image => Some(fx.r("nonutf8/caf\u{FFFD}.png")),
                Slot::Dir => Some(fx.r("nonutf8")),
                Slot::NewFile => Some(fx.r("nonutf8/d\u{FFFD}\u{FFFD}/new.txt")),
                Slot::NewDir => Some(fx.r("nonutf8/d\u{FFFD}\u{FFFD}/sub")),
            },
            expect: |tool| match (tool.slot, tool.writes) {
                (Slot::Dir, false) if tool.name == "list_directory" => {
                    Expect::Succeeds(Shows::Text("[FILE] caf\u{FFFD}.txt"))
                }
                (Slot::Dir, false) => Expect::Succeeds(Shows::Nothing),
                (Slot::File | Slot::Image, false) => Expect::Refused {
                    any_of: &["ENOENT: no such file or directory"],
                    names_path: true,
                },
                _ => Expect::Either,
            },
        },
        Case {
            name: "5,000-byte path",
            path: |_, _| Some("a/".repeat(2500)),
            expect: |_| Expect::Refused {
                any_of: &["Invalid path: the path is 5000 bytes long, over the 4096-byte limit"],
                names_path: false,
            },
        },
        Case {
            name: "100,000-byte path",
            path: |fx, _| {
                let mut path = fx.r(&"x/".repeat(50_000));
                path.truncate(100_000);
                Some(path)
            },
            expect: |_| Expect::Refused {
                any_of: &["Invalid path: the path is 100000 bytes long, over the 4096-byte limit"],
                names_path: false,
            },
        },
        Case {
            name: "300-byte file name",
            path: |fx, _| Some(fx.r(&"n".repeat(300))),
            expect: |_| Expect::Refused {
                any_of: &["File name too long"],
                names_path: true,
            },
        },
    ]
}

fn tools() -> Vec<Tool> {
    use Server::{Filesystem as Fs, Image as Img, Text as Txt};
    vec![
        // mcp-filesystem, reading
        Tool {
            server: Fs,
            name: "read_text_file",
            label: "read_text_file(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "read_file",
            label: "read_file(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "read_media_file",
            label: "read_media_file(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "read_multiple_files",
            label: "read_multiple_files(paths)",
            slot: Slot::File,
            writes: false,
            inline_errors: true,
            shows_content: true,
            args: |_, p| json!({"paths": [p]}),
        },
        Tool {
            server: Fs,
            name: "get_file_info",
            label: "get_file_info(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "list_directory",
            label: "list_directory(path)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "list_directory_with_sizes",
            label: "list_directory_with_sizes(path)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "directory_tree",
            label: "directory_tree(path)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "search_files",
            label: "search_files(path)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "pattern": "**/*"}),
        },
        Tool {
            server: Fs,
            name: "search_file_contents",
            label: "search_file_contents(path)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "pattern": PATTERN}),
        },
        // mcp-filesystem, writing
        Tool {
            server: Fs,
            name: "write_file",
            label: "write_file(path) over an existing file",
            slot: Slot::File,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "content": "PWNED"}),
        },
        Tool {
            server: Fs,
            name: "write_file",
            label: "write_file(path) to a new file",
            slot: Slot::NewFile,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "content": "PWNED"}),
        },
        Tool {
            server: Fs,
            name: "edit_file",
            label: "edit_file(path)",
            slot: Slot::File,
            writes: true,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p, "edits": [{"oldText": PATTERN, "newText": "PWNED"}]}),
        },
        Tool {
            server: Fs,
            name: "create_directory",
            label: "create_directory(path)",
            slot: Slot::NewDir,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Fs,
            name: "move_file",
            label: "move_file(source)",
            slot: Slot::File,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| json!({"source": p, "destination": fx.r("moved.txt")}),
        },
        Tool {
            server: Fs,
            name: "move_file",
            label: "move_file(destination)",
            slot: Slot::NewFile,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| json!({"source": fx.r("inside.txt"), "destination": p}),
        },
        // mcp-image, reading
        Tool {
            server: Img,
            name: "image_info",
            label: "image_info(path)",
            slot: Slot::Image,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Img,
            name: "transform",
            label: "transform(path)",
            slot: Slot::Image,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "operations": [{"op": "invert"}]}),
        },
        Tool {
            server: Img,
            name: "prepare_for_model",
            label: "prepare_for_model(path)",
            slot: Slot::Image,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Img,
            name: "compare",
            label: "compare(path_a)",
            slot: Slot::Image,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| json!({"path_a": p, "path_b": fx.r("in.png")}),
        },
        Tool {
            server: Img,
            name: "batch_transform",
            label: "batch_transform(input_dir)",
            slot: Slot::Dir,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| {
                json!({"input_dir": p, "pattern": "*.png", "operations": [{"op": "invert"}],
                       "output_dir": fx.r("batch-out")})
            },
        },
        // mcp-image, writing
        Tool {
            server: Img,
            name: "transform",
            label: "transform(output_path) to a new file",
            slot: Slot::NewFile,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| {
                json!({"path": fx.r("in.png"), "operations": [{"op": "invert"}],
                       "output_path": p, "format": "png"})
            },
        },
        Tool {
            server: Img,
            name: "transform",
            label: "transform(output_path, overwrite) over an existing image",
            slot: Slot::Image,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| {
                json!({"path": fx.r("in.png"), "operations": [{"op": "invert"}],
                       "output_path": p, "overwrite": true, "format": "png"})
            },
        },
        Tool {
            server: Img,
            name: "compare",
            label: "compare(diff_output_path)",
            slot: Slot::NewFile,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| {
                json!({"path_a": fx.r("in.png"), "path_b": fx.r("in.png"),
                       "diff_output_path": p})
            },
        },
        Tool {
            server: Img,
            name: "contact_sheet",
            label: "contact_sheet(output_path)",
            slot: Slot::NewFile,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| json!({"paths": [fx.r("in.png")], "output_path": p, "format": "png"}),
        },
        Tool {
            server: Img,
            name: "batch_transform",
            label: "batch_transform(output_dir)",
            slot: Slot::NewDir,
            writes: true,
            inline_errors: false,
            shows_content: false,
            args: |fx, p| {
                json!({"input_dir": fx.root_s(), "pattern": "in.png",
                       "operations": [{"op": "invert"}], "output_dir": p})
            },
        },
        // mcp-text, reading
        Tool {
            server: Txt,
            name: "text_stats",
            label: "text_stats(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p}),
        },
        Tool {
            server: Txt,
            name: "search",
            label: "search(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "pattern": PATTERN, "context": 1}),
        },
        Tool {
            server: Txt,
            name: "hash",
            label: "hash(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: false,
            args: |_, p| json!({"path": p, "algorithm": "sha256"}),
        },
        Tool {
            server: Txt,
            name: "encode",
            label: "encode(path)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p, "encoding": "base64"}),
        },
        Tool {
            server: Txt,
            name: "diff",
            label: "diff(path_a)",
            slot: Slot::File,
            writes: false,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path_a": p, "b": "x\n"}),
        },
        // mcp-text, writing
        Tool {
            server: Txt,
            name: "replace",
            label: "replace(path)",
            slot: Slot::File,
            writes: true,
            inline_errors: false,
            shows_content: true,
            args: |_, p| json!({"path": p, "pattern": PATTERN, "replacement": "PWNED"}),
        },
    ]
}

// ---------------------------------------------------------------- matrix

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Every text block of a result.
fn all_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most 300 characters, for messages about a 100,000-byte path.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refused,
    Succeeded,
}

/// Checks one answer against the cell's expectation; the problems found.
fn check(fx: &Fx, tool: &Tool, expect: Expect, result: &CallToolResult) -> Vec<String> {
    let mut problems = Vec::new();
    let text = all_text(result);
    let is_error = result.is_error == Some(true);
    match expect {
        Expect::Refused { any_of, names_path } => {
            let inline = tool.inline_errors && !is_error && text.contains("Error - ");
            if !is_error && !inline {
                problems.push(format!(
                    "expected a tool error, got success: {}",
                    clip(&text)
                ));
            } else {
                if !any_of.iter().any(|m| text.contains(m)) {
                    problems.push(format!(
                        "the error does not say any of {any_of:?}: {}",
                        clip(&text)
                    ));
                }
                if names_path && !text.contains(&fx.base.display().to_string()) {
                    problems.push(format!("the error names no path: {}", clip(&text)));
                }
            }
        }
        Expect::Succeeds(shows) => {
            if is_error {
                problems.push(format!("expected success, got error: {}", clip(&text)));
            } else {
                let json = serde_json::to_string(result).unwrap();
                match shows {
                    Shows::Nothing => {}
                    Shows::HardLinked => {
                        if !json.contains(HARD) && !json.contains(&b64(HARD_FILE)) {
                            problems.push(format!(
                                "the answer does not show the hard-linked file: {}",
                                clip(&json)
                            ));
                        }
                    }
                    Shows::Text(wanted) => {
                        if !text.contains(wanted) {
                            problems.push(format!(
                                "the answer does not contain {wanted:?}: {}",
                                clip(&text)
                            ));
                        }
                    }
                }
            }
        }
        Expect::Either => {}
    }
    problems
}

/// Runs one cell on a fresh fixture: the problems found and the outcome.
async fn run_cell(
    client: &Client,
    fx: &Fx,
    pristine: &BTreeMap<PathBuf, Node>,
    tool: &Tool,
    expect: Expect,
    path: String,
    cell: &str,
) -> (Vec<String>, Option<Outcome>) {
    fx.reset();
    let arguments = (tool.args)(fx, path);
    let answer = tokio::time::timeout(
        CALL_DEADLINE,
        AssertUnwindSafe(call(client, tool.name, arguments)).catch_unwind(),
    )
    .await;
    let mut problems = Vec::new();
    let mut outcome = None;
    match answer {
        Err(_) => problems.push(format!("no answer within {CALL_DEADLINE:?} (hang)")),
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            problems.push(format!("protocol error, not a tool error: {message}"));
        }
        Ok(Ok(result)) => {
            problems.extend(check(fx, tool, expect, &result));
            let json = serde_json::to_string(&result).unwrap();
            if json.contains(SECRET) || json.contains(&b64(SECRET_FILE)) {
                problems.push(format!(
                    "the outside secret is in the answer: {}",
                    clip(&json)
                ));
            }
            let text = all_text(&result);
            let refused =
                result.is_error == Some(true) || (tool.inline_errors && text.contains("Error - "));
            outcome = Some(if refused {
                Outcome::Refused
            } else {
                Outcome::Succeeded
            });
            if matches!(expect, Expect::Either) {
                // Whatever it is, say it: the report lists these behaviours.
                eprintln!("  {cell}: {outcome:?}: {}", clip(&text));
            }
        }
    }
    let after = fx.outside_snapshot();
    if &after != pristine {
        problems.push(format!(
            "outside changed: {}",
            snapshot_diff(pristine, &after)
        ));
    }
    (problems, outcome)
}

/// Every case against every tool of `server`; reports each failing cell.
async fn escape_matrix(server: Server) {
    let fx = Fx::new();
    let pristine = fx.outside_snapshot();
    let cases = cases();
    let tools = tools();
    let cells_of = |s: Server| {
        cases
            .iter()
            .flat_map(|c| tools.iter().map(move |t| (c, t)))
            .filter(|(c, t)| t.server == s && (c.path)(&fx, t.slot).is_some())
            .count()
    };
    let all_cells: usize = Server::ALL.iter().map(|&s| cells_of(s)).sum();

    let client = server.client(&fx.root).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut per_case = Vec::new();
    for case in &cases {
        let (mut refused, mut succeeded, mut case_cells) = (0, 0, 0);
        for tool in tools.iter().filter(|t| t.server == server) {
            let Some(path) = (case.path)(&fx, tool.slot) else {
                continue;
            };
            cells += 1;
            case_cells += 1;
            let expect = (case.expect)(tool);
            let cell = format!("[{} | {} {}]", case.name, server.name(), tool.label);
            let (problems, outcome) =
                run_cell(&client, &fx, &pristine, tool, expect, path, &cell).await;
            match outcome {
                Some(Outcome::Refused) => refused += 1,
                Some(Outcome::Succeeded) => succeeded += 1,
                None => {}
            }
            for problem in problems {
                failures.push(format!("{cell} {problem}"));
            }
        }
        if case_cells == 0 {
            continue;
        }
        per_case.push(format!(
            "  {:<55} {case_cells:>2} cells: {refused:>2} refused, {succeeded:>2} succeeded",
            case.name
        ));
    }
    // Still alive and answering after all of it.
    let listed = tokio::time::timeout(CALL_DEADLINE, client.list_all_tools()).await;
    assert!(
        matches!(listed, Ok(Ok(ref tools)) if !tools.is_empty()),
        "{} stopped answering after the escape cells: {listed:?}",
        server.name()
    );
    client.cancel().await.unwrap();

    eprintln!(
        "escape cases: {cells} cells for {} ({all_cells} over the three servers)\n{}",
        server.name(),
        per_case.join("\n")
    );
    assert_eq!(cells, cells_of(server));
    assert!(
        failures.is_empty(),
        "{} of {cells} escape cells failed for {}:\n{}",
        failures.len(),
        server.name(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_escape_class_against_mcp_filesystem() {
    escape_matrix(Server::Filesystem).await;
}

#[tokio::test]
async fn every_escape_class_against_mcp_image() {
    escape_matrix(Server::Image).await;
}

#[tokio::test]
async fn every_escape_class_against_mcp_text() {
    escape_matrix(Server::Text).await;
}

/// A path that is not Unicode at all (a lone surrogate escape, the only way
/// JSON can spell a non-UTF-8 byte) gets an answer, and the server goes on.
#[test]
fn lone_surrogate_paths_get_an_answer_from_every_server() {
    let fx = Fx::new();
    let root = fx.root_s();
    for (server, tool) in [
        (Server::Filesystem, "read_text_file"),
        (Server::Image, "image_info"),
        (Server::Text, "text_stats"),
    ] {
        let mut raw = RawStdio::spawn(server.bin(), &[&root]).unwrap();
        raw.initialize().unwrap();
        raw.send_line(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"path":"{root}/nonutf8/caf\udce9.txt"}}}}}}"#
        ))
        .unwrap();
        let answer = loop {
            let msg = raw.recv().unwrap();
            if msg.get("result").is_some() || msg.get("error").is_some() {
                break msg;
            }
        };
        let clean = answer.get("error").is_some() || answer["result"]["isError"] == json!(true);
        assert!(clean, "{}: {answer}", server.name());
        assert!(
            !answer.to_string().contains(SECRET),
            "{}: {answer}",
            server.name()
        );
        let listed = raw.request(2, "tools/list", json!({})).unwrap();
        assert!(
            listed["result"]["tools"].is_array(),
            "{}: {listed}",
            server.name()
        );
        let status = raw.close().unwrap();
        assert!(status.success(), "{}: exit {status}", server.name());
        eprintln!("{}: lone surrogate answered with {answer}", server.name());
    }
}

// ---------------------------------------------------------------- races

/// Flips `link` between two targets as fast as it can: a new link at a
/// temporary name renamed over it, so `link` always exists.
struct Flipper {
    stop: Arc<AtomicBool>,
    flips: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Flipper {
    fn start(link: PathBuf, targets: [PathBuf; 2]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flips = Arc::new(AtomicU64::new(0));
        let handle = std::thread::spawn({
            let (stop, flips) = (stop.clone(), flips.clone());
            move || {
                let tmp = link.with_file_name(".link.flip");
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    symlink(&targets[n % 2], &tmp).unwrap();
                    fs::rename(&tmp, &link).unwrap();
                    flips.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let flipper = Self {
            stop,
            flips,
            handle: Some(handle),
        };
        // Both targets seen at least once before the rounds start; the
        // deadline only guards against a flipper that died.
        let start = Instant::now();
        while flipper.flips.load(Ordering::Relaxed) < 2 {
            assert!(
                start.elapsed() < DEADLINE && !flipper.handle.as_ref().unwrap().is_finished(),
                "the flipper never flipped"
            );
            std::thread::yield_now();
        }
        flipper
    }

    /// Stops the thread; how many flips it made.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("the flipper panicked");
        self.flips.load(Ordering::Relaxed)
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// `base/root/inside.txt` (content "inside"), `base/outside/secret.txt`
/// (the content given), `base/root/link` -> inside.txt.
struct RaceFx {
    _dir: TempDir,
    root: PathBuf,
    outside: PathBuf,
    inside: PathBuf,
    secret: PathBuf,
    link: PathBuf,
}

impl RaceFx {
    fn new(secret: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        let inside = root.join("inside.txt");
        let secret_path = outside.join("secret.txt");
        fs::write(&inside, "inside").unwrap();
        fs::write(&secret_path, secret).unwrap();
        let link = root.join("link");
        symlink(&inside, &link).unwrap();
        Self {
            _dir: dir,
            root,
            outside,
            inside,
            secret: secret_path,
            link,
        }
    }

    fn flipper(&self) -> Flipper {
        Flipper::start(
            self.link.clone(),
            [self.inside.clone(), self.secret.clone()],
        )
    }

    /// Outside still holds exactly `secret.txt` with `content`.
    fn assert_outside_untouched(&self, content: &str) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.txt"], "a file appeared outside");
        assert_eq!(fs::read_to_string(&self.secret).unwrap(), content);
    }

    fn root_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Round counts of a race, by branch.
#[derive(Debug, Default)]
struct Tally {
    read_ok: usize,
    read_denied: usize,
    write_ok: usize,
    write_denied: usize,
}

#[tokio::test]
async fn symlink_flipped_under_mcp_filesystem_reads_and_writes() {
    let fx = RaceFx::new("SECRET");
    let client = Server::Filesystem.client(&fx.root).await;
    let link = fx.link.display().to_string();
    let flipper = fx.flipper();
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    // Rounds are sequential, so a read must see exactly the last write that
    // succeeded (always to the inside file: the sandbox resolves the link).
    let mut current = "inside".to_owned();
    for round in 0..ROUNDS {
        let read = call(&client, "read_text_file", json!({"path": link})).await;
        let text = all_text(&read);
        if serde_json::to_string(&read).unwrap().contains("SECRET") {
            problems.push(format!("round {round}: read leaked the secret: {text}"));
        }
        if read.is_error == Some(true) {
            if text.starts_with("Access denied - path outside allowed directories") {
                tally.read_denied += 1;
            } else {
                problems.push(format!("round {round}: read failed oddly: {text}"));
            }
        } else if text == current {
            tally.read_ok += 1;
        } else {
            problems.push(format!(
                "round {round}: read {text:?}, expected {current:?}"
            ));
        }

        let content = format!("round {round}");
        let write = call(
            &client,
            "write_file",
            json!({"path": link, "content": content}),
        )
        .await;
        let text = all_text(&write);
        if serde_json::to_string(&write).unwrap().contains("SECRET") {
            problems.push(format!("round {round}: write leaked the secret: {text}"));
        }
        if write.is_error == Some(true) {
            if text.starts_with("Access denied - path outside allowed directories") {
                tally.write_denied += 1;
            } else {
                problems.push(format!("round {round}: write failed oddly: {text}"));
            }
        } else if text == format!("Successfully wrote to {link}") {
            tally.write_ok += 1;
            current = content;
        } else {
            problems.push(format!("round {round}: unexpected write answer: {text}"));
        }
    }
    let flips = flipper.stop();
    client.cancel().await.unwrap();
    eprintln!("mcp-filesystem race: {ROUNDS} rounds, {flips} flips, {tally:?}");

    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(tally.read_ok + tally.read_denied, ROUNDS);
    assert_eq!(tally.write_ok + tally.write_denied, ROUNDS);
    fx.assert_outside_untouched("SECRET");
    assert_eq!(fs::read_to_string(&fx.inside).unwrap(), current);
    // No temporary file left behind, no file written beside the link.
    for name in fx.root_names() {
        assert!(
            ["inside.txt", "link", ".link.flip"].contains(&name.as_str()),
            "unexpected file in root: {name}"
        );
    }
}

#[tokio::test]
async fn symlink_flipped_under_mcp_text_reads() {
    // text_stats does not echo the text, so the secret differs from "inside"
    // in every count: a read of the wrong file cannot pass for the right one.
    let secret = "SECRET: outside, and longer than the inside file.\n";
    let fx = RaceFx::new(secret);
    let client = Server::Text.client(&fx.root).await;
    let stats = |r: &CallToolResult| r.structured_content.clone().unwrap_or(Value::Null);
    let inside = call(
        &client,
        "text_stats",
        json!({"path": fx.inside.display().to_string()}),
    )
    .await;
    assert_ne!(inside.is_error, Some(true), "{}", all_text(&inside));
    let secret_stats = call(&client, "text_stats", json!({"text": secret})).await;
    assert_ne!(stats(&inside), stats(&secret_stats));
    assert_ne!(stats(&inside), Value::Null);

    let link = fx.link.display().to_string();
    let flipper = fx.flipper();
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    for round in 0..ROUNDS {
        let read = call(&client, "text_stats", json!({"path": link})).await;
        let text = all_text(&read);
        if serde_json::to_string(&read).unwrap().contains("SECRET") {
            problems.push(format!("round {round}: leaked the secret: {text}"));
        }
        if read.is_error == Some(true) {
            if text.starts_with("Access denied - path outside allowed directories") {
                tally.read_denied += 1;
            } else {
                problems.push(format!("round {round}: failed oddly: {text}"));
            }
        } else if stats(&read) == stats(&inside) {
            tally.read_ok += 1;
        } else {
            problems.push(format!("round {round}: stats of another file: {text}"));
        }
    }
    let flips = flipper.stop();
    client.cancel().await.unwrap();
    eprintln!(
        "mcp-text race: {ROUNDS} rounds, {flips} flips, {} read the inside file, {} refused",
        tally.read_ok, tally.read_denied
    );

    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(tally.read_ok + tally.read_denied, ROUNDS);
    fx.assert_outside_untouched(secret);
    assert_eq!(fs::read_to_string(&fx.inside).unwrap(), "inside");
}
