#!/usr/bin/env bash
# Hostile inputs: a truncated JPEG and one whose header claims 65500x65500.
# Each is reported once as "failed PATH: reason", kept in place, and the
# daemon goes on to thumbnail a good file dropped afterwards.
. "$(dirname "$0")/lib.sh"

src=$(img_jpeg 320 240)
stage=$T/stage
mkdir -p "$stage"

# truncated in the middle of the entropy-coded data
head -c $(($(stat -c %s "$src") / 2)) "$src" >"$stage/truncated.jpg"

# a valid small JPEG whose SOF0 says 65500x65500: the pixel limit must stop
# it from the header alone, before any allocation
"$E2E_PY" - "$src" "$stage/huge.jpg" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = 2
while True:
    if b[i] != 0xFF:
        sys.exit('no SOF marker')
    m = b[i + 1]
    if m in (0xC0, 0xC1, 0xC2):
        b[i + 5:i + 7] = (65500).to_bytes(2, 'big')   # height
        b[i + 7:i + 9] = (65500).to_bytes(2, 'big')   # width
        break
    i += 2 + int.from_bytes(b[i + 2:i + 4], 'big')
open(sys.argv[2], 'wb').write(b)
EOF
[ "$(image_size "$stage/huge.jpg" 2>/dev/null)" = "65500 65500" ] ||
	fail "could not make the 65500x65500 header"

# not an image at all, with an image name
head -c 3000 /dev/urandom >"$stage/noise.jpg"

# One worker: a job stuck on one of these files would hold up the good file
# behind it, which the test then sees.
start_daemon -i "$IN" -o "$OUT" -w 1 -s 64
bad="truncated.jpg huge.jpg noise.jpg"
for f in $bad; do
	cp "$stage/$f" "$IN/$f"
done

failed_once() {
	[ "$(log_count "failed [^ ]*$1: .")" -ge 1 ]
}
for f in $bad; do
	wait_until 20 failed_once "$f" ||
		fail "no 'failed PATH: reason' line for $f within 20 s"
done
daemon_assert_alive "after the hostile files"

cp "$src" "$IN/good.jpg"
wait_outputs 1 20

# Not regular files: a symlink to a good picture outside the tree (inputs
# are opened O_NOFOLLOW), a FIFO (an open() that would block for ever), an
# empty file. None may stall the worker or be thumbnailed.
ln -s "$src" "$IN/link.jpg"
mkfifo "$IN/fifo.jpg"
: >"$IN/empty.jpg"
cp "$src" "$IN/good2.jpg"
wait_until 15 test -e "$(output_path good2.jpg 64 jpg)" ||
	fail "a good file dropped after a symlink, a FIFO and an empty file got no thumbnail within 15 s (worker stuck?)"

# Inputs that vanish while queued (deleted right after arriving): whatever
# the daemon says about them, it goes on, and leaves no temp file.
make_copies "$src" "$T/vanish" 60 v
cp -t "$IN" -- "$T"/vanish/*
rm -f -- "$IN"/v0*.jpg
cp "$src" "$IN/good3.jpg"
wait_until 15 test -e "$(output_path good3.jpg 64 jpg)" ||
	fail "a good file dropped after 60 vanishing ones got no thumbnail within 15 s"
daemon_assert_alive "after inputs vanished while queued"
rm -f -- "$OUT"/v0*_64.jpg   # those done before the rm won the race
wait_no_temps 10
# anything that was going to be retried or reported again has had time:
# the good file was queued after all three
for f in $bad; do
	n=$(log_count "failed [^ ]*$f: .")
	[ "$n" -eq 1 ] || fail "$f reported $n times, want exactly once"
	cmp -s "$stage/$f" "$IN/$f" || fail "input $f was not kept as it was"
	say "$(grep -a -E "failed [^ ]*$f: ." "$LOG")"
done
# (the symlink and the FIFO are not regular files: any output for them is
# unexpected)
assert_outputs_exactly 64 jpg truncated.jpg huge.jpg noise.jpg empty.jpg
daemon_assert_alive "after the good file"
stop_daemon
pass "a truncated JPEG, a 65500x65500 header and noise named .jpg each logged one 'failed PATH: reason' line, were kept, made no output, and the daemon then thumbnailed a good file; a symlink, a FIFO and an empty file made no output and did not stall the single worker; 60 inputs deleted while queued did not upset it"
