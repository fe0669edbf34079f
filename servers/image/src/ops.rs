//! The `operations` of transform and batch_transform: a list of steps
//! (serde internally tagged on `"op"`) applied in order to one decoded image.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView};
use mcp_servers_core::error::{ToolError, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::params::{Float, Int};
use crate::source::Limits;

/// Most operations in one call.
pub const MAX_OPERATIONS: usize = 100;
/// Largest width, height, x or y an operation takes, in pixels (every
/// result is also held to --max-pixels and the memory budget).
pub const MAX_SIDE: u32 = 100_000;
/// Largest blur sigma.
pub const MAX_BLUR_SIGMA: f64 = 250.0;
/// Largest sharpen sigma (its kernel, and its time, grow with it).
pub const MAX_SHARPEN_SIGMA: f64 = 10.0;

/// One step of a transform, as the client sends it. Steps run in the order
/// given, on one decoded image; every number is checked against the bounds
/// in its schema before anything is decoded.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// Resize. With only `width` or only `height` the aspect ratio is kept;
    /// with both, `fit` decides how the image meets the box.
    Resize {
        /// Target width in pixels, 1 to 100000.
        #[schemars(range(min = 1, max = 100000))]
        width: Option<Int>,
        /// Target height in pixels, 1 to 100000.
        #[schemars(range(min = 1, max = 100000))]
        height: Option<Int>,
        /// With both width and height: `inside` (default: keep the aspect
        /// ratio, as large as possible within the box), `contain` (like
        /// inside, then padded with transparency to exactly the box), `cover`
        /// (keep the aspect ratio, fill the box, crop the overflow centred),
        /// `fill` (stretch to exactly the box).
        #[serde(default)]
        fit: Fit,
        /// Resampling filter: `nearest`, `bilinear`, `catmullrom`, `lanczos3` (default).
        #[serde(default)]
        filter: Filter,
    },
    /// Crop a rectangle (`x`, `y`, `width`, `height`), or the largest centred
    /// region with `aspect_ratio` ("16:9", "1:1", "1.5").
    Crop {
        /// Left edge of the rectangle (default 0), 0 to 100000.
        #[schemars(range(min = 0, max = 100000))]
        x: Option<Int>,
        /// Top edge of the rectangle (default 0), 0 to 100000.
        #[schemars(range(min = 0, max = 100000))]
        y: Option<Int>,
        /// Width of the rectangle, 1 to 100000.
        #[schemars(range(min = 1, max = 100000))]
        width: Option<Int>,
        /// Height of the rectangle, 1 to 100000.
        #[schemars(range(min = 1, max = 100000))]
        height: Option<Int>,
        /// Instead of a rectangle: crop the largest centred region of this
        /// aspect ratio, "W:H" or a number (between 1:1000 and 1000:1).
        #[schemars(length(max = 64))]
        aspect_ratio: Option<String>,
    },
    /// Rotate clockwise by a multiple of 90 degrees (90, 180, 270; negative
    /// values turn counter-clockwise).
    Rotate {
        /// A multiple of 90 from -360 to 360.
        #[schemars(range(min = -360, max = 360), extend("multipleOf" = 90))]
        degrees: Int,
    },
    /// Apply the EXIF orientation, so the pixels are upright (camera photos).
    AutoOrient,
    /// Mirror the image.
    Flip {
        /// `horizontal` (left-right) or `vertical` (top-bottom).
        direction: FlipDirection,
    },
    /// Convert to grayscale (alpha kept).
    Grayscale,
    /// Brighten (positive) or darken (negative).
    Brightness {
        /// -255 to 255, added to every channel.
        #[schemars(range(min = -255, max = 255))]
        value: Int,
    },
    /// Raise (positive) or lower (negative) the contrast.
    Contrast {
        /// -100 to 100 (percent).
        #[schemars(range(min = -100, max = 100))]
        value: Float,
    },
    /// Gaussian-like blur.
    Blur {
        /// Strength (standard deviation in pixels), above 0 and at most 250.
        #[schemars(range(max = 250), extend("exclusiveMinimum" = 0))]
        sigma: Float,
    },
    /// Unsharp mask.
    Sharpen {
        /// Radius of the mask (standard deviation in pixels), above 0 and at most 10; default 1.
        #[schemars(range(max = 10), extend("exclusiveMinimum" = 0))]
        sigma: Option<Float>,
        /// Smallest difference that is sharpened, 0 to 255; default 0.
        #[schemars(range(min = 0, max = 255))]
        threshold: Option<Int>,
    },
    /// Invert the colours (alpha kept).
    Invert,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    Contain,
    Cover,
    Fill,
    #[default]
    Inside,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    Nearest,
    Bilinear,
    #[serde(alias = "catmull_rom")]
    Catmullrom,
    #[default]
    Lanczos3,
}

