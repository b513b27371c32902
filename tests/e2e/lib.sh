# shellcheck shell=bash
# Shared helpers for the end-to-end tests. Each tests/e2e/t_<name>.sh sources
# this file, then drives the real daemon ($THUMBD, set by meson) on folders in
# a private temporary directory. Nothing here waits by sleeping for a fixed
# time: every wait is a poll of a condition with a deadline (wait_until).
#
# After sourcing:
#   $T      the test's private directory (removed at exit, pass or fail)
#   $IN     an empty watched folder, $OUT an empty output folder
#   $LOG    the daemon's stdout+stderr (every start appends to it)
# A test ends with `pass "what it proved"`; `fail MSG` and `skip REASON` end
# it early. On failure the daemon log is printed; at every exit the logs are
# scanned for sanitizer reports, which fail the test.

set -eEuo pipefail
shopt -s nullglob

: "${THUMBD:?THUMBD must name the thumbd binary (meson test sets it)}"
TEST_NAME=$(basename "$0" .sh)
TEST_NAME=${TEST_NAME#t_}

T=$(mktemp -d "${TMPDIR:-/tmp}/thumbd-e2e-$TEST_NAME.XXXXXX")
IN=$T/in
OUT=$T/out
LOG=$T/daemon.log
mkdir -p "$IN" "$OUT" "$T/src"
: >"$LOG"

DAEMON_PID=
LOG_MARK=0
E2E_EXTRA_PIDS=()   # other processes a test started (orphaned workers, writers)
E2E_EXTRA_DIRS=()   # folders outside $T to remove (e.g. on /dev/shm)
E2E_PASSED=0
E2E_SAN_REPORTED=0
E2E_THUMBD_REAL=$(readlink -f "$THUMBD")
WAIT_POLL=${WAIT_POLL:-0.02}

# PIL is used to decode large sets of outputs in one process and to compare
# pixels; the pyenv python on PATH may lack it, Debian's has it.
E2E_PY=python3
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import PIL, numpy' 2>/dev/null; then
		E2E_PY=$p
		break
	fi
done

E2E_T0=${EPOCHREALTIME/./}

# say MSG: progress for the test log, with the seconds since the test began.
say() {
	local us=$((${EPOCHREALTIME/./} - E2E_T0))
	printf '%s: [%d.%02ds] %s\n' "$TEST_NAME" $((us / 1000000)) \
		$((us / 10000 % 100)) "$*" >&2
}

fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

skip() {
	printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

# The line every test ends with: what was proved.
pass() {
	if ! e2e_check_sanitizers; then
		E2E_SAN_REPORTED=1
		exit 1
	fi
	E2E_PASSED=1
	printf 'PASS: %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 0
}

e2e_on_err() {
	printf 'FAIL: %s: line %s: command failed (status %s): %s\n' \
		"$TEST_NAME" "$1" "$2" "$3" >&2
}
trap 'e2e_on_err "$LINENO" "$?" "$BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# Sanitizer reports anywhere in the test's logs fail the test, even when
# everything else passed: a worker that hit one may well have been replaced
# silently.
e2e_check_sanitizers() {
	local f bad=0
	for f in "$T"/*.log; do
		if grep -a -q -E 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$f"; then
			printf 'FAIL: %s: sanitizer report in %s:\n' "$TEST_NAME" "${f##*/}" >&2
			grep -a -n -E -A12 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$f" | head -n 80 >&2
			bad=1
		fi
	done
	return $bad
}

e2e_print_logs() {
	local f n
	for f in "$T"/*.log; do
		[ -s "$f" ] || continue
		n=$(wc -l <"$f")
		printf -- '----- %s (%s lines%s) -----\n' "${f##*/}" "$n" \
			"$([ "$n" -gt 300 ] && echo ', first 100 and last 200')" >&2
		if [ "$n" -gt 300 ]; then
			head -n 100 "$f" >&2
			printf -- '[...]\n' >&2
			tail -n 200 "$f" >&2
		else
			cat -- "$f" >&2
		fi
		printf -- '----- end of %s -----\n' "${f##*/}" >&2
	done
}

