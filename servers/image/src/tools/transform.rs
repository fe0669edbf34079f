//! transform: a list of operations, one decode, one encode.

use std::sync::Arc;

use image::metadata::Orientation;
use mcp_servers_core::error::{ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Delivery, ImageMeta, OutputMeta, deliver, describe_output, result_with};
use crate::ImageServer;
use crate::cost::Meter;
use crate::encode::OutputFormat;
use crate::ops::{self, Fit, Operation, Step};
use crate::params::{self, Int};
use crate::source::{self, Header, Input, swaps_axes};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TransformParams {
    /// Image file (absolute, or relative to the first allowed directory). Give this or `data`.
    pub path: Option<String>,
    /// The image itself: base64, or a data: URL. Give this or `path`.
    pub data: Option<String>,
    /// Steps applied in order (at most 100), e.g. [{"op":"auto_orient"},{"op":"resize","width":800},{"op":"crop","aspect_ratio":"16:9"}].
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub operations: Vec<Operation>,
    /// Output format: png, jpeg, webp (lossless), gif, bmp, tiff, ico. Default: from output_path's extension, else the source's format.
    pub format: Option<OutputFormat>,
    /// JPEG quality 1-100 (default 85).
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<Int>,
    /// Write the result to this file (inside the allowed directories). Existing files are kept unless `overwrite` is true.
    pub output_path: Option<String>,
    /// Replace output_path if it exists (default false).
    #[serde(default)]
    pub overwrite: bool,
    /// Return the result inline as an image (default: true when there is no output_path). Capped by --max-inline-bytes: larger results are shrunk to fit.
    pub return_image: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransformOutput {
    pub source: ImageMeta,
    pub output: OutputMeta,
    /// How many operations were applied.
    pub operations: usize,
}

#[tool_router(router = transform_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Transform Image",
        description = "Resize, crop, rotate, flip, auto-orient, grayscale, adjust brightness/contrast, blur, sharpen or invert an image, and convert it between PNG, JPEG (with quality), WebP (lossless), GIF, BMP, TIFF and ICO, all in one decode and one encode. `operations` is a list applied in order, each an object with \"op\": resize {width, height, fit: inside (default)|contain|cover|fill, filter: lanczos3 (default)|catmullrom|bilinear|nearest}, crop {x, y, width, height} or crop {aspect_ratio: \"16:9\"} (centred), rotate {degrees: 90|180|270}, auto_orient (apply EXIF orientation; camera photos need it, as EXIF is not copied), flip {direction: horizontal|vertical}, grayscale, brightness {value: -255..255}, contrast {value: -100..100}, blur {sigma}, sharpen {sigma, threshold}, invert. The result is written to `output_path` (never overwriting unless overwrite: true) and/or returned inline (return_image; default when no output_path). Animations: the first frame is used.",
        output_schema = schema_for_output::<TransformOutput>(),
        annotations(title = "Transform Image", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn transform(
        &self,
        Parameters(p): Parameters<TransformParams>,
    ) -> ToolResult<CallToolResult> {
        let steps = ops::validate(&p.operations)?;
        let quality = params::quality(p.quality)?;
        let delivery = Delivery::resolve(
            &self.sandbox,
            p.output_path.as_deref(),
            p.overwrite,
            p.return_image,
            self.config.max_inline_bytes,
        )?;
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let (blocks, out) = blocking(move || {
            let limits = &config.limits;
            let input = Input::resolve(&sandbox, p.path.as_deref(), p.data.as_deref(), limits, "")?;
            let choose = |src: &source::Source| {
                OutputFormat::choose(p.format, p.output_path.as_deref(), src.format)
            };
            let cached = config.cache.enabled();
            let loaded = source::load_reserved(
                &config.memory,
                &[input],
                limits,
                "this transform",
                |sources| {
                    let (src, hdr) = &sources[0];
                    let mut m = Meter::new();
                    m.alloc(src.bytes.len() as u64);
                    let hint = reduce_hint(&steps, hdr);
                    let shape = m.decode_source(src, hdr, hint, cached && src.key.is_some());
                    let shape = m.steps(shape, &steps, hdr.orientation);
                    m.deliver(shape, choose(src), delivery.inline);
                    m.total()
                },
            )?;
            let (src, hdr) = &loaded.sources[0];
            let format = choose(src);
            let hint = reduce_hint(&steps, hdr);
            let reserved = loaded.reservation.bytes();
            let decoded = source::decode_within(src, hdr, limits, &config.cache, hint, reserved)?;
            // The cache keeps its copy; without one, no copy is made.
            let decoded = Arc::try_unwrap(decoded).unwrap_or_else(|shared| (*shared).clone());
            let result = ops::apply_decoded(
                decoded,
                &steps,
                hdr.orientation,
                (hdr.width, hdr.height),
                limits,
            )?;
            let (blocks, output) = deliver(&result, format, quality, &delivery)?;
            let out = TransformOutput {
                source: ImageMeta::of_source(src, hdr),
                output,
                operations: steps.len(),
            };
            Ok((blocks, out))
        })
        .await?;
        let mut summary = format!(
            "{} from {} ({} operations)",
            describe_output(&out.output),
            out.source.path.as_deref().unwrap_or("inline data"),
            out.operations
        );
        for warning in &out.source.warnings {
            summary.push_str(&format!("\nwarning: {warning}"));
        }
        result_with(summary, blocks, &out)
    }
}

/// When the first operation (after an optional auto_orient) is a resize,
/// the smallest source size (as stored) it needs, so a large JPEG can be
/// decoded at a reduced scale.
pub fn reduce_hint(steps: &[Step], hdr: &Header) -> Option<(u32, u32)> {
    let mut rest = steps;
    let mut swapped = false;
    if let Some(Step::AutoOrient) = rest.first() {
        swapped = swaps_axes(hdr.orientation) && hdr.orientation != Orientation::NoTransforms;
        rest = &rest[1..];
    }
    let Some(Step::Resize {
        width, height, fit, ..
    }) = rest.first()
    else {
        return None;
    };
    let (sw, sh) = if swapped {
        (hdr.height, hdr.width)
    } else {
        (hdr.width, hdr.height)
    };
    let (nw, nh) = match (fit, width, height) {
        (Fit::Cover, Some(w), Some(h)) => {
            let scale = (f64::from(*w) / f64::from(sw)).max(f64::from(*h) / f64::from(sh));
            (
                (f64::from(sw) * scale).ceil() as u32,
                (f64::from(sh) * scale).ceil() as u32,
            )
        }
        (Fit::Fill, Some(w), Some(h)) => (*w, *h),
        _ => ops::resize_target((sw, sh), *width, *height, *fit),
    };
    Some(if swapped { (nh, nw) } else { (nw, nh) })
}
