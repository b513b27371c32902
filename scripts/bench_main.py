#!/usr/bin/python3
"""thumbd benchmark: thumbd against the decoder floor and its peers.

Run through scripts/bench, which installs the packages first. This file does
the rest: corpus, release build, interleaved timed runs, RSS, SSIM, the
daemon part, the table, the plot and bench-out/results.md.

Method, in short (results.md repeats it next to the numbers):
* every tool gets N workers = N processes (or N threads in one process for
  thumbd's master+workers and sharp), and one core each: OMP_NUM_THREADS,
  MAGICK_THREAD_LIMIT and VIPS_CONCURRENCY are 1;
* each (set, tool, workers) cell runs R times; the order of the cells is
  shuffled anew for every repeat so that drift in machine load spreads over
  all tools; the table shows the median img/s (and the min-max range);
* img/s = files / wall time of the whole command, process start-up included
  (that is part of each approach's cost), with a fresh output folder per run
  and a sync before each run so write-back of the previous run does not land
  in the next one; inputs are in the page cache (read once before timing);
* peak RSS comes from GNU time's "Maximum resident set size" on the top
  command: Linux reports the largest of that process and every descendant it
  reaped, so for xargs, a Pillow pool or thumbd's master+workers it is the
  largest single process. thumbd's master alone is sampled from
  /proc/PID/status VmHWM every 20 ms until it exits (a high-water mark, so
  the last sample is the peak up to 20 ms before exit).
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable or "/usr/bin/python3"
BOX = 256
QUALITY = 85
# ext4 without a journal passes over inodes freed this recently (300 s
# while their inode table block is dirty, 60 s after) when it allocates.
RECENT_S = 300
SHARP_VERSIONS = ["0.35.5", "0.34.5", "0.33.5"]
# thumbd's opt-in faster JPEG path (decoded down to the box; the default,
# auto, keeps twice the box on the photos), measured on the photo set as
# its own row: cells with this tag run thumbd with FAST_ARGS appended
FAST = "-fast"
FAST_ARGS = ["--detail", "fast"]
FAST_LABEL = "thumbd --once --detail fast"

T0 = time.monotonic()


def say(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


def sh(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def out_of(argv, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              **kw).stdout.strip()
    except OSError:
        return ""


# --------------------------------------------------------------- corpus

def fetch_package(cache, pkg):
    """apt-get download + dpkg -x, once; returns the unpacked root."""
    debs = os.path.join(cache, "debs")
    root = os.path.join(cache, pkg)
    if os.path.exists(root + ".ok"):
        return root
    os.makedirs(debs, exist_ok=True)
    have = [f for f in os.listdir(debs) if f.startswith(pkg + "_")]
    if not have:
        say("apt-get download %s" % pkg)
        r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=debs,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            say("apt-get download failed; apt-get update and retry")
            subprocess.run(["apt-get", "update", "-q"],
                           stdout=subprocess.DEVNULL)
            sh(["apt-get", "download", "-q", pkg], cwd=debs,
               stdout=subprocess.DEVNULL)
        have = [f for f in os.listdir(debs) if f.startswith(pkg + "_")]
    shutil.rmtree(root, ignore_errors=True)
    sh(["dpkg", "-x", os.path.join(debs, sorted(have)[-1]), root])
    open(root + ".ok", "w").close()
    return root


def sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def photo_sources(plasma):
    """Distinct JPEGs under usr/share/wallpapers/*/contents/images*/, as
    [(name, path)], sorted by name. The package links most sizes to one
    file, so -type f plus a content check leaves the ~24 real ones."""
    from PIL import Image
    seen = {}
    base = os.path.join(plasma, "usr/share/wallpapers")
    for dirpath, _, files in os.walk(base):
        if "images" not in dirpath:
            continue
        for fn in files:
            p = os.path.join(dirpath, fn)
            if not fn.endswith(".jpg") or os.path.islink(p) or \
                    os.path.getsize(p) == 0:
                continue
            h = sha1(p)
            if h in seen:
                continue
            rel = os.path.relpath(p, base).split(os.sep)
            wall = rel[0] + ("-dark" if rel[2] == "images_dark" else "")
            with Image.open(p) as im:
                w, h2 = im.size
                prog = bool(im.info.get("progressive"))
            seen[h] = {"name": "%s_%dx%d" % (wall, w, h2), "path": p,
                       "w": w, "h": h2, "progressive": prog}
    return sorted(seen.values(), key=lambda s: s["name"])


def webp_sources(gnome):
    from PIL import Image
    out = []
    for dirpath, _, files in os.walk(gnome):
        for fn in sorted(files):
            if not fn.endswith(".webp"):
                continue
            p = os.path.join(dirpath, fn)
            if os.path.islink(p):
                continue
            with Image.open(p) as im:
                w, h = im.size
            if w >= 4096 and h >= 4096:
                out.append({"name": os.path.splitext(fn)[0], "path": p,
                            "w": w, "h": h, "progressive": False})
    return sorted(out, key=lambda s: s["name"])


def make_set(cache, name, sources, n, prefix, ext, link=False):
    """Copy @sources round-robin into cache/sets/@name (n files). Returns
    the set dict {name, dir, files, src} where src maps file -> source."""
    d = os.path.join(cache, "sets", name)
    ok = d + ".json"
    if os.path.exists(ok):
        with open(ok) as f:
            return json.load(f)
    say("making set %s (%d files)" % (name, n))
    shutil.rmtree(d, ignore_errors=True)
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    files, src = [], {}
    width = len(str(max(n - 1, 1)))
    for i in range(n):
        s = sources[i % len(sources)]
        fn = "%s%0*d_%s.%s" % (prefix, width, i, s["name"], ext)
        dst = os.path.join(tmp, fn)
        if link:
            os.link(s["path"], dst)
        else:
            shutil.copyfile(s["path"], dst)
        files.append(os.path.join(d, fn))
        src[os.path.join(d, fn)] = s["path"]
    os.rename(tmp, d)
    st = {"name": name, "dir": d, "files": files, "src": src,
          "distinct": len(sources)}
    with open(ok + ".tmp", "w") as f:
        json.dump(st, f)
    os.rename(ok + ".tmp", ok)
    return st


def subset(cache, name, parent, keep):
    """Hard links of the files of @parent for which keep(file) is true."""
    d = os.path.join(cache, "sets", name)
    ok = d + ".json"
    if os.path.exists(ok):
        with open(ok) as f:
            return json.load(f)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d + ".tmp", exist_ok=True)
    files, src = [], {}
    for p in parent["files"]:
        if keep(p):
            q = os.path.join(d, os.path.basename(p))
            os.link(p, os.path.join(d + ".tmp", os.path.basename(p)))
            files.append(q)
            src[q] = parent["src"][p]
    os.rename(d + ".tmp", d)
    st = {"name": name, "dir": d, "files": files, "src": src,
          "distinct": len(set(src.values()))}
    with open(ok, "w") as f:
        json.dump(st, f)
    return st


def small_sources(cache, photos):
    """Web-size versions of the photos: fit in 640x400, quality 85, made
    with ImageMagick; a progressive source gives a progressive copy."""
    d = os.path.join(cache, "small-src")
    os.makedirs(d, exist_ok=True)
    out = []
    for s in photos:
        p = os.path.join(d, s["name"] + ".jpg")
        if not os.path.exists(p):
            argv = ["/usr/bin/convert", "-define", "jpeg:size=1280x800",
                    s["path"], "-resize", "640x400", "-quality", "85",
                    "-strip"]
            if s["progressive"]:
                argv += ["-interlace", "JPEG"]
            sh(argv + [p + ".tmp.jpg"], stderr=subprocess.DEVNULL)
            os.rename(p + ".tmp.jpg", p)
        out.append(dict(s, path=p))
    return out


def write_list(st):
    lst = st["dir"] + ".lst"
    if not os.path.exists(lst):
        with open(lst + ".tmp", "w") as f:
            f.write("".join(p + "\n" for p in st["files"]))
        os.rename(lst + ".tmp", lst)
    st["list"] = lst
    return st


# ----------------------------------------------------------------- tools

def base_env(workers):
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "OMP_NUM_THREADS": "1",
                "MAGICK_THREAD_LIMIT": "1", "VIPS_CONCURRENCY": "1",
                "UV_THREADPOOL_SIZE": str(max(workers, 1))})
    return env


def xargs_batch(nfiles, workers):
    # about 10 batches per worker: start-up cost stays small while the
    # dynamic hand-out of batches keeps both cores busy to the end
    return max(1, math.ceil(nfiles / (10 * workers)))


class Tool:
    """A command that makes thumbnails (or decodes) for one set."""
    key = ""
    label = ""
    peer = True
    reason = None   # not None: not available, and why

    def cmd(self, st, workers, outdir, sizes):
        """(argv, cwd, stdin bytes or None)."""
        raise NotImplementedError

    def outputs(self, st, outdir, sizes):
        return count_files(outdir)

    def thumb_of(self, path, outdir, size=BOX):
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(outdir, "%s_%d.jpg" % (stem, size))


class Thumbd(Tool):
    key, label, peer = "thumbd", "thumbd --once", False

    def __init__(self, exe, reason):
        self.exe, self.reason = exe, reason

    def cmd(self, st, workers, outdir, sizes):
        return ([self.exe, "--once", "-i", st["dir"], "-o", outdir, "-s",
                 ",".join(str(s) for s in sizes), "-q", str(QUALITY), "-w",
                 str(workers)], None, None)


class Floor(Tool):
    key, label, peer = "floor", "decoder floor (libjpeg-turbo DCT scale)", \
        False

    def __init__(self, exe, reason):
        self.exe, self.reason = exe, reason

    def cmd(self, st, workers, outdir, sizes):
        return ([self.exe, "-w", str(workers), "-s", str(BOX), "-l",
                 st["list"]], None, None)

    def outputs(self, st, outdir, sizes):
        return None  # counted from its own "ok=" line


class Pillow(Tool):
    key, label = "pillow", "Pillow thumbnail() + ProcessPoolExecutor"

    def cmd(self, st, workers, outdir, sizes):
        return ([PY, os.path.join(HERE, "bench_pillow.py"), "-w",
                 str(workers), "-s", str(BOX), "-q", str(QUALITY), "-o",
                 outdir, "-l", st["list"]], None, None)


class Vips(Tool):
    key, label = "vips", "vipsthumbnail (xargs -P)"

    def cmd(self, st, workers, outdir, sizes):
        b = xargs_batch(len(st["files"]), workers)
        return (["xargs", "-0", "-P", str(workers), "-n", str(b),
                 "vipsthumbnail", "-s", str(BOX), "-o",
                 os.path.join(outdir, "%%s_%d.jpg[Q=%d]" % (BOX, QUALITY))],
                None, "\0".join(st["files"]).encode())


class Sharp(Tool):
    key, label = "sharp", "sharp (node, N in flight)"

    def __init__(self, node_path, reason):
        self.node_path, self.reason = node_path, reason

    def cmd(self, st, workers, outdir, sizes):
        return (["node", os.path.join(HERE, "bench_sharp.js"), "-w",
                 str(workers), "-s", str(BOX), "-q", str(QUALITY), "-o",
                 outdir, "-l", st["list"]], None, None)


class Magick(Tool):
    key, label = "im", "ImageMagick 6 mogrify (xargs -P)"

    def cmd(self, st, workers, outdir, sizes):
        b = xargs_batch(len(st["files"]), workers)
        # mogrify batches rather than one convert per file: the same
        # operations (jpeg:size hint, -thumbnail, -quality) without a
        # process start per image, i.e. ImageMagick at its best
        return (["xargs", "-0", "-P", str(workers), "-n", str(b),
                 "/usr/bin/mogrify", "-path", outdir, "-format", "jpg",
                 "-define", "jpeg:size=%dx%d" % (2 * BOX, 2 * BOX),
                 "-thumbnail", "%dx%d" % (BOX, BOX), "-quality",
                 str(QUALITY)], None, "\0".join(st["files"]).encode())

    def thumb_of(self, path, outdir, size=BOX):
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(outdir, stem + ".jpg")


class GraphicsMagick(Magick):
    key, label = "gm", "GraphicsMagick mogrify (xargs -P)"

    def cmd(self, st, workers, outdir, sizes):
        b = xargs_batch(len(st["files"]), workers)
        # gm appends the input path to -output-directory: run in the set's
        # folder with bare names
        names = [os.path.basename(p) for p in st["files"]]
        return (["xargs", "-0", "-P", str(workers), "-n", str(b),
                 "gm", "mogrify", "-output-directory", outdir, "-format",
                 "jpg", "-size", "%dx%d" % (2 * BOX, 2 * BOX), "-thumbnail",
                 "%dx%d" % (BOX, BOX), "-quality", str(QUALITY)],
                st["dir"], "\0".join(names).encode())


def count_files(d):
    n = 0
    for dirpath, _, files in os.walk(d):
        n += sum(1 for f in files if not f.startswith("."))
    return n


# ------------------------------------------------------------- running

# /proc readers shared with the daemon part
from bench_daemon import children, vmhwm_kb  # noqa: E402


class Poller(threading.Thread):
    """Samples VmHWM of the child of /usr/bin/time (the master) and of the
    master's children (the workers) until stopped."""

    def __init__(self, time_pid):
        super().__init__(daemon=True)
        self.time_pid = time_pid
        self.master = 0
        self.workers = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for m in children(self.time_pid):
                v = vmhwm_kb(m)
                if v:
                    self.master = max(self.master, v)
                for w in children(m):
                    v = vmhwm_kb(w)
                    if v:
                        self.workers[w] = max(self.workers.get(w, 0), v)
            self.stop.wait(0.02)


