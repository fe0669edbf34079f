//! Where an image comes from (a sandboxed `path` or inline `data`), the
//! checks every input passes before its pixels are decoded (size, magic
//! bytes, dimensions, frames), decoding under limits, and the decode cache.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader};
use mcp_servers_core::cache::{ByteLru, FileKey};
use mcp_servers_core::error::{ToolError, ToolResult};
use mcp_servers_core::fsutil::{self, open_regular_file};
use mcp_servers_core::sandbox::PathSandbox;

use crate::cost::CALL_OVERHEAD;
use crate::frames;
use crate::jpeg_scaled::{self, DctScale};
use crate::memory::{MemoryBudget, Reservation};

/// Limits against hostile input, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input in bytes (file, or decoded `data`).
    pub max_file_bytes: u64,
    /// Most pixels of an input or output image.
    pub max_pixels: u64,
    /// Most frames of an animation.
    pub max_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: crate::DEFAULT_MAX_FILE_BYTES,
            max_pixels: crate::DEFAULT_MAX_PIXELS,
            max_frames: crate::DEFAULT_MAX_FRAMES,
        }
    }
}

impl Limits {
    /// Refuses an image of `width` x `height` over `--max-pixels`.
    pub fn check_pixels(&self, width: u32, height: u32, what: &str) -> ToolResult<()> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(ToolError::new(format!(
                "{what} is {width}x{height} ({pixels} pixels), over the limit of {} pixels \
                 (--max-pixels); refused before decoding",
                self.max_pixels
            )));
        }
        Ok(())
    }

    /// What the decoder may allocate: the largest allowed image at 16 bytes
    /// a pixel (RGBA, 32-bit float), plus room for the decoder's own buffers;
    /// never more than `cap` (the call's memory reservation).
    fn decoder_limits(&self, cap: u64) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(
            self.max_pixels
                .saturating_mul(16)
                .saturating_add(64 << 20)
                .max(512 << 20)
                .min(cap),
        );
        limits
    }
}

/// The formats this server reads and writes.
pub const SUPPORTED: &str = "PNG, JPEG, WebP, GIF, BMP, TIFF, ICO";

/// Decoded images kept between calls, keyed by file identity and the
/// DCT scale they were decoded at (0 for full size).
#[derive(Debug)]
pub struct DecodeCache {
    lru: ByteLru<(FileKey, u32), Arc<DynamicImage>>,
}

impl DecodeCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            lru: ByteLru::new(capacity),
        }
    }

    pub fn stats(&self) -> mcp_servers_core::cache::CacheStats {
        self.lru.stats()
    }

    /// Whether decoded images are kept at all.
    pub fn enabled(&self) -> bool {
        self.lru.stats().capacity > 0
    }
}

/// Where an image came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file inside the sandbox (canonical path).
    Path(PathBuf),
    /// Inline base64 data.
    Data,
}

/// An input image's bytes, checked: within the size limit and with the
/// magic bytes of a supported format.
#[derive(Debug)]
pub struct Source {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub origin: Origin,
    /// Identity of the file, for the cache (paths only).
    pub key: Option<FileKey>,
}

impl Source {
    /// The path, or "inline data", for messages.
    pub fn label(&self) -> String {
        match &self.origin {
            Origin::Path(path) => path.display().to_string(),
            Origin::Data => "inline data".to_owned(),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Path(path) => Some(path),
            Origin::Data => None,
        }
    }

    /// Checks inline bytes (magic, size).
    pub fn from_bytes(bytes: Vec<u8>, limits: &Limits) -> ToolResult<Self> {
        check_len(bytes.len() as u64, limits, "the image data")?;
        let format = detect_format(&bytes)?;
        Ok(Self {
            bytes,
            format,
            origin: Origin::Data,
            key: None,
        })
    }

    /// Reads and checks a file that the sandbox already resolved.
    pub fn from_file(path: &Path, limits: &Limits) -> ToolResult<Self> {
        Self::read_file(path, limits, false).map(|(source, _)| source)
    }

    /// What `image_info` needs of a file that the sandbox already resolved,
    /// and the file's size. Of a JPEG whose segments up to its first scan
    /// fit in the first [`HEADER_PREFIX`] bytes, only those (every header
    /// and metadata segment comes before the scan); of anything else, the
    /// whole file (frame counts and metadata after the pixels need it).
    pub fn header_of_file(path: &Path, limits: &Limits) -> ToolResult<(Self, u64)> {
        Self::read_file(path, limits, true)
    }

    fn read_file(path: &Path, limits: &Limits, header_only: bool) -> ToolResult<(Self, u64)> {
        let label = path.display().to_string();
        let file = open_regular_file(path).map_err(|e| io_error(&e, path))?;
        let meta = file.metadata().map_err(|e| io_error(&e, path))?;
        check_len(meta.len(), limits, &label)?;
        let origin = Origin::Path(path.to_path_buf());
        let key = Some(FileKey::from_metadata(path, &meta));
        let read = |e: std::io::Error| io_error(&e, path);
        let bytes = if header_only {
            let mut bytes = Vec::new();
            (&file)
                .take(HEADER_PREFIX)
                .read_to_end(&mut bytes)
                .map_err(read)?;
            if let Some(end) = jpeg_header_len(&bytes) {
                bytes.truncate(end);
                let format = ImageFormat::Jpeg;
                let source = Self {
                    bytes,
                    format,
                    origin,
                    key,
                };
                return Ok((source, meta.len()));
            }
            // The rest, never past the limit (the file may have grown).
            let left = limits
                .max_file_bytes
                .saturating_add(1)
                .saturating_sub(bytes.len() as u64);
            (&file).take(left).read_to_end(&mut bytes).map_err(read)?;
            bytes
        } else {
            fsutil::read_up_to(file, meta.len(), limits.max_file_bytes).map_err(read)?
        };
        check_len(bytes.len() as u64, limits, &label)?;
        let format = detect_format(&bytes)
            .map_err(|e| ToolError::new(format!("{label}: {}", e.message())))?;
        let size = bytes.len() as u64;
        Ok((
            Self {
                bytes,
                format,
                origin,
                key,
            },
            size,
        ))
    }
}

