//! `PathSandbox` resolution over a fixed tree, with fuzzer-chosen user paths.
//!
//! The tree is made once per process under the temp directory (and the
//! trees of processes that are gone are removed):
//!
//! ```text
//! base/
//!   allowed/                  root 1
//!     file.txt  sub/nested.txt  sub/deeper/
//!     link-in -> sub          link-file -> file.txt     link-root2 -> ../second
//!     link-out -> ../outside  link-out-abs -> base/outside
//!     link-secret -> base/outside/secret.txt            link-up -> ..
//!     link-evil -> ../allowed-evil
//!     dangling -> missing     dangling-out -> ../outside/missing
//!     loop -> loop            loop-a -> loop-b -> loop-a
//!   allowed-evil/file.txt     a sibling whose name has the root's as prefix
//!   second/                   root 2: two.txt, link-back -> ../allowed/sub
//!   outside/                  secret.txt, sub/, dangling -> missing
//!   link-to-allowed -> allowed
//! ```
//!
//! Checked for every input, on each of `resolve_existing`,
//! `resolve_for_write` and `resolve_for_create_dir`:
//! - no panic (error messages are rendered too);
//! - an `Ok` path is absolute, has only plain components, and is inside one
//!   of the canonical roots, component by component;
//! - `resolve_existing`: the path is canonical (exists, no symlink in it);
//! - `resolve_for_write`: the path is canonical if it exists, else its parent
//!   is canonical and inside a root;
//! - `resolve_for_create_dir`: its deepest existing ancestor is canonical and
//!   inside a root;
//! - the three agree: existing `Ok(p)` implies write `Ok(p)`, which implies
//!   create_dir `Ok(p)`.
//!
//! With `FUZZ_SANDBOX_CONTAINMENT_ONLY=1`, only the first two are checked
//! (no panic, `Ok` paths inside the roots): the escape check alone.
//!
//! With `FUZZ_SANDBOX_STRICT_ERRORS=1`, also: an error other than `Outside`
//! (or the input checks) is only given for a path whose deepest existing
//! ancestor is inside a root, so errors do not tell what exists outside
//! (the intent stated on `resolution_error`).

#![no_main]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_servers_core::sandbox::{PathSandbox, SandboxError, expand_home};

struct Fixture {
    base: PathBuf,
    allowed: PathBuf,
    second: PathBuf,
    outside: PathBuf,
    /// Sandboxes and the canonical roots each must have, in order.
    sandboxes: Vec<(PathSandbox, Vec<PathBuf>)>,
    /// Candidate values of `$HOME` (None: unset).
    homes: Vec<Option<PathBuf>>,
    strict_errors: bool,
    containment_only: bool,
}

/// Each process makes `$TMPDIR/mcp-fuzz-sandbox-PID`; libFuzzer ends
/// without running destructors (and fork mode starts many processes).
const FIXTURE_PREFIX: &str = "mcp-fuzz-sandbox-";

/// Removes the fixtures of processes that are gone.
fn remove_stale_fixtures() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(FIXTURE_PREFIX)) else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        remove_stale_fixtures();
        let dir = std::env::temp_dir().join(format!("{FIXTURE_PREFIX}{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let base = fs::canonicalize(&dir).unwrap();
        let allowed = base.join("allowed");
        let second = base.join("second");
        let outside = base.join("outside");
        fs::create_dir_all(allowed.join("sub/deeper")).unwrap();
        fs::create_dir_all(base.join("allowed-evil")).unwrap();
        fs::create_dir_all(&second).unwrap();
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::write(allowed.join("file.txt"), "inside").unwrap();
        fs::write(allowed.join("sub/nested.txt"), "nested").unwrap();
        fs::write(base.join("allowed-evil/file.txt"), "evil").unwrap();
        fs::write(second.join("two.txt"), "two").unwrap();
        fs::write(outside.join("secret.txt"), "secret").unwrap();
        let links: [(&str, PathBuf); 13] = [
            ("link-in", "sub".into()),
            ("link-file", "file.txt".into()),
            ("link-root2", "../second".into()),
            ("link-out", "../outside".into()),
            ("link-out-abs", outside.clone()),
            ("link-secret", outside.join("secret.txt")),
            ("link-up", "..".into()),
            ("link-evil", "../allowed-evil".into()),
            ("dangling", "missing".into()),
            ("dangling-out", "../outside/missing".into()),
            ("loop", "loop".into()),
            ("loop-a", "loop-b".into()),
            ("loop-b", "loop-a".into()),
        ];
        for (name, target) in links {
            symlink(target, allowed.join(name)).unwrap();
        }
        symlink("../allowed/sub", second.join("link-back")).unwrap();
        symlink("missing", outside.join("dangling")).unwrap();
        symlink("allowed", base.join("link-to-allowed")).unwrap();

        let sandboxes = vec![
            (
                PathSandbox::new(&[&allowed]).unwrap(),
                vec![allowed.clone()],
            ),
            (
                PathSandbox::new(&[&allowed, &second]).unwrap(),
                vec![allowed.clone(), second.clone()],
            ),
            (
                PathSandbox::new(&[&second, &allowed]).unwrap(),
                vec![second.clone(), allowed.clone()],
            ),
            // A root given through a symlink and a `..`: stored canonical.
            (
                PathSandbox::new(&[base.join("link-to-allowed"), allowed.join("sub/..")]).unwrap(),
                vec![allowed.clone()],
            ),
        ];
        for (sandbox, roots) in &sandboxes {
            assert_eq!(&*sandbox.roots(), roots.as_slice());
        }
        let homes = vec![
            Some(outside.clone()),
            Some(allowed.clone()),
            Some(allowed.join("sub")),
            Some(PathBuf::from("/")),
            None,
        ];
        Fixture {
            base,
            allowed,
            second,
            outside,
            sandboxes,
            homes,
            strict_errors: env_flag("FUZZ_SANDBOX_STRICT_ERRORS"),
            containment_only: env_flag("FUZZ_SANDBOX_CONTAINMENT_ONLY"),
        }
    })
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

