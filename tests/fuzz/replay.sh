#!/usr/bin/env bash
# Replay one harness's corpus as an ordinary test:
#   replay.sh HARNESS-EXE NAME
# Seeds are generated fresh (scripts/fuzz-seeds), regressions are committed.
set -euo pipefail
exe=$1
name=$2
src=${THUMBD_SRCDIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/fuzz-seeds" "$tmp" "$name" >/dev/null
dirs=("$tmp/$name")
[ -d "$src/tests/fuzz/regress/$name" ] && dirs+=("$src/tests/fuzz/regress/$name")
"$exe" "${dirs[@]}"
