//! mcp-image's path for untrusted bytes, as image_info and every transform
//! run it: `Source::from_bytes` (size, magic bytes), `source::header`
//! (dimensions, orientation, frame count, checked against `--max-pixels` and
//! `--max-frames` before any pixel is decoded), `exif_summary`, then
//! `source::decode` (with and without a reduced JPEG scale), under small
//! limits (128x128 pixels, 16 frames).
//!
//! Inputs are raw bytes, or an image of one of the seven formats built
//! around fuzzer-chosen fields (PNG chunks with valid CRCs, JPEG segments
//! with valid lengths and optionally tables that decode, GIF, BMP, WebP RIFF
//! chunks, ICO directories, TIFF IFDs), so the decoders' deeper paths and
//! the limits are reached, not only the magic-byte check.
//!
//! Checked:
//! - no panic;
//! - a header that passes has width x height <= max_pixels and at most
//!   max_frames frames;
//! - a decoded image has the header's dimensions (at full scale) or fits in
//!   them (reduced), so it is never larger than the limits;
//! - memory: a counting global allocator refuses to let live heap exceed the
//!   decoder's allocation limit for these limits (512 MiB) plus 32 MiB, which
//!   aborts the process (a crash libFuzzer records); the largest per-input
//!   peak is printed as it grows.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_image::source::{self, DecodeCache, Limits, Source};

const LIMITS: Limits = Limits {
    max_file_bytes: 1 << 20,
    max_pixels: 128 * 128,
    max_frames: 16,
};

/// `Limits::decoder_limits().max_alloc` for `LIMITS`: max(pixels x 16 +
/// 64 MiB, 512 MiB), plus some room for the harness itself.
const HEAP_CAP: usize = (512 << 20) + (32 << 20);

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static RECORD: AtomicUsize = AtomicUsize::new(8 << 20);

