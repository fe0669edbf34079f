//! mcp-image beside Pillow (Python, pinned below, installed into
//! target/peers/image/python) and sharp (Node, from the committed
//! xtask/peers/image/package-lock.json, installed into target/peers/image),
//! in one run, on the same generated JPEGs: a 24 MP photo-like image resized
//! to 1024 px wide (Lanczos3) and encoded at quality 85, 256 px thumbnails of
//! 100 images, header-only info, and peak memory.
//!
//! Ours is timed over stdio as a client sees it, reading and writing files by
//! path, with the decoded-image cache off (`--cache-bytes 0`) so every call
//! decodes again; the peers are timed in-process by
//! xtask/peers/image/bench.py and bench.mjs, also reading the file in each
//! timed call (sharp's operation cache is off too). Peak memory is each
//! side's VmHWM / maxrss in a fresh process that did the operation once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::client::{ServerCmd, Session};
use super::text::call;
use super::{BenchArgs, pinned, write_section};
use crate::util::{cargo, exec, npm_ci_pinned, pip_install_pinned, project_root};

/// The Pillow release measured against (sharp's is in package.json).
const PILLOW_VERSION: &str = "12.0.0";
/// Output width of the single-image resize, and of the batch thumbnails.
const WIDTH: u32 = 1024;
const THUMB_WIDTH: u32 = 256;
const QUALITY: u8 = 85;
const BATCH_FILES: usize = 100;
/// Timed calls per operation (the median is reported).
const REPS: [(&str, usize); 6] = [
    ("single", 7),
    ("single_draft", 7),
    ("thumb", 15),
    ("batch", 3),
    ("batch_draft", 3),
    ("info", 30),
];
/// Bump when the generated data changes.
const DATA_VERSION: u32 = 1;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    exec(cargo().args(["build", "--release", "-p", "mcp-image"]))?;
    let data = project_root().join("target/bench-data/image");
    let server = ServerCmd::new(
        "mcp-image",
        project_root().join("target/release/mcp-image"),
        &[
            data.display().to_string(),
            "--cache-bytes".into(),
            "0".into(),
        ],
    );

    eprintln!("xtask: installing Pillow");
    let pillow = install_pillow();
    let site = match &pillow {
        Ok(site) => site.clone(),
        Err(e) => bail!("Pillow is needed to generate the images: {e:#}"),
    };
    generate_data(&site)?;
    let spec = spec();

    eprintln!("xtask: measuring mcp-image");
    let ours = measure_ours(&server)?;

    eprintln!("xtask: measuring Pillow");
    let python = python_cmd(&site);
    let pillow = measure_peer(&python, &spec, &["single", "batch"]).unwrap_or_else(|e| {
        eprintln!("xtask: Pillow unavailable ({e:#})");
        Peer::missing(format!("{e:#}"))
    });

    eprintln!("xtask: measuring sharp");
    let sharp = install_sharp()
        .and_then(|dir| measure_peer(&node_cmd(&dir), &spec, &["single", "batch"]))
        .unwrap_or_else(|e| {
            eprintln!("xtask: sharp unavailable ({e:#})");
            Peer::missing(format!("{e:#}"))
        });

    let table = report(&ours, &pillow, &sharp);
    println!("\n{table}");
    if !args.no_report {
        write_section("4-image", &table)?;
    }
    Ok(())
}

fn data_dir() -> PathBuf {
    project_root().join("target/bench-data/image")
}

fn big() -> PathBuf {
    data_dir().join("big.jpg")
}

fn batch_dir() -> PathBuf {
    data_dir().join("batch")
}

fn thumb_src() -> PathBuf {
    batch_dir().join("img-000.jpg")
}

fn out_dir() -> PathBuf {
    data_dir().join("out")
}

/// What both peer scripts read: the files, the sizes and the repetitions.
fn spec() -> Value {
    json!({
        "big": big().display().to_string(),
        "batch_dir": batch_dir().display().to_string(),
        "thumb_src": thumb_src().display().to_string(),
        "out_dir": out_dir().display().to_string(),
        "width": WIDTH,
        "thumb_width": THUMB_WIDTH,
        "quality": QUALITY,
        "reps": REPS.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
    })
}

