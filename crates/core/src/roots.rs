//! The client's MCP roots as the allowed directories of a [`PathSandbox`].
//!
//! When the client declares the `roots` capability, a server asks for its
//! roots after `notifications/initialized` and again on
//! `notifications/roots/list_changed`. What they do depends on the session's
//! [`RootsPolicy`] (`--roots`, see [`RootsArgs`]):
//!
//! - `replace` (the default over stdio): the roots (existing directories
//!   only) replace the allowed set, as the official filesystem server does.
//!   The client runs the server, so it may point it anywhere.
//! - `narrow` (the default over HTTP, where the client is remote): roots may
//!   only narrow the command-line directories. A root inside one is kept, a
//!   root containing some becomes those, a root outside all is dropped. A
//!   client sending `file:///` gets the command-line directories, no more.
//! - `ignore`: roots are never asked for.
//!
//! Roots are deprecated in protocol 2026-07-28, where there is no
//! `initialized` notification; most clients still speak them.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rmcp::RoleServer;
use rmcp::service::Peer;

use crate::cli::{ServeArgs, TransportKind};
use crate::sandbox::PathSandbox;

/// What the client's MCP roots may do to the allowed directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RootsPolicy {
    /// The client's roots replace the command-line directories (the official
    /// filesystem server's behaviour).
    Replace,
    /// The client's roots may only narrow the command-line directories.
    Narrow,
    /// The client's roots are never asked for.
    Ignore,
}

impl RootsPolicy {
    /// The flag's value, as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Narrow => "narrow",
            Self::Ignore => "ignore",
        }
    }
}

/// `--roots`, for servers that touch files to flatten into their `Cli`.
#[derive(Debug, Clone, Default, Args)]
pub struct RootsArgs {
    /// What the client's MCP roots may do to the allowed directories:
    /// `replace` them (the official server's behaviour), only `narrow` them
    /// (a root must be inside a DIR; `file:///` gives the DIRs), or `ignore`
    /// them. Default: replace over stdio, narrow over HTTP.
    #[arg(long = "roots", value_enum, value_name = "POLICY", env = "MCP_ROOTS")]
    pub roots: Option<RootsPolicy>,
}

impl RootsArgs {
    /// The policy in force: the flag, else the transport's default
    /// (stdio: the client runs the server, `replace`; HTTP: the client is
    /// remote, `narrow`).
    pub fn policy(&self, transport: TransportKind) -> RootsPolicy {
        self.roots.unwrap_or(match transport {
            TransportKind::Stdio => RootsPolicy::Replace,
            TransportKind::Http => RootsPolicy::Narrow,
        })
    }

    /// [`policy`](Self::policy), saying on stderr at start-up when it makes
    /// client roots unable to allow anything (`narrow` with no `dirs`).
    pub fn resolve(&self, serve: &ServeArgs, dirs: &[PathBuf]) -> RootsPolicy {
        let policy = self.policy(serve.transport);
        if let Some(note) = startup_note(policy, self.roots.is_none(), dirs) {
            crate::serve::stderr_line(serve.log_format, "WARN", &note);
        }
        policy
    }
}

/// What to say at start-up about `policy` with these command-line `dirs`.
fn startup_note(policy: RootsPolicy, by_default: bool, dirs: &[PathBuf]) -> Option<String> {
    (policy == RootsPolicy::Narrow && dirs.is_empty()).then(|| {
        format!(
            "warning: --roots narrow{} and no DIR: client roots may only narrow the \
             directories given on the command line, and there are none, so no directory \
             will be allowed. Pass DIR arguments, or --roots replace to let clients choose \
             their directories (only for clients you trust).",
            if by_default {
                " (the default over HTTP)"
            } else {
                ""
            }
        )
    })
}