impl Filter {
    fn alg(self) -> ResizeAlg {
        match self {
            Self::Nearest => ResizeAlg::Nearest,
            Self::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
            Self::Catmullrom => ResizeAlg::Convolution(FilterType::CatmullRom),
            Self::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlipDirection {
    Horizontal,
    Vertical,
}

/// An operation whose arguments were checked: what [`apply`] runs and
/// [`crate::cost`] prices.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Resize {
        width: Option<u32>,
        height: Option<u32>,
        fit: Fit,
        filter: Filter,
    },
    Crop {
        x: u32,
        y: u32,
        width: Option<u32>,
        height: Option<u32>,
        aspect_ratio: Option<f64>,
    },
    /// Clockwise: 0, 90, 180 or 270.
    Rotate(u32),
    AutoOrient,
    Flip(FlipDirection),
    Grayscale,
    Brightness(i32),
    Contrast(f32),
    Blur(f32),
    Sharpen {
        sigma: f32,
        threshold: i32,
    },
    Invert,
}

/// Checks every operation's arguments before anything is decoded.
pub fn validate(ops: &[Operation]) -> ToolResult<Vec<Step>> {
    if ops.len() > MAX_OPERATIONS {
        return Err(ToolError::new(format!(
            "too many operations ({}); at most {MAX_OPERATIONS}",
            ops.len()
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(index, op)| {
            validate_one(op)
                .map_err(|e| ToolError::new(format!("operations[{index}]: {}", e.message())))
        })
        .collect()
}

fn side(value: Option<Int>, name: &str, min: u32) -> ToolResult<Option<u32>> {
    value.map(|v| v.check_u32(name, min, MAX_SIDE)).transpose()
}

fn validate_one(op: &Operation) -> ToolResult<Step> {
    Ok(match op {
        Operation::Resize {
            width,
            height,
            fit,
            filter,
        } => {
            let width = side(*width, "resize width", 1)?;
            let height = side(*height, "resize height", 1)?;
            if width.is_none() && height.is_none() {
                return Err("resize needs width, height or both".into());
            }
            Step::Resize {
                width,
                height,
                fit: *fit,
                filter: *filter,
            }
        }
        Operation::Crop {
            x,
            y,
            width,
            height,
            aspect_ratio,
        } => {
            let x = side(*x, "crop x", 0)?;
            let y = side(*y, "crop y", 0)?;
            let width = side(*width, "crop width", 1)?;
            let height = side(*height, "crop height", 1)?;
            match aspect_ratio {
                Some(ratio) => {
                    if x.is_some() || y.is_some() || width.is_some() || height.is_some() {
                        return Err(
                            "crop takes either aspect_ratio or x/y/width/height, not both".into(),
                        );
                    }
                    Step::Crop {
                        x: 0,
                        y: 0,
                        width: None,
                        height: None,
                        aspect_ratio: Some(parse_ratio(ratio)?),
                    }
                }
                None => {
                    if width.is_none() || height.is_none() {
                        return Err(
                            "crop needs width and height (and optionally x, y), or aspect_ratio"
                                .into(),
                        );
                    }
                    Step::Crop {
                        x: x.unwrap_or(0),
                        y: y.unwrap_or(0),
                        width,
                        height,
                        aspect_ratio: None,
                    }
                }
            }
        }
        Operation::Rotate { degrees } => {
            let degrees = degrees.check("rotate degrees", -360, 360)?;
            if degrees % 90 != 0 {
                return Err(format!(
                    "rotate degrees must be a multiple of 90 (90, 180, 270), not {degrees}"
                )
                .into());
            }
            Step::Rotate(degrees.rem_euclid(360) as u32)
        }
        Operation::Brightness { value } => {
            Step::Brightness(value.check("brightness value", -255, 255)? as i32)
        }
        Operation::Contrast { value } => {
            Step::Contrast(value.check("contrast value", -100.0, true, 100.0)? as f32)
        }
        Operation::Blur { sigma } => {
            let sigma = sigma.check("blur sigma", 0.0, false, MAX_BLUR_SIGMA)? as f32;
            if sigma <= 0.0 {
                return Err("blur sigma must be a number above 0 and at most 250".into());
            }
            Step::Blur(sigma)
        }
        Operation::Sharpen { sigma, threshold } => {
            let sigma =
                sigma
                    .unwrap_or(Float(1.0))
                    .check("sharpen sigma", 0.0, false, MAX_SHARPEN_SIGMA)? as f32;
            // The filter wants a normal f32 (not subnormal).
            if !sigma.is_normal() {
                return Err("sharpen sigma must be a number above 0 and at most 10".into());
            }
            let threshold = threshold
                .unwrap_or_default()
                .check("sharpen threshold", 0, 255)? as i32;
            Step::Sharpen { sigma, threshold }
        }
        Operation::AutoOrient => Step::AutoOrient,
        Operation::Flip { direction } => Step::Flip(*direction),
        Operation::Grayscale => Step::Grayscale,
        Operation::Invert => Step::Invert,
    })
}

/// "16:9", "4/3" or "1.5" as width / height.
pub fn parse_ratio(text: &str) -> ToolResult<f64> {
    let chars = text.chars().count();
    if chars > 64 {
        return Err(ToolError::new(format!(
            "aspect_ratio is {chars} characters long; at most 64 (e.g. \"16:9\")"
        )));
    }
    let bad = || {
        ToolError::new(format!(
            "aspect_ratio must look like \"16:9\" or \"1.5\", not {text:?}"
        ))
    };
    let ratio = match text.split_once([':', '/', 'x']) {
        Some((w, h)) => {
            let w: f64 = w.trim().parse().map_err(|_| bad())?;
            let h: f64 = h.trim().parse().map_err(|_| bad())?;
            w / h
        }
        None => text.trim().parse().map_err(|_| bad())?,
    };
    if ratio.is_finite() && ratio > 0.0 && (1e-3..=1e3).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(bad())
    }
}

/// The size a resize produces before any crop or padding: the scaled
/// dimensions for `inside`/`contain`/one-sided, the box for `fill`/`cover`.
pub fn resize_target(
    (src_w, src_h): (u32, u32),
    width: Option<u32>,
    height: Option<u32>,
    fit: Fit,
) -> (u32, u32) {
    let scaled = |scale: f64| {
        (
            ((f64::from(src_w) * scale).round() as u32).max(1),
            ((f64::from(src_h) * scale).round() as u32).max(1),
        )
    };
    match (width, height) {
        (Some(w), None) => (w, scaled(f64::from(w) / f64::from(src_w)).1),
        (None, Some(h)) => (scaled(f64::from(h) / f64::from(src_h)).0, h),
        (Some(w), Some(h)) => match fit {
            Fit::Fill | Fit::Cover => (w, h),
            Fit::Inside | Fit::Contain => {
                let scale = (f64::from(w) / f64::from(src_w)).min(f64::from(h) / f64::from(src_h));
                let (sw, sh) = scaled(scale);
                (sw.min(w), sh.min(h))
            }
        },
        (None, None) => (src_w, src_h),
    }
}

/// Resizes to exactly `width` x `height` with the SIMD resizer.
pub fn resize_exact(
    img: &DynamicImage,
    width: u32,
    height: u32,
    filter: Filter,
) -> ToolResult<DynamicImage> {
    resize_region(img, None, width, height, filter)
}

/// Resizes the `region` (left, top, width, height, in fractional pixels;
/// None for all of it) of `img` to exactly `width` x `height`.
pub fn resize_region(
    img: &DynamicImage,
    region: Option<(f64, f64, f64, f64)>,
    width: u32,
    height: u32,
    filter: Filter,
) -> ToolResult<DynamicImage> {
    let (iw, ih) = img.dimensions();
    let region = region.filter(|&r| r != (0.0, 0.0, f64::from(iw), f64::from(ih)));
    if region.is_none() && (iw, ih) == (width, height) {
        return Ok(img.clone());
    }
    // The resizer handles 8/16-bit and float pixels; anything else goes to RGBA8.
    let converted;
    let src = match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_)
        | DynamicImage::ImageRgb32F(_)
        | DynamicImage::ImageRgba32F(_) => img,
        _ => {
            converted = DynamicImage::ImageRgba8(img.to_rgba8());
            &converted
        }
    };
    let mut dst = DynamicImage::new(width, height, src.color());
    Resizer::new()
        .resize(
            src,
            &mut dst,
            &match region {
                Some((left, top, w, h)) => ResizeOptions::new()
                    .resize_alg(filter.alg())
                    .crop(left, top, w, h),
                None => ResizeOptions::new().resize_alg(filter.alg()),
            },
        )
        .map_err(|e| ToolError::new(format!("resize failed: {e}")))?;
    Ok(dst)
}

/// Where the picture lies in an image decoded at a reduced DCT scale: the
/// last reduced column and row cover only part of a block when the full
/// size is not a multiple of the divisor, so the picture is `full / d`
/// (fractional) pixels across, not the rounded-up pixel count. Resizing
/// from that region and sizing the result from `full` makes the output
/// the same as a full-size decode's, size and content.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    /// The size the image has at full scale (as it is now oriented).
    pub full: (u32, u32),
    /// Left, top, right and bottom margins in the reduced pixels that are
    /// not picture (only right and bottom as decoded).
    margins: [f64; 4],
}

