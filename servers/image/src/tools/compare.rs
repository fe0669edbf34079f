//! compare: how different two images are, with an optional diff image.

use std::sync::Arc;

use image::{DynamicImage, GenericImageView, RgbaImage};
use mcp_servers_core::error::{ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Delivery, ImageMeta, OutputMeta, deliver, describe_output, result_with};
use crate::ImageServer;
use crate::cost::{Meter, Shape};
use crate::encode::{DEFAULT_QUALITY, OutputFormat};
use crate::ops::{Filter, resize_exact};
use crate::params::Int;
use crate::source::{self, DecodeCache, Header, Input, Limits, Source};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CompareParams {
    /// First image file. Give this or `data_a`.
    pub path_a: Option<String>,
    /// First image as base64 or a data: URL.
    pub data_a: Option<String>,
    /// Second image file. Give this or `data_b`.
    pub path_b: Option<String>,
    /// Second image as base64 or a data: URL.
    pub data_b: Option<String>,
    /// A pixel counts as changed when a channel differs by more than this (0-255, default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = 255))]
    pub threshold: Int,
    /// Write a diff image (changed pixels red over a faded copy of A) to this PNG file.
    pub diff_output_path: Option<String>,
    /// Return the diff image inline (default false).
    #[serde(default)]
    pub return_diff: bool,
    /// Replace diff_output_path if it exists (default false).
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CompareOutput {
    pub a: ImageMeta,
    pub b: ImageMeta,
    pub same_dimensions: bool,
    /// Whether B was resized to A's dimensions before comparing.
    pub resized_b: bool,
    /// Mean absolute difference per channel (RGBA), 0 (same) to 255.
    pub mean_absolute_error: f64,
    /// Peak signal-to-noise ratio in dB; absent when the images are identical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psnr_db: Option<f64>,
    pub identical: bool,
    /// Pixels with a channel differing by more than the threshold.
    pub changed_pixels: u64,
    /// changed_pixels / all pixels, 0 to 1.
    pub changed_share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<OutputMeta>,
}

/// Metrics of two same-sized RGBA images, and the diff image when asked for.
pub struct Metrics {
    pub mae: f64,
    pub mse: f64,
    pub changed: u64,
    pub diff: Option<RgbaImage>,
}

/// Compares row by row (stopping once the call is cancelled or past its
/// deadline); draws the diff image only when `with_diff`.
pub fn measure(
    a: &RgbaImage,
    b: &RgbaImage,
    threshold: u8,
    with_diff: bool,
) -> ToolResult<Metrics> {
    let mut abs_sum = 0u64;
    let mut sq_sum = 0u64;
    let mut changed = 0u64;
    let mut diff = with_diff.then(|| RgbaImage::new(a.width(), a.height()));
    let row_len = a.width() as usize * 4;
    for y in 0..a.height() as usize {
        if y % 256 == 0 {
            mcp_servers_core::work::check()?;
        }
        let row = y * row_len..(y + 1) * row_len;
        let (ra, rb) = (&a.as_raw()[row.clone()], &b.as_raw()[row.clone()]);
        let mut rd = diff.as_mut().map(|d| &mut (**d)[row]);
        for (i, (pa, pb)) in ra.chunks_exact(4).zip(rb.chunks_exact(4)).enumerate() {
            let mut max = 0u8;
            for c in 0..4 {
                let d = pa[c].abs_diff(pb[c]);
                abs_sum += u64::from(d);
                sq_sum += u64::from(d) * u64::from(d);
                max = max.max(d);
            }
            let pixel = if max > threshold {
                changed += 1;
                [255, 0, 0, 255]
            } else {
                let luma =
                    (u32::from(pa[0]) * 299 + u32::from(pa[1]) * 587 + u32::from(pa[2]) * 114)
                        / 1000;
                let faded = (170 + luma / 3) as u8;
                [faded, faded, faded, 255]
            };
            if let Some(rd) = rd.as_mut() {
                rd[i * 4..i * 4 + 4].copy_from_slice(&pixel);
            }
        }
    }
    let samples = (u64::from(a.width()) * u64::from(a.height()) * 4).max(1) as f64;
    Ok(Metrics {
        mae: abs_sum as f64 / samples,
        mse: sq_sum as f64 / samples,
        changed,
        diff,
    })
}

/// The image upright as RGBA, `size` (A's) when given; its own copy freed
/// as soon as it is converted.
fn load_rgba(
    src: &Source,
    hdr: &Header,
    limits: &Limits,
    cache: &DecodeCache,
    size: Option<(u32, u32)>,
    max_alloc: u64,
) -> ToolResult<RgbaImage> {
    let decoded = source::decode_within(src, hdr, limits, cache, None, max_alloc)?;
    let mut img = Arc::try_unwrap(decoded).unwrap_or_else(|shared| (*shared).clone());
    img.apply_orientation(hdr.orientation);
    if let Some((w, h)) = size
        && img.dimensions() != (w, h)
    {
        img = resize_exact(&img, w, h, Filter::Lanczos3)?;
    }
    mcp_servers_core::work::check()?;
    Ok(img.into_rgba8())
}

/// What [`load_rgba`] costs, on top of what the meter holds.
fn rgba_cost(
    m: &mut Meter,
    src: &Source,
    hdr: &Header,
    cached: bool,
    size: Option<(u32, u32)>,
) -> Shape {
    let shape = m.decode_source(src, hdr, None, cached && src.key.is_some());
    let mut shape = m.orient(shape, hdr.orientation);
    if let Some((w, h)) = size
        && (shape.width, shape.height) != (w, h)
    {
        shape = m.resize(shape, w, h);
    }
    let rgba = Shape::rgba8(shape.width, shape.height);
    m.alloc(rgba.bytes());
    m.free(shape.bytes());
    rgba
}

/// The memory a comparison takes: both inputs, A as RGBA while B is
/// decoded, oriented, resized and converted, the diff image and its encode.
fn compare_cost(sources: &[(Source, Header)], cached: bool, diff: Option<bool>) -> u64 {
    let [(src_a, hdr_a), (src_b, hdr_b)] = sources else {
        return 0;
    };
    let mut m = Meter::new();
    m.alloc(src_a.bytes.len() as u64 + src_b.bytes.len() as u64);
    let a = rgba_cost(&mut m, src_a, hdr_a, cached, None);
    let b = rgba_cost(&mut m, src_b, hdr_b, cached, Some((a.width, a.height)));
    if let Some(inline) = diff {
        m.alloc(a.bytes());
        m.free(a.bytes() + b.bytes());
        m.deliver(a, OutputFormat::Png, inline);
    }
    m.total()
}

#[tool_router(router = compare_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Compare Images",
        description = "Compare two images (A: path_a or data_a; B: path_b or data_b): dimensions, mean absolute error (0-255 per channel), PSNR in dB, and the share of changed pixels (a channel differing by more than `threshold`). Images of different sizes are compared after resizing B to A's size (reported as resized_b). Optionally produces a diff image (changed pixels red over a faded copy of A), written to diff_output_path and/or returned inline (return_diff). Use for visual regression checks and before/after comparisons.",
        output_schema = schema_for_output::<CompareOutput>(),
        annotations(title = "Compare Images", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn compare(
        &self,
        Parameters(p): Parameters<CompareParams>,
    ) -> ToolResult<CallToolResult> {
        let delivery = if p.diff_output_path.is_some() || p.return_diff {
            Some(Delivery::resolve(
                &self.sandbox,
                p.diff_output_path.as_deref(),
                p.overwrite,
                Some(p.return_diff),
                self.config.max_inline_bytes,
            )?)
        } else {
            None
        };
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let threshold = p.threshold.check("threshold", 0, 255)? as u8;
        let (blocks, out) = blocking(move || {
            let limits = &config.limits;
            let input_a = Input::resolve(
                &sandbox,
                p.path_a.as_deref(),
                p.data_a.as_deref(),
                limits,
                "_a",
            )?;
            let input_b = Input::resolve(
                &sandbox,
                p.path_b.as_deref(),
                p.data_b.as_deref(),
                limits,
                "_b",
            )?;
            let cached = config.cache.enabled();
            let diff_inline = delivery.as_ref().map(|d| d.inline);
            let loaded = source::load_reserved(
                &config.memory,
                &[input_a, input_b],
                limits,
                "this comparison",
                |sources| compare_cost(sources, cached, diff_inline),
            )?;
            let reserved = loaded.reservation.bytes();
            let [(src_a, hdr_a), (src_b, hdr_b)] = loaded.sources.as_slice() else {
                unreachable!("two inputs give two sources");
            };
            let meta_a = ImageMeta::of_source(src_a, hdr_a);
            let meta_b = ImageMeta::of_source(src_b, hdr_b);
            let a = load_rgba(src_a, hdr_a, limits, &config.cache, None, reserved)?;
            let b_size = if source::swaps_axes(hdr_b.orientation) {
                (hdr_b.height, hdr_b.width)
            } else {
                (hdr_b.width, hdr_b.height)
            };
            let same_dimensions = a.dimensions() == b_size;
            let b = load_rgba(
                src_b,
                hdr_b,
                limits,
                &config.cache,
                Some(a.dimensions()),
                reserved,
            )?;
            let m = measure(&a, &b, threshold, delivery.is_some())?;
            let pixels = (u64::from(a.width()) * u64::from(a.height())).max(1);
            drop((a, b));
            let (blocks, diff) = match (&delivery, m.diff) {
                (Some(delivery), Some(diff)) => {
                    let (blocks, meta) = deliver(
                        &DynamicImage::ImageRgba8(diff),
                        OutputFormat::Png,
                        DEFAULT_QUALITY,
                        delivery,
                    )?;
                    (blocks, Some(meta))
                }
                _ => (Vec::new(), None),
            };
            let out = CompareOutput {
                a: meta_a,
                b: meta_b,
                same_dimensions,
                resized_b: !same_dimensions,
                mean_absolute_error: round3(m.mae),
                psnr_db: (m.mse > 0.0).then(|| round3(10.0 * (255.0f64 * 255.0 / m.mse).log10())),
                identical: m.mse == 0.0,
                changed_pixels: m.changed,
                changed_share: round3(m.changed as f64 / pixels as f64),
                diff,
            };
            Ok((blocks, out))
        })
        .await?;
        let mut summary = if out.identical {
            "identical pixels".to_owned()
        } else {
            format!(
                "{:.1}% of pixels changed; mean absolute error {:.3}; PSNR {:.2} dB",
                out.changed_share * 100.0,
                out.mean_absolute_error,
                out.psnr_db.unwrap_or(f64::INFINITY)
            )
        };
        if out.resized_b {
            summary.push_str(&format!(
                " (B, {}x{}, was resized to A's {}x{})",
                out.b.width, out.b.height, out.a.width, out.a.height
            ));
        }
        if let Some(diff) = &out.diff {
            summary.push_str(&format!("; diff image: {}", describe_output(diff)));
        }
        result_with(summary, blocks, &out)
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn metrics_of_known_differences() {
        let a = RgbaImage::from_pixel(10, 10, Rgba([100, 100, 100, 255]));
        let same = measure(&a, &a, 0, false).unwrap();
        assert_eq!((same.mae, same.mse, same.changed), (0.0, 0.0, 0));
        assert!(same.diff.is_none(), "no diff image unless asked for");
        let mut b = a.clone();
        for x in 0..10 {
            b.put_pixel(x, 0, Rgba([110, 100, 100, 255]));
        }
        let m = measure(&a, &b, 0, true).unwrap();
        assert_eq!(m.changed, 10);
        let diff = m.diff.unwrap();
        // 10 pixels x 1 channel x 10 over 400 samples.
        assert!((m.mae - 0.25).abs() < 1e-9);
        assert!((m.mse - 2.5).abs() < 1e-9);
        assert_eq!(*diff.get_pixel(3, 0), Rgba([255, 0, 0, 255]));
        assert_ne!(*diff.get_pixel(3, 5), Rgba([255, 0, 0, 255]));
        assert_eq!(measure(&a, &b, 10, false).unwrap().changed, 0);
    }
}
