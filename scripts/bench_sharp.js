#!/usr/bin/env node
// sharp (libvips for Node.js) as a thumbnailer, for scripts/bench.
//
//   UV_THREADPOOL_SIZE=N VIPS_CONCURRENCY=1 \
//     node bench_sharp.js -w N -s 256 -q 85 -o OUTDIR -l LISTFILE
//
// One process keeps N images in flight on libuv's thread pool, each
// processed by one libvips thread (sharp.concurrency(1)), so N workers use
// N cores. Writes OUTDIR/<stem>_<box>.jpg. Prints the same summary line as
// bench-floor and bench_pillow.py; exits 1 if any file failed.
'use strict';
const fs = require('fs');
const path = require('path');

function parse(argv) {
  const a = { workers: 1, size: 256, quality: 85, out: null, list: null, files: [] };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (k === '-w') a.workers = parseInt(argv[++i], 10);
    else if (k === '-s') a.size = parseInt(argv[++i], 10);
    else if (k === '-q') a.quality = parseInt(argv[++i], 10);
    else if (k === '-o') a.out = argv[++i];
    else if (k === '-l') a.list = argv[++i];
    else a.files.push(k);
  }
  if (a.list) {
    a.files.push(...fs.readFileSync(a.list, 'utf8').split('\n').filter((l) => l.length > 0));
  }
  if (!a.out || !(a.workers >= 1)) {
    console.error('usage: bench_sharp.js -w N -s BOX -q Q -o OUTDIR (-l LIST | FILE...)');
    process.exit(2);
  }
  return a;
}

async function main() {
  const a = parse(process.argv);
  // sharp is found through NODE_PATH (scripts/bench installs it in its cache)
  const sharp = require('sharp');
  sharp.concurrency(1);
  sharp.cache(false);
  fs.mkdirSync(a.out, { recursive: true });
  const t0 = process.hrtime.bigint();
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < a.files.length) {
      const f = a.files[next++];
      const stem = path.basename(f, path.extname(f));
      try {
        await sharp(f)
          .resize(a.size, a.size, { fit: 'inside' })
          .jpeg({ quality: a.quality })
          .toFile(path.join(a.out, `${stem}_${a.size}.jpg`));
      } catch (e) {
        failed++;
        console.error(`${f}: ${e.message}`);
      }
    }
  }
  const lanes = [];
  for (let i = 0; i < a.workers; i++) lanes.push(lane());
  await Promise.all(lanes);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = a.files.length;
  console.log(`files=${n} ok=${n - failed} failed=${failed} seconds=${dt.toFixed(4)} ` +
    `img_per_s=${((n - failed) / dt).toFixed(1)}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => { console.error(e); process.exit(2); });