impl Extent {
    /// The extent of `dims`, an image of `full` size as stored decoded at
    /// some DCT scale; None at full size.
    pub fn of(full: (u32, u32), dims: (u32, u32)) -> Option<Extent> {
        if full == dims {
            return None;
        }
        use crate::jpeg_scaled::DctScale;
        let scale = [DctScale::Half, DctScale::Quarter, DctScale::Eighth]
            .into_iter()
            .find(|s| s.output_size(full) == dims)?;
        let f = f64::from(scale as u32) / 8.0;
        let right = f64::from(dims.0) - f64::from(full.0) * f;
        let bottom = f64::from(dims.1) - f64::from(full.1) * f;
        Some(Extent {
            full,
            margins: [0.0, 0.0, right, bottom],
        })
    }

    /// The same picture once `orientation` is applied to the image
    /// (as `DynamicImage::apply_orientation` does).
    pub fn orient(self, orientation: Orientation) -> Extent {
        // Margins are [left, top, right, bottom].
        let cw = |m: [f64; 4]| [m[3], m[0], m[1], m[2]];
        let ccw = |m: [f64; 4]| [m[1], m[2], m[3], m[0]];
        let flip_h = |m: [f64; 4]| [m[2], m[1], m[0], m[3]];
        let flip_v = |m: [f64; 4]| [m[0], m[3], m[2], m[1]];
        let m = self.margins;
        let margins = match orientation {
            Orientation::NoTransforms => m,
            Orientation::Rotate90 => cw(m),
            Orientation::Rotate180 => cw(cw(m)),
            Orientation::Rotate270 => ccw(m),
            Orientation::FlipHorizontal => flip_h(m),
            Orientation::FlipVertical => flip_v(m),
            Orientation::Rotate90FlipH => flip_h(cw(m)),
            Orientation::Rotate270FlipH => flip_h(ccw(m)),
        };
        let (w, h) = self.full;
        let full = if crate::source::swaps_axes(orientation) {
            (h, w)
        } else {
            (w, h)
        };
        Extent { full, margins }
    }