/// How much of a file `image_info` reads first: a JPEG's segments before
/// its pixels nearly always fit (each is at most 64 KiB).
const HEADER_PREFIX: u64 = 256 * 1024;

/// The length of a JPEG's segments up to and including its first scan
/// header, if `bytes` is a JPEG that holds them all.
fn jpeg_header_len(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        // Any number of 0xFF fill bytes, then the marker.
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let marker = bytes[at];
        at += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => continue,
            // The end of the image before any scan.
            0xD9 => return None,
            _ => {
                let len = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
                let end = at + len;
                if len < 2 || end > bytes.len() {
                    return None;
                }
                if marker == 0xDA {
                    return Some(end);
                }
                at = end;
            }
        }
    }
}

/// Loads the source named by `path` xor `data` (`suffix` names the argument
/// pair in messages, e.g. "_a" for `path_a`/`data_a`).
pub fn load(
    sandbox: &PathSandbox,
    path: Option<&str>,
    data: Option<&str>,
    limits: &Limits,
    suffix: &str,
) -> ToolResult<Source> {
    Input::resolve(sandbox, path, data, limits, suffix)?.read(limits)
}

/// An input named by `path` xor `data`, resolved (and the file's size
/// checked) but not read yet: its size is known before any memory is
/// reserved for it.
#[derive(Debug, Clone)]
pub enum Input<'a> {
    /// A file the sandbox resolved, and its size.
    File(PathBuf, u64),
    /// Inline base64 or a data: URL.
    Data(&'a str),
}

impl<'a> Input<'a> {
    /// Resolves `path` xor `data` (`suffix` names the argument pair in
    /// messages, e.g. "_a" for `path_a`/`data_a`).
    pub fn resolve(
        sandbox: &PathSandbox,
        path: Option<&str>,
        data: Option<&'a str>,
        limits: &Limits,
        suffix: &str,
    ) -> ToolResult<Self> {
        match (path, data) {
            (Some(_), Some(_)) => Err(ToolError::new(format!(
                "give either path{suffix} or data{suffix}, not both"
            ))),
            (None, None) => Err(ToolError::new(format!(
                "missing image: give path{suffix} (a file inside the allowed directories) or \
                 data{suffix} (base64, or a data: URL)"
            ))),
            (Some(path), None) => {
                let real = sandbox.resolve_existing(path).map_err(crate::path_error)?;
                let meta = std::fs::metadata(&real).map_err(|e| io_error(&e, &real))?;
                check_len(meta.len(), limits, &real.display().to_string())?;
                Ok(Self::File(real, meta.len()))
            }
            (None, Some(data)) => Ok(Self::Data(data)),
        }
    }

    /// The memory reading it takes: the file, or the data's cleaned copy
    /// and its decoded bytes.
    pub fn read_cost(&self, limits: &Limits) -> u64 {
        match self {
            Self::File(_, len) => (*len).min(limits.max_file_bytes),
            Self::Data(data) => data.len() as u64 + (data.len() as u64 / 4 * 3),
        }
    }

    /// Reads and checks it.
    pub fn read(&self, limits: &Limits) -> ToolResult<Source> {
        match self {
            Self::File(path, _) => Source::from_file(path, limits),
            Self::Data(data) => Source::from_bytes(decode_data(data, limits)?, limits),
        }
    }
}

/// Inputs read, their headers checked, and the memory their call needs
/// reserved; the reservation is given back when this is dropped.
#[derive(Debug)]
pub struct Loaded {
    pub sources: Vec<(Source, Header)>,
    pub reservation: Reservation,
}

/// Reads `inputs` and their headers under a reservation of the memory that
/// takes, then grows it to `estimate` (the call's whole cost, from the
/// headers) before a single pixel is decoded. When the budget cannot grow
/// now, everything is let go (bytes and reservation), the call waits for
/// the whole estimate, and reads again: a waiting call holds no memory.
pub fn load_reserved(
    budget: &Arc<MemoryBudget>,
    inputs: &[Input],
    limits: &Limits,
    what: &str,
    estimate: impl Fn(&[(Source, Header)]) -> u64,
) -> ToolResult<Loaded> {
    load_reserved_beside(budget, 0, inputs, limits, what, estimate)
}

/// [`load_reserved`] for a call that already holds `held` bytes of the
/// budget (a contact sheet, while its thumbnails are made).
pub fn load_reserved_beside(
    budget: &Arc<MemoryBudget>,
    held: u64,
    inputs: &[Input],
    limits: &Limits,
    what: &str,
    estimate: impl Fn(&[(Source, Header)]) -> u64,
) -> ToolResult<Loaded> {
    let reading: u64 = inputs.iter().map(|i| i.read_cost(limits)).sum();
    let mut reservation =
        budget.reserve_beside(held, reading.saturating_add(CALL_OVERHEAD), what)?;
    for _ in 0..3 {
        let mut sources = Vec::with_capacity(inputs.len());
        for input in inputs {
            let src = input.read(limits)?;
            let hdr = header(&src, limits)?;
            sources.push((src, hdr));
        }
        let need = estimate(&sources);
        if reservation.try_resize(need) {
            return Ok(Loaded {
                sources,
                reservation,
            });
        }
        drop(sources);
        drop(reservation);
        reservation = budget.reserve_beside(held, need, what)?;
    }
    Err(ToolError::new(format!(
        "{what}: the input kept changing while the call waited for memory; try again"
    )))
}

