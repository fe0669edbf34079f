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

use crate::frames;
use crate::jpeg_scaled::{self, DctScale};

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
    /// a pixel (RGBA, 32-bit float), plus room for the decoder's own buffers.
    fn decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(
            self.max_pixels
                .saturating_mul(16)
                .saturating_add(64 << 20)
                .max(512 << 20),
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
            Source::from_file(&real, limits)
        }
        (None, Some(data)) => Source::from_bytes(decode_data(data, limits)?, limits),
    }
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
    let mut reader = reader(src);
    reader.limits(limits.decoder_limits());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(src, "read the header of", e))?;
    let (width, height) = decoder.dimensions();
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
    let full = (hdr.width, hdr.height);
    let scale = reduce_to
        .filter(|_| src.format == ImageFormat::Jpeg)
        .and_then(|target| DctScale::covering(full, target));
    let tag = scale.map_or(0, |scale| scale as u32);
    let key = src.key.clone().map(|k| (k, tag));
    if let Some(key) = &key
        && let Some(image) = cache.lru.get(key)
    {
        return Ok(image);
    }
    let image = match scale.and_then(|s| decode_jpeg_scaled(&src.bytes, full, s, limits.max_pixels))
    {
        Some(image) => image,
        None => {
            limits.check_pixels(hdr.width, hdr.height, &src.label())?;
            let mut reader = reader(src);
            reader.limits(limits.decoder_limits());
            reader
                .decode()
                .map_err(|e| decode_error(src, "decode", e))?
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

/// Reads the EXIF block of a JPEG, TIFF, PNG or WebP; None if there is none.
pub fn exif_summary(bytes: &[u8]) -> Option<ExifSummary> {
    use exif::{In, Tag};
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
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
