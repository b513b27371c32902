#!/usr/bin/env bash
# SIGHUP reloads the -c file in the same process: (a) an added watch works
# at once (its existing files are scanned too) and changed sizes apply to new
# jobs of an existing watch; (b) a change of workers is followed while a
# burst is processed, up and down, without dropping a job; (c) an invalid file is logged
# with FILE:LINE and nothing of it is applied; (d) a removed watch is no
# longer watched.
. "$(dirname "$0")/lib.sh"

CONF=$T/thumbd.conf
IN2=$T/in2
OUT2=$T/out2
mkdir -p "$IN2" "$OUT2"
small=$(img_jpeg 320 240)
big=$(img_jpeg 1600 1200)

# write_conf WORKERS SIZES_ONE [WATCH_TWO_SIZES]: the config file, with watch
# "two" only when its sizes are given. Written to a temp file and renamed, as
# an editor or a config manager would, so the daemon never reads half a file.
write_conf() {
	{
		printf '[daemon]\nworkers = %s\nstats_interval = 0\n\n' "$1"
		printf '[watch one]\ninput = %s\noutput = %s\nsizes = %s\n' "$IN" "$OUT" "$2"
		if [ -n "${3:-}" ]; then
			printf '\n[watch two]\ninput = %s\noutput = %s\nsizes = %s\n' "$IN2" "$OUT2" "$3"
		fi
	} >"$CONF.new"
	mv -f "$CONF.new" "$CONF"
}

n_workers() {
	pgrep -P "$DAEMON_PID" | wc -l
}

workers_are() {
	[ "$(n_workers)" -eq "$1" ]
}

# hup_and_wait REGEX: send SIGHUP and wait for the reload's outcome line
# (success or failure); then the log since the signal must match REGEX.
hup_and_wait() {
	local mark
	mark=$(stat -c %s "$LOG")
	kill -HUP "$DAEMON_PID"
	reload_done() {
		tail -c "+$((mark + 1))" "$LOG" | grep -a -q -E 'reloaded|reload failed' ||
			proc_gone "$DAEMON_PID"
	}
	wait_until 20 reload_done || fail "no reload outcome logged within 20 s of SIGHUP"
	daemon_assert_alive "after SIGHUP"
	tail -c "+$((mark + 1))" "$LOG" >"$T/reload.txt"
	grep -a -q -E -- "$1" "$T/reload.txt" ||
		fail "after SIGHUP the log does not match /$1/: $(cat "$T/reload.txt")"
}

have_files() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || return 1
	done
}

# wait_files SECONDS FILE...: every FILE exists within SECONDS.
wait_files() {
	local secs=$1 f
	shift
	if ! wait_until "$secs" have_files "$@"; then
		for f in "$@"; do
			[ -f "$f" ] || say "missing: $f"
		done
		fail "outputs missing after $secs s"
	fi
}

# assert_box FILE W H: the output has exactly these dimensions.
assert_box() {
	local got
	got=$(image_size "$1")
	[ "$got" = "$2 $3" ] || fail "${1#"$T"/} is $got, want $2 $3"
}

# Inodes (hex) of the folders the daemon's inotify instance watches.
inotify_inodes() {
	local fd
	for fd in /proc/"$DAEMON_PID"/fdinfo/*; do
		sed -n 's/^inotify wd:[0-9]* ino:\([0-9a-f]*\) .*/\1/p' "$fd" 2>/dev/null || true
	done
}

watched() {
	inotify_inodes | grep -q -x "$(printf '%x' "$(stat -c %i "$1")")"
}

# ---- start: one watch, one size, one worker ---------------------------
write_conf 1 64
start_daemon -c "$CONF"
pid=$DAEMON_PID
cp "$small" "$IN/a1.jpg"
wait_files 20 "$OUT/a1_64.jpg"
assert_box "$OUT/a1_64.jpg" 64 48
wait_until 10 workers_are 1 || fail "$(n_workers) worker processes with workers = 1"

# ---- (a) add a watch, add a size ---------------------------------------
cp "$small" "$IN2/pre.jpg"      # already there: the new watch's scan finds it
write_conf 1 64,96 48
hup_and_wait 'reloaded'
cp "$small" "$IN/a2.jpg"
cp "$small" "$IN2/b1.jpg"
wait_files 20 "$OUT/a2_64.jpg" "$OUT/a2_96.jpg" "$OUT2/b1_48.jpg" "$OUT2/pre_48.jpg"
assert_box "$OUT/a2_96.jpg" 96 72
assert_box "$OUT/a2_64.jpg" 64 48
assert_box "$OUT2/b1_48.jpg" 48 36
# the reload rescans the old watch: a1 lacked its new size
wait_files 20 "$OUT/a1_96.jpg"
[ "$DAEMON_PID" = "$pid" ] && proc_alive "$pid" || fail "the daemon pid changed across SIGHUP"
[ ! -e "$OUT2/b1_64.jpg" ] && [ ! -e "$OUT/a2_48.jpg" ] ||
	fail "one watch's sizes leaked into the other"