fn check_len(len: u64, limits: &Limits, what: &str) -> ToolResult<()> {
    if len > limits.max_file_bytes {
        return Err(ToolError::new(format!(
            "{what} is {len} bytes, over the limit of {} bytes (--max-file-bytes)",
            limits.max_file_bytes
        )));
    }
    if len == 0 {
        return Err(ToolError::new(format!("{what} is empty, not an image")));
    }
    Ok(())
}

fn io_error(err: &std::io::Error, path: &Path) -> ToolError {
    if err.get_ref().is_some() {
        ToolError::new(err.to_string())
    } else {
        ToolError::io(err, path)
    }
}

/// Base64 (standard or URL-safe, padding optional, whitespace ignored) or a
/// `data:<mime>;base64,` URL.
pub fn decode_data(data: &str, limits: &Limits) -> ToolResult<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::{DecodePaddingMode, general_purpose};
    let payload = match data.trim_start().strip_prefix("data:") {
        Some(rest) => {
            let (header, payload) = rest.split_once(',').ok_or_else(|| {
                ToolError::new("malformed data: URL (expected data:<mime>;base64,<data>)")
            })?;
            if !header.split(';').any(|p| p.eq_ignore_ascii_case("base64")) {
                return Err(ToolError::new(
                    "only base64 data: URLs are supported (data:<mime>;base64,<data>)",
                ));
            }
            payload
        }
        None => data,
    };
    let cleaned: String = payload
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let estimate = cleaned.len() as u64 / 4 * 3;
    if estimate > limits.max_file_bytes {
        return Err(ToolError::new(format!(
            "the image data is about {estimate} bytes, over the limit of {} bytes (--max-file-bytes)",
            limits.max_file_bytes
        )));
    }
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    standard
        .decode(&cleaned)
        .or_else(|_| url_safe.decode(&cleaned))
        .or_else(|_| general_purpose::STANDARD.decode(&cleaned))
        .map_err(|e| ToolError::new(format!("data is not valid base64: {e}")))
}

/// The format from the magic bytes, never the extension.
pub fn detect_format(bytes: &[u8]) -> ToolResult<ImageFormat> {
    let format = image::guess_format(bytes).map_err(|_| {
        ToolError::new(format!(
            "not a supported image: the content does not start with the signature of any \
             supported format ({SUPPORTED})"
        ))
    })?;
    if !is_supported(format) {
        return Err(ToolError::new(format!(
            "unsupported image format {}: this server reads {SUPPORTED}",
            format_name(format)
        )));
    }
    Ok(format)
}

pub fn is_supported(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff
            | ImageFormat::Ico
    )
}

/// Lower-case short name: png, jpeg, webp, ...
pub fn format_name(format: ImageFormat) -> String {
    format
        .extensions_str()
        .first()
        .map(|e| match *e {
            "jpg" => "jpeg".to_owned(),
            "tif" => "tiff".to_owned(),
            other => other.to_owned(),
        })
        .unwrap_or_else(|| format!("{format:?}").to_lowercase())
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub color: ColorType,
    pub original_color: ExtendedColorType,
    pub orientation: Orientation,
    /// Frames of an animation (None where the format cannot animate).
    pub frames: Option<usize>,
}

impl Header {
    /// Width and height once the EXIF orientation is applied.
    pub fn oriented_dimensions(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Whether applying `orientation` swaps width and height.
pub fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn reader(src: &Source) -> ImageReader<Cursor<&[u8]>> {
    ImageReader::with_format(Cursor::new(src.bytes.as_slice()), src.format)
}

fn decode_error(src: &Source, stage: &str, err: image::ImageError) -> ToolError {
    let name = format_name(src.format).to_uppercase();
    let hint = match &err {
        image::ImageError::Limits(_) => " (the image needs more memory than the limits allow)",
        image::ImageError::Unsupported(_) => "",
        _ => " (the file may be truncated or corrupt)",
    };
    ToolError::new(format!(
        "{}: cannot {stage} the {name} image: {err}{hint}",
        src.label()
    ))
}

/// Reads the header and checks dimensions and frames against the limits,
/// allocating nothing in proportion to the claimed size.
pub fn header(src: &Source, limits: &Limits) -> ToolResult<Header> {
    if src.format == ImageFormat::Jpeg
        && let Some(layout) = jpeg_scaled::layout(&src.bytes)
        && layout.arithmetic()
    {
        return Err(ToolError::new(format!(
            "{}: the JPEG uses arithmetic coding, which is not supported (only Huffman coding \
             is); convert it first, e.g. `jpegtran -outfile out.jpg in.jpg` (lossless)",
            src.label()
        )));
    }
    let mut reader = reader(src);
    reader.limits(limits.decoder_limits(u64::MAX));
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(src, "read the header of", e))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ToolError::new(format!(
            "{}: the {} header says the image is {width}x{height} pixels; the file is \
             corrupt (an image has at least one pixel each way)",
            src.label(),
            format_name(src.format).to_uppercase()
        )));
    }
    limits.check_pixels(width, height, &src.label())?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let frames = frames::count(src.format, &src.bytes);
    if let Some(n) = frames
        && n > limits.max_frames
    {
        return Err(ToolError::new(format!(
            "{} has {n} frames, over the limit of {} (--max-frames)",
            src.label(),
            limits.max_frames
        )));
    }
    Ok(Header {
        width,
        height,
        color: decoder.color_type(),
        original_color: decoder.original_color_type(),
        orientation,
        frames,
    })
}