/// For `ServerHandler::on_initialized`: fetch the roots if the client has
/// them (and the policy lets them count), else say on stderr which
/// directories stay in force.
pub async fn on_initialized(sandbox: &PathSandbox, peer: &Peer<RoleServer>) {
    if sandbox.roots_policy() == RootsPolicy::Ignore {
        tracing::info!(
            "Ignoring the client's MCP roots (--roots ignore), using allowed directories set from server args: {}",
            display_roots(sandbox)
        );
        return;
    }
    let supports_roots = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.roots.is_some());
    if supports_roots {
        refresh(sandbox, peer).await;
    } else {
        tracing::warn!(
            "Client does not support MCP Roots, using allowed directories set from server args: {}",
            display_roots(sandbox)
        );
    }
}

/// Asks the client for its roots and makes them the allowed directories, as
/// the sandbox's policy says; with no usable root, the current set stays.
#[allow(deprecated)] // roots/list: deprecated in 2026-07-28, used by today's clients
pub async fn refresh(sandbox: &PathSandbox, peer: &Peer<RoleServer>) {
    if sandbox.roots_policy() == RootsPolicy::Ignore {
        tracing::info!("Not asking for the client's MCP roots (--roots ignore)");
        return;
    }
    let result = match peer.list_roots().await {
        Ok(result) => result,
        Err(e) => {
            tracing::warn!("Failed to request roots from client: {e}");
            return;
        }
    };
    let uris: Vec<&str> = result.roots.iter().map(|root| root.uri.as_str()).collect();
    apply(sandbox, &uris);
}

/// Makes the client's root URIs the sandbox's directories, as its policy
/// says (the synchronous part of [`refresh`]).
pub fn apply(sandbox: &PathSandbox, uris: &[&str]) {
    let mut valid = Vec::new();
    for uri in uris {
        let Some(path) = root_uri_to_path(uri) else {
            tracing::warn!("Skipping invalid root URI: {uri}");
            continue;
        };
        match PathSandbox::canonical_dir(&path) {
            Ok(real) => valid.push(real),
            Err(err) => tracing::warn!(
                "Skipping root that is not an existing directory: {} ({err})",
                path.display()
            ),
        }
    }
    let policy = sandbox.roots_policy();
    if policy == RootsPolicy::Narrow {
        let narrowed = narrow(&valid, sandbox.start_roots());
        for root in &narrowed.dropped {
            tracing::warn!(
                "Skipping root {}: outside the directories given on the command line \
                 (--roots narrow lets client roots only narrow them)",
                root.display()
            );
        }
        valid = narrowed.kept;
    }
    if valid.is_empty() {
        tracing::warn!(
            "No valid root directories provided by client; keeping the current allowed directories: {}",
            display_roots(sandbox)
        );
        return;
    }
    for (path, err) in sandbox.set_roots(valid) {
        tracing::warn!("Skipping root {}: {err}", path.display());
    }
    tracing::info!(
        "Updated allowed directories from MCP roots (--roots {}): {}",
        policy.as_str(),
        display_roots(sandbox)
    );
}

/// Client roots narrowed to the command-line directories.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Narrowed {
    /// The allowed directories: roots inside a command-line directory, and
    /// the command-line directories inside a root; deduplicated, in order.
    pub kept: Vec<PathBuf>,
    /// Roots that share nothing with any command-line directory.
    pub dropped: Vec<PathBuf>,
}

/// Narrows canonical client `roots` to the canonical command-line
/// directories `start`, comparing whole components: a root inside one is
/// kept, a root containing some becomes those, any other is dropped. With no
/// `start`, everything is dropped.
pub fn narrow(roots: &[PathBuf], start: &[PathBuf]) -> Narrowed {
    fn keep(kept: &mut Vec<PathBuf>, path: &Path) {
        if !kept.iter().any(|k| k == path) {
            kept.push(path.to_path_buf());
        }
    }
    let mut narrowed = Narrowed::default();
    for root in roots {
        if start.iter().any(|dir| root.starts_with(dir)) {
            keep(&mut narrowed.kept, root);
            continue;
        }
        let inside: Vec<&PathBuf> = start.iter().filter(|dir| dir.starts_with(root)).collect();
        if inside.is_empty() {
            narrowed.dropped.push(root.clone());
        }
        for dir in inside {
            keep(&mut narrowed.kept, dir);
        }
    }
    narrowed
}

