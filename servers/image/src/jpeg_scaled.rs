//! Baseline JPEGs decoded at 1/2, 1/4 or 1/8 of their size straight from
//! the DCT: the shrink-on-load that lets a 24 MP photo become a 1024 px
//! preview without ever holding 24 MP.
//!
//! jpeg-decoder can scale too, but its entropy decoder reads the file a byte
//! at a time through `io::Read`, and entropy decoding is nearly all the work
//! of a scaled decode. This one reads the scan from a slice, eight bytes at
//! a time where no 0xFF byte needs unstuffing, and only stores the
//! coefficients the reduced inverse DCT uses. Its IDCT and upsampling are
//! jpeg-decoder's own arithmetic and its colour conversion jpeg-decoder's
//! scalar (libjpeg-turbo's) formula, so both give the same pixels: the tests
//! compare them byte for byte, emulating the 6-bit rounding of jpeg-decoder's
//! SIMD colour conversion, which is off by at most 1.
//!
//! Only the common case is handled: 8-bit sequential Huffman (SOF0/SOF1),
//! grey or YCbCr, sampling factors of 1 or 2, in one interleaved scan or
//! one scan per component. Anything else, and any corrupt or truncated
//! stream, is `None`, and the caller falls back to jpeg-decoder, which also
//! names the problem.

use image::{DynamicImage, GrayImage, RgbImage};

/// How far the image is reduced: the side of the square each 8x8 block
/// becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DctScale {
    Half = 4,
    Quarter = 2,
    Eighth = 1,
}

impl DctScale {
    /// The strongest reduction whose output still covers `target` in both
    /// dimensions; None when even half size would not (decode in full).
    pub fn covering(full: (u32, u32), target: (u32, u32)) -> Option<DctScale> {
        let covers = |s: DctScale| {
            let (w, h) = s.output_size(full);
            w >= target.0 && h >= target.1
        };
        [DctScale::Eighth, DctScale::Quarter, DctScale::Half]
            .into_iter()
            .find(|&s| covers(s))
    }

    /// The next weaker reduction (1/8 to 1/4, 1/4 to 1/2); None after 1/2.
    pub fn weaker(self) -> Option<DctScale> {
        match self {
            DctScale::Eighth => Some(DctScale::Quarter),
            DctScale::Quarter => Some(DctScale::Half),
            DctScale::Half => None,
        }
    }

    /// The output size for a full size, rounded up as jpeg-decoder does.
    pub fn output_size(self, (w, h): (u32, u32)) -> (u32, u32) {
        let s = self as u32;
        ((w * s).div_ceil(8), (h * s).div_ceil(8))
    }
}

/// Coefficients in zigzag order up to (excluding) this index are all an
/// IDCT to `side` x `side` reads: the top-left `side` x `side` of the block.
fn zigzag_needed(side: usize) -> usize {
    match side {
        1 => 1,
        2 => 5,
        4 => 25,
        _ => 64,
    }
}

/// Decodes `bytes` at `scale`; None when the file is not a JPEG this
/// decoder handles, is corrupt or truncated, or has more than `max_pixels`
/// at full size.
pub fn decode(bytes: &[u8], scale: DctScale, max_pixels: u64) -> Option<DynamicImage> {
    decode_with(bytes, scale, max_pixels, ycbcr_to_rgb, Chroma::Libjpeg)
}

/// At which block side subsampled chroma is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chroma {
    /// [`Frame::block_side`]: libjpeg-turbo's choice.
    Libjpeg,
    /// The luma's, then upsampled: jpeg-decoder's choice, which the tests
    /// compare with it byte for byte.
    #[cfg(test)]
    Uniform,
}

/// Converts one row of upsampled Y, Cb, Cr to three-byte pixels.
type ColorConvert = fn(&[u8], &[u8], &[u8], &mut [u8]);

fn decode_with(
    bytes: &[u8],
    scale: DctScale,
    max_pixels: u64,
    convert: ColorConvert,
    chroma: Chroma,
) -> Option<DynamicImage> {
    let mut parser = Parser::new(bytes)?;
    let scan = parser.next_scan()?;
    let frame = parser.frame.clone()?;
    if u64::from(frame.width) * u64::from(frame.height) > max_pixels {
        return None;
    }
    let planes = decode_scans(&mut parser, &frame, scan, scale, chroma)?;
    let (out_w, out_h) = scale.output_size((frame.width.into(), frame.height.into()));
    if frame.components.len() == 1 {
        let plane = &planes[0];
        let mut out = Vec::with_capacity(out_w as usize * out_h as usize);
        for row in 0..out_h as usize {
            out.extend_from_slice(&plane.data[row * plane.stride..][..out_w as usize]);
        }
        return GrayImage::from_raw(out_w, out_h, out).map(DynamicImage::ImageLuma8);
    }
    let size = (out_w as usize, out_h as usize);
    let rgb = upsample_and_convert(&frame, &planes, scale, size, convert, chroma);
    RgbImage::from_raw(out_w, out_h, rgb).map(DynamicImage::ImageRgb8)
}

/// What a JPEG's markers up to its first scan say: enough to choose a
/// decoder, report the stored colour model and refuse what none decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The start-of-frame marker (0xC0 baseline ... 0xCF).
    pub sof: u8,
    /// Per frame component: id, horizontal and vertical sampling factors.
    pub components: Vec<(u8, u8, u8)>,
    /// Components in the first scan (fewer than the frame's: one scan
    /// per component or group).
    pub first_scan_components: usize,
    /// The Adobe APP14 colour transform (0 none/CMYK, 1 YCbCr, 2 YCCK).
    pub adobe_transform: Option<u8>,
    /// Offset of the first scan's entropy-coded data; None when the file
    /// ends before any scan header.
    pub scan_data: Option<usize>,
}

impl Layout {
    /// Arithmetic-coded (SOF9-SOF15): neither zune-jpeg nor jpeg-decoder
    /// decodes it.
    pub fn arithmetic(&self) -> bool {
        matches!(self.sof, 0xC9..=0xCB | 0xCD..=0xCF)
    }

    pub fn progressive(&self) -> bool {
        matches!(self.sof, 0xC2 | 0xC6 | 0xCA | 0xCE)
    }

    /// A sequential file whose components are in separate scans, with
    /// subsampling: zune-jpeg 0.5 (image 0.25's full-size decoder)
    /// decodes these to stripes when the luma is sampled 2x vertically,
    /// so all of them go to jpeg-decoder, which decodes them right.
    pub fn separate_subsampled_scans(&self) -> bool {
        !self.progressive()
            && self.first_scan_components < self.components.len()
            && self.components.iter().any(|&(_, h, v)| h > 1 || v > 1)
    }

    /// Four components: CMYK (Adobe transform 0 or none) or YCCK (2).
    pub fn cmyk(&self) -> bool {
        self.components.len() == 4
    }

    /// Whether [`decode`] takes this file (when it is sound): 8-bit
    /// sequential Huffman, grey or three components, sampling factors of 1
    /// or 2. Others are scaled by jpeg-decoder.
    pub fn scaled_here(&self) -> bool {
        matches!(self.sof, 0xC0 | 0xC1)
            && matches!(self.components.len(), 1 | 3)
            && self
                .components
                .iter()
                .all(|&(_, h, v)| (1..=2).contains(&h) && (1..=2).contains(&v))
    }

    /// A component subsampled both ways (4:2:0): decoded at a reduced
    /// scale, its colour needs twice the luma's block side, which
    /// jpeg-decoder does not give it.
    pub fn chroma_subsampled_both_ways(&self) -> bool {
        let h_max = self.components.iter().map(|c| c.1).max().unwrap_or(1);
        let v_max = self.components.iter().map(|c| c.2).max().unwrap_or(1);
        self.components.len() >= 3
            && self
                .components
                .iter()
                .any(|&(_, h, v)| h > 0 && v > 0 && h_max / h >= 2 && v_max / v >= 2)
    }
}

