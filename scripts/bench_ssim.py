#!/usr/bin/python3
"""Quality column for scripts/bench: mean SSIM of thumbnails against a
reference made by a full-resolution decode and a Lanczos resize.

    bench_ssim.py --pairs PAIRS [--cache DIR] [--json]

PAIRS has one "INPUT<TAB>THUMBNAIL" line per sample. For each pair the
reference is Pillow's full decode of INPUT (EXIF orientation applied),
converted to RGB and resized with Image.LANCZOS straight to the
thumbnail's own width and height, so every tool is judged at the size it
chose. SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, L = 255) is computed on luma (ITU-R 601, Pillow's
"L") with numpy; the score of a pair is the mean of the SSIM map.
References are cached as .npy under --cache, keyed by the input's content
and the size, because a 5120x2880 Lanczos reference takes ~0.5 s.

Prints "n=N mean=M min=M missing=K" (or JSON with --json).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = None  # our own corpus; 4096x4096 is fine


def _gauss(n=11, sigma=1.5):
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


_G = _gauss()


def _filt(a):
    """Separable 'valid' Gaussian filter of a 2-D float array."""
    k = len(_G)
    h, w = a.shape
    # along rows: sum of shifted slices is fast and exact
    r = np.zeros((h, w - k + 1))
    for i, g in enumerate(_G):
        r += g * a[:, i:i + w - k + 1]
    c = np.zeros((h - k + 1, w - k + 1))
    for i, g in enumerate(_G):
        c += g * r[i:i + h - k + 1, :]
    return c


def ssim(x, y):
    """Mean SSIM of two equally sized 2-D luma arrays (0..255)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if min(x.shape) < len(_G):
        # too small for the window: fall back to one global window
        mx, my = x.mean(), y.mean()
        vx, vy = x.var(), y.var()
        cxy = ((x - mx) * (y - my)).mean()
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        return float(((2 * mx * my + c1) * (2 * cxy + c2)) /
                     ((mx * mx + my * my + c1) * (vx + vy + c2)))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _filt(x), _filt(y)
    sxx = _filt(x * x) - mx * mx
    syy = _filt(y * y) - my * my
    sxy = _filt(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / \
        ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


def _digest(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_digests = {}


def reference(src, size, cache):
    """Luma of the full decode of @src Lanczos-resized to @size (w, h)."""
    key = None
    if cache:
        d = _digests.get(src)
        if d is None:
            d = _digests[src] = _digest(src)
        key = os.path.join(cache, "%s_%dx%d.npy" % (d, size[0], size[1]))
        if os.path.exists(key):
            return np.load(key)
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im)
        ref = im.convert("RGB").resize(size, Image.LANCZOS)
    luma = np.asarray(ref.convert("L"), dtype=np.uint8)
    if key:
        os.makedirs(cache, exist_ok=True)
        tmp = key + ".%d.tmp.npy" % os.getpid()
        np.save(tmp, luma)
        os.replace(tmp, key)
    return luma


def score_pairs(pairs, cache=None):
    """Return dict(n, mean, min, missing, sizes_mismatch) for (src, thumb)."""
    scores = []
    missing = 0
    for src, th in pairs:
        if not os.path.exists(th):
            missing += 1
            continue
        with Image.open(th) as t:
            t.load()
            size = t.size
            luma = np.asarray(t.convert("L"), dtype=np.uint8)
        scores.append(ssim(reference(src, size, cache), luma))
    out = {"n": len(scores), "missing": missing,
           "mean": float(np.mean(scores)) if scores else None,
           "min": float(np.min(scores)) if scores else None}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--cache")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    pairs = []
    with open(a.pairs) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                src, th = line.split("\t")
                pairs.append((src, th))
    r = score_pairs(pairs, a.cache)
    if a.json:
        print(json.dumps(r))
    else:
        print("n=%d mean=%s min=%s missing=%d" % (
            r["n"], "%.4f" % r["mean"] if r["mean"] is not None else "-",
            "%.4f" % r["min"] if r["min"] is not None else "-", r["missing"]))
    return 0 if r["n"] else 1


if __name__ == "__main__":
    sys.exit(main())