    /// The picture's region in an image of `dims`: left, top, width, height.
    pub fn region(&self, (w, h): (u32, u32)) -> (f64, f64, f64, f64) {
        let [l, t, r, b] = self.margins;
        (l, t, f64::from(w) - l - r, f64::from(h) - t - b)
    }

    /// `region` of the box (x, y, width, height) given in full-size pixels.
    pub fn sub_region(
        &self,
        dims: (u32, u32),
        (x, y, w, h): (u32, u32, u32, u32),
    ) -> (f64, f64, f64, f64) {
        let (left, top, rw, rh) = self.region(dims);
        let (sx, sy) = (rw / f64::from(self.full.0), rh / f64::from(self.full.1));
        (
            left + f64::from(x) * sx,
            top + f64::from(y) * sy,
            f64::from(w) * sx,
            f64::from(h) * sy,
        )
    }
}

/// Centred crop box of `ratio` (width / height) inside `width` x `height`.
pub fn aspect_crop_box(width: u32, height: u32, ratio: f64) -> (u32, u32, u32, u32) {
    let current = f64::from(width) / f64::from(height);
    if current > ratio {
        let w = ((f64::from(height) * ratio).round() as u32).clamp(1, width);
        ((width - w) / 2, 0, w, height)
    } else {
        let h = ((f64::from(width) / ratio).round() as u32).clamp(1, height);
        (0, (height - h) / 2, width, h)
    }
}

