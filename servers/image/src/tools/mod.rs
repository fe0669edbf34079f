//! The tools, one file per group: typed parameters in, a result out.
//!
//! Every result carries its metadata as structured content (with an output
//! schema) and a one-line text summary; images go out once, as a resource
//! link to the written file and/or an inline image block.

pub mod batch;
pub mod compare;
pub mod info;
pub mod model;
pub mod sheet;
pub mod transform;

use std::path::PathBuf;

use image::{DynamicImage, GenericImageView};
use mcp_servers_core::content;
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::sandbox::PathSandbox;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::encode::{OutputFormat, encode, fit_inline, write_resolved};
use crate::source::{self, Header, Source, format_name};

/// What an image is: format, size, bytes.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImageMeta {
    /// png, jpeg, webp, gif, bmp, tiff or ico.
    pub format: String,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    /// Encoded size in bytes.
    pub bytes: u64,
    /// Where it is (absolute path), for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Problems found in the file (truncated, damaged data): the image was
    /// decoded anyway, and may be partly grey or wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ImageMeta {
    pub fn of_source(src: &Source, hdr: &Header) -> Self {
        Self {
            format: format_name(src.format),
            mime_type: src.format.to_mime_type().to_owned(),
            width: hdr.width,
            height: hdr.height,
            bytes: src.bytes.len() as u64,
            path: src.path().map(|p| p.display().to_string()),
            warnings: source::warnings(src),
        }
    }

    fn encoded(format: OutputFormat, width: u32, height: u32, bytes: usize) -> Self {
        Self {
            format: format.name().to_owned(),
            mime_type: format.mime().to_owned(),
            width,
            height,
            bytes: bytes as u64,
            path: None,
            warnings: Vec::new(),
        }
    }

    /// "png 320x200, 12345 bytes"
    pub fn describe(&self) -> String {
        format!(
            "{} {}x{}, {} bytes",
            self.format, self.width, self.height, self.bytes
        )
    }
}

/// The image sent inline, when one was.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InlineMeta {
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// Encoded size in bytes (before base64).
    pub bytes: u64,
    /// Whether it was re-encoded smaller or downscaled to fit --max-inline-bytes.
    pub shrunk: bool,
}

/// Where a result goes: a file, inline, or both.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Resolved (sandboxed) output path.
    pub path: Option<PathBuf>,
    pub overwrite: bool,
    pub inline: bool,
    pub max_inline_bytes: usize,
}

impl Delivery {
    /// Resolves `output_path` up front (so a bad path fails before any
    /// decoding) and decides on inline output: by default only when no
    /// output_path is given.
    pub fn resolve(
        sandbox: &PathSandbox,
        output_path: Option<&str>,
        overwrite: bool,
        return_image: Option<bool>,
        max_inline_bytes: usize,
    ) -> ToolResult<Self> {
        let path = match output_path {
            Some(p) => {
                let path = sandbox.resolve_for_write(p).map_err(crate::path_error)?;
                if !overwrite && std::fs::symlink_metadata(&path).is_ok() {
                    return Err(ToolError::new(format!(
                        "{} already exists; pass overwrite: true to replace it, or choose another output_path",
                        path.display()
                    )));
                }
                Some(path)
            }
            None => None,
        };
        let inline = return_image.unwrap_or(path.is_none());
        if path.is_none() && !inline {
            return Err(ToolError::new(
                "nothing to return: give output_path to write a file, or return_image: true",
            ));
        }
        Ok(Self {
            path,
            overwrite,
            inline,
            max_inline_bytes,
        })
    }
}

/// What a delivery produced.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutputMeta {
    /// The full-size result (written to `path` when output_path was given).
    #[serde(flatten)]
    pub image: ImageMeta,
    /// The image returned inline, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineMeta>,
}

/// Encodes `img` once, writes it and/or fits it inline; returns the content
/// blocks (resource link, image) and the metadata.
pub fn deliver(
    img: &DynamicImage,
    format: OutputFormat,
    quality: u8,
    delivery: &Delivery,
) -> ToolResult<(Vec<ContentBlock>, OutputMeta)> {
    let (w, h) = img.dimensions();
    let bytes = encode(img, format, quality)?;
    let mut meta = ImageMeta::encoded(format, w, h, bytes.len());
    let mut blocks = Vec::new();
    if let Some(path) = &delivery.path {
        write_resolved(path, &bytes, delivery.overwrite)?;
        meta.path = Some(path.display().to_string());
        blocks.push(content::resource_link(
            path,
            Some(format.mime()),
            Some(bytes.len() as u64),
        ));
    }
    let mut inline_meta = None;
    if delivery.inline {
        let inline = fit_inline(img, format, quality, Some(bytes), delivery.max_inline_bytes)?;
        blocks.push(content::image(&inline.bytes, inline.format.mime()));
        inline_meta = Some(InlineMeta {
            format: inline.format.name().to_owned(),
            width: inline.width,
            height: inline.height,
            bytes: inline.bytes.len() as u64,
            shrunk: inline.shrunk,
        });
    }
    Ok((
        blocks,
        OutputMeta {
            image: meta,
            inline: inline_meta,
        },
    ))
}

/// A result: summary text, then `blocks`, with `value` as structured content.
pub fn result_with<T: Serialize>(
    summary: String,
    blocks: Vec<ContentBlock>,
    value: &T,
) -> ToolResult<CallToolResult> {
    let mut result = content::structured(value, summary)?;
    result.content.extend(blocks);
    Ok(result)
}

/// The summary of a delivery: where it went, and whether it was shrunk.
pub fn describe_output(out: &OutputMeta) -> String {
    let mut parts = Vec::new();
    match &out.image.path {
        Some(path) => parts.push(format!("wrote {path} ({})", out.image.describe())),
        None => parts.push(format!("result: {}", out.image.describe())),
    }
    if let Some(inline) = &out.inline {
        if inline.shrunk {
            parts.push(format!(
                "returned inline shrunk to {} {}x{}, {} bytes to fit --max-inline-bytes",
                inline.format, inline.width, inline.height, inline.bytes
            ));
        } else {
            parts.push("returned inline".to_owned());
        }
    }
    parts.join("; ")
}

/// Runs `f` on every item on all cores (std threads, work taken in order
/// from a shared counter, each under the calling call's limits, so
/// `work::check` and memory waits see its cancellation); items not started
/// once `stop` says so are None.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(usize, &T) -> R + Sync,
    stop: impl Fn() -> bool + Sync,
) -> Vec<Option<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let limits = mcp_servers_core::work::current();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let limits = limits.clone();
            scope.spawn(|| {
                mcp_servers_core::work::enter(limits, || {
                    loop {
                        if stop() {
                            break;
                        }
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        let value = f(index, item);
                        results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(value);
                    }
                })
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_order_and_stops() {
        let items: Vec<u32> = (0..100).collect();
        let out = par_map(&items, |i, v| (i as u32) + v, || false);
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, v)| *v == Some(2 * i as u32))
        );
        let none = par_map(&items, |_, v| *v, || true);
        assert!(none.iter().all(Option::is_none));
    }
}
