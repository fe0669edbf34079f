#!/usr/bin/env python3
"""Differential corpus run: mcp-image's `transform` against libjpeg-turbo.

Generates a deterministic corpus of JPEGs made by libjpeg-turbo's `cjpeg`,
`jpegtran` and Pillow (never by mcp-image's own encoder), asks the release
binary over MCP stdio to resize each one to targets chosen so that every
decode path runs (full size, and the DCT-scaled 1/2, 1/4, 1/8), and compares
each PNG result with a reference: `djpeg` (at the scale the server uses) then
Pillow's Lanczos resize of the picture's true extent to the same size.

    run.py --binary target/release/mcp-image --out after.json [--quick]
    run.py --compare before.json after.json        # markdown tables

Needs python3 with Pillow and numpy, and cjpeg/djpeg/jpegtran
(Debian: libjpeg-turbo-progs). See README.md beside this file.
"""
import argparse
import hashlib
import inspect
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
VERSION = 1  # bump when recipes or generators change (the corpus is rebuilt)

# ---------------------------------------------------------------- sources


def photo(w, h, seed):
    """Photo-like: smooth colour fields at several scales, a gradient, hard
    edged shapes, a patch of fine stripes, and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    span = float(max(8, min(w, h)))
    img = np.zeros((h, w, 3), np.float32)
    # colour: broad fields (periods of the picture's size) and a gradient
    for c in range(3):
        ch = np.full((h, w), 128.0, np.float32)
        for period in (span / 1.2, span / 3.0):
            fx, fy = rng.uniform(-1, 1, 2)
            phase = rng.uniform(0, 2 * math.pi)
            ch += rng.uniform(25, 55) * np.sin((fx * x + fy * y) * (2 * math.pi / period) + phase)
        ch += rng.uniform(-40, 40) * (x / max(1, w - 1) - 0.5)
        img[..., c] = ch
    # texture, mostly in brightness as in photos: two waves of 9-40 px
    for period in (rng.uniform(20, 40), rng.uniform(9, 16)):
        fx, fy = rng.uniform(-1, 1, 2)
        wave = rng.uniform(8, 20) * np.sin((fx * x + fy * y) * (2 * math.pi / period))
        img += wave[..., None] * rng.uniform(0.8, 1.2, 3).astype(np.float32)
    # hard-edged shapes (rectangles and discs of flat or shaded colour)
    for _ in range(6):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.25) * span
        col = rng.uniform(0, 255, 3).astype(np.float32)
        if rng.random() < 0.5:
            m = (np.abs(x - cx) < r) & (np.abs(y - cy) < r * rng.uniform(0.3, 1.5))
        else:
            m = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[m] = col * 0.8 + img[m] * 0.2
    # fine stripes (period 3-6 px) in one region: aliasing-sensitive detail
    x0, x1 = int(w * 0.55), int(w * 0.8)
    y0, y1 = int(h * 0.1), int(h * 0.35)
    if x1 > x0 and y1 > y0:
        period = rng.uniform(3, 6)
        img[y0:y1, x0:x1] += (60 * np.sin(x[y0:y1, x0:x1] * 2 * math.pi / period))[..., None]
    img += rng.normal(0, rng.uniform(2, 6), (h, w, 1)).astype(np.float32)
    img += rng.normal(0, 2, (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def text(w, h, seed):
    """Screenshot-like: dark blue 1-px strokes ("glyphs") on white, as
    tests/fixtures/jpeg/make_sources.py draws them."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 255, np.uint8)
    ink = np.array([20, 20, 90], np.uint8)
    for top in range(4, h - 12, 14):
        x = 4
        while x < w - 8:
            gw = int(rng.integers(4, 8))
            for _ in range(3):
                if rng.random() < 0.5:
                    xx = x + int(rng.integers(0, gw))
                    img[top:top + 9, xx] = ink
                else:
                    yy = top + int(rng.choice([0, 4, 8]))
                    img[yy, x:x + gw] = ink
            x += gw + 2
            if rng.random() < 0.15:
                x += 5
    return Image.fromarray(img, "RGB")


