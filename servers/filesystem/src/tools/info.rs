//! get_file_info, list_allowed_directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

use mcp_servers_core::error::ToolResult;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::read::{PathParams, file_work};
use super::{io_error, text_output_schema, text_result};
use crate::FilesystemServer;

#[tool_router(router = info_router, vis = "pub(crate)")]
impl FilesystemServer {
    #[tool(
        title = "Get File Info",
        description = "Retrieve detailed metadata about a file or directory. Returns comprehensive information including size, creation time, last modified time, permissions, and type. This tool is perfect for understanding file characteristics without reading the actual content. Only works within allowed directories.",
        output_schema = text_output_schema(),
        annotations(title = "Get File Info", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn get_file_info(
        &self,
        Parameters(p): Parameters<PathParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        // Off the protocol loop like every file tool: a stat on a hung mount
        // never returns.
        let user_path = p.path.clone();
        let text = file_work(&user_path, move || {
            let path = sandbox.resolve_existing(&p.path)?;
            let meta = fs::metadata(&path).map_err(|e| io_error(&e, &path))?;
            let modified = meta.modified().ok();
            let created = meta.created().ok().or(modified);
            let lines = [
                format!("size: {}", meta.len()),
                format!("created: {}", js_date(created)),
                format!("modified: {}", js_date(modified)),
                format!("accessed: {}", js_date(meta.accessed().ok())),
                format!("isDirectory: {}", meta.is_dir()),
                format!("isFile: {}", meta.is_file()),
                format!("permissions: {:03o}", meta.permissions().mode() & 0o777),
            ];
            Ok(lines.join("\n"))
        })
        .await?;
        Ok(text_result(text))
    }

    #[tool(
        title = "List Allowed Directories",
        description = "Returns the list of directories that this server is allowed to access. Subdirectories within these allowed directories are also accessible. Use this to understand which directories and their nested paths are available before trying to access files.",
        output_schema = text_output_schema(),
        annotations(title = "List Allowed Directories", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_allowed_directories(&self) -> ToolResult<CallToolResult> {
        let roots = self.sandbox.roots();
        let lines: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Ok(text_result(format!(
            "Allowed directories:\n{}",
            lines.join("\n")
        )))
    }
}

/// A time as JavaScript's `Date.prototype.toString` prints it in the local
/// time zone: `Wed Nov 25 2026 14:57:53 GMT+0000 (Coordinated Universal Time)`
/// (the zone name is only known for UTC and left out otherwise).
pub fn js_date(time: Option<SystemTime>) -> String {
    let Some(time) = time else {
        return "Invalid Date".to_owned();
    };
    let local: chrono::DateTime<chrono::Local> = time.into();
    let base = local.format("%a %b %d %Y %H:%M:%S GMT%z").to_string();
    if local.offset().local_minus_utc() == 0 {
        format!("{base} (Coordinated Universal Time)")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_look_like_javascript() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_618_673);
        let s = js_date(Some(t));
        // The weekday, month, day and year, then the time and a GMT offset.
        let re = regex::Regex::new(
            r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}",
        )
        .unwrap();
        assert!(re.is_match(&s), "{s}");
        assert_eq!(js_date(None), "Invalid Date");
    }
}
