#!/usr/bin/env bash
# Output on a 2 MiB tmpfs, filled up but for 256 KiB, then a burst of inputs
# needing far more: a few thumbnails fit, the rest hit ENOSPC mid-write.
# No partial file ever appears under a final name (every output decodes),
# no temp file stays, the inputs are kept, a clear "cannot write ... No
# space left" error is logged, and none is reported as a failed input. Then
# the space is freed and the work resumes by itself (the master's
# output-fault retry: a rescan after a back-off of 5 s, doubling up to
# scan_interval): every input gets all its thumbnails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

N=10
SIZES=512,256
fs=$T/fs
mkdir -p "$fs"
mount -t tmpfs -o size=2M,mode=0755 thumbd-e2e "$fs" 2>"$T/mount.err" ||
	skip "cannot mount a tmpfs (needs root and mount permission): $(cat "$T/mount.err")"
FAULT_CLEANUP+=("umount -l '$fs'")
OUT=$fs/out
mkdir -p "$OUT"

# Fill the file system but for the 256 KiB of the first filler: room for
# about two inputs (a 512 thumbnail of noise is ~100 KiB, a 256 ~20 KiB).
dd if=/dev/zero of="$fs/filler.small" bs=256K count=1 status=none
dd if=/dev/zero of="$fs/filler.big" bs=64K status=none 2>/dev/null || true
avail=$(df -k --output=avail "$fs" | tail -n 1 | tr -d ' ')
[ "$avail" -lt 8 ] || fail "the tmpfs still has $avail KiB free after filling it"
rm -f "$fs/filler.small"
say "tmpfs full but for $(df -k --output=avail "$fs" | tail -n 1 | tr -d ' ') KiB"

# Noisy pictures so each thumbnail is tens of KiB.
convert -size 1024x768 xc:gray +noise Random -quality 92 "$T/noise.jpg"
for i in $(seq -w 1 "$N"); do
	cp "$T/noise.jpg" "$T/src_$i.jpg"
done

start_watch -s "$SIZES"
cp "$T"/src_*.jpg "$IN/"

wait_until 20 log_has 'cannot write the thumbnails of .*(No space left|ENOSPC|disk full)' ||
	wait_until 1 log_has '(No space left|ENOSPC)' ||
	fail "no error about the full disk within 20 s"
err=$(grep -a -E '(No space left|ENOSPC)' "$LOG" | head -n 1)
say "logged: ${err#* }"
# Let the burst finish against the full disk: every job has come back once
# nothing is queued or in flight.
idle() {
	stats_now
	grep -a -q -E 'total:.* 0 queued, 0 in flight' "$T/stats.txt"
}
wait_until 30 idle || fail "the burst did not settle within 30 s on the full disk"
wait_no_temps 10
have=$(count_outputs)
[ "$have" -lt $((N * 2)) ] || fail "all $((N * 2)) outputs fit on a full disk: the test did not fill it"
mapfile -d '' partial < <(find "$OUT" -type f ! -name '.thumbd-*' -print0)
[ ${#partial[@]} -eq 0 ] || decode_all jpg "${partial[@]}"
say "$have of $((N * 2)) outputs written on the full disk, all decode"
for i in $(seq -w 1 "$N"); do
	cmp -s "$T/src_$i.jpg" "$IN/src_$i.jpg" || fail "input src_$i.jpg was not kept"
done
[ "$(log_count 'failed [^ ]*/[^ ]*: ')" -eq 0 ] ||
	fail "a full disk was reported as a failed input: $(grep -a 'failed ' "$LOG" | head -n 1)"
daemon_assert_alive "on the full disk"

# Free the space: the work must resume with no help.
rm -f "$fs/filler.big"
t0=$(now_ms)
wait_until 90 outputs_at_least $((N * 2)) ||
	fail "only $(count_outputs) of $((N * 2)) outputs 90 s after the disk was freed: the work did not resume"
resume_ms=$(($(now_ms) - t0))
wait_no_temps 10
assert_outputs_exactly "$SIZES" jpg
retries=$(log_count 'retrying now')
daemon_assert_alive "after the disk was freed"
stop_daemon
pass "disk full: $have/$((N * 2)) outputs fit, all decode, no temps, inputs kept, logged '${err#* }'; after freeing space all $N inputs were finished by themselves in $resume_ms ms ($retries 'retrying now' lines)"
