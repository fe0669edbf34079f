//! What a call's pixels will cost in memory, estimated from the headers
//! before anything is decoded: each tool walks its pipeline through a
//! [`Meter`] (decode, the cache's copy, every operation, the encode) and
//! reserves the meter's peak from the [`crate::memory::MemoryBudget`].
//!
//! The figures follow what the libraries allocate: an operation holds its
//! input and output at once, plus its temporaries (fast_blur two buffers of
//! the image's size, unsharpen two `f32` copies, the resizer a premultiplied
//! copy for alpha and an intermediate pass); decoders hold their own planes
//! beside the output. The allocation test (`tests/memory.rs`) checks every
//! estimate against what is really allocated.

use image::metadata::Orientation;
use image::{ColorType, ImageFormat};

use crate::encode::OutputFormat;
use crate::ops::{Fit, Step};
use crate::source::{self, Header, Source, swaps_axes};

/// Small allocations of any call beside its pixels: codec tables, zlib
/// state, row buffers, messages.
pub const CALL_OVERHEAD: u64 = 4 << 20;

/// An image buffer's geometry and pixel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub bytes_per_channel: u8,
}

impl Shape {
    pub fn new(width: u32, height: u32, color: ColorType) -> Self {
        let channels = color.channel_count();
        Self {
            width,
            height,
            channels,
            bytes_per_channel: (color.bytes_per_pixel() / channels.max(1)).max(1),
        }
    }

    pub fn rgba8(width: u32, height: u32) -> Self {
        Self::new(width, height, ColorType::Rgba8)
    }

    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn bytes(&self) -> u64 {
        self.pixels() * u64::from(self.channels) * u64::from(self.bytes_per_channel)
    }

    pub fn has_alpha(&self) -> bool {
        self.channels == 2 || self.channels == 4
    }

    /// The same pixel layout at another size.
    pub fn sized(self, width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            ..self
        }
    }

    fn is_8bit(&self) -> bool {
        self.bytes_per_channel == 1
    }
}

/// Live bytes and their peak through a pipeline walked ahead of time.
#[derive(Debug, Default, Clone)]
pub struct Meter {
    live: u64,
    peak: u64,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn alloc(&mut self, bytes: u64) {
        self.live = self.live.saturating_add(bytes);
        self.peak = self.peak.max(self.live);
    }

    pub fn free(&mut self, bytes: u64) {
        self.live = self.live.saturating_sub(bytes);
    }

    /// Allocated and freed again: raises the peak only.
    pub fn temp(&mut self, bytes: u64) {
        self.alloc(bytes);
        self.free(bytes);
    }

    /// The peak plus [`CALL_OVERHEAD`]: what to reserve.
    pub fn total(&self) -> u64 {
        self.peak.saturating_add(CALL_OVERHEAD)
    }

    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Decoding `format` from the header's `full` shape, at full size or
    /// (JPEG) to the reduced `scaled` shape: the decoder's own buffers,
    /// then the decoded image, which stays allocated.
    pub fn decode(
        &mut self,
        format: ImageFormat,
        full: Shape,
        scaled: Option<Shape>,
        progressive: bool,
    ) -> Shape {
        let out = scaled.unwrap_or(full);
        let internal = match format {
            // Row buffers and the inflate window.
            ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Ico => {
                u64::from(full.width) * 16 + (1 << 20) + full.bytes() / 8
            }
            // Coefficients of every block for progressive files; planes at
            // the output's scale for baseline ones.
            ImageFormat::Jpeg => {
                let planes = out.pixels() * 3 + out.bytes();
                if progressive {
                    full.pixels() * 4 * 2 + planes
                } else {
                    planes
                }
            }
            // A frame canvas (RGBA) and the frame's indices.
            ImageFormat::Gif => full.pixels() * 5,
            // ARGB words (lossless) or YUV planes and alpha (lossy).
            ImageFormat::WebP => full.pixels() * 4,
            // A strip or tile as large as the image, and a colour conversion.
            _ => full.bytes() + full.pixels() * 4,
        };
        self.alloc(out.bytes());
        self.temp(internal);
        out
    }

