//! The one place where a user-supplied path becomes a path a server may touch.
//!
//! Servers may only read and write under their allowed directories (roots).
//! Containment is decided on real paths (symlinks resolved by the filesystem,
//! `..` evaluated where it stands) and compared component by component, which
//! defeats the escapes of the official Node filesystem server:
//! CVE-2025-53110 (a string-prefix check let `/srv/allowed-evil` pass for
//! `/srv/allowed`) and CVE-2025-53109 (a symlink inside a root pointing
//! outside was followed).
//!
//! What is left is the usual time-of-check/time-of-use window: a path
//! resolved here can be swapped for a symlink before it is opened. Writers
//! narrow it by refusing to replace symlinks (see `fsutil::atomic_write`).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::roots::RootsPolicy;

/// Longest user path accepted, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a path was refused. The messages are shown to models and users as is.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The real path is not under any root.
    #[error(
        "Access denied - path outside allowed directories: {} not in {}",
        .path.display(),
        join_paths(.roots)
    )]
    Outside {
        path: PathBuf,
        roots: Arc<[PathBuf]>,
    },
    /// No root is set yet (none on the command line, none from the client).
    #[error(
        "No allowed directories are set: pass directories on the command line \
         (e.g. {} /path/to/dir) or use a client that provides MCP roots",
        program_name()
    )]
    NoRoots,
    /// The path does not exist (the official server's wording).
    #[error("ENOENT: no such file or directory, '{}'", .path.display())]
    NotFound { path: PathBuf },
    /// A file to write is in a directory that does not exist.
    #[error("Parent directory does not exist: {}", .parent.display())]
    ParentMissing { parent: PathBuf },
    /// Empty, NUL byte, too long, or `..` after a missing directory.
    #[error("Invalid path: {0}")]
    InvalidPath(String),
    /// Resolving the path met a symlink loop (ELOOP).
    #[error("Too many levels of symbolic links (is there a symlink loop?): {}", .path.display())]
    SymlinkLoop { path: PathBuf },
    /// Writing would go through a symlink whose target does not exist.
    #[error(
        "Refusing to write through a dangling symbolic link: {} (its target does not exist)",
        .path.display()
    )]
    DanglingSymlink { path: PathBuf },
    /// A root given to the sandbox does not exist.
    #[error("{} does not exist", .path.display())]
    RootMissing { path: PathBuf },
    /// A root given to the sandbox is not a directory.
    #[error("{} is not a directory", .path.display())]
    RootNotDirectory { path: PathBuf },
    /// Any other I/O error, with the path it happened on.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// This binary's name, so the "no roots" message names the server in use.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "the server".to_owned())
}

/// The allowed directories of a server, replaceable at run time when the
/// client sends its roots (as far as its [`RootsPolicy`] lets it).
#[derive(Debug)]
pub struct PathSandbox {
    /// Canonical, deduplicated, in the order given. Swapped whole so that one
    /// resolution always sees one consistent set.
    roots: RwLock<Arc<[PathBuf]>>,
    /// The directories it started from (the command line's), canonical:
    /// what `RootsPolicy::Narrow` narrows.
    start: Arc<[PathBuf]>,
    /// What the client's roots may do to the allowed directories.
    policy: RootsPolicy,
}

impl PathSandbox {
    /// Each root must exist and be a directory; stored canonicalized (symlinks
    /// resolved), deduplicated, order kept. `~` and `~/x` expand to `$HOME`.
    pub fn new<P: AsRef<Path>>(roots: &[P]) -> Result<Self, SandboxError> {
        let home = home_dir();
        let mut canonical: Vec<PathBuf> = Vec::with_capacity(roots.len());
        for root in roots {
            let root = canonical_root(root.as_ref(), home.as_deref())?;
            if !canonical.contains(&root) {
                canonical.push(root);
            }
        }
        let canonical: Arc<[PathBuf]> = canonical.into();
        Ok(Self {
            roots: RwLock::new(canonical.clone()),
            start: canonical,
            policy: RootsPolicy::Replace,
        })
    }

    /// A session's sandbox, starting from directories validated at start-up,
    /// whose client roots replace them (the official filesystem server's
    /// behaviour); see [`for_session_with_policy`](Self::for_session_with_policy).
    pub fn for_session(roots: &[PathBuf]) -> Self {
        Self::for_session_with_policy(roots, RootsPolicy::Replace)
    }

    /// A session's sandbox, starting from directories validated at start-up:
    /// one that has gone since is skipped with a warning, not an error, so a
    /// session still starts (its client may send roots). `policy` says what
    /// the client's roots may do to them (see `roots::refresh`).
    pub fn for_session_with_policy(roots: &[PathBuf], policy: RootsPolicy) -> Self {
        let mut sandbox = Self::empty();
        for (path, err) in sandbox.set_roots(roots.to_vec()) {
            tracing::warn!("allowed directory {} is gone: {err}", path.display());
        }
        sandbox.start = sandbox.roots();
        sandbox.policy = policy;
        sandbox
    }

    /// No roots yet (waiting for client roots): every resolve fails with
    /// [`SandboxError::NoRoots`].
    pub fn empty() -> Self {
        Self {
            roots: RwLock::new(Arc::from(Vec::new())),
            start: Arc::from(Vec::new()),
            policy: RootsPolicy::Replace,
        }
    }

    /// What the client's MCP roots may do to this sandbox's directories.
    pub fn roots_policy(&self) -> RootsPolicy {
        self.policy
    }

    /// The directories this sandbox started from (canonical), whatever
    /// the client's roots did since.
    pub fn start_roots(&self) -> &[PathBuf] {
        &self.start
    }