e2e_cleanup() {
	local rc=$? pid kids
	trap - ERR
	set +e
	if [ -n "$DAEMON_PID" ]; then
		kids=$(pgrep -P "$DAEMON_PID")
		kill -KILL "$DAEMON_PID" $kids 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	for pid in "${E2E_EXTRA_PIDS[@]}"; do
		# only if that pid is still one of our thumbd processes or our own
		# child (a helper such as a listener), not a stranger that reused
		# the number
		if [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$E2E_THUMBD_REAL" ] ||
			[ "$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)" = "$$" ]; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	if [ "$rc" -ne 77 ] && [ "$E2E_SAN_REPORTED" = 0 ] &&
		! e2e_check_sanitizers && [ "$rc" -eq 0 ]; then
		rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		[ "$E2E_PASSED" = 1 ] || e2e_print_logs
	fi
	wait 2>/dev/null
	rm -rf -- "$T" "${E2E_EXTRA_DIRS[@]}"
	exit "$rc"
}
trap e2e_cleanup EXIT

now_ms() {
	local us=${EPOCHREALTIME/./}
	echo $((us / 1000))
}

# wait_until SECONDS CMD [ARG...]: run CMD until it succeeds; 1 if it did
# not within SECONDS (an integer).
wait_until() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	while ! "$@"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			return 1
		fi
		sleep "$WAIT_POLL"
	done
}

