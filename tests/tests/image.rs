//! mcp-image end to end: the real binary, driven by rmcp's client over
//! stdio (and HTTP), on images generated in the test with the image crate.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use mcp_servers_tests::rmcp::model::{CallToolRequestParams, CallToolResult};
use mcp_servers_tests::{
    Client, HttpServer, Lifecycle, RawStdio, args, call, stdio_client, text_of,
};
use serde_json::{Value, json};
use tempfile::TempDir;

fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| mcp_servers_tests::workspace_bin("mcp-image", "mcp-image"))
}

/// A colourful gradient, `w` x `h`.
fn gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 90])
    }))
}

/// Pseudo-random pixels: compress badly, like a photo's noise.
fn noise(w: u32, h: u32) -> DynamicImage {
    let mut state = 0x9e37_79b9u32;
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = state.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    }))
}

fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A valid 1x1 PNG whose IHDR (with a correct CRC) claims `w` x `h`.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = encoded(&gradient(1, 1), ImageFormat::Png);
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A big-endian TIFF/EXIF block: orientation, make, and a GPS IFD.
fn exif_block(orientation: u16, make: &str) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    let make_bytes = format!("{make}\0");
    let make_offset = 8 + 2 + 3 * 12 + 4;
    let gps_offset = make_offset + make_bytes.len() as u32;
    t.extend_from_slice(&3u16.to_be_bytes());
    // Make (ASCII)
    t.extend_from_slice(&0x010Fu16.to_be_bytes());
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&(make_bytes.len() as u32).to_be_bytes());
    t.extend_from_slice(&make_offset.to_be_bytes());
    // Orientation (SHORT)
    t.extend_from_slice(&0x0112u16.to_be_bytes());
    t.extend_from_slice(&3u16.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    // GPS IFD pointer (LONG)
    t.extend_from_slice(&0x8825u16.to_be_bytes());
    t.extend_from_slice(&4u16.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&gps_offset.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(make_bytes.as_bytes());
    // GPS IFD: GPSLatitudeRef = "N"
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&0x0001u16.to_be_bytes());
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&2u32.to_be_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&0u32.to_be_bytes());
    t
}

/// A JPEG of `img` carrying an EXIF APP1 segment.
fn jpeg_with_exif(img: &DynamicImage, orientation: u16, make: &str) -> Vec<u8> {
    let jpeg = encoded(img, ImageFormat::Jpeg);
    let tiff = exif_block(orientation, make);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A temp dir holding `root/` (the allowed directory, canonical) and
/// `outside/`.
struct Fixture {
    _dir: TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        Self {
            _dir: dir,
            base,
            root,
        }
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> String {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }

    fn image(&self, rel: &str, img: &DynamicImage, format: ImageFormat) -> String {
        self.write(rel, &encoded(img, format))
    }

    async fn client(&self, extra: &[&str]) -> Client {
        let root = self.root.display().to_string();
        let mut argv: Vec<&str> = extra.to_vec();
        argv.push(&root);
        stdio_client(bin(), &argv, Lifecycle::Initialize)
            .await
            .unwrap()
    }
}

/// A successful call's structured content.
async fn ok(client: &Client, name: &str, arguments: Value) -> (CallToolResult, Value) {
    let result = call(client, name, arguments).await;
    assert_ne!(result.is_error, Some(true), "{name}: {}", text_of(&result));
    let value = result
        .structured_content
        .clone()
        .expect("structured content");
    (result, value)
}

async fn err(client: &Client, name: &str, arguments: Value) -> String {
    let result = call(client, name, arguments).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} should fail: {}",
        text_of(&result)
    );
    text_of(&result)
}

/// The decoded inline image of a result, with its MIME type.
fn inline_image(result: &CallToolResult) -> (DynamicImage, String) {
    let block = result
        .content
        .iter()
        .find_map(|c| c.as_image())
        .expect("an image block");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&block.data)
        .unwrap();
    (
        image::load_from_memory(&bytes).unwrap(),
        block.mime_type.clone(),
    )
}

fn resource_link_uri(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|c| c.as_resource_link())
        .map(|r| r.uri.clone())
}

