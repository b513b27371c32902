#!/usr/bin/env bash
# Every way a file can arrive in a drop folder yields exactly one thumbnail
# per size, made from the complete file, and temp names yield nothing.
. "$(dirname "$0")/lib.sh"

SIZES=64,128
src=$(img_jpeg 320 240)
stage=$T/stage          # same filesystem as $IN, outside the watched tree
mkdir -p "$stage"

start_watch -s "$SIZES"
expected=0
arrived() {
	expected=$((expected + $(tr -cd , <<<"$SIZES" | wc -c) + 1))
}

# cp: CREATE ... CLOSE_WRITE
cp "$src" "$IN/cp.jpg"
arrived

# mv on the same filesystem: a single MOVED_TO
cp "$src" "$stage/mv.jpg"
mv "$stage/mv.jpg" "$IN/mv.jpg"
arrived

# mv from another filesystem: mv copies into the final name, then closes
other_fs=
if [ "$(stat -c %d /dev/shm 2>/dev/null)" != "$(stat -c %d "$T")" ] &&
	shm=$(mktemp -d /dev/shm/thumbd-e2e.XXXXXX 2>/dev/null); then
	E2E_EXTRA_DIRS+=("$shm")
	cp "$src" "$shm/xfs.jpg"
	mv "$shm/xfs.jpg" "$IN/xfs.jpg"
	arrived
	other_fs=" mv across filesystems,"
else
	say "SKIP case: mv from another filesystem (/dev/shm is missing or on the same filesystem as $T)"
fi

# rsync: writes .rsync.jpg.XXXXXX, then renames it to the final name
rsync "$src" "$IN/rsync.jpg"
[ -z "$(find "$IN" -name '.rsync.jpg.*')" ] || fail "rsync left its temp file"
arrived

# a temp name renamed into place by hand (the common upload pattern)
cp "$src" "$IN/.upload.jpg.tmp"
mv "$IN/.upload.jpg.tmp" "$IN/upload.jpg"
arrived

# ln: a hard link from outside the watched tree is a bare CREATE, no write
cp "$src" "$stage/linked.jpg"
ln "$stage/linked.jpg" "$IN/ln.jpg"
arrived

# O_TMPFILE + linkat: the file appears complete under its name (a bare
# CREATE); the writer closes it only afterwards
tmpfile_case=
if "$E2E_PY" - "$src" "$IN" <<'EOF'; then
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
data = open(sys.argv[1], 'rb').read()
fd = os.open(sys.argv[2], os.O_TMPFILE | os.O_WRONLY, 0o644)
os.write(fd, data)
dst = os.fsencode(os.path.join(sys.argv[2], 'tmpfile.jpg'))
AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_FOLLOW = -100, 0x1000, 0x400
# AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd is the
# unprivileged way (refused across mounts by some kernels)
if (libc.linkat(fd, b"", AT_FDCWD, dst, AT_EMPTY_PATH) != 0 and
        libc.linkat(AT_FDCWD, b"/proc/self/fd/%d" % fd, AT_FDCWD, dst,
                    AT_SYMLINK_FOLLOW) != 0):
    sys.exit('linkat of an O_TMPFILE file: %s' % os.strerror(ctypes.get_errno()))
os.close(fd)
EOF
	arrived
	tmpfile_case=" O_TMPFILE+linkat,"
else
	say "SKIP case: O_TMPFILE+linkat is not possible here (see the message above)"
fi

# a folder filled elsewhere, then moved in whole (with a nested folder)
mkdir -p "$stage/album/inner"
cp "$src" "$stage/album/a1.jpg"
cp "$src" "$stage/album/a2.jpg"
cp "$src" "$stage/album/inner/a3.jpg"
mv "$stage/album" "$IN/album"
arrived; arrived; arrived

# mkdir -p then cp at once: the file lands before a watch can exist on c/
mkdir -p "$IN/a/b/c"
cp "$src" "$IN/a/b/c/deep.jpg"
arrived

# a slow writer: one open file written in chunks over ~2 s. The chunk
# pauses are the stimulus, not a wait; they stay well under the settle time
# so the file is never idle long enough to look finished.
big=$(img_jpeg 1200 900)
slow_out=$(output_path slow.jpg 128 jpg)
chunks=10
bytes=$(stat -c %s "$big")
chunk=$(((bytes + chunks - 1) / chunks))
early=0
{
	for ((i = 0; i < chunks; i++)); do
		dd if="$big" bs="$chunk" skip="$i" count=1 status=none
		sleep 0.2
		# a thumbnail now would be of a partial file
		[ ! -e "$slow_out" ] || early=1
	done
} >"$IN/slow.jpg"
[ "$early" = 0 ] || fail "slow.jpg got a thumbnail before the writer closed it"
cmp -s "$big" "$IN/slow.jpg" || fail "slow writer did not reproduce the file"
arrived
# the reference: the same bytes arriving at once
cp "$big" "$IN/ref.jpg"
arrived

