//! Frame counts of animated GIF, PNG (APNG) and WebP, read from the
//! container structure without decoding a single pixel, so `--max-frames`
//! is enforced before any frame is decoded.

use image::ImageFormat;

/// The number of frames, or None for formats that cannot animate.
pub fn count(format: ImageFormat, bytes: &[u8]) -> Option<usize> {
    match format {
        ImageFormat::Gif => Some(gif_frames(bytes)),
        ImageFormat::Png => Some(png_frames(bytes)),
        ImageFormat::WebP => Some(webp_frames(bytes)),
        _ => None,
    }
}

/// Counts image descriptors, skipping colour tables and data sub-blocks.
/// A truncated file counts the frames it has.
fn gif_frames(bytes: &[u8]) -> usize {
    let table_len = |packed: u8| 3usize << ((packed & 7) + 1);
    let skip_sub_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let size = *bytes.get(at)? as usize;
            at += 1;
            if size == 0 {
                return Some(at);
            }
            at += size;
        }
    };
    let Some(&packed) = bytes.get(10) else {
        return 0;
    };
    let mut at = 13;
    if packed & 0x80 != 0 {
        at += table_len(packed);
    }
    let mut frames = 0;
    while let Some(&block) = bytes.get(at) {
        match block {
            0x2C => {
                let Some(&packed) = bytes.get(at + 9) else {
                    break;
                };
                frames += 1;
                at += 10;
                if packed & 0x80 != 0 {
                    at += table_len(packed);
                }
                // LZW minimum code size, then the data.
                match skip_sub_blocks(at + 1) {
                    Some(next) => at = next,
                    None => break,
                }
            }
            0x21 => match skip_sub_blocks(at + 2) {
                Some(next) => at = next,
                None => break,
            },
            _ => break, // 0x3B trailer, or garbage
        }
    }
    frames
}

/// The frame count of an `acTL` chunk before the first `IDAT`, else 1.
fn png_frames(bytes: &[u8]) -> usize {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind = &bytes[at + 4..at + 8];
        match kind {
            b"acTL" => {
                return bytes
                    .get(at + 8..at + 12)
                    .map_or(1, |n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize);
            }
            b"IDAT" | b"IEND" => return 1,
            _ => {}
        }
        at = at.saturating_add(12).saturating_add(len as usize);
    }
    1
}

/// Counts `ANMF` chunks of an animated WebP; 1 for a still image.
fn webp_frames(bytes: &[u8]) -> usize {
    let mut at = 12;
    let mut frames = 0;
    while at + 8 <= bytes.len() {
        let kind = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        if kind == b"ANMF" {
            frames += 1;
        }
        at = at.saturating_add(8).saturating_add(len + (len & 1));
    }
    frames.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, RgbaImage};

    fn gif(frames: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut out);
            for index in 0..frames {
                let img = RgbaImage::from_pixel(4, 3, image::Rgba([index as u8 * 40, 0, 0, 255]));
                encoder
                    .encode_frame(Frame::from_parts(
                        img,
                        0,
                        0,
                        Delay::from_numer_denom_ms(10, 1),
                    ))
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn gif_frames_are_counted_without_decoding() {
        assert_eq!(count(ImageFormat::Gif, &gif(1)), Some(1));
        assert_eq!(count(ImageFormat::Gif, &gif(5)), Some(5));
        let whole = gif(5);
        // A truncated file counts what it holds, and never panics.
        for cut in 0..whole.len() {
            assert!(gif_frames(&whole[..cut]) <= 5);
        }
    }

    #[test]
    fn still_png_and_other_formats() {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(2, 2)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        assert_eq!(count(ImageFormat::Png, out.get_ref()), Some(1));
        assert_eq!(count(ImageFormat::Jpeg, b"\xff\xd8"), None);
        // An acTL chunk before IDAT gives the count.
        let mut apng = out.get_ref()[..33].to_vec();
        apng.extend_from_slice(&8u32.to_be_bytes());
        apng.extend_from_slice(b"acTL");
        apng.extend_from_slice(&7u32.to_be_bytes());
        apng.extend_from_slice(&0u32.to_be_bytes());
        apng.extend_from_slice(&[0; 4]);
        assert_eq!(png_frames(&apng), 7);
    }
}