/// Ours: median times by op key, peak RSS (KiB) by op key.
#[derive(Default)]
struct Ours {
    times: Vec<(&'static str, Duration)>,
    peaks: Vec<(&'static str, u64)>,
}

/// The tool and arguments for op `key` (the keys of `REPS`).
fn request(key: &str) -> (&'static str, Value) {
    let resize = |width| json!([{"op": "resize", "width": width, "filter": "lanczos3"}]);
    let out = |name: &str| out_dir().join(name).display().to_string();
    match key {
        "single" => (
            "transform",
            json!({
                "path": big().display().to_string(),
                "operations": resize(WIDTH),
                "format": "jpeg",
                "quality": QUALITY,
                "output_path": out("ours-big.jpg"),
                "overwrite": true,
            }),
        ),
        "thumb" => (
            "transform",
            json!({
                "path": thumb_src().display().to_string(),
                "operations": resize(THUMB_WIDTH),
                "format": "jpeg",
                "quality": QUALITY,
                "output_path": out("ours-thumb.jpg"),
                "overwrite": true,
            }),
        ),
        "batch" => (
            "batch_transform",
            json!({
                "input_dir": batch_dir().display().to_string(),
                "pattern": "*.jpg",
                "operations": resize(THUMB_WIDTH),
                "output_dir": out("ours-batch"),
                "format": "jpeg",
                "quality": QUALITY,
                "overwrite": true,
            }),
        ),
        _ => ("image_info", json!({"path": big().display().to_string()})),
    }
}

/// Checks an answer: the output width, or the batch's success count.
fn check(key: &str, result: &Value) -> anyhow::Result<()> {
    let data = result
        .get("structuredContent")
        .context("no structuredContent")?;
    let ok = match key {
        "single" => data.pointer("/output/width").and_then(Value::as_u64) == Some(WIDTH.into()),
        "thumb" => {
            data.pointer("/output/width").and_then(Value::as_u64) == Some(THUMB_WIDTH.into())
        }
        "batch" => data.get("succeeded").and_then(Value::as_u64) == Some(BATCH_FILES as u64),
        _ => data.get("width").and_then(Value::as_u64) == Some(6000),
    };
    if !ok {
        bail!("unexpected answer to {key}: {data}");
    }
    Ok(())
}

fn measure_ours(server: &ServerCmd) -> anyhow::Result<Ours> {
    std::fs::create_dir_all(out_dir())?;
    let mut ours = Ours::default();
    let mut session = Session::start(server)?;
    let mut id = 10;
    for &(key, reps) in &REPS {
        if key.ends_with("_draft") {
            continue;
        }
        let request = request(key);
        let mut times = Vec::with_capacity(reps);
        // One warm-up call (page cache, thread pools), then the timed ones.
        for i in 0..=reps {
            let (time, result) = call(&mut session, &mut id, &request)?
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("mcp-image {key}"))?;
            check(key, &result)?;
            if i > 0 {
                times.push(time);
            }
        }
        times.sort();
        let median = times[times.len() / 2];
        eprintln!("mcp-image: {key}: {:.1} ms", median.as_secs_f64() * 1e3);
        ours.times.push((key, median));
    }
    session.close();
    for key in ["single", "batch"] {
        let mut session = Session::start(server)?;
        let mut id = 10;
        call(&mut session, &mut id, &request(key))?.map_err(anyhow::Error::msg)?;
        ours.peaks
            .push((key, session.peak_rss_kib().context("no VmHWM")?));
        session.close();
    }
    Ok(ours)
}

/// A peer's results: its versions, median times and peaks by op key, or
/// why it did not run.
#[derive(Default)]
struct Peer {
    versions: String,
    times: Vec<(String, Duration)>,
    peaks: Vec<(String, u64)>,
    missing: Option<String>,
}

impl Peer {
    fn missing(why: String) -> Self {
        Self {
            missing: Some(why),
            ..Self::default()
        }
    }

    fn time(&self, key: &str) -> Option<Duration> {
        self.times.iter().find(|(k, _)| k == key).map(|(_, t)| *t)
    }

    fn peak(&self, key: &str) -> Option<u64> {
        self.peaks.iter().find(|(k, _)| k == key).map(|(_, p)| *p)
    }
}

/// Runs `cmd run SPEC`, then `cmd peak OP SPEC` per peak op, each peak in a
/// fresh process.
fn measure_peer(
    cmd: &dyn Fn(&[&str]) -> Command,
    spec: &Value,
    peak_ops: &[&str],
) -> anyhow::Result<Peer> {
    let spec = spec.to_string();
    let run = json_output(cmd(&["run", &spec]))?;
    let mut peer = Peer {
        versions: ["python", "pillow", "node", "sharp", "vips"]
            .iter()
            .filter_map(|k| Some(format!("{k} {}", run.get(*k)?.as_str()?)))
            .collect::<Vec<_>>()
            .join(", "),
        ..Peer::default()
    };
    for (key, seconds) in run
        .get("seconds")
        .and_then(Value::as_object)
        .context("no seconds in the peer's output")?
    {
        let seconds = seconds.as_f64().context("seconds")?;
        peer.times
            .push((key.clone(), Duration::from_secs_f64(seconds)));
    }
    for op in peak_ops {
        let out = json_output(cmd(&["peak", op, &spec]))?;
        if let Some(kib) = out.get("peak_rss_kib").and_then(Value::as_u64) {
            peer.peaks.push((op.to_string(), kib));
        }
    }
    Ok(peer)
}

/// Runs `cmd` (stderr shown) and parses the last line of its stdout.
fn json_output(mut cmd: Command) -> anyhow::Result<Value> {
    let out = cmd.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().context("no output")?;
    serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))
}