say "(a) new watch two: b1 and pre-existing pre thumbnailed at 48; watch one now writes 64 and 96 (a1 redone by the rescan); pid $pid unchanged"

# ---- (b) workers 1 -> 2, then 2 -> 1, each in the middle of a burst ----
# burst WAVE WORKERS: drop N big inputs, switch to WORKERS once some are
# done, and require every input of the tree to get both sizes.
N=240
burst() {
	local wave=$1 want=$2 base before at_reload total seen
	base=$(count_outputs)
	total=$((base + 2 * N))
	make_copies "$big" "$T/stage$wave" "$N" "burst$wave-"
	mv -t "$IN" -- "$T/stage$wave"/*
	wait_until 20 outputs_at_least $((base + 8)) || fail "burst $wave did not start"
	before=$(count_outputs)
	write_conf "$want" 64,96 48
	hup_and_wait 'reloaded'
	at_reload=$(count_outputs)
	wait_until 20 workers_are "$want" ||
		fail "$(n_workers) worker processes 20 s after workers = $want"
	seen=$(n_workers)
	wait_outputs "$total" 60
	wait_no_temps
	assert_outputs_exactly 64,96 jpg
	wait_until 10 workers_are "$want" || fail "worker count did not stay $want after burst $wave"
	[ "$at_reload" -lt "$total" ] ||
		say "note: burst $wave was already finished at the reload"
	say "(b) workers -> $want at $((before - base))..$((at_reload - base)) of $((2 * N)) outputs of burst $wave; $seen worker processes; all $N inputs got both sizes"
}
burst 1 2
burst 2 1
! log_has 'failed /' || fail "a job failed: $(grep -a 'failed /' "$LOG" | head -n 3)"

# ---- (c) an invalid file: logged with FILE:LINE, nothing applied -------
{
	printf '[daemon]\nworkers = 2\nstats_interval = 0\n\n'
	printf '[watch one]\ninput = %s\noutput = %s\nsizes = 32\n' "$IN" "$OUT"
	printf 'quality = high\n'
} >"$CONF.new"
mv -f "$CONF.new" "$CONF"
bad_line=$(grep -n '^quality = high$' "$CONF" | cut -d: -f1)
hup_and_wait 'reload failed'
grep -a -q -F -- "$CONF:$bad_line: quality:" "$T/reload.txt" ||
	fail "the reload error does not name $CONF:$bad_line: quality: $(cat "$T/reload.txt")"
grep -a -q -F -- '"high"' "$T/reload.txt" || fail "the reload error does not quote the bad value"
say "(c) logged: $(grep -a -F "$CONF:$bad_line" "$T/reload.txt" | head -n 1)"
[ "$DAEMON_PID" = "$pid" ] && proc_alive "$pid" || fail "the daemon pid changed"
cp "$small" "$IN/c1.jpg"
cp "$small" "$IN2/c2.jpg"
wait_files 20 "$OUT/c1_64.jpg" "$OUT/c1_96.jpg" "$OUT2/c2_48.jpg"
wait_no_temps
[ ! -e "$OUT/c1_32.jpg" ] || fail "sizes = 32 of the rejected file was applied"
workers_are 1 || fail "workers = 2 of the rejected file was applied ($(n_workers) workers)"
watched "$IN2" || fail "the rejected file (no watch two) removed watch two"
say "(c) old config still in force: c1 at 64 and 96 (not 32), watch two still works, 1 worker"

# ---- (d) remove a watch ------------------------------------------------
watched "$IN2" || fail "in2 is not in the daemon's inotify set before the removal"
write_conf 1 64,96
hup_and_wait 'reloaded'
wait_until 10 eval '! watched "$IN2"' || fail "in2 is still watched after its watch was removed"
cp "$small" "$IN2/gone.jpg"
# a file dropped after it into the remaining watch is a sentinel: once it is
# done, an event for gone.jpg would have been handled too
cp "$small" "$IN/d1.jpg"
wait_files 20 "$OUT/d1_64.jpg" "$OUT/d1_96.jpg"
[ -z "$(find "$OUT2" -name 'gone*')" ] || fail "a file dropped into a removed watch was thumbnailed"
! log_has 'gone\.jpg' || fail "the daemon still handles files of the removed watch: $(grep -a 'gone\.jpg' "$LOG")"
say "(d) watch two removed: in2 left the inotify set and gone.jpg got no output"

[ "$DAEMON_PID" = "$pid" ] || fail "the daemon pid changed"
stop_daemon
pass "SIGHUP in one process (pid kept): added a watch (scanned, working) and a size; workers 1 -> 2 and 2 -> 1, each mid-burst, with every one of 2 x $N inputs done; an invalid file was logged as FILE:LINE: quality and left sizes, workers and watches as they were; a removed watch stopped being watched"