def run_timed(argv, env, cwd=None, stdin=None, logf=None, poll=False,
              timeout=3600):
    """Run @argv under /usr/bin/time -v. Returns dict(wall, rss_kb, rc,
    stdout, master_kb, workers_kb)."""
    fd, tf = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf] + argv, cwd=cwd,
                         env=env, stdin=subprocess.PIPE if stdin else
                         subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=logf or subprocess.DEVNULL)
    poller = None
    if poll:
        poller = Poller(p.pid)
        poller.start()
    try:
        out, _ = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out = (out or b"") + b"\ntimeout"
    wall = time.perf_counter() - t0
    if poller:
        poller.stop.set()
        poller.join()
    rss = None
    with open(tf) as f:
        for line in f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", line)
            if m:
                rss = int(m.group(1))
    os.unlink(tf)
    r = {"wall": wall, "rss_kb": rss, "rc": p.returncode,
         "stdout": out.decode(errors="replace")}
    if poller:
        r["master_kb"] = poller.master
        r["workers_kb"] = sorted(poller.workers.values())
    return r


class Bench:
    def __init__(self, a):
        self.a = a
        self.out = os.path.abspath(a.out)
        self.cache = os.path.join(self.out, "cache")
        self.runs = os.path.join(self.out, "runs")
        self.logs = os.path.join(self.out, "logs")
        # Nothing is deleted during a sitting (see run_cell): outputs an
        # earlier one left are moved aside and deleted with this one's at
        # the end, and a sitting that starts within RECENT_S of such a
        # deletion waits the rest out first.
        self.trash = os.path.join(self.out, "runs.old")
        if os.path.isdir(self.runs):
            shutil.rmtree(self.trash, ignore_errors=True)
            os.rename(self.runs, self.trash)
        for d in (self.cache, self.runs, self.logs):
            os.makedirs(d, exist_ok=True)
        self.wait_recent()
        self.run_no = 0     # every run writes into a folder of its own
        self.last_out = {}  # cell id -> output folder of its latest run
        self.results = {}   # cell id -> list of run dicts
        self.cells = {}     # cell id -> cell
        self.notes = []

    # ---- setup
    def wait_recent(self):
        stamp = os.path.join(self.out, "deleted-at")
        try:
            with open(stamp) as f:
                left = RECENT_S - (time.time() - float(f.read()))
        except (OSError, ValueError):
            return
        if left > 0:
            say("waiting %.0f s: the last sitting deleted its outputs %.0f s "
                "ago, and ext4 without a journal skips recently freed inodes "
                "when it creates files (see run_cell)" % (left,
                                                           RECENT_S - left))
            time.sleep(left)

    def delete_outputs(self):
        say("removing this sitting's outputs (%s)" % self.runs)
        shutil.rmtree(self.runs, ignore_errors=True)
        shutil.rmtree(self.trash, ignore_errors=True)
        with open(os.path.join(self.out, "deleted-at"), "w") as f:
            f.write("%.0f\n" % time.time())

    def build_floor(self):
        exe = os.path.join(self.out, "bench-floor")
        src = os.path.join(HERE, "bench-floor.c")
        flags = out_of(["pkg-config", "--cflags", "--libs", "libjpeg"]).split()
        webp = out_of(["pkg-config", "--cflags", "--libs", "libwebp"]).split()
        argv = ["cc", "-O2", "-std=c11", "-o", exe, src] + flags
        if webp:
            argv = argv[:5] + ["-DFLOOR_WEBP"] + argv[5:] + webp
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            return exe, "cc failed: " + r.stderr.strip().splitlines()[-1]
        return exe, None

    def build_thumbd(self):
        bdir = os.path.join(ROOT, "build-bench")
        exe = os.path.join(bdir, "daemon", "thumbd")
        logf = os.path.join(self.logs, "build-bench.log")
        with open(logf, "w") as lf:
            if not os.path.exists(os.path.join(bdir, "build.ninja")):
                r = subprocess.run(["meson", "setup", bdir,
                                    "--buildtype=release"], cwd=ROOT,
                                   stdout=lf, stderr=subprocess.STDOUT)
                if r.returncode != 0:
                    return exe, "meson setup failed (see %s)" % logf
            r = subprocess.run(["ninja", "-C", bdir, "daemon/thumbd"],
                               stdout=lf, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            with open(logf) as lf:
                err = [x for x in lf.read().splitlines() if "error" in x]
            return exe, "build failed: %s" % (err[0][:160] if err else logf)
        return exe, self.smoke_thumbd(exe)

    def smoke_thumbd(self, exe):
        """None if thumbd --once makes a thumbnail of one photo, else why."""
        d = tempfile.mkdtemp(prefix="smoke-", dir=self.runs)
        os.makedirs(os.path.join(d, "in"))
        shutil.copyfile(self.photo_src[0]["path"],
                        os.path.join(d, "in", "smoke.jpg"))
        try:
            r = subprocess.run([exe, "--once", "-i", os.path.join(d, "in"),
                                "-o", os.path.join(d, "out"), "-s", str(BOX),
                                "-q", str(QUALITY), "-w", "1"],
                               capture_output=True, text=True, timeout=60)
            ok = os.path.exists(os.path.join(d, "out", "smoke_%d.jpg" % BOX))
            why = (r.stderr.strip().splitlines() or [""])[-1][:160]
        except subprocess.TimeoutExpired:
            ok, why, r = False, "timed out after 60 s", None
        shutil.rmtree(d, ignore_errors=True)
        if not ok:
            return "thumbd --once made no thumbnail (exit %s: %s)" % (
                r.returncode if r else "-", why)
        return None

    def install_sharp(self):
        if not shutil.which("node") or not shutil.which("npm"):
            return None, "node/npm not installed (Debian: nodejs npm)"
        d = os.path.join(self.cache, "node")
        env = dict(os.environ, NODE_PATH=os.path.join(d, "node_modules"))
        check = ["node", "-e", "require('sharp')"]
        if os.path.isdir(os.path.join(d, "node_modules", "sharp")) and \
                subprocess.run(check, env=env, capture_output=True,
                               cwd=d).returncode == 0:
            return d, None
        err = ""
        for v in SHARP_VERSIONS:
            say("npm install sharp@%s" % v)
            os.makedirs(d, exist_ok=True)
            try:
                r = subprocess.run(["npm", "install", "--prefix", d,
                                    "--no-audit", "--no-fund", "--no-save",
                                    "sharp@" + v], capture_output=True,
                                   text=True, timeout=300)
            except subprocess.TimeoutExpired:
                err = "npm install timed out after 300 s"
                continue
            if r.returncode == 0 and subprocess.run(
                    check, env=env, capture_output=True, cwd=d).returncode == 0:
                return d, None
            err = (r.stderr.strip().splitlines() or ["require failed"])[-1]
        return None, "npm install sharp failed: " + err[:200]

    def setup(self):
        a = self.a
        plasma = fetch_package(self.cache, "plasma-workspace-wallpapers")
        self.photo_src = photo_sources(plasma)
        if not self.photo_src:
            sys.exit("bench: no JPEGs found in plasma-workspace-wallpapers")
        self.webp_src = []
        try:
            if not a.daemon_only and a.webp > 0:
                gnome = fetch_package(self.cache, "gnome-backgrounds")
                self.webp_src = webp_sources(gnome)
        except subprocess.CalledProcessError as e:
            self.notes.append("gnome-backgrounds could not be fetched: %s"
                              % e)
        if not self.webp_src and not a.daemon_only and a.webp > 0:
            self.notes.append("no 4096x4096 WebP in gnome-backgrounds: "
                              "the WebP rows are left out")
        self.sets = {}
        self.sets["photos"] = write_list(make_set(
            self.cache, "photos-%d" % a.photos, self.photo_src, a.photos,
            "p", "jpg"))
        base = {s["path"] for s in self.photo_src if not s["progressive"]}
        big = {s["path"] for s in self.photo_src if s["w"] * s["h"] >=
               5120 * 2880}
        ph = self.sets["photos"]
        self.sets["baseline"] = write_list(subset(
            self.cache, "baseline-%d" % a.photos, ph,
            lambda p: ph["src"][p] in base))
        self.sets["renders"] = write_list(subset(
            self.cache, "renders-%d" % a.photos, ph,
            lambda p: ph["src"][p] in big))
        if not a.daemon_only:
            smalls = small_sources(self.cache, self.photo_src)
            self.sets["small"] = write_list(make_set(
                self.cache, "small-%d" % a.small, smalls, a.small, "s",
                "jpg"))
        if self.webp_src and a.webp > 0 and not a.daemon_only:
            self.sets["webp"] = write_list(make_set(
                self.cache, "webp-%d" % a.webp, self.webp_src, a.webp, "w",
                "webp"))

        floor_exe, why = self.build_floor()
        self.floor_exe = floor_exe
        if a.thumbd:
            self.thumbd_exe, twhy = os.path.abspath(a.thumbd), \
                self.smoke_thumbd(os.path.abspath(a.thumbd))
        else:
            self.thumbd_exe, twhy = self.build_thumbd()
        node_dir, swhy = (None, "left out (--no-sharp)") if a.no_sharp \
            or a.daemon_only else self.install_sharp()
        self.tools = {
            "thumbd": Thumbd(self.thumbd_exe, twhy),
            "floor": Floor(floor_exe, why),
            "pillow": Pillow(),
            "vips": Vips(),
            "sharp": Sharp(node_dir, swhy),
            "im": Magick(),
            "gm": GraphicsMagick(),
        }
        for t, prog in (("vips", "vipsthumbnail"), ("im", "/usr/bin/mogrify"),
                        ("gm", "gm")):
            if not shutil.which(prog):
                self.tools[t].reason = "%s not installed" % prog
        self.node_path = os.path.join(node_dir, "node_modules") \
            if node_dir else None
        for k, t in self.tools.items():
            if t.reason:
                say("%s: not available: %s" % (k, t.reason))

    # ---- cells
    def add_cell(self, group, tool, workers, sizes=(BOX,), tag="",
                 args=None):
        t = self.tools[tool]
        cid = "%s.%s%s.w%d" % (group, tool, tag, workers)
        self.cells[cid] = {"id": cid, "group": group, "set": group if
                           group in self.sets else "photos", "tool": tool,
                           "workers": workers, "sizes": list(sizes),
                           "tag": tag}
        if args:
            self.cells[cid]["args"] = list(args)  # appended to tool's argv
        if group == "sizes":
            self.cells[cid]["set"] = "photos"
        return t

    def plan(self):
        a = self.a
        W = a.workers
        if a.daemon_only:
            self.add_cell("photos", "thumbd", 2)
            return
        fast = self.fast_ok()
        if fast and a.quick and len(W) > 1:
            say("--quick: %s at %d workers only" % (FAST_LABEL, max(W)))
            self.notes.append("--quick: %s ran at %d workers only"
                              % (FAST_LABEL, max(W)))
        for w in W:
            for t in ("thumbd", "floor", "pillow", "vips", "sharp", "im",
                      "gm"):
                self.add_cell("photos", t, w)
            if fast and (w == max(W) or not a.quick):
                self.add_cell("photos", "thumbd", w, tag=FAST,
                              args=FAST_ARGS)
            for t in ("thumbd", "floor", "pillow"):
                self.add_cell("small", t, w)
            for t in ("thumbd", "floor"):
                self.add_cell("baseline", t, w)
            if "webp" in self.sets:
                # --quick: thumbd, the floor and the fastest peer only
                for t in ("thumbd", "floor", "vips") if a.quick else \
                        ("thumbd", "floor", "pillow", "vips", "sharp"):
                    self.add_cell("webp", t, w)
        if a.daemon and 2 not in W:
            self.add_cell("photos", "thumbd", 2)  # the daemon's yardstick
        sw = max(W)
        self.add_cell("sizes", "thumbd", sw, (128, 256, 1024), "-3sizes")
        self.add_cell("sizes", "thumbd", sw, (1024,), "-1024")

    def fast_ok(self):
        """True if the thumbd under test has --detail (an older one given
        with --thumbd may not: then the fast row is left out, with a note)."""
        if self.tools["thumbd"].reason:
            return False
        if "--detail" in out_of([self.thumbd_exe, "--help"]):
            return True
        self.notes.append("%s has no --detail option: the %s row is left "
                          "out" % (self.thumbd_exe, FAST_LABEL))
        return False

    def run_cell(self, cell):
        t = self.tools[cell["tool"]]
        st = self.sets[cell["set"]]
        # A new folder per run, nothing deleted until the sitting ends
        # (and the next sitting waits RECENT_S after that):
        # ext4 without a journal (this class of VM) skips inodes freed in
        # the last 60-300 s when it allocates new ones, one lookup each, so
        # deleting 10,000 outputs and writing 10,000 again at once made
        # every create scan them (a third of thumbd's CPU time on the
        # small set, in the kernel, and 1.74x instead of 2x from 1 to 2
        # workers), timing the file system rather than the tool.
        self.run_no += 1
        outdir = os.path.join(self.runs, "%s.%d" % (cell["id"], self.run_no))
        os.makedirs(outdir)
        self.last_out[cell["id"]] = outdir
        argv, cwd, stdin = t.cmd(st, cell["workers"], outdir, cell["sizes"])
        argv = argv + cell.get("args", [])
        env = base_env(cell["workers"])
        if cell["tool"] == "sharp" and self.node_path:
            env["NODE_PATH"] = self.node_path
        with open(os.path.join(self.logs, cell["id"] + ".log"), "ab") as lf:
            lf.write(("\n$ %s\n" % " ".join(shlex.quote(x) for x in argv))
                     .encode())
            lf.flush()
            r = run_timed(argv, env, cwd, stdin, lf)
        n = len(st["files"])
        got = t.outputs(st, outdir, cell["sizes"])
        if got is None:
            m = re.search(r"ok=(\d+)", r["stdout"])
            got = int(m.group(1)) if m else 0
            want = n
        else:
            want = n * len(cell["sizes"])
        r["files"] = n
        r["outputs"] = got
        r["ips"] = n / r["wall"]
        if r["rc"] != 0 or got < n:
            r["error"] = "exit %s, %d of %d outputs (log: logs/%s.log)" % (
                r["rc"], got, want, cell["id"])
        elif got < want:
            r["warning"] = "%d of %d outputs" % (got, want)
        del r["stdout"]
        self.results.setdefault(cell["id"], []).append(r)
        return r

    def runnable(self, cell):
        return self.tools[cell["tool"]].reason is None

    def warm(self):
        """Page cache and first-run costs (library loading) out of the way."""
        say("warming the page cache and each tool")
        for st in self.sets.values():
            for p in st["files"]:
                with open(p, "rb") as f:
                    while f.read(1 << 20):
                        pass
        ph = self.sets["photos"]
        first = set(ph["files"][:4])
        self.sets["warm"] = write_list(subset(
            self.cache, "warm-%d" % self.a.photos, ph, lambda p: p in first))
        for tool in dict.fromkeys(c["tool"] for c in self.cells.values()):
            if self.tools[tool].reason:
                continue
            wc = {"id": "warm." + tool, "group": "warm", "set": "warm",
                  "tool": tool, "workers": 1, "sizes": [BOX], "tag": ""}
            r = self.run_cell(wc)
            self.results.pop(wc["id"], None)
            if "error" in r:
                self.tools[tool].reason = "failed on a first try: " + \
                    r["error"]
                say("%s: %s" % (tool, self.tools[tool].reason))

    def timed(self):
        cells = [c for c in self.cells.values() if self.runnable(c)]
        for rep in range(self.a.repeats):
            order = list(cells)
            random.Random(1000 + rep).shuffle(order)
            say("repeat %d of %d: %d runs" % (rep + 1, self.a.repeats,
                                              len(order)))
            for c in order:
                r = self.run_cell(c)
                say("  %-28s %8.1f img/s  %6.1f MiB%s" % (
                    c["id"], r["ips"], (r["rss_kb"] or 0) / 1024,
                    "  ERROR " + r["error"] if "error" in r else ""))
                if self.a.daemon and c["id"] == "photos.thumbd.w2":
                    self.daemon_copy(rep)

    # ---- thumbd memory
    def thumbd_rss(self):
        if self.tools["thumbd"].reason:
            return
        say("thumbd RSS runs (master sampled from /proc)")
        out = {}
        for name, st, w in (("photos", self.sets["photos"], 2),
                            ("renders", self.sets["renders"], 1)):
            outdir = os.path.join(self.runs, "rss-" + name)
            shutil.rmtree(outdir, ignore_errors=True)
            argv, _, _ = self.tools["thumbd"].cmd(st, w, outdir, [BOX])
            with open(os.path.join(self.logs, "rss-%s.log" % name), "wb") as lf:
                r = run_timed(argv, base_env(w), logf=lf, poll=True)
            # time -v gives the largest process; that is a worker unless
            # the master was larger, and then the samples must do
            wk = r["rss_kb"]
            if wk and r["master_kb"] and r["master_kb"] >= wk:
                wk = max(r["workers_kb"] or [0]) or None
            out[name] = {"workers": w, "files": len(st["files"]),
                         "max_kb": r["rss_kb"], "master_kb": r["master_kb"],
                         "workers_kb": r["workers_kb"], "worker_peak_kb": wk,
                         "rc": r["rc"]}
        self.rss = out

    # ---- SSIM
    def quality(self):
        sys.path.insert(0, HERE)
        import bench_ssim
        say("SSIM against full decode + Lanczos")
        self.ssim = {}
        for cid, c in self.cells.items():
            # the outputs left by the last run at the most workers; of the
            # tagged cells only the fast variant (the sizes ones have other
            # output sizes)
            if c["workers"] != max(self.a.workers) or c["tool"] == "floor" \
                    or c["tag"] not in ("", FAST) or cid not in self.results:
                continue
            key = (c["group"], c["tool"], c["tag"])
            if key in self.ssim:
                continue
            st = self.sets[c["set"]]
            t = self.tools[c["tool"]]
            outdir = self.last_out[cid]
            sample = st["files"][:min(st["distinct"], self.a.ssim_sample)]
            pairs = [(st["src"][p], t.thumb_of(p, outdir)) for p in sample]
            r = bench_ssim.score_pairs(pairs, os.path.join(self.cache, "ref"))
            self.ssim[key] = r

    # ---- daemon
    def daemon_copy(self, rep):
        if self.tools["thumbd"].reason:
            return
        say("  daemon: copy %d photos into a watched folder" %
            len(self.sets["photos"]["files"]))
        r = self.daemon_call(["copy", "--list", self.sets["photos"]["list"]],
                             "copy-%d" % rep)
        self.daemon.setdefault("copy", []).append(r)
        if "seconds" in r:
            say("  daemon copy: %.2f s" % r["seconds"])
        else:
            say("  daemon copy: %s" % r.get("error"))

    def daemon_call(self, args, tag):
        work = os.path.join(self.runs, "daemon-" + tag)
        shutil.rmtree(work, ignore_errors=True)
        argv = [PY, os.path.join(HERE, "bench_daemon.py")] + args + [
            "--thumbd", self.thumbd_exe, "--work", work, "--size", str(BOX),
            "--quality", str(QUALITY), "--workers", "2",
            "--log", os.path.join(self.logs, "daemon-%s.log" % tag)]
        os.sync()
        r = subprocess.run(argv, capture_output=True, text=True,
                           env=base_env(2))
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": "bench_daemon.py failed: %s" %
                    (r.stderr.strip().splitlines() or ["?"])[-1][:200]}

    def daemon_latency(self):
        if self.tools["thumbd"].reason:
            return
        drop = next((s for s in self.photo_src if (s["w"], s["h"]) ==
                     (2560, 1600) and not s["progressive"]),
                    self.photo_src[0])
        self.daemon["drop_file"] = drop["name"]
        # the floor's time for that one file: the median of 5 runs of 50
        lst = os.path.join(self.runs, "drop.lst")
        with open(lst, "w") as f:
            f.write((drop["path"] + "\n") * 50)
        ts = []
        for _ in range(5):
            r = subprocess.run([self.floor_exe, "-w", "1", "-s", str(BOX),
                                "-l", lst], capture_output=True, text=True)
            m = re.search(r"seconds=([\d.]+)", r.stdout)
            if m:
                ts.append(float(m.group(1)) / 50)
        self.daemon["floor_ms"] = statistics.median(ts) * 1000 if ts else None
        say("daemon: %d drops per method of %s into an idle daemon" % (
            self.a.drops, drop["name"]))
        self.daemon["latency"] = self.daemon_call(
            ["latency", "--drop", drop["path"], "--drops",
             str(self.a.drops)], "latency")

    # ---- driver
    def run(self):
        self.setup()
        self.daemon = {}
        self.plan()
        self.warm()
        self.timed()
        if not self.a.daemon_only:
            self.thumbd_rss()
            self.quality()
        else:
            self.rss, self.ssim = {}, {}
        if self.a.daemon:
            self.daemon_latency()
        report = Report(self)
        report.write()
        self.delete_outputs()


