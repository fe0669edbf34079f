//! batch_transform: the same operations on every matching file of a
//! directory, on all cores, with progress and cancellation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use mcp_servers_core::progress::Progress;
use rmcp::RoleServer;
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::par_map;
use super::transform::reduce_hint;
use crate::ImageServer;
use crate::cost::Meter;
use crate::encode::{OutputFormat, encode, write_resolved};
use crate::ops::{self, Operation, Step};
use crate::params::{self, Int};
use crate::source::{self, DecodeCache, Input};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct BatchParams {
    /// Directory to read images from (inside the allowed directories).
    pub input_dir: String,
    /// Glob over paths relative to input_dir: "*.jpg" (this directory only), "**/*.png" (recursive). Default "*". At most 1024 characters.
    #[schemars(length(max = 1024))]
    pub pattern: Option<String>,
    /// Steps applied to every image, as in transform (at most 100).
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub operations: Vec<Operation>,
    /// Directory to write results to (created if missing; inside the allowed directories). Sub-directories of matches are kept.
    pub output_dir: String,
    /// Output format for every file (default: each file's own format).
    pub format: Option<OutputFormat>,
    /// JPEG quality 1-100 (default 85).
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<Int>,
    /// Replace existing output files (default false: such files are reported as failed).
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItem {
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchOutput {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub output_dir: String,
    pub results: Vec<BatchItem>,
}

#[tool_router(router = batch_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Batch Transform",
        description = "Apply the same operations (see transform) to every file in input_dir matching `pattern` (glob relative to input_dir, e.g. \"*.jpg\" or \"**/*.png\"), writing each result under output_dir with the same relative name (extension changed to the output format). Runs on all cores, reports progress, stops when cancelled. A file that fails (not an image, too large, exists and overwrite is false) is reported in the results; the others still run.",
        output_schema = schema_for_output::<BatchOutput>(),
        annotations(title = "Batch Transform", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    pub async fn batch_transform(
        &self,
        Parameters(p): Parameters<BatchParams>,
        context: RequestContext<RoleServer>,
    ) -> ToolResult<CallToolResult> {
        let steps = ops::validate(&p.operations)?;
        let quality = params::quality(p.quality)?;
        let pattern = p.pattern.clone().unwrap_or_else(|| "*".to_owned());
        let glob = compile_pattern(&pattern)?;
        let input_dir = self
            .sandbox
            .resolve_existing(&p.input_dir)
            .map_err(crate::path_error)?;
        if !input_dir.is_dir() {
            return Err(ToolError::new(format!(
                "input_dir {} is not a directory",
                input_dir.display()
            )));
        }
        let output_dir = self
            .sandbox
            .resolve_for_create_dir(&p.output_dir)
            .map_err(crate::path_error)?;
        let progress = Progress::from_context(&context);
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let worker_progress = progress.clone();
        let result = blocking(move || {
            let progress = worker_progress;
            let recursive = pattern.contains('/') || pattern.contains("**");
            let mut files = Vec::new();
            let walker = walkdir::WalkDir::new(&input_dir)
                .min_depth(1)
                .max_depth(if recursive { usize::MAX } else { 1 })
                .sort_by_file_name();
            for entry in walker {
                progress.check()?;
                mcp_servers_core::work::check()?;
                let Ok(entry) = entry else { continue };
                if entry.file_type().is_dir() {
                    continue;
                }
                let Ok(rel) = entry.path().strip_prefix(&input_dir) else {
                    continue;
                };
                if glob.is_match(rel) {
                    files.push(rel.to_path_buf());
                    if files.len() > config.max_batch_files {
                        return Err(ToolError::new(format!(
                            "more than {} files match {pattern:?}; narrow the pattern or raise --max-batch-files",
                            config.max_batch_files
                        )));
                    }
                }
            }
            std::fs::create_dir_all(&output_dir)
                .map_err(|e| ToolError::io(&e, &output_dir))?;
            let total = files.len();
            progress.report_now(0.0, Some(total as f64), Some("starting"));
            let done = AtomicUsize::new(0);
            // Batches do not evict the interactive cache.
            let no_cache = DecodeCache::new(0);
            let results = par_map(
                &files,
                |_, rel| {
                    let item = process_one(
                        &sandbox,
                        &config,
                        &no_cache,
                        (&input_dir, &output_dir, rel),
                        &steps,
                        quality,
                        &p,
                    );
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress.report(n as f64, Some(total as f64), Some(&rel.display().to_string()));
                    item
                },
                || progress.is_cancelled() || mcp_servers_core::work::check().is_err(),
            );
            progress.check()?;
            mcp_servers_core::work::check()?;
            let results: Vec<BatchItem> = results.into_iter().flatten().collect();
            progress.report_now(total as f64, Some(total as f64), Some("done"));
            let failed = results.iter().filter(|r| r.error.is_some()).count();
            Ok(BatchOutput {
                total,
                succeeded: total - failed,
                failed,
                output_dir: output_dir.display().to_string(),
                results,
            })
        })
        .await;
        progress.flush().await;
        let out = result?;
        let mut summary = format!(
            "{} of {} files transformed into {}",
            out.succeeded, out.total, out.output_dir
        );
        let failures: Vec<String> = out
            .results
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.input)))
            .take(20)
            .collect();
        if !failures.is_empty() {
            summary.push_str(&format!(
                "; {} failed:\n{}",
                out.failed,
                failures.join("\n")
            ));
        }
        mcp_servers_core::content::structured(&out, summary)
    }
}

