#!/usr/bin/python3
"""The seed approach thumbd replaces: Pillow's Image.thumbnail() in a
concurrent.futures.ProcessPoolExecutor, the classic batch job.

    bench_pillow.py -w N -s 256 -q 85 -o OUTDIR (-l LISTFILE | FILE...)

Writes OUTDIR/<stem>_<box>.jpg for each input (flat: inputs must have
distinct stems). Prints "files=N ok=N failed=N seconds=S img_per_s=R"
and exits 1 if any file failed. Used by scripts/bench.
"""
import argparse
import concurrent.futures
import os
import sys
import time

from PIL import Image

BOX = 256
QUALITY = 85
OUTDIR = "."


def _init(box, quality, outdir):
    global BOX, QUALITY, OUTDIR
    BOX, QUALITY, OUTDIR = box, quality, outdir


def thumb(path):
    """Return None on success, else the error text."""
    try:
        stem = os.path.splitext(os.path.basename(path))[0]
        with Image.open(path) as im:
            im.thumbnail((BOX, BOX))
            if im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            im.save(os.path.join(OUTDIR, "%s_%d.jpg" % (stem, BOX)), "JPEG",
                    quality=QUALITY)
        return None
    except Exception as e:  # report, keep going: one bad file is one failure
        return "%s: %s" % (path, e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-w", "--workers", type=int, default=os.cpu_count())
    ap.add_argument("-s", "--size", type=int, default=256)
    ap.add_argument("-q", "--quality", type=int, default=85)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("-l", "--list")
    ap.add_argument("-c", "--chunksize", type=int, default=0,
                    help="files per task sent to a pool process (default: "
                    "8, fewer when there are under 64 files per worker)")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    files = list(a.files)
    if a.list:
        with open(a.list) as f:
            files += [line.rstrip("\n") for line in f if line.strip()]
    os.makedirs(a.out, exist_ok=True)
    chunk = a.chunksize or max(1, min(8, len(files) // (8 * a.workers)))
    t0 = time.perf_counter()
    failed = 0
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=a.workers, initializer=_init,
            initargs=(a.size, a.quality, a.out)) as ex:
        for err in ex.map(thumb, files, chunksize=chunk):
            if err is not None:
                failed += 1
                print(err, file=sys.stderr)
    dt = time.perf_counter() - t0
    n = len(files)
    print("files=%d ok=%d failed=%d seconds=%.4f img_per_s=%.1f"
          % (n, n - failed, failed, dt, (n - failed) / dt if dt > 0 else 0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
