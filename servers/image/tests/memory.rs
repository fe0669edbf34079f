//! Every call's memory reservation covers what it really allocates: each
//! tool runs on noise images (which compress worst) in every format and
//! operation, under a counting allocator, and its heap peak is compared
//! with the most the call reserved from the budget.
//!
//! One test in this binary, cases one after another: the allocator counts
//! the whole process.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use mcp_image::cost::CALL_OVERHEAD;
use mcp_image::{Config, ServerFactory};
use mcp_servers_core::cli::ServeArgs;
use rmcp::handler::server::wrapper::Parameters;
use serde_json::{Value, json};

struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes as u64, Ordering::Relaxed);
}

// SAFETY: every call goes to the system allocator with the same arguments;
// the counters only watch.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn noise_rgb(w: u32, h: u32) -> DynamicImage {
    let mut state = 0x2545_f491u32;
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = state.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    }))
}

fn noise_rgba(w: u32, h: u32) -> DynamicImage {
    let rgb = noise_rgb(w, h).to_rgb8();
    DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], p[0] ^ p[2]])
    }))
}

fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn progressive_jpeg(img: &DynamicImage) -> Vec<u8> {
    let rgb = img.to_rgb8();
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_progressive(true);
    encoder
        .encode(
            rgb.as_raw(),
            rgb.width() as u16,
            rgb.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    bytes
}

/// Runs one call on a fresh server (empty cache, unused budget) and checks
/// its heap peak against the most it reserved; what is wrong is added to
/// `failures`.
async fn check(failures: &mut Vec<String>, root: &Path, tool: &str, args: Value) {
    let config = Config::with_roots(vec![root.to_path_buf()]);
    let budget = config.memory.clone();
    let server = ServerFactory::new(config, &ServeArgs::default())
        .unwrap()
        .session();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let result = match tool {
        "transform" => {
            server
                .transform(Parameters(serde_json::from_value(args.clone()).unwrap()))
                .await
        }
        "compare" => {
            server
                .compare(Parameters(serde_json::from_value(args.clone()).unwrap()))
                .await
        }
        "prepare_for_model" => {
            server
                .prepare_for_model(Parameters(serde_json::from_value(args.clone()).unwrap()))
                .await
        }
        "contact_sheet" => {
            server
                .contact_sheet(Parameters(serde_json::from_value(args.clone()).unwrap()))
                .await
        }
        "image_info" => {
            server
                .image_info(Parameters(serde_json::from_value(args.clone()).unwrap()))
                .await
        }
        other => panic!("no case for {other}"),
    };
    let result = result.unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
    assert_ne!(result.is_error, Some(true), "{tool} {args}");
    drop(result);
    // What stays allocated after the call is the decode cache's copy, which
    // its own share of the budget covers.
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    let used = (PEAK.load(Ordering::Relaxed) - base).saturating_sub(kept);
    drop(server);
    let reserved = budget.peak();
    assert_eq!(budget.used(), 0, "every reservation was given back");
    println!(
        "{tool:<18} {:>6.1} MiB used {:>6.1} MiB reserved ({:.2}x)  {args}",
        used as f64 / 1048576.0,
        reserved as f64 / 1048576.0,
        reserved as f64 / used.max(1) as f64
    );
    // The pixel estimate alone must cover the pixels: of the fixed
    // per-call allowance, at most 1 MiB goes to everything else.
    let pixels_reserved = reserved - CALL_OVERHEAD + (1 << 20);
    if used > pixels_reserved {
        failures.push(format!(
            "{tool} {args}: allocated {used} bytes at peak, more than the {reserved} bytes \
             reserved less all but 1 MiB of the fixed allowance ({pixels_reserved})"
        ));
    }
    if reserved > used.saturating_mul(6) + 2 * CALL_OVERHEAD {
        failures.push(format!(
            "{tool} {args}: reserved {reserved} bytes for a peak of {used}: far too pessimistic"
        ));
    }
}

#[tokio::test]
async fn every_call_reserves_at_least_what_it_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let mut failures = Vec::new();
    let (w, h) = (900, 700);
    let rgb = noise_rgb(w, h);
    let rgba = noise_rgba(w, h);
    let write = |name: &str, bytes: Vec<u8>| {
        let path = root.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let png = write("rgb.png", encoded(&rgb, ImageFormat::Png));
    let png_alpha = write("rgba.png", encoded(&rgba, ImageFormat::Png));
    let png16 = write(
        "rgb16.png",
        encoded(&DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Png),
    );
    let jpeg = write("rgb.jpg", encoded(&rgb, ImageFormat::Jpeg));
    let progressive = write("progressive.jpg", progressive_jpeg(&rgb));
    let sources = [
        png.clone(),
        png_alpha.clone(),
        png16.clone(),
        jpeg.clone(),
        progressive.clone(),
        write("rgba.webp", encoded(&rgba, ImageFormat::WebP)),
        write("rgba.gif", encoded(&rgba, ImageFormat::Gif)),
        write("rgb.bmp", encoded(&rgb, ImageFormat::Bmp)),
        write("rgba.tiff", encoded(&rgba, ImageFormat::Tiff)),
        write(
            "small.ico",
            encoded(&rgba.thumbnail_exact(200, 150), ImageFormat::Ico),
        ),
    ];

    // Every source format, decoded whole and written out again.
    for path in &sources {
        let out = root.join("out.png").display().to_string();
        let args = json!({"path": path, "operations": [{"op": "invert"}],
                          "output_path": out, "overwrite": true});
        check(&mut failures, &root, "transform", args).await;
        check(&mut failures, &root, "image_info", json!({"path": path})).await;
    }

    // Every operation, on an image with and without alpha and a 16-bit one.
    let operations = [
        json!({"op": "resize", "width": 300}),
        json!({"op": "resize", "width": 1600}),
        json!({"op": "resize", "width": 400, "height": 400, "fit": "contain"}),
        json!({"op": "resize", "width": 400, "height": 100, "fit": "cover"}),
        json!({"op": "resize", "width": 100, "height": 1200, "fit": "fill", "filter": "bilinear"}),
        json!({"op": "crop", "x": 10, "y": 10, "width": 500, "height": 300}),
        json!({"op": "crop", "aspect_ratio": "1:1"}),
        json!({"op": "rotate", "degrees": 90}),
        json!({"op": "rotate", "degrees": 180}),
        json!({"op": "auto_orient"}),
        json!({"op": "flip", "direction": "vertical"}),
        json!({"op": "grayscale"}),
        json!({"op": "brightness", "value": 20}),
        json!({"op": "contrast", "value": 30}),
        json!({"op": "blur", "sigma": 4}),
        json!({"op": "sharpen", "sigma": 2}),
        json!({"op": "invert"}),
    ];
    for path in [&png, &png_alpha, &png16] {
        for op in &operations {
            let out = root.join("op.png").display().to_string();
            let args =
                json!({"path": path, "operations": [op], "output_path": out, "overwrite": true});
            check(&mut failures, &root, "transform", args).await;
        }
    }

    // Every output format, to a file and inline (where a noise image is
    // over --max-inline-bytes and gets shrunk).
    for format in ["png", "jpeg", "webp", "gif", "bmp", "tiff"] {
        for path in [&png, &png_alpha] {
            let out = root.join(format!("out.{format}")).display().to_string();
            let args = json!({"path": path, "operations": [], "format": format,
                              "output_path": out, "overwrite": true});
            check(&mut failures, &root, "transform", args).await;
            let args = json!({"path": path, "format": format, "return_image": true});
            check(&mut failures, &root, "transform", args).await;
        }
    }
    let small = json!({"path": png_alpha, "operations": [{"op": "resize", "width": 64, "height": 64, "fit": "fill"}], "format": "ico"});
    check(&mut failures, &root, "transform", small).await;

    // Reduced JPEG decoding, ours and jpeg-decoder's (progressive).
    for path in [&jpeg, &progressive] {
        let args = json!({"path": path, "operations": [{"op": "resize", "width": 200}],
                          "return_image": true});
        check(&mut failures, &root, "transform", args).await;
        check(
            &mut failures,
            &root,
            "prepare_for_model",
            json!({"path": path}),
        )
        .await;
    }
    check(
        &mut failures,
        &root,
        "prepare_for_model",
        json!({"path": png_alpha}),
    )
    .await;

    // Inline data instead of a path.
    let data = mcp_servers_core::content::base64_encode(&std::fs::read(&png).unwrap());
    check(
        &mut failures,
        &root,
        "transform",
        json!({"data": data, "operations": [{"op": "blur", "sigma": 2}]}),
    )
    .await;

    // Comparisons: same size, B resized, with a diff image.
    check(
        &mut failures,
        &root,
        "compare",
        json!({"path_a": png, "path_b": png_alpha}),
    )
    .await;
    check(
        &mut failures,
        &root,
        "compare",
        json!({"path_a": png, "path_b": jpeg}),
    )
    .await;
    let diff = root.join("diff.png").display().to_string();
    check(
        &mut failures,
        &root,
        "compare",
        json!({"path_a": png16, "path_b": sources[5], "diff_output_path": diff,
               "overwrite": true, "return_diff": true}),
    )
    .await;

    check(
        &mut failures,
        &root,
        "contact_sheet",
        json!({"paths": [png, jpeg, sources[5], sources[6]], "cell_size": 300}),
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
