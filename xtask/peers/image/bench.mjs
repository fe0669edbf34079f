// Node peer of `cargo xtask bench image`: sharp (libvips), timed in-process.
//
//   node bench.mjs run SPEC_JSON      time every operation; one JSON object on stdout
//   node bench.mjs peak OP SPEC_JSON  run OP once in this fresh process; print its peak RSS (KiB)
//
// sharp's operation cache is off, so every timed call reads and decodes its file again.

import { readdirSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(join(process.cwd(), "package.json"));
const sharp = require("sharp");
sharp.cache(false);

function resizeToWidth(src, dst, width, quality) {
  return sharp(src)
    .resize({ width, kernel: "lanczos3" })
    .jpeg({ quality })
    .toFile(dst);
}

function op(name, spec) {
  const out = spec.out_dir;
  switch (name) {
    case "single":
      return () => resizeToWidth(spec.big, join(out, "sharp-big.jpg"), spec.width, spec.quality);
    case "thumb":
      return () =>
        resizeToWidth(spec.thumb_src, join(out, "sharp-thumb.jpg"), spec.thumb_width, spec.quality);
    case "batch":
      return () => {
        const files = readdirSync(spec.batch_dir).filter((f) => f.endsWith(".jpg")).sort();
        return Promise.all(
          files.map((f) =>
            resizeToWidth(join(spec.batch_dir, f), join(out, `sharp-${f}`), spec.thumb_width, spec.quality),
          ),
        );
      };
    case "info":
      return () => sharp(spec.big).metadata();
    default:
      throw new Error(`unknown op ${name}`);
  }
}

async function timed(reps, fn) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < reps; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "run") {
  const spec = JSON.parse(rest[0]);
  mkdirSync(spec.out_dir, { recursive: true });
  const result = { node: process.versions.node, sharp: sharp.versions.sharp, vips: sharp.versions.vips, seconds: {} };
  for (const [name, reps] of Object.entries(spec.reps)) {
    if (name.endsWith("_draft")) continue; // Pillow only
    result.seconds[name] = await timed(reps, op(name, spec));
    console.error(`sharp: ${name}: ${(result.seconds[name] * 1e3).toFixed(1)} ms`);
  }
  console.log(JSON.stringify(result));
} else if (mode === "peak") {
  const spec = JSON.parse(rest[1]);
  mkdirSync(spec.out_dir, { recursive: true });
  await op(rest[0], spec)();
  // maxRSS is in KiB.
  console.log(JSON.stringify({ peak_rss_kib: process.resourceUsage().maxRSS }));
} else {
  throw new Error("usage: node bench.mjs run SPEC_JSON | peak OP SPEC_JSON");
}