# True if process $1 no longer runs (gone, or a zombie not yet reaped).
proc_gone() {
	local st
	st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

proc_alive() {
	! proc_gone "$1"
}

# The log written since the last start_daemon.
log_new() {
	tail -c "+$((LOG_MARK + 1))" "$LOG"
}

# Lines of the whole log matching the extended regex $1.
log_count() {
	grep -a -c -E -- "$1" "$LOG" || true
}

log_has() {
	grep -a -q -E -- "$1" "$LOG"
}

log_new_has() {
	log_new | grep -a -q -E -- "$1"
}

# "ready" as a word: not "already"
E2E_READY_RE='(^|[^[:alpha:]])ready([^[:alpha:]]|$)'

e2e_ready_or_dead() {
	log_new_has "$E2E_READY_RE" || proc_gone "$DAEMON_PID"
}

# start_daemon ARG...: run $THUMBD ARG... in the background, stdout and
# stderr appended to $LOG, and return once it logged "ready".
start_daemon() {
	[ -z "$DAEMON_PID" ] || fail "start_daemon: a daemon is already running (pid $DAEMON_PID)"
	LOG_MARK=$(stat -c %s "$LOG")
	say "start: thumbd $*"
	"$THUMBD" "$@" >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	if ! wait_until 30 e2e_ready_or_dead; then
		fail "daemon did not log 'ready' within 30 s"
	fi
	if ! log_new_has "$E2E_READY_RE"; then
		local rc=0
		wait "$DAEMON_PID" || rc=$?
		DAEMON_PID=
		fail "daemon exited with status $rc before logging 'ready'"
	fi
}

# The usual ad-hoc watch of $IN into $OUT with two workers.
start_watch() {
	start_daemon -i "$IN" -o "$OUT" -w 2 "$@"
}

worker_pids() {
	pgrep -P "$DAEMON_PID" || true
}

daemon_assert_alive() {
	[ -n "$DAEMON_PID" ] && proc_alive "$DAEMON_PID" ||
		fail "the daemon is no longer running ($*)"
}

# stop_daemon [SIG]: send SIGTERM (or SIG), wait for the exit, require
# status 0 and that its workers went with it.
stop_daemon() {
	local sig=${1:-TERM} pid=$DAEMON_PID rc=0 w workers
	[ -n "$pid" ] || fail "stop_daemon: no daemon running"
	workers=$(worker_pids)
	kill -s "$sig" "$pid"
	wait_until 30 proc_gone "$pid" ||
		fail "daemon did not exit within 30 s of SIG$sig"
	wait "$pid" || rc=$?
	DAEMON_PID=
	[ "$rc" -eq 0 ] || fail "daemon exited with status $rc after SIG$sig (want 0)"
	for w in $workers; do
		wait_until 10 proc_gone "$w" ||
			fail "worker $w still runs 10 s after the master exited on SIG$sig"
	done
}

# ---- test images --------------------------------------------------------

# img_jpeg W H: print the path of a W x H baseline JPEG, made once per test
# (a smooth gradient with a marked corner, so orientation and crops show).
img_jpeg() {
	local f=$T/src/${1}x${2}.jpg
	if [ ! -e "$f" ]; then
		convert -size "${1}x${2}" gradient:'#f80'-'#08f' \
			-fill '#0a0' -draw "rectangle 0,0 $(($1 / 4)),$(($2 / 4))" \
			-quality 85 -interlace none "jpg:$f"
	fi
	printf '%s\n' "$f"
}

# img_webp W H: the same picture as a lossy WebP.
img_webp() {
	local f=$T/src/${1}x${2}.webp src
	if [ ! -e "$f" ]; then
		src=$T/src/${1}x${2}.ppm
		convert -size "${1}x${2}" gradient:'#f80'-'#08f' \
			-fill '#0a0' -draw "rectangle 0,0 $(($1 / 4)),$(($2 / 4))" "ppm:$src"
		cwebp -quiet -q 80 "$src" -o "$f"
	fi
	printf '%s\n' "$f"
}

# make_copies SRC DIR N [PREFIX] [EXT]: write N copies of SRC as
# DIR/PREFIXnnnnn.EXT in one process (fast enough for bursts of 10,000).
make_copies() {
	local ext=${5:-${1##*.}}
	mkdir -p "$2"
	"$E2E_PY" - "$1" "$2" "$3" "${4:-img}" "$ext" <<'EOF'
import os, sys
src, d, n, prefix, ext = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
data = open(src, 'rb').read()
for i in range(n):
    with open(os.path.join(d, '%s%05d.%s' % (prefix, i, ext)), 'wb') as f:
        f.write(data)
EOF
}

# image_size FILE: "W H" from the JPEG or WebP header.
image_size() {
	identify -ping -format '%w %h' "$1"
}

# ---- looking at the output tree -----------------------------------------

# Count regular output files (temp files excluded) under $OUT.
# (find may race with a rename and complain; the count is still right.)
count_outputs() {
	{ find "$OUT" -type f ! -name '.thumbd-*' -printf . 2>/dev/null || true; } | wc -c
}

count_temps() {
	{ find "$OUT" -name '.thumbd-*' -printf . 2>/dev/null || true; } | wc -c
}

outputs_at_least() {
	[ "$(count_outputs)" -ge "$1" ]
}

no_temps() {
	[ "$(count_temps)" -eq 0 ]
}

# wait_outputs N [SECONDS]: wait until $OUT holds at least N outputs.
wait_outputs() {
	local n=$1 secs=${2:-30}
	if ! wait_until "$secs" outputs_at_least "$n"; then
		fail "only $(count_outputs) of $n outputs after $secs s"
	fi
}

# wait_no_temps [SECONDS]: temp files are transient while a worker writes;
# once the work is done none may stay.
wait_no_temps() {
	local secs=${1:-10}
	if ! wait_until "$secs" no_temps; then
		find "$OUT" -name '.thumbd-*' | head -n 20 >&2
		fail "$(count_temps) .thumbd-* temp file(s) left in the output tree"
	fi
}

# output_path REL SIZE EXT: where the thumbnail of input $IN/REL at SIZE goes.
output_path() {
	e2e_output_path "$@"
	printf '%s' "$REPLY"
}

# The same, into $REPLY without a subshell (10,000 forks are slow).
e2e_output_path() {
	local rel=$1 dir base stem
	base=${rel##*/}
	dir=
	[ "$base" = "$rel" ] || dir=${rel%/*}/
	stem=${base%.*}
	[ -n "$stem" ] || stem=$base
	REPLY=$OUT/$dir${stem}_$2.$3
}

# decode_all EXT FILE...: every file must decode cleanly; djpeg/dwebp for
# small sets, one PIL process for large ones (10,000 forks take too long).
decode_all() {
	local ext=$1 f
	shift
	if [ $# -gt 300 ] && [ "$E2E_PY" != python3 ]; then
		printf '%s\0' "$@" | "$E2E_PY" -c '
import sys
from PIL import Image
want = {"jpg": "JPEG", "webp": "WEBP"}[sys.argv[1]]
bad = 0
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p:
        continue
    try:
        with Image.open(p) as im:
            if im.format != want:
                raise ValueError("format %s" % im.format)
            im.load()
    except Exception as e:
        print("does not decode: %r: %s" % (p, e), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)' "$ext" || fail "some outputs do not decode"
		return
	fi
	for f in "$@"; do
		if [ "$ext" = webp ]; then
			dwebp -quiet "$f" -o /dev/null 2>"$T/decode.err" ||
				fail "output does not decode: $(printf %q "$f"): $(cat "$T/decode.err")"
		else
			# djpeg exits 2 on a warning such as a premature end of data
			djpeg "$f" >/dev/null 2>"$T/decode.err" ||
				fail "output does not decode: $(printf %q "$f"): $(cat "$T/decode.err")"
		fi
	done
}

# assert_outputs_exactly SIZES EXT [NO_OUTPUT_REL...]: every non-hidden file
# under $IN has exactly one output per size in SIZES ("64,128") with
# extension EXT, except the inputs named (relative to $IN), which have none;
# nothing else is in $OUT, no .thumbd-* temp is left, and every output
# decodes.
assert_outputs_exactly() {
	local sizes=$1 ext=$2 rel f s n_in=0 n_missing=0 n_extra=0
	shift 2
	local -A expect=() none=()
	for rel in "$@"; do
		none[$rel]=1
	done
	local -a size_list
	IFS=, read -r -a size_list <<<"$sizes"
	while IFS= read -r -d '' f; do
		rel=${f#"$IN"/}
		[ -z "${none[$rel]+x}" ] || continue
		n_in=$((n_in + 1))
		for s in "${size_list[@]}"; do
			e2e_output_path "$rel" "$s" "$ext"
			expect[$REPLY]=1
		done
	done < <(find "$IN" -name '.*' -prune -o -type f -print0)
	local -a found=()
	while IFS= read -r -d '' f; do
		case ${f##*/} in
		.thumbd-*) fail "temp file left in the output tree: $(printf %q "$f")" ;;
		esac
		if [ ! -f "$f" ] || [ -L "$f" ]; then
			fail "output tree holds something not a regular file: $(printf %q "$f")"
		fi
		if [ -n "${expect[$f]+x}" ]; then
			unset 'expect[$f]'
			found+=("$f")
		else
			n_extra=$((n_extra + 1))
			[ "$n_extra" -gt 10 ] || say "unexpected output: $(printf %q "$f")"
		fi
	done < <(find "$OUT" -mindepth 1 ! -type d -print0)
	for f in "${!expect[@]}"; do
		n_missing=$((n_missing + 1))
		[ "$n_missing" -gt 10 ] || say "missing output: $(printf %q "$f")"
	done
	[ "$n_missing" -eq 0 ] && [ "$n_extra" -eq 0 ] ||
		fail "output tree wrong: $n_missing missing, $n_extra unexpected (for $n_in inputs, sizes $sizes)"
	decode_all "$ext" "${found[@]}"
	say "outputs exact: $n_in inputs x ${#size_list[@]} sizes = ${#found[@]} outputs, all decode"
}

# snapshot_outputs FILE: record "inode mtime path" of every output, so a
# later snapshot shows whether any was rewritten (a rewrite is a rename of a
# new temp file: new inode and new mtime).
snapshot_outputs() {
	{ find "$OUT" -type f ! -name '.thumbd-*' -printf '%i %T@ %p\0' 2>/dev/null || true; } |
		sort -z >"$1"
}

# assert_unchanged OLD_SNAPSHOT: every output in OLD is still there with the
# same inode and mtime.
assert_unchanged() {
	local now=$T/snapshot.now n
	snapshot_outputs "$now"
	n=$(comm -z -23 "$1" "$now" | tr -cd '\0' | wc -c)
	if [ "$n" -ne 0 ]; then
		comm -z -23 "$1" "$now" | tr '\0' '\n' | head -n 10 >&2
		fail "$n output(s) recorded earlier were rewritten or removed"
	fi
}

E2E_BARRIERS=0

# barrier [NSIZES]: drop a fresh file into $IN and wait for its NSIZES
# (default 1) thumbnails, so every event before it has been handled; then
# remove it and its outputs. This is how a test shows that something did NOT
# happen without sleeping.
barrier() {
	E2E_BARRIERS=$((E2E_BARRIERS + 1))
	local name=zz-barrier-$E2E_BARRIERS f nsizes=${1:-1}
	cp "$(img_jpeg 64 48)" "$IN/$name.jpg"
	e2e_barrier_done() {
		local g=("$OUT/${name}"_*)
		[ ${#g[@]} -ge "$nsizes" ]
	}
	wait_until 20 e2e_barrier_done || fail "barrier file $name.jpg got no thumbnail within 20 s"
	rm -f -- "$IN/$name.jpg"
	for f in "$OUT/${name}"_*; do
		case $f in
		*/.thumbd-*) ;;
		*) rm -f -- "$f" ;;
		esac
	done
}

# ---- stats ---------------------------------------------------------------

# stats_now: send SIGUSR1 and wait for the total: line it prints; the new
# report (worker lines and total line) is left in $T/stats.txt.
stats_now() {
	local mark
	mark=$(stat -c %s "$LOG")
	kill -USR1 "$DAEMON_PID"
	e2e_stats_seen() {
		tail -c "+$((mark + 1))" "$LOG" | grep -a -q 'total:'
	}
	wait_until 10 e2e_stats_seen || fail "no 'total:' line within 10 s of SIGUSR1"
	tail -c "+$((mark + 1))" "$LOG" >"$T/stats.txt"
}

# stats_done: the cumulative "done" count summed over the worker lines of a
# fresh SIGUSR1 report (empty if the format has no recognisable count).
stats_done() {
	stats_now
	# "done=N", "done: N" or "done N" first; "N done" only failing those
	grep -a -E '(^|[] :])worker [0-9]+' "$T/stats.txt" | awk '
		match($0, /done[=: ]+[0-9]+/) {
			v = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", v)
			s += v; n++; next
		}
		match($0, /[0-9]+ done/) {
			v = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", v)
			s += v; n++
		}
		END { if (n) print s }'
}
