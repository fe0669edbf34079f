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
use crate::encode::{OutputFormat, encode, fit_inline, fit_inline_with};
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
    /// JPEG quality 1-100 when the image is sent as JPEG (default 85; at least 90 by default for screenshots of text, which also keep full-resolution colour).
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
        description = "Make an image ready for a vision model to look at, and return it inline: applies the EXIF orientation, scales it down (never up) to the chosen model family's budget (claude, the default: 1568 px long edge and about 1.15 megapixels; gpt-4o: fits 2048x2048 then 768 px short side; gemini: 1536 px long edge), and re-encodes it as JPEG for photos, PNG for few-colour images, and PNG (or high-quality JPEG when PNG is too large) for screenshots, text and diagrams so text stays legible. Reports estimated tokens before and after. Use this instead of reading a large image file directly.",
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
        let explicit_quality = p.quality.is_some();
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
            let max_bytes = config.max_inline_bytes;
            let inline = match Content::of(&img) {
                Content::FewColours => {
                    fit_inline(&img, OutputFormat::Png, quality, None, max_bytes)?
                }
                Content::Photo => fit_inline(&img, OutputFormat::Jpeg, quality, None, max_bytes)?,
                Content::Text => {
                    let png = encode(&img, OutputFormat::Png, quality)?;
                    if png.len() <= max_bytes {
                        fit_inline(&img, OutputFormat::Png, quality, Some(png), max_bytes)?
                    } else {
                        drop(png);
                        let quality = if explicit_quality {
                            quality
                        } else {
                            quality.max(TEXT_QUALITY)
                        };
                        fit_inline_with(&img, OutputFormat::Jpeg, quality, None, max_bytes, true)?
                    }
                }
            };
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

/// JPEG quality (at least) for text-like images that do not fit inline as PNG.
pub const TEXT_QUALITY: u8 = 90;

/// What an image to send looks like, which decides how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Transparency, or at most 256 colours: PNG.
    FewColours,
    /// Screenshot-like (text, UI, diagrams): PNG when it fits inline, else
    /// JPEG at quality 90 or more with 4:4:4 chroma.
    Text,
    /// Anything else: JPEG at the asked quality (4:2:0 below 90).
    Photo,
}

impl Content {
    pub fn of(img: &image::DynamicImage) -> Self {
        if few_colours(img) {
            Content::FewColours
        } else if text_like(img) {
            Content::Text
        } else {
            Content::Photo
        }
    }
}

/// Share of horizontally adjacent pixel pairs that are identical (flat
/// areas) and that differ by at least [`SHARP_STEP`] in some channel (sharp
/// edges), in thousandths.
pub fn edge_stats(img: &image::DynamicImage) -> (u32, u32) {
    use image::DynamicImage;
    let converted;
    let (raw, channels, width): (&[u8], usize, usize) = match img {
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), 3, rgb.width() as usize),
        DynamicImage::ImageRgba8(rgba) => (rgba.as_raw(), 4, rgba.width() as usize),
        other => {
            converted = other.to_rgb8();
            (converted.as_raw(), 3, converted.width() as usize)
        }
    };
    let (mut flat, mut sharp, mut pairs) = (0u64, 0u64, 0u64);
    let row_len = width * channels;
    if row_len == 0 || width < 2 {
        return (0, 0);
    }
    for row in raw.chunks_exact(row_len) {
        for (a, b) in row
            .chunks_exact(channels)
            .zip(row.chunks_exact(channels).skip(1))
        {
            let step = (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0);
            flat += u64::from(step == 0);
            sharp += u64::from(step >= SHARP_STEP);
            pairs += 1;
        }
    }
    if pairs == 0 {
        return (0, 0);
    }
    ((flat * 1000 / pairs) as u32, (sharp * 1000 / pairs) as u32)
}

/// A step between neighbours that counts as a sharp edge.
pub const SHARP_STEP: u8 = 64;

/// Whether the image looks like a screenshot of text, a UI or a diagram
/// rather than a photo: large flat areas (at least 60% of neighbouring pixels
/// identical) and sharp edges (at least 1% of them a step of 64 or more).
/// Photos have noise (few identical neighbours) and soft edges.
pub fn text_like(img: &image::DynamicImage) -> bool {
    let (flat, sharp) = edge_stats(img);
    flat >= 600 && sharp >= 10
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
