#!/usr/bin/env bash
# kill -9 of the master mid-burst, then a restart: the start-up scan finishes
# the rest, nothing finished before the kill is done again, no temp stays.
. "$(dirname "$0")/lib.sh"

N=${E2E_KILL_N:-240}
SIZES=800,160
src=$(img_jpeg 1200 900)
make_copies "$src" "$T/stage" "$N" m
want=$((N * 2))

start_watch -s "$SIZES"
cp -t "$IN" -- "$T"/stage/*
wait_outputs $((want / 5)) 30
workers=$(worker_pids)
master=$DAEMON_PID
kill -KILL "$master"
wait "$master" || true
DAEMON_PID=
have=$(count_outputs)
say "killed master $master with $have/$want outputs written; workers: $(echo $workers)"
[ "$have" -lt "$want" ] || say "note: the burst finished before the kill landed"

# Workers should notice the master is gone (their socket closes); report if
# they linger, then end them so the restart starts clean.
for w in $workers; do
	E2E_EXTRA_PIDS+=("$w")
	if ! wait_until 5 proc_gone "$w"; then
		say "note: worker $w still running 5 s after its master died; killing it"
		kill -KILL "$w" 2>/dev/null || true
		wait_until 5 proc_gone "$w" || fail "orphaned worker $w survives SIGKILL"
	fi
done

# Outputs of inputs complete at the kill (every size written) must survive
# the restart untouched; an input with only some sizes may rightly be redone.
snapshot_outputs "$T/all"
"$E2E_PY" - "$T/all" "$T/before" <<'EOF'
import collections, sys
recs = [r for r in open(sys.argv[1], 'rb').read().split(b'\0') if r]
by_stem = collections.defaultdict(list)
for r in recs:
    by_stem[r.split(b' ', 2)[2].rsplit(b'_', 1)[0]].append(r)
keep = sorted(r for v in by_stem.values() if len(v) == 2 for r in v)
open(sys.argv[2], 'wb').write(b''.join(r + b'\0' for r in keep))
EOF
complete=$(tr -cd '\0' <"$T/before" | wc -c)
temps=$(count_temps)
say "$temps temp file(s) left by the kill"

start_watch -s "$SIZES"
wait_outputs "$want" 60
wait_no_temps 10
assert_unchanged "$T/before"
assert_outputs_exactly "$SIZES" jpg
daemon_assert_alive "after the restart"
stop_daemon
pass "after kill -9 of the master at $have/$want outputs ($temps temp files left), a restart finished all $N inputs, rewrote none of the $complete outputs of inputs finished before the kill and removed the temps"
