#!/usr/bin/python3
"""Daemon-mode part of scripts/bench: thumbd as a service, timed from the
outside with inotify on the output folder.

    bench_daemon.py copy    --list FILES.lst --thumbd EXE --work DIR [...]
    bench_daemon.py latency --drop FILE [--drops 200] --thumbd EXE --work DIR

Both start `thumbd -i DIR/in -o DIR/out -s SIZE -q Q -w N` on empty
folders, wait for its "ready" log line, and read master and worker VmHWM
from /proc before stopping it with SIGTERM.

copy:    time from starting `cp` of every listed file into the watched
         folder until the last thumbnail is renamed into place.
latency: DROPS times by each method, alternately: (a) write the file into
         the watched folder and close() it, (b) rename() a fully written
         file from outside into it; the clock starts just before
         close()/rename() and stops when inotify reports the thumbnail;
         p50/p99 per method. The daemon is idle between drops.

Prints one JSON object on the last line of stdout.
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time

IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_Q_OVERFLOW = 0x4000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                    use_errno=True)


class Inotify:
    """Names that appear in one folder (renamed in or closed after write)."""

    def __init__(self, path):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = _libc.inotify_add_watch(self.fd, path.encode(),
                                     IN_CLOSE_WRITE | IN_MOVED_TO)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)
        self.path = path
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLIN)
        self.overflow = False

    def wait(self, timeout):
        """Names seen within @timeout seconds ([] on time-out)."""
        if not self.poll.poll(max(0, int(timeout * 1000))):
            return []
        names = []
        try:
            buf = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        off = 0
        while off + 16 <= len(buf):
            _, mask, _, ln = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16:off + 16 + ln].split(b"\0", 1)[0]
            off += 16 + ln
            if mask & IN_Q_OVERFLOW:
                self.overflow = True
            elif name:
                names.append(name.decode(errors="replace"))
        return names

    def close(self):
        os.close(self.fd)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def vmhwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Daemon:
    def __init__(self, a):
        self.a = a
        self.inp = os.path.join(a.work, "in")
        self.out = os.path.join(a.work, "out")
        os.makedirs(self.inp)
        os.makedirs(self.out)
        self.logf = open(a.log or os.path.join(a.work, "thumbd.log"), "ab+")
        self.p = None

    def start(self, timeout=30):
        a = self.a
        t0 = time.perf_counter()
        self.p = subprocess.Popen(
            [a.thumbd, "-i", self.inp, "-o", self.out, "-s", str(a.size),
             "-q", str(a.quality), "-w", str(a.workers)],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        start = self.logf.tell()
        ready = re.compile(rb"\bready\b")
        while time.perf_counter() - t0 < timeout:
            with open(self.logf.name, "rb") as f:
                f.seek(start)
                if ready.search(f.read()):
                    return time.perf_counter() - t0
            if self.p.poll() is not None:
                raise RuntimeError("thumbd exited with status %d before "
                                   "logging 'ready'" % self.p.returncode)
            time.sleep(0.01)  # polling a log file: nothing to block on
        raise RuntimeError("thumbd logged no 'ready' within %d s" % timeout)

    def rss(self):
        pid = self.p.pid
        return vmhwm_kb(pid), sorted(v for v in (vmhwm_kb(c) for c in
                                                 children(pid)) if v)

    def stop(self):
        if self.p is None or self.p.poll() is not None:
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "killed after SIGTERM timed out"


def thumb_name(path, size):
    return "%s_%d.jpg" % (os.path.splitext(os.path.basename(path))[0], size)


def do_copy(a, d):
    with open(a.list) as f:
        files = [x.rstrip("\n") for x in f if x.strip()]
    want = {thumb_name(p, a.size) for p in files}
    ino = Inotify(d.out)
    ready_s = d.start()
    t0 = time.perf_counter()
    cp = subprocess.Popen(["cp", "--"] + files + [d.inp])
    deadline = t0 + a.timeout
    while want and time.perf_counter() < deadline:
        for n in ino.wait(min(1.0, deadline - time.perf_counter())):
            want.discard(n)
        if ino.overflow:  # lost events: look at the folder itself
            ino.overflow = False
            want -= set(os.listdir(d.out))
        if d.p.poll() is not None:
            break
    t1 = time.perf_counter()
    cp.wait()
    res = {"files": len(files), "ready_s": ready_s}
    if want:
        res["error"] = "%d of %d thumbnails missing after %.0f s%s" % (
            len(want), len(files), t1 - t0, "" if d.p.poll() is None else
            " (thumbd exited with %s)" % d.p.returncode)
    else:
        res["seconds"] = t1 - t0
    res["master_kb"], res["workers_kb"] = d.rss()
    ino.close()
    return res


def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def do_latency(a, d):
    with open(a.drop, "rb") as f:
        data = f.read()
    ino = Inotify(d.out)
    res = {"ready_s": d.start()}
    stage = os.path.join(a.work, "stage")
    os.makedirs(stage)
    time.sleep(0.3)  # let the start-up scan and worker spawn settle
    lat = {"close": [], "rename": []}
    misses = 0
    for i in range(2 * a.drops):  # --drops of each method, interleaved
        mode = "close" if i % 2 == 0 else "rename"
        name = "d%04d.jpg" % i
        target = os.path.join(d.inp, name)
        if mode == "close":
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            t0 = time.perf_counter()
            os.close(fd)
        else:
            tmp = os.path.join(stage, name)
            with open(tmp, "wb") as f:
                f.write(data)
            t0 = time.perf_counter()
            os.rename(tmp, target)
        want = thumb_name(name, a.size)
        t1 = None
        deadline = t0 + 10
        while time.perf_counter() < deadline:
            names = ino.wait(deadline - time.perf_counter())
            now = time.perf_counter()
            if want in names or (ino.overflow and
                                 os.path.exists(os.path.join(d.out, want))):
                t1 = now
                break
            if d.p.poll() is not None:
                break
        if t1 is None:
            misses += 1
            if d.p.poll() is not None:
                res["error"] = "thumbd exited with %s during the drops" % \
                    d.p.returncode
                break
        else:
            lat[mode].append((t1 - t0) * 1000)
        time.sleep(0.02)  # idle again before the next drop
    for mode, v in lat.items():
        res[mode] = {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99),
                     "max_ms": max(v) if v else None,
                     "mean_ms": sum(v) / len(v) if v else None}
    res["misses"] = misses
    if misses and "error" not in res:
        res["error"] = "%d drops gave no thumbnail within 10 s" % misses
    res["master_kb"], res["workers_kb"] = d.rss()
    ino.close()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("copy", "latency"))
    ap.add_argument("--thumbd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--list")
    ap.add_argument("--drop")
    ap.add_argument("--drops", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--log")
    a = ap.parse_args()
    os.makedirs(a.work)
    d = Daemon(a)
    try:
        res = do_copy(a, d) if a.mode == "copy" else do_latency(a, d)
    except (RuntimeError, OSError) as e:
        res = {"error": str(e)}
    rc = d.stop()
    res["exit"] = rc
    print(json.dumps(res))
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
