//! The client's MCP roots as the allowed directories of a [`PathSandbox`].
//!
//! When the client declares the `roots` capability, a server asks for its
//! roots after `notifications/initialized` and again on
//! `notifications/roots/list_changed`, and the roots (existing directories
//! only) replace the allowed set, as the official filesystem server does.
//! Roots are deprecated in protocol 2026-07-28, where there is no
//! `initialized` notification; most clients still speak them.

use std::path::PathBuf;

use rmcp::RoleServer;
use rmcp::service::Peer;

use crate::sandbox::PathSandbox;

/// For `ServerHandler::on_initialized`: fetch the roots if the client has
/// them, else say on stderr which directories stay in force.
pub async fn on_initialized(sandbox: &PathSandbox, peer: &Peer<RoleServer>) {
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

/// Asks the client for its roots and makes them the allowed directories;
/// with no valid root, the current set stays.
#[allow(deprecated)] // roots/list: deprecated in 2026-07-28, used by today's clients
pub async fn refresh(sandbox: &PathSandbox, peer: &Peer<RoleServer>) {
    let result = match peer.list_roots().await {
        Ok(result) => result,
        Err(e) => {
            tracing::warn!("Failed to request roots from client: {e}");
            return;
        }
    };
    let mut valid = Vec::new();
    for root in &result.roots {
        let Some(path) = root_uri_to_path(&root.uri) else {
            tracing::warn!("Skipping invalid root URI: {}", root.uri);
            continue;
        };
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => valid.push(path),
            _ => tracing::warn!(
                "Skipping root that is not an existing directory: {}",
                path.display()
            ),
        }
    }
    if valid.is_empty() {
        tracing::warn!(
            "No valid root directories provided by client; keeping the current allowed directories"
        );
        return;
    }
    for (path, err) in sandbox.set_roots(valid) {
        tracing::warn!("Skipping root {}: {err}", path.display());
    }
    tracing::info!(
        "Updated allowed directories from MCP roots: {}",
        display_roots(sandbox)
    );
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
