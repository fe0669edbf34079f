"""Python peer of `cargo xtask bench image`: Pillow, timed in-process.

    bench.py generate DIR       write DIR/big.jpg (6000x4000) and DIR/batch/img-NNN.jpg (100 x 2000x1500)
    bench.py run SPEC_JSON      time every operation; one JSON object on stdout
    bench.py peak OP SPEC_JSON  run OP once in this fresh process; print its peak RSS (KiB)

The generated images are deterministic for a given Pillow version: smooth gradients, blotchy
texture and fine grain from seeded random bytes, so they compress like photos (JPEG quality 90).
"""

import glob
import json
import os
import platform
import random
import resource
import statistics
import sys
import time

from PIL import Image, ImageOps

import PIL


def generate(root):
    width, height = 6000, 4000
    rng = random.Random(0x1A6E)
    ramp = Image.linear_gradient("L")
    base = Image.merge(
        "RGB",
        (
            ramp.rotate(90),
            Image.radial_gradient("L"),
            ImageOps.invert(ramp),
        ),
    ).resize((width, height), Image.Resampling.BILINEAR)
    blotch_size = (width // 40, height // 40)
    blotches = Image.frombytes(
        "RGB", blotch_size, rng.randbytes(blotch_size[0] * blotch_size[1] * 3)
    ).resize((width, height), Image.Resampling.BICUBIC)
    detail_size = (width // 4, height // 4)
    detail = Image.frombytes(
        "RGB", detail_size, rng.randbytes(detail_size[0] * detail_size[1] * 3)
    ).resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.frombytes("RGB", (500, 500), rng.randbytes(500 * 500 * 3))
    grain_full = Image.new("RGB", (width, height))
    for y in range(0, height, 500):
        for x in range(0, width, 500):
            grain_full.paste(grain, (x, y))
    img = Image.blend(base, blotches, 0.35)
    img = Image.blend(img, detail, 0.12)
    img = Image.blend(img, grain_full, 0.05)
    os.makedirs(os.path.join(root, "batch"), exist_ok=True)
    img.save(os.path.join(root, "big.jpg"), quality=90)
    for i in range(100):
        x, y = (i * 37) % 2000, (i * 23) % 1000
        part = img.crop((x, y, x + 4000, y + 3000))
        if i % 2:
            part = part.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        part = part.resize((2000, 1500), Image.Resampling.BILINEAR, reducing_gap=2.0)
        part.save(os.path.join(root, "batch", f"img-{i:03}.jpg"), quality=90)


def resize_to_width(src, dst, width, quality, draft):
    with Image.open(src) as img:
        height = max(1, round(img.height * width / img.width))
        if draft:
            img.draft("RGB", (width, height))
        out = img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        out.save(dst, quality=quality)
    return out.size


def batch(spec, draft):
    files = sorted(glob.glob(os.path.join(spec["batch_dir"], "*.jpg")))
    out = spec["out_dir"]
    for f in files:
        dst = os.path.join(out, "pillow-" + os.path.basename(f))
        resize_to_width(f, dst, spec["thumb_width"], spec["quality"], draft)
    return len(files)


def op(name, spec):
    out = spec["out_dir"]
    if name == "single":
        return lambda: resize_to_width(
            spec["big"], os.path.join(out, "pillow-big.jpg"), spec["width"], spec["quality"], False
        )
    if name == "single_draft":
        return lambda: resize_to_width(
            spec["big"], os.path.join(out, "pillow-big-draft.jpg"), spec["width"], spec["quality"], True
        )
    if name == "thumb":
        return lambda: resize_to_width(
            spec["thumb_src"], os.path.join(out, "pillow-thumb.jpg"), spec["thumb_width"], spec["quality"], False
        )
    if name == "batch":
        return lambda: batch(spec, False)
    if name == "batch_draft":
        return lambda: batch(spec, True)
    if name == "info":

        def info():
            with Image.open(spec["big"]) as img:
                return img.size

        return info
    raise SystemExit(f"unknown op {name}")


def timed(reps, fn):
    fn()  # warm-up: imports, plugin registry, page cache
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(spec):
    os.makedirs(spec["out_dir"], exist_ok=True)
    result = {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "seconds": {},
    }
    for name, reps in spec["reps"].items():
        result["seconds"][name] = timed(reps, op(name, spec))
        print(f"pillow: {name}: {result['seconds'][name] * 1e3:.1f} ms", file=sys.stderr)
    print(json.dumps(result))


def peak(name, spec):
    os.makedirs(spec["out_dir"], exist_ok=True)
    op(name, spec)()
    # ru_maxrss is in KiB on Linux.
    print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif sys.argv[1] == "run":
        run(json.loads(sys.argv[2]))
    elif sys.argv[1] == "peak":
        peak(sys.argv[2], json.loads(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
