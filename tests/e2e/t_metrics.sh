#!/usr/bin/env bash
# The Prometheus metrics file (metrics_file = …): valid text exposition
# format by a strict parser, replaced atomically (readers never see a partial
# file, no temp left behind, world-readable for node_exporter), and its
# counters agree with what happened: images ok and failed, the failure
# reason, bytes in and out, the latency histogram, and the gauges.
. "$(dirname "$0")/lib.sh"

CHECK=$(dirname "$0")/prom_check.py
MDIR=$T/metrics
PROM=$MDIR/thumbd.prom
mkdir -p "$MDIR"
# the file changes once a second: no need to look more often than this
WAIT_POLL=0.2

cat >"$T/thumbd.conf" <<EOF
[daemon]
workers = 2
stats_interval = 1s
metrics_file = $PROM

[watch main]
input = $IN
output = $OUT
EOF

# metric NAME [LABEL=VALUE...]: the sum of the matching samples (validates
# the whole file first; empty output and status 1 if invalid or absent).
metric() {
	"$E2E_PY" "$CHECK" "$PROM" --sum "$@" 2>"$T/check.err"
}

t_start=$(date +%s)
start_daemon -c "$T/thumbd.conf"
t_ready=$(date +%s)

wait_until 10 test -s "$PROM" || fail "no metrics file $PROM within 10 s of start"
"$E2E_PY" "$CHECK" "$PROM" || fail "metrics file of an idle daemon is not valid"
[ "$(metric thumbd_up)" = 1 ] || fail "thumbd_up is not 1"
[ "$(metric thumbd_images_total)" = 0 ] || fail "images counted before any input"

# five good inputs of two formats and one that is not an image
cp "$(img_jpeg 320 240)" "$IN/a.jpg"
cp "$(img_jpeg 640 480)" "$IN/b.jpg"
cp "$(img_jpeg 300 400)" "$IN/c.jpg"
cp "$(img_jpeg 800 200)" "$IN/d.jpg"
cp "$(img_webp 400 300)" "$IN/e.webp"
printf 'this is not an image\n' >"$T/src/bad.jpg"
cp "$T/src/bad.jpg" "$IN/bad.jpg"
N_OK=5
N_FAILED=1

settled() {
	[ "$(metric thumbd_images_total result=ok)" = "$N_OK" ] &&
		[ "$(metric thumbd_images_total result=failed)" = "$N_FAILED" ] &&
		[ "$(metric thumbd_queue_depth)" = 0 ] &&
		[ "$(metric thumbd_jobs_in_flight)" = 0 ]
}
if ! wait_until 20 settled; then
	cat "$T/check.err" >&2 || true
	[ -s "$PROM" ] && grep -a -E '^thumbd_(images_total|queue_depth|jobs_in_flight)' "$PROM" >&2
	fail "metrics did not show $N_OK ok, $N_FAILED failed, empty queue within 20 s"
fi
wait_outputs "$N_OK" 10
"$E2E_PY" "$CHECK" "$PROM" || fail "metrics file is not valid"

# every family is there, with HELP and TYPE
for fam in thumbd_up:gauge thumbd_start_time_seconds:gauge \
	thumbd_queue_depth:gauge thumbd_jobs_in_flight:gauge \
	thumbd_rate_images_per_second:gauge thumbd_images_total:counter \
	thumbd_failures_total:counter thumbd_bytes_in_total:counter \
	thumbd_bytes_out_total:counter thumbd_worker_restarts_total:counter \
	thumbd_job_duration_seconds:histogram; do
	grep -a -q -x "# TYPE ${fam%%:*} ${fam##*:}" "$PROM" ||
		fail "no '# TYPE ${fam%%:*} ${fam##*:}' line"
	grep -a -q "^# HELP ${fam%%:*} ." "$PROM" || fail "no HELP for ${fam%%:*}"
done

# one series set per worker slot
for w in 0 1; do
	metric thumbd_images_total "worker=$w" >/dev/null ||
		fail "no thumbd_images_total for worker $w"
	metric thumbd_job_duration_seconds_count "worker=$w" >/dev/null ||
		fail "no latency histogram for worker $w"
done

