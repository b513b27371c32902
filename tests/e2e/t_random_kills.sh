#!/usr/bin/env bash
# Random kill -9s of workers through a long run of small files (-s 32,
# -w 2): the files arrive in batches, and during each batch one worker,
# chosen at random, is killed a random number of outputs into it. Every
# input then has its thumbnail exactly once, none failed, no temp file
# stays, every output decodes, and after a restart nothing is done again
# (same inode and mtime, and the new daemon's stats count only a sentinel).
#
# A worker is only killed once it has lived E2E_KILLS_MIN_AGE_MS (default
# 2200): the pool counts a worker that dies younger than 2 s as a crash loop
# and backs off its slot (50 ms, doubling), which would stall a run of
# many kills. Two slots, each killable every ~2.2 s, bound the pace to
# about one kill a second, so the suite runs E2E_KILLS_N=2000 files with
# E2E_KILLS_K=24 kills (~30 s); scripts/soak runs the full 5,000 / 200.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

N=${E2E_KILLS_N:-2000}
K=${E2E_KILLS_K:-24}
MIN_AGE=${E2E_KILLS_MIN_AGE_MS:-2200}
DEADLINE=${E2E_KILLS_DEADLINE:-300}
SEED=${E2E_KILLS_SEED:-$$}
RANDOM=$SEED
batch=$(((N + K - 1) / K))

src=$(img_jpeg 400 300)
make_copies "$src" "$T/stage" "$N" k
stage_files=("$T"/stage/*)
[ ${#stage_files[@]} -eq "$N" ] || fail "staged ${#stage_files[@]} files, want $N"

start_watch -s 32
say "$N files in batches of $batch, $K kills of workers older than $MIN_AGE ms (RANDOM seed $SEED)"
t_start=$(now_ms)

victim=
# pick_victim: a live worker old enough; random pick. (No list of pids
# killed before: over a long run pids wrap and come back.)
pick_victim() {
	local p age cands=()
	for p in $(worker_pids); do
		proc_alive "$p" || continue
		age=$(proc_age_ms "$p") || continue
		[ "$age" -ge "$MIN_AGE" ] && cands+=("$p")
	done
	[ ${#cands[@]} -gt 0 ] || return 1
	victim=${cands[RANDOM % ${#cands[@]}]}
	[ -z "${E2E_KILLS_DEBUG:-}" ] || say "candidates: ${cands[*]} (workers: $(worker_pids | tr "\n" " "), ages: $(for p in $(worker_pids); do proc_age_ms "$p"; done | tr "\n" " "))"
}
# a pid with its start time names one process, even across pid reuse
starttime() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}
replaced() {
	local st
	st=$(starttime "$victim")
	{ [ "$st" != "$victim_start" ] || proc_gone "$victim"; } &&
		[ "$(worker_pids | wc -w)" -eq 2 ]
}

fed=0
kills=0
midjob=0
while [ "$kills" -lt "$K" ] && [ "$fed" -lt "$N" ]; do
	[ "$(($(now_ms) - t_start))" -lt $((DEADLINE * 1000)) ] ||
		fail "out of time after $kills kills ($DEADLINE s)"
	wait_until 30 pick_victim || fail "no worker old enough to kill within 30 s"
	retries0=$(log_count 'retrying ')
	# kill when a random file of the first half of the batch is done: the
	# workers are then busy with the rest (polled fast: a batch is quick)
	mark=${stage_files[fed + RANDOM % (batch / 2 + 1)]##*/}
	mark=$OUT/${mark%.jpg}_32.jpg
	mv -t "$IN" -- "${stage_files[@]:fed:batch}"
	fed=$((fed + batch))
	[ "$fed" -le "$N" ] || fed=$N
	WAIT_POLL=0.001 wait_until 30 test -e "$mark" || true
	victim_start=$(starttime "$victim")
	kill -KILL "$victim" 2>/dev/null || continue
	kills=$((kills + 1))
	wait_until 10 replaced ||
		fail "worker $victim was not replaced within 10 s (workers: $(worker_pids | tr '\n' ' '))"
	# the job it ran is retried at the front of the queue: let it finish
	# before the next kill, so no job is hit twice (that one would rightly
	# be reported as failed)
	target=$(($(count_outputs) + 4))
	[ "$target" -le "$fed" ] || target=$fed
	wait_until 30 outputs_at_least "$target" ||
		fail "no progress after killing worker $victim"
	[ "$(log_count 'retrying ')" -eq "$retries0" ] || midjob=$((midjob + 1))
done
if [ "$fed" -lt "$N" ]; then
	mv -t "$IN" -- "${stage_files[@]:fed}"
fi
wait_outputs "$N" "$DEADLINE"
run_ms=$(($(now_ms) - t_start))
wait_no_temps 10
daemon_assert_alive "after $kills worker kills"
[ "$kills" -ge $((K * 3 / 4)) ] || fail "only $kills of $K kills landed"
[ "$(log_count 'failed [^ ]*/[^ ]*: ')" -eq 0 ] ||
	fail "an input failed although no job was killed twice: $(grep -a -E 'failed [^ ]*/[^ ]*: ' "$LOG" | head -n 3)"
assert_outputs_exactly 32 jpg
restarts=$(log_count 'worker [0-9]+ .*(crashed|killed).*replacing')

# Done is done: a restart rescans everything and redoes nothing.
snapshot_outputs "$T/done.snap"
stop_daemon
start_watch -s 32
cp "$src" "$IN/sentinel.jpg"
wait_until 30 test -f "$OUT/sentinel_32.jpg" || fail "the sentinel after the restart was not done"
assert_unchanged "$T/done.snap"
done_after=$(stats_done)
[ -z "$done_after" ] || [ "$done_after" -eq 1 ] ||
	fail "after the restart the daemon did $done_after jobs, want only the sentinel"
stop_daemon
pass "$kills random kill -9s of workers ($midjob mid-job, $restarts replacements logged) over $N files in $run_ms ms: every input has its thumbnail exactly once, none failed, all decode, no temps; a restart redid nothing (${done_after:-?} job: the sentinel)"
