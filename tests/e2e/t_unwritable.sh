#!/usr/bin/env bash
# An output folder that cannot be written. Tests run as root, which ignores
# permission bits, so the folder is made immutable (chattr +i), which binds
# root too. An input whose thumbnails go there is kept, no temp file is
# left, a clear error names the input and the output folder, other inputs
# keep flowing; once the folder is writable again the work resumes by
# itself (output faults are retried after a back-off).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/faultlib.sh"

command -v chattr >/dev/null || skip "chattr is not installed"
mkdir -p "$IN/locked" "$IN/free" "$OUT/locked"
FAULT_CLEANUP+=("chattr -i '$OUT/locked' 2>/dev/null")
chattr +i "$OUT/locked" 2>"$T/chattr.err" ||
	skip "chattr +i does not work on $(df --output=fstype "$OUT" | tail -n 1) here: $(cat "$T/chattr.err")"
if touch "$OUT/locked/probe" 2>/dev/null; then
	skip "an immutable folder is still writable here"
fi

src=$(img_jpeg 320 240)
start_watch -s 64
cp "$src" "$IN/locked/a.jpg"
wait_until 20 log_has "$(printf '%s' "$IN/locked/a.jpg" | sed 's/[.]/\\./g')" ||
	fail "nothing logged about locked/a.jpg within 20 s"
line=$(grep -a -F "$IN/locked/a.jpg" "$LOG" | head -n 1)
say "logged: ${line#* }"

# Other inputs are not held up by the locked folder.
cp "$src" "$IN/free/b.jpg"
cp "$src" "$IN/c.jpg"
wait_until 10 test -f "$OUT/free/b_64.jpg" -a -f "$OUT/c_64.jpg" ||
	fail "inputs with writable output folders were held up by the locked one"
wait_no_temps 10
cmp -s "$src" "$IN/locked/a.jpg" || fail "the input locked/a.jpg was not kept"
[ -z "$(ls -A "$OUT/locked")" ] || fail "something was written in the immutable folder"
daemon_assert_alive "with an unwritable output folder"

# Writable again: the retry finishes it with no help.
chattr -i "$OUT/locked"
t0=$(now_ms)
wait_until 90 test -f "$OUT/locked/a_64.jpg" ||
	fail "locked/a.jpg was not thumbnailed within 90 s of its output folder becoming writable"
resume_ms=$(($(now_ms) - t0))
assert_outputs_exactly 64 jpg

# The error must say which folder cannot be written: the input name alone
# does not tell an operator what to fix.
printf '%s\n' "$line" | grep -q -F "$OUT/locked" ||
	fail "the error does not name the output folder $OUT/locked: ${line#* }"
stop_daemon
pass "unwritable output folder: input kept, no temps, other inputs flowed, logged '${line#* }'; resumed by itself $resume_ms ms after the folder became writable"
