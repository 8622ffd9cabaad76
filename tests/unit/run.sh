#!/usr/bin/env bash
# run.sh TEST-BINARY [CRITERION-OPTIONS...]
# Runs one Criterion test binary for CTest. Criterion exits 0 when its tests
# were skipped (cr_skip_test, .disabled), so CTest would count a binary whose
# every test skipped as passed. This keeps Criterion's own report on stderr,
# asks it for a TAP copy too, and when nothing failed but some test was
# skipped, prints one `SKIP: suite::test: reason` line per skipped test and
# exits 77, CMake's SKIP_RETURN_CODE for every test here. A binary with some
# tests skipped reports skipped as a whole, like a partly skipped script: the
# passing tests are in its log, the skipped ones must not hide behind them.
set -uo pipefail
bin=$1
shift
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
"$bin" --tap="$tap" "$@"
rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
# TAP 13 as Criterion writes it: "ok - suite::test  # SKIP reason"
skipped=$(sed -n 's/^ok - \([^ ]*\) *# SKIP *\(.*\)$/SKIP: \1: \2/p' "$tap")
[ -z "$skipped" ] && exit 0
echo "$skipped"
exit 77
