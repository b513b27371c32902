#!/usr/bin/env bash
# The systemd integration as installed: `meson install` into a staging root,
# then, against that root, `systemd-analyze verify` must print nothing at all
# (no unknown keys, no unparsable system calls, ExecStart/ExecReload
# binaries present, the man page in Documentation= found), `systemd-analyze
# security --offline` must rate the unit 2.0 or better, and (as root)
# systemd-sysusers and systemd-tmpfiles must create the thumbd user and the
# default tree from the installed snippets.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
command -v meson >/dev/null || skip "meson is not on PATH (needed to install into a staging root)"
: "${THUMBD_BUILDDIR:?THUMBD_BUILDDIR must name the build folder (meson test sets it)}"

ROOT=$T/root
mkdir -p "$ROOT"
meson install -C "$THUMBD_BUILDDIR" --no-rebuild --quiet --destdir "$ROOT" \
	>"$T/install.log" 2>&1 ||
	fail "meson install into $ROOT failed: $(tail -n 20 "$T/install.log")"

unit=$(find "$ROOT" -path '*/systemd/system/thumbd.service' | head -n 1)
[ -n "$unit" ] || fail "meson install put no thumbd.service under $ROOT"
unit_rel=${unit#"$ROOT"}
say "installed unit: $unit_rel"
grep -a -q -x 'Type=notify' "$unit" || fail "unit is not Type=notify"
grep -a -q -E '^WatchdogSec=[1-9]' "$unit" || fail "unit has no WatchdogSec"

# The installed binary must be where ExecStart says, and be thumbd.
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ -x "$ROOT$exec_start" ] || fail "ExecStart=$exec_start is not installed under the root"
cmp -s "$ROOT$exec_start" "$THUMBD" || say "note: installed binary differs from \$THUMBD (stripped?)"
conf=$(sed -n 's/^ExecStart=.* -c \([^ ]*\).*/\1/p' "$unit")
[ -n "$conf" ] || fail "ExecStart passes no -c FILE"

# The installed example configuration must only name folders the sandbox
# lets the service write (inputs too: on_success may move or delete them).
rw_paths=$(sed -n 's/^ReadWritePaths=//p' "$unit" | tr ' ' '\n' | sed 's/^-//' | grep .)
rw_paths="$rw_paths /var/lib/thumbd"
if [ -f "$ROOT$conf" ]; then
	for d in $(sed -n 's/^[[:space:]]*\(input\|output\)[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\2/p' "$ROOT$conf"); do
		ok=0
		for p in $rw_paths; do
			case $d/ in "$p"/*) ok=1 ;; esac
		done
		[ "$ok" = 1 ] || fail "$conf names $d, which is outside ReadWritePaths= ($rw_paths)"
	done
else
	fail "$conf (ExecStart=… -c) is not installed"
fi

# What a real system has besides our package: the stock units the default
# dependencies name (sysinit.target, ...) and the kill of ExecReload.
mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/bin"
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -d "$d" ] && [ ! -e "$ROOT/usr/lib/systemd/system" ]; then
		cp -a "$d" "$ROOT/usr/lib/systemd/"
	fi
done
for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' "$unit"); do
	if [ ! -e "$ROOT$cmd" ]; then
		[ -x "$cmd" ] || fail "$cmd (named by the unit) is not on this system either"
		mkdir -p "$ROOT$(dirname "$cmd")"
		cp -L "$cmd" "$ROOT$cmd"
	fi
done

# Documentation=man:thumbd(8): the installed page, else the source one.
man=$(find "$ROOT" -path '*/man8/thumbd.8*' | head -n 1)
if [ -n "$man" ]; then
	MANDIR=${man%/man8/*}
else
	say "note: meson install did not install thumbd.8; using daemon/thumbd.8 from the source tree"
	MANDIR=$T/man
	mkdir -p "$MANDIR/man8"
	cp "${THUMBD_SRCDIR:?}/daemon/thumbd.8" "$MANDIR/man8/"
fi

MANPATH=$MANDIR systemd-analyze verify --root="$ROOT" "$unit_rel" >"$T/verify.out" 2>&1 ||
	fail "systemd-analyze verify failed: $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify complained: $(cat "$T/verify.out")"
say "systemd-analyze verify: clean"

systemd-analyze security --offline=true --root="$ROOT" "$unit_rel" >"$T/security.out" 2>&1 ||
	fail "systemd-analyze security failed: $(tail -n 20 "$T/security.out")"
score=$(sed -n 's/.*Overall exposure level for thumbd.service: \([0-9.]*\).*/\1/p' "$T/security.out")
[ -n "$score" ] || fail "no overall exposure in: $(tail -n 5 "$T/security.out")"
grep -a '^✗' "$T/security.out" | sed 's/  */ /g' >&2 || true
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
	fail "exposure $score is over 2.0: $(grep -a '^✗' "$T/security.out")"
say "systemd-analyze security: exposure $score"

# sysusers and tmpfiles, applied to the staging root (chown needs root)
sysusers=$(find "$ROOT" -path '*/sysusers.d/thumbd.conf' | head -n 1)
tmpfiles=$(find "$ROOT" -path '*/tmpfiles.d/thumbd.conf' | head -n 1)
[ -n "$sysusers" ] && [ -n "$tmpfiles" ] || fail "sysusers.d or tmpfiles.d snippet not installed"
extra=
if [ "$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null &&
	command -v systemd-tmpfiles >/dev/null; then
	mkdir -p "$ROOT/etc"
	systemd-sysusers --root="$ROOT" "$sysusers" >"$T/sysusers.out" 2>&1 ||
		fail "systemd-sysusers: $(cat "$T/sysusers.out")"
	ent=$(grep -a '^thumbd:' "$ROOT/etc/passwd") || fail "sysusers made no thumbd user"
	IFS=: read -r _ _ uid gid _ home shell <<<"$ent"
	[ "$uid" -lt 1000 ] || fail "thumbd uid $uid is not a system uid"
	case $shell in
	*/nologin | */false) ;;
	*) fail "thumbd has a login shell: $shell" ;;
	esac
	grep -a -q "^thumbd:x:$gid:" "$ROOT/etc/group" || fail "no thumbd group with gid $gid"
	systemd-tmpfiles --root="$ROOT" --create "$tmpfiles" >"$T/tmpfiles.out" 2>&1 ||
		fail "systemd-tmpfiles: $(cat "$T/tmpfiles.out")"
	# every folder the unit may write, made and owned by thumbd
	for d in $(sed -n 's/^ReadWritePaths=//p' "$unit") "/var/lib/thumbd"; do
		d=${d#-}
		[ -d "$ROOT$d" ] || fail "tmpfiles did not create $d (in ReadWritePaths=)"
		[ "$(stat -c %u:%g "$ROOT$d")" = "$uid:$gid" ] || fail "$d is not owned by thumbd"
	done
	for d in /srv/thumbd/drop /srv/thumbd/thumbs; do
		[ "$(stat -c %u "$ROOT$d" 2>/dev/null)" = "$uid" ] ||
			fail "tmpfiles did not create $d owned by thumbd"
	done
	extra="; sysusers made thumbd ($uid:$gid, $shell, home $home), tmpfiles made the tree"
else
	say "note: not root; sysusers/tmpfiles not applied"
fi

pass "unit installed at $unit_rel verifies cleanly; exposure $score (<= 2.0)$extra"
