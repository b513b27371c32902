#!/usr/bin/env bash
# `meson install --destdir` of the build under test lays out the
# conventional tree under the prefix (binary, example config in sysconfdir,
# systemd unit, sysusers and tmpfiles snippets, both manual pages) and
# nothing outside it; the installed binary runs and checks the installed
# example config (which documents every key with its real default); the
# unit points at the installed binary and config; both pages render without
# a warning.
# A configure-only build with --prefix=/usr must put the config in /etc.
. "$(dirname "$0")/lib.sh"

: "${THUMBD_BUILDDIR:?THUMBD_BUILDDIR must name the build folder (meson test sets it)}"
: "${THUMBD_SRCDIR:?THUMBD_SRCDIR must name the source folder (meson test sets it)}"
command -v meson >/dev/null || skip "meson is not on PATH (needed for meson install)"

DEST=$T/dest

# opt BUILDDIR NAME: a build option's value as meson reports it.
opt() {
	meson introspect --buildoptions "$1" | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] == sys.argv[1]:
        print(o["value"])
        break
else:
    sys.exit("no build option " + sys.argv[1])' "$2"
}

# under PREFIX DIR: DIR as installed (meson joins an absolute DIR as is).
under() {
	case $2 in
	/*) printf '%s\n' "$2" ;;
	*) printf '%s/%s\n' "$1" "$2" ;;
	esac
}

prefix=$(opt "$THUMBD_BUILDDIR" prefix)
bindir=$(under "$prefix" "$(opt "$THUMBD_BUILDDIR" bindir)")
sysconfdir=$(under "$prefix" "$(opt "$THUMBD_BUILDDIR" sysconfdir)")
mandir=$(under "$prefix" "$(opt "$THUMBD_BUILDDIR" mandir)")
unitdir=$(opt "$THUMBD_BUILDDIR" unitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
say "prefix=$prefix bindir=$bindir sysconfdir=$sysconfdir mandir=$mandir unitdir=$unitdir"

# meson's rule: sysconfdir is /etc for prefix /usr, etc below any other
# prefix (unless set explicitly, which this build is not expected to do)
case $prefix in
/usr) [ "$sysconfdir" = /etc ] || fail "prefix /usr but sysconfdir $sysconfdir (want /etc)" ;;
*) [ "$sysconfdir" = "$prefix/etc" ] || fail "prefix $prefix but sysconfdir $sysconfdir (want $prefix/etc)" ;;
esac
[ "$bindir" = "$prefix/bin" ] && [ "$mandir" = "$prefix/share/man" ] ||
	say "note: bindir or mandir is not the default"

# --no-rebuild: meson test has just built it; a rebuild here would race with
# the other tests using $THUMBD
meson install -C "$THUMBD_BUILDDIR" --no-rebuild --quiet --destdir "$DEST" \
	>"$T/install.log" 2>&1 ||
	fail "meson install --destdir failed: $(tail -n 20 "$T/install.log")"

BIN=$DEST$bindir/thumbd
CONF=$DEST$sysconfdir/thumbd/thumbd.conf
UNIT=$DEST$unitdir/thumbd.service
SYSUSERS=$DEST$prefix/lib/sysusers.d/thumbd.conf
TMPFILES=$DEST$prefix/lib/tmpfiles.d/thumbd.conf
MAN8=$DEST$mandir/man8/thumbd.8
MAN5=$DEST$mandir/man5/thumbd.conf.5

# ---- the layout: these files, with sensible modes ---------------
[ -f "$BIN" ] && [ -x "$BIN" ] || fail "${BIN#"$DEST"} is not an installed executable"
for f in "$CONF" "$UNIT" "$SYSUSERS" "$TMPFILES" "$MAN8" "$MAN5"; do
	[ -f "$f" ] && [ -s "$f" ] || fail "${f#"$DEST"} is not installed (or empty)"
	[ ! -x "$f" ] || fail "${f#"$DEST"} is installed executable"
	[ "$(stat -c %a "$f")" = 644 ] || say "note: ${f#"$DEST"} has mode $(stat -c %a "$f")"
done
printf '%s\n' "$BIN" "$CONF" "$UNIT" "$SYSUSERS" "$TMPFILES" "$MAN8" "$MAN5" | sort >"$T/want.lst"
find "$DEST" -type f -o -type l | sort >"$T/got.lst"
# more files (docs, say) may come; none may land outside the prefix and
# sysconfdir
while IFS= read -r f; do
	f=${f#"$DEST"}
	case $f in
	"$prefix"/* | "$sysconfdir"/*) say "note: also installed: $f" ;;
	*) fail "meson install wrote $f, outside $prefix and $sysconfdir" ;;
	esac
done < <(comm -13 "$T/want.lst" "$T/got.lst")
say "installed: $(sed "s|^$DEST||" "$T/got.lst" | tr '\n' ' ')"
# the example config is the source tree's; the unit is generated for the prefix
cmp -s "$CONF" "$THUMBD_SRCDIR/config/thumbd.conf" || fail "the installed config is not config/thumbd.conf"
cmp -s "$MAN5" "$THUMBD_SRCDIR/config/thumbd.conf.5" || fail "the installed thumbd.conf.5 differs from config/"

# ---- the installed binary ------------------------------------------------
if command -v readelf >/dev/null; then
	! readelf -d "$BIN" | grep -q -F "$THUMBD_BUILDDIR" ||
		fail "the installed binary keeps an rpath into the build folder"
fi
"$BIN" --version >"$T/version.txt" 2>>"$T/bin.log" || fail "the installed binary does not run"
ver=$(meson introspect --projectinfo "$THUMBD_BUILDDIR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
grep -q -F "$ver" "$T/version.txt" || fail "--version says $(cat "$T/version.txt"), want $ver"

# the unit starts the installed binary on the installed config
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ "$exec_start" = "$bindir/thumbd -c $sysconfdir/thumbd/thumbd.conf" ] ||
	fail "ExecStart=$exec_start, want $bindir/thumbd -c $sysconfdir/thumbd/thumbd.conf"
! grep -q '@[a-z]*@' "$UNIT" || fail "the unit keeps an unsubstituted @var@: $(grep '@[a-z]*@' "$UNIT")"

# ---- the installed example config ---------------------------------------
# As shipped it names /srv/thumbd/{drop,thumbs}; where they do not exist the
# only complaint allowed is exactly that (on the input line).
rc=0
"$BIN" -n -c "$CONF" >"$T/ex.out" 2>"$T/ex.err" || rc=$?
cat "$T/ex.err" >>"$T/bin.log"   # lib.sh scans *.log for sanitizer reports
in_line=$(grep -n -E '^input *=' "$CONF" | head -n 1 | cut -d: -f1)
in_dir=$(sed -n -E 's/^input *= *//p' "$CONF" | head -n 1)
watch=$(sed -n -E 's/^\[watch (.*)\]$/\1/p' "$CONF" | head -n 1)
if [ ! -e "$in_dir" ]; then
	[ "$rc" -eq 1 ] || fail "-n on the example: status $rc with $in_dir missing (want 1)"
	want="$CONF:$in_line: [watch $watch] input: cannot use folder \"$in_dir\": No such file or directory"
	got=$(cat "$T/ex.err")
	[ "$got" = "thumbd: $want" ] || [ "$got" = "$want" ] ||
		fail "-n on the example: \"$got\", want \"$want\""
	say "example as shipped: only its missing folder is refused ($got)"
else
	say "note: $in_dir exists here; -n on the shipped example gave status $rc: $(cat "$T/ex.err")"
fi

# Pointed at temp folders (in place: relative paths follow the file) it
# checks clean, and uncommenting every "#key = value" line (the documented
# defaults) changes nothing in the effective configuration.
mkdir -p "$T/drop" "$T/thumbs"
sed -i -E -e "s|^input *=.*|input = $T/drop|" -e "s|^output *=.*|output = $T/thumbs|" "$CONF"
"$BIN" -n -c "$CONF" >"$T/ex.dump" 2>"$T/ex.err" ||
	fail "-n on the example with existing folders failed: $(cat "$T/ex.err")"
cat "$T/ex.err" >>"$T/bin.log"
[ ! -s "$T/ex.err" ] || fail "-n on the example wrote to stderr: $(cat "$T/ex.err")"
grep -q -x -F "input = $T/drop" "$T/ex.dump" || fail "the dump does not show the input folder"
n_def=$(grep -c -E '^#[a-z_]+ =' "$CONF")
sed -E 's/^#([a-z_]+ =.*)$/\1/' "$CONF" >"$DEST$sysconfdir/thumbd/uncommented.conf"
"$BIN" -n -c "$DEST$sysconfdir/thumbd/uncommented.conf" >"$T/exu.dump" 2>"$T/ex.err" ||
	fail "the example with its $n_def '#key = default' lines uncommented is refused: $(cat "$T/ex.err")"
cat "$T/ex.err" >>"$T/bin.log"
diff "$T/ex.dump" "$T/exu.dump" >"$T/ex.diff" ||
	fail "a default shown in the example is not the real default: $(cat "$T/ex.diff")"
# every key of the effective configuration is documented in the example
# and in thumbd.conf(5)
missing=
for key in $(sed -n -E 's/^([a-z_]+) =.*/\1/p' "$T/ex.dump" | sort -u); do
	grep -q -E "^#?$key =" "$CONF" || missing="$missing $key(example)"
	grep -q -F "\\fB$key =" "$MAN5" || missing="$missing $key(thumbd.conf.5)"
done
[ -z "$missing" ] || fail "keys not documented:$missing"
say "example config: checks clean with real folders; its $n_def documented defaults are the real ones; every key is in it and in thumbd.conf(5)"

# ---- the manual pages ----------------------------------------------------
if command -v man >/dev/null && man --help 2>&1 | grep -q -e '--warnings'; then
	renderer="man"
elif command -v groff >/dev/null; then
	renderer="groff"
else
	renderer=
	say "note: neither man nor groff is installed: pages not rendered"
fi
for page in "$MAN8" "$MAN5"; do
	[ -n "$renderer" ] || break
	if [ "$renderer" = man ]; then
		MANWIDTH=80 MAN_DISABLE_SECCOMP=1 man -l --warnings "$page" \
			>"$T/page.txt" 2>"$T/page.err" </dev/null || fail "man -l ${page##*/} failed: $(cat "$T/page.err")"
	else
		groff -ww -man -Tutf8 "$page" >"$T/page.txt" 2>"$T/page.err" ||
			fail "groff ${page##*/} failed: $(cat "$T/page.err")"
	fi
	[ ! -s "$T/page.err" ] || fail "${page##*/} renders with warnings: $(head -n 20 "$T/page.err")"
	grep -q 'NAME' "$T/page.txt" && grep -q 'thumbd' "$T/page.txt" ||
		fail "${page##*/} rendered without a NAME section"
	say "${page##*/}: $(wc -l <"$T/page.txt") lines at 80 columns, no warning ($renderer)"
done

# ---- prefix /usr: the config goes to /etc (configure only, no build) -----
if meson setup --prefix=/usr "$T/build-usr" "$THUMBD_SRCDIR" >"$T/setup.log" 2>&1; then
	meson introspect --installed "$T/build-usr" >"$T/installed.json"
	python3 - "$T/installed.json" <<'EOF' || fail "prefix /usr: wrong install paths: $(cat "$T/installed.json")"
import json, sys
got = sorted(json.load(open(sys.argv[1])).values())
want = sorted([
    "/usr/bin/thumbd",
    "/etc/thumbd/thumbd.conf",
    "/usr/lib/systemd/system/thumbd.service",
    "/usr/lib/sysusers.d/thumbd.conf",
    "/usr/lib/tmpfiles.d/thumbd.conf",
    "/usr/share/man/man8/thumbd.8",
    "/usr/share/man/man5/thumbd.conf.5",
])
if got != want:
    print("got:", got, "\nwant:", want, file=sys.stderr)
    sys.exit(1)
EOF
	grep -q -x 'ExecStart=/usr/bin/thumbd -c /etc/thumbd/thumbd.conf' "$T/build-usr/systemd/thumbd.service" ||
		fail "prefix /usr: $(grep ExecStart "$T/build-usr/systemd/thumbd.service")"
	grep -q -F '"/etc"' "$T/build-usr/build-config.h" ||
		fail "prefix /usr: the binary's sysconfdir is not /etc: $(grep SYSCONFDIR "$T/build-usr/build-config.h")"
	say "prefix /usr: bin, /etc/thumbd/thumbd.conf, lib/systemd/system, lib/sysusers.d, lib/tmpfiles.d, share/man; unit and binary use /etc"
else
	fail "meson setup --prefix=/usr failed: $(tail -n 20 "$T/setup.log")"
fi

pass "meson install under $prefix: bin/thumbd, ${sysconfdir#"$prefix"/}/thumbd/thumbd.conf, the unit, sysusers.d, tmpfiles.d and both pages; the installed binary runs and checks the example config (only the missing /srv folder refused; documented defaults are real; every key documented); the unit names the installed paths; man renders both pages with no warning; prefix /usr puts the config in /etc"