/// Reads the markers of `bytes` up to the first scan header; None when it
/// is not a JPEG or has no frame header.
pub fn layout(bytes: &[u8]) -> Option<Layout> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut pos = 2;
    let mut layout: Option<Layout> = None;
    let mut adobe = None;
    loop {
        while pos < bytes.len() && bytes[pos] != 0xFF {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            break;
        };
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 | 0xD9 => break,
            _ => {}
        }
        let Some(payload) = segment(bytes, pos) else {
            break;
        };
        pos += 2 + payload.len();
        match marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF if layout.is_none() => {
                let count = usize::from(*payload.get(5)?);
                let components = payload
                    .get(6..6 + 3 * count)?
                    .chunks_exact(3)
                    .map(|c| (c[0], c[1] >> 4, c[1] & 15))
                    .collect();
                layout = Some(Layout {
                    sof: marker,
                    components,
                    first_scan_components: 0,
                    adobe_transform: None,
                    scan_data: None,
                });
            }
            0xEE if payload.len() >= 12 && payload.starts_with(b"Adobe") => {
                adobe = Some(payload[11]);
            }
            0xDA => {
                if let Some(l) = layout.as_mut() {
                    l.first_scan_components = usize::from(*payload.first()?);
                    l.scan_data = Some(pos);
                }
                break;
            }
            _ => {}
        }
    }
    let mut layout = layout?;
    layout.adobe_transform = adobe;
    Some(layout)
}

/// What is wrong with a JPEG's structure, found without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// No scan, or a scan header with no entropy-coded data after it:
    /// there is no picture to show.
    NoImageData,
    /// The data stops before the end-of-image marker: the rest of the
    /// picture is missing (decoders fill it with grey).
    Truncated,
    /// Bytes that cannot occur in entropy-coded data (a marker that is
    /// none of the legal ones, restart markers out of sequence): damaged.
    Corrupt,
}

/// Checks the structure of the JPEG `bytes` from its first scan to its
/// end-of-image marker; an empty list for a sound file. Linear, with no
/// decoding (a memchr-like scan for 0xFF bytes).
pub fn damage(bytes: &[u8]) -> Vec<Damage> {
    let Some(layout) = layout(bytes) else {
        return Vec::new();
    };
    let Some(start) = layout.scan_data else {
        return vec![Damage::NoImageData];
    };
    let mut found = Vec::new();
    let mut pos = start;
    let mut data_in_scan = 0usize;
    let mut any_data = false;
    let mut next_rst: Option<u8> = None;
    let mut ended = false;
    while let Some(offset) = find_ff(&bytes[pos..]) {
        data_in_scan += offset;
        pos += offset + 1;
        // Fill bytes.
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            break;
        };
        pos += 1;
        match marker {
            0x00 => data_in_scan += 1,
            0xD0..=0xD7 => {
                let n = marker - 0xD0;
                if next_rst.is_some_and(|want| want != n) && !found.contains(&Damage::Corrupt) {
                    found.push(Damage::Corrupt);
                }
                next_rst = Some((n + 1) & 7);
            }
            0xD9 => {
                any_data |= data_in_scan > 0;
                ended = true;
                break;
            }
            // Tables, restart interval, comments and application data
            // between scans; a new scan.
            0xC4 | 0xCC | 0xDB | 0xDD | 0xDA | 0xFE | 0xE0..=0xEF | 0xDC | 0xDF => {
                any_data |= data_in_scan > 0;
                let Some(payload) = segment(bytes, pos) else {
                    break;
                };
                pos += 2 + payload.len();
                if marker == 0xDA {
                    data_in_scan = 0;
                    next_rst = None;
                }
            }
            _ => {
                if !found.contains(&Damage::Corrupt) {
                    found.push(Damage::Corrupt);
                }
            }
        }
    }
    if !ended {
        any_data |= data_in_scan + bytes.len().saturating_sub(pos) > 0;
    }
    if !any_data {
        return vec![Damage::NoImageData];
    }
    if !ended {
        found.insert(0, Damage::Truncated);
    }
    found
}

/// The first 0xFF byte of `bytes`, eight bytes at a time.
fn find_ff(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let inv = !u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
        let has_ff = inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
        if has_ff != 0 {
            return Some(8 * i + has_ff.leading_zeros() as usize / 8);
        }
    }
    let done = bytes.len() - chunks.remainder().len();
    chunks
        .remainder()
        .iter()
        .position(|&b| b == 0xFF)
        .map(|p| done + p)
}

/// Natural (row-major) position of the k-th coefficient in zigzag order.
const UNZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

#[derive(Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
}

#[derive(Clone)]
struct Frame {
    width: u16,
    height: u16,
    components: Vec<Component>,
    h_max: usize,
    v_max: usize,
}

/// One component's part of the scan: which frame component, which tables.
struct ScanComponent {
    index: usize,
    dc: usize,
    ac: usize,
}

/// The tables in force, as DQT, DHT and DRI segments set them.
#[derive(Default)]
struct Tables {
    quant: [Option<[u16; 64]>; 4],
    dc: [Option<Box<Huffman>>; 4],
    ac: [Option<Box<Huffman>>; 4],
    restart_interval: usize,
}

/// Walks the marker segments, collecting the frame and the tables, and
/// stops at each scan.
struct Parser<'a> {
    bytes: &'a [u8],
    /// Where the next marker is looked for; after `next_scan`, the first
    /// byte of the scan's entropy-coded data.
    pos: usize,
    frame: Option<Frame>,
    tables: Tables,
    /// What the colour space of three components is read from.
    jfif: bool,
    adobe: Option<u8>,
}

/// A marker segment's payload after its two length bytes.
fn segment(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
    bytes.get(pos + 2..pos + len.checked_sub(2)? + 2)
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Option<Parser<'a>> {
        (bytes.get(..2)? == [0xFF, 0xD8]).then(|| Parser {
            bytes,
            pos: 2,
            frame: None,
            tables: Tables::default(),
            jfif: false,
            adobe: None,
        })
    }

    /// The next scan's components, with every table it names present;
    /// None at the end of the image or anything not handled here.
    fn next_scan(&mut self) -> Option<Vec<ScanComponent>> {
        let bytes = self.bytes;
        loop {
            // Like libjpeg (and jpeg-decoder), skip stray bytes and fill
            // bytes before a marker.
            while *bytes.get(self.pos)? != 0xFF {
                self.pos += 1;
            }
            while *bytes.get(self.pos)? == 0xFF {
                self.pos += 1;
            }
            let marker = bytes[self.pos];
            self.pos += 1;
            match marker {
                0x01 | 0xD0..=0xD7 => continue,
                0xD8 | 0xD9 => return None,
                _ => {}
            }
            let payload = segment(bytes, self.pos)?;
            self.pos += 2 + payload.len();
            let tables = &mut self.tables;
            match marker {
                0xC0 | 0xC1 if self.frame.is_none() => self.frame = Some(Frame::parse(payload)?),
                // A second frame; progressive, lossless, hierarchical,
                // arithmetic coding.
                0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
                0xC4 => parse_huffman(payload, &mut tables.dc, &mut tables.ac)?,
                0xDB => parse_quant(payload, &mut tables.quant)?,
                0xDD => {
                    let interval = payload.get(..2)?;
                    tables.restart_interval =
                        usize::from(u16::from_be_bytes([interval[0], interval[1]]));
                }
                0xE0 => self.jfif |= payload.starts_with(b"JFIF\0"),
                0xEE if payload.len() >= 12 && payload.starts_with(b"Adobe") => {
                    self.adobe = Some(payload[11]);
                }
                0xDA => {
                    let frame = self.frame.as_ref()?;
                    if frame.components.len() == 3 && !is_ycbcr(frame, self.jfif, self.adobe) {
                        return None;
                    }
                    let scan = parse_scan(payload, frame)?;
                    for sc in &scan {
                        tables.quant[frame.components[sc.index].quant].as_ref()?;
                        tables.dc[sc.dc].as_ref()?;
                        tables.ac[sc.ac].as_ref()?;
                    }
                    return Some(scan);
                }
                _ => {}
            }
        }
    }
}

/// jpeg-decoder's reading of a three-component frame's colour space
/// (after entropymine's survey); only YCbCr is decoded here.
fn is_ycbcr(frame: &Frame, jfif: bool, adobe: Option<u8>) -> bool {
    let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
    match ids[..] {
        [1, 2, 3] => true,
        [1, 34, 35] | [82, 71, 66] | [114, 103, 98] => false,
        _ => jfif || adobe.is_none_or(|t| t == 1),
    }
}

