#!/usr/bin/env bash
# kill -9 of workers in the middle of a burst: they are replaced, their jobs
# retried, every input still gets its thumbnails, no temp file stays.
. "$(dirname "$0")/lib.sh"

N=${E2E_KILL_N:-240}
KILLS=4
SIZES=800,160
# big enough that a job takes a few milliseconds, so kills land mid-job
src=$(img_jpeg 1200 900)
make_copies "$src" "$T/stage" "$N" k
want=$((N * 2))

start_watch -s "$SIZES"
cp -t "$IN" -- "$T"/stage/*

new_worker_since() {
	local p
	for p in $(worker_pids); do
		case " $killed " in
		*" $p "*) ;;
		*) proc_alive "$p" && return 0 ;;
		esac
	done
	return 1
}

killed=" "
kills=0
while [ "$kills" -lt "$KILLS" ]; do
	have=$(count_outputs)
	if [ "$have" -ge $((want - 40)) ]; then
		break   # too close to the end for the kill to land mid-burst
	fi
	victim=
	for p in $(worker_pids); do
		case "$killed" in
		*" $p "*) ;;
		*) victim=$p ;;
		esac
	done
	[ -n "$victim" ] || fail "no live worker under master $DAEMON_PID"
	kill -KILL "$victim"
	killed="$killed$victim "
	kills=$((kills + 1))
	say "killed worker $victim with $have/$want outputs written"
	wait_until 10 new_worker_since ||
		fail "no replacement worker within 10 s of killing $victim"
	# let the retried job finish on the other worker before the next kill,
	# so no job is hit twice (that one would rightly be reported failed)
	wait_until 20 outputs_at_least $((have + 8)) || true
done
[ "$kills" -ge 2 ] || fail "the burst ended before two kills could land (only $kills)"

wait_outputs "$want" 60
wait_no_temps 10
daemon_assert_alive "after $kills worker kills"
assert_outputs_exactly "$SIZES" jpg
[ "$(worker_pids | wc -w)" -eq 2 ] ||
	fail "want 2 workers after the kills, have: $(worker_pids | tr '\n' ' ')"
[ "$(log_count 'failed /')" -eq 0 ] ||
	fail "a job was reported failed although each was killed at most once"
stop_daemon
pass "$kills kill -9s of workers mid-burst: each replaced, all $N inputs got both thumbnails, all decode, no temp file left, daemon ran on"
