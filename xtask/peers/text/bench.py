"""Python peers of `cargo xtask bench text`: tiktoken, re and difflib, timed in-process.

    bench.py setup ASSETS_DIR   fill $TIKTOKEN_CACHE_DIR from local vocabulary files
    bench.py run SPEC_JSON      time every operation; one JSON object per line on stdout

tiktoken fetches its vocabularies over the network on first use and keeps them in
$TIKTOKEN_CACHE_DIR under sha1(url). `setup` lets tiktoken itself fill that cache from the
copies that ship in the tiktoken-rs crate (tiktoken checks their sha256 against the hash it
expects), and `run` forbids any fetch, so the timed run works offline on the same files.
"""

import difflib
import json
import os
import platform
import re
import signal
import statistics
import sys
import time

import tiktoken
import tiktoken.load

ENCODINGS = ["cl100k_base", "o200k_base"]


def no_network(url):
    raise RuntimeError(f"tiktoken tried to download {url}; the cache should have it")


def setup(assets_dir):
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        sys.exit("TIKTOKEN_CACHE_DIR is not set")
    os.makedirs(os.environ["TIKTOKEN_CACHE_DIR"], exist_ok=True)

    def local_copy(url):
        path = os.path.join(assets_dir, url.rsplit("/", 1)[-1])
        with open(path, "rb") as f:
            return f.read()

    # read_file_cached calls read_file on a cache miss, checks the expected
    # hash and stores the bytes under sha1(url).
    tiktoken.load.read_file = local_copy
    for name in ENCODINGS:
        tiktoken.get_encoding(name).encode_ordinary("hello world")
    print(json.dumps({"tiktoken": tiktoken.__version__}))


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def timed(reps, fn):
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(spec):
    tiktoken.load.read_file = no_network
    pattern = re.compile(spec["pattern"])
    budget = spec["diff_budget_seconds"]
    encoders = {}
    if spec["tiktoken"]:
        encoders = {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    info = {
        "op": "info",
        "python": platform.python_version(),
        "tiktoken": tiktoken.__version__,
    }
    print(json.dumps(info), flush=True)
    signal.signal(signal.SIGALRM, on_alarm)
    diff_rate = None  # seconds per byte of the last diff that ran
    for size in spec["sizes"]:
        label, reps, path_a, path_b = size["label"], size["reps"], size["a"], size["b"]
        nbytes = os.path.getsize(path_a)

        def emit(op, seconds=None, count=None, skipped=None):
            row = {"op": op, "size": label, "seconds": seconds, "count": count, "skipped": skipped}
            print(json.dumps(row), flush=True)
            print(f"python: {label} {op}: {seconds if skipped is None else skipped}", file=sys.stderr)

        for name, enc in encoders.items():
            seconds, count = timed(reps, lambda: len(enc.encode_ordinary(read(path_a))))
            emit("tokens:" + name, seconds, count)

        seconds, count = timed(reps, lambda: sum(1 for _ in pattern.finditer(read(path_a))))
        emit("search", seconds, count)

        # difflib is quadratic at worst: skip a size that would take longer
        # than the budget at the last size's rate (a lower bound), and stop a
        # run that goes past twice the budget.
        if diff_rate is not None and diff_rate * nbytes > budget:
            emit("diff", skipped=f"skipped (too slow: over {diff_rate * nbytes:.0f} s)")
            continue

        def diff():
            a = read(path_a).splitlines(keepends=True)
            b = read(path_b).splitlines(keepends=True)
            return "".join(difflib.unified_diff(a, b, "a", "b", n=3))

        signal.alarm(int(budget * 2))
        try:
            seconds, out = timed(reps, diff)
        except Timeout:
            emit("diff", skipped=f"skipped (too slow: over {budget * 2:.0f} s)")
            diff_rate = float("inf")
            continue
        finally:
            signal.alarm(0)
        diff_rate = seconds / nbytes
        lines = out.splitlines()
        changed = sum(
            1 for line in lines if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        )
        emit("diff", seconds, changed)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "setup":
        setup(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        with open(sys.argv[2]) as f:
            run(json.load(f))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