#[derive(Debug, Arbitrary)]
enum Prefix {
    Relative,
    Slash,
    Base,
    Allowed,
    Second,
    Outside,
    AllowedEvil,
    Tilde,
    Dot,
    DotDot,
    /// The root spelled with a trailing `-evil`-style suffix: `base/allowed`
    /// immediately followed by the first part, no separator.
    AllowedNoSep,
}

#[derive(Debug, Arbitrary)]
enum Part {
    DotDot,
    Dot,
    Empty,
    A,
    File,
    Sub,
    Deeper,
    Nested,
    LinkIn,
    LinkFile,
    LinkRoot2,
    LinkOut,
    LinkOutAbs,
    LinkSecret,
    LinkUp,
    LinkEvil,
    Dangling,
    DanglingOut,
    Loop,
    LoopA,
    LinkBack,
    LinkToAllowed,
    Allowed,
    AllowedEvil,
    Evil,
    Second,
    Outside,
    Secret,
    Two,
    Tilde,
    New,
    Long255,
    Long256,
    Unicode,
    Backslash,
    Nul,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum PathSpec {
    /// Arbitrary bytes, lossily UTF-8.
    Raw(Vec<u8>),
    /// Components from a small alphabet joined by `/`.
    Built {
        prefix: Prefix,
        parts: Vec<Part>,
        trailing_slash: bool,
        double_slashes: bool,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    sandbox: u8,
    home: u8,
    path: PathSpec,
}

fn part_str(part: &Part) -> std::borrow::Cow<'static, str> {
    let s = match part {
        Part::DotDot => "..",
        Part::Dot => ".",
        Part::Empty => "",
        Part::A => "a",
        Part::File => "file.txt",
        Part::Sub => "sub",
        Part::Deeper => "deeper",
        Part::Nested => "nested.txt",
        Part::LinkIn => "link-in",
        Part::LinkFile => "link-file",
        Part::LinkRoot2 => "link-root2",
        Part::LinkOut => "link-out",
        Part::LinkOutAbs => "link-out-abs",
        Part::LinkSecret => "link-secret",
        Part::LinkUp => "link-up",
        Part::LinkEvil => "link-evil",
        Part::Dangling => "dangling",
        Part::DanglingOut => "dangling-out",
        Part::Loop => "loop",
        Part::LoopA => "loop-a",
        Part::LinkBack => "link-back",
        Part::LinkToAllowed => "link-to-allowed",
        Part::Allowed => "allowed",
        Part::AllowedEvil => "allowed-evil",
        Part::Evil => "-evil",
        Part::Second => "second",
        Part::Outside => "outside",
        Part::Secret => "secret.txt",
        Part::Two => "two.txt",
        Part::Tilde => "~",
        Part::New => "new",
        Part::Long255 => return "x".repeat(255).into(),
        Part::Long256 => return "y".repeat(256).into(),
        Part::Unicode => "caf\u{e9}\u{FFFD}",
        Part::Backslash => "..\\..",
        Part::Nul => "a\0b",
        Part::Other(s) => return s.clone().into(),
    };
    s.into()
}

fn build(f: &Fixture, spec: &PathSpec) -> String {
    match spec {
        PathSpec::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        PathSpec::Built {
            prefix,
            parts,
            trailing_slash,
            double_slashes,
        } => {
            let sep = if *double_slashes { "//" } else { "/" };
            let mut out = match prefix {
                Prefix::Relative => String::new(),
                Prefix::Slash => "/".to_owned(),
                Prefix::Base => format!("{}/", f.base.display()),
                Prefix::Allowed => format!("{}/", f.allowed.display()),
                Prefix::Second => format!("{}/", f.second.display()),
                Prefix::Outside => format!("{}/", f.outside.display()),
                Prefix::AllowedEvil => format!("{}-evil/", f.allowed.display()),
                Prefix::Tilde => "~/".to_owned(),
                Prefix::Dot => "./".to_owned(),
                Prefix::DotDot => "../".to_owned(),
                Prefix::AllowedNoSep => f.allowed.display().to_string(),
            };
            for (i, part) in parts.iter().take(64).enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push_str(&part_str(part));
            }
            if *trailing_slash {
                out.push('/');
            }
            out
        }
    }
}