/// Decodes the image (the first frame of an animation), at full size or,
/// for a JPEG much larger than `reduce_to` (width, height), at a reduced
/// scale straight from the DCT. Cached by file identity.
pub fn decode(
    src: &Source,
    hdr: &Header,
    limits: &Limits,
    cache: &DecodeCache,
    reduce_to: Option<(u32, u32)>,
) -> ToolResult<Arc<DynamicImage>> {
    decode_within(src, hdr, limits, cache, reduce_to, u64::MAX)
}

/// The DCT scale [`decode`] uses for `reduce_to`, if any: the strongest
/// that covers it, but one step weaker for 4:2:0 files our decoder leaves
/// to jpeg-decoder (progressive ones): jpeg-decoder decodes their chroma
/// at the luma's reduction and upsamples it, which halves the colour
/// resolution (a red/blue checkerboard turns purple); libjpeg-turbo
/// decodes it at twice the luma's block side, as ours does. From the
/// weaker scale, the resize brings back the colour.
pub fn decode_scale(src: &Source, hdr: &Header, reduce_to: Option<(u32, u32)>) -> Option<DctScale> {
    let scale = reduce_to
        .filter(|_| src.format == ImageFormat::Jpeg)
        .and_then(|target| DctScale::covering((hdr.width, hdr.height), target))?;
    let layout = jpeg_scaled::layout(&src.bytes);
    if layout.is_some_and(|l| l.chroma_subsampled_both_ways() && !l.scaled_here()) {
        scale.weaker()
    } else {
        Some(scale)
    }
}

/// [`decode`], with the decoder's allocations held to `max_alloc` bytes
/// (the call's memory reservation). Stops before decoding once the call is
/// cancelled or past its deadline.
pub fn decode_within(
    src: &Source,
    hdr: &Header,
    limits: &Limits,
    cache: &DecodeCache,
    reduce_to: Option<(u32, u32)>,
    max_alloc: u64,
) -> ToolResult<Arc<DynamicImage>> {
    mcp_servers_core::work::check()?;
    let full = (hdr.width, hdr.height);
    let scale = decode_scale(src, hdr, reduce_to);
    let tag = scale.map_or(0, |scale| scale as u32);
    let key = src.key.clone().map(|k| (k, tag));
    if let Some(key) = &key
        && let Some(image) = cache.lru.get(key)
    {
        return Ok(image);
    }
    if src.format == ImageFormat::Jpeg
        && jpeg_scaled::damage(&src.bytes).contains(&jpeg_scaled::Damage::NoImageData)
    {
        return Err(ToolError::new(format!(
            "{}: the JPEG has no image data (the file ends at or before its first scan): \
             it is truncated or not a complete image",
            src.label()
        )));
    }
    let image = match scale.and_then(|s| decode_jpeg_scaled(&src.bytes, full, s, limits.max_pixels))
    {
        Some(image) => image,
        None => {
            mcp_servers_core::work::check()?;
            limits.check_pixels(hdr.width, hdr.height, &src.label())?;
            let layout = (src.format == ImageFormat::Jpeg)
                .then(|| jpeg_scaled::layout(&src.bytes))
                .flatten();
            if let Some(layout) = &layout
                && layout.separate_subsampled_scans()
            {
                decode_jpeg_full(src, max_alloc)?
            } else {
                let mut reader = reader(src);
                reader.limits(limits.decoder_limits(max_alloc));
                reader
                    .decode()
                    .map_err(|e| decode_error(src, "decode", e))?
            }
        }
    };
    let image = Arc::new(image);
    if let Some(key) = key {
        cache
            .lru
            .insert(key, Arc::clone(&image), image.as_bytes().len());
    }
    Ok(image)
}

/// The colour model a JPEG stores when the decoders report another: CMYK
/// and YCCK files are converted to RGB as they are decoded, but hold four
/// channels of ink. None for every other file.
pub fn stored_color_model(src: &Source) -> Option<(String, u8)> {
    let layout = (src.format == ImageFormat::Jpeg)
        .then(|| jpeg_scaled::layout(&src.bytes))
        .flatten()?;
    // YCCK is CMYK stored through a colour transform: CMYK all the same.
    layout.cmyk().then(|| ("cmyk8".to_owned(), 4))
}

/// What the result of decoding `src` should be read with: a JPEG that is
/// truncated or damaged still decodes (the missing part grey, the damaged
/// part wrong), and says so here. Empty for sound files and other formats
/// (their decoders refuse damaged data).
pub fn warnings(src: &Source) -> Vec<String> {
    if src.format != ImageFormat::Jpeg {
        return Vec::new();
    }
    jpeg_scaled::damage(&src.bytes)
        .into_iter()
        .filter_map(|d| match d {
            jpeg_scaled::Damage::Truncated => Some(
                "the JPEG data ends before its end-of-image marker: the file is truncated, and \
                 the part of the picture after the cut is missing (grey or repeated)"
                    .to_owned(),
            ),
            jpeg_scaled::Damage::Corrupt => Some(
                "the JPEG's compressed data is damaged (invalid markers or restart markers out \
                 of order): parts of the picture may be wrong"
                    .to_owned(),
            ),
            jpeg_scaled::Damage::NoImageData => None,
        })
        .collect()
}