#[tokio::test]
async fn lists_tools_with_schemas_and_annotations() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in [
        "image_info",
        "transform",
        "prepare_for_model",
        "compare",
        "contact_sheet",
        "batch_transform",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    for tool in &tools {
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
        assert!(
            tool.annotations.is_some(),
            "{} has no annotations",
            tool.name
        );
    }
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-image");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn image_info_reads_the_header_and_trusts_magic_not_extension() {
    let fx = Fixture::new();
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(30, 20, Rgba([1, 2, 3, 128])));
    // A PNG named .jpg.
    let path = fx.image("lies.jpg", &rgba, ImageFormat::Png);
    let client = fx.client(&[]).await;
    let (result, info) = ok(&client, "image_info", json!({"path": path})).await;
    assert_eq!(info["format"], "png");
    assert_eq!(info["mime_type"], "image/png");
    assert_eq!(info["width"], 30);
    assert_eq!(info["height"], 20);
    assert_eq!(info["color_type"], "rgba8");
    assert_eq!(info["bit_depth"], 8);
    assert_eq!(info["has_alpha"], true);
    assert_eq!(info["frames"], 1);
    assert_eq!(info["animated"], false);
    assert_eq!(info["path"], path);
    assert!(
        text_of(&result).contains("PNG 30x20"),
        "{}",
        text_of(&result)
    );

    // The same bytes inline, plain base64 and as a data: URL.
    let bytes = fs::read(&path).unwrap();
    let (_, inline) = ok(&client, "image_info", json!({"data": b64(&bytes)})).await;
    assert_eq!(inline["width"], 30);
    assert!(inline.get("path").is_none());
    let url = format!("data:image/png;base64,{}", b64(&bytes));
    let (_, inline) = ok(&client, "image_info", json!({"data": url})).await;
    assert_eq!(inline["file_size"], bytes.len());
    client.cancel().await.unwrap();
}