impl Counting {
    fn reserve(size: usize) -> bool {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        if live > HEAP_CAP {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        PEAK.fetch_max(live, Ordering::Relaxed);
        true
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let ptr = unsafe { System.alloc(layout) };
        if ptr.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if ptr.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !Self::reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            if new_size > old {
                LIVE.fetch_sub(new_size - old, Ordering::Relaxed);
            }
        } else if new_size < old {
            LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------- inputs

#[derive(Debug, Arbitrary)]
enum Dim {
    Small(u8),
    Any(u32),
}

impl Dim {
    fn get(&self) -> u32 {
        match self {
            Dim::Small(n) => u32::from(*n),
            Dim::Any(n) => *n,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum PngKind {
    Idat,
    Actl,
    Fctl,
    Fdat,
    Plte,
    Trns,
    Exif,
    Gama,
    Iccp,
    Text,
    Iend,
    Other([u8; 4]),
}

#[derive(Debug, Arbitrary)]
enum Payload {
    Raw(Vec<u8>),
    /// Wrapped in a zlib stream of stored blocks, so it inflates as is.
    Zlib(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct PngChunk {
    kind: PngKind,
    data: Payload,
}

#[derive(Debug, Arbitrary)]
enum JpegSegment {
    /// Marker byte (after 0xFF) and body; the length is computed.
    Marker(u8, Vec<u8>),
    /// A quantization table of ones.
    Dqt,
    /// DC and AC tables with one 1-bit code for symbol 0, under which zero
    /// bits decode as "no change, end of block".
    Dht,
    Sof {
        progressive: bool,
        precision12: bool,
        width: u16,
        height: u16,
        components: Vec<(u8, u8)>,
    },
    Sos {
        components: Vec<u8>,
        data: Vec<u8>,
    },
    Exif(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum WebpKind {
    Vp8,
    Vp8l,
    Vp8x,
    Anim,
    Anmf,
    Alph,
    Exif,
    Iccp,
    Other([u8; 4]),
}

#[derive(Debug, Arbitrary)]
struct TiffEntry {
    tag: u8,
    raw_tag: Option<u16>,
    kind: u8,
    count: u32,
    value: u32,
}

#[derive(Debug, Arbitrary)]
struct IcoEntry {
    width: u8,
    height: u8,
    bpp: u16,
    image: Box<Image>,
    exact_offset: bool,
    offset: u32,
}

#[derive(Debug, Arbitrary)]
enum Image {
    Raw(Vec<u8>),
    Png {
        width: Dim,
        height: Dim,
        bit_depth: u8,
        color: u8,
        interlace: bool,
        chunks: Vec<PngChunk>,
    },
    Jpeg(Vec<JpegSegment>),
    Gif {
        width: u16,
        height: u16,
        packed: u8,
        body: Vec<u8>,
    },
    Bmp {
        dib_size: u8,
        width: i32,
        height: i32,
        bpp: u16,
        compression: u32,
        colors: u32,
        body: Vec<u8>,
    },
    Webp(Vec<(WebpKind, Vec<u8>)>),
    Ico(Vec<IcoEntry>),
    Tiff {
        big_endian: bool,
        entries: Vec<TiffEntry>,
        data: Vec<u8>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    image: Image,
    /// A reduced decode size, as prepare_for_model and resizes ask for.
    reduce_to: Option<(u16, u16)>,
}

// ---------------------------------------------------------------- builders

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn payload(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Raw(bytes) => bytes.clone(),
        Payload::Zlib(bytes) => zlib_stored(bytes),
    }
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn jpeg_segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    let body = &body[..body.len().min(65533)];
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn build(image: &Image, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    match image {
        Image::Raw(bytes) => out.extend_from_slice(bytes),
        Image::Png {
            width,
            height,
            bit_depth,
            color,
            interlace,
            chunks,
        } => {
            out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
            let mut ihdr = Vec::new();
            ihdr.extend_from_slice(&width.get().to_be_bytes());
            ihdr.extend_from_slice(&height.get().to_be_bytes());
            ihdr.push([1, 2, 4, 8, 16][usize::from(*bit_depth) % 5]);
            ihdr.push([0, 2, 3, 4, 6][usize::from(*color) % 5]);
            ihdr.extend_from_slice(&[0, 0, u8::from(*interlace)]);
            png_chunk(&mut out, b"IHDR", &ihdr);
            for chunk in chunks {
                let kind: [u8; 4] = match &chunk.kind {
                    PngKind::Idat => *b"IDAT",
                    PngKind::Actl => *b"acTL",
                    PngKind::Fctl => *b"fcTL",
                    PngKind::Fdat => *b"fdAT",
                    PngKind::Plte => *b"PLTE",
                    PngKind::Trns => *b"tRNS",
                    PngKind::Exif => *b"eXIf",
                    PngKind::Gama => *b"gAMA",
                    PngKind::Iccp => *b"iCCP",
                    PngKind::Text => *b"tEXt",
                    PngKind::Iend => *b"IEND",
                    PngKind::Other(k) => *k,
                };
                png_chunk(&mut out, &kind, &payload(&chunk.data));
            }
            png_chunk(&mut out, b"IEND", &[]);
        }
        Image::Jpeg(segments) => {
            out.extend_from_slice(&[0xFF, 0xD8]);
            for segment in segments {
                match segment {
                    JpegSegment::Marker(marker, body) => jpeg_segment(&mut out, *marker, body),
                    JpegSegment::Dqt => {
                        let mut body = vec![0u8];
                        body.extend_from_slice(&[1; 64]);
                        jpeg_segment(&mut out, 0xDB, &body);
                    }
                    JpegSegment::Dht => {
                        for class in [0x00u8, 0x10] {
                            let mut body = vec![class, 1];
                            body.extend_from_slice(&[0; 15]);
                            body.push(0);
                            jpeg_segment(&mut out, 0xC4, &body);
                        }
                    }
                    JpegSegment::Sof {
                        progressive,
                        precision12,
                        width,
                        height,
                        components,
                    } => {
                        let mut body = vec![if *precision12 { 12 } else { 8 }];
                        body.extend_from_slice(&height.to_be_bytes());
                        body.extend_from_slice(&width.to_be_bytes());
                        let components: Vec<_> = components.iter().take(4).collect();
                        body.push(components.len().max(1) as u8);
                        if components.is_empty() {
                            body.extend_from_slice(&[1, 0x11, 0]);
                        }
                        for (i, (sampling, table)) in components.iter().enumerate() {
                            body.extend_from_slice(&[i as u8 + 1, *sampling, *table % 4]);
                        }
                        jpeg_segment(&mut out, if *progressive { 0xC2 } else { 0xC0 }, &body);
                    }
                    JpegSegment::Sos { components, data } => {
                        let components: Vec<_> = components.iter().take(4).collect();
                        let mut body = vec![components.len().max(1) as u8];
                        if components.is_empty() {
                            body.extend_from_slice(&[1, 0]);
                        }
                        for (i, tables) in components.iter().enumerate() {
                            body.extend_from_slice(&[i as u8 + 1, **tables & 0x33]);
                        }
                        body.extend_from_slice(&[0, 63, 0]);
                        jpeg_segment(&mut out, 0xDA, &body);
                        // Entropy-coded data: 0xFF must be stuffed.
                        for &b in data {
                            out.push(b);
                            if b == 0xFF {
                                out.push(0);
                            }
                        }
                        if data.is_empty() {
                            out.extend_from_slice(&[0; 64]);
                        }
                    }
                    JpegSegment::Exif(tiff) => {
                        let mut body = b"Exif\0\0".to_vec();
                        body.extend_from_slice(tiff);
                        jpeg_segment(&mut out, 0xE1, &body);
                    }
                    JpegSegment::Raw(bytes) => out.extend_from_slice(bytes),
                }
            }
            out.extend_from_slice(&[0xFF, 0xD9]);
        }
        Image::Gif {
            width,
            height,
            packed,
            body,
        } => {
            out.extend_from_slice(b"GIF89a");
            out.extend_from_slice(&width.to_le_bytes());
            out.extend_from_slice(&height.to_le_bytes());
            out.extend_from_slice(&[*packed, 0, 0]);
            out.extend_from_slice(body);
        }
        Image::Bmp {
            dib_size,
            width,
            height,
            bpp,
            compression,
            colors,
            body,
        } => {
            let dib = [12u32, 40, 52, 56, 108, 124][usize::from(*dib_size) % 6];
            let mut dib_bytes = Vec::new();
            dib_bytes.extend_from_slice(&dib.to_le_bytes());
            if dib == 12 {
                dib_bytes.extend_from_slice(&(*width as u16).to_le_bytes());
                dib_bytes.extend_from_slice(&(*height as u16).to_le_bytes());
                dib_bytes.extend_from_slice(&1u16.to_le_bytes());
                dib_bytes.extend_from_slice(&bpp.to_le_bytes());
            } else {
                dib_bytes.extend_from_slice(&width.to_le_bytes());
                dib_bytes.extend_from_slice(&height.to_le_bytes());
                dib_bytes.extend_from_slice(&1u16.to_le_bytes());
                dib_bytes.extend_from_slice(&bpp.to_le_bytes());
                dib_bytes.extend_from_slice(&compression.to_le_bytes());
                dib_bytes.extend_from_slice(&0u32.to_le_bytes());
                dib_bytes.extend_from_slice(&[0; 8]);
                dib_bytes.extend_from_slice(&colors.to_le_bytes());
                dib_bytes.extend_from_slice(&0u32.to_le_bytes());
                dib_bytes.resize(dib as usize, 0);
            }
            let offset = 14 + dib_bytes.len() as u32;
            out.extend_from_slice(b"BM");
            out.extend_from_slice(&(offset + body.len() as u32).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&dib_bytes);
            out.extend_from_slice(body);
        }
        Image::Webp(chunks) => {
            let mut body = b"WEBP".to_vec();
            for (kind, data) in chunks {
                let kind: [u8; 4] = match kind {
                    WebpKind::Vp8 => *b"VP8 ",
                    WebpKind::Vp8l => *b"VP8L",
                    WebpKind::Vp8x => *b"VP8X",
                    WebpKind::Anim => *b"ANIM",
                    WebpKind::Anmf => *b"ANMF",
                    WebpKind::Alph => *b"ALPH",
                    WebpKind::Exif => *b"EXIF",
                    WebpKind::Iccp => *b"ICCP",
                    WebpKind::Other(k) => *k,
                };
                body.extend_from_slice(&kind);
                body.extend_from_slice(&(data.len() as u32).to_le_bytes());
                body.extend_from_slice(data);
                if data.len() % 2 == 1 {
                    body.push(0);
                }
            }
            out.extend_from_slice(b"RIFF");
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&body);
        }
        Image::Ico(entries) => {
            let entries: Vec<&IcoEntry> = entries.iter().take(8).collect();
            let images: Vec<Vec<u8>> = entries
                .iter()
                .map(|e| {
                    if depth > 0 {
                        Vec::new()
                    } else {
                        build(&e.image, depth + 1)
                    }
                })
                .collect();
            out.extend_from_slice(&[0, 0, 1, 0]);
            out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
            let mut at = 6 + 16 * entries.len() as u32;
            for (entry, image) in entries.iter().zip(&images) {
                out.extend_from_slice(&[entry.width, entry.height, 0, 0]);
                out.extend_from_slice(&1u16.to_le_bytes());
                out.extend_from_slice(&entry.bpp.to_le_bytes());
                out.extend_from_slice(&(image.len() as u32).to_le_bytes());
                let offset = if entry.exact_offset { at } else { entry.offset };
                out.extend_from_slice(&offset.to_le_bytes());
                at += image.len() as u32;
            }
            for image in &images {
                out.extend_from_slice(image);
            }
        }
        Image::Tiff {
            big_endian,
            entries,
            data,
        } => {
            const TAGS: [u16; 18] = [
                256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 284, 317, 322, 323, 324, 325,
                338, 339,
            ];
            let u16b = |v: u16| {
                if *big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let u32b = |v: u32| {
                if *big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            out.extend_from_slice(if *big_endian { b"MM\0*" } else { b"II*\0" });
            out.extend_from_slice(&u32b(8));
            let entries: Vec<&TiffEntry> = entries.iter().take(32).collect();
            out.extend_from_slice(&u16b(entries.len() as u16));
            for e in &entries {
                let tag = e.raw_tag.unwrap_or(TAGS[usize::from(e.tag) % TAGS.len()]);
                out.extend_from_slice(&u16b(tag));
                out.extend_from_slice(&u16b([1, 2, 3, 4, 5, 16][usize::from(e.kind) % 6]));
                out.extend_from_slice(&u32b(e.count));
                out.extend_from_slice(&u32b(e.value));
            }
            out.extend_from_slice(&u32b(0));
            out.extend_from_slice(data);
        }
    }
    out
}

// ---------------------------------------------------------------- target

fn check(bytes: Vec<u8>, reduce_to: Option<(u16, u16)>) {
    if let Ok(text) = std::str::from_utf8(&bytes) {
        let _ = source::decode_data(text, &LIMITS);
    }
    let _ = source::exif_summary(&bytes);
    let Ok(src) = Source::from_bytes(bytes, &LIMITS) else {
        return;
    };
    let _ = source::format_name(src.format);
    let _ = src.format.to_mime_type();
    let Ok(hdr) = source::header(&src, &LIMITS) else {
        return;
    };
    let pixels = u64::from(hdr.width) * u64::from(hdr.height);
    assert!(
        pixels <= LIMITS.max_pixels,
        "header {}x{} passed the {}-pixel limit",
        hdr.width,
        hdr.height,
        LIMITS.max_pixels
    );
    if let Some(frames) = hdr.frames {
        assert!(
            frames <= LIMITS.max_frames,
            "{frames} frames passed the limit"
        );
    }
    let _ = hdr.oriented_dimensions();
    // What image_info computes from the header.
    let channels = hdr.original_color.channel_count();
    let _ = hdr.original_color.bits_per_pixel() / u16::from(channels.max(1));
    let _ = hdr.color.has_alpha();

    let cache = DecodeCache::new(0);
    if let Ok(image) = source::decode(&src, &hdr, &LIMITS, &cache, None) {
        assert_eq!(
            (image.width(), image.height()),
            (hdr.width, hdr.height),
            "decoded size differs from the header's"
        );
    }
    if let Some((w, h)) = reduce_to
        && src.format == image::ImageFormat::Jpeg
    {
        let reduce = (u32::from(w.max(1)), u32::from(h.max(1)));
        if let Ok(image) = source::decode(&src, &hdr, &LIMITS, &cache, Some(reduce)) {
            assert!(
                image.width() <= hdr.width && image.height() <= hdr.height,
                "reduced decode {}x{} is larger than the header's {}x{}",
                image.width(),
                image.height(),
                hdr.width,
                hdr.height
            );
        }
    }
}

fuzz_target!(|input: Input| {
    let bytes = build(&input.image, 0);
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    check(bytes, input.reduce_to);
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(start);
    if used > RECORD.load(Ordering::Relaxed) {
        RECORD.store(used, Ordering::Relaxed);
        eprintln!(
            "image_header: new peak heap for one input: {} MiB",
            used >> 20
        );
    }
});
