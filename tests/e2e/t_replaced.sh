#!/usr/bin/env bash
# Inputs replaced while the daemon reads them: one is renamed over again
# and again (a new version each time: A, B, A, ...), one is rewritten in
# place (truncated and written again). A is a 1600x1200 red picture, B a
# 1200x1600 blue one. Every thumbnail seen while this goes on, and the
# last one, decodes and is entirely A (128x96, red in every band of rows)
# or entirely B (96x128, blue): never a torn mix, a grey half-decoded
# bottom, or the wrong shape. At the end each output shows the last
# version written. The renamed input never fails; the one rewritten in
# place may be caught half-written (empty or truncated) and reported so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

"$E2E_PY" -c 'import PIL' 2>/dev/null || skip "no Python with PIL to compare pixels"
ROUNDS=${E2E_REPLACE_ROUNDS:-61}

# Noise keeps the files large (slow to read, easy to catch mid-read).
convert -size 1600x1200 xc:'#d02020' -attenuate 3 +noise Uniform -quality 90 "$T/A.jpg"
convert -size 1200x1600 xc:'#2020d0' -attenuate 3 +noise Uniform -quality 90 "$T/B.jpg"
say "A $(stat -c %s "$T/A.jpg") bytes, B $(stat -c %s "$T/B.jpg") bytes"

# check_thumb FILE...: each is wholly A or wholly B; prints A or B per file.
check_thumb() {
	"$E2E_PY" - "$@" <<'EOF'
import sys
from PIL import Image
want = {(128, 96): ('A', (208, 32, 32)), (96, 128): ('B', (32, 32, 208))}
bad = 0
for p in sys.argv[1:]:
    try:
        im = Image.open(p)
        im.load()
        im = im.convert('RGB')
    except Exception as e:
        print('%s: does not decode: %s' % (p, e), file=sys.stderr)
        bad = 1
        continue
    if im.size not in want:
        print('%s: size %s is neither A nor B' % (p, im.size), file=sys.stderr)
        bad = 1
        continue
    name, rgb = want[im.size]
    w, h = im.size
    for band in range(8):
        box = im.crop((0, band * h // 8, w, (band + 1) * h // 8))
        px = list(box.getdata())
        mean = [sum(c[i] for c in px) / len(px) for i in range(3)]
        if max(abs(mean[i] - rgb[i]) for i in range(3)) > 40:
            print('%s: looks like %s by its size, but rows %d/8 average %s' %
                (p, name, band, [round(m) for m in mean]), file=sys.stderr)
            bad = 1
            break
    else:
        print(name)
sys.exit(bad)
EOF
}

start_watch -s 128 -v
cp "$T/A.jpg" "$IN/renamed.jpg"
cp "$T/A.jpg" "$IN/inplace.jpg"
wait_until 20 test -f "$OUT/renamed_128.jpg" -a -f "$OUT/inplace_128.jpg" ||
	fail "the first versions were not thumbnailed"
[ "$(check_thumb "$OUT/renamed_128.jpg" "$OUT/inplace_128.jpg" | tr '\n' ' ')" = "A A " ] ||
	fail "the first thumbnails are not version A"

# The writers: both alternate B, A, B, ... as fast as they can, each
# version complete before the next starts. The rename goes through a
# hidden temp name, which the daemon ignores.
writer() {
	local i v
	for i in $(seq 1 "$ROUNDS"); do
		v=B
		[ $((i % 2)) -eq 1 ] || v=A
		cp "$T/$v.jpg" "$IN/.renamed.tmp"
		mv -f "$IN/.renamed.tmp" "$IN/renamed.jpg"
		cat "$T/$v.jpg" >"$IN/inplace.jpg"
	done
	echo "$v" >"$T/last"
}
writer &
wpid=$!
E2E_EXTRA_PIDS+=("$wpid")

# Meanwhile, take copies of the outputs as they change.
mkdir -p "$T/seen"
k=0
while proc_alive "$wpid"; do
	for f in renamed inplace; do
		if cp "$OUT/${f}_128.jpg" "$T/seen/$f.$k.jpg" 2>/dev/null; then
			k=$((k + 1))
		fi
	done
done
wait "$wpid"
last=$(cat "$T/last")
say "$ROUNDS versions written to each input; last version $last; $k output copies taken"
if ! check_thumb "$T"/seen/*.jpg >"$T/seen.txt"; then
	fail "an output seen while the inputs were being replaced was torn or wrong (above)"
fi
say "outputs seen: $(sort "$T/seen.txt" | uniq -c | tr -s ' \n' ' ')"

# At rest, each output shows the last version.
settled() {
	[ "$(check_thumb "$OUT/renamed_128.jpg" "$OUT/inplace_128.jpg" 2>/dev/null | tr '\n' ' ')" = "$last $last " ]
}
wait_until 30 settled ||
	fail "30 s after the last write the outputs are not version $last: $(check_thumb "$OUT/renamed_128.jpg" "$OUT/inplace_128.jpg" 2>&1 | tr '\n' ' ')"
wait_no_temps 10
assert_outputs_exactly 128 jpg
# A rename replaces the whole file at once: never a failure. An in-place
# rewrite can be caught between its truncation and its last write; that
# version may be reported (empty or truncated), never thumbnailed.
[ "$(fault_failed_count renamed.jpg)" -eq 0 ] ||
	fail "an input replaced by rename was reported as failed: $(fault_failed_line renamed.jpg)"
torn=$(fault_failed_count inplace.jpg)
other=$(grep -a -E "$(fault_failed_re inplace.jpg)" "$LOG" | grep -v -c -E ': (empty file|truncated JPEG)$' || true)
[ "$other" -eq 0 ] ||
	fail "the input rewritten in place failed for another reason than being caught half-written: $(grep -a -E "$(fault_failed_re inplace.jpg)" "$LOG" | grep -v -E ': (empty file|truncated JPEG)$' | head -n 1)"
[ "$torn" -eq 0 ] || say "note: the in-place rewrite was caught half-written $torn time(s) and logged as failed: $(fault_failed_line inplace.jpg | sed 's/^.*failed /failed /')"
daemon_assert_alive "after the replacements"
races=$(log_count 'went away before it could be read')
jobs=$(stats_done)
say "jobs done: ${jobs:-?}; jobs that found their input changed or gone while reading it: $races"
stop_daemon
pass "$ROUNDS renames and $ROUNDS in-place rewrites of each input under the daemon (${jobs:-?} jobs done, $races caught a change while reading, $torn half-written in-place versions logged as failed): all $k output copies seen and the final ones decode and are wholly A or B (never torn), the final outputs show the last version, no failure for the renamed input, no temps"
