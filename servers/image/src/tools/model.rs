//! prepare_for_model: an image sized and encoded for a vision model's budget.

use std::sync::Arc;

use image::GenericImageView;
use mcp_servers_core::error::{ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::result_with;
use crate::ImageServer;
use crate::budget::ModelFamily;
use crate::cost::{Meter, Shape};
use crate::encode::{OutputFormat, fit_inline};
use crate::ops::{Extent, Filter, resize_region};
use crate::params::{self, Int};
use crate::source::{self, Input, format_name, swaps_axes};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PrepareParams {
    /// Image file (absolute, or relative to the first allowed directory). Give this or `data`.
    pub path: Option<String>,
    /// The image itself: base64, or a data: URL. Give this or `path`.
    pub data: Option<String>,
    /// Model family whose image budget to fit: claude (default: 1568 px long edge, about 1.15 MP), gpt-4o (2048 px box, 768 px short side), gemini (1536 px long edge).
    #[serde(default)]
    pub model: ModelFamily,
    /// JPEG quality 1-100 when the image is sent as JPEG (default 85).
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<Int>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Sized {
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Estimated input tokens for this model family.
    pub tokens: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PrepareOutput {
    pub model: ModelFamily,
    /// The source as displayed (EXIF orientation applied); tokens are what the
    /// provider would bill for it after its own downscaling.
    pub original: Sized,
    /// What was returned inline.
    pub prepared: Sized,
    pub tokens_saved: i64,
    /// Whether the provider would reject the original outright (too large).
    pub original_rejected: bool,
    /// Whether the image was scaled down.
    pub downscaled: bool,
    /// Problems found in the source (truncated, damaged data): it was
    /// decoded anyway, and may be partly grey or wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[tool_router(router = model_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Prepare Image for Model",
        description = "Make an image ready for a vision model to look at, and return it inline: applies the EXIF orientation, scales it down (never up) to the chosen model family's budget (claude, the default: 1568 px long edge and about 1.15 megapixels; gpt-4o: fits 2048x2048 then 768 px short side; gemini: 1536 px long edge), and re-encodes it as JPEG for photos or PNG for screenshots, diagrams and other few-colour images. Reports estimated tokens before and after. Use this instead of reading a large image file directly.",
        output_schema = schema_for_output::<PrepareOutput>(),
        annotations(title = "Prepare Image for Model", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn prepare_for_model(
        &self,
        Parameters(p): Parameters<PrepareParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let quality = params::quality(p.quality)?;
        let (block, out) = blocking(move || {
            let limits = &config.limits;
            let budget = p.model.budget();
            let input = Input::resolve(&sandbox, p.path.as_deref(), p.data.as_deref(), limits, "")?;
            let cached = config.cache.enabled();
            // The size sent (as displayed) and the size to decode toward (as stored).
            let targets = |hdr: &source::Header| {
                let (ow, oh) = hdr.oriented_dimensions();
                let (tw, th) = budget.target(ow, oh);
                let stored = if swaps_axes(hdr.orientation) {
                    (th, tw)
                } else {
                    (tw, th)
                };
                ((tw, th), stored)
            };
            let loaded = source::load_reserved(
                &config.memory,
                &[input],
                limits,
                "preparing this image",
                |sources| {
                    let (src, hdr) = &sources[0];
                    let ((tw, th), stored) = targets(hdr);
                    let mut m = Meter::new();
                    m.alloc(src.bytes.len() as u64);
                    let shape =
                        m.decode_source(src, hdr, Some(stored), cached && src.key.is_some());
                    let mut shape = m.orient(shape, hdr.orientation);
                    if (shape.width, shape.height) != (tw, th) {
                        shape = m.resize(shape, tw, th);
                    }
                    m.temp(Shape::rgba8(tw, th).bytes());
                    let mut png = m.clone();
                    png.deliver(shape, OutputFormat::Png, true);
                    m.deliver(shape, OutputFormat::Jpeg, true);
                    m.total().max(png.total())
                },
            )?;
            let (src, hdr) = &loaded.sources[0];
            let (ow, oh) = hdr.oriented_dimensions();
            let ((tw, th), stored_target) = targets(hdr);
            let reserved = loaded.reservation.bytes();
            let decoded = source::decode_within(
                src,
                hdr,
                limits,
                &config.cache,
                Some(stored_target),
                reserved,
            )?;
            let mut img = Arc::try_unwrap(decoded).unwrap_or_else(|shared| (*shared).clone());
            let extent = Extent::of((hdr.width, hdr.height), img.dimensions())
                .map(|e| e.orient(hdr.orientation));
            img.apply_orientation(hdr.orientation);
            let region = extent.map(|e| e.region(img.dimensions()));
            if region.is_some() || img.dimensions() != (tw, th) {
                img = resize_region(&img, region, tw, th, Filter::Lanczos3)?;
            }
            let format = if few_colours(&img) {
                OutputFormat::Png
            } else {
                OutputFormat::Jpeg
            };
            let inline = fit_inline(&img, format, quality, None, config.max_inline_bytes)?;
            let before = budget.tokens(ow, oh);
            let after = budget.tokens(inline.width, inline.height);
            let out = PrepareOutput {
                model: p.model,
                original: Sized {
                    format: format_name(src.format),
                    width: ow,
                    height: oh,
                    bytes: src.bytes.len() as u64,
                    tokens: before,
                },
                prepared: Sized {
                    format: inline.format.name().to_owned(),
                    width: inline.width,
                    height: inline.height,
                    bytes: inline.bytes.len() as u64,
                    tokens: after,
                },
                tokens_saved: before as i64 - after as i64,
                original_rejected: budget.rejects(ow, oh),
                downscaled: (inline.width, inline.height) != (ow, oh),
                warnings: source::warnings(src),
            };
            let block = mcp_servers_core::content::image(&inline.bytes, inline.format.mime());
            Ok((block, out))
        })
        .await?;
        let summary = format!(
            "prepared for {}: {}x{} {} ({} bytes, ~{} tokens) from {}x{} {} ({} bytes, ~{} tokens{})",
            p.model.budget().name,
            out.prepared.width,
            out.prepared.height,
            out.prepared.format,
            out.prepared.bytes,
            out.prepared.tokens,
            out.original.width,
            out.original.height,
            out.original.format,
            out.original.bytes,
            out.original.tokens,
            if out.original_rejected {
                ", which the provider would reject as too large"
            } else {
                ""
            }
        );
        let mut summary = summary;
        for warning in &out.warnings {
            summary.push_str(&format!("\nwarning: {warning}"));
        }
        result_with(summary, vec![block], &out)
    }
}

/// Whether the image looks like a screenshot or drawing rather than a photo:
/// transparency, or at most 256 distinct colours.
pub fn few_colours(img: &image::DynamicImage) -> bool {
    let rgba = img.to_rgba8();
    if rgba.pixels().any(|p| p[3] < 255) {
        return true;
    }
    let mut seen = std::collections::HashSet::new();
    for p in rgba.pixels() {
        seen.insert([p[0], p[1], p[2]]);
        if seen.len() > 256 {
            return false;
        }
    }
    true
}
