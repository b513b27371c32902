#!/usr/bin/env bash
# The sd_notify protocol as systemd sees it: READY=1, STATUS=, WATCHDOG=1 at
# the rate WATCHDOG_USEC asks for, RELOADING=1 (with MONOTONIC_USEC) then
# READY=1 on SIGHUP, STOPPING=1 on SIGTERM; every message from the main pid
# (systemd's default NotifyAccess=main drops the rest); a path socket and an
# abstract one; and no watchdog pings when WATCHDOG_PID names another process.
. "$(dirname "$0")/lib.sh"

LISTEN=$(dirname "$0")/notify_listen.py
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID

cat >"$T/thumbd.conf" <<EOF
[daemon]
workers = 1
stats_interval = 1s

[watch main]
input = $IN
output = $OUT
EOF

# listen SOCKET FILE: a stand-in for systemd's notification socket.
listen() {
	"$E2E_PY" "$LISTEN" "$1" "$2" --timeout 240 &
	E2E_EXTRA_PIDS+=($!)
	wait_until 10 test -e "$2" || fail "notify listener did not start"
}

# Messages received so far, without the "# pid=" lines.
msgs() {
	grep -a -v '^# pid=' "$NOTES" || true
}

# has_line REGEX [FROM]: a message line matching ^REGEX$ at line FROM or later
# of the message list.
has_line() {
	msgs | tail -n "+${2:-1}" | grep -a -q -x -E -- "$1"
}

count_line() {
	msgs | grep -a -c -x -E -- "$1" || true
}

wait_line() {
	wait_until "${3:-10}" has_line "$1" "${2:-1}" ||
		fail "no '$1' notification within ${3:-10} s (got: $(msgs | tr '\n' ' '))"
}

# Every datagram must come from the master itself.
assert_from_main() {
	local bad
	bad=$(grep -a '^# pid=' "$NOTES" | grep -a -v -x "# pid=$1" | sort -u || true)
	[ -z "$bad" ] || fail "notifications from processes other than the main pid $1: $bad"
}

ready_after() {
	has_line 'READY=1' "$(($1 + 1))"
}

# ---- 1. path socket, watchdog 2 s, WATCHDOG_PID unset --------------------
NOTES=$T/notify1.txt
listen "$T/notify.sock" "$NOTES"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=2000000 start_daemon -c "$T/thumbd.conf"
pid1=$DAEMON_PID
wait_line 'READY=1'
wait_line 'STATUS=.+'
# pings at half the interval: three take about 3 s, and must not take 6
t0=$(now_ms)
three_pings() { [ "$(count_line 'WATCHDOG=1')" -ge 3 ]; }
wait_until 6 three_pings || fail "fewer than 3 WATCHDOG=1 in 6 s with WATCHDOG_USEC=2000000 (got $(count_line 'WATCHDOG=1'))"
say "3 watchdog pings after $(($(now_ms) - t0)) ms"

# reload: RELOADING=1 with MONOTONIC_USEC in the same datagram, then READY=1
n=$(msgs | wc -l)
kill -HUP "$DAEMON_PID"
wait_line 'RELOADING=1' "$((n + 1))"
rl=$(msgs | grep -a -n -x 'RELOADING=1' | tail -n 1 | cut -d: -f1)
mono=$(msgs | sed -n "$((rl + 1))p")
[[ $mono =~ ^MONOTONIC_USEC=([0-9]+)$ ]] ||
	fail "RELOADING=1 not followed by MONOTONIC_USEC=… (got '$mono')"
now_us=$("$E2E_PY" -c 'import time; print(time.monotonic_ns() // 1000)')
diff_us=$((now_us - BASH_REMATCH[1]))
[ "$diff_us" -ge 0 ] && [ "$diff_us" -lt 30000000 ] ||
	fail "MONOTONIC_USEC ${BASH_REMATCH[1]} is not a recent CLOCK_MONOTONIC time (now $now_us)"
wait_until 15 ready_after "$rl" || fail "no READY=1 after RELOADING=1"
daemon_assert_alive "after SIGHUP"

# stop: STOPPING=1, then a clean exit
n=$(msgs | wc -l)
stop_daemon TERM
wait_line 'STOPPING=1' "$((n + 1))" 5
assert_from_main "$pid1"
say "path socket: $(msgs | wc -l) message lines, $(count_line 'WATCHDOG=1') pings, $(count_line 'STATUS=.*') status updates"

# ---- 2. abstract socket; WATCHDOG_PID names another process --------------
NOTES=$T/notify2.txt
asock="@thumbd-e2e-notify-$$-$RANDOM"
listen "$asock" "$NOTES"
NOTIFY_SOCKET=$asock WATCHDOG_USEC=200000 WATCHDOG_PID=1 \
	start_daemon -c "$T/thumbd.conf"
pid2=$DAEMON_PID
wait_line 'READY=1'
# with a 0.2 s interval, pings would come every 0.1 s: in 1.5 s there would
# be many; this watchdog belongs to pid 1, so there must be none
any_ping() { has_line 'WATCHDOG=1'; }
if wait_until 2 any_ping; then
	fail "WATCHDOG=1 sent although WATCHDOG_PID=1 is not the daemon"
fi
stop_daemon TERM
wait_line 'STOPPING=1' 1 5
assert_from_main "$pid2"

# ---- 3. WATCHDOG_PID is the daemon's own pid (as systemd sets it) --------
NOTES=$T/notify3.txt
listen "$T/notify3.sock" "$NOTES"
cat >"$T/wd-self.sh" <<EOF
#!/bin/sh
WATCHDOG_PID=\$\$ exec "$THUMBD" "\$@"
EOF
chmod +x "$T/wd-self.sh"
THUMBD=$T/wd-self.sh NOTIFY_SOCKET=$T/notify3.sock WATCHDOG_USEC=1000000 \
	start_daemon -c "$T/thumbd.conf"
pid3=$DAEMON_PID
wait_line 'READY=1'
wait_line 'WATCHDOG=1' 1 5
stop_daemon TERM
wait_line 'STOPPING=1' 1 5
assert_from_main "$pid3"

pass "READY, STATUS, WATCHDOG (3 pings in time), RELOADING+MONOTONIC_USEC then READY on HUP, STOPPING on TERM, all from the main pid; abstract socket works; WATCHDOG_PID honoured"
