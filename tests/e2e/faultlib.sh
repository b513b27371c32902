# shellcheck shell=bash
# Helpers for the hostile-input and fault tests (t_bad_inputs, t_truncation,
# t_zzuf, t_disk_full, ...). A test sources lib.sh first, then this file.
# The generators (fault_make_*) only need the image tools and a Python 3
# (stdlib only), so scripts/valgrind also sources this file on its own to
# build the same corpus; everything else uses lib.sh's $T, $LOG and helpers.

# Python for the byte patches: stdlib only, any python3 will do.
FAULT_PY=${E2E_PY:-python3}

# ---- byte-level patches of generated files ------------------------------

# fault_py SUBCOMMAND ARG...: the patch tool below.
fault_py() {
	"$FAULT_PY" - "$@" <<'EOF'
import struct, sys

def segments(b):
    """(offset, marker, body_start, body_end) of each JPEG header segment up
    to and including the first SOS."""
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            raise SystemExit('not at a marker at %d' % i)
        m = b[i + 1]
        n = int.from_bytes(b[i + 2:i + 4], 'big')
        yield i, m, i + 4, i + 2 + n
        if m == 0xDA:
            return
        i += 2 + n

def sof(b):
    for off, m, s, e in segments(b):
        if m in (0xC0, 0xC1, 0xC2):
            return off
    raise SystemExit('no SOF0/1/2 marker')

def rd(p):
    return bytearray(open(p, 'rb').read())

def wr(p, b):
    open(p, 'wb').write(b)

cmd, a = sys.argv[1], sys.argv[2:]

if cmd == 'jpeg-dims':          # IN OUT W H: SOF says W x H
    b = rd(a[0]); i = sof(b)
    b[i + 5:i + 7] = int(a[3]).to_bytes(2, 'big')
    b[i + 7:i + 9] = int(a[2]).to_bytes(2, 'big')
    wr(a[1], b)

elif cmd == 'jpeg-precision':   # IN OUT P: SOF sample precision P
    b = rd(a[0]); i = sof(b)
    b[i + 4] = int(a[2])
    wr(a[1], b)

elif cmd == 'jpeg-sof':         # IN OUT HEX: SOF marker byte (c3 = lossless)
    b = rd(a[0]); i = sof(b)
    b[i + 1] = int(a[2], 16)
    wr(a[1], b)

elif cmd == 'jpeg-icc':         # IN OUT BYTES: insert an ICC profile of BYTES
    # APP2 "ICC_PROFILE\0" seq count chunks after SOI (and after APP0/APP1),
    # holding a profile with a plausible 128-byte header and a tag count of
    # 0; the rest is filler. Decoders must not choke on the size.
    b = rd(a[0]); total = int(a[2])
    head = bytearray(128)
    head[0:4] = total.to_bytes(4, 'big')
    head[4:8] = b'lcms'; head[8:12] = bytes([2, 0x10, 0, 0])
    head[12:16] = b'mntr'; head[16:20] = b'RGB '; head[20:24] = b'XYZ '
    head[36:40] = b'acsp'
    prof = bytes(head) + bytes(4) + bytes((i * 7) & 0xFF for i in range(total - 132))
    per = 65535 - 2 - 14
    chunks = [prof[i:i + per] for i in range(0, len(prof), per)]
    if len(chunks) > 255:
        raise SystemExit('profile too large for 255 chunks')
    ins = bytearray()
    for k, c in enumerate(chunks):
        ins += b'\xff\xe2' + (len(c) + 16).to_bytes(2, 'big') + b'ICC_PROFILE\0' \
            + bytes([k + 1, len(chunks)]) + c
    pos = 2
    for off, m, s, e in segments(b):
        if m in (0xE0, 0xE1):
            pos = e
        else:
            break
    wr(a[1], b[:pos] + ins + b[pos:])

elif cmd == 'exif-break':       # IN OUT MODE: break the EXIF of an exiftool file
    # MODE loop: IFD0's next-IFD pointer and the ExifIFD pointer point back
    #            at IFD0 (a cycle), and the IFD1 chain loops on itself.
    # MODE offsets: every entry's value offset and the next-IFD pointer point
    #            far past the segment; the entry count claims 65535.
    b = rd(a[0]); mode = a[2]
    for off, m, s, e in segments(b):
        if m == 0xE1 and b[s:s + 6] == b'Exif\0\0':
            t = s + 6
            break
    else:
        raise SystemExit('no EXIF APP1')
    le = b[t:t + 2] == b'II'
    E = 'little' if le else 'big'
    u16 = lambda p: int.from_bytes(b[p:p + 2], E)
    u32 = lambda p: int.from_bytes(b[p:p + 4], E)
    def p32(p, v): b[p:p + 4] = v.to_bytes(4, E)
    ifd0 = u32(t + 4)
    n = u16(t + ifd0)
    nxt = t + ifd0 + 2 + 12 * n
    if mode == 'loop':
        for k in range(n):
            ent = t + ifd0 + 2 + 12 * k
            if u16(ent) in (0x8769, 0x8825):     # ExifIFD, GPS IFD -> IFD0
                p32(ent + 8, ifd0)
        p32(nxt, ifd0)
    elif mode == 'offsets':
        for k in range(n):
            ent = t + ifd0 + 2 + 12 * k
            if u16(ent) != 0x0112:               # keep Orientation itself
                p32(ent + 4, 0x3FFFFFFF)         # count
                p32(ent + 8, 0xFFFFFFF0)         # offset
        p32(nxt, 0x7FFFFFF0)
        b[t + ifd0:t + ifd0 + 2] = (65535).to_bytes(2, E)
    else:
        raise SystemExit('mode?')
    wr(a[1], b)

elif cmd in ('webp-canvas', 'webp-dims'):  # IN OUT W H
    # webp-canvas: the VP8X canvas says W x H (an animation's frames stay
    # small). webp-dims: the VP8X canvas and the lossy frame header both
    # say W x H (at most 16383), so the file is consistent, only huge.
    b = rd(a[0]); w, h = int(a[2]), int(a[3])
    if b[12:16] != b'VP8X':
        raise SystemExit('no VP8X chunk (need an extended WebP)')
    b[24:27] = (w - 1).to_bytes(3, 'little')
    b[27:30] = (h - 1).to_bytes(3, 'little')
    if cmd == 'webp-dims':
        i = 12
        while i + 8 <= len(b) and b[i:i + 4] != b'VP8 ':
            i += 8 + ((int.from_bytes(b[i + 4:i + 8], 'little') + 1) & ~1)
        f = i + 8
        if b[i:i + 4] != b'VP8 ' or b[f + 3:f + 6] != b'\x9d\x01\x2a':
            raise SystemExit('no lossy VP8 key frame')
        b[f + 6:f + 8] = (w & 0x3FFF).to_bytes(2, 'little')
        b[f + 8:f + 10] = (h & 0x3FFF).to_bytes(2, 'little')
    wr(a[1], b)

elif cmd == 'scan-scripts':     # PREFIX BITS: scan scripts PREFIXnn, each
    # legal on its own (cjpeg takes at most 100 scans): DC, then a share of
    # the AC bands, every AC coefficient of every component on its own,
    # first sent with Al=BITS, then refined down to Al=0. Stitched together
    # (stitch-scans) they make one legal file of 3*63*(BITS+1)+2 scans.
    bits = int(a[1]); per = (100 - 2) // (bits + 1)
    bands = [(c, k) for c in range(3) for k in range(1, 64)]
    for n, i in enumerate(range(0, len(bands), per)):
        out = ['0,1,2: 0-0, 0, 1;', '0,1,2: 0-0, 1, 0;']
        for c, k in bands[i:i + per]:
            out.append('%d: %d-%d, 0, %d;' % (c, k, k, bits))
            for al in range(bits, 0, -1):
                out.append('%d: %d-%d, %d, %d;' % (c, k, k, al, al - 1))
        open('%s%02d' % (a[0], n), 'w').write('\n'.join(out) + '\n')

elif cmd == 'stitch-scans':     # OUT IN...: run 0 whole, then the scans of
    # every other run that follow its two DC scans (with their DHT tables).
    # Every run used the same quantisation, so the coefficients agree.
    def walk(b):
        """(start, end, marker) of every segment, entropy data included
        in the SOS segment that precedes it."""
        i, segs = 2, []
        while i < len(b):
            if b[i] != 0xFF:
                raise SystemExit('no marker at %d' % i)
            m = b[i + 1]
            if m == 0xD9:
                segs.append((i, i + 2, m)); break
            e = i + 2 + int.from_bytes(b[i + 2:i + 4], 'big')
            if m == 0xDA:
                while not (b[e] == 0xFF and b[e + 1] != 0 and not 0xD0 <= b[e + 1] <= 0xD7):
                    e += 1
            segs.append((i, e, m)); i = e
        return segs
    out = None
    for n, p in enumerate(a[1:]):
        b = open(p, 'rb').read(); segs = walk(b)
        if n == 0:
            out = bytearray(b[:segs[-1][0]]); continue
        sos = [j for j, s in enumerate(segs) if s[2] == 0xDA]
        start = segs[sos[1]][1]
        out += b[start:segs[-1][0]]
    out += b'\xff\xd9'
    open(a[0], 'wb').write(out)

elif cmd == 'truncate':         # IN OUTPREFIX N: N-1 cuts at k/N of the length
    b = open(a[0], 'rb').read(); n = int(a[2])
    for k in range(1, n):
        open('%s%02d' % (a[1], k), 'wb').write(b[:len(b) * k // n])

else:
    raise SystemExit('fault_py: unknown command ' + cmd)
EOF
}

# fault_jpeg_scans FILE: the number of SOS markers in a JPEG (a whole-file
# marker walk, entropy data skipped).
fault_jpeg_scans() {
	"$FAULT_PY" - "$1" <<'EOF'
import sys
b = open(sys.argv[1], 'rb').read()
print(b.count(b'\xff\xda'))
EOF
}

# ---- the hostile corpus --------------------------------------------------

# fault_photo W H OUT.ppm: a photo-like source picture (gradients and
# edges, so every coefficient band has something in it).
fault_photo() {
	convert -size "${1}x${2}" gradient:'#f80'-'#08f' \
		\( -size "${1}x${2}" radial-gradient:'#ff0'-'#060' \) \
		-compose multiply -composite \
		-fill '#0a0' -draw "rectangle 0,0 $(($1 / 4)),$(($2 / 4))" \
		-fill white -draw "circle $(($1 / 2)),$(($2 / 2)) $(($1 / 2)),$(($2 / 3))" \
		"ppm:$3"
}

# fault_make_hostile DIR: write every hostile case as DIR/NAME, and
# DIR/cases.txt with one "NAME KIND REGEX" line each: KIND is fail (one
# "failed PATH: reason" line whose reason matches the extended REGEX),
# thumb (a correct thumbnail), or either. Cases that need a non-regular
# file (FIFO, folder) are not made here: tests make them in place.
fault_make_hostile() {
	local d=$1 w
	w=$(mktemp -d "${TMPDIR:-/tmp}/thumbd-hostile.XXXXXX")
	mkdir -p "$d"
	fault_photo 320 240 "$w/src.ppm"
	cjpeg -quality 85 "$w/src.ppm" >"$w/base.jpg"
	convert "$w/src.ppm" "$w/src.png"
	convert "$w/src.png" -alpha set -channel A -evaluate set 80% +channel "$w/alpha.png"
	: >"$d/cases.txt"
	local c
	c() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$d/cases.txt"; }

	# decompression bombs: small files whose headers claim huge sizes
	fault_py jpeg-dims "$w/base.jpg" "$d/bomb_16383.jpg" 16383 16383
	c bomb_16383.jpg fail 'exceeds max_pixels'
	fault_py jpeg-dims "$w/base.jpg" "$d/bomb_65500.jpg" 65500 65500
	c bomb_65500.jpg fail 'exceeds max_pixels'
	cwebp -quiet -q 70 "$w/alpha.png" -o "$w/alpha.webp"
	fault_py webp-dims "$w/alpha.webp" "$d/bomb_16383.webp" 16383 16383
	c bomb_16383.webp fail 'exceeds max_pixels'
	fault_py webp-canvas "$w/alpha.webp" "$d/bomb_canvas_16383.webp" 16383 16383
	c bomb_canvas_16383.webp fail 'exceeds max_pixels|corrupt WebP'
	convert "$w/src.png" -flop "$w/flop.png"
	img2webp -q 60 -d 100 "$w/src.png" "$w/flop.png" -o "$w/anim.webp" >/dev/null 2>&1
	webpmux -info "$w/anim.webp" | grep -q 'Number of frames: 2' ||
		{ echo "faultlib: img2webp made no 2-frame animation" >&2; return 1; }
	fault_py webp-canvas "$w/anim.webp" "$d/bomb_anim_65535.webp" 65535 65535
	c bomb_anim_65535.webp fail 'exceeds max_pixels'

	# a progressive JPEG with more than 1,000 legal scans
	fault_py scan-scripts "$w/scans" 5
	for f in "$w"/scans[0-9]*; do
		cjpeg -quality 90 -scans "$f" "$w/src.ppm" >"$f.jpg"
	done
	fault_py stitch-scans "$d/scans_1136.jpg" "$w"/scans[0-9]*.jpg
	c scans_1136.jpg fail 'scans exceeds max_scans'

	# junk before SOI, an empty file, a file of zero bytes
	{ head -c 100 /dev/zero | tr '\0' 'J'; cat "$w/base.jpg"; } >"$d/junk_soi.jpg"
	c junk_soi.jpg fail 'not (an image|a JPEG)'
	: >"$d/empty.jpg"
	c empty.jpg fail 'empty'
	head -c 4096 /dev/zero >"$d/zeros.jpg"
	c zeros.jpg fail 'not (an image|a JPEG)'

	# frame types thumbd does not decode
	fault_py jpeg-precision "$w/base.jpg" "$d/twelve_bit.jpg" 12
	c twelve_bit.jpg fail '12-bit JPEG not supported'
	fault_py jpeg-sof "$w/base.jpg" "$d/lossless.jpg" c3
	c lossless.jpg fail 'lossless JPEG not supported'

	# broken EXIF: must not hang or crash; the picture itself is fine
	cp "$w/base.jpg" "$w/exif.jpg"
	exiftool -q -overwrite_original -n -Orientation=6 -Make=thumbd \
		-Model=faults -DateTimeOriginal='2024:01:02 03:04:05' \
		-GPSLatitude=1 -GPSLatitudeRef=N "$w/exif.jpg"
	exiftool -q -overwrite_original -ThumbnailImage'<='"$w/base.jpg" "$w/exif.jpg" 2>/dev/null || true
	fault_py exif-break "$w/exif.jpg" "$d/exif_loop.jpg" loop
	c exif_loop.jpg thumb ''
	fault_py exif-break "$w/exif.jpg" "$d/exif_offsets.jpg" offsets
	c exif_offsets.jpg thumb ''

	# a 1 MB ICC profile in 17 APP2 chunks
	fault_py jpeg-icc "$w/base.jpg" "$d/icc_1mb.jpg" 1048576
	c icc_1mb.jpg thumb ''
	rm -rf -- "$w"
}

# ---- clean-up of what lib.sh does not know about ------------------------

# Commands (strings for eval) run at exit before lib.sh's own clean-up,
# after the daemon is killed: unmounting, chattr -i, and the like.
FAULT_CLEANUP=()

fault_exit_trap() {
	local rc=$? c kids
	trap - ERR
	set +e
	if [ -n "${DAEMON_PID:-}" ]; then
		kids=$(pgrep -P "$DAEMON_PID")
		kill -KILL "$DAEMON_PID" $kids 2>/dev/null
	fi
	for c in "${FAULT_CLEANUP[@]}"; do
		eval "$c"
	done
	(exit "$rc")
	e2e_cleanup
}

# Only tests (which have sourced lib.sh) install it.
if declare -F e2e_cleanup >/dev/null; then
	trap fault_exit_trap EXIT
fi

# ---- the daemon and its processes ---------------------------------------

# True if $THUMBD was built with AddressSanitizer.
fault_is_asan() {
	ldd "$THUMBD" 2>/dev/null | grep -q -E 'libasan|libclang_rt\.asan' ||
		nm -D "$THUMBD" 2>/dev/null | grep -q ' __asan_init'
}

# proc_age_ms PID: how long PID has been running, in milliseconds.
proc_age_ms() {
	local start up hz
	start=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20) || return 1
	[ -n "$start" ] || return 1
	up=$(cut -d' ' -f1 /proc/uptime)
	hz=$(getconf CLK_TCK)
	echo $(( ${up/./} * 10 - start * 1000 / hz ))
}

# fault_worker_hwm: the largest peak resident size (VmHWM, KiB) of the
# current workers.
fault_worker_hwm() {
	local p v m=0
	for p in $(worker_pids); do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		[ -z "$v" ] || [ "$v" -le "$m" ] || m=$v
	done
	echo "$m"
}

# ---- failure lines --------------------------------------------------------

# fault_failed_re NAME: an extended regex for a failure line naming the
# input NAME (a path relative to $IN; printed plain, absolute or relative).
fault_failed_re() {
	local q
	q=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
	printf 'failed ([^ ]*/)?%s: ' "$q"
}

# fault_failed_count NAME: how many failure lines name NAME.
fault_failed_count() {
	log_count "$(fault_failed_re "$1")"
}

fault_failed_line() {
	grep -a -E -- "$(fault_failed_re "$1")" "$LOG" | head -n 1
}

fault_has_failed() {
	[ "$(fault_failed_count "$1")" -ge 1 ]
}

# ---- outcome of every input -----------------------------------------------

# fault_outcomes MODE SIZES EXT: for every regular non-hidden file under
# $IN, whether it has all its outputs (done), exactly one failure line and
# no output (failed), nothing yet (pending) or something wrong (two
# failure lines, or outputs and a failure). MODE wait: status 0 once
# nothing is pending. MODE check: print a summary, list pending and wrong
# inputs, status 1 if there are any; the failure reasons go to
# $T/reasons.txt ("REL<TAB>reason") and the outputs found to $T/found.lst.
fault_outcomes() {
	"$E2E_PY" - "$1" "$2" "$3" "$IN" "$OUT" "$LOG" "$T" <<'EOF'
import collections, os, re, stat, sys
mode, sizes, ext, IN, OUT, LOG, T = sys.argv[1:]
sizes = sizes.split(',')
inputs = []
for root, dirs, files in os.walk(IN):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    for f in files:
        if f.startswith('.'):
            continue
        p = os.path.join(root, f)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            inputs.append(os.path.relpath(p, IN))
fails = collections.defaultdict(list)
byname = collections.defaultdict(list)
for r in inputs:
    byname[r.rsplit('/', 1)[-1]].append(r)
pat = re.compile(rb'failed (.+?): (.*)$')
for line in open(LOG, 'rb'):
    m = pat.search(line.rstrip(b'\n'))
    if not m:
        continue
    path = m.group(1).decode('utf-8', 'replace')
    if path.startswith(IN + '/'):
        path = path[len(IN) + 1:]
    for r in byname.get(path.rsplit('/', 1)[-1], ()):
        if path == r or path.endswith('/' + r):
            fails[r].append(m.group(2).decode('utf-8', 'replace'))
def outputs(rel):
    d, _, base = rel.rpartition('/')
    stem = base.rsplit('.', 1)[0] if '.' in base else base
    stem = stem or base
    return [os.path.join(OUT, d, '%s_%s.%s' % (stem, s, ext)) for s in sizes]
count = collections.Counter()
bad, found = [], []
for r in inputs:
    outs = [o for o in outputs(r) if os.path.isfile(o)]
    nf = len(fails.get(r, ()))
    if nf == 0 and len(outs) == len(sizes):
        k = 'done'
    elif nf == 1 and not outs:
        k = 'failed'
    elif nf == 0:
        k = 'pending'
    else:
        k = 'wrong'
    count[k] += 1
    found += outs
    if k in ('pending', 'wrong'):
        bad.append('%s %s: %d/%d outputs, %d failure lines %s' %
            (k, r, len(outs), len(sizes), nf, fails.get(r, [])))
if mode == 'wait':
    sys.exit(1 if count['pending'] else 0)
with open(os.path.join(T, 'reasons.txt'), 'w') as f:
    for r in sorted(fails):
        for why in fails[r]:
            f.write('%s\t%s\n' % (r, why))
with open(os.path.join(T, 'found.lst'), 'wb') as f:
    f.write(b''.join(o.encode() + b'\0' for o in found))
print('%d inputs: %d done, %d failed, %d pending, %d wrong' % (len(inputs),
    count['done'], count['failed'], count['pending'], count['wrong']))
for b in bad[:20]:
    print('  ' + b)
sys.exit(1 if bad else 0)
EOF
}

# fault_wait_resolved SECONDS SIZES EXT: wait until every input is done or
# failed; then check that none is wrong and every output decodes.
fault_wait_resolved() {
	local secs=$1 sizes=$2 ext=$3 summary
	if ! wait_until "$secs" fault_outcomes wait "$sizes" "$ext"; then
		fault_outcomes check "$sizes" "$ext" >&2 || true
		fail "inputs still pending after $secs s"
	fi
	summary=$(fault_outcomes check "$sizes" "$ext") ||
		{ printf '%s\n' "$summary" >&2; fail "some inputs have a wrong outcome"; }
	say "$summary"
	local -a found=()
	mapfile -d '' found <"$T/found.lst"
	[ ${#found[@]} -eq 0 ] || decode_all "$ext" "${found[@]}"
}

# fault_reasons: "N reason" for the failure reasons seen, numbers folded,
# most frequent first (for the report line).
fault_reasons() {
	cut -f2 "$T/reasons.txt" 2>/dev/null | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn
}

# fault_snapshot_complete NSIZES FILE: like snapshot_outputs, but only the
# outputs of inputs that have all NSIZES outputs (an input with some sizes
# may rightly be redone after a crash).
fault_snapshot_complete() {
	snapshot_outputs "$T/snap.all"
	"$E2E_PY" - "$1" "$T/snap.all" "$2" <<'EOF'
import collections, sys
n = int(sys.argv[1])
recs = [r for r in open(sys.argv[2], 'rb').read().split(b'\0') if r]
by_stem = collections.defaultdict(list)
for r in recs:
    by_stem[r.split(b' ', 2)[2].rsplit(b'_', 1)[0]].append(r)
keep = sorted(r for v in by_stem.values() if len(v) == n for r in v)
open(sys.argv[3], 'wb').write(b''.join(r + b'\0' for r in keep))
print(len(keep) // n)
EOF
}