impl Frame {
    fn parse(p: &[u8]) -> Option<Frame> {
        let (&precision, rest) = p.split_first()?;
        let height = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let width = u16::from_be_bytes(rest.get(2..4)?.try_into().ok()?);
        let count = usize::from(*rest.get(4)?);
        if precision != 8 || width == 0 || height == 0 || !(count == 1 || count == 3) {
            return None;
        }
        let mut components = Vec::with_capacity(count);
        for c in rest.get(5..5 + 3 * count)?.chunks_exact(3) {
            let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            if !(1..=2).contains(&h) || !(1..=2).contains(&v) || c[2] > 3 {
                return None;
            }
            if components.iter().any(|o: &Component| o.id == c[0]) {
                return None;
            }
            components.push(Component {
                id: c[0],
                h,
                v,
                quant: usize::from(c[2]),
            });
        }
        let h_max = components.iter().map(|c| c.h).max()?;
        let v_max = components.iter().map(|c| c.v).max()?;
        Some(Frame {
            width,
            height,
            components,
            h_max,
            v_max,
        })
    }

    /// The side of the square each of component `c`'s 8x8 blocks becomes
    /// at `scale`: the scale's own for full-resolution components, larger
    /// for subsampled ones where both ratios allow, so that they need no
    /// upsampling. This is libjpeg-turbo's rule (`jpeg_core_output_dimensions`):
    /// 4:2:0 chroma is decoded at twice the luma's block side (an 8x8 IDCT at
    /// 1/2), keeping colour at the output's resolution; 4:2:2, 4:4:0 and
    /// 4:1:1 chroma, subsampled one way only, are upsampled.
    fn block_side(&self, c: &Component, scale: DctScale) -> usize {
        let s = scale as usize;
        let mut side = s;
        while side < 8
            && (self.h_max * s).is_multiple_of(c.h * side * 2)
            && (self.v_max * s).is_multiple_of(c.v * side * 2)
        {
            side *= 2;
        }
        side
    }

    fn mcus(&self) -> (usize, usize) {
        (
            usize::from(self.width).div_ceil(8 * self.h_max),
            usize::from(self.height).div_ceil(8 * self.v_max),
        )
    }
}

fn parse_scan(p: &[u8], frame: &Frame) -> Option<Vec<ScanComponent>> {
    let count = usize::from(*p.first()?);
    if count == 0 || count > frame.components.len() {
        return None;
    }
    let mut scan = Vec::with_capacity(count);
    for c in p.get(1..1 + 2 * count)?.chunks_exact(2) {
        let index = frame.components.iter().position(|fc| fc.id == c[0])?;
        if scan.iter().any(|s: &ScanComponent| s.index == index) || c[1] >> 4 > 3 || c[1] & 15 > 3 {
            return None;
        }
        scan.push(ScanComponent {
            index,
            dc: usize::from(c[1] >> 4),
            ac: usize::from(c[1] & 15),
        });
    }
    // Spectral selection 0..63, no successive approximation: sequential.
    (p.get(1 + 2 * count..4 + 2 * count)? == [0, 63, 0]).then_some(scan)
}

fn parse_quant(mut p: &[u8], tables: &mut [Option<[u16; 64]>; 4]) -> Option<()> {
    while let Some((&pq_tq, rest)) = p.split_first() {
        let (wide, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
        if wide > 1 || id > 3 {
            return None;
        }
        let len = if wide == 1 { 128 } else { 64 };
        let values = rest.get(..len)?;
        let mut table = [0u16; 64];
        for (k, &natural) in UNZIGZAG.iter().enumerate() {
            table[usize::from(natural)] = if wide == 1 {
                u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
            } else {
                u16::from(values[k])
            };
        }
        tables[id] = Some(table);
        p = &rest[len..];
    }
    Some(())
}

fn parse_huffman(
    mut p: &[u8],
    dc: &mut [Option<Box<Huffman>>; 4],
    ac: &mut [Option<Box<Huffman>>; 4],
) -> Option<()> {
    while let Some((&tc_th, rest)) = p.split_first() {
        let (class, id) = (tc_th >> 4, usize::from(tc_th & 15));
        if class > 1 || id > 3 {
            return None;
        }
        let counts: [u8; 16] = rest.get(..16)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = rest.get(16..16 + total)?;
        let table = Some(Box::new(Huffman::new(&counts, values)?));
        if class == 0 {
            dc[id] = table;
        } else {
            ac[id] = table;
        }
        p = &rest[16 + total..];
    }
    Some(())
}

/// Bits looked up at once; longer codes take the slow path (rare: the
/// standard tables' common codes are all 9 bits or shorter). 10 rather
/// than 9 lets more AC codes and their extra bits resolve in one lookup:
/// about 4% faster on the 24 MP bench file, while 11 was slower (the
/// tables outgrow L1).
const LOOKUP_BITS: u32 = 10;

struct Huffman {
    /// Per LOOKUP_BITS-bit prefix: code length << 8 | symbol; 0 for longer codes.
    lookup: [u16; 1 << LOOKUP_BITS],
    /// Per length 1..=16: the largest code of that length (-1 for none),
    /// and what to add to a code to index `values`.
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
    /// For AC codes whose symbol and extra bits together fit in
    /// LOOKUP_BITS: value << 16 | run << 8 | bits used; 0 otherwise. One
    /// lookup then yields a whole coefficient.
    fast_ac: [i32; 1 << LOOKUP_BITS],
}

impl Huffman {
    /// The canonical code of JPEG's Annex C; None for an over-full table.
    fn new(counts: &[u8; 16], values: &[u8]) -> Option<Huffman> {
        let mut table = Huffman {
            lookup: [0; 1 << LOOKUP_BITS],
            max_code: [-1; 17],
            offset: [0; 17],
            values: values.to_vec(),
            fast_ac: [0; 1 << LOOKUP_BITS],
        };
        let (mut code, mut k) = (0u32, 0usize);
        for len in 1..=16u32 {
            let count = u32::from(counts[len as usize - 1]);
            if count > 0 {
                table.offset[len as usize] = k as i32 - code as i32;
                for _ in 0..count {
                    if code >= 1 << len {
                        return None;
                    }
                    if len <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS - len;
                        let entry = (len as u16) << 8 | u16::from(values[k]);
                        for fill in 0..1u32 << shift {
                            table.lookup[((code << shift) | fill) as usize] = entry;
                        }
                    }
                    code += 1;
                    k += 1;
                }
                table.max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        for (prefix, &entry) in table.lookup.iter().enumerate() {
            let (len, rs) = (u32::from(entry >> 8), entry as u8);
            let (run, size) = (i32::from(rs >> 4), u32::from(rs & 15));
            if len == 0 || size == 0 || len + size > LOOKUP_BITS {
                continue;
            }
            let bits = (prefix as i32 >> (LOOKUP_BITS - len - size)) & ((1 << size) - 1);
            let value = extend(bits, size);
            table.fast_ac[prefix] = value << 16 | run << 8 | (len + size) as i32;
        }
        Some(table)
    }
}

/// The entropy-coded segment, MSB first, with 0xFF 0x00 unstuffed. At a
/// marker (or the end) it supplies zero bits, as libjpeg does; `ended`
/// then says where it stopped. Copy, so that a block is decoded from a
/// copy held in registers.
#[derive(Clone, Copy)]
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bits left-aligned: the next bit is bit 63.
    acc: u64,
    count: u32,
    ended: Option<End>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Marker,
    Data,
}

impl<'a> BitReader<'a> {
    /// Reads `data` from `pos` on.
    fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            acc: 0,
            count: 0,
            ended: None,
        }
    }

    /// At least 32 bits in `acc` afterwards (zeros past the end).
    #[inline(always)]
    fn fill(&mut self) {
        if self.count >= 32 {
            return;
        }
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
            // A byte is 0xFF exactly when its complement is zero.
            let inv = !word;
            let has_ff = inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
            if has_ff == 0 {
                let take = (64 - self.count) / 8;
                self.acc |= (word >> (64 - 8 * take)) << (64 - self.count - 8 * take);
                self.count += 8 * take;
                self.pos += take as usize;
                return;
            }
        }
        *self = self.fill_bytewise();
    }

    /// Taken and returned by value: a `&mut` would pin the hot loop's
    /// reader to memory.
    #[cold]
    #[inline(never)]
    fn fill_bytewise(mut self) -> Self {
        while self.count <= 56 {
            let byte = if self.ended.is_some() {
                0
            } else {
                match self.data.get(self.pos) {
                    None => {
                        self.ended = Some(End::Data);
                        0
                    }
                    Some(0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            self.pos += 2;
                            0xFF
                        }
                        Some(_) => {
                            self.ended = Some(End::Marker);
                            0
                        }
                        None => {
                            self.ended = Some(End::Data);
                            0
                        }
                    },
                    Some(&b) => {
                        self.pos += 1;
                        b
                    }
                }
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
        self
    }

    #[inline(always)]
    fn peek(&self, bits: u32) -> u32 {
        (self.acc >> (64 - bits)) as u32
    }

    #[inline(always)]
    fn consume(&mut self, bits: u32) {
        self.acc <<= bits;
        self.count -= bits;
    }

    /// One Huffman symbol; needs 16 bits filled.
    #[inline(always)]
    fn symbol(&mut self, table: &Huffman) -> Option<u8> {
        let entry = table.lookup[self.peek(LOOKUP_BITS) as usize];
        if entry != 0 {
            self.consume(u32::from(entry >> 8));
            return Some(entry as u8);
        }
        let (next, symbol) = self.symbol_long(table)?;
        *self = next;
        Some(symbol)
    }

    /// Codes longer than LOOKUP_BITS; by value, like `fill_bytewise`.
    #[cold]
    #[inline(never)]
    fn symbol_long(mut self, table: &Huffman) -> Option<(Self, u8)> {
        let bits = self.peek(16) as i32;
        for len in LOOKUP_BITS + 1..=16 {
            let code = bits >> (16 - len);
            if code <= table.max_code[len as usize] {
                self.consume(len);
                let symbol = table
                    .values
                    .get((code + table.offset[len as usize]) as usize)?;
                return Some((self, *symbol));
            }
        }
        None
    }

    /// `size` more bits as a signed coefficient; needs `size` bits filled.
    #[inline(always)]
    fn receive_extend(&mut self, size: u32) -> i16 {
        if size == 0 {
            return 0;
        }
        let bits = self.peek(size) as i32;
        self.consume(size);
        extend(bits, size) as i16
    }

    /// Moves past the RSTn marker that must follow the bits read so far
    /// (what is left in `acc` is the byte padding before it).
    fn restart(&mut self) -> Option<()> {
        if self.ended == Some(End::Data) {
            return None;
        }
        let data = self.data;
        let mut pos = self.pos;
        if data.get(pos) != Some(&0xFF) {
            return None;
        }
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        if !(0xD0..=0xD7).contains(data.get(pos)?) {
            return None;
        }
        *self = BitReader::new(data, pos + 1);
        Some(())
    }
}