    /// [`source::decode`] of `src` (reduced toward `reduce_to` where it
    /// can be), and when the result is `cached`, the call's own copy of it.
    pub fn decode_source(
        &mut self,
        src: &Source,
        hdr: &Header,
        reduce_to: Option<(u32, u32)>,
        cached: bool,
    ) -> Shape {
        let full = Shape::new(hdr.width, hdr.height, hdr.color);
        let scaled = source::decode_scale(src, hdr, reduce_to).map(|scale| {
            let (w, h) = scale.output_size((hdr.width, hdr.height));
            full.sized(w, h)
        });
        // Files in several scans (progressive, or sequential ones sent to
        // jpeg-decoder) keep every block's coefficients.
        let progressive = src.format == ImageFormat::Jpeg
            && (jpeg_is_progressive(&src.bytes)
                || crate::jpeg_scaled::layout(&src.bytes)
                    .is_some_and(|l| l.separate_subsampled_scans()));
        let shape = self.decode(src.format, full, scaled, progressive);
        if cached {
            self.copy(shape);
        }
        shape
    }

    /// A second copy of a decoded image while it is shared with the cache.
    pub fn copy(&mut self, shape: Shape) {
        self.temp(shape.bytes());
    }

    /// Turning the image upright (`apply_orientation`): in place, or a copy.
    pub fn orient(&mut self, shape: Shape, orientation: Orientation) -> Shape {
        match orientation {
            Orientation::NoTransforms
            | Orientation::Rotate180
            | Orientation::FlipHorizontal
            | Orientation::FlipVertical => shape,
            _ => {
                let out = if swaps_axes(orientation) {
                    shape.sized(shape.height, shape.width)
                } else {
                    shape
                };
                self.replace(shape, out, 0);
                out
            }
        }
    }

    /// An operation that reads `input` and makes `output` with `temps`
    /// bytes beside them, then drops `input`.
    fn replace(&mut self, input: Shape, output: Shape, temps: u64) {
        self.alloc(output.bytes());
        self.temp(temps);
        self.free(input.bytes());
    }

    /// `ops::resize_exact` from `input` to `width` x `height`.
    pub fn resize(&mut self, input: Shape, width: u32, height: u32) -> Shape {
        let out = input.sized(width, height);
        if (width, height) == (input.width, input.height) {
            self.alloc(out.bytes());
            self.free(input.bytes());
            return out;
        }
        // The premultiplied copy of an image with alpha, and the pass
        // between the two convolutions: vertical first for 8-bit pixels
        // (source width x target height), horizontal first for the rest.
        let alpha = if input.has_alpha() { input.bytes() } else { 0 };
        let (pass_w, pass_h) = if input.is_8bit() {
            (input.width, height)
        } else {
            (width, input.height)
        };
        let pass = input.sized(pass_w, pass_h).bytes();
        self.replace(input, out, alpha + pass);
        out
    }

