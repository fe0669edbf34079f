//! compare: how different two images are, with an optional diff image.

use image::{DynamicImage, GenericImageView, Rgba, RgbaImage};
use mcp_servers_core::error::{ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Delivery, ImageMeta, OutputMeta, deliver, describe_output, result_with};
use crate::ImageServer;
use crate::encode::{DEFAULT_QUALITY, OutputFormat};
use crate::ops::{Filter, resize_exact};
use crate::source::{self, DecodeCache, Limits, Source};

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
    pub threshold: u8,
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

/// Metrics of two same-sized RGBA images, and the diff image.
pub struct Metrics {
    pub mae: f64,
    pub mse: f64,
    pub changed: u64,
    pub diff: RgbaImage,
}

pub fn measure(a: &RgbaImage, b: &RgbaImage, threshold: u8) -> Metrics {
    let mut abs_sum = 0u64;
    let mut sq_sum = 0u64;
    let mut changed = 0u64;
    let mut diff = RgbaImage::new(a.width(), a.height());
    for ((pa, pb), pd) in a.pixels().zip(b.pixels()).zip(diff.pixels_mut()) {
        let mut max = 0u8;
        for c in 0..4 {
            let d = pa[c].abs_diff(pb[c]);
            abs_sum += u64::from(d);
            sq_sum += u64::from(d) * u64::from(d);
            max = max.max(d);
        }
        if max > threshold {
            changed += 1;
            *pd = Rgba([255, 0, 0, 255]);
        } else {
            let luma =
                (u32::from(pa[0]) * 299 + u32::from(pa[1]) * 587 + u32::from(pa[2]) * 114) / 1000;
            let faded = (170 + luma / 3) as u8;
            *pd = Rgba([faded, faded, faded, 255]);
        }
    }
    let samples = (u64::from(a.width()) * u64::from(a.height()) * 4).max(1) as f64;
    Metrics {
        mae: abs_sum as f64 / samples,
        mse: sq_sum as f64 / samples,
        changed,
        diff,
    }
}

fn load_oriented(
    src: &Source,
    limits: &Limits,
    cache: &DecodeCache,
) -> ToolResult<(DynamicImage, ImageMeta)> {
    let hdr = source::header(src, limits)?;
    let mut img = (*source::decode(src, &hdr, limits, cache, None)?).clone();
    img.apply_orientation(hdr.orientation);
    Ok((img, ImageMeta::of_source(src, &hdr)))
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
        let (blocks, out) = blocking(move || {
            let limits = &config.limits;
            let src_a = source::load(
                &sandbox,
                p.path_a.as_deref(),
                p.data_a.as_deref(),
                limits,
                "_a",
            )?;
            let src_b = source::load(
                &sandbox,
                p.path_b.as_deref(),
                p.data_b.as_deref(),
                limits,
                "_b",
            )?;
            let (img_a, meta_a) = load_oriented(&src_a, limits, &config.cache)?;
            let (mut img_b, meta_b) = load_oriented(&src_b, limits, &config.cache)?;
            let same_dimensions = img_a.dimensions() == img_b.dimensions();
            if !same_dimensions {
                let (w, h) = img_a.dimensions();
                img_b = resize_exact(&img_b, w, h, Filter::Lanczos3)?;
            }
            let m = measure(&img_a.to_rgba8(), &img_b.to_rgba8(), p.threshold);
            let pixels = (u64::from(img_a.width()) * u64::from(img_a.height())).max(1);
            let (blocks, diff) = match &delivery {
                Some(delivery) => {
                    let (blocks, meta) = deliver(
                        &DynamicImage::ImageRgba8(m.diff),
                        OutputFormat::Png,
                        DEFAULT_QUALITY,
                        delivery,
                    )?;
                    (blocks, Some(meta))
                }
                None => (Vec::new(), None),
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

    #[test]
    fn metrics_of_known_differences() {
        let a = RgbaImage::from_pixel(10, 10, Rgba([100, 100, 100, 255]));
        let same = measure(&a, &a, 0);
        assert_eq!((same.mae, same.mse, same.changed), (0.0, 0.0, 0));
        let mut b = a.clone();
        for x in 0..10 {
            b.put_pixel(x, 0, Rgba([110, 100, 100, 255]));
        }
        let m = measure(&a, &b, 0);
        assert_eq!(m.changed, 10);
        // 10 pixels x 1 channel x 10 over 400 samples.
        assert!((m.mae - 0.25).abs() < 1e-9);
        assert!((m.mse - 2.5).abs() < 1e-9);
        assert_eq!(*m.diff.get_pixel(3, 0), Rgba([255, 0, 0, 255]));
        assert_ne!(*m.diff.get_pixel(3, 5), Rgba([255, 0, 0, 255]));
        assert_eq!(measure(&a, &b, 10).changed, 0);
    }
}