/// JPEG's EXTEND: `size` bits as a signed value (top bit clear: negative).
#[inline(always)]
fn extend(bits: i32, size: u32) -> i32 {
    if bits < 1 << (size - 1) {
        bits - (1 << size) + 1
    } else {
        bits
    }
}

/// One component's pixels at the reduced scale, `stride` bytes a row,
/// each block `side` x `side` pixels.
struct Plane {
    data: Vec<u8>,
    stride: usize,
    side: usize,
}

/// Decodes `first` and the scans after it until every component has been
/// decoded once (libjpeg writes one interleaved scan; some encoders one
/// scan per component).
fn decode_scans(
    parser: &mut Parser,
    frame: &Frame,
    first: Vec<ScanComponent>,
    scale: DctScale,
    chroma: Chroma,
) -> Option<Vec<Plane>> {
    let (mcus_x, mcus_y) = frame.mcus();
    let mut planes: Vec<Plane> = frame
        .components
        .iter()
        .map(|c| {
            let side = match chroma {
                Chroma::Libjpeg => frame.block_side(c, scale),
                #[cfg(test)]
                Chroma::Uniform => scale as usize,
            };
            let stride = mcus_x * c.h * side;
            Plane {
                data: vec![0; stride * mcus_y * c.v * side],
                stride,
                side,
            }
        })
        .collect();
    let mut done = vec![false; frame.components.len()];
    let mut scan = first;
    loop {
        for sc in &scan {
            if std::mem::replace(&mut done[sc.index], true) {
                return None;
            }
        }
        let mut writer = BlockWriter {
            tables: &parser.tables,
            frame,
            coefficients: [0; 64],
        };
        parser.pos = writer.scan(parser.bytes, parser.pos, &scan, &mut planes)?;
        if done.iter().all(|&d| d) {
            return Some(planes);
        }
        scan = parser.next_scan()?;
    }
}

/// How many blocks or MCUs are decoded between two checks that the call
/// is still wanted (a cancelled or late call stops with `None`, and the
/// caller, seeing the same, does not fall back to another decoder).
const CHECK_EVERY: usize = 4096;

/// Decodes blocks and writes their reduced IDCT into the planes.
struct BlockWriter<'t> {
    tables: &'t Tables,
    frame: &'t Frame,
    coefficients: [i16; 64],
}

impl BlockWriter<'_> {
    /// One scan whose entropy-coded data starts at `bytes[start]`; returns
    /// where it stopped (at the marker after it).
    fn scan(
        &mut self,
        bytes: &[u8],
        start: usize,
        scan: &[ScanComponent],
        planes: &mut [Plane],
    ) -> Option<usize> {
        let frame = self.frame;
        let (mcus_x, mcus_y) = frame.mcus();
        let interval = self.tables.restart_interval;
        let mut reader = BitReader::new(bytes, start);
        let mut predictors = [0i16; 3];
        if let [sc] = scan {
            // One component, not interleaved: its blocks in raster order,
            // each an MCU, covering the component's own size.
            let c = &frame.components[sc.index];
            let blocks_x = (usize::from(frame.width) * c.h).div_ceil(8 * frame.h_max);
            let blocks_y = (usize::from(frame.height) * c.v).div_ceil(8 * frame.v_max);
            for n in 0..blocks_x * blocks_y {
                if n % CHECK_EVERY == 0 {
                    mcp_servers_core::work::check().ok()?;
                }
                if interval > 0 && n > 0 && n % interval == 0 {
                    reader.restart()?;
                    predictors = [0; 3];
                }
                self.block(
                    &mut reader,
                    sc,
                    &mut predictors[0],
                    planes,
                    (n % blocks_x, n / blocks_x),
                )?;
            }
        } else {
            for n in 0..mcus_x * mcus_y {
                if n % CHECK_EVERY == 0 {
                    mcp_servers_core::work::check().ok()?;
                }
                if interval > 0 && n > 0 && n % interval == 0 {
                    reader.restart()?;
                    predictors = [0; 3];
                }
                let (mx, my) = (n % mcus_x, n / mcus_x);
                for (slot, sc) in scan.iter().enumerate() {
                    let c = &frame.components[sc.index];
                    for j in 0..c.v {
                        for i in 0..c.h {
                            let at = (mx * c.h + i, my * c.v + j);
                            self.block(&mut reader, sc, &mut predictors[slot], planes, at)?;
                        }
                    }
                }
            }
        }
        // A scan cut off before its last block is a truncated file.
        (reader.ended != Some(End::Data)).then_some(reader.pos)
    }

    /// The block at `(bx, by)` (in blocks) of the component `sc` names.
    #[inline(always)]
    fn block(
        &mut self,
        reader: &mut BitReader,
        sc: &ScanComponent,
        predictor: &mut i16,
        planes: &mut [Plane],
        (bx, by): (usize, usize),
    ) -> Option<()> {
        let tables = self.tables;
        self.coefficients = [0; 64];
        let dc = tables.dc[sc.dc].as_deref()?;
        let ac = tables.ac[sc.ac].as_deref()?;
        let plane = &mut planes[sc.index];
        let side = plane.side;
        decode_block(
            reader,
            dc,
            ac,
            predictor,
            &mut self.coefficients,
            zigzag_needed(side),
        )?;
        let quant = tables.quant[self.frame.components[sc.index].quant].as_ref()?;
        let out = &mut plane.data[by * side * plane.stride + bx * side..];
        match side {
            1 => idct_1x1(&self.coefficients, quant, out),
            2 => idct_2x2(&self.coefficients, quant, plane.stride, out),
            4 => idct_4x4(&self.coefficients, quant, plane.stride, out),
            _ => idct_8x8(&self.coefficients, quant, plane.stride, out),
        }
        Some(())
    }
}

