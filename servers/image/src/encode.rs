//! Output formats, encoding, the inline size cap, and sandboxed writes.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::png::{CompressionType, PngEncoder};
use image::{DynamicImage, GenericImageView, ImageFormat};
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil::{atomic_write, atomic_write_new};
use mcp_servers_core::sandbox::PathSandbox;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ops::{Filter, resize_exact};

/// Default JPEG quality.
pub const DEFAULT_QUALITY: u8 = 85;

/// A format this server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Png,
    #[serde(alias = "jpg")]
    Jpeg,
    /// Lossless WebP.
    Webp,
    /// First frame only, 256 colours.
    Gif,
    Bmp,
    #[serde(alias = "tif")]
    Tiff,
    /// At most 256x256 pixels.
    Ico,
}

impl OutputFormat {
    pub fn image_format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Webp => ImageFormat::WebP,
            Self::Gif => ImageFormat::Gif,
            Self::Bmp => ImageFormat::Bmp,
            Self::Tiff => ImageFormat::Tiff,
            Self::Ico => ImageFormat::Ico,
        }
    }

    pub fn from_image_format(format: ImageFormat) -> Option<Self> {
        Some(match format {
            ImageFormat::Png => Self::Png,
            ImageFormat::Jpeg => Self::Jpeg,
            ImageFormat::WebP => Self::Webp,
            ImageFormat::Gif => Self::Gif,
            ImageFormat::Bmp => Self::Bmp,
            ImageFormat::Tiff => Self::Tiff,
            ImageFormat::Ico => Self::Ico,
            _ => return None,
        })
    }

    /// From a file name's extension (`.jpg`, `.png`, ...).
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = Path::new(path).extension()?.to_str()?;
        Self::from_image_format(ImageFormat::from_extension(ext)?)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
            Self::Ico => "ico",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            other => other.name(),
        }
    }

    pub fn mime(self) -> &'static str {
        self.image_format().to_mime_type()
    }

    /// Explicit `format`, else the extension of `output_path`, else the
    /// source's format, else PNG.
    pub fn choose(explicit: Option<Self>, output_path: Option<&str>, source: ImageFormat) -> Self {
        explicit
            .or_else(|| output_path.and_then(Self::from_path))
            .or_else(|| Self::from_image_format(source))
            .unwrap_or(Self::Png)
    }
}

/// Baseline JPEG of an 8-bit gray or RGB image, with the SIMD encoder:
/// chroma 4:2:0 below quality 90 and 4:4:4 from 90 up (libjpeg's and
/// Pillow's default), or always 4:4:4 with `full_chroma`.
fn encode_jpeg(img: &DynamicImage, quality: u8, full_chroma: bool) -> ToolResult<Vec<u8>> {
    use jpeg_encoder::{ColorType, Encoder};
    let (w, h) = img.dimensions();
    let too_big = || {
        ToolError::new(format!(
            "JPEG images are at most 65535x65535 pixels and this one is {w}x{h}; add a resize \
             operation or choose png"
        ))
    };
    let (width, height) = (
        u16::try_from(w).map_err(|_| too_big())?,
        u16::try_from(h).map_err(|_| too_big())?,
    );
    let (pixels, color) = match img {
        DynamicImage::ImageLuma8(gray) => (gray.as_raw(), ColorType::Luma),
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), ColorType::Rgb),
        other => {
            return encode_jpeg(
                &DynamicImage::ImageRgb8(other.to_rgb8()),
                quality,
                full_chroma,
            );
        }
    };
    let mut out = Vec::with_capacity(pixels.len() / 8);
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    if full_chroma {
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    }
    encoder
        .encode(pixels, width, height, color)
        .map_err(|e| ToolError::new(format!("cannot encode the image as jpeg: {e}")))?;
    Ok(out)
}

/// Alpha composited over white, for formats without transparency: an
/// 8-bit gray or RGB image.
fn flatten(img: &DynamicImage) -> Cow<'_, DynamicImage> {
    if !img.has_alpha() {
        return match img {
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => Cow::Borrowed(img),
            DynamicImage::ImageLuma16(_) => Cow::Owned(DynamicImage::ImageLuma8(img.to_luma8())),
            _ => Cow::Owned(DynamicImage::ImageRgb8(img.to_rgb8())),
        };
    }
    let gray = matches!(
        img,
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLumaA16(_)
    );
    let rgba = img.to_rgba8();
    let rgb = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    });
    let out = DynamicImage::ImageRgb8(rgb);
    Cow::Owned(if gray {
        DynamicImage::ImageLuma8(out.to_luma8())
    } else {
        out
    })
}

/// The image as 8-bit RGB or RGBA, borrowed when it already is.
fn to_8bit(img: &DynamicImage) -> Cow<'_, DynamicImage> {
    match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => Cow::Borrowed(img),
        _ if img.has_alpha() => Cow::Owned(DynamicImage::ImageRgba8(img.to_rgba8())),
        _ => Cow::Owned(DynamicImage::ImageRgb8(img.to_rgb8())),
    }
}