wait_outputs "$expected" 30

# Things that happen after the folders arrived must be seen too: the moved-in
# folder and the mkdir -p chain are watched now.
cp "$src" "$IN/album/later.jpg"
cp "$src" "$IN/album/inner/later.jpg"
cp "$src" "$IN/a/b/c/later.jpg"
arrived; arrived; arrived
wait_outputs "$expected" 30
wait_no_temps 10

assert_outputs_exactly "$SIZES" jpg
[ "$(count_outputs)" -eq "$expected" ] || fail "want $expected outputs, have $(count_outputs)"

# the slow file's thumbnail is of the complete file: same size as the
# reference, and the same pixels (a truncated JPEG decodes grey at the bottom)
[ "$(image_size "$slow_out")" = "128 96" ] ||
	fail "slow.jpg thumbnail is $(image_size "$slow_out"), want 128 96"
"$E2E_PY" - "$slow_out" "$(output_path ref.jpg 128 jpg)" <<'EOF' || fail "slow.jpg thumbnail differs from the thumbnail of the complete file"
import sys
from PIL import Image, ImageChops
a, b = (Image.open(p).convert('RGB') for p in sys.argv[1:3])
if a.size != b.size:
    sys.exit('sizes %s vs %s' % (a.size, b.size))
diff = max(hi for lo, hi in ImageChops.difference(a, b).getextrema())
if diff > 8:
    sys.exit('max pixel difference %d' % diff)
EOF

# no job ran twice: the workers' "done" counts add up to the inputs
inputs=$(find "$IN" -name '.*' -prune -o -type f -print | wc -l)
done_n=$(stats_done)
if [ -n "$done_n" ]; then
	[ "$done_n" -eq "$inputs" ] || fail "stats say $done_n jobs done for $inputs inputs"
else
	say "note: could not read a done count from the SIGUSR1 report"
fi

# an input overwritten in place (cp over it) with a different picture: its
# thumbnails are replaced by ones of the new content
portrait=$(img_jpeg 240 320)
cp "$portrait" "$IN/cp.jpg"
cp_out=$(output_path cp.jpg 128 jpg)
portrait_done() {
	[ "$(image_size "$cp_out" 2>/dev/null)" = "96 128" ] &&
		[ "$(image_size "$(output_path cp.jpg 64 jpg)" 2>/dev/null)" = "48 64" ]
}
wait_until 20 portrait_done ||
	fail "cp.jpg overwritten with a 240x320 picture: thumbnails are $(image_size "$cp_out") (want 96 128)"

# replaced by mv, and by cp -p, with files whose mtime is years older than
# the thumbnails: the event, not the mtime, says the content changed
wide=$(img_jpeg 200 100)
cp "$portrait" "$stage/old.jpg"
touch -d '2001-01-01' "$stage/old.jpg"
mv "$stage/old.jpg" "$IN/mv.jpg"
mv_replaced() {
	[ "$(image_size "$(output_path mv.jpg 64 jpg)" 2>/dev/null)" = "48 64" ]
}
wait_until 20 mv_replaced ||
	fail "mv.jpg replaced by mv with an old mtime: thumbnail still $(image_size "$(output_path mv.jpg 64 jpg)") (want 48 64)"
cp "$wide" "$stage/old2.jpg"
touch -d '2001-01-01' "$stage/old2.jpg"
cp -p "$stage/old2.jpg" "$IN/.rsync.jpg.new"
mv "$IN/.rsync.jpg.new" "$IN/rsync.jpg"
cp -p "$stage/old2.jpg" "$IN/cp.jpg"
cpp_replaced() {
	[ "$(image_size "$(output_path cp.jpg 64 jpg)" 2>/dev/null)" = "64 32" ] &&
		[ "$(image_size "$(output_path rsync.jpg 64 jpg)" 2>/dev/null)" = "64 32" ]
}
wait_until 20 cpp_replaced ||
	fail "inputs replaced by cp -p / rename with an old mtime: thumbnails $(image_size "$(output_path cp.jpg 64 jpg)"), $(image_size "$(output_path rsync.jpg 64 jpg)") (want 64 32)"
wait_no_temps 10
assert_outputs_exactly "$SIZES" jpg

daemon_assert_alive "after all arrivals"
stop_daemon
pass "cp, mv,$other_fs rsync, temp-then-rename, ln,$tmpfile_case a moved-in folder tree, mkdir -p + cp and a 2 s slow writer each gave exactly one thumbnail per size (of the complete file), temp names none; inputs overwritten in place (cp) or replaced with years-old mtimes (mv, cp -p, rename) got new thumbnails"