/// A full-size decode by jpeg-decoder, for the JPEGs zune-jpeg gets wrong
/// (see [`jpeg_scaled::Layout::separate_subsampled_scans`]).
fn decode_jpeg_full(src: &Source, max_alloc: u64) -> ToolResult<DynamicImage> {
    let fail = |e: &dyn std::fmt::Display| {
        ToolError::new(format!(
            "{}: cannot decode the JPEG image: {e} (the file may be truncated or corrupt)",
            src.label()
        ))
    };
    let mut decoder = jpeg_decoder::Decoder::new(src.bytes.as_slice());
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    let pixels = decoder.decode().map_err(|e| fail(&e))?;
    let info = decoder.info().ok_or_else(|| fail(&"no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => None,
    };
    image.ok_or_else(|| fail(&"unexpected pixel format"))
}

/// A JPEG of `full` size decoded at a reduced DCT `scale`; None when that
/// is not possible (CMYK, 12-bit, errors), so the caller decodes at full
/// size. Our own decoder takes the common baseline files; jpeg-decoder the
/// rest (progressive, RGB, odd sampling).
pub fn decode_jpeg_scaled(
    bytes: &[u8],
    full: (u32, u32),
    scale: DctScale,
    max_pixels: u64,
) -> Option<DynamicImage> {
    if let Some(image) = jpeg_scaled::decode(bytes, scale, max_pixels) {
        return Some(image);
    }
    // A call stopped inside ours is not decoded again by jpeg-decoder.
    mcp_servers_core::work::check().ok()?;
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let (w, h) = scale.output_size(full);
    let (out_w, out_h) = decoder
        .scale(u16::try_from(w).ok()?, u16::try_from(h).ok()?)
        .ok()?;
    let info = decoder.info()?;
    let pixels = decoder.decode().ok()?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageLuma8)
        }
        _ => None,
    }
}

/// The EXIF summary image_info reports.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct ExifSummary {
    /// EXIF orientation tag, 1 (upright) to 8.
    pub orientation: Option<u32>,
    pub make: Option<String>,
    pub model: Option<String>,
    /// DateTimeOriginal, else DateTime, as written (YYYY:MM:DD HH:MM:SS).
    pub date_time: Option<String>,
    /// Whether GPS position tags are present (the position is not shown).
    pub has_gps: bool,
    /// Number of EXIF fields.
    pub fields: usize,
}

/// Reads the EXIF block of a JPEG, TIFF, PNG or WebP; None if there is
/// none, or if parsing it would take more than twice its size plus 1 MiB
/// (kamadak-exif copies every field's value, so a block whose thousands of
/// fields all point at one large value would take gigabytes).
pub fn exif_summary(bytes: &[u8]) -> Option<ExifSummary> {
    use exif::{In, Tag};
    let block = exif_block(bytes)?;
    if exif_parse_cost(block) > MAX_EXIF_COST_FACTOR * block.len() as u64 + (1 << 20) {
        tracing::debug!("EXIF block skipped: its fields would take too much memory to parse");
        return None;
    }
    let exif = exif::Reader::new().read_raw(block.to_vec()).ok()?;
    let text = |tag: Tag| -> Option<String> {
        let field = exif.get_field(tag, In::PRIMARY)?;
        match &field.value {
            exif::Value::Ascii(parts) => {
                let joined: Vec<String> = parts
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                (!joined.is_empty()).then(|| joined.join(" "))
            }
            _ => Some(field.display_value().to_string()),
        }
    };
    Some(ExifSummary {
        orientation: exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0)),
        make: text(Tag::Make),
        model: text(Tag::Model),
        date_time: text(Tag::DateTimeOriginal).or_else(|| text(Tag::DateTime)),
        has_gps: exif
            .fields()
            .any(|f| f.tag.context() == exif::Context::Gps && f.tag != Tag::GPSVersionID),
        fields: exif.fields().count(),
    })
}

/// How much larger than the EXIF block its parse may be (besides 1 MiB).
const MAX_EXIF_COST_FACTOR: u64 = 2;

/// The EXIF (TIFF-structured) block of a TIFF file (the whole file), a JPEG
/// (the first APP1 "Exif" segment before the scan), a PNG (the eXIf chunk)
/// or a WebP (the EXIF chunk).
fn exif_block(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Some(bytes);
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut at = 2;
        loop {
            while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
                at += 1;
            }
            if *bytes.get(at)? != 0xFF {
                return None;
            }
            let marker = *bytes.get(at + 1)?;
            at += 2;
            match marker {
                0x01 | 0xD0..=0xD8 => continue,
                0xD9 | 0xDA => return None,
                _ => {}
            }
            let len = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
            let body = bytes.get(at + 2..at.checked_add(len)?)?;
            if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
                return Some(&body[6..]);
            }
            at += len;
        }
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut at = 8usize;
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
            let data = at + 8;
            if &bytes[at + 4..at + 8] == b"eXIf" {
                return bytes.get(data..data.checked_add(len)?);
            }
            at = data.checked_add(len)?.checked_add(4)?;
        }
        return None;
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        let mut at = 12usize;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
            let data = at + 8;
            if &bytes[at..at + 4] == b"EXIF" {
                return bytes.get(data..data.checked_add(len)?);
            }
            at = data.checked_add(len)?.checked_add(len & 1)?;
        }
    }
    None
}