/// Room for an encoding of about the raw 8-bit size (PNG, BMP, TIFF,
/// lossless WebP), so the buffer is not doubled on the way.
fn raw_capacity(img: &DynamicImage) -> usize {
    let (w, h) = img.dimensions();
    let raw = w as usize * h as usize * usize::from(img.color().channel_count());
    raw + raw / 64 + (64 << 10)
}

/// Encodes `img` as `format` (`quality` 1-100 is used by JPEG).
pub fn encode(img: &DynamicImage, format: OutputFormat, quality: u8) -> ToolResult<Vec<u8>> {
    encode_with(img, format, quality, false)
}

/// [`encode`], with JPEG chroma kept at full resolution (4:4:4) at any
/// quality when `full_chroma` (for text and sharp coloured edges).
pub fn encode_with(
    img: &DynamicImage,
    format: OutputFormat,
    quality: u8,
    full_chroma: bool,
) -> ToolResult<Vec<u8>> {
    let (w, h) = img.dimensions();
    let mut out = match format {
        OutputFormat::Jpeg | OutputFormat::Gif | OutputFormat::Ico => Cursor::new(Vec::new()),
        _ => Cursor::new(Vec::with_capacity(raw_capacity(img))),
    };
    let failed = |e: image::ImageError| {
        ToolError::new(format!("cannot encode the image as {}: {e}", format.name()))
    };
    match format {
        OutputFormat::Jpeg => return encode_jpeg(&flatten(img), quality, full_chroma),
        OutputFormat::Png => {
            let encoder = PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Default,
                image::codecs::png::FilterType::Adaptive,
            );
            let img = match img {
                DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => to_8bit(img),
                _ => Cow::Borrowed(img),
            };
            img.write_with_encoder(encoder).map_err(failed)?;
        }
        OutputFormat::Ico => {
            if w > 256 || h > 256 {
                return Err(ToolError::new(format!(
                    "ICO images are at most 256x256 pixels and this one is {w}x{h}; add a \
                     resize operation (e.g. {{\"op\":\"resize\",\"width\":256,\"height\":256}})"
                )));
            }
            DynamicImage::ImageRgba8(img.to_rgba8())
                .write_to(&mut out, ImageFormat::Ico)
                .map_err(failed)?;
        }
        OutputFormat::Gif => {
            DynamicImage::ImageRgba8(img.to_rgba8())
                .write_to(&mut out, ImageFormat::Gif)
                .map_err(failed)?;
        }
        OutputFormat::Webp | OutputFormat::Bmp | OutputFormat::Tiff => {
            to_8bit(img)
                .write_to(&mut out, format.image_format())
                .map_err(failed)?;
        }
    }
    Ok(out.into_inner())
}

/// An image ready to go inline.
#[derive(Debug)]
pub struct Inline {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    pub width: u32,
    pub height: u32,
    /// Whether it was re-encoded smaller or downscaled to fit the cap.
    pub shrunk: bool,
}

/// Encodes `img` for returning inline within `max_bytes`: as asked if it
/// fits, else (JPEG) at lower quality, else downscaled step by step; an
/// error saying what to do when even a small version does not fit.
pub fn fit_inline(
    img: &DynamicImage,
    format: OutputFormat,
    quality: u8,
    encoded: Option<Vec<u8>>,
    max_bytes: usize,
) -> ToolResult<Inline> {
    fit_inline_with(img, format, quality, encoded, max_bytes, false)
}

/// [`fit_inline`], every JPEG encoding with full-resolution chroma when
/// `full_chroma` ([`encode_with`]).
pub fn fit_inline_with(
    img: &DynamicImage,
    format: OutputFormat,
    quality: u8,
    encoded: Option<Vec<u8>>,
    max_bytes: usize,
    full_chroma: bool,
) -> ToolResult<Inline> {
    let encode =
        |img: &DynamicImage, format, quality| encode_with(img, format, quality, full_chroma);
    let bytes = match encoded {
        Some(bytes) => bytes,
        None => encode(img, format, quality)?,
    };
    let (w, h) = img.dimensions();
    let first_len = bytes.len();
    if bytes.len() <= max_bytes {
        return Ok(Inline {
            bytes,
            format,
            width: w,
            height: h,
            shrunk: false,
        });
    }
    let mut quality = quality;
    if format == OutputFormat::Jpeg {
        for q in [70u8, 50] {
            if q >= quality {
                continue;
            }
            quality = q;
            let bytes = encode(img, format, q)?;
            if bytes.len() <= max_bytes {
                return Ok(Inline {
                    bytes,
                    format,
                    width: w,
                    height: h,
                    shrunk: true,
                });
            }
        }
    }
    let mut current_len = first_len;
    let (mut cw, mut ch) = (w, h);
    for _ in 0..8 {
        let factor = ((max_bytes as f64 / current_len as f64).sqrt() * 0.9).clamp(0.25, 0.9);
        cw = ((f64::from(cw) * factor).round() as u32).max(1);
        ch = ((f64::from(ch) * factor).round() as u32).max(1);
        if cw.max(ch) < 16 {
            break;
        }
        let smaller = resize_exact(img, cw, ch, Filter::Catmullrom)?;
        let bytes = encode(&smaller, format, quality)?;
        if bytes.len() <= max_bytes {
            return Ok(Inline {
                bytes,
                format,
                width: cw,
                height: ch,
                shrunk: true,
            });
        }
        current_len = bytes.len();
    }
    Err(ToolError::new(format!(
        "the {w}x{h} result is {first_len} bytes as {}, over the inline limit of {max_bytes} \
         bytes (--max-inline-bytes), and re-encoding or downscaling could not make it fit; \
         write it to a file with output_path instead, or ask for a smaller size or JPEG",
        format.name()
    )))
}

