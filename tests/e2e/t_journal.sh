#!/usr/bin/env bash
# Log line format. Under journald (JOURNAL_STREAM names the stream stderr
# is) every line starts with a <N> syslog priority and has no timestamp
# (journald adds its own); a failure is logged at warning or error priority,
# the rest at info. Without JOURNAL_STREAM, or when it names some other
# stream (a child that inherited it with stderr redirected), every line
# starts with an ISO 8601 timestamp.
. "$(dirname "$0")/lib.sh"

unset JOURNAL_STREAM NOTIFY_SOCKET
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}'
src=$(img_jpeg 320 240)
printf 'this is not an image\n' >"$T/src/bad.jpg"

# run NAME: one daemon run that logs start-up, a success, a failure, a
# stats report and shut-down; its log is left in $T/NAME.txt.
run() {
	local name=$1
	shift
	rm -rf "${IN:?}"/* "${OUT:?}"/*
	start_watch --stats-interval 0
	cp "$src" "$IN/good-$name.jpg"
	cp "$T/src/bad.jpg" "$IN/bad-$name.jpg"
	wait_outputs 1 20
	bad_logged() { log_new_has "bad-$name"; }
	wait_until 20 bad_logged || fail "$name: the failure of bad-$name.jpg was not logged"
	stats_now
	stop_daemon
	log_new >"$T/$name.txt"
	[ -s "$T/$name.txt" ] || fail "$name: the daemon logged nothing"
}

# 1. journald: JOURNAL_STREAM is stderr's device:inode, as systemd sets it
stream=$(stat -c '%d:%i' "$LOG")
JOURNAL_STREAM=$stream run journal
bad=$(grep -a -v -c -E '^<[0-7]>' "$T/journal.txt" || true)
[ "$bad" -eq 0 ] || fail "under journald, $bad line(s) do not start with <N>: $(grep -a -v -m 3 -E '^<[0-7]>' "$T/journal.txt")"
if grep -a -q -E "^<[0-7]>.{0,3}$TS" "$T/journal.txt"; then
	fail "under journald, lines carry a timestamp: $(grep -a -m 1 -E "$TS" "$T/journal.txt")"
fi
grep -a -q -E '^<6>.*ready' "$T/journal.txt" || fail "no '<6>… ready' line under journald"
grep -a -q -E '^<[34]>.*bad-journal' "$T/journal.txt" ||
	fail "the failure is not logged at <3> or <4>: $(grep -a 'bad-journal' "$T/journal.txt")"
n_journal=$(wc -l <"$T/journal.txt")

# 2. not under journald: timestamps, no <N>
run plain
bad=$(grep -a -v -c -E "^$TS" "$T/plain.txt" || true)
[ "$bad" -eq 0 ] || fail "without JOURNAL_STREAM, $bad line(s) lack a timestamp: $(grep -a -v -m 3 -E "^$TS" "$T/plain.txt")"
if grep -a -q -E '^<[0-7]>' "$T/plain.txt"; then
	fail "without JOURNAL_STREAM, a line starts with <N>"
fi

# 3. JOURNAL_STREAM inherited but naming another stream: timestamps
: >"$T/other.out"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/other.out") run inherited
bad=$(grep -a -v -c -E "^$TS" "$T/inherited.txt" || true)
[ "$bad" -eq 0 ] || fail "with a JOURNAL_STREAM that is not stderr, $bad line(s) lack a timestamp"

pass "journald: $n_journal lines all <N>, no timestamps, failure at <3>/<4>, ready at <6>; otherwise (unset, or another stream) every line timestamped"
