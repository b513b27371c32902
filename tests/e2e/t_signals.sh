#!/usr/bin/env bash
# Signals: USR1 prints stats (one line per worker and a total line), HUP
# does not kill the daemon, TERM and INT in the middle of work finish the
# jobs in flight and exit 0 leaving no temp file.
. "$(dirname "$0")/lib.sh"

SIZES=800,160
small=$(img_jpeg 320 240)
big=$(img_jpeg 1200 900)

start_watch -s "$SIZES" --stats-interval 0
cp "$small" "$IN/first.jpg"
wait_outputs 2 20

# USR1: "worker N ..." for each of the 2 workers, then "total: ..."
stats_now
workers=$(grep -a -c -E '(^|[] :])worker [0-9]+' "$T/stats.txt" || true)
[ "$workers" -eq 2 ] || fail "SIGUSR1 printed $workers worker lines, want 2: $(cat "$T/stats.txt")"
grep -a -q -E '(^|[] :])worker 0' "$T/stats.txt" || fail "no 'worker 0' line"
grep -a -q -E '(^|[] :])worker 1' "$T/stats.txt" || fail "no 'worker 1' line"
[ "$(grep -a -c 'total:' "$T/stats.txt")" -eq 1 ] || fail "want one total: line"
# the worker lines come before the total line
last_worker=$(grep -a -n -E '(^|[] :])worker [0-9]+' "$T/stats.txt" | tail -n 1 | cut -d: -f1)
total_line=$(grep -a -n 'total:' "$T/stats.txt" | cut -d: -f1)
[ "$last_worker" -lt "$total_line" ] || fail "the total: line comes before a worker line"
say "stats: $(tr '\n' '|' <"$T/stats.txt")"

# HUP: without -c there is nothing to reload; it must log and keep working
mark=$(stat -c %s "$LOG")
kill -HUP "$DAEMON_PID"
hup_logged() {
	[ "$(stat -c %s "$LOG")" -gt "$mark" ] || proc_gone "$DAEMON_PID"
}
wait_until 10 hup_logged || say "note: nothing logged within 10 s of SIGHUP"
daemon_assert_alive "after SIGHUP"
cp "$small" "$IN/after_hup.jpg"
wait_outputs 4 20
daemon_assert_alive "after SIGHUP and a new file"
stop_daemon TERM

# TERM and INT in the middle of a burst: exit 0, no temp file, every output
# written decodes; a restart finishes the rest.
for sig in TERM INT; do
	rm -rf "${IN:?}"/* "${OUT:?}"/*
	make_copies "$big" "$T/stage-$sig" 120 "$sig-"
	start_watch -s "$SIZES" --stats-interval 0
	cp -t "$IN" -- "$T/stage-$sig"/*
	wait_outputs 20 30
	if [ "$sig" = INT ]; then
		# HUP and USR1 in the middle of work: the work goes on
		kill -HUP "$DAEMON_PID"
		kill -USR1 "$DAEMON_PID"
		wait_outputs 40 30
		daemon_assert_alive "after SIGHUP and SIGUSR1 mid-burst"
	fi
	stop_daemon "$sig"
	have=$(count_outputs)
	[ "$(count_temps)" -eq 0 ] || fail "$(count_temps) temp file(s) left after SIG$sig"
	say "SIG$sig at $have/240 outputs: exit 0, no temp file"
	mapfile -d '' outs < <(find "$OUT" -type f -print0)
	decode_all jpg "${outs[@]}"
	start_watch -s "$SIZES" --stats-interval 0
	wait_outputs 240 60
	wait_no_temps
	assert_outputs_exactly "$SIZES" jpg
	stop_daemon
done
pass "SIGUSR1 printed 2 worker lines then a total line; SIGHUP (idle and mid-burst) left the daemon running and working; SIGTERM and SIGINT mid-burst each exited 0 with no temp file and only decodable outputs, and a restart finished the rest"
