#!/usr/bin/env bash
# Symbolic links that lead out of the configured trees: in the drop folder a
# link to /etc/passwd, a link to a JPEG outside the tree, a link to a folder
# outside, and a link to a file inside the tree; in the output tree a link
# where an output folder would go. Some exist before the start (start-up
# scan), some arrive after (events). Nothing outside the trees is read
# (the outside JPEG's access time stays where it was put) or written (the
# outside folders are unchanged), the planted link in the output tree is
# neither followed nor replaced, the real files are thumbnailed, and every
# refusal is logged with the path.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

outside=$T/outside
elsewhere=$T/elsewhere
mkdir -p "$outside/deeper" "$elsewhere" "$IN/sub"
src=$(img_jpeg 320 240)
cp "$src" "$outside/pic.jpg"
cp "$src" "$outside/deeper/pic2.jpg"
# Reading a file moves an access time older than its mtime (relatime).
touch -a -d '2000-01-01 00:00:00' "$outside/pic.jpg" "$outside/deeper/pic2.jpg"
atime() { stat -c %X "$1"; }
atime0=$(atime "$outside/pic.jpg")
atime0b=$(atime "$outside/deeper/pic2.jpg")
listing() { find "$outside" "$elsewhere" -printf '%p %y %s %T@\n' | sort; }
listing >"$T/outside.before"

# before the start: found by the start-up scan
ln -s /etc/passwd "$IN/passwd.jpg"
ln -s "$outside" "$IN/linkdir"
ln -s "$elsewhere" "$OUT/sub"

start_watch -s 64 -v
# after the start: seen as events
ln -s "$outside/pic.jpg" "$IN/outside.jpg"
ln -s "$outside/deeper" "$IN/linkdir2"
cp "$src" "$IN/real.jpg"
ln -s real.jpg "$IN/inside.jpg"
cp "$src" "$IN/sub/a.jpg"

wait_until 20 test -f "$OUT/real_64.jpg" || fail "real.jpg was not thumbnailed"
wait_until 20 log_has "$IN/sub/a\\.jpg" || fail "nothing logged about sub/a.jpg, whose output folder is a symbolic link"
# One more file after everything: once it is done, the rest has been seen.
cp "$src" "$IN/last.jpg"
wait_until 20 test -f "$OUT/last_64.jpg" || fail "last.jpg was not thumbnailed"
wait_no_temps 10
daemon_assert_alive "after the symbolic links"

# Nothing outside was read or written.
listing >"$T/outside.after"
diff "$T/outside.before" "$T/outside.after" >&2 ||
	fail "something outside the configured trees changed (above)"
[ "$(atime "$outside/pic.jpg")" = "$atime0" ] ||
	fail "the JPEG outside the tree was read through the link outside.jpg"
[ "$(atime "$outside/deeper/pic2.jpg")" = "$atime0b" ] ||
	fail "a JPEG outside the tree was read through the linked folder"
[ -L "$OUT/sub" ] && [ "$(readlink "$OUT/sub")" = "$elsewhere" ] ||
	fail "the link planted in the output tree was replaced or removed"
[ -z "$(ls -A "$elsewhere")" ] || fail "something was written through the planted output link"
for f in passwd outside inside; do
	[ ! -e "$OUT/${f}_64.jpg" ] || fail "an output was made for the link $f.jpg"
done
[ ! -e "$OUT/linkdir" ] && [ ! -e "$OUT/linkdir2" ] ||
	fail "outputs were made for a linked folder"
line=$(grep -a -F "$IN/sub/a.jpg" "$LOG" | head -n 1)
printf '%s\n' "$line" | grep -q -i -E 'link' ||
	fail "the error for sub/a.jpg does not say a link is in the way: $line"
say "logged: ${line#* }"

# Every refused link should be named in the log (any level, -v is on), so an
# operator who dropped a link learns why nothing happened.
silent=()
for f in passwd.jpg outside.jpg inside.jpg linkdir linkdir2; do
	if log_has "$IN/$f"; then
		say "logged: $(grep -a -F "$IN/$f" "$LOG" | head -n 1 | cut -d' ' -f2-)"
	else
		silent+=("$f")
	fi
done
[ ${#silent[@]} -eq 0 ] ||
	fail "nothing outside the trees was touched, but these links were skipped without a word in the log (even at debug level): ${silent[*]}"
stop_daemon
pass "symbolic links to /etc/passwd, to an outside JPEG and folder, inside the tree and in the output tree: nothing outside read (atime kept) or written, the planted output link left alone, real files thumbnailed, every refusal logged"
