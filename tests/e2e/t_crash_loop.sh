#!/usr/bin/env bash
# A worker that crashes on an image every time. The worker's test-only hook
# THUMBD_TEST_CRASH_GLOB makes it raise SIGSEGV before decoding any job
# whose relative path matches the glob. Each such input is tried twice (the
# first crash is retried once on another worker), then reported as failed
# exactly once, and kept; each crashed worker is replaced; the good files
# dropped with them all get their thumbnails meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

N=40
src=$(img_jpeg 640 480)
make_copies "$src" "$T/stage" "$N" good
cp "$src" "$T/stage/crash1.jpg"
cp "$src" "$T/stage/crash2.jpg"

export THUMBD_TEST_CRASH_GLOB='crash*'
start_watch -s 64

# Is the hook there? A file it matches must not get a thumbnail.
cp "$src" "$IN/crash0.jpg"
# re-evaluated on every poll, unlike a $(...) in wait_until's arguments
crash0_settled() {
	[ -f "$OUT/crash0_64.jpg" ] || [ -n "$(fault_failed_line crash0.jpg)" ]
}
wait_until 20 crash0_settled ||
	fail "crash0.jpg was neither thumbnailed nor reported within 20 s"
[ ! -f "$OUT/crash0_64.jpg" ] ||
	skip "the worker has no THUMBD_TEST_CRASH_GLOB hook yet (crash0.jpg was thumbnailed)"
say "hook works: $(fault_failed_line crash0.jpg | sed 's/^.*failed /failed /')"

# Now two crashing files in the middle of a burst of good ones.
t0=$(now_ms)
for f in "$T"/stage/good000{00..19}.jpg "$T/stage/crash1.jpg" \
	"$T"/stage/good000{20..39}.jpg "$T/stage/crash2.jpg"; do
	cp "$f" "$IN/"
done
wait_until 30 fault_has_failed crash2.jpg || fail "crash2.jpg was not reported failed within 30 s"
wait_until 30 fault_has_failed crash1.jpg || fail "crash1.jpg was not reported failed within 30 s"
wait_outputs "$N" 30
ms=$(($(now_ms) - t0))
wait_no_temps 10
daemon_assert_alive "after the crash loop"

for f in crash0.jpg crash1.jpg crash2.jpg; do
	n=$(fault_failed_count "$f")
	[ "$n" -eq 1 ] || fail "$f reported $n times, want once"
	line=$(fault_failed_line "$f")
	printf '%s\n' "$line" | grep -q -E 'crash|signal 11|SIGSEGV' ||
		fail "$f: the reason does not say the worker crashed: $line"
	cmp -s "$src" "$IN/$f" || fail "input $f was not kept"
	retries=$(log_count "retrying ([^ ]*/)?$f ")
	[ "$retries" -eq 1 ] || fail "$f was retried $retries times, want once"
done
crashes=$(log_count 'worker [0-9]+ .*crashed \(signal 11\)')
[ "$crashes" -eq 6 ] ||
	fail "$crashes worker crashes logged for 3 crashing inputs, want 6 (each tried twice)"
assert_outputs_exactly 64 jpg crash0.jpg crash1.jpg crash2.jpg
wait_until 10 eval '[ "$(worker_pids | wc -w)" -eq 2 ]' ||
	fail "want 2 workers after the crashes, have: $(worker_pids | tr '\n' ' ')"
stop_daemon
pass "3 inputs that crash the worker: each crashed twice (retried once), was reported once ('${line#*failed }') and kept; $crashes crashes, workers replaced; all $N good files in the same burst done in $ms ms"