/// Applies checked `steps` in order. `orientation` is the source's EXIF
/// orientation, used by `auto_orient` (once). Stops between steps once the
/// call is cancelled or past its deadline.
pub fn apply(
    img: DynamicImage,
    steps: &[Step],
    orientation: Orientation,
    limits: &Limits,
) -> ToolResult<DynamicImage> {
    let full = img.dimensions();
    apply_decoded(img, steps, orientation, full, limits)
}

/// [`apply`] to an image whose `full` size as stored may be larger than its
/// own (decoded at a reduced DCT scale for a leading resize): that resize
/// is sized from `full` and reads the picture's true [`Extent`].
pub fn apply_decoded(
    mut img: DynamicImage,
    steps: &[Step],
    mut orientation: Orientation,
    full: (u32, u32),
    limits: &Limits,
) -> ToolResult<DynamicImage> {
    let mut extent = Extent::of(full, img.dimensions());
    for (index, step) in steps.iter().enumerate() {
        mcp_servers_core::work::check()?;
        if let (Some(e), Step::AutoOrient) = (extent, step) {
            extent = Some(e.orient(orientation));
        }
        let current = extent.filter(|_| matches!(step, Step::Resize { .. }));
        img = apply_one(img, step, &mut orientation, current, limits)
            .map_err(|e| ToolError::new(format!("operations[{index}]: {}", e.message())))?;
        if !matches!(step, Step::AutoOrient) {
            extent = None;
        }
    }
    Ok(img)
}

