#!/usr/bin/env bash
# The start-up scan: inputs present before start are processed, inputs with
# up-to-date outputs are left alone, stale outputs are redone and stale
# .thumbd-* temp files from a crash are removed.
. "$(dirname "$0")/lib.sh"

SIZES=48,96
src=$(img_jpeg 320 240)
wsrc=$(img_webp 200 300)

# a first generation, thumbnailed by a first run
mkdir -p "$IN/old/deeper"
cp "$src" "$IN/old/o1.jpg"
cp "$src" "$IN/old/deeper/o2.jpg"
cp "$wsrc" "$IN/old/o3.webp"
cp "$src" "$IN/stale.jpg"
start_watch -s "$SIZES"
wait_outputs 8 20
wait_no_temps
stop_daemon
snapshot_outputs "$T/gen1"

# While it is down: new inputs (flat, nested, in a new folder), one input
# made newer than its outputs, and temp files a crashed worker would leave.
make_copies "$src" "$IN/new" 20 n
cp "$src" "$IN/top.jpg"
mkdir -p "$IN/x/y/z"
cp "$wsrc" "$IN/x/y/z/w.webp"
# (ageing the outputs rather than touching the input into the future keeps
# "redone" meaning "output now newer than input")
touch -d '1 hour ago' "$(output_path stale.jpg 48 jpg)" "$(output_path stale.jpg 96 jpg)"
stale_before=$(stat -c '%i %Y' "$(output_path stale.jpg 48 jpg)")
printf 'partial' >"$OUT/.thumbd-AbC123"
mkdir -p "$OUT/old/deeper"
printf 'partial' >"$OUT/old/deeper/.thumbd-o2_96.jpg.XyZ789"
# not ours: must be left alone
printf 'user file' >"$OUT/.keepme"

start_watch -s "$SIZES"
# 4 old + 20 new + top + w = 26 inputs, 2 sizes each
wait_outputs 52 30
wait_no_temps 10
[ -e "$OUT/.keepme" ] || fail "start-up removed a hidden file that is not a thumbd temp file"
rm -f "$OUT/.keepme"
assert_outputs_exactly "$SIZES" jpg

# The first generation was up to date: not one output rewritten, except the
# stale input's, whose outputs must be new.
grep -z -v -F "/stale_" "$T/gen1" >"$T/gen1.fresh" || true
assert_unchanged "$T/gen1.fresh"
for s in 48 96; do
	f=$(output_path stale.jpg $s jpg)
	[ "$(stat -c %Y "$f")" -ge "$(stat -c %Y "$IN/stale.jpg")" ] ||
		fail "stale.jpg was not redone at size $s (output older than input)"
done
[ "$(stat -c '%i %Y' "$(output_path stale.jpg 48 jpg)")" != "$stale_before" ] ||
	fail "stale.jpg output 48 unchanged"

daemon_assert_alive "after the start-up scan"
stop_daemon
pass "start-up scan made 22 new inputs' thumbnails (flat, nested, new folders, WebP), left 6 up-to-date outputs untouched (inode+mtime), redid an input newer than its outputs, and removed stale .thumbd-* temps but not other hidden files"
