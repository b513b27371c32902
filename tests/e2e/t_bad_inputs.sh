#!/usr/bin/env bash
# Hostile inputs, all at once: decompression bombs (JPEG 16383² and 65500²,
# a still WebP 16383², an animated WebP on a 65535² canvas), a 1,136-scan
# progressive JPEG, junk before SOI, an empty file, 4 KiB of zeros, 12-bit
# and lossless JPEG, EXIF with an IFD loop and with wild offsets, a 1 MB ICC
# profile, a folder named x.jpg and a FIFO named y.jpg. Each ends in a
# correct thumbnail or exactly one "failed PATH: reason" line with the
# right reason; inputs are kept; no temp file; the FIFO blocks nobody; the
# whole batch is done within a deadline, in bounded worker memory, and a
# good file dropped last is thumbnailed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

stage=$T/stage
fault_make_hostile "$stage"
good=$(img_jpeg 320 240)

start_watch -s 64
master=$DAEMON_PID

# A FIFO with an image name and no writer: opening it for reading would
# block forever. A good file dropped right after must still be done at once.
mkfifo "$IN/y.jpg"
t0=$(now_ms)
cp "$good" "$IN/first.jpg"
wait_until 10 test -f "$OUT/first_64.jpg" ||
	fail "a good file dropped after the FIFO y.jpg was not done within 10 s"
say "good file after the FIFO done in $(($(now_ms) - t0)) ms"

# A folder with an image name is a folder: its content is thumbnailed.
mkdir "$IN/x.jpg"
cp "$good" "$IN/x.jpg/inner.jpg"

# The hostile batch.
names=()
while read -r name kind re; do
	names+=("$name")
done <"$stage/cases.txt"
t0=$(now_ms)
for n in "${names[@]}"; do
	cp "$stage/$n" "$IN/$n"
done

resolved() {
	local name kind re
	while read -r name kind re; do
		case $kind in
		fail) fault_has_failed "$name" || return 1 ;;
		thumb) [ -f "$OUT/${name%.*}_64.jpg" ] || fault_has_failed "$name" || return 1 ;;
		esac
	done <"$stage/cases.txt"
	[ -f "$OUT/x.jpg/inner_64.jpg" ]
}
# Well under a second each on this machine; the deadline is loose for the
# sanitizer build and a loaded machine.
deadline=$((${#names[@]} * 2))
wait_until "$deadline" resolved || {
	fault_outcomes check 64 jpg >&2 || true
	fail "the ${#names[@]} hostile files were not all done within $deadline s"
}
batch_ms=$(($(now_ms) - t0))
say "hostile batch of ${#names[@]} files done in $batch_ms ms"
daemon_assert_alive "after the hostile batch"

# The last good file: queued after everything else, so once it is done
# anything that was going to be retried or reported again has had time.
cp "$good" "$IN/last.jpg"
wait_until 10 test -f "$OUT/last_64.jpg" ||
	fail "the good file dropped after the hostile batch was not done within 10 s"
wait_no_temps 10

nofail=()
while read -r name kind re; do
	cmp -s "$stage/$name" "$IN/$name" || fail "input $name was not kept as it was"
	n=$(fault_failed_count "$name")
	case $kind in
	fail)
		[ "$n" -eq 1 ] || fail "$name reported $n times, want exactly once"
		line=$(fault_failed_line "$name")
		printf '%s\n' "$line" | grep -q -E -- "$re" ||
			fail "$name: reason does not match /$re/: $line"
		say "ok: ${line#*failed }"
		nofail+=("$name")
		;;
	thumb)
		[ "$n" -eq 0 ] ||
			fail "$name should give a thumbnail but failed: $(fault_failed_line "$name")"
		read -r w h <<<"$(image_size "$OUT/${name%.*}_64.jpg")"
		{ [ "$w" -eq 64 ] || [ "$h" -eq 64 ]; } && [ "$w" -le 64 ] && [ "$h" -le 64 ] ||
			fail "$name: thumbnail is ${w}x$h, want one side 64"
		say "ok: $name -> ${w}x$h thumbnail"
		;;
	esac
done <"$stage/cases.txt"

# The FIFO: never read (that would block); at most one failure line.
[ -p "$IN/y.jpg" ] || fail "the FIFO y.jpg was removed or replaced"
n=$(fault_failed_count y.jpg)
case $n in
0) say "FIFO y.jpg: skipped silently" ;;
1) say "FIFO y.jpg: $(fault_failed_line y.jpg)" ;;
*) fail "FIFO y.jpg reported $n times" ;;
esac
[ ! -e "$OUT/y_64.jpg" ] || fail "an output was made for the FIFO y.jpg"
[ ! -e "$OUT/x_64.jpg" ] || fail "an output was made for the folder x.jpg"
[ "$(fault_failed_count x.jpg)" -eq 0 ] || fail "the folder x.jpg was reported as a failed input"

assert_outputs_exactly 64 jpg "${nofail[@]}"

hwm=$(fault_worker_hwm)
say "worker peak RSS after the batch: $((hwm / 1024)) MiB"
fault_is_asan || [ "$hwm" -lt $((300 * 1024)) ] ||
	fail "a worker peaked at $((hwm / 1024)) MiB RSS on files that should be refused from their headers"
[ "$DAEMON_PID" = "$master" ] || fail "the master changed"
daemon_assert_alive "at the end"
stop_daemon
pass "${#names[@]} hostile files done in $batch_ms ms: ${#nofail[@]} each failed once with the right reason, the rest thumbnailed; inputs kept, no temps; the FIFO blocked nothing; the folder x.jpg was walked; worker peak RSS $((hwm / 1024)) MiB"
