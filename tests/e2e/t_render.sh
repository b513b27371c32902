#!/usr/bin/env bash
# `thumbd render`: the engine from the command line. Output naming, the
# OUTDIR made on demand, several sizes and formats, cover, exit status 0 / 1
# / 2, one stderr line per failed file with its reason (names escaped),
# nothing written for a bad file and no temp file left behind.
. "$(dirname "$0")/lib.sh"

R=$T/r   # every output folder of this test lives below here

# render NAME ARG...: run `thumbd render ARG...`, stderr to $T/NAME.log
# (scanned for sanitizer reports), stdout to $T/NAME.out; sets $rc.
render() {
	local name=$1
	shift
	rc=0
	timeout 60 "$THUMBD" render "$@" >"$T/$name.out" 2>"$T/$name.log" || rc=$?
}

expect_rc() {
	[ "$rc" -eq "$1" ] || {
		cat "$T/$2.log" >&2
		fail "$2: exit status $rc, want $1"
	}
}

expect_size() {
	[ -f "$1" ] || fail "missing output $1"
	local got
	got=$(image_size "$1")
	[ "$got" = "$2 $3" ] || fail "$1 is $got, want $2 $3"
}

expect_err() {
	grep -q -F -- "$2" "$T/$1.log" || {
		cat "$T/$1.log" >&2
		fail "$1: stderr lacks: $2"
	}
}

mkdir -p "$IN/sub"
convert -size 800x600 gradient:'#f80'-'#08f' -quality 90 "$IN/photo.jpg"
convert -size 600x800 gradient:'#f80'-'#08f' ppm:- | cwebp -quiet -q 80 -o "$IN/sub/tall.webp" -- -

# defaults: one 256 box, JPEG, OUTDIR (and its parents) created
render plain -o "$R/a/b" "$IN/photo.jpg" "$IN/sub/tall.webp"
expect_rc 0 plain
expect_size "$R/a/b/photo_256.jpg" 256 192
expect_size "$R/a/b/tall_256.jpg" 192 256
[ "$(find "$R/a/b" -type f | wc -l)" -eq 2 ] || fail "plain: extra files in OUTDIR"
[ ! -s "$T/plain.log" ] || fail "plain: unexpected stderr: $(cat "$T/plain.log")"

# several sizes, WebP, a box larger than the image (never upscaled)
render sizes -s 64,300x100 --size 1024x768 --format webp -q 70 -o "$R/sizes" "$IN/photo.jpg"
expect_rc 0 sizes
expect_size "$R/sizes/photo_64.webp" 64 48
expect_size "$R/sizes/photo_300x100.webp" 133 100
expect_size "$R/sizes/photo_1024x768.webp" 800 600
[ ! -e "$R/sizes/photo_256.webp" ] || fail "-s replaces the default size"

# both formats, cover, verbose
render both --format jpeg,webp --fit cover -s 100 -v -o "$R/both" "$IN/photo.jpg"
expect_rc 0 both
expect_size "$R/both/photo_100.jpg" 100 100
expect_size "$R/both/photo_100.webp" 100 100
grep -q 'photo.jpg: 800x600, 2 outputs, [0-9]* bytes, [0-9.]* ms (read [0-9.]*, decode [0-9.]*, resize [0-9.]*, encode [0-9.]*, write [0-9.]*)$' "$T/both.out" ||
	fail "verbose line missing: $(cat "$T/both.out")"

# --detail fine decodes 800x600 at full size for a 256 box (the default,
# auto, stops short of a full-size decode: 1/2): the same size, other
# pixels
render fine --detail fine -o "$R/fine" "$IN/photo.jpg"
expect_rc 0 fine
expect_size "$R/fine/photo_256.jpg" 256 192
[ -s "$R/a/b/photo_256.jpg" ] || fail "no default thumbnail to compare with"
! cmp -s "$R/fine/photo_256.jpg" "$R/a/b/photo_256.jpg" ||
	fail "--detail fine wrote the same bytes as the default"

# quality matters
render q10 -q 10 -o "$R/q10" "$IN/photo.jpg"
render q95 --quality=95 -o "$R/q95" "$IN/photo.jpg"
[ "$(stat -c %s "$R/q10/photo_256.jpg")" -lt "$(stat -c %s "$R/q95/photo_256.jpg")" ] ||
	fail "-q 10 is not smaller than -q 95"

