//! mcp-image's own shrink-on-load JPEG decoder (`jpeg_scaled`), against
//! jpeg-decoder.
//!
//! Each input is a real baseline JPEG written by jpeg-encoder from
//! fuzzer-chosen size, sampling, quality, restart interval, table kind,
//! colour and pixels, then optionally damaged (bytes flipped, the file cut
//! short), and decoded at 1/2, 1/4 and 1/8.
//!
//! Checked:
//! - no panic, whatever the damage;
//! - a decoded image has exactly the scaled size of the header;
//! - undamaged, the file always decodes, and its pixels equal jpeg-decoder's
//!   at the same scale (grey exactly, but at 1/8, where ours rounds the DC
//!   as libjpeg-turbo and jpeg-decoder truncates it: within 1; colour within
//!   1, or 4 at 1/8, as jpeg-decoder's SIMD colour conversion rounds
//!   differently). 4:2:0 colour is not compared: ours decodes its chroma at
//!   twice the luma's block side, as libjpeg-turbo does and jpeg-decoder
//!   does not (the unit tests compare it plane by plane);
//! - a resize to a fuzzer-chosen size through `transform`'s pipeline gives
//!   the same output size whether the file was decoded at full size or
//!   reduced (damaged files included, when both paths decode them).

#![no_main]

use arbitrary::Arbitrary;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use libfuzzer_sys::fuzz_target;
use mcp_image::jpeg_scaled::{DctScale, decode};

#[derive(Debug, Arbitrary)]
struct Input {
    width: u8,
    height: u8,
    sampling: u8,
    quality: u8,
    restart: u8,
    optimized: bool,
    grey: bool,
    pixels: Vec<u8>,
    damage: Vec<(u16, u8)>,
    cut: Option<u16>,
    target: (u8, u8),
    fit: u8,
}

fuzz_target!(|input: Input| {
    let (w, h) = (u16::from(input.width.max(1)), u16::from(input.height.max(1)));
    let channels = if input.grey { 1 } else { 3 };
    let len = usize::from(w) * usize::from(h) * channels;
    let pixels: Vec<u8> = if input.pixels.is_empty() {
        vec![128; len]
    } else {
        input.pixels.iter().copied().cycle().take(len).collect()
    };
    let sampling = [
        SamplingFactor::F_1_1,
        SamplingFactor::F_2_1,
        SamplingFactor::F_1_2,
        SamplingFactor::F_2_2,
    ][usize::from(input.sampling % 4)];
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, 1 + input.quality % 100);
    encoder.set_sampling_factor(sampling);
    encoder.set_restart_interval(u16::from(input.restart % 8));
    // jpeg-encoder 0.7.1 panics building some optimized tables ("zero size
    // code"): its bug, not ours, and our server never asks for them.
    encoder.set_optimized_huffman_tables(false);
    let _ = input.optimized;
    let color = if input.grey { ColorType::Luma } else { ColorType::Rgb };
    encoder.encode(&pixels, w, h, color).expect("jpeg-encoder writes it");

    let damaged = !input.damage.is_empty() || input.cut.is_some();
    for (at, xor) in &input.damage {
        let i = usize::from(*at) % bytes.len();
        bytes[i] ^= xor;
    }
    if let Some(cut) = input.cut {
        bytes.truncate(usize::from(cut) % (bytes.len() + 1));
    }

    same_size_on_both_paths(&bytes, &input);

    for scale in [DctScale::Half, DctScale::Quarter, DctScale::Eighth] {
        let ours = decode(&bytes, scale, 1 << 24);
        let Some(ours) = ours else {
            assert!(damaged, "an undamaged {w}x{h} {sampling:?} JPEG was not decoded at {scale:?}");
            continue;
        };
        if damaged {
            // Damage can change the header; the size must follow it.
            continue;
        }
        let (out_w, out_h) = scale.output_size((w.into(), h.into()));
        assert_eq!((ours.width(), ours.height()), (out_w, out_h));
        // jpeg-decoder's own choice of scale, which for tiny images can be
        // stronger than the one asked for.
        let theirs_scale = [1, 2, 4]
            .into_iter()
            .find(|s| (u32::from(w) * s).div_ceil(8) >= out_w || (u32::from(h) * s).div_ceil(8) >= out_h)
            .unwrap_or(8);
        if theirs_scale != scale as u32 {
            continue;
        }
        let mut reference = jpeg_decoder::Decoder::new(&bytes[..]);
        reference.read_info().expect("jpeg-decoder reads the header");
        reference.scale(out_w as u16, out_h as u16).expect("jpeg-decoder scales");
        let theirs = reference.decode().expect("jpeg-decoder decodes it");
        // 4:2:0 chroma at twice the block side, and subsampled chroma
        // replicated at 1/8: libjpeg-turbo's choices, not jpeg-decoder's.
        let subsampled = sampling != SamplingFactor::F_1_1 && !input.grey;
        if subsampled && (sampling == SamplingFactor::F_2_2 || scale == DctScale::Eighth) {
            continue;
        }
        let eighth = scale == DctScale::Eighth;
        let tolerance = match (input.grey, eighth) {
            (true, false) => 0,
            (true, true) | (false, false) => 1,
            (false, true) => 4,
        };
        assert_eq!(ours.as_bytes().len(), theirs.len());
        for (i, (a, b)) in ours.as_bytes().iter().zip(&theirs).enumerate() {
            assert!(
                a.abs_diff(*b) <= tolerance,
                "{w}x{h} {sampling:?} at {scale:?}: byte {i} is {a}, jpeg-decoder's {b}"
            );
        }
    }
});

/// `transform`'s resize on both decode paths: the output size must not
/// depend on which ran.
fn same_size_on_both_paths(bytes: &[u8], input: &Input) {
    use mcp_image::{ops, source};
    let limits = source::Limits::default();
    let Ok(src) = source::Source::from_bytes(bytes.to_vec(), &limits) else {
        return;
    };
    let Ok(hdr) = source::header(&src, &limits) else {
        return;
    };
    let fit = ["cover", "contain", "fill", "inside"][usize::from(input.fit % 4)];
    let (tw, th) = (u32::from(input.target.0.max(1)), u32::from(input.target.1));
    let mut resize = serde_json::json!({"op": "resize", "width": tw, "fit": fit});
    if th > 0 {
        resize["height"] = th.into();
    }
    let Ok(operations) = serde_json::from_value::<Vec<ops::Operation>>(serde_json::json!([resize]))
    else {
        return;
    };
    let Ok(steps) = ops::validate(&operations) else {
        return;
    };
    let cache = source::DecodeCache::new(0);
    let run = |hint| {
        let img = source::decode(&src, &hdr, &limits, &cache, hint).ok()?;
        ops::apply_decoded((*img).clone(), &steps, hdr.orientation, (hdr.width, hdr.height), &limits)
            .ok()
    };
    let hint = mcp_image::tools::transform::reduce_hint(&steps, &hdr);
    if hint.is_none() {
        return;
    }
    if let (Some(full), Some(reduced)) = (run(None), run(hint)) {
        assert_eq!(
            (full.width(), full.height()),
            (reduced.width(), reduced.height()),
            "{}x{} to {tw}x{th} {fit}: the paths disagree",
            hdr.width,
            hdr.height
        );
    }
}
