//! image_info: what an image is, from its header alone.

use mcp_servers_core::error::{ToolResult, blocking};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ImageServer;
use crate::cost::CALL_OVERHEAD;
use crate::source::{self, ExifSummary, Input, format_name};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SourceParams {
    /// Image file (absolute, or relative to the first allowed directory). Give this or `data`.
    pub path: Option<String>,
    /// The image itself: base64, or a data: URL (data:image/png;base64,...). Give this or `path`.
    pub data: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoOutput {
    /// png, jpeg, webp, gif, bmp, tiff or ico (from the magic bytes, not the extension).
    pub format: String,
    pub mime_type: String,
    /// Width in pixels as stored.
    pub width: u32,
    /// Height in pixels as stored.
    pub height: u32,
    /// Width once the EXIF orientation is applied (what a viewer shows).
    pub display_width: u32,
    /// Height once the EXIF orientation is applied.
    pub display_height: u32,
    /// Colour type as stored, e.g. rgb8, rgba8, l8, rgb16, cmyk8 (a CMYK or YCCK JPEG).
    pub color_type: String,
    /// Bits per channel.
    pub bit_depth: u16,
    pub channels: u8,
    pub has_alpha: bool,
    /// Frames of an animated GIF, PNG or WebP (absent for formats that cannot animate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<usize>,
    pub animated: bool,
    /// Size of the file or data in bytes.
    pub file_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// EXIF summary, when the image has EXIF data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exif: Option<ExifSummary>,
}

#[tool_router(router = info_router, vis = "pub(crate)")]
impl ImageServer {
    #[tool(
        title = "Image Info",
        description = "Describe an image without decoding its pixels: format (from the magic bytes, not the extension), width and height (also as displayed after EXIF orientation), colour type, bit depth, alpha, frame count of animations, file size, and an EXIF summary (orientation, camera make and model, date taken, whether GPS position data is present). Cheap: use it before deciding how to process or view an image. Give `path` (inside the allowed directories) or `data` (base64 or a data: URL).",
        output_schema = schema_for_output::<InfoOutput>(),
        annotations(title = "Image Info", read_only_hint = true, open_world_hint = false)
    )]
    pub async fn image_info(
        &self,
        Parameters(p): Parameters<SourceParams>,
    ) -> ToolResult<CallToolResult> {
        let sandbox = self.sandbox.clone();
        let config = self.config.clone();
        let out = blocking(move || {
            let limits = &config.limits;
            let input = Input::resolve(&sandbox, p.path.as_deref(), p.data.as_deref(), limits, "")?;
            // The bytes read, and the EXIF parser's copy and fields (held to
            // twice the block by `exif_summary`); no pixels.
            let reading = input.read_cost(limits);
            let _memory = config.memory.reserve(
                reading.saturating_mul(3).saturating_add(CALL_OVERHEAD),
                "reading this image's header",
            )?;
            let (src, file_size) = match &input {
                Input::File(real, _) => source::Source::header_of_file(real, limits)?,
                Input::Data(_) => {
                    let src = input.read(limits)?;
                    let size = src.bytes.len() as u64;
                    (src, size)
                }
            };
            let hdr = source::header(&src, limits)?;
            let exif = source::exif_summary(&src.bytes);
            let (display_width, display_height) = hdr.oriented_dimensions();
            let mut channels = hdr.original_color.channel_count();
            let mut color_type = format!("{:?}", hdr.original_color).to_lowercase();
            let mut bit_depth = hdr.original_color.bits_per_pixel() / u16::from(channels.max(1));
            // CMYK JPEGs: the decoders report the RGB they convert to.
            if let Some((model, n)) = source::stored_color_model(&src) {
                (color_type, channels, bit_depth) = (model, n, 8);
            }
            Ok(InfoOutput {
                format: format_name(src.format),
                mime_type: src.format.to_mime_type().to_owned(),
                width: hdr.width,
                height: hdr.height,
                display_width,
                display_height,
                color_type,
                bit_depth,
                channels,
                has_alpha: hdr.color.has_alpha(),
                frames: hdr.frames,
                animated: hdr.frames.is_some_and(|n| n > 1),
                file_size,
                path: src.path().map(|p| p.display().to_string()),
                exif,
            })
        })
        .await?;
        let summary = summarize(&out);
        mcp_servers_core::content::structured(&out, summary)
    }
}

fn summarize(info: &InfoOutput) -> String {
    let mut text = format!(
        "{}: {} {}x{}, {} ({}-bit, {} channels{}), {} bytes",
        info.path.as_deref().unwrap_or("inline data"),
        info.format.to_uppercase(),
        info.width,
        info.height,
        info.color_type,
        info.bit_depth,
        info.channels,
        if info.has_alpha { ", alpha" } else { "" },
        info.file_size
    );
    if let Some(frames) = info.frames.filter(|&n| n > 1) {
        text.push_str(&format!(", animated: {frames} frames"));
    }
    if (info.display_width, info.display_height) != (info.width, info.height) {
        text.push_str(&format!(
            "; displayed as {}x{} after EXIF orientation",
            info.display_width, info.display_height
        ));
    }
    if let Some(exif) = &info.exif {
        let mut parts = Vec::new();
        if let Some(o) = exif.orientation {
            parts.push(format!("orientation {o}"));
        }
        let camera: Vec<&str> = [exif.make.as_deref(), exif.model.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if !camera.is_empty() {
            parts.push(camera.join(" "));
        }
        if let Some(date) = &exif.date_time {
            parts.push(format!("taken {date}"));
        }
        if exif.has_gps {
            parts.push("GPS position present".to_owned());
        }
        if !parts.is_empty() {
            text.push_str(&format!("; EXIF: {}", parts.join(", ")));
        }
    }
    text
}