/// What kamadak-exif allocates to parse `block` and every field in it: the
/// block's copy, an entry per field, and each field's value as a vector
/// (an ASCII value is a vector per NUL-separated string). Walks the IFDs as
/// it does: at most 8 in the chain, each with its Exif, GPS and Interop
/// child IFDs, none twice; stops where it would stop with an error.
pub fn exif_parse_cost(block: &[u8]) -> u64 {
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        Tiff,
        Exif,
        Gps,
        Interop,
    }
    struct Walk<'a> {
        data: &'a [u8],
        big_endian: bool,
        seen: std::collections::HashSet<usize>,
        cost: u64,
    }
    impl Walk<'_> {
        fn u16(&self, at: usize) -> Option<u16> {
            let b: [u8; 2] = self.data.get(at..at + 2)?.try_into().ok()?;
            Some(if self.big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        }
        fn u32(&self, at: usize) -> Option<u32> {
            let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
            Some(if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        }
        /// One IFD; the offset of the next, None where parsing stops.
        fn ifd(&mut self, offset: usize, ctx: Ctx) -> Option<usize> {
            let count = usize::from(self.u16(offset)?);
            if !self.seen.insert(offset) {
                return None;
            }
            for i in 0..count {
                let at = offset + 2 + i * 12;
                let (tag, kind, n) = (self.u16(at)?, self.u16(at + 2)?, self.u32(at + 4)?);
                let unit: u64 = match kind {
                    1 | 2 | 6 | 7 => 1,
                    3 | 8 => 2,
                    4 | 9 | 11 => 4,
                    5 | 10 | 12 => 8,
                    _ => 0,
                };
                let len = unit * u64::from(n);
                if len > 4 {
                    let value = u64::from(self.u32(at + 8)?);
                    if value + len > self.data.len() as u64 {
                        return None;
                    }
                }
                let child = match (ctx, tag) {
                    (Ctx::Tiff, 0x8769) => Some(Ctx::Exif),
                    (Ctx::Tiff, 0x8825) => Some(Ctx::Gps),
                    (Ctx::Exif, 0xA005) => Some(Ctx::Interop),
                    _ => None,
                };
                match child {
                    Some(child) => {
                        let pointer = if len > 4 {
                            self.u32(at + 8)?
                        } else if kind == 3 {
                            u32::from(self.u16(at + 8)?)
                        } else {
                            self.u32(at + 8)?
                        };
                        if self.ifd(pointer as usize, child)? != 0 {
                            return None;
                        }
                    }
                    None => {
                        let value = if kind == 2 {
                            24 * (u64::from(n) + 1) + u64::from(n)
                        } else {
                            len
                        };
                        self.cost += 64 + value;
                    }
                }
            }
            self.u32(offset + 2 + count * 12).map(|next| next as usize)
        }
    }
    let big_endian = match block.get(..4) {
        Some(b"MM\0*") => true,
        Some(b"II*\0") => false,
        _ => return 0,
    };
    let mut walk = Walk {
        data: block,
        big_endian,
        seen: std::collections::HashSet::new(),
        cost: block.len() as u64,
    };
    let Some(mut next) = walk.u32(4).map(|o| o as usize) else {
        return walk.cost;
    };
    for _ in 0..8 {
        if next == 0 {
            break;
        }
        match walk.ifd(next, Ctx::Tiff) {
            Some(n) => next = n,
            None => break,
        }
    }
    walk.cost
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn png_bytes(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 128])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// A valid PNG whose IHDR claims `width` x `height`.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png_bytes(1, 1);
        // Signature (8), length (4), "IHDR" (4), then width and height.
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bytes = png_claiming(100_000, 100_000);
        let src = Source::from_bytes(bytes, &Limits::default()).unwrap();
        let err = header(&src, &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("100000x100000"), "{err}");
        assert!(err.contains("--max-pixels"), "{err}");
    }

    #[test]
    fn format_comes_from_magic_bytes() {
        assert_eq!(detect_format(&png_bytes(2, 2)).unwrap(), ImageFormat::Png);
        let err = detect_format(b"hello world, not an image").unwrap_err();
        assert!(err.message().contains("not a supported image"), "{err}");
        // QOI is recognised by its magic but not served.
        let err = detect_format(b"qoif\0\0\0\x01\0\0\0\x01\x03\0").unwrap_err();
        assert!(err.message().contains("unsupported image format"), "{err}");
    }

    #[test]
    fn data_urls_and_plain_base64_decode() {
        let limits = Limits::default();
        let png = png_bytes(3, 3);
        let b64 = mcp_servers_core::content::base64_encode(&png);
        assert_eq!(decode_data(&b64, &limits).unwrap(), png);
        let url = format!("data:image/png;base64,{b64}");
        assert_eq!(decode_data(&url, &limits).unwrap(), png);
        let unpadded = b64.trim_end_matches('=');
        assert_eq!(decode_data(unpadded, &limits).unwrap(), png);
        assert!(decode_data("data:image/png,raw", &limits).is_err());
        assert!(decode_data("!!!", &limits).is_err());
        let small = Limits {
            max_file_bytes: 10,
            ..limits
        };
        let err = decode_data(&b64, &small).unwrap_err().to_string();
        assert!(err.contains("--max-file-bytes"), "{err}");
    }

    /// A lossless WebP whose header's 14-bit width field is all ones:
    /// image-webp reads `(1 + bits) & 0x3FFF`, which is 0.
    pub(crate) fn webp_claiming_zero_width() -> Vec<u8> {
        let header: u32 = 0x3FFF | (9 << 14);
        let mut chunk = vec![0x2F];
        chunk.extend_from_slice(&header.to_le_bytes());
        chunk.extend_from_slice(&[0; 7]);
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&((4 + 8 + chunk.len()) as u32).to_le_bytes());
        bytes.extend_from_slice(b"WEBPVP8L");
        bytes.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&chunk);
        bytes
    }

    /// A one-frame GIF whose logical screen is `w` x `h`.
    fn gif_screen(w: u16, h: u16) -> Vec<u8> {
        let mut bytes = b"GIF89a".to_vec();
        bytes.extend_from_slice(&w.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
        bytes.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
        bytes.extend_from_slice(&w.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
        bytes
    }

    /// A 24-bit BMP whose header says `w` x `h`.
    fn bmp_claiming(w: i32, h: i32) -> Vec<u8> {
        let mut bytes = b"BM".to_vec();
        bytes.extend_from_slice(&(54u32 + 4).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&54u32.to_le_bytes());
        bytes.extend_from_slice(&40u32.to_le_bytes());
        bytes.extend_from_slice(&w.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&24u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 24]);
        bytes.extend_from_slice(&[0; 4]);
        bytes
    }

    /// A little-endian one-strip 8-bit gray TIFF whose tags say `w` x `h`.
    fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
        let entries: [(u16, u16, u32, u32); 8] = [
            (256, 4, 1, w),
            (257, 4, 1, h),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, 8 + 2 + 8 * 12 + 4),
            (278, 4, 1, h.max(1)),
            (279, 4, 1, 1),
        ];
        let mut bytes = b"II*\0".to_vec();
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            bytes.extend_from_slice(&tag.to_le_bytes());
            bytes.extend_from_slice(&kind.to_le_bytes());
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.push(0);
        bytes
    }

    /// A baseline JPEG whose frame header says `w` x `h`.
    fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
        let img = image::GrayImage::new(8, 8);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let mut bytes = out.into_inner();
        let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        bytes
    }

    #[test]
    fn a_header_claiming_no_pixels_is_an_error_in_every_format() {
        let limits = Limits::default();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("webp", webp_claiming_zero_width()),
            ("png", png_claiming(0, 10)),
            ("png", png_claiming(10, 0)),
            ("gif", gif_screen(0, 0)),
            ("gif", gif_screen(5, 0)),
            ("bmp", bmp_claiming(0, 4)),
            ("bmp", bmp_claiming(4, 0)),
            ("tiff", tiff_claiming(0, 4)),
            ("tiff", tiff_claiming(4, 0)),
            ("jpeg", jpeg_claiming(0, 8)),
            ("jpeg", jpeg_claiming(8, 0)),
        ];
        for (name, bytes) in cases {
            let src = Source::from_bytes(bytes, &limits).unwrap();
            assert_eq!(format_name(src.format), name);
            match header(&src, &limits) {
                Ok(hdr) => panic!("{name}: {}x{} reported as an image", hdr.width, hdr.height),
                Err(e) => assert!(e.message().contains("inline data"), "{name}: {e}"),
            }
        }
        // The sane versions of the same files are read.
        for bytes in [gif_screen(2, 2), bmp_claiming(1, 1), tiff_claiming(1, 1)] {
            let src = Source::from_bytes(bytes, &limits).unwrap();
            let hdr = header(&src, &limits).unwrap();
            assert!(hdr.width > 0 && hdr.height > 0);
        }
        let src = Source::from_bytes(webp_claiming_zero_width(), &limits).unwrap();
        let err = header(&src, &limits).unwrap_err().to_string();
        assert!(err.contains("says the image is 0x"), "{err}");
        assert!(err.contains("corrupt"), "{err}");
    }

    /// A TIFF-structured EXIF block with `fields` ASCII fields that all
    /// point at one `value_len`-byte run of NULs.
    fn exif_aliasing(fields: u16, value_len: u32) -> Vec<u8> {
        let mut t = b"MM\0*".to_vec();
        t.extend_from_slice(&8u32.to_be_bytes());
        let value_at = 8 + 2 + u32::from(fields) * 12 + 4;
        t.extend_from_slice(&fields.to_be_bytes());
        for i in 0..fields {
            t.extend_from_slice(&(0x1000 + i).to_be_bytes());
            t.extend_from_slice(&2u16.to_be_bytes());
            t.extend_from_slice(&value_len.to_be_bytes());
            t.extend_from_slice(&value_at.to_be_bytes());
        }
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend(std::iter::repeat_n(0u8, value_len as usize));
        t
    }

    /// `png_bytes(2, 2)` with an eXIf chunk holding `block`.
    fn png_with_exif(block: &[u8]) -> Vec<u8> {
        let png = png_bytes(2, 2);
        let mut out = png[..33].to_vec();
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        let mut chunk = b"eXIf".to_vec();
        chunk.extend_from_slice(block);
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
        out.extend_from_slice(&png[33..]);
        out
    }

    #[test]
    fn exif_whose_fields_alias_one_large_value_is_not_parsed() {
        // 200 fields x 64 KiB of NULs: ~300 MB of vectors for a 66 KB block.
        let hostile = exif_aliasing(200, 64 << 10);
        let cost = exif_parse_cost(&hostile);
        assert!(cost > 256 << 20, "{cost}");
        let png = png_with_exif(&hostile);
        assert_eq!(exif_block(&png), Some(hostile.as_slice()));
        assert!(exif_summary(&png).is_none());
        // A few fields sharing a value are fine, and parsed.
        let fine = exif_aliasing(3, 16);
        assert!(exif_parse_cost(&fine) < 4096);
        let summary = exif_summary(&png_with_exif(&fine)).expect("parsed");
        assert_eq!(summary.fields, 3);
    }

    #[test]
    fn exif_cost_walks_no_ifd_twice_and_at_most_eight() {
        // IFD0's next-IFD offset points back at itself.
        let mut looped = exif_aliasing(1, 16);
        let next = 8 + 2 + 12;
        looped[next..next + 4].copy_from_slice(&8u32.to_be_bytes());
        let once = exif_parse_cost(&exif_aliasing(1, 16));
        assert_eq!(exif_parse_cost(&looped), once);
        for cut in 0..looped.len() {
            exif_parse_cost(&looped[..cut]);
        }
    }

    #[test]
    fn a_cancelled_call_decodes_and_transforms_nothing() {
        use mcp_servers_core::work::{CallLimits, enter};
        let img = image::RgbImage::from_fn(800, 600, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let jpeg = out.into_inner();
        let limits = Limits::default();
        let src = Source::from_bytes(jpeg.clone(), &limits).unwrap();
        let hdr = header(&src, &limits).unwrap();
        let call = CallLimits::new(
            Default::default(),
            std::time::Instant::now() + std::time::Duration::from_secs(600),
        );
        call.token().cancel();
        enter(Some(call), || {
            assert!(jpeg_scaled::decode(&jpeg, DctScale::Quarter, u64::MAX).is_none());
            let cache = DecodeCache::new(0);
            for reduce in [None, Some((100, 75))] {
                let err = decode(&src, &hdr, &limits, &cache, reduce)
                    .unwrap_err()
                    .to_string();
                assert!(err.contains("cancelled"), "{err}");
            }
            let steps = crate::ops::validate(&[crate::ops::Operation::Invert]).unwrap();
            let img = DynamicImage::ImageRgb8(img.clone());
            let err = crate::ops::apply(img, &steps, Orientation::NoTransforms, &limits)
                .unwrap_err()
                .to_string();
            assert!(err.contains("cancelled"), "{err}");
        });
        // Outside the call the same work runs.
        assert!(decode(&src, &hdr, &limits, &DecodeCache::new(0), Some((100, 75))).is_ok());
    }

    #[test]
    fn truncated_images_fail_clearly() {
        let png = png_bytes(64, 64);
        let src = Source::from_bytes(png[..png.len() / 2].to_vec(), &Limits::default()).unwrap();
        let limits = Limits::default();
        let hdr = header(&src, &limits).unwrap();
        let err = decode(&src, &hdr, &limits, &DecodeCache::new(0), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn decoded_images_are_cached_by_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        std::fs::write(&path, png_bytes(8, 8)).unwrap();
        let limits = Limits::default();
        let cache = DecodeCache::new(1 << 20);
        let src = Source::from_file(&path, &limits).unwrap();
        let hdr = header(&src, &limits).unwrap();
        let one = decode(&src, &hdr, &limits, &cache, None).unwrap();
        let two = decode(&src, &hdr, &limits, &cache, None).unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        assert_eq!(cache.stats().hits, 1);
    }

    #[test]
    fn a_jpeg_header_ends_with_its_first_scan_header() {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let jpeg = out.into_inner();
        let end = jpeg_header_len(&jpeg).unwrap();
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert_eq!(
            end,
            sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]))
        );
        let limits = Limits::default();
        let prefix = Source::from_bytes(jpeg[..end].to_vec(), &limits).unwrap();
        let hdr = header(&prefix, &limits).unwrap();
        assert_eq!((hdr.width, hdr.height), (64, 48));
        // Cut before the scan header, or not a JPEG: not enough.
        assert_eq!(jpeg_header_len(&jpeg[..end - 1]), None);
        assert_eq!(jpeg_header_len(&png_bytes(2, 2)), None);
        assert_eq!(jpeg_header_len(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
        assert_eq!(
            jpeg_header_len(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 1]),
            None,
            "length under 2"
        );
    }

    #[test]
    fn large_jpegs_decode_at_reduced_scale() {
        let img = image::RgbImage::from_fn(800, 600, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let max = Limits::default().max_pixels;
        let scaled = |target| {
            let scale = DctScale::covering((800, 600), target)?;
            let image = decode_jpeg_scaled(out.get_ref(), (800, 600), scale, max)?;
            Some((image.width(), image.height()))
        };
        assert_eq!(scaled((100, 75)), Some((100, 75)));
        assert_eq!(scaled((300, 200)), Some((400, 300)));
        assert_eq!(scaled((401, 300)), None, "half size would not cover it");
    }

    #[test]
    fn progressive_jpegs_decode_at_reduced_scale_through_jpeg_decoder() {
        let img = image::RgbImage::from_fn(800, 600, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 85);
        encoder.set_progressive(true);
        encoder
            .encode(img.as_raw(), 800, 600, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        // Not ours to decode: the fallback does it, at the same scale.
        assert!(jpeg_scaled::decode(&bytes, DctScale::Quarter, u64::MAX).is_none());
        let max = Limits::default().max_pixels;
        let scaled = decode_jpeg_scaled(&bytes, (800, 600), DctScale::Quarter, max).unwrap();
        assert_eq!((scaled.width(), scaled.height()), (200, 150));
        let left = scaled.to_rgb8().get_pixel(2, 75)[0];
        let right = scaled.to_rgb8().get_pixel(120, 75)[0];
        assert!(left < 30 && right > 200, "{left} {right}");
    }
}