/// The local path of a root URI: `file://` URIs are percent-decoded
/// (`file:///a%20b`, `file://localhost/a`); a bare path is taken as is.
pub fn root_uri_to_path(uri: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let Some(rest) = uri.strip_prefix("file://") else {
        return (!uri.is_empty() && !uri.contains("://")).then(|| PathBuf::from(uri));
    };
    let path = match rest.strip_prefix("localhost") {
        Some(after) if after.starts_with('/') => after,
        _ => rest,
    };
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    if bytes.contains(&0) {
        return None;
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// The allowed directories, comma-separated, or `(none)`.
pub fn display_roots(sandbox: &PathSandbox) -> String {
    let roots = sandbox.roots();
    if roots.is_empty() {
        return "(none)".to_owned();
    }
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_uris_are_decoded() {
        assert_eq!(
            root_uri_to_path("file:///tmp/a%20b/%C3%A9"),
            Some(PathBuf::from("/tmp/a b/é"))
        );
        assert_eq!(
            root_uri_to_path("file://localhost/srv"),
            Some(PathBuf::from("/srv"))
        );
        assert_eq!(
            root_uri_to_path("/plain/path"),
            Some(PathBuf::from("/plain/path"))
        );
        assert_eq!(root_uri_to_path("https://example.com/x"), None);
        assert_eq!(root_uri_to_path("file://host/x"), None);
        assert_eq!(root_uri_to_path("file:///a%00b"), None);
        assert_eq!(root_uri_to_path(""), None);
    }

    #[test]
    fn policy_defaults_to_replace_over_stdio_and_narrow_over_http() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            roots: RootsArgs,
        }
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
                .map(|cli| cli.roots)
        };
        let default = parse(&[]).unwrap();
        assert_eq!(default.policy(TransportKind::Stdio), RootsPolicy::Replace);
        assert_eq!(default.policy(TransportKind::Http), RootsPolicy::Narrow);
        for policy in [
            RootsPolicy::Replace,
            RootsPolicy::Narrow,
            RootsPolicy::Ignore,
        ] {
            let args = parse(&["--roots", policy.as_str()]).unwrap();
            for transport in [TransportKind::Stdio, TransportKind::Http] {
                assert_eq!(args.policy(transport), policy);
            }
        }
        assert!(parse(&["--roots", "widen"]).is_err());
    }

    #[test]
    fn startup_note_only_when_narrow_can_allow_nothing() {
        let dir = vec![PathBuf::from("/srv")];
        let note = startup_note(RootsPolicy::Narrow, true, &[]).unwrap();
        assert!(
            note.starts_with("warning: --roots narrow (the default over HTTP) and no DIR:"),
            "{note}"
        );
        assert!(note.contains("no directory will be allowed"), "{note}");
        let note = startup_note(RootsPolicy::Narrow, false, &[]).unwrap();
        assert!(
            note.starts_with("warning: --roots narrow and no DIR:"),
            "{note}"
        );
        assert_eq!(startup_note(RootsPolicy::Narrow, true, &dir), None);
        assert_eq!(startup_note(RootsPolicy::Replace, true, &[]), None);
        assert_eq!(startup_note(RootsPolicy::Ignore, false, &[]), None);
    }

    #[test]
    fn narrow_keeps_inside_expands_containing_and_drops_outside() {
        let p = PathBuf::from;
        let start = [p("/srv/a"), p("/srv/b"), p("/home/me/proj")];
        let roots = [
            p("/srv/a/sub"),      // inside: kept
            p("/"),               // contains all: all of them
            p("/srv/a-evil"),     // sibling prefix: dropped
            p("/etc"),            // outside: dropped
            p("/srv/b"),          // equal: kept (already there)
            p("/home"),           // contains one
            p("/srv/a/sub/deep"), // inside, kept as asked
        ];
        assert_eq!(
            narrow(&roots, &start),
            Narrowed {
                kept: vec![
                    p("/srv/a/sub"),
                    p("/srv/a"),
                    p("/srv/b"),
                    p("/home/me/proj"),
                    p("/srv/a/sub/deep")
                ],
                dropped: vec![p("/srv/a-evil"), p("/etc")],
            }
        );
        // No command-line directories: nothing can be allowed.
        let none = narrow(&[p("/"), p("/srv/a")], &[]);
        assert!(none.kept.is_empty());
        assert_eq!(none.dropped, vec![p("/"), p("/srv/a")]);
    }

    fn file_uri(path: &Path) -> String {
        format!("file://{}", path.display())
    }

    #[test]
    fn apply_follows_the_sandbox_policy() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let cli = base.join("cli");
        let inner = cli.join("inner");
        let other = base.join("other");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let start = vec![cli.clone()];
        let roots_of = |sandbox: &PathSandbox| sandbox.roots().to_vec();

        // replace: the client's roots, wherever they are.
        let sandbox = PathSandbox::for_session_with_policy(&start, RootsPolicy::Replace);
        apply(&sandbox, &["file:///"]);
        assert_eq!(roots_of(&sandbox), vec![PathBuf::from("/")]);
        apply(&sandbox, &[&file_uri(&other)]);
        assert_eq!(roots_of(&sandbox), vec![other.clone()]);

        // narrow: never beyond the command line.
        let sandbox = PathSandbox::for_session_with_policy(&start, RootsPolicy::Narrow);
        assert_eq!(sandbox.start_roots(), start.as_slice());
        apply(&sandbox, &["file:///"]);
        assert_eq!(roots_of(&sandbox), start);
        apply(&sandbox, &[&file_uri(&inner)]);
        assert_eq!(roots_of(&sandbox), vec![inner.clone()]);
        // Back out to the whole command-line directory (narrowing is from
        // the start, not from the last set), outside roots dropped.
        apply(&sandbox, &[&file_uri(&other), &file_uri(&base)]);
        assert_eq!(roots_of(&sandbox), start);
        // Only outside roots: the current set stays.
        apply(&sandbox, &[&file_uri(&inner)]);
        apply(&sandbox, &[&file_uri(&other), "file:///etc"]);
        assert_eq!(roots_of(&sandbox), vec![inner.clone()]);
        // A symlink into the command-line directory counts where it leads.
        let link = base.join("link");
        std::os::unix::fs::symlink(&inner, &link).unwrap();
        apply(&sandbox, &[&file_uri(&link)]);
        assert_eq!(roots_of(&sandbox), vec![inner.clone()]);
        let escape = inner.join("escape");
        std::os::unix::fs::symlink(&other, &escape).unwrap();
        apply(&sandbox, &[&file_uri(&escape)]);
        assert_eq!(roots_of(&sandbox), vec![inner.clone()]);

        // narrow with no command-line directory: nothing, ever.
        let sandbox = PathSandbox::for_session_with_policy(&[], RootsPolicy::Narrow);
        apply(&sandbox, &["file:///", &file_uri(&cli)]);
        assert!(roots_of(&sandbox).is_empty());

        // The policy-less constructor keeps the official behaviour.
        assert_eq!(
            PathSandbox::for_session(&start).roots_policy(),
            RootsPolicy::Replace
        );
    }

    #[test]
    fn display_lists_roots_or_none() {
        assert_eq!(display_roots(&PathSandbox::empty()), "(none)");
        let dir = tempfile::tempdir().unwrap();
        let sandbox = PathSandbox::new(&[dir.path()]).unwrap();
        let shown = display_roots(&sandbox);
        assert_eq!(
            shown,
            dir.path().canonicalize().unwrap().display().to_string()
        );
    }
}