# failures: each reported once with its reason, the good file still done
printf 'just text' >"$IN/text.jpg"
convert -size 8x8 xc:red "png:$IN/pic.jpg"
head -c 2000 "$IN/photo.jpg" >"$IN/trunc.jpg"
ln -s photo.jpg "$IN/link.jpg"
mkfifo "$IN/fifo.jpg"
printf 'x' >"$IN/bad"$'\n'"name.jpg"
render mixed -o "$R/mixed" "$IN/text.jpg" "$IN/photo.jpg" "$IN/pic.jpg" \
	"$IN/missing.jpg" "$IN/link.jpg" "$IN/fifo.jpg" "$IN/bad"$'\n'"name.jpg" \
	"$IN/trunc.jpg" "$IN/sub"
expect_rc 1 mixed
expect_err mixed "thumbd: render: failed $IN/text.jpg: not an image"
expect_err mixed "thumbd: render: failed $IN/pic.jpg: PNG is not supported"
expect_err mixed "thumbd: render: failed $IN/missing.jpg: no such file"
expect_err mixed "thumbd: render: failed $IN/link.jpg: symbolic link refused"
expect_err mixed "thumbd: render: failed $IN/fifo.jpg: not a regular file (a FIFO)"
expect_err mixed "thumbd: render: failed $IN/bad\\nname.jpg: not an image"
expect_err mixed "thumbd: render: failed $IN/trunc.jpg: "
expect_err mixed "thumbd: render: failed $IN/sub: not a regular file (a folder)"
[ "$(wc -l <"$T/mixed.log")" -eq 8 ] || {
	cat "$T/mixed.log" >&2
	fail "mixed: want exactly one stderr line per failed file"
}
expect_size "$R/mixed/photo_256.jpg" 256 192
left=$(find "$R/mixed" -mindepth 1 ! -name photo_256.jpg)
[ -z "$left" ] || fail "files written for bad inputs: $left"

# usage errors: exit 2, a specific message, nothing created
usage() {
	local name=$1 msg=$2
	shift 2
	render "$name" "$@"
	expect_rc 2 "$name"
	expect_err "$name" "$msg"
}
usage q_word '--quality: expected an integer 1-100, got "high"' -q high -o "$R/u" "$IN/photo.jpg"
usage q_zero '--quality: expected an integer 1-100, got "0"' --quality 0 -o "$R/u" "$IN/photo.jpg"
usage q_big '--quality: expected an integer 1-100, got "101"' -q 101 -o "$R/u" "$IN/photo.jpg"
usage s_zero '--size: expected a comma-separated list of N or WxH, sides 1-65535, got "0"' -s 0 -o "$R/u" "$IN/photo.jpg"
usage s_junk '--size: expected' -s 12x -o "$R/u" "$IN/photo.jpg"
usage s_dup 'the same size is listed twice' -s 64,64 -o "$R/u" "$IN/photo.jpg"
usage s_many 'at most 8 sizes' -s 1,2,3,4,5,6,7,8,9 -o "$R/u" "$IN/photo.jpg"
usage fit '--fit: expected contain or cover, got "fill"' --fit fill -o "$R/u" "$IN/photo.jpg"
usage detail '--detail: expected fast, fine or auto, got "max"' --detail max -o "$R/u" "$IN/photo.jpg"
usage fmt '--format: expected jpeg, webp or jpeg,webp, got "gif"' --format gif -o "$R/u" "$IN/photo.jpg"
usage no_out '-o OUTDIR is required' "$IN/photo.jpg"
usage no_files 'no input file given' -o "$R/u"
usage unknown '--frobnicate: unknown option' --frobnicate -o "$R/u" "$IN/photo.jpg"
usage no_value '-q: needs a value' -o "$R/u" "$IN/photo.jpg" -q
[ ! -e "$R/u" ] || fail "a usage error created OUTDIR"

render help --help
expect_rc 0 help
grep -q '^usage: thumbd render' "$T/help.out" || fail "--help prints no usage"

[ -z "$(find "$R" -name '.thumbd-*')" ] || fail "temp files left: $(find "$R" -name '.thumbd-*')"
pass "naming, OUTDIR creation, sizes, formats, cover, --detail fine, quality, eight failure reasons one line each, usage errors exit 2"
