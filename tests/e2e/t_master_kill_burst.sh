#!/usr/bin/env bash
# kill -9 of the master together with its workers (a power cut, an OOM
# kill of the whole cgroup), three times in one burst: at about 25%, 50%
# and 75% of the outputs, each time followed by a restart. At the end every
# input has all its thumbnails (WebP, two sizes), each decodes, no temp file
# is left, and nothing was done twice: outputs of inputs complete at a
# kill keep their inode and mtime, and the last daemon's stats count
# exactly the inputs that were not complete at the last kill.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

N=${E2E_BURST_N:-1200}
SIZES=128,64
want=$((N * 2))
src=$(img_jpeg 800 600)
make_copies "$src" "$T/stage" "$N" b

start_watch -s "$SIZES" --format webp
mv -t "$IN" -- "$T"/stage/*

snaps=()
total_temps=0
round=0
for pct in 25 50 75; do
	round=$((round + 1))
	at=$((want * pct / 100))
	wait_until 60 outputs_at_least "$at" ||
		fail "round $round: only $(count_outputs) of $at outputs within 60 s"
	master=$DAEMON_PID
	workers=$(worker_pids)
	kill -KILL "$master" $workers
	wait "$master" 2>/dev/null || true
	DAEMON_PID=
	for w in $workers; do
		wait_until 5 proc_gone "$w" || fail "worker $w survived kill -9"
	done
	have=$(count_outputs)
	temps=$(count_temps)
	total_temps=$((total_temps + temps))
	fault_snapshot_complete 2 "$T/snap.$round" >"$T/complete.$round"
	complete=$(cat "$T/complete.$round")
	snaps+=("$T/snap.$round")
	say "round $round: killed master $master and workers $(echo $workers) at $have/$want outputs ($complete inputs complete, $temps temp files left)"
	[ "$have" -lt "$want" ] || say "note: the burst finished before the kill of round $round"
	start_watch -s "$SIZES" --format webp
	# everything finished before this kill stays as it is
	for s in "${snaps[@]}"; do
		assert_unchanged "$s"
	done
done

wait_outputs "$want" 120
wait_no_temps 10
for s in "${snaps[@]}"; do
	assert_unchanged "$s"
done
assert_outputs_exactly "$SIZES" webp
[ "$(log_count 'failed [^ ]*/[^ ]*: ')" -eq 0 ] ||
	fail "an input failed: $(grep -a -E 'failed [^ ]*/[^ ]*: ' "$LOG" | head -n 1)"
# The last daemon did exactly the inputs not complete at the last kill.
done_last=$(stats_done)
redo=$((N - complete))
if [ -n "$done_last" ]; then
	[ "$done_last" -eq "$redo" ] ||
		fail "the last daemon did $done_last jobs; $redo inputs were incomplete at the last kill"
fi
daemon_assert_alive "after three kills"
stop_daemon
pass "3 kill -9s of master and workers mid-burst ($total_temps temp files left by them, all removed), 3 restarts: all $N inputs x 2 WebP sizes present and decode, outputs complete before each kill untouched, the last daemon did exactly the $redo incomplete inputs (stats: ${done_last:-?})"
