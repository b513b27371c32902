#!/usr/bin/env bash
# A deterministic inotify queue overflow: with the master stopped, more
# events than fs.inotify.max_queued_events arrive, so the kernel drops the
# rest and queues IN_Q_OVERFLOW. Files whose events were dropped must still
# be thumbnailed, found by the rescan the overflow triggers.
. "$(dirname "$0")/lib.sh"

max=$(cat /proc/sys/fs/inotify/max_queued_events 2>/dev/null) ||
	skip "cannot read /proc/sys/fs/inotify/max_queued_events"
[ "$max" -le 200000 ] ||
	skip "max_queued_events is $max: flooding that many events takes too long"

src=$(img_jpeg 160 120)
make_copies "$src" "$T/stage" 40 late
make_copies "$src" "$T/stage2" 10 early

start_watch -s 40
kill -STOP "$DAEMON_PID"

# files whose events fit in the queue before it fills
cp -t "$IN" -- "$T"/stage2/*
# Fill the queue with events the daemon ignores (hidden names), so the
# flood costs no thumbnail work. Each file makes CREATE, CLOSE_WRITE and
# DELETE (the daemon needs the first two whatever else its mask holds), so
# max/2 + 256 files make at least max + 512 events: an overflow for sure.
flood=$((max / 2 + 256))
"$E2E_PY" - "$IN" "$flood" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    p = os.path.join(d, '.flood%06d' % i)
    open(p, 'wb').close()
    os.unlink(p)
EOF
# these arrive after the overflow: their events are dropped by the kernel
cp -t "$IN" -- "$T"/stage/*
mkdir -p "$IN/sub"
cp "$src" "$IN/sub/late_sub.jpg"
kill -CONT "$DAEMON_PID"

wait_outputs 51 30
wait_no_temps 10
assert_outputs_exactly 40 jpg
log_has 'overflow|Q_OVERFLOW|rescan' ||
	fail "the log does not mention the overflow or the rescan"
daemon_assert_alive "after the overflow"

# the watch still works after the overflow
cp "$src" "$IN/after.jpg"
wait_outputs 52 10
stop_daemon
pass "an inotify overflow ($((flood * 2))+ events vs max_queued_events=$max, master stopped) was logged and the rescan thumbnailed all 41 files whose events were dropped; watching continued"
