#!/usr/bin/env bash
# zzuf-mutated copies of a baseline JPEG, a progressive JPEG, a lossy WebP
# and a lossless WebP with alpha, E2E_ZZUF_SEEDS seeds each (default 100: 200 per format):
# the first half with 1% of the bits flipped anywhere (mostly caught by
# the header checks), the second half with 0.05% flipped past the headers
# (so the entropy decoders see it, and some decode). Every one ends in a thumbnail that decodes or in exactly one
# "failed PATH: reason" line, within a deadline; no worker crashes or
# times out (a libjpeg/libwebp memory error would show here first); no
# temp file; the daemon runs on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

command -v zzuf >/dev/null || skip "zzuf is not installed"
SEEDS=${E2E_ZZUF_SEEDS:-100}

fault_photo 512 384 "$T/src.ppm"
convert "$T/src.ppm" -alpha set -channel A -evaluate set 70% +channel "$T/alpha.png"
cjpeg -quality 85 "$T/src.ppm" >"$T/seed_base.jpg"
cjpeg -quality 85 -progressive "$T/src.ppm" >"$T/seed_prog.jpg"
cwebp -quiet -q 80 "$T/src.ppm" -o "$T/seed_lossy.webp"
cwebp -quiet -lossless "$T/alpha.png" -o "$T/seed_alpha.webp"

stage=$T/stage
mkdir -p "$stage"
for seed in "$T"/seed_*; do
	kind=${seed##*/seed_}
	case $kind in
	*.jpg) hdr=700 ;;   # quantisation and Huffman tables
	*) hdr=64 ;;        # RIFF, VP8X/VP8/VP8L headers
	esac
	for s in $(seq 1 "$SEEDS"); do
		if [ "$s" -le $((SEEDS / 2)) ]; then
			opts=(-r 0.01)
		else
			opts=(-r 0.0005 -b "$hdr-")
		fi
		zzuf -s "$s" "${opts[@]}" cat "$seed" >"$stage/${kind%.*}_$s.${kind##*.}"
	done
done
n=$(find "$stage" -type f | wc -l)
identical=0
for f in "$stage"/*; do
	case ${f##*/} in
	base_*) cmp -s "$f" "$T/seed_base.jpg" && identical=$((identical + 1)) ;;
	esac
done
[ "$identical" -lt $((SEEDS / 2)) ] || fail "zzuf left $identical of $SEEDS JPEGs unchanged"
say "$n mutated files from 4 seed images"

start_watch -s 96,48
workers_before=$(worker_pids | sort | tr '\n' ' ')
t0=$(now_ms)
cp -t "$IN" -- "$stage"/*
# under 1 s a file even in the sanitizer build; typically a few ms
fault_wait_resolved $((n / 4 + 20)) 96,48 jpg
ms=$(($(now_ms) - t0))
summary=$(fault_outcomes check 96,48 jpg)
wait_no_temps 10
daemon_assert_alive "after $n mutated files"

if log_has 'worker [0-9]+ .*(crashed|timed out)'; then
	grep -a -E 'worker [0-9]+ .*(crashed|timed out)|failed .*worker' "$LOG" | head -n 10 >&2
	fail "a worker crashed or hung on a mutated file (see above; the inputs are reproducible: see the zzuf options above)"
fi
workers_after=$(worker_pids | sort | tr '\n' ' ')
[ "$workers_before" = "$workers_after" ] ||
	fail "worker pids changed ($workers_before-> $workers_after)"
say "reasons: $(fault_reasons | head -n 8 | tr -s ' \n' ' ')"
stop_daemon
pass "$n zzuf-mutated JPEG/WebP files in $ms ms ($((ms / n)) ms each): $summary; no worker crash or hang, every output decodes, no temps"