    /// The canonical path of a directory that could become a root (`~`
    /// expanded, symlinks resolved), or why it cannot.
    pub fn canonical_dir(path: &Path) -> Result<PathBuf, SandboxError> {
        canonical_root(path, home_dir().as_deref())
    }

    /// The current roots, canonical.
    pub fn roots(&self) -> Arc<[PathBuf]> {
        // The lock only guards an `Arc` swap, so a poisoned lock still holds a
        // consistent value.
        self.roots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the roots; invalid entries (missing, not a directory) are
    /// skipped and returned so the caller can log them. If every entry is
    /// invalid the sandbox ends up empty, as the client asked.
    pub fn set_roots(&self, roots: Vec<PathBuf>) -> Vec<(PathBuf, SandboxError)> {
        let home = home_dir();
        let mut valid: Vec<PathBuf> = Vec::with_capacity(roots.len());
        let mut rejected = Vec::new();
        for root in roots {
            match canonical_root(&root, home.as_deref()) {
                Ok(real) => {
                    if !valid.contains(&real) {
                        valid.push(real);
                    }
                }
                Err(err) => rejected.push((root, err)),
            }
        }
        *self.roots.write().unwrap_or_else(PoisonError::into_inner) = valid.into();
        rejected
    }

    /// An existing path: returns its canonical real path, which must be inside
    /// a root.
    ///
    /// A relative path is resolved against the FIRST root; `~` and `~/x`
    /// expand to `$HOME`.
    pub fn resolve_existing(&self, user_path: &str) -> Result<PathBuf, SandboxError> {
        self.resolve_existing_with_home(user_path, home_dir().as_deref())
    }

    /// A path that may not exist yet (a file to create or write).
    ///
    /// If the path exists (even as a symlink) it is resolved like
    /// [`resolve_existing`](Self::resolve_existing): a symlink pointing outside
    /// is refused, and so is a dangling one, since writing through it would
    /// create its target wherever that is. Otherwise the real path of its
    /// parent must be inside a root, and the file name is appended. A missing
    /// parent is [`SandboxError::ParentMissing`] (use
    /// [`resolve_for_create_dir`](Self::resolve_for_create_dir) to create
    /// directories).
    ///
    /// A relative path is resolved against the FIRST root.
    pub fn resolve_for_write(&self, user_path: &str) -> Result<PathBuf, SandboxError> {
        self.resolve_new_with_home(user_path, home_dir().as_deref(), false)
    }

    /// Like [`resolve_for_write`](Self::resolve_for_write), but any number of
    /// trailing components may be missing (for `mkdir -p`): the real path of
    /// the nearest existing ancestor must be inside a root, and the missing
    /// components, which must be plain names (no `..`), are appended.
    pub fn resolve_for_create_dir(&self, user_path: &str) -> Result<PathBuf, SandboxError> {
        self.resolve_new_with_home(user_path, home_dir().as_deref(), true)
    }

    /// Whether an already-canonical path is inside a root, compared component
    /// by component (`/srv/allowed-evil` is not inside `/srv/allowed`).
    pub fn contains(&self, real_path: &Path) -> bool {
        is_inside(&self.roots(), real_path)
    }

    fn resolve_existing_with_home(
        &self,
        user_path: &str,
        home: Option<&Path>,
    ) -> Result<PathBuf, SandboxError> {
        let (roots, abs) = self.absolute(user_path, home)?;
        match fs::canonicalize(&abs) {
            Ok(real) => check_inside(real, roots),
            Err(err) => Err(resolution_error(roots, abs, err)),
        }
    }

    fn resolve_new_with_home(
        &self,
        user_path: &str,
        home: Option<&Path>,
        allow_missing_parents: bool,
    ) -> Result<PathBuf, SandboxError> {
        let (roots, abs) = self.absolute(user_path, home)?;
        // Without a trailing slash: `link/` would make `symlink_metadata`
        // follow a dangling link and see nothing there to refuse.
        let abs: PathBuf = abs.components().collect();
        match fs::symlink_metadata(&abs) {
            Ok(meta) => {
                return match fs::canonicalize(&abs) {
                    Ok(real) => check_inside(real, roots),
                    Err(err) if err.kind() == io::ErrorKind::NotFound && meta.is_symlink() => {
                        let dangling = SandboxError::DanglingSymlink { path: abs.clone() };
                        Err(outside_or(roots, abs, dangling))
                    }
                    Err(err) => Err(resolution_error(roots, abs, err)),
                };
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(resolution_error(roots, abs, err)),
        }

        // Walk up to the nearest entry that exists. `symlink_metadata` sees a
        // dangling symlink as existing, so it is caught by `canonicalize` below
        // instead of being created through.
        let mut missing: Vec<&OsStr> = Vec::new();
        let mut ancestor = abs.as_path();
        loop {
            match ancestor.components().next_back() {
                Some(Component::Normal(name)) => missing.push(name),
                Some(Component::ParentDir) => {
                    let invalid = SandboxError::InvalidPath(format!(
                        "{}: '..' follows a directory that does not exist",
                        abs.display()
                    ));
                    return Err(outside_or(roots, abs.clone(), invalid));
                }
                _ => return Err(SandboxError::NotFound { path: abs.clone() }),
            }
            let Some(parent) = ancestor.parent() else {
                return Err(SandboxError::NotFound { path: abs.clone() });
            };
            ancestor = parent;
            match fs::symlink_metadata(ancestor) {
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(resolution_error(roots, ancestor.to_path_buf(), err)),
            }
        }

        let real_ancestor = match fs::canonicalize(ancestor) {
            Ok(real) => real,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let dangling = SandboxError::DanglingSymlink {
                    path: ancestor.to_path_buf(),
                };
                return Err(outside_or(roots, abs.clone(), dangling));
            }
            Err(err) => return Err(resolution_error(roots, ancestor.to_path_buf(), err)),
        };
        let mut real = real_ancestor;
        if !is_inside(&roots, &real) {
            real.extend(missing.iter().rev());
            return Err(SandboxError::Outside { path: real, roots });
        }
        missing.reverse();
        if let [parents @ .., _] = missing.as_slice()
            && !allow_missing_parents
            && !parents.is_empty()
        {
            real.extend(parents);
            return Err(SandboxError::ParentMissing { parent: real });
        }
        real.extend(missing);
        Ok(real)
    }

    /// Checks the raw input and makes it absolute: `~` expanded, relative
    /// paths joined to the first root. Returns the roots snapshot it used.
    fn absolute(
        &self,
        user_path: &str,
        home: Option<&Path>,
    ) -> Result<(Arc<[PathBuf]>, PathBuf), SandboxError> {
        let roots = self.roots();
        let Some(first) = roots.first() else {
            return Err(SandboxError::NoRoots);
        };
        validate_user_path(user_path)?;
        let expanded = expand_home(Path::new(user_path), home);
        let abs = if expanded.is_absolute() {
            expanded.into_owned()
        } else {
            first.join(expanded)
        };
        Ok((roots, abs))
    }
}

/// Expands a leading `~` or `~/` to `home`; anything else (`~user`, a `~`
/// further in) is returned unchanged, as it is without a home directory.
pub fn expand_home<'a>(path: &'a Path, home: Option<&Path>) -> Cow<'a, Path> {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) if rest.as_os_str().is_empty() => Cow::Owned(home.to_path_buf()),
        (Ok(rest), Some(home)) => Cow::Owned(home.join(rest)),
        _ => Cow::Borrowed(path),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