fn inside(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

fn plain(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

fn canonical(path: &Path) -> bool {
    fs::canonicalize(path).is_ok_and(|real| real == path)
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn check_ok(what: &str, user: &str, roots: &[PathBuf], path: &Path) {
    assert!(
        plain(path),
        "{what}({user:?}) = {path:?}: not absolute or has . / .. components"
    );
    assert!(
        inside(roots, path),
        "{what}({user:?}) = {path:?}: OUTSIDE the roots {roots:?}"
    );
}

/// The deepest lexical proper ancestor of `abs` that resolves, resolved.
fn deepest_real_ancestor(abs: &Path) -> Option<PathBuf> {
    abs.ancestors()
        .skip(1)
        .find_map(|prefix| fs::canonicalize(prefix).ok())
}

/// Errors must not tell what exists outside the roots.
fn check_err(what: &str, user: &str, roots: &[PathBuf], abs: Option<&Path>, err: &SandboxError) {
    let message = err.to_string();
    assert!(!message.is_empty());
    let Some(abs) = abs else { return };
    let telling = match err {
        SandboxError::Outside { .. } | SandboxError::NoRoots => false,
        SandboxError::InvalidPath(m) => m.contains("does not exist"),
        _ => true,
    };
    if telling
        && let Some(real) = deepest_real_ancestor(abs)
        && !inside(roots, &real)
    {
        panic!(
            "{what}({user:?}): error {err:?} ({message}) is about {abs:?}, \
             whose deepest existing ancestor {real:?} is outside the roots"
        );
    }
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let (sandbox, roots) = &f.sandboxes[usize::from(input.sandbox) % f.sandboxes.len()];
    let home = &f.homes[usize::from(input.home) % f.homes.len()];
    // Single-threaded: libFuzzer runs inputs one at a time on this thread.
    unsafe {
        match home {
            Some(home) => std::env::set_var("HOME", home),
            None => std::env::remove_var("HOME"),
        }
    }
    let user = build(f, &input.path);

    // The absolute path the sandbox works on, for the error check.
    let abs = (f.strict_errors
        && !user.is_empty()
        && !user.contains('\0')
        && user.len() <= mcp_servers_core::sandbox::MAX_PATH_BYTES)
        .then(|| {
            let expanded = expand_home(Path::new(&user), home.as_deref());
            if expanded.is_absolute() {
                expanded.into_owned()
            } else {
                roots[0].join(expanded)
            }
        });

    let existing = sandbox.resolve_existing(&user);
    let write = sandbox.resolve_for_write(&user);
    let create_dir = sandbox.resolve_for_create_dir(&user);

    let contract = !f.containment_only;
    match &existing {
        Ok(path) => {
            check_ok("resolve_existing", &user, roots, path);
            if contract {
                assert!(
                    canonical(path),
                    "resolve_existing({user:?}) = {path:?}: not a canonical existing path"
                );
                assert_eq!(
                    write.as_ref().ok(),
                    Some(path),
                    "resolve_existing({user:?}) = {path:?} but resolve_for_write = {write:?}"
                );
            }
        }
        Err(err) => check_err("resolve_existing", &user, roots, abs.as_deref(), err),
    }
    match &write {
        Ok(path) => {
            check_ok("resolve_for_write", &user, roots, path);
            if contract {
                if exists(path) {
                    assert!(
                        canonical(path),
                        "resolve_for_write({user:?}) = {path:?}: exists but is not canonical \
                         (a symlink: writing would go through it)"
                    );
                } else {
                    let parent = path.parent().expect("a plain absolute path below a root");
                    assert!(
                        canonical(parent) && inside(roots, parent),
                        "resolve_for_write({user:?}) = {path:?}: parent is not a canonical \
                         directory inside the roots"
                    );
                }
                assert_eq!(
                    create_dir.as_ref().ok(),
                    Some(path),
                    "resolve_for_write({user:?}) = {path:?} but resolve_for_create_dir = \
                     {create_dir:?}"
                );
            }
        }
        Err(err) => check_err("resolve_for_write", &user, roots, abs.as_deref(), err),
    }
    match &create_dir {
        Ok(path) => {
            check_ok("resolve_for_create_dir", &user, roots, path);
            if contract {
                let ancestor = path.ancestors().find(|a| exists(a)).expect("/ exists");
                assert!(
                    canonical(ancestor) && inside(roots, ancestor),
                    "resolve_for_create_dir({user:?}) = {path:?}: deepest existing ancestor \
                     {ancestor:?} is not canonical and inside the roots"
                );
            }
        }
        Err(err) => check_err("resolve_for_create_dir", &user, roots, abs.as_deref(), err),
    }
});
