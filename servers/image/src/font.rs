//! A tiny built-in bitmap font: the digits 0-9 in 3x5 cells, enough to
//! number the images of a contact sheet without shipping a font file.

use image::{Rgba, RgbaImage};

const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Glyph height in font pixels.
pub const HEIGHT: u32 = 5;

/// Width of `number` drawn at `scale` (glyphs 3 wide, 1 apart).
pub fn width(number: usize, scale: u32) -> u32 {
    let digits = number.to_string().len() as u32;
    (digits * 4 - 1) * scale
}

/// Draws `number` with its top-left corner at (`x`, `y`), each font pixel
/// a `scale` x `scale` square; clipped at the image's edges.
pub fn draw_number(
    img: &mut RgbaImage,
    number: usize,
    x: u32,
    y: u32,
    scale: u32,
    color: Rgba<u8>,
) {
    for (index, ch) in number.to_string().bytes().enumerate() {
        let glyph = DIGITS[usize::from(ch - b'0')];
        let left = x + index as u32 * 4 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + col * scale + dx, y + row as u32 * scale + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, color);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_drawn_where_asked() {
        let mut img = RgbaImage::from_pixel(20, 10, Rgba([255; 4]));
        let black = Rgba([0, 0, 0, 255]);
        draw_number(&mut img, 10, 1, 1, 1, black);
        assert_eq!(width(10, 1), 7);
        // "1": the middle column of the first glyph is always set.
        assert_eq!(*img.get_pixel(2, 1), black);
        assert_eq!(*img.get_pixel(1, 1), Rgba([255; 4]));
        // "0": its corners are set, its centre is not.
        assert_eq!(*img.get_pixel(5, 1), black);
        assert_eq!(*img.get_pixel(6, 3), Rgba([255; 4]));
        // Clipped, not panicking, at the edge.
        draw_number(&mut img, 987, 15, 7, 2, black);
    }
}
