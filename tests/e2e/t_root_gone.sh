#!/usr/bin/env bash
# The watched folder itself removed, then made again; and moved away, then
# back: the daemon logs it, keeps running, re-arms the watch when the folder
# reappears and scans it.
. "$(dirname "$0")/lib.sh"

src=$(img_jpeg 320 240)
cp "$src" "$IN/first.jpg"
start_watch -s 64
wait_outputs 1 20

# removed: the log says so, the daemon lives on
rm -rf "$IN"
removed_logged() {
	log_new_has 'removed|deleted|gone|lost|waiting' || proc_gone "$DAEMON_PID"
}
wait_until 10 removed_logged || fail "nothing logged within 10 s of removing the watched folder"
daemon_assert_alive "after the watched folder was removed"

# made again with a file already inside, then one more added
mkdir "$T/in.new"
cp "$src" "$T/in.new/while_gone.jpg"
mv "$T/in.new" "$IN"
wait_until 20 test -e "$(output_path while_gone.jpg 64 jpg)" ||
	fail "the watched folder came back (with a file in it) but the file got no thumbnail within 20 s"
cp "$src" "$IN/after_back.jpg"
wait_until 20 test -e "$(output_path after_back.jpg 64 jpg)" ||
	fail "a file added after the folder came back got no thumbnail (watch not re-armed)"

# moved away, a file added to it out there, then moved back
mv "$IN" "$T/in.away"
cp "$src" "$T/in.away/while_away.jpg"
# nothing may be made from a folder that is not at the watched path; show
# it by waiting for the move-away to be logged first
moved_logged() {
	[ "$(log_count 'moved|removed|gone|lost|waiting')" -ge 2 ] || proc_gone "$DAEMON_PID"
}
wait_until 10 moved_logged || fail "nothing logged within 10 s of moving the watched folder away"
daemon_assert_alive "after the watched folder was moved away"
mv "$T/in.away" "$IN"
wait_until 20 test -e "$(output_path while_away.jpg 64 jpg)" ||
	fail "the watched folder was moved back but its new file got no thumbnail"
cp "$src" "$IN/last.jpg"
wait_until 20 test -e "$(output_path last.jpg 64 jpg)" ||
	fail "a file added after the folder was moved back got no thumbnail"

wait_no_temps
rm -f -- "$(output_path first.jpg 64 jpg)"   # its input went with the rm -rf
assert_outputs_exactly 64 jpg
daemon_assert_alive "at the end"
stop_daemon
pass "the watched folder removed and re-created, and moved away and back: each was logged, the daemon kept running, re-armed the watch and scanned the folder (files made while it was gone or away got thumbnails)"