/// Longest `pattern` accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// The glob of `pattern`; an error (never a panic) when it is too long or
/// its matcher cannot be built.
fn compile_pattern(pattern: &str) -> ToolResult<GlobSet> {
    let chars = pattern.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(ToolError::new(format!(
            "pattern is {chars} characters long; at most {MAX_PATTERN_CHARS}"
        )));
    }
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| ToolError::new(format!("invalid pattern {pattern:?}: {e}")))?;
    GlobSetBuilder::new()
        .add(glob)
        .build()
        .map_err(|e| ToolError::new(format!("invalid pattern {pattern:?}: {e}")))
}

fn process_one(
    sandbox: &mcp_servers_core::sandbox::PathSandbox,
    config: &crate::Config,
    cache: &DecodeCache,
    (input_dir, output_dir, rel): (&Path, &Path, &Path),
    steps: &[Step],
    quality: u8,
    p: &BatchParams,
) -> BatchItem {
    let input = input_dir.join(rel);
    let mut item = BatchItem {
        input: input.display().to_string(),
        output: None,
        width: None,
        height: None,
        bytes: None,
        error: None,
    };
    let run = || -> ToolResult<(PathBuf, u32, u32, u64)> {
        let limits = &config.limits;
        // Through the sandbox again: a symlink in the tree may point outside.
        let source_input = Input::resolve(sandbox, input.to_str(), None, limits, "")?;
        let choose = |src: &source::Source| {
            p.format
                .or_else(|| OutputFormat::from_image_format(src.format))
                .unwrap_or(OutputFormat::Png)
        };
        let what = format!("transforming {}", rel.display());
        let loaded =
            source::load_reserved(&config.memory, &[source_input], limits, &what, |sources| {
                let (src, hdr) = &sources[0];
                let mut m = Meter::new();
                m.alloc(src.bytes.len() as u64);
                let hint = reduce_hint(steps, hdr);
                let shape = m.decode_source(src, hdr, hint, false);
                let shape = m.steps(shape, steps, hdr.orientation);
                m.deliver(shape, choose(src), false);
                m.total()
            })?;
        let (src, hdr) = &loaded.sources[0];
        let format = choose(src);
        let target = output_dir.join(rel).with_extension(format.extension());
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolError::io(&e, parent))?;
        }
        let target = sandbox
            .resolve_for_write(&target.display().to_string())
            .map_err(crate::path_error)?;
        let reserved = loaded.reservation.bytes();
        let hint = reduce_hint(steps, hdr);
        let decoded = source::decode_within(src, hdr, limits, cache, hint, reserved)?;
        let decoded = Arc::try_unwrap(decoded).unwrap_or_else(|shared| (*shared).clone());
        let img = ops::apply_decoded(
            decoded,
            steps,
            hdr.orientation,
            (hdr.width, hdr.height),
            limits,
        )?;
        let bytes = encode(&img, format, quality)?;
        write_resolved(&target, &bytes, p.overwrite)?;
        Ok((target, img.width(), img.height(), bytes.len() as u64))
    };
    match run() {
        Ok((path, w, h, bytes)) => {
            item.output = Some(path.display().to_string());
            item.width = Some(w);
            item.height = Some(h);
            item.bytes = Some(bytes);
        }
        Err(e) => item.error = Some(e.message().to_owned()),
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_bounded_and_never_panic() {
        let set = compile_pattern("**/*.png").unwrap();
        assert!(set.is_match("a/b.png"));
        assert!(!set.is_match("a/b.jpg"));
        let long = "A".repeat(1 << 20);
        let err = compile_pattern(&long).unwrap_err().to_string();
        assert_eq!(err, "pattern is 1048576 characters long; at most 1024");
        // Within the length, a matcher too large to build is an error too.
        let braces = format!("{{{}}}", vec!["[a-z]*[0-9]?"; 70].join(","));
        assert!(braces.len() <= MAX_PATTERN_CHARS);
        let _ = compile_pattern(&braces);
        assert!(compile_pattern("[").is_err());
    }
}
