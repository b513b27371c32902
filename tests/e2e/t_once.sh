#!/usr/bin/env bash
# --once: scan, process what is missing or out of date, print a summary and
# exit 0 if all succeeded, 1 if anything failed.
. "$(dirname "$0")/lib.sh"

SIZES=64,32
src=$(img_jpeg 320 240)
wsrc=$(img_webp 240 320)
runs=0

# once [ARG...]: one --once run; its output goes to $T/once-N.log (scanned for
# sanitizer reports like the daemon log); status in $rc.
# shellcheck disable=SC2120 # extra options are for ad-hoc runs
once() {
	runs=$((runs + 1))
	ONCE_LOG=$T/once-$runs.log
	rc=0
	timeout 60 "$THUMBD" -i "$IN" -o "$OUT" -w 2 -s "$SIZES" --once "$@" \
		>"$ONCE_LOG" 2>&1 || rc=$?
	[ "$rc" -ne 124 ] || fail "--once run $runs did not finish within 60 s"
	say "run $runs: exit $rc; last line: $(tail -n 1 "$ONCE_LOG")"
}

# summary_says N: the summary names N as the number of inputs thumbnailed
# (written as "N done", "done: N", "N ok", "processed N", ...).
summary_says() {
	grep -a -i -q -E "(\b$1 (done|ok|succeeded|thumbnailed|processed|written|new)\b)|(\b(done|ok|succeeded|thumbnailed|processed|written)[=: ]+$1\b)" "$ONCE_LOG"
}

# 1. all good: exit 0, summary, outputs exact
mkdir -p "$IN/sub"
make_copies "$src" "$IN" 6 g
cp "$wsrc" "$IN/sub/w.webp"
once
[ "$rc" -eq 0 ] || fail "--once with only good files exited $rc, want 0"
summary_says 7 || fail "no summary line saying 7 inputs were done"
assert_outputs_exactly "$SIZES" jpg
snapshot_outputs "$T/run1"

# 2. nothing to do: exit 0, not one output rewritten
once
[ "$rc" -eq 0 ] || fail "second --once exited $rc, want 0"
assert_unchanged "$T/run1"
summary_says 0 || say "note: the second run's summary does not say 0 done"

# 3. one input newer than its outputs: only it is redone
touch -d '1 hour ago' "$(output_path g00002.jpg 64 jpg)" "$(output_path g00002.jpg 32 jpg)"
old=$(stat -c %i "$(output_path g00002.jpg 64 jpg)")
grep -z -v -F '/g00002_' "$T/run1" >"$T/run1.others" || true
once
[ "$rc" -eq 0 ] || fail "third --once exited $rc, want 0"
[ "$(stat -c %i "$(output_path g00002.jpg 64 jpg)")" != "$old" ] ||
	fail "g00002.jpg is newer than its outputs but was not redone"
[ "$(stat -c %Y "$(output_path g00002.jpg 32 jpg)")" -ge "$(stat -c %Y "$IN/g00002.jpg")" ] ||
	fail "g00002.jpg output 32 still older than the input"
assert_unchanged "$T/run1.others"
summary_says 1 || say "note: the third run's summary does not say 1 done"

# 4. a bad file among new good ones: exit 1, the good ones still done, the
# failure logged once with its reason
head -c 700 "$src" >"$IN/sub/bad.jpg"
cp "$src" "$IN/sub/new1.jpg"
cp "$src" "$IN/new2.jpg"
once
[ "$rc" -eq 1 ] || fail "--once with a bad file exited $rc, want 1"
n=$(grep -a -c -E 'failed [^ ]*bad\.jpg: .' "$ONCE_LOG" || true)
[ "$n" -eq 1 ] || fail "bad.jpg reported $n times, want one 'failed PATH: reason' line"
assert_outputs_exactly "$SIZES" jpg sub/bad.jpg
[ -e "$IN/sub/bad.jpg" ] || fail "the bad input was not kept"
# 5. --detail fast through the workers, into another folder: 320x240 for a
# 64 box is decoded at 1/4 instead of the default's 1/2 (auto keeps twice
# the box there); same sizes, other pixels
rc=0
timeout 60 "$THUMBD" -i "$IN" -o "$T/fast" -w 2 -s "$SIZES" --once \
	--detail fast >"$T/once-fast.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--once --detail fast exited $rc, want 1 (bad.jpg)"
for s in 64 32; do
	f=$T/fast/g00000_$s.jpg
	[ -s "$f" ] || fail "--detail fast wrote no $f"
	[ "$(image_size "$f")" = "$(image_size "$(output_path g00000.jpg "$s" jpg)")" ] ||
		fail "--detail fast: $f is $(image_size "$f"), the default run's is not"
done
! cmp -s "$T/fast/g00000_64.jpg" "$(output_path g00000.jpg 64 jpg)" ||
	fail "--detail fast wrote the same 64 px thumbnail as the default"
pass "--once exited 0 with a summary for 7 good inputs, rewrote nothing when up to date, redid only an input newer than its outputs, exited 1 on a truncated file while still doing the good ones, and --detail fast made other pixels at the same sizes"
