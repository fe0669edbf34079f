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
    Client, HttpServer, Lifecycle, RawStdio, args, call, err_text as err, stdio_client, text_of,
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

// ---------------------------------------------------------------- limits

/// A `w` x `h` PNG of one colour, deflated by hand (fixed Huffman codes:
/// each row is `Sub`-filtered to its first pixel then zeros, the zeros as
/// runs at distance 1), so a 10000x10000 image takes about 2 MB here and
/// its 300 MB of pixels never exist in the test.
fn png_one_colour(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, bits: u32) {
            self.acc |= u64::from(value) << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, bits: u32) {
            let reversed = code.reverse_bits() >> (32 - bits);
            self.put(reversed, bits);
        }
        fn literal(&mut self, byte: u8) {
            match byte {
                0..=143 => self.code(0x30 + u32::from(byte), 8),
                _ => self.code(0x190 + u32::from(byte) - 144, 9),
            }
        }
    }
    let mut bits = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    bits.put(1, 1); // final block
    bits.put(1, 2); // fixed Huffman codes
    let zeros = w as usize * 3 - 3;
    for _ in 0..h {
        for byte in [1, rgb[0], rgb[1], rgb[2]] {
            bits.literal(byte);
        }
        if zeros > 0 {
            bits.literal(0);
            for _ in 0..(zeros - 1) / 258 {
                bits.code(0xC5, 8); // length 258 (symbol 285)
                bits.code(0, 5); // distance 1
            }
            for _ in 0..(zeros - 1) % 258 {
                bits.literal(0);
            }
        }
    }
    bits.code(0, 7); // end of block
    bits.put(0, 7);
    let mut idat = bits.out;
    // Adler-32 of the rows, a run of zeros at a time.
    let (mut a, mut b) = (1u64, 0u64);
    for _ in 0..h {
        for byte in [1, rgb[0], rgb[1], rgb[2]] {
            a = (a + u64::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        b = (b + zeros as u64 % 65521 * a) % 65521;
    }
    idat.extend_from_slice(&((b << 16 | a) as u32).to_be_bytes());
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &idat));
    png.extend(chunk(b"IEND", b""));
    png
}