/// Writes `bytes` to the sandboxed `user_path` atomically; an existing file
/// is replaced only with `overwrite`.
pub fn write_output(
    sandbox: &PathSandbox,
    user_path: &str,
    bytes: &[u8],
    overwrite: bool,
) -> ToolResult<PathBuf> {
    let path = sandbox
        .resolve_for_write(user_path)
        .map_err(crate::path_error)?;
    write_resolved(&path, bytes, overwrite)?;
    Ok(path)
}

/// Like [`write_output`] for a path the sandbox already resolved.
pub fn write_resolved(path: &Path, bytes: &[u8], overwrite: bool) -> ToolResult<()> {
    let result = if overwrite {
        atomic_write(path, bytes)
    } else {
        atomic_write_new(path, bytes)
    };
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ToolError::new(format!(
                "{} already exists; pass overwrite: true to replace it, or choose another output_path",
                path.display()
            ))
        } else if e.get_ref().is_some() {
            ToolError::new(e.to_string())
        } else {
            ToolError::io(&e, path)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32) -> DynamicImage {
        let mut state = 0x1234_5678u32;
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let b = state.to_le_bytes();
            image::Rgb([b[0], b[1], b[2]])
        }))
    }

    #[test]
    fn every_format_round_trips() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(40, 30, |x, y| {
            image::Rgba([
                x as u8 * 6,
                y as u8 * 8,
                100,
                if x < 20 { 255 } else { 128 },
            ])
        }));
        for format in [
            OutputFormat::Png,
            OutputFormat::Jpeg,
            OutputFormat::Webp,
            OutputFormat::Gif,
            OutputFormat::Bmp,
            OutputFormat::Tiff,
            OutputFormat::Ico,
        ] {
            let bytes = encode(&img, format, 90).unwrap();
            assert_eq!(image::guess_format(&bytes).unwrap(), format.image_format());
            let back = image::load_from_memory(&bytes).unwrap();
            assert_eq!(back.dimensions(), (40, 30), "{format:?}");
        }
    }

    #[test]
    fn jpeg_flattens_alpha_onto_white() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            8,
            8,
            image::Rgba([0, 0, 0, 0]),
        ));
        let back = image::load_from_memory(&encode(&img, OutputFormat::Jpeg, 95).unwrap()).unwrap();
        assert!(back.to_rgb8().get_pixel(4, 4).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn ico_refuses_large_images() {
        let err = encode(&noise(300, 10), OutputFormat::Ico, 90).unwrap_err();
        assert!(err.message().contains("at most 256x256"), "{err}");
    }

    #[test]
    fn format_choice() {
        assert_eq!(
            OutputFormat::choose(None, Some("x/out.JPG"), ImageFormat::Png),
            OutputFormat::Jpeg
        );
        assert_eq!(
            OutputFormat::choose(Some(OutputFormat::Webp), Some("x.jpg"), ImageFormat::Png),
            OutputFormat::Webp
        );
        assert_eq!(
            OutputFormat::choose(None, None, ImageFormat::Gif),
            OutputFormat::Gif
        );
        assert_eq!(
            OutputFormat::choose(None, Some("noext"), ImageFormat::Qoi),
            OutputFormat::Png
        );
    }

    #[test]
    fn inline_results_shrink_to_fit_or_fail_clearly() {
        let img = noise(400, 300);
        let full = encode(&img, OutputFormat::Png, 85).unwrap();
        let fitted = fit_inline(
            &img,
            OutputFormat::Png,
            85,
            Some(full.clone()),
            full.len() / 3,
        )
        .unwrap();
        assert!(fitted.shrunk);
        assert!(fitted.bytes.len() <= full.len() / 3);
        assert!(fitted.width < 400);
        let same = fit_inline(&img, OutputFormat::Png, 85, None, full.len()).unwrap();
        assert!(!same.shrunk);
        let err = fit_inline(&img, OutputFormat::Png, 85, None, 50).unwrap_err();
        assert!(err.message().contains("--max-inline-bytes"), "{err}");
    }

    #[test]
    fn writes_never_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let sandbox = PathSandbox::new(&[&root]).unwrap();
        let target = root.join("out.png");
        let path = write_output(&sandbox, target.to_str().unwrap(), b"one", false).unwrap();
        assert_eq!(path, target);
        let err = write_output(&sandbox, target.to_str().unwrap(), b"two", false).unwrap_err();
        assert!(err.message().contains("overwrite: true"), "{err}");
        write_output(&sandbox, target.to_str().unwrap(), b"two", true).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        assert!(write_output(&sandbox, "/etc/evil.png", b"x", true).is_err());
    }
}
