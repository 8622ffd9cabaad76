# Helpers for command-line tests: source this, then call check/expect_exit.
# Each test script gets the shoal binary as $1 and a scratch dir in $T.
set -euo pipefail
SHOAL=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok - $*"; }
bad() { fails=$((fails + 1)); echo "FAIL - $*"; }
# expect_exit CODE DESC cmd...: runs cmd, output in $T/out and $T/err
expect_exit() {
  local want=$1 desc=$2; shift 2
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$desc"; else bad "$desc (exit $rc, wanted $want)"; sed 's/^/  err: /' "$T/err" | head -20; fi
}
# expect_grep FILE REGEX DESC
expect_grep() {
  if grep -qE -- "$2" "$1"; then ok "$3"; else bad "$3 (no /$2/ in $(basename "$1"))"; sed 's/^/  | /' "$1" | head -20; fi
}
finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
