#!/usr/bin/env bash
# A progressive JPEG, a baseline JPEG and a lossy WebP, each cut at every
# 1/16th of its length (45 files): each ends in a thumbnail that decodes or
# in exactly one "failed PATH: reason" line; nothing hangs, no worker
# crashes (the worker pids stay the same, and the log reports no worker
# death), no temp file stays, and the daemon then does a good file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

stage=$T/stage
mkdir -p "$stage"
fault_photo 800 600 "$T/src.ppm"
cjpeg -quality 85 -progressive "$T/src.ppm" >"$T/prog.jpg"
cjpeg -quality 85 "$T/src.ppm" >"$T/base.jpg"
cwebp -quiet -q 80 "$T/src.ppm" -o "$T/lossy.webp"
fault_py truncate "$T/prog.jpg" "$stage/prog_" 16
fault_py truncate "$T/base.jpg" "$stage/base_" 16
fault_py truncate "$T/lossy.webp" "$stage/webp_" 16
for f in "$stage"/prog_* "$stage"/base_*; do mv "$f" "$f.jpg"; done
for f in "$stage"/webp_*; do mv "$f" "$f.webp"; done
n=$(find "$stage" -type f | wc -l)
[ "$n" -eq 45 ] || fail "made $n truncated files, want 45"

start_watch -s 64
workers_before=$(worker_pids | sort | tr '\n' ' ')
t0=$(now_ms)
cp -t "$IN" -- "$stage"/*
fault_wait_resolved 30 64 jpg
ms=$(($(now_ms) - t0))
wait_no_temps 10
daemon_assert_alive "after the truncated files"

workers_after=$(worker_pids | sort | tr '\n' ' ')
[ "$workers_before" = "$workers_after" ] ||
	fail "worker pids changed ($workers_before-> $workers_after): a worker died on a truncated file"
! log_has 'worker [0-9]+ .*(crashed|timed out|exited with)' ||
	fail "a worker died: $(grep -a -E 'worker [0-9]+ .*(crashed|timed out|exited with)' "$LOG" | head -n 3)"

for f in "$stage"/*; do
	cmp -s "$f" "$IN/${f##*/}" || fail "input ${f##*/} was not kept as it was"
done
summary=$(fault_outcomes check 64 jpg)
say "reasons: $(fault_reasons | tr -s ' \n' ' ')"

cp "$T/base.jpg" "$IN/good.jpg"
wait_until 10 test -f "$OUT/good_64.jpg" || fail "a good file after the truncated ones was not done"
stop_daemon
pass "45 truncated JPEG/WebP files in $ms ms: $summary; worker pids unchanged ($workers_after), every output decodes, no temps"
