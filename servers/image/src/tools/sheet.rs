//! contact_sheet: several images as numbered thumbnails in one grid.

use std::sync::{Arc, Mutex};

use image::{DynamicImage, Rgba, RgbaImage};
use mcp_servers_core::error::{ToolError, ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Delivery, OutputMeta, deliver, describe_output, par_map, result_with};
use crate::cost::{Meter, Shape};
use crate::encode::OutputFormat;
use crate::ops::{Extent, Filter, Fit, resize_region, resize_target};
use crate::params::{self, Int};
use crate::source::{self, Header, Input, format_name, swaps_axes};
use crate::{ImageServer, font};

/// Most images on one sheet.
pub const MAX_SHEET_IMAGES: usize = 400;
const PAD: u32 = 4;
const FONT_SCALE: u32 = 2;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SheetParams {
    /// Image files (inside the allowed directories), shown in this order and numbered from 1.
    #[schemars(length(min = 1, max = 400))]
    pub paths: Vec<String>,
    /// Images per row, 1-100 (default: a near-square grid; more columns than images means one row).
    #[schemars(range(min = 1, max = 100))]
    pub columns: Option<Int>,
    /// Thumbnail box in pixels, 16-1024 (default 256).
    #[schemars(range(min = 16, max = 1024))]
    pub cell_size: Option<Int>,
    /// Number each image in a strip under it (default true).
    pub labels: Option<bool>,
    /// Output format (default: from output_path's extension, else png).
    pub format: Option<OutputFormat>,
    /// JPEG quality 1-100 (default 85).
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<Int>,
    /// Write the sheet to this file (inside the allowed directories).
    pub output_path: Option<String>,
    /// Replace output_path if it exists (default false).
    #[serde(default)]
    pub overwrite: bool,
    /// Return the sheet inline (default: true when there is no output_path).
    pub return_image: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SheetEntry {
    /// The number drawn under the thumbnail (1-based).
    pub index: usize,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Why this image could not be shown (its cell stays empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SheetOutput {
    pub columns: u32,
    pub rows: u32,
    pub cell_size: u32,
    pub images: Vec<SheetEntry>,
    pub output: OutputMeta,
}

#[tool_router(router = sheet_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Contact Sheet",
        description = "Lay several images out as thumbnails in one labelled grid (each numbered from 1 in a strip under it, in the order given), so many images can be looked at in one go: e.g. pick which of 20 photos to examine. Thumbnails are auto-oriented and fit inside `cell_size` (default 256 px). Written to output_path and/or returned inline (default when no output_path). Unreadable images are listed with their error and leave an empty cell.",
        output_schema = schema_for_output::<SheetOutput>(),
        annotations(title = "Contact Sheet", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    pub async fn contact_sheet(
        &self,
        Parameters(p): Parameters<SheetParams>,
    ) -> ToolResult<CallToolResult> {
        if p.paths.is_empty() || p.paths.len() > MAX_SHEET_IMAGES {
            return Err(ToolError::new(format!(
                "paths must hold 1 to {MAX_SHEET_IMAGES} images, not {}",
                p.paths.len()
            )));
        }
        let delivery = Delivery::resolve(
            &self.sandbox,
            p.output_path.as_deref(),
            p.overwrite,
            p.return_image,
            self.config.max_inline_bytes,
        )?;
        let columns = p
            .columns
            .map(|c| c.check_u32("columns", 1, 100))
            .transpose()?;
        let cell = p
            .cell_size
            .map(|c| c.check_u32("cell_size", 16, 1024))
            .transpose()?
            .unwrap_or(256);
        let quality = params::quality(p.quality)?;
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let (blocks, out) = blocking(move || {
            let limits = &config.limits;
            let count = p.paths.len() as u32;
            let columns = columns
                .unwrap_or_else(|| (f64::from(count).sqrt().ceil() as u32).max(1))
                .clamp(1, count);
            let rows = count.div_ceil(columns);
            let label_h = if p.labels.unwrap_or(true) {
                font::HEIGHT * FONT_SCALE + 2 * PAD
            } else {
                0
            };
            let sheet_w = columns * (cell + PAD) + PAD;
            let sheet_h = rows * (cell + label_h + PAD) + PAD;
            limits.check_pixels(sheet_w, sheet_h, "the contact sheet")?;
            let format =
                OutputFormat::choose(p.format, p.output_path.as_deref(), image::ImageFormat::Png);
            // The sheet and its encode for the whole call; each thumbnail
            // reserves its own decode while it is made.
            let sheet_shape = Shape::rgba8(sheet_w, sheet_h);
            let mut m = Meter::new();
            m.alloc(sheet_shape.bytes());
            m.deliver(sheet_shape, format, delivery.inline);
            let sheet_memory = config.memory.reserve(m.total(), "this contact sheet")?;
            let sheet = Mutex::new(RgbaImage::from_pixel(
                sheet_w,
                sheet_h,
                Rgba([255, 255, 255, 255]),
            ));
            let origin = |index: usize| {
                let (col, row) = (index as u32 % columns, index as u32 / columns);
                (PAD + col * (cell + PAD), PAD + row * (cell + label_h + PAD))
            };
            let cached = config.cache.enabled();
            let thumbs = par_map(
                &p.paths,
                |index, user_path| -> ToolResult<(String, u32, u32)> {
                    let input = Input::resolve(&sandbox, Some(user_path), None, limits, "")?;
                    let what = format!("thumbnail #{}", index + 1);
                    let loaded = source::load_reserved_beside(
                        &config.memory,
                        sheet_memory.bytes(),
                        &[input],
                        limits,
                        &what,
                        |sources| {
                            let (src, hdr) = &sources[0];
                            let (tw, th, hint) = thumb_size(hdr, cell);
                            let mut m = Meter::new();
                            m.alloc(src.bytes.len() as u64);
                            let shape =
                                m.decode_source(src, hdr, Some(hint), cached && src.key.is_some());
                            let shape = m.orient(shape, hdr.orientation);
                            let thumb = m.resize(shape, tw, th);
                            m.temp(Shape::rgba8(thumb.width, thumb.height).bytes());
                            m.total()
                        },
                    )?;
                    let (src, hdr) = &loaded.sources[0];
                    let (ow, oh) = hdr.oriented_dimensions();
                    let (tw, th, hint) = thumb_size(hdr, cell);
                    let reserved = loaded.reservation.bytes();
                    let decoded = source::decode_within(
                        src,
                        hdr,
                        limits,
                        &config.cache,
                        Some(hint),
                        reserved,
                    )?;
                    let mut img =
                        Arc::try_unwrap(decoded).unwrap_or_else(|shared| (*shared).clone());
                    let extent = Extent::of((hdr.width, hdr.height), (img.width(), img.height()))
                        .map(|e| e.orient(hdr.orientation));
                    img.apply_orientation(hdr.orientation);
                    let region = extent.map(|e| e.region((img.width(), img.height())));
                    let thumb = resize_region(&img, region, tw, th, Filter::Catmullrom)?;
                    drop(img);
                    let (x0, y0) = origin(index);
                    let mut sheet = sheet.lock().unwrap_or_else(|e| e.into_inner());
                    image::imageops::overlay(
                        &mut *sheet,
                        &thumb.to_rgba8(),
                        i64::from(x0 + (cell - tw) / 2),
                        i64::from(y0 + (cell - th) / 2),
                    );
                    Ok((format_name(src.format), ow, oh))
                },
                || mcp_servers_core::work::check().is_err(),
            );
            mcp_servers_core::work::check()?;

            let mut sheet = sheet.into_inner().unwrap_or_else(|e| e.into_inner());
            let mut images = Vec::new();
            for (index, (user_path, thumb)) in p.paths.iter().zip(thumbs).enumerate() {
                let (x0, y0) = origin(index);
                let mut entry = SheetEntry {
                    index: index + 1,
                    path: user_path.clone(),
                    format: None,
                    width: None,
                    height: None,
                    error: None,
                };
                match thumb.unwrap_or_else(|| Err(ToolError::new("not processed"))) {
                    Ok((format, w, h)) => {
                        entry.format = Some(format);
                        entry.width = Some(w);
                        entry.height = Some(h);
                    }
                    Err(e) => {
                        // A light red cell marks the failure.
                        for y in y0..y0 + cell {
                            for x in x0..x0 + cell {
                                sheet.put_pixel(x, y, Rgba([250, 220, 220, 255]));
                            }
                        }
                        entry.error = Some(e.message().to_owned());
                    }
                }
                if label_h > 0 {
                    let number = index + 1;
                    let x = x0 + cell.saturating_sub(font::width(number, FONT_SCALE)) / 2;
                    font::draw_number(
                        &mut sheet,
                        number,
                        x,
                        y0 + cell + PAD,
                        FONT_SCALE,
                        Rgba([0, 0, 0, 255]),
                    );
                }
                images.push(entry);
            }
            let (blocks, output) =
                deliver(&DynamicImage::ImageRgba8(sheet), format, quality, &delivery)?;
            Ok((
                blocks,
                SheetOutput {
                    columns,
                    rows,
                    cell_size: cell,
                    images,
                    output,
                },
            ))
        })
        .await?;
        let failed: Vec<String> = out
            .images
            .iter()
            .filter_map(|e| {
                e.error
                    .as_ref()
                    .map(|err| format!("#{} {}: {err}", e.index, e.path))
            })
            .collect();
        let mut summary = format!(
            "contact sheet of {} images ({}x{} grid): {}",
            out.images.len(),
            out.columns,
            out.rows,
            describe_output(&out.output)
        );
        if !failed.is_empty() {
            summary.push_str(&format!("\nfailed:\n{}", failed.join("\n")));
        }
        result_with(summary, blocks, &out)
    }
}

/// A thumbnail's size (upright, inside the cell, never enlarged) and the
/// size to decode toward (as stored).
fn thumb_size(hdr: &Header, cell: u32) -> (u32, u32, (u32, u32)) {
    let (ow, oh) = hdr.oriented_dimensions();
    let (tw, th) = resize_target(
        (ow, oh),
        Some(cell.min(ow)),
        Some(cell.min(oh)),
        Fit::Inside,
    );
    let hint = if swaps_axes(hdr.orientation) {
        (th, tw)
    } else {
        (tw, th)
    };
    (tw, th, hint)
}