fn validate_user_path(user_path: &str) -> Result<(), SandboxError> {
    if user_path.is_empty() {
        return Err(SandboxError::InvalidPath("the path is empty".to_owned()));
    }
    if user_path.len() > MAX_PATH_BYTES {
        return Err(SandboxError::InvalidPath(format!(
            "the path is {} bytes long, over the {MAX_PATH_BYTES}-byte limit",
            user_path.len()
        )));
    }
    if user_path.contains('\0') {
        return Err(SandboxError::InvalidPath(format!(
            "the path contains a NUL byte: {user_path:?}"
        )));
    }
    Ok(())
}

fn canonical_root(root: &Path, home: Option<&Path>) -> Result<PathBuf, SandboxError> {
    let expanded = expand_home(root, home);
    let real = fs::canonicalize(&expanded).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => SandboxError::RootMissing {
            path: expanded.to_path_buf(),
        },
        _ if is_loop(&err) => SandboxError::SymlinkLoop {
            path: expanded.to_path_buf(),
        },
        _ => SandboxError::Io {
            path: expanded.to_path_buf(),
            source: err,
        },
    })?;
    let meta = fs::metadata(&real).map_err(|err| SandboxError::Io {
        path: expanded.to_path_buf(),
        source: err,
    })?;
    if !meta.is_dir() {
        return Err(SandboxError::RootNotDirectory {
            path: expanded.into_owned(),
        });
    }
    Ok(real)
}

fn is_inside(roots: &[PathBuf], real_path: &Path) -> bool {
    roots.iter().any(|root| real_path.starts_with(root))
}

fn check_inside(real: PathBuf, roots: Arc<[PathBuf]>) -> Result<PathBuf, SandboxError> {
    if is_inside(&roots, &real) {
        Ok(real)
    } else {
        Err(SandboxError::Outside { path: real, roots })
    }
}

/// Maps a failure to resolve `abs`. A path whose deepest resolvable prefix is
/// outside the roots is reported as outside whatever the failure, so that
/// errors do not tell which paths exist outside.
fn resolution_error(roots: Arc<[PathBuf]>, abs: PathBuf, err: io::Error) -> SandboxError {
    let deepest_real = abs
        .ancestors()
        .skip(1)
        .find_map(|prefix| fs::canonicalize(prefix).ok());
    if deepest_real.is_some_and(|real| !is_inside(&roots, &real)) {
        return SandboxError::Outside { path: abs, roots };
    }
    if err.kind() == io::ErrorKind::NotFound {
        SandboxError::NotFound { path: abs }
    } else if is_loop(&err) {
        SandboxError::SymlinkLoop { path: abs }
    } else {
        SandboxError::Io {
            path: abs,
            source: err,
        }
    }
}

/// `error`, unless the deepest resolvable prefix of `abs` is outside the
/// roots: then "outside", so that errors do not tell what exists there.
fn outside_or(roots: Arc<[PathBuf]>, abs: PathBuf, error: SandboxError) -> SandboxError {
    match resolution_error(roots, abs, io::ErrorKind::NotFound.into()) {
        outside @ SandboxError::Outside { .. } => outside,
        _ => error,
    }
}

fn is_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