/// Decodes one block, keeping the coefficients before zigzag index `needed`
/// (in natural order) and reading past the rest.
#[inline(always)]
fn decode_block(
    reader: &mut BitReader,
    dc: &Huffman,
    ac: &Huffman,
    predictor: &mut i16,
    coefficients: &mut [i16; 64],
    needed: usize,
) -> Option<()> {
    let mut r = *reader;
    r.fill();
    let size = r.symbol(dc)?;
    if size > 11 {
        return None;
    }
    r.fill();
    *predictor = predictor.wrapping_add(r.receive_extend(u32::from(size)));
    coefficients[0] = *predictor;
    let mut k = 1;
    while k < 64 {
        r.fill();
        let fast = ac.fast_ac[r.peek(LOOKUP_BITS) as usize];
        let value = if fast != 0 {
            r.consume((fast & 0xFF) as u32);
            k += ((fast >> 8) & 0xFF) as usize;
            (fast >> 16) as i16
        } else {
            let rs = r.symbol(ac)?;
            let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += run;
            r.receive_extend(size)
        };
        if k > 63 {
            return None;
        }
        if k < needed {
            coefficients[usize::from(UNZIGZAG[k])] = value;
        }
        k += 1;
    }
    *reader = r;
    Some(())
}

// The reduced inverse DCTs below are jpeg-decoder's (after stb_image), so
// that both decoders agree to the byte.

fn dequantize(c: i16, q: u16) -> std::num::Wrapping<i32> {
    std::num::Wrapping(i32::from(c) * i32::from(q))
}

fn clamp(x: std::num::Wrapping<i32>) -> u8 {
    x.0.clamp(0, 255) as u8
}

/// The DC coefficient / 8, rounded as libjpeg-turbo's `jpeg_idct_1x1`
/// (DESCALE: add half, shift); jpeg-decoder truncates toward zero, which
/// left half the pixels 1 too low.
fn idct_1x1(coefficients: &[i16; 64], quant: &[u16; 64], out: &mut [u8]) {
    let s0 = ((dequantize(coefficients[0], quant[0]) + std::num::Wrapping(4)) >> 3)
        + std::num::Wrapping(128);
    out[0] = clamp(s0);
}

fn idct_2x2(coefficients: &[i16; 64], quant: &[u16; 64], stride: usize, out: &mut [u8]) {
    use std::num::Wrapping as W;
    const SCALE_BITS: usize = 3;
    let s00 = dequantize(coefficients[0], quant[0]);
    let s10 = dequantize(coefficients[8], quant[8]);
    let s01 = dequantize(coefficients[1], quant[1]);
    let s11 = dequantize(coefficients[9], quant[9]);
    let (x0, x2) = (s00 + s10, s00 - s10);
    let (x1, x3) = (s01 + s11, s01 - s11);
    let bias = W(1 << (SCALE_BITS - 1)) + W(128 << SCALE_BITS);
    let (x0, x2) = (x0 + bias, x2 + bias);
    out[0] = clamp((x0 + x1) >> SCALE_BITS);
    out[1] = clamp((x0 - x1) >> SCALE_BITS);
    out[stride] = clamp((x2 + x3) >> SCALE_BITS);
    out[stride + 1] = clamp((x2 - x3) >> SCALE_BITS);
}

fn idct_4x4(coefficients: &[i16; 64], quant: &[u16; 64], stride: usize, out: &mut [u8]) {
    use std::num::Wrapping as W;
    const CONST_BITS: usize = 12;
    const PASS1_BITS: usize = 2;
    const FINAL_BITS: usize = CONST_BITS + PASS1_BITS + 3;
    // stb_image's fixed-point constants: round(x * 4096).
    const C0_541: W<i32> = W(2217);
    const C1_847: W<i32> = W(-7567);
    const C0_765: W<i32> = W(3135);
    let mut temp = [W(0i32); 16];
    for i in 0..4 {
        let s0 = dequantize(coefficients[i], quant[i]);
        let s1 = dequantize(coefficients[i + 8], quant[i + 8]);
        let s2 = dequantize(coefficients[i + 16], quant[i + 16]);
        let s3 = dequantize(coefficients[i + 24], quant[i + 24]);
        let x0 = (s0 + s2) << PASS1_BITS;
        let x2 = (s0 - s2) << PASS1_BITS;
        let p1 = (s1 + s3) * C0_541;
        let t0 = (p1 + s3 * C1_847 + W(512)) >> (CONST_BITS - PASS1_BITS);
        let t2 = (p1 + s1 * C0_765 + W(512)) >> (CONST_BITS - PASS1_BITS);
        temp[i] = x0 + t2;
        temp[i + 12] = x0 - t2;
        temp[i + 4] = x2 + t0;
        temp[i + 8] = x2 - t0;
    }
    for i in 0..4 {
        let [s0, s1, s2, s3] = [
            temp[i * 4],
            temp[i * 4 + 1],
            temp[i * 4 + 2],
            temp[i * 4 + 3],
        ];
        let x0 = (s0 + s2) << CONST_BITS;
        let x2 = (s0 - s2) << CONST_BITS;
        let p1 = (s1 + s3) * C0_541;
        let t0 = p1 + s3 * C1_847;
        let t2 = p1 + s1 * C0_765;
        let bias = W(1 << (FINAL_BITS - 1)) + W(128 << FINAL_BITS);
        let (x0, x2) = (x0 + bias, x2 + bias);
        let row = &mut out[i * stride..][..4];
        row[0] = clamp((x0 + t2) >> FINAL_BITS);
        row[3] = clamp((x0 - t2) >> FINAL_BITS);
        row[1] = clamp((x2 + t0) >> FINAL_BITS);
        row[2] = clamp((x2 - t0) >> FINAL_BITS);
    }
}

/// The full 8x8 inverse DCT, for 4:2:0 chroma at 1/2 scale: jpeg-decoder's
/// scalar one (after stb_image), its constants `(x * 4096 + 0.5) as i32`.
fn idct_8x8(coefficients: &[i16; 64], quant: &[u16; 64], stride: usize, out: &mut [u8]) {
    use std::num::Wrapping as W;
    /// Even and odd halves of the 1-D kernel; `bias` is added to the even.
    fn kernel(s: [W<i32>; 8], bias: i32) -> ([W<i32>; 4], [W<i32>; 4]) {
        let p1 = (s[2] + s[6]) * W(2217);
        let t2 = p1 + s[6] * W(-7567);
        let t3 = p1 + s[2] * W(3135);
        let t0 = (s[0] + s[4]) << 12;
        let t1 = (s[0] - s[4]) << 12;
        let bias = W(bias);
        let x = [
            t0 + t3 + bias,
            t1 + t2 + bias,
            t1 - t2 + bias,
            t0 - t3 + bias,
        ];
        let (mut o0, mut o1, mut o2, mut o3) = (s[7], s[5], s[3], s[1]);
        let p3 = o0 + o2;
        let p4 = o1 + o3;
        let p1 = o0 + o3;
        let p2 = o1 + o2;
        let p5 = (p3 + p4) * W(4816);
        o0 *= W(1223);
        o1 *= W(8410);
        o2 *= W(12586);
        o3 *= W(6149);
        let p1 = p5 + p1 * W(-3685);
        let p2 = p5 + p2 * W(-10497);
        let p3 = p3 * W(-8034);
        let p4 = p4 * W(-1597);
        o3 += p1 + p4;
        o2 += p2 + p3;
        o1 += p2 + p4;
        o0 += p1 + p3;
        (x, [o0, o1, o2, o3])
    }
    let mut temp = [W(0i32); 64];
    for i in 0..8 {
        if (1..8).all(|k| coefficients[i + 8 * k] == 0) {
            // What the kernel gives a column of DC alone, cheaper.
            let dc = dequantize(coefficients[i], quant[i]) << 2;
            for k in 0..8 {
                temp[i + 8 * k] = dc;
            }
            continue;
        }
        let column: [W<i32>; 8] =
            std::array::from_fn(|k| dequantize(coefficients[i + 8 * k], quant[i + 8 * k]));
        // Constants scale by 1 << 12; keep 2 bits of it.
        let ([x0, x1, x2, x3], [t0, t1, t2, t3]) = kernel(column, 512);
        temp[i] = (x0 + t3) >> 10;
        temp[i + 56] = (x0 - t3) >> 10;
        temp[i + 8] = (x1 + t2) >> 10;
        temp[i + 48] = (x1 - t2) >> 10;
        temp[i + 16] = (x2 + t1) >> 10;
        temp[i + 40] = (x2 - t1) >> 10;
        temp[i + 24] = (x3 + t0) >> 10;
        temp[i + 32] = (x3 - t0) >> 10;
    }
    // 12 bits of constants, 2 kept above and 3 from the two sqrt(8)
    // scalings: shift 17, rounding, and the +128 level shift in the bias.
    const BIAS: i32 = 65536 + (128 << 17);
    for (row, chunk) in temp.chunks_exact(8).enumerate() {
        let o = &mut out[row * stride..][..8];
        if chunk[1..].iter().all(|&x| x == W(0)) {
            o.fill(clamp(((chunk[0] << 12) + W(BIAS)) >> 17));
            continue;
        }
        let ([x0, x1, x2, x3], [t0, t1, t2, t3]) = kernel(chunk.try_into().unwrap(), BIAS);
        o[0] = clamp((x0 + t3) >> 17);
        o[7] = clamp((x0 - t3) >> 17);
        o[1] = clamp((x1 + t2) >> 17);
        o[6] = clamp((x1 - t2) >> 17);
        o[2] = clamp((x2 + t1) >> 17);
        o[5] = clamp((x2 - t1) >> 17);
        o[3] = clamp((x3 + t0) >> 17);
        o[4] = clamp((x3 - t0) >> 17);
    }
}