/// A large JPEG is described from its first segments alone, and one whose
/// segments before the pixels outgrow that first read (padding APP15
/// segments) from the whole file: the same answers either way.
#[tokio::test]
async fn image_info_reads_a_jpeg_header_whatever_its_size() {
    let fx = Fixture::new();
    let photo = jpeg_with_exif(&noise(600, 500), 6, "BigCam");
    assert!(
        photo.len() > 300 * 1024,
        "the pixels outgrow the first read"
    );
    let mut padded = photo[..2].to_vec();
    for _ in 0..6 {
        padded.extend_from_slice(&[0xFF, 0xEF, 0xFF, 0xFF]);
        padded.extend_from_slice(&[0u8; 0xFFFD]);
    }
    padded.extend_from_slice(&photo[2..]);
    let client = fx.client(&[]).await;
    for (name, bytes) in [("photo.jpg", &photo), ("padded.jpg", &padded)] {
        let path = fx.write(name, bytes);
        let (_, info) = ok(&client, "image_info", json!({"path": path})).await;
        assert_eq!(info["file_size"], bytes.len(), "{name}");
        assert_eq!(
            (info["width"].as_u64(), info["height"].as_u64()),
            (Some(600), Some(500)),
            "{name}"
        );
        assert_eq!(info["display_width"], 500, "{name}");
        assert_eq!(info["color_type"], "rgb8", "{name}");
        assert_eq!(info["exif"]["make"], "BigCam", "{name}");
        assert_eq!(info["exif"]["orientation"], 6, "{name}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn image_info_summarises_exif_and_orientation() {
    let fx = Fixture::new();
    let path = fx.write("cam.jpg", &jpeg_with_exif(&gradient(40, 20), 6, "TestCam"));
    let client = fx.client(&[]).await;
    let (result, info) = ok(&client, "image_info", json!({"path": path})).await;
    assert_eq!(info["format"], "jpeg");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(40), Some(20))
    );
    assert_eq!(info["display_width"], 20);
    assert_eq!(info["display_height"], 40);
    assert_eq!(info["exif"]["orientation"], 6);
    assert_eq!(info["exif"]["make"], "TestCam");
    assert_eq!(info["exif"]["has_gps"], true);
    let text = text_of(&result);
    assert!(text.contains("GPS position present"), "{text}");

    // auto_orient turns the stored 40x20 upright: 20x40.
    let (_, out) = ok(
        &client,
        "transform",
        json!({"path": path, "operations": [{"op": "auto_orient"}], "format": "png"}),
    )
    .await;
    assert_eq!(out["output"]["width"], 20);
    assert_eq!(out["output"]["height"], 40);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn animated_gifs_count_frames_and_max_frames_refuses() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame};
    let fx = Fixture::new();
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        for index in 0..4u8 {
            let img = RgbaImage::from_pixel(8, 6, Rgba([index * 60, 0, 0, 255]));
            encoder
                .encode_frame(Frame::from_parts(
                    img,
                    0,
                    0,
                    Delay::from_numer_denom_ms(50, 1),
                ))
                .unwrap();
        }
    }
    let path = fx.write("anim.gif", &gif);
    let client = fx.client(&["--max-frames", "3"]).await;
    let e = err(&client, "image_info", json!({"path": path})).await;
    assert!(e.contains("4 frames") && e.contains("--max-frames"), "{e}");
    client.cancel().await.unwrap();
    let client = fx.client(&[]).await;
    let (_, info) = ok(&client, "image_info", json!({"path": path})).await;
    assert_eq!(info["frames"], 4);
    assert_eq!(info["animated"], true);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn hostile_and_broken_inputs_get_clear_errors() {
    let fx = Fixture::new();
    let png = encoded(&gradient(64, 64), ImageFormat::Png);
    let truncated = fx.write("truncated.png", &png[..png.len() / 2]);
    let header_only = fx.write("header_only.png", &png[..20]);
    let text = fx.write("notes.png", b"this is a text file, not an image at all");
    let bomb = fx.write("bomb.png", &png_claiming(100_000, 100_000));
    let qoi = fx.write(
        "x.qoi",
        b"qoif\0\0\0\x01\0\0\0\x01\x03\0\0\0\0\0\0\0\0\0\0\x01",
    );
    let empty = fx.write("empty.png", b"");
    let outside = fx.base.join("outside/secret.png");
    fs::write(&outside, &png).unwrap();
    let client = fx.client(&[]).await;

    let e = err(
        &client,
        "transform",
        json!({"path": truncated, "return_image": true}),
    )
    .await;
    assert!(e.contains("truncated or corrupt"), "{e}");
    let e = err(&client, "image_info", json!({"path": header_only})).await;
    assert!(e.contains("truncated or corrupt"), "{e}");
    let e = err(&client, "image_info", json!({"path": text})).await;
    assert!(e.contains("not a supported image"), "{e}");
    let e = err(&client, "image_info", json!({"path": qoi})).await;
    assert!(e.contains("unsupported image format"), "{e}");
    let e = err(&client, "image_info", json!({"path": empty})).await;
    assert!(e.contains("empty"), "{e}");
    for tool in ["image_info", "transform"] {
        let e = err(&client, tool, json!({"path": bomb})).await;
        assert!(
            e.contains("100000x100000") && e.contains("--max-pixels"),
            "{tool}: {e}"
        );
    }
    let e = err(
        &client,
        "image_info",
        json!({"data": b64(&png_claiming(100_000, 100_000))}),
    )
    .await;
    assert!(e.contains("--max-pixels"), "{e}");
    let e = err(
        &client,
        "image_info",
        json!({"path": outside.display().to_string()}),
    )
    .await;
    assert!(e.contains("outside allowed directories"), "{e}");
    let e = err(
        &client,
        "image_info",
        json!({"path": fx.p("../outside/secret.png")}),
    )
    .await;
    assert!(e.contains("outside allowed directories"), "{e}");
    let e = err(&client, "image_info", json!({"data": "%%% not base64 %%%"})).await;
    assert!(e.contains("base64"), "{e}");
    let e = err(&client, "image_info", json!({})).await;
    assert!(e.contains("give path"), "{e}");
    let e = err(
        &client,
        "image_info",
        json!({"path": truncated, "data": "AAAA"}),
    )
    .await;
    assert!(e.contains("not both"), "{e}");
    let e = err(&client, "transform", json!({"path": fx.p("nope.png")})).await;
    assert!(e.contains("ENOENT"), "{e}");
    // The server is still fine after all that.
    let (_, info) = ok(&client, "image_info", json!({"data": b64(&png)})).await;
    assert_eq!(info["width"], 64);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn size_and_pixel_limits_are_flags() {
    let fx = Fixture::new();
    let path = fx.image("big.png", &noise(100, 100), ImageFormat::Png);
    let client = fx
        .client(&["--max-file-bytes", "1000", "--max-pixels", "5000"])
        .await;
    let e = err(&client, "image_info", json!({"path": path})).await;
    assert!(e.contains("--max-file-bytes"), "{e}");
    let small = encoded(&gradient(100, 100), ImageFormat::Png);
    assert!(small.len() < 1000, "{}", small.len());
    let e = err(&client, "image_info", json!({"data": b64(&small)})).await;
    assert!(e.contains("100x100") && e.contains("--max-pixels"), "{e}");
    // An upscale past the pixel limit is refused too.
    let tiny = encoded(&gradient(10, 10), ImageFormat::Png);
    let e = err(
        &client,
        "transform",
        json!({"data": b64(&tiny), "operations": [{"op": "resize", "width": 1000}]}),
    )
    .await;
    assert!(e.contains("--max-pixels"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn transform_writes_files_atomically_and_never_overwrites_by_default() {
    let fx = Fixture::new();
    let src = fx.image("photo.png", &gradient(400, 300), ImageFormat::Png);
    let out = fx.p("out/small.jpg");
    fs::create_dir_all(fx.root.join("out")).unwrap();
    let client = fx.client(&[]).await;
    let ops = json!([{"op": "resize", "width": 200}, {"op": "crop", "aspect_ratio": "1:1"}]);
    let (result, meta) = ok(
        &client,
        "transform",
        json!({"path": src, "operations": ops, "output_path": out, "quality": 80}),
    )
    .await;
    // Format from the extension; a link to the file, no inline copy.
    assert_eq!(meta["output"]["format"], "jpeg");
    assert_eq!(meta["output"]["width"], 150);
    assert_eq!(meta["output"]["height"], 150);
    assert_eq!(meta["output"]["path"], out);
    assert_eq!(meta["source"]["width"], 400);
    assert!(result.content.iter().all(|c| c.as_image().is_none()));
    let uri = resource_link_uri(&result).expect("resource link");
    assert!(
        uri.starts_with("file://") && uri.ends_with("/out/small.jpg"),
        "{uri}"
    );
    let written = fs::read(&out).unwrap();
    assert_eq!(meta["output"]["bytes"], written.len());
    assert_eq!(image::guess_format(&written).unwrap(), ImageFormat::Jpeg);
    assert_eq!(
        image::load_from_memory(&written).unwrap().dimensions(),
        (150, 150)
    );

    let e = err(
        &client,
        "transform",
        json!({"path": src, "output_path": out}),
    )
    .await;
    assert!(
        e.contains("already exists") && e.contains("overwrite: true"),
        "{e}"
    );
    assert_eq!(fs::read(&out).unwrap(), written);
    let (_, meta) = ok(
        &client,
        "transform",
        json!({"path": src, "output_path": out, "overwrite": true, "format": "png"}),
    )
    .await;
    assert_eq!(meta["output"]["format"], "png");
    // Written as PNG even though the name says .jpg: the format was explicit.
    assert_eq!(
        image::guess_format(&fs::read(&out).unwrap()).unwrap(),
        ImageFormat::Png
    );

    let e = err(
        &client,
        "transform",
        json!({"path": src, "output_path": fx.base.join("outside/x.png").display().to_string()}),
    )
    .await;
    assert!(e.contains("outside allowed directories"), "{e}");
    assert!(!fx.base.join("outside/x.png").exists());
    let e = err(
        &client,
        "transform",
        json!({"path": src, "output_path": fx.p("missing/dir/x.png")}),
    )
    .await;
    assert!(e.contains("Parent directory does not exist"), "{e}");
    let e = err(
        &client,
        "transform",
        json!({"path": src, "return_image": false}),
    )
    .await;
    assert!(e.contains("nothing to return"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn transform_returns_inline_images_in_every_format() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let data = b64(&encoded(&gradient(64, 48), ImageFormat::Png));
    for (format, mime) in [
        ("png", "image/png"),
        ("jpeg", "image/jpeg"),
        ("webp", "image/webp"),
        ("gif", "image/gif"),
        ("bmp", "image/bmp"),
        ("tiff", "image/tiff"),
        ("ico", "image/x-icon"),
    ] {
        let (result, meta) = ok(
            &client,
            "transform",
            json!({"data": data, "format": format,
                   "operations": [{"op": "rotate", "degrees": 90}, {"op": "flip", "direction": "vertical"}]}),
        )
        .await;
        let (img, got_mime) = inline_image(&result);
        assert_eq!(got_mime, mime, "{format}");
        assert_eq!(img.dimensions(), (48, 64), "{format}");
        assert_eq!(meta["output"]["inline"]["shrunk"], false);
    }
    let e = err(
        &client,
        "transform",
        json!({"data": data, "operations": [{"op": "rotate", "degrees": 45}]}),
    )
    .await;
    assert!(
        e.contains("operations[0]") && e.contains("multiple of 90"),
        "{e}"
    );
    let e = err(
        &client,
        "transform",
        json!({"data": data, "operations": [{"op": "crop", "x": 60, "y": 0, "width": 10, "height": 10}]}),
    )
    .await;
    assert!(e.contains("does not fit inside the 64x48 image"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn oversized_inline_results_are_shrunk_or_refused() {
    let fx = Fixture::new();
    let big = fx.image("noise.png", &noise(300, 300), ImageFormat::Png);
    let full = fs::metadata(&big).unwrap().len();
    let client = fx
        .client(&["--max-inline-bytes", &(full / 4).to_string()])
        .await;
    let (result, meta) = ok(&client, "transform", json!({"path": big})).await;
    assert_eq!(meta["output"]["inline"]["shrunk"], true);
    let (img, _) = inline_image(&result);
    assert!(img.width() < 300, "{}", img.width());
    assert!(meta["output"]["inline"]["bytes"].as_u64().unwrap() <= full / 4);
    assert!(text_of(&result).contains("shrunk"), "{}", text_of(&result));
    client.cancel().await.unwrap();

    let client = fx.client(&["--max-inline-bytes", "40"]).await;
    let e = err(&client, "transform", json!({"path": big})).await;
    assert!(
        e.contains("--max-inline-bytes") && e.contains("output_path"),
        "{e}"
    );
    // Writing a file is not limited by the inline cap.
    let (_, meta) = ok(
        &client,
        "transform",
        json!({"path": big, "output_path": fx.p("copy.png")}),
    )
    .await;
    assert_eq!(meta["output"]["width"], 300);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn large_jpegs_resize_correctly_through_reduced_decoding() {
    let fx = Fixture::new();
    let path = fx.image("large.jpg", &gradient(1600, 1200), ImageFormat::Jpeg);
    let client = fx.client(&[]).await;
    let (result, meta) = ok(
        &client,
        "transform",
        json!({"path": path, "operations": [{"op": "resize", "width": 160}], "format": "png"}),
    )
    .await;
    assert_eq!(meta["output"]["width"], 160);
    assert_eq!(meta["output"]["height"], 120);
    let (img, _) = inline_image(&result);
    // The gradient survives: left dark red, right bright red.
    let rgb = img.to_rgb8();
    assert!(rgb.get_pixel(2, 60)[0] < 30 && rgb.get_pixel(157, 60)[0] > 220);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_directories_inline_data_still_works() {
    let client = stdio_client(bin(), &[], Lifecycle::Initialize)
        .await
        .unwrap();
    let e = err(&client, "image_info", json!({"path": "/etc/hosts"})).await;
    assert!(
        e.contains("No allowed directories") && e.contains("data"),
        "{e}"
    );
    let png = encoded(&gradient(5, 7), ImageFormat::Png);
    let (_, info) = ok(&client, "image_info", json!({"data": b64(&png)})).await;
    assert_eq!(info["height"], 7);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn serves_over_http() {
    let fx = Fixture::new();
    let root = fx.root.display().to_string();
    let server = HttpServer::spawn(bin(), &[&root]).unwrap();
    let client = server.client(None, Lifecycle::Initialize).await.unwrap();
    let path = fx.image("a.png", &gradient(12, 9), ImageFormat::Png);
    let (_, info) = ok(&client, "image_info", json!({"path": path})).await;
    assert_eq!(info["width"], 12);
    client.cancel().await.unwrap();
}

#[test]
fn stdout_is_protocol_only_with_trace_logging() {
    let png = encoded(&gradient(4, 4), ImageFormat::Png);
    let mut server = RawStdio::spawn_with_env(bin(), &["--log-level", "trace"], &[]).unwrap();
    server.initialize().unwrap();
    let answer = server
        .request(
            2,
            "tools/call",
            json!({"name": "image_info", "arguments": {"data": b64(&png)}}),
        )
        .unwrap();
    assert_eq!(answer["result"]["structuredContent"]["width"], 4);
    assert!(server.close().unwrap().success());
}

#[tokio::test]
async fn prepare_for_model_fits_each_family_budget() {
    let fx = Fixture::new();
    let photo = fx.image("photo.jpg", &gradient(2400, 1600), ImageFormat::Jpeg);
    let client = fx.client(&[]).await;
    let (result, out) = ok(&client, "prepare_for_model", json!({"path": photo})).await;
    assert_eq!(out["model"], "claude");
    assert_eq!(out["original"]["width"], 2400);
    let (w, h) = (
        out["prepared"]["width"].as_u64().unwrap(),
        out["prepared"]["height"].as_u64().unwrap(),
    );
    assert!(w <= 1568 && h <= 1568 && w * h <= 1_150_000, "{w}x{h}");
    assert_eq!(out["prepared"]["format"], "jpeg");
    assert_eq!(out["downscaled"], true);
    assert_eq!(out["original_rejected"], false);
    let (img, mime) = inline_image(&result);
    assert_eq!(mime, "image/jpeg");
    assert_eq!(u64::from(img.width()), w);
    assert!(text_of(&result).contains("tokens"), "{}", text_of(&result));

    let (_, out) = ok(
        &client,
        "prepare_for_model",
        json!({"path": photo, "model": "gemini"}),
    )
    .await;
    assert_eq!(out["original"]["tokens"], 4 * 3 * 258);
    assert_eq!(out["prepared"]["width"], 1536);
    assert_eq!(out["prepared"]["tokens"], 4 * 258);
    assert_eq!(out["tokens_saved"], 8 * 258);

    // A few-colour screenshot goes out as PNG; GPT-4o tiles.
    let screenshot = DynamicImage::ImageRgb8(RgbImage::from_fn(1024, 1024, |x, y| {
        if (x / 64 + y / 64) % 2 == 0 {
            Rgb([255, 255, 255])
        } else {
            Rgb([20, 40, 200])
        }
    }));
    let data = b64(&encoded(&screenshot, ImageFormat::Png));
    let (result, out) = ok(
        &client,
        "prepare_for_model",
        json!({"data": data, "model": "gpt-4o"}),
    )
    .await;
    assert_eq!(out["prepared"]["format"], "png");
    assert_eq!(
        (
            out["prepared"]["width"].as_u64(),
            out["prepared"]["height"].as_u64()
        ),
        (Some(768), Some(768))
    );
    assert_eq!(out["prepared"]["tokens"], 765);
    assert_eq!(inline_image(&result).1, "image/png");

    // Never upscaled; EXIF orientation applied.
    let small = fx.write("small.jpg", &jpeg_with_exif(&gradient(40, 20), 6, "Cam"));
    let (_, out) = ok(&client, "prepare_for_model", json!({"path": small})).await;
    assert_eq!(
        (
            out["prepared"]["width"].as_u64(),
            out["prepared"]["height"].as_u64()
        ),
        (Some(20), Some(40))
    );
    assert_eq!(out["downscaled"], false);
    let e = err(
        &client,
        "prepare_for_model",
        json!({"path": small, "model": "llava"}),
    )
    .await;
    assert!(!e.is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn compare_measures_differences_and_draws_a_diff() {
    let fx = Fixture::new();
    let a = gradient(50, 40);
    let mut b = a.to_rgb8();
    for x in 0..50 {
        b.put_pixel(x, 10, Rgb([0, 255, 0]));
    }
    let pa = fx.image("a.png", &a, ImageFormat::Png);
    let pb = fx.image("b.png", &DynamicImage::ImageRgb8(b), ImageFormat::Png);
    let client = fx.client(&[]).await;

    let (result, out) = ok(
        &client,
        "compare",
        json!({"path_a": pa, "data_b": b64(&fs::read(&pa).unwrap())}),
    )
    .await;
    assert_eq!(out["identical"], true);
    assert_eq!(out["changed_pixels"], 0);
    assert!(out.get("psnr_db").is_none());
    assert!(result.content.iter().all(|c| c.as_image().is_none()));

    let diff_path = fx.p("diff.png");
    let (result, out) = ok(
        &client,
        "compare",
        json!({"path_a": pa, "path_b": pb, "return_diff": true, "diff_output_path": diff_path}),
    )
    .await;
    assert_eq!(out["identical"], false);
    assert_eq!(out["same_dimensions"], true);
    assert_eq!(out["changed_pixels"], 50);
    assert_eq!(out["changed_share"], 0.025);
    assert!(out["psnr_db"].as_f64().unwrap() > 10.0);
    assert!(out["mean_absolute_error"].as_f64().unwrap() > 0.0);
    let (diff, mime) = inline_image(&result);
    assert_eq!(mime, "image/png");
    assert_eq!(diff.to_rgba8().get_pixel(7, 10).0, [255, 0, 0, 255]);
    assert_ne!(diff.to_rgba8().get_pixel(7, 11).0, [255, 0, 0, 255]);
    assert!(resource_link_uri(&result).unwrap().ends_with("/diff.png"));
    assert_eq!(image::open(&diff_path).unwrap().dimensions(), (50, 40));

    let half = fx.image("half.png", &gradient(25, 20), ImageFormat::Png);
    let (_, out) = ok(&client, "compare", json!({"path_a": pa, "path_b": half})).await;
    assert_eq!(out["same_dimensions"], false);
    assert_eq!(out["resized_b"], true);
    assert!(out["mean_absolute_error"].as_f64().unwrap() < 10.0);

    let e = err(&client, "compare", json!({"path_a": pa})).await;
    assert!(e.contains("path_b"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn contact_sheet_numbers_a_grid_and_reports_bad_files() {
    let fx = Fixture::new();
    let paths = vec![
        fx.image("1.png", &gradient(300, 200), ImageFormat::Png),
        fx.image("2.jpg", &gradient(100, 400), ImageFormat::Jpeg),
        fx.image("3.gif", &gradient(64, 64), ImageFormat::Gif),
        fx.write("4.png", b"not an image"),
    ];
    let client = fx.client(&[]).await;
    let (result, out) = ok(
        &client,
        "contact_sheet",
        json!({"paths": paths, "cell_size": 64}),
    )
    .await;
    assert_eq!(
        (out["columns"].as_u64(), out["rows"].as_u64()),
        (Some(2), Some(2))
    );
    let images = out["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    assert_eq!(images[0]["index"], 1);
    assert_eq!(images[1]["height"], 400);
    assert!(
        images[3]["error"]
            .as_str()
            .unwrap()
            .contains("not a supported image")
    );
    assert!(text_of(&result).contains("#4"), "{}", text_of(&result));
    let (sheet, mime) = inline_image(&result);
    assert_eq!(mime, "image/png");
    // 2 columns of 64 px cells with 4 px padding; label strips of 18 px.
    assert_eq!(sheet.width(), 2 * (64 + 4) + 4);
    assert_eq!(sheet.height(), 2 * (64 + 18 + 4) + 4);
    let rgba = sheet.to_rgba8();
    let label_row = 4 + 64 + 4..4 + 64 + 4 + 10;
    let dark = label_row
        .flat_map(|y| (0..68u32).map(move |x| (x, y)))
        .filter(|&(x, y)| rgba.get_pixel(x, y)[0] < 50)
        .count();
    assert!(dark > 0, "a number is drawn under the first cell");

    let out_path = fx.p("sheet.jpg");
    let (result, out) = ok(
        &client,
        "contact_sheet",
        json!({"paths": &paths[..2], "output_path": out_path, "labels": false, "columns": 1}),
    )
    .await;
    assert_eq!(out["output"]["format"], "jpeg");
    assert!(result.content.iter().all(|c| c.as_image().is_none()));
    assert_eq!(
        image::open(&out_path).unwrap().dimensions(),
        (256 + 8, 2 * (256 + 4) + 4)
    );
    let e = err(&client, "contact_sheet", json!({"paths": []})).await;
    assert!(e.contains("1 to"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn batch_transform_processes_matches_and_reports_failures() {
    let fx = Fixture::new();
    for index in 0..5 {
        fx.image(
            &format!("in/img{index}.png"),
            &gradient(80 + index, 60),
            ImageFormat::Png,
        );
    }
    fx.write("in/broken.png", b"garbage, not a PNG");
    fx.write("in/readme.txt", b"skip me");
    fx.image("in/sub/deep.png", &gradient(40, 40), ImageFormat::Png);
    fs::create_dir_all(fx.root.join("out")).unwrap();
    // An existing output is kept and reported.
    fx.write("out/img0.jpg", b"keep");
    let client = fx.client(&[]).await;
    let (result, out) = ok(
        &client,
        "batch_transform",
        json!({"input_dir": fx.p("in"), "pattern": "*.png", "output_dir": fx.p("out"),
               "operations": [{"op": "resize", "width": 40}, {"op": "grayscale"}], "format": "jpeg"}),
    )
    .await;
    assert_eq!(out["total"], 6);
    assert_eq!(out["succeeded"], 4);
    assert_eq!(out["failed"], 2);
    let results = out["results"].as_array().unwrap();
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| r["input"].as_str().unwrap())
        .collect();
    assert!(
        failed.iter().any(|p| p.ends_with("broken.png")),
        "{failed:?}"
    );
    assert!(failed.iter().any(|p| p.ends_with("img0.png")), "{failed:?}");
    assert_eq!(fs::read(fx.root.join("out/img0.jpg")).unwrap(), b"keep");
    for index in 1..5 {
        let img = image::open(fx.root.join(format!("out/img{index}.jpg"))).unwrap();
        assert_eq!(img.width(), 40);
    }
    assert!(!fx.root.join("out/sub").exists(), "*.png is not recursive");
    assert!(
        text_of(&result).contains("broken.png"),
        "{}",
        text_of(&result)
    );

    // Recursive, into a new directory, keeping the tree and the formats.
    let (_, out) = ok(
        &client,
        "batch_transform",
        json!({"input_dir": fx.p("in"), "pattern": "**/deep.png", "output_dir": fx.p("new/dir"),
               "operations": [{"op": "rotate", "degrees": 180}]}),
    )
    .await;
    assert_eq!(out["succeeded"], 1);
    assert!(fx.root.join("new/dir/sub/deep.png").exists());

    let e = err(
        &client,
        "batch_transform",
        json!({"input_dir": fx.p("in"), "output_dir": fx.base.join("outside").display().to_string()}),
    )
    .await;
    assert!(e.contains("outside allowed directories"), "{e}");
    let e = err(
        &client,
        "batch_transform",
        json!({"input_dir": fx.p("in"), "output_dir": fx.p("o"), "pattern": "[", "operations": []}),
    )
    .await;
    assert!(e.contains("invalid pattern"), "{e}");
    client.cancel().await.unwrap();
}

#[test]
fn batch_transform_reports_progress_before_its_result() {
    let fx = Fixture::new();
    for index in 0..4 {
        fx.image(
            &format!("in/{index}.png"),
            &gradient(30, 30),
            ImageFormat::Png,
        );
    }
    let mut server = RawStdio::spawn(bin(), &[&fx.root.display().to_string()]).unwrap();
    server.initialize().unwrap();
    server
        .send(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                      "params": {"name": "batch_transform",
                                 "arguments": {"input_dir": fx.p("in"), "output_dir": fx.p("out"),
                                               "operations": [{"op": "invert"}]},
                                 "_meta": {"progressToken": "batch"}}}))
        .unwrap();
    let (answer, before) = server.recv_response(&json!(5)).unwrap();
    assert_eq!(answer["result"]["structuredContent"]["succeeded"], 4);
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{before:?}");
    let last = progress.last().unwrap();
    assert_eq!(last["params"]["progressToken"], "batch");
    assert_eq!(last["params"]["progress"], 4.0);
    assert_eq!(last["params"]["total"], 4.0);
}

#[derive(Clone)]
struct RootsClient {
    root: String,
}

#[allow(deprecated)] // MCP roots: deprecated in the newest protocol, still used by clients.
impl mcp_servers_tests::rmcp::ClientHandler for RootsClient {
    async fn list_roots(
        &self,
        _context: mcp_servers_tests::rmcp::service::RequestContext<
            mcp_servers_tests::rmcp::RoleClient,
        >,
    ) -> Result<mcp_servers_tests::rmcp::model::ListRootsResult, mcp_servers_tests::rmcp::ErrorData>
    {
        use mcp_servers_tests::rmcp::model::{ListRootsResult, Root};
        Ok(ListRootsResult::new(vec![Root::new(format!(
            "file://{}",
            self.root
        ))]))
    }

    fn get_info(&self) -> mcp_servers_tests::rmcp::model::ClientInfo {
        use mcp_servers_tests::rmcp::model::{ClientCapabilities, ClientInfo, Implementation};
        ClientInfo::new(
            ClientCapabilities::builder().enable_roots().build(),
            Implementation::new("roots-test", "0"),
        )
    }
}

#[tokio::test]
async fn client_roots_become_the_allowed_directories() {
    use mcp_servers_tests::rmcp::ServiceExt;
    use mcp_servers_tests::rmcp::transport::TokioChildProcess;
    let fx = Fixture::new();
    let path = fx.image("r.png", &gradient(6, 5), ImageFormat::Png);
    let transport = TokioChildProcess::new(tokio::process::Command::new(bin())).unwrap();
    let client = RootsClient {
        root: fx.root.display().to_string(),
    }
    .serve(transport)
    .await
    .unwrap();
    // The server asks for roots on its own schedule: retry until they apply.
    let start = std::time::Instant::now();
    loop {
        let result = client
            .call_tool(
                CallToolRequestParams::new("image_info")
                    .with_arguments(args(json!({"path": path}))),
            )
            .await
            .unwrap();
        if result.is_error != Some(true) {
            assert_eq!(result.structured_content.unwrap()["width"], 6);
            break;
        }
        assert!(
            start.elapsed() < mcp_servers_tests::DEADLINE,
            "{}",
            text_of(&result)
        );
        tokio::task::yield_now().await;
    }
    client.cancel().await.unwrap();
}