fn apply_one(
    img: DynamicImage,
    step: &Step,
    orientation: &mut Orientation,
    extent: Option<Extent>,
    limits: &Limits,
) -> ToolResult<DynamicImage> {
    let (w, h) = img.dimensions();
    Ok(match step {
        Step::Resize {
            width,
            height,
            fit,
            filter,
        } => {
            // Sized from the picture at full scale, read from its region.
            let full = extent.map_or((w, h), |e| e.full);
            let region = extent.map(|e| e.region((w, h)));
            let (tw, th) = resize_target(full, *width, *height, *fit);
            limits.check_pixels(tw, th, "the resized image")?;
            match (fit, width, height) {
                (Fit::Cover, Some(_), Some(_)) => {
                    let ratio = f64::from(tw) / f64::from(th);
                    let crop = aspect_crop_box(full.0, full.1, ratio);
                    match extent {
                        Some(e) => {
                            let region = e.sub_region((w, h), crop);
                            resize_region(&img, Some(region), tw, th, *filter)?
                        }
                        None => {
                            let (x, y, cw, ch) = crop;
                            let cropped = img.crop_imm(x, y, cw, ch);
                            resize_exact(&cropped, tw, th, *filter)?
                        }
                    }
                }
                (Fit::Contain, Some(bw), Some(bh)) => {
                    limits.check_pixels(*bw, *bh, "the padded image")?;
                    let resized = resize_region(&img, region, tw, th, *filter)?;
                    let mut canvas = image::RgbaImage::new(*bw, *bh);
                    image::imageops::overlay(
                        &mut canvas,
                        &resized.to_rgba8(),
                        i64::from((bw - tw) / 2),
                        i64::from((bh - th) / 2),
                    );
                    DynamicImage::ImageRgba8(canvas)
                }
                _ => resize_region(&img, region, tw, th, *filter)?,
            }
        }
        Step::Crop {
            x,
            y,
            width,
            height,
            aspect_ratio,
        } => {
            let (cx, cy, cw, ch) = match aspect_ratio {
                Some(ratio) => aspect_crop_box(w, h, *ratio),
                None => {
                    let (cx, cy) = (*x, *y);
                    let (cw, ch) = (width.unwrap_or(w), height.unwrap_or(h));
                    if u64::from(cx) + u64::from(cw) > u64::from(w)
                        || u64::from(cy) + u64::from(ch) > u64::from(h)
                    {
                        return Err(ToolError::new(format!(
                            "crop rectangle x={cx} y={cy} width={cw} height={ch} does not fit \
                             inside the {w}x{h} image"
                        )));
                    }
                    (cx, cy, cw, ch)
                }
            };
            img.crop_imm(cx, cy, cw, ch)
        }
        Step::Rotate(degrees) => match degrees {
            90 => img.rotate90(),
            180 => img.rotate180(),
            270 => img.rotate270(),
            _ => img,
        },
        Step::AutoOrient => {
            let mut img = img;
            img.apply_orientation(*orientation);
            *orientation = Orientation::NoTransforms;
            img
        }
        Step::Flip(direction) => match direction {
            FlipDirection::Horizontal => img.fliph(),
            FlipDirection::Vertical => img.flipv(),
        },
        Step::Grayscale => img.grayscale(),
        Step::Brightness(value) => img.brighten(*value),
        Step::Contrast(value) => img.adjust_contrast(*value),
        Step::Blur(sigma) => img.fast_blur(*sigma),
        Step::Sharpen { sigma, threshold } => img.unsharpen(*sigma, *threshold),
        Step::Invert => {
            let mut img = img;
            img.invert();
            img
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(value: serde_json::Value) -> Vec<Operation> {
        serde_json::from_value(value).unwrap()
    }

    fn steps(value: serde_json::Value) -> Vec<Step> {
        validate(&ops(value)).unwrap()
    }

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 0])
        }))
    }

    #[test]
    fn operations_parse_from_the_documented_json() {
        let parsed = ops(json!([
            {"op": "resize", "width": 320},
            {"op": "crop", "aspect_ratio": "16:9"},
            {"op": "rotate", "degrees": 90},
            {"op": "auto_orient"},
            {"op": "flip", "direction": "horizontal"},
            {"op": "grayscale"},
            {"op": "brightness", "value": 10},
            {"op": "contrast", "value": -5.5},
            {"op": "blur", "sigma": 2},
            {"op": "sharpen"},
            {"op": "invert"}
        ]));
        assert_eq!(parsed.len(), 11);
        let checked = validate(&parsed).unwrap();
        assert_eq!(
            checked[0],
            Step::Resize {
                width: Some(320),
                height: None,
                fit: Fit::Inside,
                filter: Filter::Lanczos3
            }
        );
        assert_eq!(checked[2], Step::Rotate(90));
        // Typos are errors, not silently ignored.
        assert!(serde_json::from_value::<Operation>(json!({"op": "resize", "witdh": 3})).is_err());
        assert!(serde_json::from_value::<Operation>(json!({"op": "explode"})).is_err());
    }

    #[test]
    fn validation_names_the_bad_step() {
        let err = validate(&ops(
            json!([{"op": "invert"}, {"op": "rotate", "degrees": 45}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("operations[1]: rotate degrees"), "{err}");
        assert!(validate(&ops(json!([{"op": "resize"}]))).is_err());
        assert!(validate(&ops(json!([{"op": "crop", "width": 3}]))).is_err());
        assert!(validate(&ops(json!([{"op": "crop", "aspect_ratio": "a:b"}]))).is_err());
        assert!(validate(&ops(json!([{"op": "blur", "sigma": 0}]))).is_err());
        let long = "1".repeat(1 << 20);
        let err = validate(&ops(json!([{"op": "crop", "aspect_ratio": long}])))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("is 1048576 characters long; at most 64 (e.g. \"16:9\")"),
            "{err}"
        );
    }

    #[test]
    fn every_number_is_bounded_before_any_work() {
        let hostile = [
            json!(0),
            json!(1),
            json!(-1),
            json!(2147483648u64),
            json!(9007199254740992u64),
            json!(9223372036854775808u64),
            json!(1e15),
        ];
        let fields: [(&str, &str); 12] = [
            ("resize", "width"),
            ("resize", "height"),
            ("crop", "x"),
            ("crop", "y"),
            ("crop", "width"),
            ("crop", "height"),
            ("rotate", "degrees"),
            ("brightness", "value"),
            ("contrast", "value"),
            ("blur", "sigma"),
            ("sharpen", "sigma"),
            ("sharpen", "threshold"),
        ];
        let img = gradient(8, 6);
        for (op, field) in fields {
            for value in &hostile {
                let mut step = json!({"op": op, field: value});
                match op {
                    "resize" => step["fit"] = json!("fill"),
                    "crop" => {
                        for other in ["width", "height"] {
                            if other != field {
                                step[other] = json!(2);
                            }
                        }
                    }
                    _ => {}
                }
                let parsed: Operation = serde_json::from_value(step.clone())
                    .unwrap_or_else(|e| panic!("{step}: any number deserializes: {e}"));
                match validate(&[parsed]) {
                    Ok(steps) => {
                        // Accepted values are small enough to run.
                        let limits = Limits::default();
                        let _ = apply(img.clone(), &steps, Orientation::NoTransforms, &limits);
                    }
                    Err(e) => assert!(
                        e.message().starts_with("operations[0]: ") && e.message().contains(field),
                        "{step}: {e}"
                    ),
                }
            }
        }
        let err = validate(&ops(json!([{"op": "resize", "width": 2147483648u64}])))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "operations[0]: resize width must be a whole number from 1 to 100000, not 2147483648"
        );
        let err = validate(&ops(json!([{"op": "blur", "sigma": 1e15}])))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("blur sigma must be a number above 0 and at most 250"),
            "{err}"
        );
        assert!(validate(&ops(json!([{"op": "resize", "width": 1.5}]))).is_err());
        assert_eq!(
            steps(json!([{"op": "rotate", "degrees": -90}])),
            [Step::Rotate(270)]
        );
        assert!(validate(&ops(json!([{"op": "rotate", "degrees": 450}]))).is_err());
    }

    #[test]
    fn resize_fits() {
        assert_eq!(
            resize_target((400, 200), Some(100), None, Fit::Inside),
            (100, 50)
        );
        assert_eq!(
            resize_target((400, 200), None, Some(50), Fit::Inside),
            (100, 50)
        );
        assert_eq!(
            resize_target((400, 200), Some(100), Some(100), Fit::Inside),
            (100, 50)
        );
        assert_eq!(
            resize_target((400, 200), Some(100), Some(100), Fit::Fill),
            (100, 100)
        );
        let limits = Limits::default();
        let img = gradient(400, 200);
        for (fit, dims) in [
            ("inside", (100, 50)),
            ("contain", (100, 100)),
            ("cover", (100, 100)),
            ("fill", (100, 100)),
        ] {
            let steps = steps(json!([{"op": "resize", "width": 100, "height": 100, "fit": fit}]));
            let out = apply(img.clone(), &steps, Orientation::NoTransforms, &limits).unwrap();
            assert_eq!(out.dimensions(), dims, "{fit}");
        }
        // Contain pads with transparency.
        let steps = steps(json!([{"op": "resize", "width": 100, "height": 100, "fit": "contain"}]));
        let out = apply(img, &steps, Orientation::NoTransforms, &limits).unwrap();
        assert_eq!(out.to_rgba8().get_pixel(50, 2)[3], 0);
        assert_eq!(out.to_rgba8().get_pixel(50, 50)[3], 255);
    }

    #[test]
    fn resize_is_limited_by_max_pixels() {
        let limits = Limits {
            max_pixels: 10_000,
            ..Limits::default()
        };
        let steps = steps(json!([{"op": "resize", "width": 1000}]));
        let err = apply(gradient(10, 10), &steps, Orientation::NoTransforms, &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-pixels"), "{err}");
    }

    #[test]
    fn crops_rotations_and_orientation() {
        let limits = Limits::default();
        let img = gradient(160, 100);
        let run = |steps: serde_json::Value, orientation| {
            apply(img.clone(), &self::steps(steps), orientation, &limits)
        };
        let out = run(
            json!([{"op": "crop", "x": 10, "y": 20, "width": 30, "height": 40}]),
            Orientation::NoTransforms,
        )
        .unwrap();
        assert_eq!(out.dimensions(), (30, 40));
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [10, 20, 0]);
        let err = run(
            json!([{"op": "crop", "x": 150, "width": 30, "height": 40}]),
            Orientation::NoTransforms,
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("does not fit inside the 160x100 image"),
            "{err}"
        );
        let out = run(
            json!([{"op": "crop", "aspect_ratio": "1:1"}]),
            Orientation::NoTransforms,
        )
        .unwrap();
        assert_eq!(out.dimensions(), (100, 100));
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [30, 0, 0]);
        let out = run(
            json!([{"op": "rotate", "degrees": 90}]),
            Orientation::NoTransforms,
        )
        .unwrap();
        assert_eq!(out.dimensions(), (100, 160));
        let out = run(
            json!([{"op": "rotate", "degrees": -90}]),
            Orientation::NoTransforms,
        )
        .unwrap();
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [159, 0, 0]);
        let out = run(
            json!([{"op": "auto_orient"}, {"op": "auto_orient"}]),
            Orientation::Rotate90,
        )
        .unwrap();
        assert_eq!(out.dimensions(), (100, 160));
        let out = run(
            json!([{"op": "flip", "direction": "horizontal"}, {"op": "invert"}]),
            Orientation::NoTransforms,
        )
        .unwrap();
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [255 - 159, 255, 255]);
        let out = run(json!([{"op": "grayscale"}, {"op": "blur", "sigma": 1.5}, {"op": "sharpen"}, {"op": "brightness", "value": 5}, {"op": "contrast", "value": 10}]), Orientation::NoTransforms).unwrap();
        assert_eq!(out.dimensions(), (160, 100));
    }

    #[test]
    fn every_filter_resizes() {
        for filter in ["nearest", "bilinear", "catmullrom", "lanczos3"] {
            let steps = steps(json!([{"op": "resize", "width": 40, "filter": filter}]));
            let out = apply(
                gradient(160, 100),
                &steps,
                Orientation::NoTransforms,
                &Limits::default(),
            )
            .unwrap();
            assert_eq!(out.dimensions(), (40, 25), "{filter}");
        }
    }
}