/// The three planes brought to full (reduced) resolution, then converted
/// to RGB: fancy (triangle) upsampling, as jpeg-decoder and libjpeg-turbo
/// do it, but at 1/8, where libjpeg-turbo replicates.
fn upsample_and_convert(
    frame: &Frame,
    planes: &[Plane],
    scale: DctScale,
    (out_w, out_h): (usize, usize),
    convert: ColorConvert,
    chroma: Chroma,
) -> Vec<u8> {
    let s = scale as usize;
    // libjpeg-turbo upsamples by replication at 1/8 (its fancy upsampling
    // needs context rows, which it has no room for at one pixel a block).
    let replicate = chroma == Chroma::Libjpeg && scale == DctScale::Eighth;
    // Each component's own size at its block side, as jpeg-decoder rounds it.
    let sizes: Vec<(usize, usize)> = frame
        .components
        .iter()
        .zip(planes)
        .map(|(c, plane)| {
            (
                (usize::from(frame.width) * c.h * plane.side).div_ceil(frame.h_max * 8),
                (usize::from(frame.height) * c.v * plane.side).div_ceil(frame.v_max * 8),
            )
        })
        .collect();
    let line_len = sizes.iter().map(|&(w, _)| w).max().unwrap_or(0) * frame.h_max;
    let mut lines = [
        vec![0u8; line_len],
        vec![0u8; line_len],
        vec![0u8; line_len],
    ];
    let mut rgb = vec![0u8; out_w * out_h * 3];
    for (row, out) in rgb.chunks_exact_mut(out_w * 3).enumerate() {
        for (k, c) in frame.components.iter().enumerate() {
            let plane = &planes[k];
            let (width, height) = sizes[k];
            let line = &mut lines[k];
            let h_full = c.h * plane.side == frame.h_max * s || out_w == 1;
            let v_full = c.v * plane.side == frame.v_max * s || out_h == 1;
            if h_full && v_full {
                line[..out_w].copy_from_slice(&plane.data[row * plane.stride..][..out_w]);
                continue;
            }
            let near = row / 2;
            if replicate {
                let src_row = if v_full { row } else { near };
                let src = &plane.data[src_row * plane.stride..];
                if h_full {
                    line[..out_w].copy_from_slice(&src[..out_w]);
                } else {
                    for (i, px) in line[..out_w].iter_mut().enumerate() {
                        *px = src[i / 2];
                    }
                }
                continue;
            }
            // The neighbouring source row: above for even rows, below for odd.
            let far = if row % 2 == 0 {
                near.saturating_sub(1)
            } else {
                (near + 1).min(height - 1)
            };
            if h_full {
                let (a, b) = (
                    &plane.data[near * plane.stride..],
                    &plane.data[far * plane.stride..],
                );
                for i in 0..out_w {
                    line[i] = ((3 * u32::from(a[i]) + u32::from(b[i]) + 2) >> 2) as u8;
                }
            } else if v_full {
                upsample_h2(&plane.data[row * plane.stride..][..width], line);
            } else {
                let (a, b) = (
                    &plane.data[near * plane.stride..][..width],
                    &plane.data[far * plane.stride..][..width],
                );
                upsample_h2v2(a, b, line);
            }
        }
        convert(
            &lines[0][..out_w],
            &lines[1][..out_w],
            &lines[2][..out_w],
            out,
        );
    }
    rgb
}

fn upsample_h2(input: &[u8], out: &mut [u8]) {
    let n = input.len();
    if n == 1 {
        out[0] = input[0];
        out[1] = input[0];
        return;
    }
    out[0] = input[0];
    out[1] = ((u32::from(input[0]) * 3 + u32::from(input[1]) + 2) >> 2) as u8;
    for i in 1..n - 1 {
        let sample = 3 * u32::from(input[i]) + 2;
        out[i * 2] = ((sample + u32::from(input[i - 1])) >> 2) as u8;
        out[i * 2 + 1] = ((sample + u32::from(input[i + 1])) >> 2) as u8;
    }
    out[(n - 1) * 2] = ((u32::from(input[n - 1]) * 3 + u32::from(input[n - 2]) + 2) >> 2) as u8;
    out[(n - 1) * 2 + 1] = input[n - 1];
}

fn upsample_h2v2(near: &[u8], far: &[u8], out: &mut [u8]) {
    let n = near.len();
    let mut t1 = 3 * u32::from(near[0]) + u32::from(far[0]);
    if n == 1 {
        out[0] = ((t1 + 2) >> 2) as u8;
        out[1] = out[0];
        return;
    }
    out[0] = ((t1 + 2) >> 2) as u8;
    for i in 1..n {
        let t0 = t1;
        t1 = 3 * u32::from(near[i]) + u32::from(far[i]);
        out[i * 2 - 1] = ((3 * t0 + t1 + 8) >> 4) as u8;
        out[i * 2] = ((3 * t1 + t0 + 8) >> 4) as u8;
    }
    out[n * 2 - 1] = ((t1 + 2) >> 2) as u8;
}

