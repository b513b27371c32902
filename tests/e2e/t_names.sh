#!/usr/bin/env bash
# Awkward file names: spaces, a newline, a tab, non-UTF-8 bytes, a leading
# dash, shell and format metacharacters, a near-maximal length. All get
# thumbnails, and the log stays one line per message even when a failure
# names such a file.
. "$(dirname "$0")/lib.sh"

src=$(img_jpeg 320 240)
long=$(printf 'L%.0s' {1..240}).jpg   # 244 bytes; its output name is 248
names=(
	'with space.jpg'
	$'new\nline.jpg'
	$'tab\there.jpg'
	$'latin1 \xe9t\xe9.jpg'
	$'bad utf8 \xff\xfe\xc3.jpg'
	'-dash.jpg'
	'%s%n%x percent.jpg'
	"quote'\"\`\$(x).jpg"
	'back\slash.jpg'
	'ünïcødé 写真.jpg'
	'noext'
	'two.dots.jpg'
	"$long"
)

start_watch -v -s 64
for n in "${names[@]}"; do
	cp "$src" "$IN/$n"
done
mkdir -p "$IN"/$'dir\nwith newline'
cp "$src" "$IN"/$'dir\nwith newline'/$'in\xffside.jpg'
# a deep tree: 18 levels of 200-byte names, a 3.6 KB relative path
deep=
for i in $(seq 1 18); do
	deep=$deep$(printf 'd%.0s' {1..200})$i/
done
mkdir -p "$IN/$deep"
cp "$src" "$IN/${deep}deep.jpg"
# failures must name these files on one line too
head -c 600 "$src" >"$IN"/$'broken\nname.jpg'
head -c 600 "$src" >"$IN"/$'broken \xff.jpg'

want=$((${#names[@]} + 2))
wait_outputs "$want" 30
broken_logged() {
	[ "$(log_count 'failed .*broken')" -ge 2 ]
}
wait_until 20 broken_logged || fail "the two broken files were not both reported failed"
wait_no_temps
assert_outputs_exactly 64 jpg $'broken\nname.jpg' $'broken \xff.jpg'
daemon_assert_alive "after the awkward names"
stop_daemon

# Every log line is a whole message: it starts with the timestamp (or a
# journald <N> priority). A raw newline from a file name would start a line
# with the rest of the name instead.
bad_lines=$(grep -a -v -c -E '^(<[0-7]>|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})' "$LOG" || true)
if [ "$bad_lines" -ne 0 ]; then
	grep -a -n -v -E '^(<[0-7]>|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2})' "$LOG" | head -n 10 >&2
	fail "$bad_lines log line(s) do not start with a timestamp: a name broke a line"
fi
# the failure lines name the files with escapes, on one line each
grep -a -q -i -F 'broken\nname.jpg' "$LOG" || fail "no failure line with the escaped name broken\\nname.jpg"
grep -a -q -i -F 'broken \xff.jpg' "$LOG" || fail "no failure line with the escaped name broken \\xff.jpg"
pass "${#names[@]} awkward names (space, newline, tab, Latin-1, invalid UTF-8, dash, %n, quotes, backslash, Unicode, no extension, 244 bytes) a newline folder and a 3.6 KB deep path all got thumbnails; failures named files with escapes and every log line stayed one line"