fn python_cmd(site: &Path) -> impl Fn(&[&str]) -> Command + use<> {
    let site = site.to_owned();
    let script = project_root().join("xtask/peers/image/bench.py");
    move |args| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script).args(args).env("PYTHONPATH", &site);
        cmd
    }
}

/// Node in target/peers/image, where bench.mjs finds sharp.
fn node_cmd(dir: &Path) -> impl Fn(&[&str]) -> Command + use<> {
    let dir = dir.to_owned();
    let script = project_root().join("xtask/peers/image/bench.mjs");
    move |args| {
        let mut cmd = Command::new("node");
        cmd.arg(&script).args(args).current_dir(&dir);
        cmd
    }
}

fn install_pillow() -> anyhow::Result<PathBuf> {
    let site = project_root().join("target/peers/image/python");
    pip_install_pinned(&site, "pillow", PILLOW_VERSION)?;
    Ok(site)
}

/// sharp and its prebuilt libvips (platform packages in the lock file); no
/// install scripts are needed for a prebuilt platform.
fn install_sharp() -> anyhow::Result<PathBuf> {
    let dir = project_root().join("target/peers/image");
    npm_ci_pinned("xtask/peers/image", &dir)?;
    Ok(dir)
}

/// target/bench-data/image: big.jpg and batch/img-NNN.jpg, written by
/// bench.py (Pillow) once and reused.
fn generate_data(site: &Path) -> anyhow::Result<()> {
    let root = data_dir();
    let marker = root.join(format!(".complete-{DATA_VERSION}"));
    if marker.exists() {
        return Ok(());
    }
    eprintln!("xtask: generating benchmark images in {}", root.display());
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    exec(&mut python_cmd(site)(&[
        "generate",
        &root.display().to_string(),
    ]))?;
    std::fs::write(&marker, "")?;
    Ok(())
}

fn fmt_time(d: Option<Duration>) -> String {
    match d {
        None => String::new(),
        Some(d) => {
            let s = d.as_secs_f64();
            if s < 1e-3 {
                format!("{:.0} us", s * 1e6)
            } else if s < 1.0 {
                format!("{:.1} ms", s * 1e3)
            } else {
                format!("{s:.2} s")
            }
        }
    }
}

fn fmt_mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
        .unwrap_or_default()
}

/// "2.3x" (theirs / ours), or empty.
fn ratio(ours: Option<Duration>, theirs: Option<Duration>) -> Option<f64> {
    Some(theirs?.as_secs_f64() / ours?.as_secs_f64())
}

/// The verdict for `r` against `target` (both as peer time / ours).
fn verdict(r: Option<f64>, target: f64, what: &str, misses: &mut Vec<String>) -> String {
    match r {
        None => "not measured".into(),
        Some(r) if r >= target => format!("met ({r:.2}x)"),
        Some(r) => {
            misses.push(format!(
                "{what}: {r:.2}x of {target}x, ours needs {:.0}% less time",
                (1.0 - r / target) * 100.0
            ));
            format!("**missed** ({r:.2}x of {target}x)")
        }
    }
}