/// The estimate in a "needs about ... (N bytes)" refusal.
fn needed_bytes(message: &str) -> u64 {
    let about = message.find("needs about ").expect(message);
    let start = about + message[about..].find(" (").expect(message) + 2;
    message[start..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no byte count in {message}"))
}

#[tokio::test]
async fn a_10000_square_png_that_could_never_fit_the_memory_budget_is_refused_before_decoding() {
    let fx = Fixture::new();
    let big = fx.write("big.png", &png_one_colour(10_000, 10_000, [200, 100, 50]));
    let other = fx.write("other.png", &png_one_colour(10_000, 10_000, [190, 100, 60]));
    assert!(fs::metadata(&big).unwrap().len() < 4 << 20);
    // 256 MiB, of which the decode cache takes a quarter.
    let client = fx.client(&["--max-memory", "256M"]).await;
    let (_, info) = ok(&client, "image_info", json!({"path": big})).await;
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(10_000), Some(10_000))
    );
    let out = fx.p("out.png");
    for (tool, arguments) in [
        (
            "transform",
            json!({"path": big, "operations": [{"op": "resize", "width": 1000}], "output_path": out}),
        ),
        (
            "transform",
            json!({"path": big, "operations": [{"op": "blur", "sigma": 5}], "output_path": out}),
        ),
        ("compare", json!({"path_a": big, "path_b": other})),
        ("prepare_for_model", json!({"path": big})),
        ("contact_sheet", json!({"paths": [big]})),
    ] {
        let result = call(&client, tool, arguments).await;
        let text = text_of(&result);
        if tool == "contact_sheet" {
            // The sheet is made; the image's cell carries the refusal.
            assert_ne!(result.is_error, Some(true), "{text}");
            let entry = &result.structured_content.unwrap()["images"][0];
            let e = entry["error"].as_str().unwrap();
            assert!(e.contains("--max-memory"), "{e}");
            continue;
        }
        assert_eq!(result.is_error, Some(true), "{tool}: {text}");
        assert!(text.contains("needs about"), "{tool}: {text}");
        assert!(needed_bytes(&text) > 300_000_000, "{tool}: {text}");
        assert!(
            text.contains("budget for calls of 192.0 MiB"),
            "{tool}: {text}"
        );
        assert!(text.contains("--max-memory"), "{tool}: {text}");
    }
    assert!(!Path::new(&out).exists());
    // A call that fits still works (and the hand-made PNG has the pixels
    // it should).
    let small = fx.write("small.png", &png_one_colour(301, 200, [200, 100, 50]));
    let (result, value) = ok(
        &client,
        "transform",
        json!({"path": small, "operations": [{"op": "blur", "sigma": 2}], "return_image": true}),
    )
    .await;
    assert_eq!(value["output"]["width"], 301);
    let (img, _) = inline_image(&result);
    assert!(img.to_rgb8().pixels().all(|p| p.0 == [200, 100, 50]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn calls_that_together_exceed_the_memory_budget_both_complete_one_after_the_other() {
    let fx = Fixture::new();
    let a = fx.write("a.png", &png_one_colour(1300, 1300, [10, 20, 30]));
    let b = fx.write("b.png", &png_one_colour(1300, 1300, [30, 20, 10]));
    let blur = |path: &str, out: &str| {
        json!({"path": path, "operations": [{"op": "blur", "sigma": 3}],
               "output_path": fx.p(out)})
    };
    // What one such call needs, from its refusal under the smallest budget.
    let tiny = fx.client(&["--max-memory", "16M"]).await;
    let e = err(&tiny, "transform", blur(&a, "never.png")).await;
    let need = needed_bytes(&e);
    tiny.cancel().await.unwrap();
    // 64 MiB less the cache's 16: room for one of them, not two.
    let calls = 48 << 20;
    assert!(need > calls / 2 && need < calls, "{need}");
    let client = fx.client(&["--max-memory", "64M"]).await;
    let (one, two) = tokio::join!(
        call(&client, "transform", blur(&a, "a-blur.png")),
        call(&client, "transform", blur(&b, "b-blur.png")),
    );
    for result in [&one, &two] {
        assert_ne!(result.is_error, Some(true), "{}", text_of(result));
    }
    for out in ["a-blur.png", "b-blur.png"] {
        let img = image::open(fx.p(out)).unwrap();
        assert_eq!(img.dimensions(), (1300, 1300));
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn headers_claiming_no_pixels_are_errors_not_0x0_images() {
    let fx = Fixture::new();
    // Lossless WebP whose 14-bit width field is all ones (read as 0).
    let header: u32 = 0x3FFF | (9 << 14);
    let mut vp8l = vec![0x2F];
    vp8l.extend_from_slice(&header.to_le_bytes());
    vp8l.extend_from_slice(&[0; 7]);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&((4 + 8 + vp8l.len()) as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8L");
    webp.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
    webp.extend_from_slice(&vp8l);
    // A GIF whose logical screen is 0x0.
    let mut gif = b"GIF89a\0\0\0\0\x80\0\0\0\0\0\xff\xff\xff".to_vec();
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    let client = fx.client(&[]).await;
    for (name, bytes) in [("webp", webp), ("gif", gif)] {
        let path = fx.write(&format!("broken.{name}"), &bytes);
        for tool in ["image_info", "transform"] {
            let e = err(&client, tool, json!({"path": path, "return_image": true})).await;
            assert!(e.contains("corrupt"), "{name} {tool}: {e}");
            assert!(!e.contains("0x0,"), "{name} {tool}: {e}");
        }
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_number_argument_is_checked_with_a_tool_error_never_a_crash() {
    let fx = Fixture::new();
    let png = fx.image("a.png", &gradient(40, 30), ImageFormat::Png);
    fs::create_dir_all(fx.root.join("in")).unwrap();
    fx.image("in/b.png", &gradient(20, 10), ImageFormat::Png);
    let client = fx.client(&[]).await;
    let hostile = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2147483648u64),
        json!(9007199254740992u64),
        json!(9223372036854775808u64),
        json!(1e15),
    ];
    let op = |op: &str, field: &str, value: &Value| {
        let mut step = json!({"op": op, field: value});
        match (op, field) {
            ("crop", "width" | "height") => {
                step["width"] = json!(2);
                step["height"] = json!(2);
                step[field] = value.clone();
            }
            ("crop", _) => {
                step["width"] = json!(2);
                step["height"] = json!(2);
            }
            _ => {}
        }
        json!({"path": png, "operations": [step], "return_image": true})
    };
    for value in &hostile {
        let mut cases: Vec<(&str, &str, Value)> = vec![
            (
                "transform",
                "quality",
                json!({"path": png, "quality": value, "format": "jpeg"}),
            ),
            (
                "prepare_for_model",
                "quality",
                json!({"path": png, "quality": value}),
            ),
            (
                "compare",
                "threshold",
                json!({"path_a": png, "path_b": png, "threshold": value}),
            ),
            (
                "contact_sheet",
                "columns",
                json!({"paths": [png], "columns": value}),
            ),
            (
                "contact_sheet",
                "cell_size",
                json!({"paths": [png], "cell_size": value}),
            ),
            (
                "contact_sheet",
                "quality",
                json!({"paths": [png], "quality": value}),
            ),
            (
                "batch_transform",
                "quality",
                json!({"input_dir": fx.p("in"), "output_dir": fx.p("out"), "quality": value,
                       "format": "jpeg", "overwrite": true}),
            ),
        ];
        for (name, field) in [
            ("resize", "width"),
            ("resize", "height"),
            ("crop", "x"),
            ("crop", "y"),
            ("crop", "width"),
            ("crop", "height"),
            ("rotate", "degrees"),
            ("brightness", "value"),
            ("contrast", "value"),
            ("blur", "sigma"),
            ("sharpen", "sigma"),
            ("sharpen", "threshold"),
        ] {
            cases.push(("transform", field, op(name, field, value)));
        }
        for (tool, field, arguments) in cases {
            // A JSON-RPC error would fail inside `call`.
            let result = call(&client, tool, arguments.clone()).await;
            if result.is_error == Some(true) {
                let text = text_of(&result);
                assert!(
                    text.contains(field) && (text.contains("must be") || text.contains("fit")),
                    "{tool} {arguments}: {text}"
                );
            }
        }
    }
    // Out of range is refused with the bounds; in range works.
    let e = err(
        &client,
        "transform",
        json!({"path": png, "quality": 1e15, "format": "jpeg"}),
    )
    .await;
    assert_eq!(
        e,
        "quality must be a whole number from 1 to 100, not 1000000000000000"
    );
    let e = err(
        &client,
        "contact_sheet",
        json!({"paths": [png], "cell_size": -1}),
    )
    .await;
    assert_eq!(
        e,
        "cell_size must be a whole number from 16 to 1024, not -1"
    );
    let e = err(
        &client,
        "transform",
        json!({"path": png, "operations": [{"op": "resize", "width": 2147483648u64}]}),
    )
    .await;
    assert!(e.contains("from 1 to 100000, not 2147483648"), "{e}");
    ok(
        &client,
        "transform",
        json!({"path": png, "quality": 1, "format": "jpeg"}),
    )
    .await;
    // The server is still alive and well.
    ok(&client, "image_info", json!({"path": png})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_list_carries_the_bounds_of_every_number() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let tools = client.list_all_tools().await.unwrap();
    let schema = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        Value::Object((*tool.input_schema).clone())
    };
    let bounds = |v: &Value| (v["minimum"].clone(), v["maximum"].clone());
    let transform = schema("transform");
    assert_eq!(
        bounds(&transform["properties"]["quality"]),
        (json!(1), json!(100))
    );
    let ops = transform["$defs"]["Operation"]["oneOf"].as_array().unwrap();
    let op = |name: &str| {
        ops.iter()
            .find(|o| o["properties"]["op"]["const"] == name)
            .unwrap()["properties"]
            .clone()
    };
    assert_eq!(bounds(&op("resize")["width"]), (json!(1), json!(100000)));
    assert_eq!(bounds(&op("crop")["x"]), (json!(0), json!(100000)));
    assert_eq!(bounds(&op("rotate")["degrees"]), (json!(-360), json!(360)));
    assert_eq!(op("blur")["sigma"]["exclusiveMinimum"], json!(0));
    assert_eq!(op("blur")["sigma"]["maximum"], json!(250));
    assert_eq!(op("sharpen")["sigma"]["maximum"], json!(10));
    assert_eq!(
        transform["properties"]["operations"]["maxItems"],
        json!(100)
    );
    let sheet = schema("contact_sheet");
    assert_eq!(
        bounds(&sheet["properties"]["cell_size"]),
        (json!(16), json!(1024))
    );
    assert_eq!(
        bounds(&sheet["properties"]["columns"]),
        (json!(1), json!(100))
    );
    assert_eq!(sheet["properties"]["paths"]["maxItems"], json!(400));
    let compare = schema("compare");
    assert_eq!(
        bounds(&compare["properties"]["threshold"]),
        (json!(0), json!(255))
    );
    client.cancel().await.unwrap();
}

fn jpeg_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../servers/image/tests/fixtures/jpeg")
        .join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Issue 20: a JPEG with no image data is refused, a cut one comes back
/// with a warning, an arithmetic-coded one is refused by name.
#[tokio::test]
async fn broken_and_arithmetic_jpegs_are_refused_or_warned_about() {
    let fx = Fixture::new();
    let client = fx.client(&[]).await;
    let bytes = jpeg_fixture("s420.jpg");
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let header_only = &bytes[..sos + 2 + usize::from(bytes[sos + 3])];
    let message = err(
        &client,
        "transform",
        json!({"data": b64(header_only), "operations": []}),
    )
    .await;
    assert!(message.contains("no image data"), "{message}");

    let cut = &bytes[..bytes.len() / 2];
    let (result, out) = ok(
        &client,
        "transform",
        json!({"data": b64(cut), "operations": [], "format": "png"}),
    )
    .await;
    let warnings = out["source"]["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().contains("truncated"),
        "{warnings:?}"
    );
    assert!(
        text_of(&result).contains("warning: "),
        "{}",
        text_of(&result)
    );
    let (_, out) = ok(&client, "prepare_for_model", json!({"data": b64(cut)})).await;
    assert!(
        out["warnings"][0].as_str().unwrap().contains("truncated"),
        "{out}"
    );
    let (_, out) = ok(
        &client,
        "transform",
        json!({"data": b64(&bytes), "operations": []}),
    )
    .await;
    assert!(out["source"].get("warnings").is_none(), "{out}");

    let arithmetic = jpeg_fixture("arithmetic.jpg");
    let message = err(&client, "image_info", json!({"data": b64(&arithmetic)})).await;
    assert!(
        message.contains("arithmetic coding, which is not supported"),
        "{message}"
    );
    client.cancel().await.unwrap();
}
