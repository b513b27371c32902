#!/usr/bin/env bash
# The output tree cleaned by a user while the daemon runs: a removed output
# subfolder is made again for the next thumbnail, and so is the whole output
# folder removed and re-created (the sandboxed workers must be able to
# write into the new folder).
. "$(dirname "$0")/lib.sh"

src=$(img_jpeg 320 240)
mkdir -p "$IN/sub"
cp "$src" "$IN/sub/s1.jpg"
start_watch -s 64
wait_outputs 1 20

# an output subfolder removed: the next file in it is written all the same
rm -rf "${OUT:?}/sub"
cp "$src" "$IN/sub/s2.jpg"
wait_until 20 test -e "$(output_path sub/s2.jpg 64 jpg)" ||
	fail "no thumbnail for sub/s2.jpg after its output folder was removed"

# the output folder itself removed and made again
rm -rf "$OUT"
mkdir "$OUT"
cp "$src" "$IN/r1.jpg"
wait_until 20 test -e "$(output_path r1.jpg 64 jpg)" ||
	fail "no thumbnail for r1.jpg within 20 s after the output folder was re-created"
daemon_assert_alive "after the output folder was re-created"

# the inputs whose outputs went with it are still there: a restart's scan
# makes them again, and the tree is exact
stop_daemon
start_watch -s 64
wait_outputs 3 20
wait_no_temps
assert_outputs_exactly 64 jpg
stop_daemon
pass "an output subfolder removed while running was made again for the next file; after the whole output folder was removed and re-created, new thumbnails were written into it"
