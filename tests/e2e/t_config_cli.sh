#!/usr/bin/env bash
# The check mode and the command line: `thumbd -n -c FILE` prints the
# effective configuration, and that dump reads back to the identical dump;
# a bad file is refused with FILE:LINE: KEY and status 1; options override
# the file (the per-watch ones in every watch); usage errors are status 2;
# -i/-o alone make the watch "default". No daemon is started.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/conf" "$T/a" "$T/b" "$T/c" "$T/d" "$T/done" "$T/quarantine" "$T/other"

# run ARG...: run thumbd with stdout in $T/out.txt, stderr in $T/err.txt and
# the exit status in $rc. Every stderr is kept in a .log too, where lib.sh
# looks for sanitizer reports.
run() {
	rc=0
	"$THUMBD" "$@" >"$T/out.txt" 2>"$T/err.txt" || rc=$?
	{ printf '== thumbd %s (status %s)\n' "$*" "$rc"; cat "$T/err.txt"; } >>"$T/cli.log"
}

expect_rc() {
	[ "$rc" -eq "$1" ] || fail "thumbd $2: status $rc, want $1; stderr: $(cat "$T/err.txt")"
}

# dump_get SECTION KEY FILE: the value of KEY in [SECTION] of an INI dump.
dump_get() {
	awk -v sec="[$1]" -v key="$2" '
		/^\[/ { in_sec = ($0 == sec); next }
		in_sec && index($0, key " = ") == 1 { print substr($0, length(key) + 4); found = 1 }
		in_sec && $0 == key " =" { print ""; found = 1 }
		END { exit !found }' "$3"
}

expect_value() {
	local got
	got=$(dump_get "$1" "$2" "$4") || fail "no $2 in [$1] of the dump $4"
	[ "$got" = "$3" ] || fail "[$1] $2 = \"$got\", want \"$3\""
}

# A file using most of the syntax: comments of both kinds, a trailing
# comment, relative folders (relative to the file's folder), units, two
# watches with different settings.
GOOD=$T/conf/good.conf
cat >"$GOOD" <<'EOF'
# thumbd test configuration
; another comment
[daemon]
workers = 2
cpu_affinity = no
stats_interval = 90s
log_level = debug
job_timeout = 2min
worker_memory = 512M
max_pixels = 50M
settle_time = 250ms

[watch one]
input = ../a
output = ../b
sizes = 128, 1024x768
format = jpeg, webp
quality = 72   ; a trailing comment
fit = cover
include = *.jpg, *.webp
exclude = skip*
on_success = move ../done
on_failure = move ../quarantine

  [watch two.x-y]
  input = ../c
  output = ../d
  recursive = no
  name = t_{name}_{w}x{h}.{ext}
  sizes = 32
  progressive = yes
  durable = yes
EOF

# ---- the dump, and that it reads back identically ----------------------
cd "$T/other"   # relative paths must follow the file, not the current folder
run -n -c "$GOOD"
expect_rc 0 "-n -c good.conf"
[ ! -s "$T/err.txt" ] || fail "-n on a good file wrote to stderr: $(cat "$T/err.txt")"
cp "$T/out.txt" "$T/dump1.conf"
for want in '[daemon]' '[watch one]' '[watch two.x-y]'; do
	grep -q -x -F "$want" "$T/dump1.conf" || fail "the dump has no $want line"
done
expect_value daemon workers 2 "$T/dump1.conf"
expect_value daemon cpu_affinity no "$T/dump1.conf"
expect_value daemon log_level debug "$T/dump1.conf"
expect_value daemon max_queue 1000000 "$T/dump1.conf"   # a default, printed too
expect_value 'watch one' input "$T/a" "$T/dump1.conf"
expect_value 'watch one' output "$T/b" "$T/dump1.conf"
expect_value 'watch one' quality 72 "$T/dump1.conf"
expect_value 'watch one' fit cover "$T/dump1.conf"
expect_value 'watch one' on_success "move $T/done" "$T/dump1.conf"
expect_value 'watch two.x-y' input "$T/c" "$T/dump1.conf"
expect_value 'watch two.x-y' recursive no "$T/dump1.conf"
expect_value 'watch two.x-y' quality 85 "$T/dump1.conf"
expect_value 'watch two.x-y' name 't_{name}_{w}x{h}.{ext}' "$T/dump1.conf"
say "dump: $(wc -l <"$T/dump1.conf") lines, $(grep -c '^\[' "$T/dump1.conf") sections"

# the dump, read back from another folder, dumps identically (twice)
mkdir -p "$T/elsewhere"
cp "$T/dump1.conf" "$T/elsewhere/dump.conf"
cd /
run -n -c "$T/elsewhere/dump.conf"
expect_rc 0 "-n -c dump.conf"
cmp -s "$T/dump1.conf" "$T/out.txt" ||
	fail "the dump does not read back the same: $(diff "$T/dump1.conf" "$T/out.txt" | head -n 20)"
cp "$T/out.txt" "$T/dump2.conf"
run -n -c "$T/dump2.conf"
cmp -s "$T/dump1.conf" "$T/out.txt" || fail "the second round trip differs"
say "the dump reads back to the identical dump"

# ---- bad files: FILE:LINE: KEY on stderr, nothing on stdout, status 1 --
# bad_file NAME EXPECTED_MESSAGE: the file $T/conf/NAME was written;
# stderr must hold EXPECTED_MESSAGE exactly (after an optional "thumbd: ").
bad_file() {
	local f=$T/conf/$1 line
	run -n -c "$f"
	expect_rc 1 "-n -c $1"
	[ ! -s "$T/out.txt" ] || fail "-n on bad $1 printed a dump: $(head -n 3 "$T/out.txt")"
	[ "$(wc -l <"$T/err.txt")" -eq 1 ] ||
		fail "-n on bad $1: want one line on stderr, got: $(cat "$T/err.txt")"
	line=$(cat "$T/err.txt")
	line=${line#thumbd: }
	[ "$line" = "$2" ] || fail "-n on bad $1: stderr \"$line\", want \"$2\""
	say "bad $1: $line"
}

printf '[daemon]\nworkers = 1\n\n[watch one]\ninput = ../a\noutput = ../b\nquality = high\n' \
	>"$T/conf/quality.conf"
bad_file quality.conf "$T/conf/quality.conf:7: quality: expected an integer 1-100, got \"high\""

printf '[watch one]\ninput = ../a\noutput = ../b\nqualty = 70\n' >"$T/conf/typo.conf"
bad_file typo.conf "$T/conf/typo.conf:4: unknown key \"qualty\" in [watch one]"

# a value error in [daemon] and one in a second watch, to see the line count
printf '# c\n[daemon]\nworkers = many\n' >"$T/conf/workers.conf"
run -n -c "$T/conf/workers.conf"
expect_rc 1 "-n -c workers.conf"
grep -q -F "$T/conf/workers.conf:3: workers: expected " "$T/err.txt" ||
	fail "workers.conf: $(cat "$T/err.txt")"
grep -q -F '"many"' "$T/err.txt" || fail "workers.conf: the bad value is not quoted"
printf '[watch one]\ninput = ../a\noutput = ../b\n\n[watch two]\ninput = ../c\noutput = ../d\nsizes = 64, 0\n' \
	>"$T/conf/sizes.conf"
run -n -c "$T/conf/sizes.conf"
expect_rc 1 "-n -c sizes.conf"
grep -q -F "$T/conf/sizes.conf:8: sizes: expected " "$T/err.txt" ||
	fail "sizes.conf: $(cat "$T/err.txt")"
say "bad workers.conf, sizes.conf: $(cat "$T/err.txt")"

run -n -c "$T/conf/missing.conf"
expect_rc 1 "-n -c missing.conf"
grep -q -F "$T/conf/missing.conf" "$T/err.txt" || fail "a missing file: the message does not name it"

# ---- command-line options override the file ----------------------------
run -n -c "$GOOD" -q 70 -w 3
expect_rc 0 "-n -c good.conf -q 70 -w 3"
cp "$T/out.txt" "$T/dump_ov.conf"
expect_value daemon workers 3 "$T/dump_ov.conf"
n_watch=$(grep -c '^\[watch ' "$T/dump_ov.conf")
n_q70=$(grep -c -x 'quality = 70' "$T/dump_ov.conf")
[ "$n_watch" -eq 2 ] && [ "$n_q70" -eq 2 ] ||
	fail "-q 70: $n_q70 'quality = 70' lines for $n_watch watches"
! grep -q -x -E 'quality = (72|85)' "$T/dump_ov.conf" || fail "-q 70 left a watch's own quality"
# the rest of the file is untouched by the options
diff <(grep -v -E '^(quality|workers) = ' "$T/dump1.conf") \
	<(grep -v -E '^(quality|workers) = ' "$T/dump_ov.conf") >/dev/null ||
	fail "-q/-w changed more than quality and workers"

run -n -c "$GOOD" -s 48,96 --fit contain --format webp --detail fine
expect_rc 0 "-n -c good.conf -s --fit --format --detail"
for sec in 'watch one' 'watch two.x-y'; do
	expect_value "$sec" sizes '48, 96' "$T/out.txt"
	expect_value "$sec" fit contain "$T/out.txt"
	expect_value "$sec" format webp "$T/out.txt"
	expect_value "$sec" detail fine "$T/out.txt"
done
say "options override the file: -q 70 in both watches, -w 3, -s/--fit/--format/--detail in both"

# an option's bad value is a usage error naming the option
run -n -c "$GOOD" -q 0
expect_rc 2 "-n -c good.conf -q 0"
grep -q -e '--quality' "$T/err.txt" || fail "-q 0: the message does not name --quality: $(cat "$T/err.txt")"
run -n -c "$GOOD" --detail sharp
expect_rc 2 "-n -c good.conf --detail sharp"
grep -q -e '--detail: expected fast, fine or auto, got "sharp"' "$T/err.txt" ||
	fail "--detail sharp: unexpected message: $(cat "$T/err.txt")"

# ---- usage --------------------------------------------------------------
run --help
expect_rc 0 --help
grep -q -i 'usage' "$T/out.txt" || fail "--help printed no usage on stdout"
run -h
expect_rc 0 -h
run --version
expect_rc 0 --version
grep -q -E '[0-9]+\.[0-9]+' "$T/out.txt" || fail "--version printed no version"
run --no-such-option
expect_rc 2 --no-such-option
grep -q -e '--no-such-option' "$T/err.txt" || fail "an unknown option is not named: $(cat "$T/err.txt")"
[ ! -s "$T/out.txt" ] || fail "an unknown option printed on stdout"
run -Z
expect_rc 2 -Z
run -i "$T/a"
expect_rc 2 "-i without -o"
run
expect_rc 2 "no arguments"
run -n -c "$GOOD" stray
expect_rc 2 "a stray argument"
say "usage: --help/-h/--version 0; unknown options, -i without -o, no arguments, stray arguments 2"

# ---- an ad-hoc watch ----------------------------------------------------
cd "$T"
run -i a -o b -n
expect_rc 0 "-i a -o b -n"
cp "$T/out.txt" "$T/dump_adhoc.conf"
[ "$(grep -c '^\[watch ' "$T/dump_adhoc.conf")" -eq 1 ] ||
	fail "-i/-o: want one watch: $(grep '^\[' "$T/dump_adhoc.conf")"
grep -q -x -F '[watch default]' "$T/dump_adhoc.conf" || fail "-i/-o: the watch is not named default"
expect_value 'watch default' input "$T/a" "$T/dump_adhoc.conf"
expect_value 'watch default' output "$T/b" "$T/dump_adhoc.conf"
expect_value 'watch default' sizes 256 "$T/dump_adhoc.conf"
run -n -c "$T/dump_adhoc.conf"
expect_rc 0 "-n -c dump_adhoc.conf"
cmp -s "$T/dump_adhoc.conf" "$T/out.txt" || fail "the ad-hoc dump does not read back the same"
# with -c, -i/-o add the watch "default" to the file's watches
run -n -c "$GOOD" -i "$T/other" -o "$T/elsewhere"
expect_rc 0 "-n -c good.conf -i -o"
[ "$(grep -c '^\[watch ' "$T/out.txt")" -eq 3 ] && grep -q -x -F '[watch default]' "$T/out.txt" ||
	fail "-c with -i/-o: want the file's 2 watches and default: $(grep '^\[' "$T/out.txt")"
say "-i/-o -n: one watch named default, absolute folders, reads back the same; with -c it is a third watch"

pass "-n dumps the effective config (defaults, absolute folders) and the dump reads back identically; bad files give exactly FILE:LINE: KEY ... on stderr with status 1 and no dump; -q/-w/-s/--fit/--format/--detail override the file in every watch; --help 0, unknown option 2; -i/-o make the watch default"