/// BT.601 in 20-bit fixed point, libjpeg-turbo's (and jpeg-decoder's) way.
fn ycbcr_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    const SHIFT: i32 = 20;
    const HALF: i32 = 1 << (SHIFT - 1);
    const CR_R: i32 = 1_470_104; // 1.40200 * 2^20
    const CB_G: i32 = 360_857; // 0.34414 * 2^20
    const CR_G: i32 = 748_830; // 0.71414 * 2^20
    const CB_B: i32 = 1_858_077; // 1.77200 * 2^20
    let clamp = |v: i32| (v >> SHIFT).clamp(0, 255) as u8;
    for (((px, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        let y = i32::from(y) * (1 << SHIFT) + HALF;
        let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
        px[0] = clamp(y + CR_R * cr);
        px[1] = clamp(y - CB_G * cb - CR_G * cr);
        px[2] = clamp(y + CB_B * cb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    /// A photo-like test card: gradients, edges and noise, so that every
    /// coefficient position and code length turns up.
    fn pixels(width: u16, height: u16, channels: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut out = Vec::with_capacity(usize::from(width) * usize::from(height) * channels);
        for y in 0..u32::from(height) {
            for x in 0..u32::from(width) {
                for c in 0..channels as u32 {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let edge = if (x / 11 + y / 7) % 2 == 0 { 60 } else { 0 };
                    let value = (x * 3 + y * (c + 1) + edge + (state % 24)) % 256;
                    out.push(value as u8);
                }
            }
        }
        out
    }

    struct Options {
        sampling: SamplingFactor,
        restart: u16,
        quality: u8,
        optimized: bool,
        progressive: bool,
    }

    const PLAIN: Options = Options {
        sampling: SamplingFactor::F_2_2,
        restart: 0,
        quality: 85,
        optimized: false,
        progressive: false,
    };

    fn jpeg(width: u16, height: u16, color: ColorType, options: &Options) -> Vec<u8> {
        let channels = match color {
            ColorType::Luma => 1,
            ColorType::Cmyk => 4,
            _ => 3,
        };
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, options.quality);
        encoder.set_sampling_factor(options.sampling);
        encoder.set_restart_interval(options.restart);
        encoder.set_optimized_huffman_tables(options.optimized);
        encoder.set_progressive(options.progressive);
        let data = pixels(
            width,
            height,
            channels,
            u32::from(width) ^ u32::from(height) << 16,
        );
        encoder.encode(&data, width, height, color).unwrap();
        out
    }

    /// jpeg-decoder's scale for a requested size (its `choose_idct_size`).
    fn their_scale((w, h): (u32, u32), (tw, th): (u32, u32)) -> u32 {
        [1, 2, 4]
            .into_iter()
            .find(|s| (w * s).div_ceil(8) >= tw || (h * s).div_ceil(8) >= th)
            .unwrap_or(8)
    }

    /// jpeg-decoder's colour conversion on x86-64: SSSE3 with 6-bit
    /// precision for all but the last 8..15 pixels of a row, which get the
    /// scalar code (the same as `ycbcr_to_rgb`).
    fn jpeg_decoder_rgb(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
        let sat = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
        let mulhrs = |a: i32, b: i32| (a * b + (1 << 14)) >> 15;
        let vector = 8 * (y.len() / 8).saturating_sub(1);
        for (i, px) in out.chunks_exact_mut(3).enumerate().take(vector) {
            let yy = sat((i32::from(y[i]) << 6) + 32);
            let cb = sat((i32::from(cb[i]) << 6) - (128 << 6));
            let cr = sat((i32::from(cr[i]) << 6) - (128 << 6));
            let r = sat(yy + sat(mulhrs(cr, 13173) + cr));
            let g = sat(yy - sat(mulhrs(cb, 11276) + mulhrs(cr, 23401)));
            let b = sat(yy + sat(mulhrs(cb, 25297) + cb));
            for (o, v) in px.iter_mut().zip([r, g, b]) {
                *o = (v >> 6).clamp(0, 255) as u8;
            }
        }
        ycbcr_to_rgb(
            &y[vector..],
            &cb[vector..],
            &cr[vector..],
            &mut out[vector * 3..],
        );
    }

    /// Interleaved Y, Cb, Cr as they go into the colour conversion.
    fn identity(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
        for (((px, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
            px.copy_from_slice(&[y, cb, cr]);
        }
    }

    /// Channel `k` of interleaved `channels`-sample pixels.
    fn channel(data: &[u8], channels: usize, k: usize) -> Vec<u8> {
        data.iter().skip(k).step_by(channels).copied().collect()
    }

    /// `plane` (w x h) brought to 2x with the fancy h2v2 upsampling, cropped
    /// to `out`: what jpeg-decoder does to 4:2:0 chroma.
    fn h2v2(plane: &[u8], (w, h): (usize, usize), (out_w, out_h): (usize, usize)) -> Vec<u8> {
        let mut line = vec![0; 2 * w];
        let mut out = Vec::with_capacity(out_w * out_h);
        for row in 0..out_h {
            let near = row / 2;
            let far = if row % 2 == 0 {
                near.saturating_sub(1)
            } else {
                (near + 1).min(h - 1)
            };
            upsample_h2v2(&plane[near * w..][..w], &plane[far * w..][..w], &mut line);
            out.extend_from_slice(&line[..out_w]);
        }
        out
    }

    /// 4:2:0 decodes its chroma at twice the luma's block side (which
    /// jpeg-decoder never does): its luma must be the uniform decode's at
    /// `scale`, and its chroma, upsampled, the uniform decode's at twice
    /// `scale` (at 1/2 that is a full-size decode: the 8x8 IDCT has its own
    /// test).
    fn assert_420_planes_are_the_uniform_ones(bytes: &[u8], scale: DctScale, what: &str) {
        let ycbcr = |scale, chroma| {
            decode_with(bytes, scale, u64::MAX, identity, chroma)
                .unwrap_or_else(|| panic!("{what} at {scale:?}: not decoded"))
        };
        let ours = ycbcr(scale, Chroma::Libjpeg);
        let (w, h) = (ours.width() as usize, ours.height() as usize);
        let ours = ours.as_bytes();
        let uniform = ycbcr(scale, Chroma::Uniform);
        let what = format!("{what} at {scale:?}");
        assert_eq!(
            channel(ours, 3, 0),
            channel(uniform.as_bytes(), 3, 0),
            "{what}: Y"
        );
        let twice = match scale {
            DctScale::Eighth => DctScale::Quarter,
            DctScale::Quarter => DctScale::Half,
            DctScale::Half => return,
        };
        let uniform = ycbcr(twice, Chroma::Uniform);
        let size = (uniform.width() as usize, uniform.height() as usize);
        for k in [1, 2] {
            assert_eq!(
                h2v2(&channel(ours, 3, k), (w, h), size),
                channel(uniform.as_bytes(), 3, k),
                "{what}: chroma {k}"
            );
        }
    }

    /// Our pixels equal jpeg-decoder's at every scale, byte for byte when
    /// chroma is decoded at the luma's block side as jpeg-decoder does it;
    /// 4:2:0 files as we decode them, plane by plane against those.
    fn assert_same_as_jpeg_decoder(bytes: &[u8], what: &str) {
        let mut decoder = jpeg_decoder::Decoder::new(bytes);
        decoder.read_info().unwrap();
        let info = decoder.info().unwrap();
        let full = (u32::from(info.width), u32::from(info.height));
        let frame = Parser::new(bytes).and_then(|mut p| {
            p.next_scan()?;
            p.frame.clone()
        });
        let is_420 = frame.is_some_and(|f| {
            f.components.len() == 3
                && f.components[1..].iter().all(|c| (c.h, c.v) == (1, 1))
                && (f.h_max, f.v_max) == (2, 2)
        });
        // Elsewhere jpeg-decoder converts colour with other SIMD rounding.
        let exact = cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("ssse3");
        for scale in [DctScale::Half, DctScale::Quarter, DctScale::Eighth] {
            if is_420 {
                assert_420_planes_are_the_uniform_ones(bytes, scale, what);
            }
            let ours = decode_with(bytes, scale, u64::MAX, jpeg_decoder_rgb, Chroma::Uniform)
                .unwrap_or_else(|| panic!("{what} at {scale:?}: not decoded"));
            let (w, h) = scale.output_size(full);
            assert_eq!((ours.width(), ours.height()), (w, h), "{what} at {scale:?}");
            // Tiny images: jpeg-decoder may pick a stronger reduction.
            if their_scale(full, (w, h)) != scale as u32 {
                continue;
            }
            let mut decoder = jpeg_decoder::Decoder::new(bytes);
            decoder.read_info().unwrap();
            decoder.scale(w as u16, h as u16).unwrap();
            let theirs = decoder.decode().unwrap();
            assert_eq!(ours.as_bytes().len(), theirs.len(), "{what} at {scale:?}");
            // At 1/8 ours rounds the DC as libjpeg-turbo does and
            // jpeg-decoder truncates it: 1 apart in Y, Cb and Cr, at most 3 in RGB
            // (tests/reference.rs checks 1/8 against djpeg's output).
            let tolerance =
                if exact { 0 } else { 1 } + if scale == DctScale::Eighth { 3 } else { 0 };
            let worst = ours
                .as_bytes()
                .iter()
                .zip(&theirs)
                .map(|(a, b)| a.abs_diff(*b))
                .max();
            assert!(
                worst <= Some(tolerance),
                "{what} at {scale:?}: pixels differ by {worst:?}"
            );
        }
    }

    /// The 8x8 IDCT against the textbook formula in floating point.
    #[test]
    fn idct_8x8_is_within_one_of_the_exact_transform() {
        let mut state = 0x2545_F491u32;
        let mut next = |below: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % below
        };
        let quant = [1u16; 64];
        for round in 0..500 {
            let mut coefficients = [0i16; 64];
            coefficients[0] = next(2048) as i16 - 1024;
            // From a few low frequencies to every one of them.
            for _ in 0..(round % 64) {
                let k = next(64) as usize;
                coefficients[k] = next(401) as i16 - 200;
            }
            let mut out = [0u8; 64];
            idct_8x8(&coefficients, &quant, 8, &mut out);
            let c = |u: usize| if u == 0 { 0.5f64.sqrt() } else { 1.0 };
            for y in 0..8 {
                for x in 0..8 {
                    let mut sum = 0.0;
                    for v in 0..8 {
                        for u in 0..8 {
                            let f = f64::from(coefficients[v * 8 + u]);
                            let angle = |p: usize, q: usize| {
                                ((2 * p + 1) as f64 * q as f64 * std::f64::consts::PI / 16.0).cos()
                            };
                            sum += c(u) * c(v) * f * angle(x, u) * angle(y, v);
                        }
                    }
                    let exact = (sum / 4.0 + 128.0).round().clamp(0.0, 255.0);
                    let got = f64::from(out[y * 8 + x]);
                    assert!(
                        (got - exact).abs() <= 1.0,
                        "round {round} at ({x}, {y}): {got} vs {exact}"
                    );
                }
            }
        }
    }

    /// 4:2:0 chroma gets twice the luma's block side (up to 8), other
    /// samplings keep the scale's own: libjpeg-turbo's choice.
    #[test]
    fn chroma_block_sides_follow_libjpeg_turbo() {
        let frame = |h: usize, v: usize| Frame {
            width: 64,
            height: 64,
            components: [(h, v), (1, 1), (1, 1)]
                .into_iter()
                .enumerate()
                .map(|(id, (h, v))| Component {
                    id: id as u8,
                    h,
                    v,
                    quant: 0,
                })
                .collect(),
            h_max: h,
            v_max: v,
        };
        let sides = |f: &Frame, scale| {
            f.components
                .iter()
                .map(|c| f.block_side(c, scale))
                .collect::<Vec<_>>()
        };
        let s420 = frame(2, 2);
        assert_eq!(sides(&s420, DctScale::Eighth), [1, 2, 2]);
        assert_eq!(sides(&s420, DctScale::Quarter), [2, 4, 4]);
        assert_eq!(sides(&s420, DctScale::Half), [4, 8, 8]);
        for (h, v) in [(1, 1), (2, 1), (1, 2)] {
            for scale in [DctScale::Eighth, DctScale::Quarter, DctScale::Half] {
                let s = scale as usize;
                assert_eq!(sides(&frame(h, v), scale), [s, s, s], "{h}x{v} {scale:?}");
            }
        }
    }

    #[test]
    fn ycbcr_to_rgb_is_bt601_rounded() {
        let mut out = [0u8; 3];
        for y in (0..=255u8).step_by(5) {
            for cb in (0..=255u8).step_by(3) {
                for cr in (0..=255u8).step_by(7) {
                    ycbcr_to_rgb(&[y], &[cb], &[cr], &mut out);
                    let (y, cb, cr) = (f64::from(y), f64::from(cb) - 128.0, f64::from(cr) - 128.0);
                    let exact = [
                        y + 1.402 * cr,
                        y - 0.344_14 * cb - 0.714_14 * cr,
                        y + 1.772 * cb,
                    ];
                    for (got, want) in out.iter().zip(exact) {
                        let want = want.clamp(0.0, 255.0);
                        assert!((f64::from(*got) - want).abs() < 1.0, "{got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn pixels_equal_jpeg_decoders_for_every_sampling_size_and_table() {
        let samplings = [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_1_2,
            SamplingFactor::F_2_2,
        ];
        let sizes = [(1, 1), (9, 7), (37, 23), (64, 48), (333, 250), (17, 300)];
        for (n, sampling) in samplings.into_iter().enumerate() {
            for (m, &(w, h)) in sizes.iter().enumerate() {
                let options = Options {
                    sampling,
                    quality: [40, 85, 98][(n + m) % 3],
                    optimized: (n + m) % 2 == 1,
                    ..PLAIN
                };
                let bytes = jpeg(w, h, ColorType::Rgb, &options);
                assert_same_as_jpeg_decoder(&bytes, &format!("{w}x{h} {sampling:?}"));
            }
        }
        for &(w, h) in &sizes {
            let bytes = jpeg(w, h, ColorType::Luma, &PLAIN);
            assert_same_as_jpeg_decoder(&bytes, &format!("grey {w}x{h}"));
        }
    }

    /// Sizes and settings drawn at random (fixed seed): edges that are not
    /// a multiple of the MCU in every combination.
    #[test]
    fn pixels_equal_jpeg_decoders_for_random_sizes() {
        let mut state = 0x9E37_79B9u32;
        let mut next = |below: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % below
        };
        let samplings = [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_1_2,
            SamplingFactor::F_2_2,
        ];
        for _ in 0..40 {
            let (w, h) = (1 + next(90) as u16, 1 + next(90) as u16);
            let color = if next(5) == 0 {
                ColorType::Luma
            } else {
                ColorType::Rgb
            };
            let options = Options {
                sampling: samplings[next(4) as usize],
                restart: [0, 0, 1, 2, 5][next(5) as usize],
                quality: 30 + next(70) as u8,
                // jpeg-encoder 0.7.1 panics building optimized tables for
                // some of these ("zero size code"); the grid test has them.
                optimized: false,
                progressive: false,
            };
            let bytes = jpeg(w, h, color, &options);
            let what = format!(
                "{w}x{h} {color:?} {:?} restart {}",
                options.sampling, options.restart
            );
            assert_same_as_jpeg_decoder(&bytes, &what);
        }
    }

    #[test]
    fn restart_intervals_are_followed() {
        for restart in [1, 3, 17] {
            for (color, sampling) in [
                (ColorType::Rgb, SamplingFactor::F_2_2),
                (ColorType::Rgb, SamplingFactor::F_1_1),
                (ColorType::Luma, SamplingFactor::F_1_1),
            ] {
                let options = Options {
                    sampling,
                    restart,
                    ..PLAIN
                };
                let bytes = jpeg(203, 97, color, &options);
                assert_same_as_jpeg_decoder(&bytes, &format!("restart {restart} {sampling:?}"));
            }
        }
    }

    #[test]
    fn what_it_does_not_handle_is_none() {
        let progressive = Options {
            progressive: true,
            ..PLAIN
        };
        let cases = [
            ("progressive", jpeg(64, 64, ColorType::Rgb, &progressive)),
            (
                "4:1:1",
                jpeg(
                    64,
                    64,
                    ColorType::Rgb,
                    &Options {
                        sampling: SamplingFactor::F_4_1,
                        ..PLAIN
                    },
                ),
            ),
            ("CMYK", jpeg(64, 64, ColorType::Cmyk, &PLAIN)),
            ("not a JPEG", b"\x89PNG\r\n\x1a\n".to_vec()),
            ("empty", Vec::new()),
        ];
        for (what, bytes) in cases {
            assert!(
                decode(&bytes, DctScale::Quarter, u64::MAX).is_none(),
                "{what}"
            );
        }
        let bytes = jpeg(64, 64, ColorType::Rgb, &PLAIN);
        assert!(decode(&bytes, DctScale::Quarter, 64 * 64).is_some());
        assert!(
            decode(&bytes, DctScale::Quarter, 64 * 64 - 1).is_none(),
            "over max_pixels"
        );
    }

    #[test]
    fn truncated_and_corrupt_streams_never_panic() {
        let bytes = jpeg(
            96,
            64,
            ColorType::Rgb,
            &Options {
                restart: 4,
                ..PLAIN
            },
        );
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        for cut in (0..bytes.len() - 2).step_by(7) {
            let decoded = decode(&bytes[..cut], DctScale::Quarter, u64::MAX);
            assert!(decoded.is_none(), "cut at {cut} of {}", bytes.len());
        }
        // Every byte of the scan flipped in turn: whatever comes out, no panic.
        let mut corrupt = bytes.clone();
        for i in (scan..bytes.len() - 2).step_by(3) {
            corrupt[i] ^= 0x5A;
            for scale in [DctScale::Half, DctScale::Eighth] {
                std::hint::black_box(decode(&corrupt, scale, u64::MAX));
            }
            corrupt[i] = bytes[i];
        }
    }

    #[test]
    fn scale_is_the_strongest_that_covers_the_target() {
        assert_eq!(
            DctScale::covering((6000, 4000), (1024, 683)),
            Some(DctScale::Quarter)
        );
        assert_eq!(
            DctScale::covering((6000, 4000), (750, 500)),
            Some(DctScale::Eighth)
        );
        assert_eq!(
            DctScale::covering((6000, 4000), (751, 500)),
            Some(DctScale::Quarter)
        );
        // Covering the width is not enough: the height must be covered too.
        assert_eq!(
            DctScale::covering((6000, 4000), (700, 1001)),
            Some(DctScale::Half)
        );
        assert_eq!(DctScale::covering((6000, 4000), (3001, 10)), None);
        assert_eq!(DctScale::output_size(DctScale::Eighth, (9, 7)), (2, 1));
    }
}