# --------------------------------------------------------------- report

def med(runs):
    ok = [r["ips"] for r in runs if "error" not in r]
    return statistics.median(ok) if ok else None


def fmt_ips(runs):
    if not runs:
        return "–"
    ok = [r["ips"] for r in runs if "error" not in r]
    if not ok:
        return "failed"
    m = statistics.median(ok)
    p = 0 if m >= 100 else 1
    return "%.*f (%.*f–%.*f)" % (p, m, p, min(ok), p, max(ok))


def mib(kb):
    return "%.1f" % (kb / 1024.0) if kb else "–"


GROUP_TITLES = {
    "photos": "photos: {n} real photos",
    "small": "small: {n} web-size JPEGs (640x400, q85)",
    "baseline": "baseline: the {n} non-progressive files of the photo set",
    "webp": "webp: {n} 4096x4096 WebP files (gnome-backgrounds)",
    "sizes": "sizes: thumbd on the photo set, three sizes vs 1024 alone",
}


class Report:
    def __init__(self, b):
        self.b = b
        self.a = b.a
        self.lines = []

    def cell(self, group, tool, w, tag=""):
        return self.b.results.get("%s.%s%s.w%d" % (group, tool, tag, w))

    def ips(self, group, tool, w, tag=""):
        runs = self.cell(group, tool, w, tag)
        return med(runs) if runs else None

    def table(self, group, tools):
        b, W = self.b, self.a.workers
        st = b.sets[group]
        desc = GROUP_TITLES[group].format(n="{:,}".format(len(st["files"])))
        if group == "photos":
            prog = sum(1 for s in b.photo_src if s["progressive"])
            desc += " (copies of %d distinct: 2560x1600 photos, 5120x2880 " \
                "renders and a few others; %d progressive)" % (
                    st["distinct"], prog)
        L = self.lines
        L.append("### " + desc)
        L.append("")
        hdr = ["tool"] + ["img/s, %d worker%s" % (w, "s" if w > 1 else "")
                          for w in W]
        if len(W) > 1:
            hdr.append("%d→%d" % (W[0], W[-1]))
        hdr += ["peak RSS MiB (%s)" % "/".join("%dw" % w for w in W),
                "SSIM"]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        # (tool, tag, label): the fast variant right under thumbd
        rows = []
        for tool in tools:
            rows.append((tool, "", b.tools[tool].label))
            if tool == "thumbd":
                rows.append((tool, FAST, FAST_LABEL))
        for tool, tag, label in rows:
            t = b.tools[tool]
            if not any(c["group"] == group and c["tool"] == tool and
                       c["tag"] == tag for c in b.cells.values()):
                continue
            if t.reason:
                L.append("| %s | not available: %s |" % (label, t.reason)
                         + " |" * (len(hdr) - 2))
                continue
            row = [label]
            for w in W:
                row.append(fmt_ips(self.cell(group, tool, w, tag)))
            if len(W) > 1:
                lo, hi = self.ips(group, tool, W[0], tag), \
                    self.ips(group, tool, W[-1], tag)
                row.append("%.2f×" % (hi / lo) if lo and hi else "–")
            rss = []
            for w in W:
                runs = self.cell(group, tool, w, tag) or []
                rss.append(mib(max([r["rss_kb"] or 0 for r in runs] or [0])))
            row.append(" / ".join(rss))
            s = b.ssim.get((group, tool, tag))
            row.append("%.4f" % s["mean"] if s and s["mean"] else "–")
            L.append("| " + " | ".join(row) + " |")
            errs = {r["error"] for w in W for r in
                    (self.cell(group, tool, w, tag) or []) if "error" in r}
            for e in sorted(errs):
                b.notes.append("%s on %s: %s" % (label, group, e))
        L.append("")

    def sizes_table(self):
        b = self.b
        w = max(self.a.workers)
        L = self.lines
        if b.tools["thumbd"].reason:
            return
        L.append("### " + GROUP_TITLES["sizes"].format(n=0))
        L.append("")
        L.append("| thumbd --once -w %d | img/s | seconds |" % w)
        L.append("|---|---|---|")
        n = len(b.sets["photos"]["files"])
        for tag, label in (("-3sizes", "-s 128,256,1024"),
                           ("-1024", "-s 1024")):
            m = self.ips("sizes", "thumbd", w, tag)
            L.append("| %s | %s | %s |" % (
                label, fmt_ips(self.cell("sizes", "thumbd", w, tag)),
                "%.2f" % (n / m) if m else "–"))
        L.append("")

    def targets(self):
        b = self.b
        W = self.a.workers
        w = max(W)
        rows = []

        def add(name, measured, goal, ok):
            rows.append((name, measured, goal,
                         "n/a" if ok is None else ("PASS" if ok else "FAIL")))

        th = b.tools["thumbd"].reason
        na = "thumbd not available" if th else None

        def ratio(x, y):
            return x / y if x and y else None

        tp = self.ips("photos", "thumbd", w)
        peers = {k: self.ips("photos", k, w) for k in
                 ("pillow", "vips", "sharp", "im", "gm")}
        peers = {k: v for k, v in peers.items() if v}
        best = max(peers.items(), key=lambda kv: kv[1]) if peers else None
        fl = self.ips("photos", "floor", w)
        r1 = ratio(tp, best[1]) if best else None
        add("photos: ≥ 1.3× fastest peer (%dw)" % w,
            na or ("%.2f× %s" % (r1, b.tools[best[0]].key) if r1 else "–"),
            "≥ 1.30×", None if r1 is None else r1 >= 1.3)
        r2 = ratio(tp, fl)
        add("photos: ≥ 1.15× floor (%dw)" % w,
            na or ("%.2f×" % r2 if r2 else "–"), "≥ 1.15×",
            None if r2 is None else r2 >= 1.15)
        r3 = ratio(self.ips("baseline", "thumbd", w),
                   self.ips("baseline", "floor", w))
        add("baseline only: ≥ 0.95× floor (%dw)" % w,
            na or ("%.2f×" % r3 if r3 else "–"), "≥ 0.95×",
            None if r3 is None else r3 >= 0.95)
        sp = self.ips("small", "thumbd", w)
        r4 = ratio(sp, self.ips("small", "pillow", w))
        add("small: ≥ 3× Pillow pool (%dw)" % w,
            na or ("%.2f×" % r4 if r4 else "–"), "≥ 3.00×",
            None if r4 is None else r4 >= 3)
        r5 = ratio(sp, self.ips("small", "floor", w))
        add("small: ≥ 0.75× floor (%dw)" % w,
            na or ("%.2f×" % r5 if r5 else "–"), "≥ 0.75×",
            None if r5 is None else r5 >= 0.75)
        if len(W) > 1:
            r6 = ratio(tp, self.ips("photos", "thumbd", W[0]))
            add("photos: %d→%d workers" % (W[0], w),
                na or ("%.2f×" % r6 if r6 else "–"), "≥ 1.90×",
                None if r6 is None else r6 >= 1.9)
        r7 = ratio(self.ips("sizes", "thumbd", w, "-1024"),
                   self.ips("sizes", "thumbd", w, "-3sizes"))
        add("-s 128,256,1024 time vs -s 1024 alone",
            na or ("%.2f×" % r7 if r7 else "–"), "≤ 1.30×",
            None if r7 is None else r7 <= 1.3)
        # thumbd's SSIM against vipsthumbnail's: the default is the
        # target; the opt-in --detail fast is reported
        s_v = b.ssim.get(("photos", "vips", ""))
        for tag, what in (("", ""), (FAST, " with --detail fast (opt-in)")):
            s_t = b.ssim.get(("photos", "thumbd", tag))
            ok = None
            if s_t and s_v and s_t["mean"] and s_v["mean"]:
                ok = s_t["mean"] >= s_v["mean"]
            shown = na or ("%.5f vs %.5f" % (s_t["mean"], s_v["mean"])
                           if ok is not None else "–")
            if tag:
                rows.append(("photos: SSIM vs vipsthumbnail's" + what,
                             shown, "report", "–"))
            else:
                add("photos: SSIM ≥ vipsthumbnail's", shown, "≥", ok)
        # --detail fast's speed against the floor, for information only
        rf = ratio(self.ips("photos", "thumbd", w, FAST), fl)
        rows.append(("photos: --detail fast vs floor (%dw)" % w,
                     na or ("%.2f×" % rf if rf else "–"), "report", "–"))
        rss = getattr(b, "rss", {})
        rr = rss.get("renders")
        wp = rr.get("worker_peak_kb") if rr else None
        add("worker peak RSS on 5120x2880 (-w 1)",
            na or ("%s MiB" % mib(wp) if wp else "–"),
            "≤ 64 MiB", None if not wp else wp <= 64 * 1024)
        masters = [v["master_kb"] for v in rss.values() if v.get("master_kb")]
        dm = b.daemon.get("copy") or []
        masters += [d["master_kb"] for d in dm if d.get("master_kb")]
        lat = b.daemon.get("latency") or {}
        if lat.get("master_kb"):
            masters.append(lat["master_kb"])
        add("master peak RSS (VmHWM)",
            na or ("%s MiB" % mib(max(masters)) if masters else "–"),
            "≤ 10 MiB", max(masters) <= 10 * 1024 if masters else None)
        if self.a.daemon:
            p50 = (lat.get("close") or {}).get("p50_ms")
            fm = b.daemon.get("floor_ms")
            add("daemon idle latency p50 ≤ floor + 5 ms",
                na or ("%.1f ms vs %.1f + 5 ms" % (p50, fm)
                       if p50 is not None and fm else
                       lat.get("error", "–")), "≤ floor + 5 ms",
                None if p50 is None or fm is None else p50 <= fm + 5)
            cs = [d["seconds"] for d in dm if "seconds" in d]
            once = self.ips("photos", "thumbd", 2)
            n = len(b.sets["photos"]["files"])
            if cs and once:
                rc = statistics.median(cs) / (n / once)
                add("daemon %s-copy vs --once -w 2" % "{:,}".format(n),
                    "%.2f s vs %.2f s (%.2f×)" % (statistics.median(cs),
                                                  n / once, rc),
                    "≤ 1.10×", rc <= 1.1)
            else:
                add("daemon copy vs --once -w 2",
                    na or next((d["error"] for d in dm if "error" in d), "–"),
                    "≤ 1.10×", None)
        if self.a.daemon_only:
            keep = ("master", "daemon")
            rows = [r for r in rows if r[0].startswith(keep)]
        L = self.lines
        L.append("### Targets")
        L.append("")
        L.append("| target | measured | goal | result |")
        L.append("|---|---|---|---|")
        for r in rows:
            L.append("| %s | %s | %s | %s |" % r)
        L.append("")
        self.target_rows = rows

    def daemon_section(self):
        b = self.b
        L = self.lines
        L.append("### Daemon mode (thumbd -i IN -o OUT -s %d -q %d -w 2)"
                 % (BOX, QUALITY))
        L.append("")
        if b.tools["thumbd"].reason:
            L.append("not available: " + b.tools["thumbd"].reason)
            L.append("")
            return
        dm = b.daemon.get("copy") or []
        cs = [d["seconds"] for d in dm if "seconds" in d]
        n = len(b.sets["photos"]["files"])
        L.append("| measure | value |")
        L.append("|---|---|")
        if cs:
            L.append("| cp %d photos into the watched folder → last "
                     "thumbnail (median of %d) | %.2f s (%.0f img/s; "
                     "runs %s) |" % (n, len(cs), statistics.median(cs),
                                     n / statistics.median(cs),
                                     ", ".join("%.2f" % c for c in cs)))
        for d in dm:
            if "error" in d:
                L.append("| copy run | error: %s |" % d["error"])
        lat = b.daemon.get("latency") or {}
        fm = b.daemon.get("floor_ms")
        if "error" in lat:
            L.append("| idle latency | error: %s |" % lat["error"])
        for mode, what in (("close", "write+close() in the folder"),
                           ("rename", "rename() into the folder")):
            m = lat.get(mode)
            if m and m.get("n"):
                L.append("| one %s (%s) → thumbnail: p50 / p99 / max over "
                         "%d | %.1f / %.1f / %.1f ms |" % (
                             b.daemon.get("drop_file"), what, m["n"],
                             m["p50_ms"], m["p99_ms"], m["max_ms"]))
        if fm:
            L.append("| decoder floor for that file | %.1f ms |" % fm)
        vals = [(d.get("master_kb"), d.get("workers_kb")) for d in dm] + \
            [(lat.get("master_kb"), lat.get("workers_kb"))]
        mk = [v[0] for v in vals if v[0]]
        wk = [x for v in vals if v[1] for x in v[1]]
        if mk:
            L.append("| master VmHWM (max over daemon runs) | %s MiB |"
                     % mib(max(mk)))
        if wk:
            L.append("| worker VmHWM (max over workers and runs) | %s MiB |"
                     % mib(max(wk)))
        L.append("")

    def machine(self):
        model = ""
        for line in out_of(["lscpu"]).splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
        return model, os.cpu_count(), platform.release()

    def versions(self):
        def dq(p):
            return out_of(["dpkg-query", "-W", "-f=${Version}", p]) or "?"
        v = ["libjpeg-turbo %s" % dq("libjpeg62-turbo"),
             "libwebp %s" % dq("libwebp7"),
             "Pillow %s" % dq("python3-pil"),
             "libvips-tools %s" % dq("libvips-tools"),
             "ImageMagick %s" % dq("imagemagick"),
             "GraphicsMagick %s" % dq("graphicsmagick")]
        if self.b.node_path:
            try:
                with open(os.path.join(self.b.node_path, "sharp",
                                       "package.json")) as f:
                    v.append("sharp %s (its own bundled libvips), node %s" % (
                        json.load(f)["version"], out_of(["node",
                                                         "--version"])))
            except (OSError, ValueError):
                pass
        return ", ".join(v)

    def method(self):
        a = self.a
        return [
            "Method: box %d px, JPEG quality %d, workers %s; %d run(s) of "
            "every (set, tool, workers) cell in a new shuffled order each "
            "repeat; img/s = files / wall time of the whole command "
            "(start-up included), median with (min–max); a new output "
            "folder for every run, all deleted only at the end (see "
            "run_cell in scripts/bench_main.py), and a sync before each "
            "run; inputs in the page cache."
            % (BOX, QUALITY, ",".join(str(w) for w in a.workers),
               a.repeats),
            "N workers = N processes at one thread each (OMP_NUM_THREADS, "
            "MAGICK_THREAD_LIMIT, VIPS_CONCURRENCY = 1); vipsthumbnail, "
            "mogrify and gm mogrify get the files in batches of about a "
            "tenth of a worker's share through xargs -P N; Pillow runs "
            "Image.thumbnail() in ProcessPoolExecutor(max_workers=N, "
            "chunksize 8, less for small sets); sharp keeps N images in "
            "flight in one process "
            "(UV_THREADPOOL_SIZE=N, sharp.concurrency(1)); the floor forks "
            "N processes that take files from a shared counter and decode "
            "at the largest DCT scale that keeps the long side ≥ %d "
            "(WebP: full decode), nothing else." % BOX,
            "Peak RSS: GNU time's maximum resident set size of the top "
            "command, which Linux reports as the largest of it and every "
            "descendant it reaped, i.e. the largest single process "
            "(for thumbd: a worker, or the master if larger). thumbd's "
            "master alone: VmHWM sampled from /proc every 20 ms; in daemon "
            "mode, master and worker VmHWM read from /proc before stopping.",
            "SSIM: on luma, 11×11 Gaussian window, against Pillow's full "
            "decode (EXIF orientation applied) + Lanczos to the tool's own "
            "output size, from the outputs of the last %d-worker run; over "
            "the distinct images of each set, at most %d (%s); the sets are "
            "copies of them." % (
                max(a.workers), a.ssim_sample, ", ".join(
                    "%s: %d" % (g, min(self.b.sets[g]["distinct"],
                                       a.ssim_sample))
                    for g in ("photos", "small", "webp")
                    if g in self.b.sets)),
        ]

    def write(self):
        b = self.b
        a = self.a
        L = self.lines
        model, ncpu, kernel = self.machine()
        L.append("## Benchmark results")
        L.append("")
        L.append("- date: %s" % datetime.datetime.now().astimezone()
                 .strftime("%Y-%m-%d %H:%M %Z"))
        L.append("- machine: %s, %d CPUs (nproc), Linux %s" % (model, ncpu,
                                                              kernel))
        L.append("- command: `%s`" % a.command)
        L.append("- versions: thumbd %s; %s" % (
            b.thumbd_exe if a.thumbd else "%s (build-bench, --buildtype="
            "release)" % (out_of(["git", "-C", ROOT, "describe", "--always",
                                  "--dirty"]) or "?"), self.versions()))
        L.append("")
        if not a.daemon_only:
            self.table("photos", ["thumbd", "floor", "pillow", "vips",
                                  "sharp", "im", "gm"])
            self.table("small", ["thumbd", "floor", "pillow"])
            self.table("baseline", ["thumbd", "floor"])
            self.sizes_table()
            if "webp" in b.sets:
                self.table("webp", ["thumbd", "floor", "pillow", "vips",
                                    "sharp"])
            rss = getattr(b, "rss", {})
            if rss:
                L.append("### thumbd memory")
                L.append("")
                L.append("| run | largest process (time -v) | master VmHWM "
                         "(sampled) | workers VmHWM (sampled) |")
                L.append("|---|---|---|---|")
                for name, v in rss.items():
                    L.append("| --once -w %d on %s (%d files) | %s MiB | %s "
                             "MiB | %s MiB |" % (
                                 v["workers"], name, v["files"],
                                 mib(v["max_kb"]), mib(v["master_kb"]),
                                 ", ".join(mib(x) for x in v["workers_kb"])
                                 or "–"))
                L.append("")
        if a.daemon:
            self.daemon_section()
        self.targets()
        for m in self.method():
            L.append(m)
            L.append("")
        if b.notes:
            L.append("Notes:")
            L.append("")
            for n in dict.fromkeys(b.notes):
                L.append("- " + n)
            L.append("")
        text = "\n".join(L)
        path = os.path.join(b.out, "results.md")
        with open(path, "w") as f:
            f.write(text)
        with open(os.path.join(b.out, "results.json"), "w") as f:
            json.dump({"command": a.command, "results": b.results,
                       "cells": b.cells,
                       "ssim": {"%s.%s%s" % k: v for k, v in b.ssim.items()},
                       "rss": getattr(b, "rss", {}), "daemon": b.daemon,
                       "targets": getattr(self, "target_rows", []),
                       "unavailable": {k: t.reason for k, t in
                                       b.tools.items() if t.reason}},
                      f, indent=1)
        if not a.daemon_only:
            self.plot()
        print(text)
        say("wrote %s" % path)

    def plot(self):
        b = self.b
        W = self.a.workers
        dat = os.path.join(b.out, "bench.dat")
        groups = [g for g in ("photos", "small") if g in b.sets]
        with open(dat, "w") as f:
            for g in groups:
                f.write("# %s\ntool %s\n" % (g, " ".join(
                    '"%d worker%s"' % (w, "s" if w > 1 else "") for w in W)))
                for tool, tag in (("thumbd", ""), ("thumbd", FAST),
                                  ("floor", ""), ("pillow", ""),
                                  ("vips", ""), ("sharp", ""), ("im", ""),
                                  ("gm", "")):
                    vals = [self.ips(g, tool, w, tag) for w in W]
                    if any(vals):
                        f.write('"%s" %s\n' % (
                            {"thumbd": "thumbd", "thumbd-fast": "fast",
                             "floor": "floor",
                             "pillow": "Pillow", "vips": "vips",
                             "sharp": "sharp", "im": "IM6",
                             "gm": "GM"}[tool + tag],
                            " ".join("%.2f" % (v or 0) for v in vals)))
                f.write("\n\n")
        png = os.path.join(b.out, "bench.png")
        titles = []
        for g in groups:
            titles.append("%s files" % "{:,}".format(len(b.sets[g]["files"]))
                          + (" (photos)" if g == "photos" else
                             " (640x400 JPEG)"))
        r = subprocess.run(["gnuplot", "-e", "dat='%s'; out='%s'; "
                            "t0='%s'; t1='%s'; nw=%d; ng=%d" % (
                                dat, png, titles[0],
                                titles[1] if len(titles) > 1 else "",
                                len(W), len(groups)),
                            os.path.join(HERE, "bench_plot.gp")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            say("gnuplot failed: %s" % r.stderr.strip()[-300:])
        else:
            say("wrote %s" % png)


def main():
    ap = argparse.ArgumentParser(description="thumbd benchmark")
    ap.add_argument("--quick", action="store_true",
                    help="reduced sets, under 3 minutes on 2 cores")
    ap.add_argument("--daemon", action="store_true",
                    help="only the daemon-mode part")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out"),
                    help="output folder (default: bench-out/ in the repo)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs per cell, median reported (default 3)")
    ap.add_argument("--workers", default="1,2",
                    help="worker counts to compare (default 1,2)")
    ap.add_argument("--photos", type=int,
                    help="photo set size (default 1000, --quick 48)")
    ap.add_argument("--small", type=int,
                    help="640x400 set size (default 10000, --quick 1000)")
    ap.add_argument("--webp", type=int,
                    help="4096x4096 WebP set size, 0 for none (default 56, "
                    "--quick 14)")
    ap.add_argument("--drops", type=int, default=200,
                    help="files dropped into the idle daemon per method "
                    "(default 200)")
    ap.add_argument("--ssim-sample", type=int, default=50,
                    help="most files per tool for SSIM (default 50)")
    ap.add_argument("--no-sharp", action="store_true",
                    help="leave out sharp (no npm install)")
    ap.add_argument("--thumbd", help="benchmark this thumbd executable "
                    "instead of building build-bench")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.workers = sorted({int(x) for x in a.workers.split(",")})
    if a.quick:
        a.photos = a.photos or 48
        a.small = a.small or 1000
        a.webp = a.webp if a.webp is not None else 14
    else:
        a.photos = a.photos or 1000
        a.small = a.small or 10000
        a.webp = a.webp if a.webp is not None else 56
    a.daemon_only = a.daemon
    a.daemon = a.daemon or not a.quick
    if a.daemon_only:
        a.workers = [2]
    if a.repeats < 1:
        ap.error("--repeats must be at least 1")
    a.command = a.command or " ".join(shlex.quote(x) for x in sys.argv)
    Bench(a).run()


if __name__ == "__main__":
    main()