    /// One checked operation.
    pub fn step(&mut self, input: Shape, step: &Step, orientation: &mut Orientation) -> Shape {
        let (w, h) = (input.width, input.height);
        match step {
            Step::Resize {
                width, height, fit, ..
            } => {
                let (tw, th) = crate::ops::resize_target((w, h), *width, *height, *fit);
                match (fit, width, height) {
                    (Fit::Cover, Some(_), Some(_)) => {
                        let ratio = f64::from(tw) / f64::from(th);
                        let (_, _, cw, ch) = crate::ops::aspect_crop_box(w, h, ratio);
                        let crop = input.sized(cw, ch);
                        self.alloc(crop.bytes());
                        let out = self.resize(crop, tw, th);
                        self.free(input.bytes());
                        out
                    }
                    (Fit::Contain, Some(bw), Some(bh)) => {
                        let resized = self.resize_keeping(input, tw, th);
                        let canvas = Shape::rgba8(*bw, *bh);
                        self.alloc(canvas.bytes());
                        self.temp(Shape::rgba8(tw, th).bytes());
                        self.free(resized.bytes());
                        self.free(input.bytes());
                        canvas
                    }
                    _ => self.resize(input, tw, th),
                }
            }
            Step::Crop {
                width,
                height,
                aspect_ratio,
                ..
            } => {
                let (cw, ch) = match aspect_ratio {
                    Some(ratio) => {
                        let (_, _, cw, ch) = crate::ops::aspect_crop_box(w, h, *ratio);
                        (cw, ch)
                    }
                    None => (width.unwrap_or(w).min(w), height.unwrap_or(h).min(h)),
                };
                let out = input.sized(cw, ch);
                self.replace(input, out, 0);
                out
            }
            Step::Rotate(degrees) => {
                let out = if degrees % 180 == 90 {
                    input.sized(h, w)
                } else {
                    input
                };
                if *degrees != 0 {
                    self.replace(input, out, 0);
                }
                out
            }
            Step::AutoOrient => {
                let out = self.orient(input, *orientation);
                *orientation = Orientation::NoTransforms;
                out
            }
            Step::Grayscale => {
                let out = if input.bytes_per_channel == 4 {
                    input
                } else {
                    Shape {
                        channels: if input.has_alpha() { 2 } else { 1 },
                        ..input
                    }
                };
                let temps = if input.bytes_per_channel == 4 {
                    input.pixels() * 8
                } else {
                    0
                };
                self.replace(input, out, temps);
                out
            }
            Step::Flip(_) | Step::Brightness(_) | Step::Contrast(_) => {
                self.replace(input, input, 0);
                input
            }
            // fast_blur: a transient buffer and the result, both the image's size.
            Step::Blur(_) => {
                self.replace(input, input, input.bytes());
                input
            }
            // unsharpen: the image as f32 and its blurred f32 copy, then the result.
            Step::Sharpen { .. } => {
                // Beside them, a band of rows as tall as the kernel (at most
                // 67 taps for sigma 10).
                let floats = input.pixels() * u64::from(input.channels) * 4;
                let band = u64::from(w) * u64::from(input.channels) * 4 * 70;
                self.replace(input, input, 2 * floats + band + (64 << 10));
                input
            }
            Step::Invert => input,
        }
    }

    /// Like [`Meter::resize`] but `input` stays allocated.
    fn resize_keeping(&mut self, input: Shape, width: u32, height: u32) -> Shape {
        self.alloc(input.bytes());
        self.resize(input, width, height)
    }

    /// `ops::apply` of checked `steps` from `input`.
    pub fn steps(&mut self, mut shape: Shape, steps: &[Step], orientation: Orientation) -> Shape {
        let mut orientation = orientation;
        for step in steps {
            shape = self.step(shape, step, &mut orientation);
        }
        shape
    }

    /// Encoding `shape` as `format` (`encode::encode`): conversions and the
    /// encoded bytes (at most about the raw size, twice for PNG's
    /// compressed stream and the file around it).
    pub fn encode(&mut self, shape: Shape, format: OutputFormat) {
        let px = shape.pixels();
        let raw8 = px * u64::from(shape.channels);
        let temps = match format {
            OutputFormat::Jpeg => {
                let flatten = if shape.has_alpha() {
                    px * 4 + px * 3
                } else if shape.is_8bit() {
                    0
                } else {
                    px * 3
                };
                flatten + px * 3
            }
            OutputFormat::Png => {
                // 32-bit floats go to 8 bits; 16-bit samples are swapped
                // to big-endian in a copy. The compressed stream (grown by
                // doubling, and for incompressible pixels stored again
                // beside it) takes up to three times the raw size; the file
                // around it is sized up front. Measured: 3.6x raw for noise.
                let (converted, raw) = match shape.bytes_per_channel {
                    4 => (raw8, raw8),
                    2 => (shape.bytes(), shape.bytes()),
                    _ => (0, shape.bytes()),
                };
                converted + 3 * raw + raw + raw / 64 + (1 << 17)
            }
            // RGBA, its palette indices, the LZW stream and the file, both
            // grown by doubling (measured: 15 bytes a pixel for noise).
            OutputFormat::Gif => px * 18,
            // 8-bit RGB(A), the encoder's words and transforms, the file
            // (measured: 18 bytes a pixel for RGBA noise).
            OutputFormat::Webp => px * 24,
            // 8-bit RGB(A) and the file, sized up front.
            OutputFormat::Bmp | OutputFormat::Tiff => px * 10,
            OutputFormat::Ico => px * 4 * 3,
        };
        self.temp(temps + (64 << 10));
    }