fn join_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    use tempfile::TempDir;

    /// `base/allowed` (the root, with `file.txt` and `sub/nested.txt`),
    /// `base/allowed-evil/file.txt` and `base/outside/secret.txt`, all canonical.
    struct Fixture {
        _tmp: TempDir,
        base: PathBuf,
        root: PathBuf,
        outside: PathBuf,
        sandbox: PathSandbox,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        let root = base.join("allowed");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(base.join("allowed-evil")).unwrap();
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::write(root.join("file.txt"), "inside").unwrap();
        fs::write(root.join("sub/nested.txt"), "nested").unwrap();
        fs::write(base.join("allowed-evil/file.txt"), "evil").unwrap();
        fs::write(outside.join("secret.txt"), "secret").unwrap();
        let sandbox = PathSandbox::new(&[&root]).unwrap();
        Fixture {
            _tmp: tmp,
            base,
            root,
            outside,
            sandbox,
        }
    }

    fn s(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    fn assert_outside(result: Result<PathBuf, SandboxError>) {
        match result {
            Err(SandboxError::Outside { .. }) => {}
            other => panic!("expected Outside, got {other:?}"),
        }
    }

    #[test]
    fn sandbox_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PathSandbox>();
        assert_send_sync::<SandboxError>();
    }

    #[test]
    fn file_inside_resolves_to_its_real_path() {
        let f = fixture();
        let path = f.root.join("file.txt");
        assert_eq!(f.sandbox.resolve_existing(s(&path)).unwrap(), path);
        assert_eq!(f.sandbox.resolve_for_write(s(&path)).unwrap(), path);
        assert_eq!(f.sandbox.resolve_existing(s(&f.root)).unwrap(), f.root);
    }

    #[test]
    fn nested_file_resolves() {
        let f = fixture();
        let path = f.root.join("sub/nested.txt");
        assert_eq!(f.sandbox.resolve_existing(s(&path)).unwrap(), path);
        let trailing = format!("{}/sub/", f.root.display());
        assert_eq!(
            f.sandbox.resolve_existing(&trailing).unwrap(),
            f.root.join("sub")
        );
    }

    #[test]
    fn dotdot_staying_inside_is_allowed() {
        let f = fixture();
        let path = format!("{}/sub/../file.txt", f.root.display());
        assert_eq!(
            f.sandbox.resolve_existing(&path).unwrap(),
            f.root.join("file.txt")
        );
        let new = format!("{}/sub/./../new.txt", f.root.display());
        assert_eq!(
            f.sandbox.resolve_for_write(&new).unwrap(),
            f.root.join("new.txt")
        );
    }

    #[test]
    fn dotdot_escaping_is_refused() {
        let f = fixture();
        let escape = format!("{}/../outside/secret.txt", f.root.display());
        assert_outside(f.sandbox.resolve_existing(&escape));
        assert_outside(f.sandbox.resolve_for_write(&escape));
        assert_outside(
            f.sandbox
                .resolve_existing(&format!("{}/..", f.root.display())),
        );
        assert_outside(f.sandbox.resolve_existing("../outside/secret.txt"));
        assert_outside(f.sandbox.resolve_for_write("sub/../../outside/new.txt"));
        assert_outside(f.sandbox.resolve_for_create_dir("../outside/a/b"));
    }

    #[test]
    fn absolute_path_outside_is_refused() {
        let f = fixture();
        assert_outside(f.sandbox.resolve_existing("/etc/passwd"));
        assert_outside(f.sandbox.resolve_for_write("/etc/passwd"));
        assert_outside(
            f.sandbox
                .resolve_for_write("/etc/mcp-sandbox-test-new-file"),
        );
        assert_outside(f.sandbox.resolve_existing(s(&f.outside.join("secret.txt"))));
        assert_outside(f.sandbox.resolve_existing("/"));
    }

    #[test]
    fn missing_path_outside_is_reported_as_outside_not_as_missing() {
        // Otherwise the error would tell which outside paths exist.
        let f = fixture();
        assert_outside(
            f.sandbox
                .resolve_existing(s(&f.outside.join("missing.txt"))),
        );
        assert_outside(
            f.sandbox
                .resolve_existing(s(&f.outside.join("secret.txt/x"))),
        );
        assert_outside(
            f.sandbox
                .resolve_for_write(s(&f.outside.join("secret.txt/x"))),
        );
    }

    #[test]
    fn prefix_sibling_of_a_root_is_refused() {
        let f = fixture();
        let evil = f.base.join("allowed-evil");
        assert_outside(f.sandbox.resolve_existing(s(&evil.join("file.txt"))));
        assert_outside(f.sandbox.resolve_existing(s(&evil)));
        assert_outside(f.sandbox.resolve_for_write(s(&evil.join("new.txt"))));
        assert_outside(f.sandbox.resolve_for_create_dir(s(&evil.join("d"))));
        assert!(!f.sandbox.contains(&evil));
        assert!(!f.sandbox.contains(&evil.join("file.txt")));
    }

    #[test]
    fn contains_compares_components() {
        let f = fixture();
        assert!(f.sandbox.contains(&f.root));
        assert!(f.sandbox.contains(&f.root.join("a/b")));
        assert!(!f.sandbox.contains(&f.base));
        assert!(!f.sandbox.contains(&f.base.join("allowedx")));
        assert!(!f.sandbox.contains(&f.base.join("allowed-evil")));
        assert!(!f.sandbox.contains(Path::new("/")));
    }

    #[test]
    fn symlink_to_outside_file_is_refused() {
        let f = fixture();
        let link = f.root.join("link.txt");
        symlink(f.outside.join("secret.txt"), &link).unwrap();
        assert_outside(f.sandbox.resolve_existing(s(&link)));
        assert_outside(f.sandbox.resolve_existing("link.txt"));
        assert_outside(f.sandbox.resolve_for_write(s(&link)));
        // The message names the real target, so the refusal makes sense.
        let message = f
            .sandbox
            .resolve_existing(s(&link))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(s(&f.outside.join("secret.txt"))),
            "{message}"
        );
    }

    #[test]
    fn symlink_to_outside_dir_is_refused() {
        let f = fixture();
        let link = f.root.join("linkdir");
        symlink(&f.outside, &link).unwrap();
        assert_outside(f.sandbox.resolve_existing(s(&link)));
        assert_outside(f.sandbox.resolve_existing(s(&link.join("secret.txt"))));
        assert_outside(f.sandbox.resolve_existing(s(&link.join("missing.txt"))));
        // A new file under a symlinked parent pointing outside.
        assert_outside(f.sandbox.resolve_for_write(s(&link.join("new.txt"))));
        assert_outside(f.sandbox.resolve_for_write(s(&link.join("sub/new.txt"))));
        assert_outside(f.sandbox.resolve_for_create_dir(s(&link.join("a/b/c"))));
        assert!(!f.outside.join("new.txt").exists());
    }

    #[test]
    fn symlink_staying_inside_resolves_to_its_target() {
        let f = fixture();
        symlink(f.root.join("sub/nested.txt"), f.root.join("ln.txt")).unwrap();
        symlink("sub", f.root.join("lnsub")).unwrap();
        let target = f.root.join("sub/nested.txt");
        assert_eq!(f.sandbox.resolve_existing("ln.txt").unwrap(), target);
        assert_eq!(f.sandbox.resolve_for_write("ln.txt").unwrap(), target);
        assert_eq!(
            f.sandbox.resolve_existing("lnsub/nested.txt").unwrap(),
            target
        );
        assert_eq!(
            f.sandbox.resolve_for_write("lnsub/new.txt").unwrap(),
            f.root.join("sub/new.txt")
        );
    }

    #[test]
    fn dotdot_after_a_symlinked_dir_is_evaluated_on_the_real_filesystem() {
        let f = fixture();
        // link -> outside/sub, so link/.. is outside, not the root. A lexical
        // normaliser would turn link/../secret.txt into root/secret.txt, which
        // exists too, and wrongly accept it.
        symlink(f.outside.join("sub"), f.root.join("link")).unwrap();
        fs::write(f.root.join("secret.txt"), "decoy").unwrap();
        assert_outside(f.sandbox.resolve_existing("link/../secret.txt"));
        assert_outside(f.sandbox.resolve_for_write("link/../secret.txt"));
        assert_outside(f.sandbox.resolve_for_write("link/../new.txt"));
        assert_outside(f.sandbox.resolve_for_create_dir("link/../newdir/deeper"));
        let message = f
            .sandbox
            .resolve_existing("link/../secret.txt")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(s(&f.outside.join("secret.txt"))),
            "{message}"
        );
    }

    #[test]
    fn a_trailing_slash_does_not_hide_a_dangling_symlink() {
        // Found by the sandbox_resolve fuzz target: with `/`, the link was
        // followed, found missing, and treated as a new name.
        let f = fixture();
        symlink(f.root.join("nothing"), f.root.join("dangling")).unwrap();
        symlink(f.outside.join("nothing"), f.root.join("dangling-out")).unwrap();
        for name in ["dangling/", "dangling-out/", "dangling//"] {
            for result in [
                f.sandbox.resolve_for_write(name),
                f.sandbox.resolve_for_create_dir(name),
            ] {
                assert!(
                    matches!(result, Err(SandboxError::DanglingSymlink { .. })),
                    "{name}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn errors_do_not_tell_what_exists_outside() {
        // Found by the sandbox_resolve fuzz target: '..' after a missing
        // name, and a dangling link, answered differently outside the roots
        // depending on what exists there.
        let f = fixture();
        fs::create_dir(f.outside.join("present")).unwrap();
        symlink(f.outside.join("nothing"), f.outside.join("dangling")).unwrap();
        let outside = s(&f.outside);
        for path in [
            format!("{outside}/missing/.."),
            format!("{outside}/present/.."),
            format!("{outside}/dangling"),
            format!("{outside}/dangling/x"),
        ] {
            assert_outside(f.sandbox.resolve_for_write(&path));
            assert_outside(f.sandbox.resolve_for_create_dir(&path));
        }
    }

    #[test]
    fn dangling_symlink_is_refused_for_write() {
        let f = fixture();
        symlink(f.outside.join("nothing.txt"), f.root.join("out")).unwrap();
        symlink(f.root.join("nothing.txt"), f.root.join("in")).unwrap();
        symlink(f.outside.join("nodir"), f.root.join("outdir")).unwrap();
        for name in ["out", "in"] {
            match f.sandbox.resolve_for_write(name) {
                Err(SandboxError::DanglingSymlink { path }) => assert_eq!(path, f.root.join(name)),
                other => panic!("{name}: expected DanglingSymlink, got {other:?}"),
            }
            match f.sandbox.resolve_existing(name) {
                Err(SandboxError::NotFound { .. }) => {}
                other => panic!("{name}: expected NotFound, got {other:?}"),
            }
        }
        // A dangling symlink as a missing file's parent.
        match f.sandbox.resolve_for_create_dir("outdir/x/y") {
            Err(SandboxError::DanglingSymlink { path }) => assert_eq!(path, f.root.join("outdir")),
            other => panic!("expected DanglingSymlink, got {other:?}"),
        }
        let message = f.sandbox.resolve_for_write("out").unwrap_err().to_string();
        assert!(message.starts_with("Refusing to write through a dangling symbolic link: "));
        assert!(!f.outside.join("nothing.txt").exists());
    }

    #[test]
    fn symlink_loop_is_reported_not_hung_on() {
        let f = fixture();
        symlink(f.root.join("b"), f.root.join("a")).unwrap();
        symlink(f.root.join("a"), f.root.join("b")).unwrap();
        symlink("self", f.root.join("self")).unwrap();
        for path in ["a", "self"] {
            for result in [
                f.sandbox.resolve_existing(path),
                f.sandbox.resolve_for_write(path),
            ] {
                assert!(
                    matches!(result, Err(SandboxError::SymlinkLoop { .. })),
                    "{path}: {result:?}"
                );
            }
        }
        for result in [
            f.sandbox.resolve_existing("a/x"),
            f.sandbox.resolve_for_write("a/x"),
            f.sandbox.resolve_for_create_dir("self/x/y"),
        ] {
            assert!(
                matches!(result, Err(SandboxError::SymlinkLoop { .. })),
                "{result:?}"
            );
        }
        let message = f.sandbox.resolve_existing("a").unwrap_err().to_string();
        assert!(message.contains("symlink loop"), "{message}");
    }

    #[test]
    fn relative_paths_resolve_against_the_first_root() {
        let f = fixture();
        let second = f.base.join("second");
        fs::create_dir(&second).unwrap();
        fs::write(second.join("only2.txt"), "2").unwrap();
        let sandbox = PathSandbox::new(&[&f.root, &second]).unwrap();
        assert_eq!(
            sandbox.resolve_existing("file.txt").unwrap(),
            f.root.join("file.txt")
        );
        assert_eq!(
            sandbox.resolve_existing("./sub/nested.txt").unwrap(),
            f.root.join("sub/nested.txt")
        );
        assert_eq!(sandbox.resolve_existing(".").unwrap(), f.root);
        assert_eq!(
            sandbox.resolve_for_write("new.txt").unwrap(),
            f.root.join("new.txt")
        );
        match sandbox.resolve_existing("only2.txt") {
            Err(SandboxError::NotFound { path }) => assert_eq!(path, f.root.join("only2.txt")),
            other => panic!("expected NotFound, got {other:?}"),
        }
        // With the roots swapped, the same relative path lands in the other one.
        let swapped = PathSandbox::new(&[&second, &f.root]).unwrap();
        assert_eq!(
            swapped.resolve_existing("only2.txt").unwrap(),
            second.join("only2.txt")
        );
    }

    #[test]
    fn home_expansion() {
        let home = Path::new("/home/me");
        assert_eq!(
            expand_home(Path::new("~"), Some(home)),
            Path::new("/home/me")
        );
        assert_eq!(
            expand_home(Path::new("~/"), Some(home)),
            Path::new("/home/me")
        );
        assert_eq!(
            expand_home(Path::new("~/a/b"), Some(home)),
            Path::new("/home/me/a/b")
        );
        assert_eq!(
            expand_home(Path::new("~user/a"), Some(home)),
            Path::new("~user/a")
        );
        assert_eq!(expand_home(Path::new("a/~"), Some(home)), Path::new("a/~"));
        assert_eq!(
            expand_home(Path::new("/~/a"), Some(home)),
            Path::new("/~/a")
        );
        assert_eq!(expand_home(Path::new("x~"), Some(home)), Path::new("x~"));
        assert_eq!(expand_home(Path::new("~/a"), None), Path::new("~/a"));
        assert!(matches!(
            expand_home(Path::new("a"), Some(home)),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn home_expansion_in_user_paths() {
        let f = fixture();
        let home = Some(f.root.as_path());
        let resolved = f
            .sandbox
            .resolve_existing_with_home("~/file.txt", home)
            .unwrap();
        assert_eq!(resolved, f.root.join("file.txt"));
        assert_eq!(
            f.sandbox.resolve_existing_with_home("~", home).unwrap(),
            f.root
        );
        let new = f
            .sandbox
            .resolve_new_with_home("~/new.txt", home, false)
            .unwrap();
        assert_eq!(new, f.root.join("new.txt"));
        // A home outside the roots gives no way out.
        let outside_home = Some(f.outside.as_path());
        assert_outside(
            f.sandbox
                .resolve_existing_with_home("~/secret.txt", outside_home),
        );
        // Without a home, `~` is an ordinary name under the first root.
        match f.sandbox.resolve_existing_with_home("~/file.txt", None) {
            Err(SandboxError::NotFound { path }) => assert_eq!(path, f.root.join("~/file.txt")),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[test]
    fn root_given_through_a_symlink_is_canonicalized() {
        let f = fixture();
        let link = f.base.join("rootlink");
        symlink(&f.root, &link).unwrap();
        let sandbox = PathSandbox::new(&[&link]).unwrap();
        assert_eq!(sandbox.roots().to_vec(), vec![f.root.clone()]);
        assert_eq!(
            sandbox.resolve_existing(s(&link.join("file.txt"))).unwrap(),
            f.root.join("file.txt")
        );
        assert_eq!(
            sandbox.resolve_for_write(s(&link.join("new.txt"))).unwrap(),
            f.root.join("new.txt")
        );
        assert_eq!(
            sandbox.resolve_existing("file.txt").unwrap(),
            f.root.join("file.txt")
        );
        assert!(sandbox.contains(&f.root.join("file.txt")));
    }

    #[test]
    fn roots_are_deduplicated_in_order() {
        let f = fixture();
        let link = f.base.join("rootlink");
        symlink(&f.root, &link).unwrap();
        let with_dots = f.root.join("sub/..");
        let sandbox =
            PathSandbox::new(&[&f.outside, &f.root, &link, &with_dots, &f.outside]).unwrap();
        assert_eq!(
            sandbox.roots().to_vec(),
            vec![f.outside.clone(), f.root.clone()]
        );
    }

    #[test]
    fn new_refuses_invalid_roots() {
        let f = fixture();
        match PathSandbox::new(&[f.base.join("missing")]) {
            Err(err @ SandboxError::RootMissing { .. }) => {
                assert_eq!(
                    err.to_string(),
                    format!("{} does not exist", f.base.join("missing").display())
                );
            }
            other => panic!("expected RootMissing, got {other:?}"),
        }
        let file = f.root.join("file.txt");
        match PathSandbox::new(&[&f.root, &file]) {
            Err(err @ SandboxError::RootNotDirectory { .. }) => {
                assert_eq!(
                    err.to_string(),
                    format!("{} is not a directory", file.display())
                );
            }
            other => panic!("expected RootNotDirectory, got {other:?}"),
        }
    }

    #[test]
    fn multiple_roots() {
        let f = fixture();
        let second = f.base.join("second");
        fs::create_dir(&second).unwrap();
        fs::write(second.join("two.txt"), "2").unwrap();
        let sandbox = PathSandbox::new(&[&f.root, &second]).unwrap();
        assert_eq!(
            sandbox
                .resolve_existing(s(&second.join("two.txt")))
                .unwrap(),
            second.join("two.txt")
        );
        assert_eq!(
            sandbox
                .resolve_existing(s(&f.root.join("file.txt")))
                .unwrap(),
            f.root.join("file.txt")
        );
        assert_eq!(
            sandbox
                .resolve_for_write(s(&second.join("new.txt")))
                .unwrap(),
            second.join("new.txt")
        );
        let secret = f.outside.join("secret.txt");
        let err = sandbox.resolve_existing(s(&secret)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Access denied - path outside allowed directories: {} not in {}, {}",
                secret.display(),
                f.root.display(),
                second.display()
            )
        );
    }

    #[test]
    fn set_roots_replaces_and_skips_invalid_entries() {
        let f = fixture();
        let second = f.base.join("second");
        fs::create_dir(&second).unwrap();
        fs::write(second.join("two.txt"), "2").unwrap();
        let missing = f.base.join("missing");
        let file = f.root.join("file.txt");
        let rejected = f.sandbox.set_roots(vec![
            missing.clone(),
            second.clone(),
            file.clone(),
            second.clone(),
        ]);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, missing);
        assert!(matches!(rejected[0].1, SandboxError::RootMissing { .. }));
        assert_eq!(rejected[1].0, file);
        assert!(matches!(
            rejected[1].1,
            SandboxError::RootNotDirectory { .. }
        ));
        assert_eq!(f.sandbox.roots().to_vec(), vec![second.clone()]);
        assert_eq!(
            f.sandbox.resolve_existing("two.txt").unwrap(),
            second.join("two.txt")
        );
        assert_outside(f.sandbox.resolve_existing(s(&f.root.join("file.txt"))));
        // All invalid: the sandbox is empty, as the client asked.
        let rejected = f.sandbox.set_roots(vec![missing]);
        assert_eq!(rejected.len(), 1);
        assert!(f.sandbox.roots().is_empty());
        assert!(matches!(
            f.sandbox.resolve_existing("two.txt"),
            Err(SandboxError::NoRoots)
        ));
    }

    #[test]
    fn set_roots_fills_an_empty_sandbox() {
        let f = fixture();
        let sandbox = PathSandbox::empty();
        assert!(sandbox.set_roots(vec![f.root.clone()]).is_empty());
        assert_eq!(
            sandbox.resolve_existing("file.txt").unwrap(),
            f.root.join("file.txt")
        );
    }

    #[test]
    fn session_sandbox_skips_directories_gone_since_start_up() {
        let f = fixture();
        let gone = f.root.join("gone");
        let sandbox = PathSandbox::for_session(&[gone, f.root.clone()]);
        assert_eq!(&*sandbox.roots(), std::slice::from_ref(&f.root));
        assert_eq!(
            sandbox.resolve_existing("file.txt").unwrap(),
            f.root.join("file.txt")
        );
    }

    #[test]
    fn empty_sandbox_refuses_everything_with_no_roots() {
        let f = fixture();
        let none: &[PathBuf] = &[];
        for sandbox in [PathSandbox::empty(), PathSandbox::new(none).unwrap()] {
            let file = f.root.join("file.txt");
            for result in [
                sandbox.resolve_existing(s(&file)),
                sandbox.resolve_existing("file.txt"),
                sandbox.resolve_existing(""),
                sandbox.resolve_for_write(s(&file)),
                sandbox.resolve_for_create_dir(s(&f.root.join("d"))),
            ] {
                assert!(matches!(result, Err(SandboxError::NoRoots)), "{result:?}");
            }
            assert!(!sandbox.contains(&file));
            assert!(!sandbox.contains(Path::new("/")));
        }
        // The message names the binary that runs (here the test harness).
        let message = SandboxError::NoRoots.to_string();
        assert!(
            message.starts_with(
                "No allowed directories are set: pass directories on the command line (e.g. "
            ),
            "{message}"
        );
        assert!(
            message.contains(&format!("{} /path/to/dir", program_name())),
            "{message}"
        );
        assert!(
            message.ends_with("or use a client that provides MCP roots"),
            "{message}"
        );
    }

    #[test]
    fn missing_file_message_matches_the_official_server() {
        let f = fixture();
        let err = f.sandbox.resolve_existing("nope.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "ENOENT: no such file or directory, '{}'",
                f.root.join("nope.txt").display()
            )
        );
        assert!(matches!(
            f.sandbox.resolve_existing("nodir/nope.txt"),
            Err(SandboxError::NotFound { .. })
        ));
    }

    #[test]
    fn new_file_in_a_missing_directory() {
        let f = fixture();
        let err = f.sandbox.resolve_for_write("newdir/new.txt").unwrap_err();
        assert!(matches!(err, SandboxError::ParentMissing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "Parent directory does not exist: {}",
                f.root.join("newdir").display()
            )
        );
        let err = f.sandbox.resolve_for_write("sub/a/b/new.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Parent directory does not exist: {}",
                f.root.join("sub/a/b").display()
            )
        );
        // Creating directories may add several missing components.
        assert_eq!(
            f.sandbox.resolve_for_create_dir("a/b/c").unwrap(),
            f.root.join("a/b/c")
        );
        assert_eq!(
            f.sandbox.resolve_for_create_dir("sub").unwrap(),
            f.root.join("sub")
        );
        assert_eq!(
            f.sandbox.resolve_for_write("sub/new.txt").unwrap(),
            f.root.join("sub/new.txt")
        );
        // `..` after a missing directory can never exist.
        for result in [
            f.sandbox.resolve_for_write("newdir/../x"),
            f.sandbox.resolve_for_create_dir("a/../b"),
        ] {
            assert!(
                matches!(result, Err(SandboxError::InvalidPath(_))),
                "{result:?}"
            );
        }
        // A file in the middle of the path.
        match f.sandbox.resolve_for_write("file.txt/new.txt") {
            Err(err @ SandboxError::Io { .. }) => {
                assert!(
                    err.to_string()
                        .contains(s(&f.root.join("file.txt/new.txt"))),
                    "{err}"
                );
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn existing_directory_for_write_resolves() {
        let f = fixture();
        assert_eq!(
            f.sandbox.resolve_for_write("sub").unwrap(),
            f.root.join("sub")
        );
        assert_eq!(f.sandbox.resolve_for_write("sub/..").unwrap(), f.root);
    }

    #[test]
    fn non_utf8_names_on_disk() {
        let f = fixture();
        let root = f.base.join(OsStr::from_bytes(b"r\xff\xfeot"));
        fs::create_dir(&root).unwrap();
        let file = root.join(OsStr::from_bytes(b"caf\xe9.bin"));
        fs::write(&file, "x").unwrap();
        fs::write(root.join("plain.txt"), "y").unwrap();
        symlink(&file, root.join("link")).unwrap();

        let sandbox = PathSandbox::new(&[&root]).unwrap();
        assert_eq!(sandbox.roots().to_vec(), vec![root.clone()]);
        assert_eq!(
            sandbox.resolve_existing("plain.txt").unwrap(),
            root.join("plain.txt")
        );
        assert_eq!(sandbox.resolve_existing("link").unwrap(), file);
        assert_eq!(sandbox.resolve_for_write("link").unwrap(), file);
        assert_eq!(
            sandbox.resolve_for_write("new.txt").unwrap(),
            root.join("new.txt")
        );
        assert!(sandbox.contains(&file));
        assert!(sandbox.contains(&root.join(OsStr::from_bytes(b"\xfe"))));
        let sibling = f.base.join(OsStr::from_bytes(b"r\xff\xfeot\xff"));
        assert!(!sandbox.contains(&sibling));
        // Messages render such paths lossily rather than failing.
        let message = sandbox
            .resolve_existing(s(&f.outside.join("secret.txt")))
            .unwrap_err()
            .to_string();
        assert!(message.contains('\u{FFFD}'), "{message}");
    }

    #[test]
    fn user_paths_with_non_utf8_looking_text_stay_text() {
        // A &str can spell the replacement character; it must not match a
        // non-UTF-8 name on disk.
        let f = fixture();
        fs::write(f.root.join(OsStr::from_bytes(b"\xff")), "x").unwrap();
        assert!(matches!(
            f.sandbox.resolve_existing("\u{FFFD}"),
            Err(SandboxError::NotFound { .. })
        ));
    }

    #[test]
    fn invalid_user_paths_are_refused() {
        let f = fixture();
        let cases: [(&str, &str); 2] = [("", "the path is empty"), ("a\0b", "NUL byte")];
        for (path, expected) in cases {
            for result in [
                f.sandbox.resolve_existing(path),
                f.sandbox.resolve_for_write(path),
                f.sandbox.resolve_for_create_dir(path),
            ] {
                match result {
                    Err(err @ SandboxError::InvalidPath(_)) => {
                        let message = err.to_string();
                        assert!(message.starts_with("Invalid path: "), "{message}");
                        assert!(message.contains(expected), "{message}");
                    }
                    other => panic!("{path:?}: expected InvalidPath, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn very_long_paths_are_refused_before_touching_the_disk() {
        let f = fixture();
        let too_long = "a/".repeat(MAX_PATH_BYTES / 2) + "b";
        assert_eq!(too_long.len(), MAX_PATH_BYTES + 1);
        for result in [
            f.sandbox.resolve_existing(&too_long),
            f.sandbox.resolve_for_write(&too_long),
        ] {
            match result {
                Err(err @ SandboxError::InvalidPath(_)) => {
                    assert!(
                        err.to_string()
                            .contains("4097 bytes long, over the 4096-byte limit"),
                        "{err}"
                    );
                }
                other => panic!("expected InvalidPath, got {other:?}"),
            }
        }
        // At the limit the path is checked on disk, where it does not exist.
        let at_limit = &too_long[..MAX_PATH_BYTES];
        let result = f.sandbox.resolve_existing(at_limit);
        assert!(
            !matches!(result, Err(SandboxError::InvalidPath(_)) | Ok(_)),
            "{result:?}"
        );
    }

    #[test]
    fn concurrent_resolution_and_root_replacement() {
        let f = fixture();
        let second = f.base.join("second");
        fs::create_dir(&second).unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..50 {
                    let roots = if i % 2 == 0 {
                        vec![f.root.clone()]
                    } else {
                        vec![second.clone(), f.root.clone()]
                    };
                    assert!(f.sandbox.set_roots(roots).is_empty());
                }
            });
            scope.spawn(|| {
                for _ in 0..50 {
                    let path = f.root.join("file.txt");
                    assert_eq!(f.sandbox.resolve_existing(s(&path)).unwrap(), path);
                    assert_outside(f.sandbox.resolve_existing(s(&f.outside.join("secret.txt"))));
                }
            });
        });
    }
}
