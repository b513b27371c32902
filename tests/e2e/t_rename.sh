#!/usr/bin/env bash
# Folders renamed inside the watched tree, moved out of it and moved back in:
# the watcher's idea of each folder's path must follow, a folder moved out
# must stop producing thumbnails, and one moved in must be scanned.
. "$(dirname "$0")/lib.sh"

src=$(img_jpeg 320 240)
mkdir -p "$IN/album/inner" "$IN/leaving"
cp "$src" "$IN/album/a1.jpg"
cp "$src" "$IN/album/inner/a2.jpg"
cp "$src" "$IN/leaving/l1.jpg"
start_watch -s 64
wait_outputs 3 20

# 1. rename a folder inside the tree: its files now live under a new path,
# which the rename makes new (thumbnails under the new name), and files
# that arrive later must go under the new name too, not the old one.
mv "$IN/album" "$IN/renamed"
cp "$src" "$IN/renamed/new.jpg"
cp "$src" "$IN/renamed/inner/new2.jpg"
for f in renamed/a1.jpg renamed/inner/a2.jpg renamed/new.jpg renamed/inner/new2.jpg; do
	o=$(output_path "$f" 64 jpg)
	wait_until 20 test -e "$o" || fail "no thumbnail for $f after the folder rename (want $o)"
done
barrier
for f in album/new.jpg album/inner/new2.jpg; do
	o=$(output_path "$f" 64 jpg)
	[ ! -e "$o" ] || fail "a file in the renamed folder was written under its old path: $o"
done

# 2. rename a nested folder: same again one level down
mv "$IN/renamed/inner" "$IN/renamed/inner2"
cp "$src" "$IN/renamed/inner2/deep.jpg"
o=$(output_path renamed/inner2/deep.jpg 64 jpg)
wait_until 20 test -e "$o" || fail "no thumbnail for renamed/inner2/deep.jpg (want $o)"

# 3. a folder moved out of the tree: what is written there afterwards is
# not ours (its inotify watch would still report it if not dropped)
outside=$T/outside
mv "$IN/leaving" "$outside"
cp "$src" "$outside/after_leaving.jpg"
barrier
leak=$(find "$OUT" -name "after_leaving*" | head -n 1)
[ -z "$leak" ] || fail "a folder moved out of the watched tree still produced $leak"

# 4. and moved back in under a new name: scanned, watched again
mv "$outside" "$IN/back"
cp "$src" "$IN/back/returned.jpg"
for f in back/l1.jpg back/after_leaving.jpg back/returned.jpg; do
	o=$(output_path "$f" 64 jpg)
	wait_until 20 test -e "$o" || fail "no thumbnail for $f after moving the folder back in"
done

# 5. a file renamed within the tree gets thumbnails under its new name
mv "$IN/renamed/a1.jpg" "$IN/renamed/a1-renamed.jpg"
o=$(output_path renamed/a1-renamed.jpg 64 jpg)
wait_until 20 test -e "$o" || fail "no thumbnail for a file renamed in place (want $o)"

wait_no_temps
# Outputs under the old paths (album/, renamed/inner/, leaving/, a1_64) are
# orphans the daemon may keep; drop them, then everything else must be exact.
rm -rf "${OUT:?}/album" "${OUT:?}/renamed/inner" "${OUT:?}/leaving" \
	"$(output_path renamed/a1.jpg 64 jpg)"
assert_outputs_exactly 64 jpg
daemon_assert_alive "after the renames"
stop_daemon
pass "a renamed folder (and a nested one) got thumbnails under the new path, later files never under the old one; a folder moved out stopped producing thumbnails, moved back in it was scanned and watched; a renamed file got new thumbnails"