fn report(ours: &Ours, pillow: &Peer, sharp: &Peer) -> String {
    let time = |key: &str| ours.times.iter().find(|(k, _)| *k == key).map(|(_, t)| *t);
    let peak = |key: &str| ours.peaks.iter().find(|(k, _)| *k == key).map(|(_, p)| *p);
    let mut t = format!(
        "## Image: mcp-image beside Pillow and sharp{}\n\n",
        if pinned() { " (pinned)" } else { "" }
    );
    let versions = |p: &Peer| match &p.missing {
        Some(why) => format!("not run ({})", why.replace('\n', " ")),
        None => p.versions.clone(),
    };
    t.push_str(&format!(
        "Pillow: {}. sharp: {}. Generated photo-like JPEGs (quality 90): one 6000x4000 (24 MP), \
         and {BATCH_FILES} at 2000x1500. *single*: decode, resize to {WIDTH} px wide (Lanczos3), \
         encode JPEG quality {QUALITY}, write the file; *thumbnail*: the same to {THUMB_WIDTH} px \
         wide from one 2000x1500 image; *batch*: thumbnails of all {BATCH_FILES} (ours: one \
         `batch_transform` call; sharp: all at once with `Promise.all`; Pillow: one after the \
         other in one process); *info*: dimensions from the header of the 24 MP file (ours: \
         `image_info`, which also reads EXIF; Pillow: `Image.open().size`; sharp: `metadata()`). \
         Medians of {} calls. Ours is the whole call over stdio with the decode cache off \
         (`--cache-bytes 0`); the peers are timed in-process. Ours and sharp decode a large \
         downscale at a reduced JPEG scale by themselves; Pillow does only when asked \
         (`draft`, its own row). Peak memory: the process's peak RSS after doing the \
         operation once in a fresh process. *x* columns are the peer's time over ours.\n\n",
        versions(pillow),
        versions(sharp),
        REPS.iter()
            .map(|(k, n)| format!("{n} ({k})"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    t.push_str("| operation | mcp-image | Pillow | Pillow draft | sharp | vs Pillow | vs Pillow draft | vs sharp |\n");
    t.push_str("|---|---|---|---|---|---|---|---|\n");
    let rows = [
        (
            "single: 24 MP JPEG to 1024 px, q85",
            "single",
            Some("single_draft"),
        ),
        ("thumbnail: 2000x1500 JPEG to 256 px", "thumb", None),
        ("batch: 100 thumbnails", "batch", Some("batch_draft")),
        ("info: 24 MP header", "info", None),
    ];
    let show_ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}x")).unwrap_or_default();
    for (label, key, draft) in rows {
        let p_draft = draft.and_then(|d| pillow.time(d));
        t.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} |\n",
            fmt_time(time(key)),
            fmt_time(pillow.time(key)),
            fmt_time(p_draft),
            fmt_time(sharp.time(key)),
            show_ratio(ratio(time(key), pillow.time(key))),
            show_ratio(ratio(time(key), p_draft)),
            show_ratio(ratio(time(key), sharp.time(key))),
        ));
    }
    for (label, key) in [
        ("peak memory, single", "single"),
        ("peak memory, batch", "batch"),
    ] {
        t.push_str(&format!(
            "| {label} | {} | {} | | {} | | | |\n",
            fmt_mib(peak(key)),
            fmt_mib(pillow.peak(key)),
            fmt_mib(sharp.peak(key)),
        ));
    }

    let mut misses = Vec::new();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let scaling = match (time("thumb"), time("batch")) {
        (Some(one), Some(all)) => Some(one.as_secs_f64() * BATCH_FILES as f64 / all.as_secs_f64()),
        _ => None,
    };
    t.push_str("\nTargets:\n\n");
    t.push_str(&format!(
        "- single, at least 3x Pillow's plain path: {}\n",
        verdict(
            ratio(time("single"), pillow.time("single")),
            3.0,
            "single vs Pillow",
            &mut misses
        )
    ));
    t.push_str(&format!(
        "- single, at least on par with sharp: {}\n",
        verdict(
            ratio(time("single"), sharp.time("single")),
            1.0,
            "single vs sharp",
            &mut misses
        )
    ));
    t.push_str(&format!(
        "- thumbnail, at least on par with sharp: {}\n",
        verdict(
            ratio(time("thumb"), sharp.time("thumb")),
            1.0,
            "thumbnail vs sharp",
            &mut misses
        )
    ));
    t.push_str(&format!(
        "- batch scales with cores ({cores} here): {} thumbnails one call at a time would take \
         {}; the batch took {}, {}\n",
        BATCH_FILES,
        fmt_time(time("thumb").map(|d| d * BATCH_FILES as u32)),
        fmt_time(time("batch")),
        match scaling {
            Some(s) => format!(
                "a speed-up of {s:.2}x on {cores} cores ({:.0}% of linear)",
                s / cores as f64 * 100.0
            ),
            None => "not measured".into(),
        }
    ));
    if !misses.is_empty() {
        t.push_str(&format!("\nTargets missed: {}.\n", misses.join("; ")));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_builds_a_request() {
        for (key, _) in REPS {
            let (tool, args) = request(key);
            assert!(["transform", "batch_transform", "image_info"].contains(&tool));
            assert!(args.get("path").or(args.get("input_dir")).is_some());
        }
        let (_, args) = request("single");
        assert_eq!(args["operations"][0]["width"], json!(WIDTH));
        assert_eq!(args["operations"][0]["filter"], json!("lanczos3"));
    }

    #[test]
    fn answers_are_checked() {
        let ok = json!({"structuredContent": {"output": {"width": WIDTH}}});
        assert!(check("single", &ok).is_ok());
        assert!(check("thumb", &ok).is_err());
        let batch = json!({"structuredContent": {"succeeded": BATCH_FILES}});
        assert!(check("batch", &batch).is_ok());
    }

    #[test]
    fn a_missed_target_says_by_how_much() {
        let mut misses = Vec::new();
        assert_eq!(verdict(Some(3.5), 3.0, "x", &mut misses), "met (3.50x)");
        assert!(verdict(Some(1.5), 3.0, "x", &mut misses).contains("missed"));
        assert_eq!(misses, ["x: 1.50x of 3x, ours needs 50% less time"]);
    }
}