def checker(w, h, cell, a=(255, 0, 0), b=(0, 0, 255)):
    y, x = np.mgrid[0:h, 0:w]
    m = ((x // cell) + (y // cell)) % 2 == 0
    img = np.where(m[..., None], np.array(a, np.uint8), np.array(b, np.uint8))
    return Image.fromarray(img.astype(np.uint8), "RGB")


def make_source(spec):
    kind = spec[0]
    if kind == "photo":
        return photo(*spec[1:])
    if kind == "text":
        return text(*spec[1:])
    if kind == "checker":
        return checker(*spec[1:])
    raise ValueError(spec)


# ---------------------------------------------------------------- recipes

SAMPLE = {"444": "1x1", "422": "2x1", "420": "2x2", "440": "1x2", "411": "4x1",
          "410": "4x2", "441": "1x4"}
SCANS_0_1_2 = "0;\n1;\n2;\n"
SCANS_0_12 = "0;\n1 2;\n"
# A progressive script of spectral selection only (no successive approximation).
SCANS_SPECTRAL = "0 1 2: 0 0 0 0;\n0: 1 5 0 0;\n2: 1 63 0 0;\n1: 1 63 0 0;\n0: 6 63 0 0;\n"


def recipes():
    """Every corpus file: name -> dict(source, encoder, options, classes)."""
    out = []

    def add(name, source, enc, sampling, layout, quality, exif=None, **extra):
        out.append(dict(name=name, source=list(source), enc=enc, sampling=sampling,
                        layout=layout, quality=quality, exif=exif, **extra))

    def cj(name, source, sampling, layout, quality, extra=(), exif=None, scans=None, **more):
        args = ["-quality", str(quality)]
        args += ["-grayscale"] if sampling == "grey" else (
            ["-rgb"] if sampling == "rgb" else ["-sample", SAMPLE[sampling]])
        args += {"baseline": [], "progressive": ["-progressive"], "restart": ["-restart", "1"],
                 "optimized": ["-optimize"], "separate-scans": []}[layout]
        args += list(extra)
        if layout == "separate-scans" and scans is None:
            scans = SCANS_0_1_2
        add(name, source, "cjpeg", sampling, layout, quality, exif, args=args, scans=scans, **more)

    qualities = [75, 90, 50, 95, 85, 30, 100, 60]
    # 1. sampling x layout, on two odd sizes (50 files)
    i = 0
    for sampling in ["444", "422", "420", "440", "411"]:
        for layout in ["baseline", "progressive", "restart", "optimized", "separate-scans"]:
            for (w, h) in [(803, 411), (1023, 769)]:
                q = qualities[i % len(qualities)]
                scans = SCANS_0_12 if (layout == "separate-scans" and w == 1023) else None
                cj(f"m_{sampling}_{layout}_{w}x{h}_q{q}", ("photo", w, h, 100 + i),
                   sampling, layout, q, scans=scans)
                i += 1
    # 2. greyscale x layout (8)
    for layout in ["baseline", "progressive", "restart", "optimized"]:
        for (w, h) in [(333, 250), (1001, 999)]:
            q = qualities[i % len(qualities)]
            cj(f"m_grey_{layout}_{w}x{h}_q{q}", ("photo", w, h, 100 + i), "grey", layout, q)
            i += 1
    # 3. quality sweep, 4:2:0 and 4:4:4 baseline (14)
    for q in [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]:
        cj(f"q_420_1001x999_q{q}", ("photo", 1001, 999, 300 + q), "420", "baseline", q)
    for q in [10, 50, 100]:
        cj(f"q_444_333x250_q{q}", ("photo", 333, 250, 400 + q), "444", "baseline", q)
    # 4. tiny and block-edge sizes (13)
    tiny = [((1, 1), "420"), ((1, 1), "444"), ((1, 1), "grey"), ((2, 2), "420"),
            ((3, 5), "422"), ((7, 5), "411"), ((8, 8), "420"), ((9, 9), "440"),
            ((15, 17), "420"), ((16, 16), "444"), ((17, 17), "420"), ((31, 33), "422"),
            ((67, 45), "411")]
    for n, ((w, h), sampling) in enumerate(tiny):
        cj(f"t_{sampling}_{w}x{h}", ("photo", w, h, 500 + n), sampling, "baseline", 90)
    # 5. more restart and scan variants (6)
    cj("v_420_restart1block_803x411", ("photo", 803, 411, 601), "420", "restart", 85,
       extra=["-restart", "1B"])
    cj("v_422_restart7block_1001x999", ("photo", 1001, 999, 602), "422", "restart", 80,
       extra=["-restart", "7B"])
    cj("v_420_progressive_restart_1023x769", ("photo", 1023, 769, 603), "420", "progressive",
       85, extra=["-restart", "2"])
    cj("v_420_spectral_scans_803x411", ("photo", 803, 411, 604), "420", "progressive", 85,
       scans=SCANS_SPECTRAL)
    cj("v_440_scans_0_12_333x250", ("photo", 333, 250, 605), "440", "separate-scans", 90,
       scans=SCANS_0_12)
    cj("v_411_scans_optimize_1001x999", ("photo", 1001, 999, 606), "411", "separate-scans",
       75, extra=["-optimize"])
    # 6. unusual samplings and an RGB-coded file (3)
    cj("x_410_1023x769", ("photo", 1023, 769, 701), "410", "baseline", 85)
    cj("x_441_803x411", ("photo", 803, 411, 702), "441", "baseline", 85)
    cj("x_rgb_333x250", ("photo", 333, 250, 703), "rgb", "baseline", 90)
    # 7. large (6)
    cj("l_420_4000x3000_q85", ("photo", 4000, 3000, 801), "420", "baseline", 85)
    cj("l_420_progressive_4000x3000_q80", ("photo", 4000, 3000, 802), "420", "progressive", 80)
    cj("l_444_optimized_4000x3000_q95", ("photo", 4000, 3000, 803), "444", "optimized", 95)
    cj("l_422_restart_2592x1944_q92", ("photo", 2592, 1944, 804), "422", "restart", 92,
       extra=["-restart", "4"])
    cj("l_grey_2000x1500_q85", ("photo", 2000, 1500, 805), "grey", "baseline", 85)
    add("l_pillow_420_exif6_3000x4000_q90", ("photo", 3000, 4000, 806), "pillow", "420",
        "baseline", 90, exif=6, subsampling=2)
    # 8. EXIF orientation: Pillow-written 1..8, and two cjpeg files with an APP1 spliced in (10)
    for o in range(1, 9):
        add(f"e_pillow_420_exif{o}_803x411_q85", ("photo", 803, 411, 900 + o), "pillow", "420",
            "baseline", 85, exif=o, subsampling=2)
    cj("e_420_progressive_exif6_1001x999", ("photo", 1001, 999, 910), "420", "progressive", 85,
       exif=6)
    cj("e_444_exif8_333x250", ("photo", 333, 250, 911), "444", "baseline", 90, exif=8)
    # 9. text-like (6)
    cj("s_text_420_1023x769_q85", ("text", 1023, 769, 1001), "420", "baseline", 85)
    cj("s_text_444_1023x769_q90", ("text", 1023, 769, 1002), "444", "baseline", 90)
    cj("s_text_422_1023x769_q75", ("text", 1023, 769, 1003), "422", "baseline", 75)
    cj("s_text_grey_1023x769_q85", ("text", 1023, 769, 1004), "grey", "baseline", 85)
    cj("s_text_420_progressive_1023x769_q80", ("text", 1023, 769, 1005), "420", "progressive", 80)
    cj("s_text_420_640x360_q95", ("text", 640, 360, 1006), "420", "baseline", 95)
    # 10. checkerboards: the red/blue 333x250, 20 px cells, q95 4:2:0, and kin (5)
    cj("c_checker_420_333x250_q95", ("checker", 333, 250, 20), "420", "baseline", 95,
       widths=[41])
    cj("c_checker_444_333x250_q95", ("checker", 333, 250, 20), "444", "baseline", 95)
    cj("c_checker_422_333x250_q95", ("checker", 333, 250, 20), "422", "baseline", 95)
    cj("c_checker_420_progressive_333x250_q95", ("checker", 333, 250, 20), "420", "progressive",
       95)
    add("c_checker_bw7_420_1001x999_q90", ("checker", 1001, 999, 7, (0, 0, 0), (255, 255, 255)),
        "cjpeg", "420", "baseline", 90, args=["-quality", "90", "-sample", "2x2"], scans=None)
    # 11. Pillow-made photos (4)
    add("p_pillow_420_1023x769_q75", ("photo", 1023, 769, 1101), "pillow", "420", "baseline", 75,
        subsampling=2)
    add("p_pillow_444_1023x769_q95", ("photo", 1023, 769, 1102), "pillow", "444", "baseline", 95,
        subsampling=0)
    add("p_pillow_420_progressive_1023x769_q85", ("photo", 1023, 769, 1103), "pillow", "420",
        "progressive", 85, subsampling=2, progressive=True, optimize=True)
    add("p_pillow_422_optimized_803x411_q85", ("photo", 803, 411, 1104), "pillow", "422",
        "optimized", 85, subsampling=1, optimize=True)
    # 12. sizes a multiple of 16: the largest width of each reduced path is
    # the reduced size itself, so the server's output is its raw decode (4)
    cj("r_text_grey_1024x768_q85", ("text", 1024, 768, 1301), "grey", "baseline", 85)
    cj("r_text_444_1024x768_q90", ("text", 1024, 768, 1302), "444", "baseline", 90)
    cj("r_444_1024x768_q90", ("photo", 1024, 768, 1303), "444", "baseline", 90)
    cj("r_420_1024x768_q90", ("photo", 1024, 768, 1304), "420", "baseline", 90)
    # 13. jpegtran's lossless rewrites of a cjpeg baseline 4:2:0 file (3)
    base = ("photo", 803, 411, 1201)
    for name, layout, targs in [("j_420_to_progressive_803x411", "progressive", ["-progressive"]),
                                ("j_420_to_restart2_803x411", "restart", ["-restart", "2"]),
                                ("j_420_to_optimized_803x411", "optimized",
                                 ["-optimize", "-copy", "none"])]:
        add(name, base, "jpegtran", "420", layout, 85,
            args=["-quality", "85", "-sample", "2x2"], targs=targs)
    return out


# ---------------------------------------------------------------- corpus


def exif_app1(orientation):
    """An APP1 EXIF segment holding only the orientation tag (little endian)."""
    tiff = (b"II*\0\x08\0\0\0" + b"\x01\0" + b"\x12\x01\x03\0\x01\0\0\0"
            + orientation.to_bytes(2, "little") + b"\0\0" + b"\0\0\0\0")
    body = b"Exif\0\0" + tiff
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def splice_exif(data, orientation):
    """Inserts an EXIF APP1 after SOI and a leading JFIF APP0."""
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos = 4 + int.from_bytes(data[4:6], "big")
    return data[:pos] + exif_app1(orientation) + data[pos:]


def build_one(r, dst, tmp):
    src = make_source(r["source"])
    ppm = tmp / (r["name"] + ".ppm")
    if r["enc"] == "pillow":
        kw = dict(quality=r["quality"], subsampling=r.get("subsampling", 2),
                  progressive=r.get("progressive", False), optimize=r.get("optimize", False))
        if r["exif"]:
            ex = Image.Exif()
            ex[0x0112] = r["exif"]
            kw["exif"] = ex.tobytes()
        src.save(dst, "JPEG", **kw)
        return
    src.save(ppm)
    args = list(r["args"])
    if r.get("scans"):
        sf = tmp / (r["name"] + ".scans")
        sf.write_text(r["scans"])
        args += ["-scans", str(sf)]
    if r["enc"] == "cjpeg":
        subprocess.run(["cjpeg", *args, "-outfile", str(dst), str(ppm)], check=True)
    else:  # jpegtran over a cjpeg file
        mid = tmp / (r["name"] + ".mid.jpg")
        subprocess.run(["cjpeg", *args, "-outfile", str(mid), str(ppm)], check=True)
        subprocess.run(["jpegtran", *r["targs"], "-outfile", str(dst), str(mid)], check=True)
    if r["exif"]:
        dst.write_bytes(splice_exif(dst.read_bytes(), r["exif"]))
    ppm.unlink()


def tool_versions():
    v = subprocess.run(["cjpeg", "-version"], capture_output=True, text=True)
    import PIL
    return {"libjpeg-turbo": (v.stderr or v.stdout).strip().splitlines()[0],
            "Pillow": PIL.__version__, "numpy": np.__version__}


def build_corpus(work, needed, log):
    """Writes the `needed` recipes' files under work/corpus. The corpus is
    rebuilt when the generators or the tool versions change (STAMP holds
    their hash), a file when its recipe changes (NAME.recipe beside it)."""
    corpus = work / "corpus"
    code = "".join(inspect.getsource(f) for f in
                   (photo, text, checker, make_source, exif_app1, splice_exif, build_one))
    stamp = hashlib.sha256(json.dumps([VERSION, tool_versions(), code],
                                      sort_keys=True).encode()).hexdigest()
    stamp_file = corpus / "STAMP"
    if corpus.exists() and (not stamp_file.exists() or stamp_file.read_text() != stamp):
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(stamp)

    def current(r):
        side = corpus / (r["name"] + ".recipe")
        return ((corpus / (r["name"] + ".jpg")).exists() and side.exists()
                and side.read_text() == json.dumps(r, sort_keys=True))

    missing = [r for r in needed if not current(r)]
    if not missing:
        return corpus
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for r in missing:
            part = corpus / (r["name"] + ".part")
            build_one(r, part, Path(tmp))
            part.rename(corpus / (r["name"] + ".jpg"))
            (corpus / (r["name"] + ".recipe")).write_text(json.dumps(r, sort_keys=True))
    log(f"corpus: made {len(missing)} files in {time.time() - t0:.1f} s -> {corpus}")
    return corpus


# ---------------------------------------------------------------- paths and sizes

SWAPS = {5, 6, 7, 8}


def rust_round(v):
    return int(math.floor(v + 0.5))  # f64::round for positive values


def target_size(ow, oh, width):
    """ops::resize_target for a width-only resize of an (oriented) ow x oh."""
    return width, max(1, rust_round(oh * width / ow))


def dct_scale(w, h, hint):
    """DctScale::covering: eighths (1, 2, 4) or 8 for a full-size decode."""
    for s in (1, 2, 4):
        if -(-w * s // 8) >= hint[0] and -(-h * s // 8) >= hint[1]:
            return s
    return 8


def jpeg_layout(data):
    """(SOF marker, [(h, v) per component]) from a JPEG's frame header."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF):
            n = data[pos + 9]
            comps = [(data[pos + 11 + 3 * i] >> 4, data[pos + 11 + 3 * i] & 15)
                     for i in range(n)]
            return marker, comps
        pos += 2 + length
    return None, []


# The server's choice of DCT scale for a target, by version (--rule):
#   covering: the strongest scale that covers the target (b7b6c34 .. c0e77f3).
#   weaker-420: the same, but one scale weaker (1/2 becomes full size) for
#     files subsampled both ways (4:2:0, 4:1:0) that jpeg-decoder scales, not
#     ours (progressive, sampling factors above 2) (82c8636, Layout::scaled_here
#     and chroma_subsampled_both_ways).
RULES = ("covering", "weaker-420")


def rule_scale(rule, covering, layout):
    if rule == "covering" or covering == 8:
        return covering
    sof, comps = layout
    scaled_here = (sof in (0xC0, 0xC1) and len(comps) in (1, 3)
                   and all(1 <= h <= 2 and 1 <= v <= 2 for h, v in comps))
    hmax = max((h for h, _ in comps), default=1)
    vmax = max((v for _, v in comps), default=1)
    both_ways = len(comps) >= 3 and any(h and v and hmax // h >= 2 and vmax // v >= 2
                                         for h, v in comps)
    return covering * 2 if both_ways and not scaled_here else covering


def plan(w, h, orientation):
    """(covering scale, target size) for each target width."""
    swapped = orientation in SWAPS
    ow, oh = (h, w) if swapped else (w, h)

    def path(width):
        tw, th = target_size(ow, oh, width)
        hint = (th, tw) if swapped else (tw, th)
        return dct_scale(w, h, hint), (tw, th)

    return ow, oh, path


def choose_widths(w, h, orientation, extra=(), rule="covering", layout=(None, [])):
    """Target widths so that every decode path the size allows runs: a full
    decode (about 0.7 of the width), the largest width decoded at 1/2, at
    1/4 and at 1/8 (hardest: the partial last block is most of a pixel), and
    a thumbnail width at 1/8 (all by the covering rule)."""
    ow, oh, path = plan(w, h, orientation)
    by_scale = {}
    for width in range(ow, 0, -1):
        s = path(width)[0]
        by_scale.setdefault(s, width)
    picks = []
    full = max(1, round(ow * 0.7))
    if path(full)[0] != 8:
        full = by_scale.get(8)
    if full:
        picks.append(full)
    for s in (4, 2, 1):
        if s in by_scale:
            picks.append(by_scale[s])
    thumb = max(1, ow // 20)
    if path(thumb)[0] == 1:
        picks.append(thumb)
    picks += list(extra)
    seen, out = set(), []
    for p in picks:
        if p not in seen:
            seen.add(p)
            out.append(p)
    # Widths come from the covering rule (the same requests for every
    # binary); the scale the binary then decodes at from its own rule.
    return [(p, rule_scale(rule, path(p)[0], layout), path(p)[1]) for p in out]


PATH_NAME = {8: "full", 4: "1/2", 2: "1/4", 1: "1/8"}

# ---------------------------------------------------------------- reference

TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


def map_box(box, dims, orientation):
    """Where the box (l, t, r, b) of an image of dims lands after the
    orientation's transpose (Pillow's exif_transpose mapping)."""
    dw, dh = dims
    l, t, r, b = box
    f = {1: lambda x, y: (x, y), 2: lambda x, y: (dw - x, y), 3: lambda x, y: (dw - x, dh - y),
         4: lambda x, y: (x, dh - y), 5: lambda x, y: (y, x), 6: lambda x, y: (dh - y, x),
         7: lambda x, y: (dh - y, dw - x), 8: lambda x, y: (y, dw - x)}[orientation]
    pts = [f(l, t), f(r, b)]
    return (min(p[0] for p in pts), min(p[1] for p in pts),
            max(p[0] for p in pts), max(p[1] for p in pts))


def djpeg(path, scale, tmp):
    out = tmp / f"ref_{scale}.pnm"
    args = ["djpeg", "-pnm"] + ([] if scale == 8 else ["-scale", f"{scale}/8"])
    subprocess.run(args + ["-outfile", str(out), str(path)], check=True)
    img = Image.open(out)
    img.load()
    return img


def reference(decoded, full, scale, orientation, size):
    """Pillow Lanczos from the true extent (full * scale/8) of a djpeg decode."""
    box = (0.0, 0.0, full[0] * scale / 8, full[1] * scale / 8)
    img = decoded
    if orientation in TRANSPOSE:
        box = map_box(box, img.size, orientation)
        img = img.transpose(TRANSPOSE[orientation])
    if img.size == size and box == (0, 0, *img.size):
        return img.convert("RGB")
    return img.resize(size, Image.Resampling.LANCZOS, box=box).convert("RGB")


def psnr(a, b):
    x = np.asarray(a.convert("RGB"), np.float64)
    y = np.asarray(b.convert("RGB"), np.float64)
    mse = float(np.mean((x - y) ** 2))
    return 100.0 if mse == 0 else min(100.0, 10 * math.log10(255.0 ** 2 / mse))


# ---------------------------------------------------------------- MCP client


class Server:
    def __init__(self, binary, root, stderr):
        self.p = subprocess.Popen([str(binary), str(root)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr)
        self.next_id = 0
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "jpeg-corpus", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg).encode() + b"\n")
        self.p.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"server closed stdout (exit {self.p.poll()})")
            msg = json.loads(line)
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def transform(server, path, ops, out_path):
    res = server.request("tools/call", {"name": "transform", "arguments": {
        "path": str(path), "operations": ops, "format": "png", "output_path": str(out_path),
        "overwrite": True, "return_image": False}})
    if res.get("isError"):
        text = " ".join(c.get("text", "") for c in res.get("content", []))
        raise RuntimeError(text.strip())
    return res


# ---------------------------------------------------------------- run


def git_describe(binary):
    """The commit of the checkout the binary sits in, when it is one."""
    d = Path(binary).resolve().parent
    while d != d.parent:
        if (d / ".git").exists() or (d / "Cargo.lock").exists():
            break
        d = d.parent
    r = subprocess.run(["git", "-C", str(d), "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def run(args):
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    work = Path(args.work).resolve()
    rs = recipes()
    names = [r["name"] for r in rs]
    assert len(names) == len(set(names)), "duplicate recipe names"
    if args.quick:
        rs = [r for i, r in enumerate(rs)
              if (i % 4 == 0 and not r["name"].startswith("l_")) or r["name"].startswith("c_")]
    if args.only:
        rs = [r for r in rs if any(s in r["name"] for s in args.only.split(","))]
    corpus = build_corpus(work, rs, log)
    outdir = work / "out"
    outdir.mkdir(parents=True, exist_ok=True)
    binary = Path(args.binary).resolve()
    results = []
    t0 = time.time()
    with open(work / "server.log", "wb") as err, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = Server(binary, work, err)
        tools = server.request("tools/list", {})
        assert any(t["name"] == "transform" for t in tools["tools"]), "no transform tool"
        for n, r in enumerate(rs):
            path = corpus / (r["name"] + ".jpg")
            with Image.open(path) as im:
                full = im.size
            orientation = r["exif"] or 1
            refs = {}
            layout = jpeg_layout(path.read_bytes()[:65536])
            for width, scale, size in choose_widths(*full, orientation, r.get("widths", ()),
                                                    args.rule, layout):
                ops = ([{"op": "auto_orient"}] if r["exif"] else []) + [
                    {"op": "resize", "width": width}]
                entry = dict(file=r["name"], sampling=r["sampling"], layout=r["layout"],
                             kind=r["source"][0], quality=r["quality"], exif=r["exif"],
                             full=list(full), width=width, path=PATH_NAME[scale],
                             expected=list(size))
                out_png = outdir / f"{r['name']}.w{width}.png"
                try:
                    t = time.time()
                    transform(server, path, ops, out_png)
                    entry["seconds"] = round(time.time() - t, 3)
                    with Image.open(out_png) as got:
                        got.load()
                    entry["got"] = list(got.size)
                    entry["size_ok"] = got.size == size
                    if entry["size_ok"]:
                        for c in {scale, 8}:
                            if c not in refs:
                                refs[c] = djpeg(path, c, tmp)
                        ref = reference(refs[scale], full, scale, orientation, size)
                        entry["psnr"] = round(psnr(got, ref), 3)
                        if scale != 8:
                            ref_full = reference(refs[8], full, 8, orientation, size)
                            entry["psnr_vs_full_ref"] = round(psnr(got, ref_full), 3)
                            entry["ref_scaled_vs_full_ref"] = round(psnr(ref, ref_full), 3)
                        else:
                            entry["psnr_vs_full_ref"] = entry["psnr"]
                    else:
                        entry["psnr"] = None
                except Exception as e:  # noqa: BLE001 - recorded per call
                    entry["error"] = str(e)[:500]
                    entry["size_ok"] = False
                    entry["psnr"] = None
                results.append(entry)
                if not args.keep and out_png.exists():
                    out_png.unlink()
            refs.clear()
            if (n + 1) % 10 == 0 or n + 1 == len(rs):
                log(f"{n + 1}/{len(rs)} files, {len(results)} calls, {time.time() - t0:.0f} s")
        server.close()
    report = dict(binary=str(binary), label=args.label or git_describe(binary), rule=args.rule,
                  tools=tool_versions(), quick=bool(args.quick), seconds=round(time.time() - t0),
                  files=len(rs), recipes={r["name"]: recipe_text(r) for r in rs},
                  results=results)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        log(f"wrote {args.out}")
    print(markdown([report]))


def recipe_text(r):
    """How to make the file again, in words and commands."""
    s = r["source"]
    src = {"photo": lambda: f"photo {s[1]}x{s[2]} seed {s[3]}",
           "text": lambda: f"text {s[1]}x{s[2]} seed {s[3]}",
           "checker": lambda: f"checker {s[1]}x{s[2]} cell {s[3]}"
           + (f" {tuple(s[4])}/{tuple(s[5])}" if len(s) > 4 else " red/blue")}[s[0]]()
    if r["enc"] == "pillow":
        how = (f"Pillow save quality={r['quality']} subsampling={r.get('subsampling', 2)}"
               f"{' progressive' if r.get('progressive') else ''}"
               f"{' optimize' if r.get('optimize') else ''}")
    else:
        how = "cjpeg " + " ".join(r["args"])
        if r.get("scans"):
            how += " -scans '" + r["scans"].replace("\n", " ").strip() + "'"
        if r["enc"] == "jpegtran":
            how += " | jpegtran " + " ".join(r["targs"])
    if r["exif"]:
        how += f", EXIF orientation {r['exif']}"
    return f"{src}: {how}"


# ---------------------------------------------------------------- report

SAMPLING_ORDER = ["444", "422", "420", "440", "411", "grey", "410", "441", "rgb"]
LAYOUT_ORDER = ["baseline", "progressive", "restart", "optimized", "separate-scans"]
PATH_ORDER = ["full", "1/2", "1/4", "1/8"]
SCALE_OF = {"full": 8, "1/2": 4, "1/4": 2, "1/8": 1}


def tiny(e):
    return max(e["full"]) < 64


def decoder_only(e):
    """The resize after a reduced decode is the identity: the output is the
    server's decode itself (the size a multiple of 8 / scale, the target the
    reduced size)."""
    s = SCALE_OF[e["path"]]
    w, h = e["full"]
    if s == 8 or (w * s) % 8 or (h * s) % 8:
        return False
    dims = (w * s // 8, h * s // 8)
    if e.get("exif") in SWAPS:
        dims = dims[::-1]
    return tuple(e["expected"]) == dims


def groups():
    """(section, class name, predicate) for every row of the tables."""
    rows = []
    for s in SAMPLING_ORDER:
        rows.append(("sampling", s, lambda e, s=s: e["sampling"] == s))
    for lay in LAYOUT_ORDER:
        rows.append(("layout", lay, lambda e, lay=lay: e["layout"] == lay))
    for p in PATH_ORDER:
        rows.append(("path", p, lambda e, p=p: e["path"] == p))
    photo_ = lambda e: e["kind"] == "photo" and not tiny(e)  # noqa: E731
    rows += [
        ("kind", "photo-like, full", lambda e: photo_(e) and e["path"] == "full"),
        ("kind", "photo-like, reduced (1/2, 1/4, 1/8)",
         lambda e: photo_(e) and e["path"] != "full"),
        ("kind", "photo-like 4:2:0, reduced",
         lambda e: photo_(e) and e["path"] != "full" and e["sampling"] == "420"),
        ("kind", "photo-like, not 4:2:0, reduced",
         lambda e: photo_(e) and e["path"] != "full" and e["sampling"] != "420"),
        ("kind", "tiny (< 64 px)", tiny),
        ("kind", "text-like", lambda e: e["kind"] == "text"),
        ("kind", "checkerboards", lambda e: e["kind"] == "checker"),
        ("kind", "EXIF-oriented (auto_orient first)", lambda e: bool(e["exif"])),
        ("kind", "decoder only (reduced, no resize after)", decoder_only),
        ("kind", "4:2:0 red/blue checker 333x250 q95 -> 41 px (1/8)",
         lambda e: e["file"] == "c_checker_420_333x250_q95" and e["width"] == 41),
        ("all", "all", lambda e: True),
    ]
    return rows


def stats(entries, field="psnr"):
    vals = [e[field] for e in entries if e.get(field) is not None]
    bad = sum(1 for e in entries if not e.get("size_ok") and "error" not in e)
    errs = sum(1 for e in entries if "error" in e)
    files = len({e["file"] for e in entries})
    return dict(files=files, calls=len(entries), bad=bad, errs=errs,
                median=statistics.median(vals) if vals else None,
                worst=min(vals) if vals else None)


def fmt(v):
    if v is None:
        return "-"
    return "identical" if v >= 100 else f"{v:.2f}"


def table(heads, rows):
    return (["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
            + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(reports, names=None):
    """The tables for one report, or side by side for several (named
    `names`, default before/after for two): the last is "after"."""
    two = len(reports) >= 2
    names = names or (["before", "after"] if len(reports) == 2 else
                      [str(i + 1) for i in range(len(reports))])
    cols = lambda what: [f"{what} {n}" for n in names] if two else [what]  # noqa: E731
    slash = " / ".join(names)
    lines = []
    heads = ["class", "files", "calls"]
    if two:
        heads += cols("median dB") + cols("worst dB") + [f"size mismatches {slash}",
                                                         f"errors {slash}"]
    else:
        heads += ["median dB", "worst dB", "size mismatches", "errors"]
    sections = {}
    for sec, name, pred in groups():
        st = [stats([e for e in r["results"] if pred(e)]) for r in reports]
        if all(s["calls"] == 0 for s in st):
            continue
        row = [name, str(st[-1]["files"]), str(st[-1]["calls"])]
        if two:
            row += [fmt(x["median"]) for x in st] + [fmt(x["worst"]) for x in st]
            row += [" / ".join(str(x["bad"]) for x in st), " / ".join(str(x["errs"]) for x in st)]
        else:
            row += [fmt(st[0]["median"]), fmt(st[0]["worst"]), str(st[0]["bad"]),
                    str(st[0]["errs"])]
        sections.setdefault(sec, []).append(row)
    titles = {"sampling": "By sampling", "layout": "By layout", "path": "By decode path",
              "kind": "By content and case", "all": "Overall"}
    for sec, rows in sections.items():
        lines += ["", f"{titles[sec]} (PSNR against djpeg at the server's scale):", ""]
        lines += table(heads, rows)

    # sampling x path: medians and worst, before -> after
    for what in ("median", "worst"):
        lines += ["", f"Sampling x path, {what} dB" + (f" ({' -> '.join(names)})" if two else "")
                  + ":", ""]
        rows = []
        for smp in SAMPLING_ORDER:
            row = [smp]
            for p in PATH_ORDER:
                st = [stats([e for e in r["results"]
                             if e["sampling"] == smp and e["path"] == p and not tiny(e)])
                      for r in reports]
                row.append(" -> ".join(fmt(x[what]) for x in st))
            if any(c != "-" and c != "- -> -" for c in row[1:]):
                rows.append(row)
        lines += table(["sampling (files >= 64 px)"] + PATH_ORDER, rows)

    # reduced paths against the full-size reference
    lines += ["", "Reduced paths against the full-size reference (djpeg at full size, Lanczos "
              "to the same size): what the shrink-on-load costs, next to what it costs "
              "libjpeg-turbo (djpeg's own scaled decode, resized the same way):", ""]
    h = ["class", "calls"]
    h += cols("median dB")
    h += ["median dB djpeg scaled"]
    h += cols("worst dB")
    h += ["worst dB djpeg scaled"]
    rows = []
    for name, pred in [(p, lambda e, p=p: e["path"] == p) for p in PATH_ORDER[1:]] + [
            ("photo-like (>= 64 px), reduced",
             lambda e: e["kind"] == "photo" and not tiny(e) and e["path"] != "full"),
            ("photo-like 4:2:0, reduced", lambda e: e["kind"] == "photo" and not tiny(e)
             and e["path"] != "full" and e["sampling"] == "420"),
            ("text-like, reduced", lambda e: e["kind"] == "text" and e["path"] != "full"),
            ("checkerboards, reduced", lambda e: e["kind"] == "checker" and e["path"] != "full")]:
        st = [stats([e for e in r["results"] if pred(e)], "psnr_vs_full_ref") for r in reports]
        dj = stats([e for e in reports[-1]["results"] if pred(e)], "ref_scaled_vs_full_ref")
        row = [name, str(st[-1]["calls"])]
        row += [fmt(x["median"]) for x in st] + [fmt(dj["median"])]
        row += [fmt(x["worst"]) for x in st] + [fmt(dj["worst"])]
        rows.append(row)
    lines += table(h, rows)

    last = reports[-1]
    recipes_ = {}
    for r in reports:
        recipes_.update(r.get("recipes", {}))
    key = lambda e: (e["file"], e["width"])  # noqa: E731
    worst = sorted((e for e in last["results"] if e.get("psnr") is not None),
                   key=lambda e: e["psnr"])[:20]
    lines += ["", "Worst calls" + (f" ({names[-1]})" if two else "") + ":", ""]
    h = ["file", "path", "size"] + [f"dB {n}" for n in names[:-1]] + [
        "dB vs djpeg at that scale", "dB vs djpeg full size", "djpeg scaled vs full size"]
    rows = []
    for e in worst:
        row = [e["file"], e["path"], "{}x{} -> {}x{}".format(*e["full"], *e["expected"])]
        for r in reports[:-1]:
            row.append(fmt(next((x.get("psnr") for x in r["results"] if key(x) == key(e)),
                                None)))
        row += [fmt(e["psnr"]), fmt(e.get("psnr_vs_full_ref")),
                fmt(e.get("ref_scaled_vs_full_ref"))]
        rows.append(row)
    lines += table(h, rows)
    problems = [e for e in last["results"] if not e.get("size_ok") or "error" in e]
    for prev, pname in zip(reports[:-1], names[:-1]):
        first = {key(e): e for e in prev["results"]}
        regressions = [e for e in last["results"] if e.get("psnr") is not None
                       and first.get(key(e), {}).get("psnr") is not None
                       and e["psnr"] < first[key(e)]["psnr"] - 0.5]
        lines += ["", f"Worse in {names[-1]} than in {pname} by more than 0.5 dB: "
                  + (str(len(regressions)) if regressions else "none")]
        if regressions:
            lines.append("")
            for e in sorted(regressions, key=lambda e: e["psnr"] - first[key(e)]["psnr"]):
                lines.append(f"- {e['file']} to {e['width']} px ({e['path']}): "
                             f"{fmt(first[key(e)]['psnr'])} -> {fmt(e['psnr'])} dB")
    lines += ["", "Size mismatches and errors" + (f" ({names[-1]})" if two else "") + ": "
              + (str(len(problems)) if problems else "none")]
    if problems:
        lines.append("")
        for e in problems:
            what = e.get("error") or "got {}x{}, expected {}x{}".format(*e.get("got", [0, 0]),
                                                                         *e["expected"])
            lines.append(f"- {e['file']} ({recipes_.get(e['file'], '')}) to {e['width']} px "
                         f"({e['path']}): {what}")
    return "\n".join(lines).strip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(REPO / "target/release/mcp-image"),
                    help="the mcp-image binary (default: target/release/mcp-image)")
    ap.add_argument("--out", help="write the per-call results here (JSON)")
    ap.add_argument("--work", default=str(REPO / "target/jpeg-corpus"),
                    help="corpus, outputs and server log (default: target/jpeg-corpus)")
    ap.add_argument("--quick", action="store_true", help="a quarter of the corpus, no large files")
    ap.add_argument("--only", help="comma-separated substrings of file names to run")
    ap.add_argument("--label", help="what the binary is (default: git describe of its checkout)")
    ap.add_argument("--keep", action="store_true", help="keep the server's PNG outputs")
    ap.add_argument("--rule", choices=RULES, default=RULES[-1],
                    help="how the binary chooses its DCT scale (see RULES; default: the "
                         "newest, weaker-420; use covering for b7b6c34 to c0e77f3)")
    ap.add_argument("--compare", nargs="+", metavar="JSON",
                    help="print the markdown tables of --out files side by side (two: "
                         "before and after; more: named by --names)")
    ap.add_argument("--names", help="comma-separated column names for --compare")
    ap.add_argument("--list", action="store_true", help="print the corpus recipes")
    args = ap.parse_args()
    if args.list:
        for r in recipes():
            print(f"{r['name']}: {recipe_text(r)}")
        print(f"{len(recipes())} files", file=sys.stderr)
        return
    if args.compare:
        reports = [json.loads(Path(p).read_text()) for p in args.compare]
        names = args.names.split(",") if args.names else None
        shown = names or (["before", "after"] if len(reports) == 2 else
                          [str(i + 1) for i in range(len(reports))])
        print(", ".join(f"{n}: {r['label']} (rule {r.get('rule', 'covering')})"
                        for n, r in zip(shown, reports)) + "\n")
        print(markdown(reports, names))
        return
    run(args)


if __name__ == "__main__":
    main()