# the counts agree with what happened
v=$(metric thumbd_failures_total reason=input)
[ "$v" = "$N_FAILED" ] || fail "thumbd_failures_total{reason=input} is $v, want $N_FAILED"
v=$(metric thumbd_failures_total)
[ "$v" = "$N_FAILED" ] || fail "thumbd_failures_total sums to $v, want $N_FAILED"
v=$(metric thumbd_job_duration_seconds_count)
[ "$v" = $((N_OK + N_FAILED)) ] ||
	fail "latency histogram counts $v jobs, want $((N_OK + N_FAILED))"
v=$(metric thumbd_job_duration_seconds_bucket le=+Inf)
[ "$v" = $((N_OK + N_FAILED)) ] || fail "le=+Inf buckets sum to $v"
sum=$(metric thumbd_job_duration_seconds_sum)
"$E2E_PY" -c "import sys; s=float(sys.argv[1]); sys.exit(0 if 0 < s < 60 else 1)" "$sum" ||
	fail "thumbd_job_duration_seconds_sum is $sum"
out_bytes=$(find "$OUT" -type f ! -name '.thumbd-*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
v=$(metric thumbd_bytes_out_total)
[ "$v" = "$out_bytes" ] || fail "thumbd_bytes_out_total is $v, the outputs hold $out_bytes bytes"
good_in=$(find "$IN" -type f ! -name 'bad.jpg' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
all_in=$(find "$IN" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
v=$(metric thumbd_bytes_in_total)
[ "$v" -ge "$good_in" ] && [ "$v" -le "$all_in" ] ||
	fail "thumbd_bytes_in_total is $v, want $good_in (good inputs) to $all_in (all inputs)"
v=$(metric thumbd_worker_restarts_total)
[ "$v" = 0 ] || fail "thumbd_worker_restarts_total is $v without any crash"
v=$(metric thumbd_start_time_seconds)
"$E2E_PY" -c "import sys; v=float(sys.argv[1]); sys.exit(0 if int(sys.argv[2]) - 2 <= v <= int(sys.argv[3]) + 2 else 1)" \
	"$v" "$t_start" "$t_ready" ||
	fail "thumbd_start_time_seconds $v is not between $t_start and $t_ready"
mode=$(stat -c %a "$PROM")
[ "$mode" = 644 ] || fail "metrics file mode is $mode, want 644 (node_exporter reads it as another user)"

# Atomic replacement: read the file over and over while the daemon rewrites
# it (once a second) until two rewrites were seen; every read must be a
# complete, valid file.
"$E2E_PY" - "$PROM" "$(dirname "$CHECK")" <<'EOF' || fail "a reader saw an incomplete or invalid metrics file"
import os, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
import prom_check
path = sys.argv[1]
# a rewrite is a rename of a new file: count changes of the inode (a
# number may come back later, so not distinct numbers)
last, versions, reads, deadline = None, 0, 0, time.monotonic() + 15
while versions < 3 and time.monotonic() < deadline:
    with open(path, encoding="utf-8") as f:
        ino = os.fstat(f.fileno()).st_ino
        text = f.read()
    reads += 1
    samples, errors = prom_check.check(text)
    # the last series written is worker 1's histogram count: a cut-short
    # file lacks it, or fails to parse
    if not errors and 'thumbd_job_duration_seconds_count{worker="1"}' not in text:
        errors = ["truncated"]
    if errors:
        print("read %d is bad: %s" % (reads, errors), file=sys.stderr)
        sys.exit(1)
    if ino != last:
        last, versions = ino, versions + 1
    time.sleep(0.005)
if versions < 3:
    print("the file was not rewritten twice in 15 s", file=sys.stderr)
    sys.exit(1)
print("metrics: %d reads across %d versions, all complete" % (reads, versions),
      file=sys.stderr)
EOF

stop_daemon
temps=$(find "$MDIR" -mindepth 1 ! -name thumbd.prom)
[ -z "$temps" ] || fail "left in the metrics folder: $temps"
"$E2E_PY" "$CHECK" "$PROM" || fail "metrics file after stop is not valid"

pass "metrics valid and atomic, mode 644; $N_OK ok / $N_FAILED failed (reason input), histogram count $((N_OK + N_FAILED)), bytes out $out_bytes = outputs on disk, gauges and start time right"
