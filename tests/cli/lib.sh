# Helpers for command-line tests: source this, then call check/expect_exit.
# Each test script gets the shoal binary as $1 and a scratch dir in $T.
#
# Skips: a case that cannot run on this machine calls `skip REASON`; a
# script that cannot run at all calls `skip_all REASON`. Either way the
# script ends with exit 77 (the automake convention, CMake's
# SKIP_RETURN_CODE) and one `SKIP: REASON` line per skipped case, so CTest
# reports the test as skipped, never as passed. A failed case still wins:
# any failure makes the exit status 1.
SKIP_CODE=77
set -euo pipefail
SHOAL=$1
# No test contacts the public DHT routers, run by CTest or by hand: a test
# that wants a DHT passes --dht-bootstrap itself.
export SHOAL_DHT_BOOTSTRAP=${SHOAL_DHT_BOOTSTRAP:-none}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
skips=()
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
skip() { skips+=("$*"); echo "skip - $*"; }
skip_all() { echo "SKIP: $*"; exit $SKIP_CODE; }
finish() {
  echo "$passes passed, $fails failed, ${#skips[@]} skipped"
  [ "$fails" -eq 0 ] || return 1
  [ ${#skips[@]} -eq 0 ] && return 0
  printf 'SKIP: %s\n' "${skips[@]}"
  exit $SKIP_CODE
}