    /// `tools::deliver`: one encode, and when the result goes inline and may
    /// be over `--max-inline-bytes`, re-encodes beside the first result
    /// (`encode::fit_inline`: lower JPEG quality, then downscaled copies,
    /// each at most 0.9 of the last one's sides).
    pub fn deliver(&mut self, shape: Shape, format: OutputFormat, inline: bool) {
        let mut first = Meter::new();
        first.encode(shape, format);
        if !inline {
            self.temp(first.peak);
            return;
        }
        let mut shrink = Meter::new();
        shrink.alloc(encoded_bound(shape));
        let smaller = (
            ((f64::from(shape.width) * 0.9).round() as u32).max(1),
            ((f64::from(shape.height) * 0.9).round() as u32).max(1),
        );
        let resized = shrink.resize_keeping(shape, smaller.0, smaller.1);
        shrink.encode(resized, format);
        self.temp(first.peak.max(shrink.peak));
    }
}

/// The most an encoded image takes: about its 8-bit raw size (an
/// incompressible PNG is a little larger, a JPEG smaller).
fn encoded_bound(shape: Shape) -> u64 {
    shape.pixels() * u64::from(shape.channels) + (64 << 10)
}

/// Whether a JPEG is progressive (its frame header is SOF2, SOF6, SOF10 or
/// SOF14): such files keep every block's coefficients while decoding.
pub fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            0xFF => {
                at += 1;
                continue;
            }
            0x01 | 0xD0..=0xD8 => {
                at += 2;
                continue;
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF | 0xD9 | 0xDA => {
                return false;
            }
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if len < 2 {
            return false;
        }
        at += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_colour_types() {
        let s = Shape::new(10, 20, ColorType::Rgb8);
        assert_eq!((s.pixels(), s.bytes(), s.has_alpha()), (200, 600, false));
        let s = Shape::new(10, 20, ColorType::Rgba16);
        assert_eq!((s.bytes(), s.has_alpha()), (1600, true));
        assert_eq!(Shape::new(1, 1, ColorType::Rgba32F).bytes(), 16);
    }

    #[test]
    fn a_meter_keeps_the_peak() {
        let mut m = Meter::new();
        m.alloc(10);
        m.temp(5);
        m.free(10);
        m.alloc(3);
        assert_eq!(m.peak(), 15);
        assert_eq!(m.total(), 15 + CALL_OVERHEAD);
    }

    #[test]
    fn sharpen_costs_more_than_blur_and_both_grow_with_the_image() {
        let small = Shape::new(100, 100, ColorType::Rgb8);
        let big = small.sized(1000, 1000);
        let cost = |shape: Shape, step: Step| {
            let mut m = Meter::new();
            m.alloc(shape.bytes());
            m.step(shape, &step, &mut Orientation::NoTransforms);
            m.peak()
        };
        let blur = cost(big, Step::Blur(3.0));
        let sharpen = cost(
            big,
            Step::Sharpen {
                sigma: 1.0,
                threshold: 0,
            },
        );
        assert_eq!(blur, 3 * big.bytes());
        assert!(sharpen > 8 * big.bytes(), "{sharpen}");
        assert!(cost(small, Step::Blur(3.0)) * 50 < blur);
    }

    #[test]
    fn progressive_jpegs_are_told_from_their_frame_header() {
        let img = image::RgbImage::new(16, 16);
        let mut baseline = Vec::new();
        jpeg_encoder::Encoder::new(&mut baseline, 80)
            .encode(img.as_raw(), 16, 16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
        encoder.set_progressive(true);
        encoder
            .encode(img.as_raw(), 16, 16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(!jpeg_is_progressive(&baseline));
        assert!(jpeg_is_progressive(&progressive));
        assert!(!jpeg_is_progressive(b"\xFF\xD8\xFF"));
        assert!(!jpeg_is_progressive(b"not a jpeg"));
    }
}
