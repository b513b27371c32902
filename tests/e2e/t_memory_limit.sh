#!/usr/bin/env bash
# Worker address-space limit: worker_memory = 96M, and a 4000x4000
# progressive JPEG of dense noise (every block full of AC terms) to be
# thumbnailed at 4000: libjpeg must hold the whole image as coefficients,
# about 100 MB even in thumbd's compact store, before any output row. The
# job fails with a memory reason (or its worker dies and is replaced, then
# the job is reported); either way exactly one failure line, the input kept,
# the master untouched (same pid) and still serving. An 8000x8000 baseline
# JPEG, which libjpeg decodes row by row at 1/8 scale, succeeds under the
# same limit in a second watch asking for 64: the limit bounds memory, not
# image size. (A photo-like progressive file no longer makes this test: its
# coefficients are mostly zero and the compact store keeps it in a few MB.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

if fault_is_asan; then
	skip "sanitizer build: workers do not set RLIMIT_AS under ASan by design (its shadow memory needs terabytes of address space)"
fi

# Dense progressive 4:4:4 noise at quality 100, in about a second: a
# 512x512 tile of per-channel binary noise repeated.
convert -size 512x512 xc:gray +noise Random -channel RGB -threshold 50% \
	+channel -write mpr:t +delete -size 4000x4000 tile:mpr:t "ppm:$T/noise.ppm"
cjpeg -quality 100 -sample 1x1 -progressive "$T/noise.ppm" >"$T/big.jpg"
rm -f "$T/noise.ppm"
[ "$(image_size "$T/big.jpg")" = "4000 4000" ] || fail "could not make the 4000x4000 JPEG"
# An 8000x8000 baseline JPEG in a moment: jpegtran extends a small one.
fault_photo 320 240 "$T/src.ppm"
cjpeg -quality 85 "$T/src.ppm" >"$T/small.jpg"
jpegtran -crop 8000x8000+0+0 "$T/small.jpg" >"$T/big_baseline.jpg"
[ "$(image_size "$T/big_baseline.jpg")" = "8000 8000" ] || fail "could not make the 8000x8000 JPEG"

mkdir -p "$T/in2" "$T/out2"
cat >"$T/thumbd.conf" <<EOF
[daemon]
workers = 2
worker_memory = 96M
stats_interval = 0

[watch big]
input = $IN
output = $OUT
sizes = 4000

[watch small]
input = $T/in2
output = $T/out2
sizes = 64
EOF

start_daemon -c "$T/thumbd.conf"
master=$DAEMON_PID
t0=$(now_ms)
cp "$T/big.jpg" "$IN/big.jpg"
wait_until 30 fault_has_failed big.jpg || fail "big.jpg was not reported failed within 30 s"
ms=$(($(now_ms) - t0))
line=$(fault_failed_line big.jpg)
say "${line#*warning: }"
printf '%s\n' "$line" | grep -q -i -E 'memory|ENOMEM|crashed|killed|signal' ||
	fail "the reason names neither memory nor a dead worker: $line"

# The master is untouched and still serving.
[ "$DAEMON_PID" = "$master" ] && daemon_assert_alive "after the memory failure"
cp "$T/small.jpg" "$IN/good.jpg"
cp "$T/big_baseline.jpg" "$T/in2/big.jpg"
wait_until 20 test -f "$OUT/good_4000.jpg" || fail "a good file after the memory failure was not done"
wait_until 20 test -f "$T/out2/big_64.jpg" ||
	fail "an 8000x8000 baseline JPEG at size 64 did not succeed under the same limit: $(fault_failed_line big.jpg)"
read -r w h <<<"$(image_size "$T/out2/big_64.jpg")"
[ "$w" -eq 64 ] && [ "$h" -eq 64 ] || fail "big_64.jpg is ${w}x$h, want 64x64"
wait_no_temps 10
[ ! -e "$OUT/big_4000.jpg" ] || fail "an output was written for the job that failed"
cmp -s "$T/big.jpg" "$IN/big.jpg" || fail "the input big.jpg was not kept"
[ "$(fault_failed_count big.jpg)" -eq 1 ] || fail "big.jpg reported $(fault_failed_count big.jpg) times"
deaths=$(log_count 'worker [0-9]+ .*(crashed|exited with|killed)')
[ "$DAEMON_PID" = "$master" ] || fail "the master pid changed"
stop_daemon
pass "worker_memory 96M: the 4000x4000 dense progressive JPEG at 4000 failed in $ms ms ('${line#*failed }', $deaths worker deaths), the master (pid $master) kept serving, and an 8000x8000 baseline JPEG at 64 succeeded under the same limit"
