#!/usr/bin/env bash
# run.sh replay|fuzz TARGET CORPUS_DIR
#   replay: run every checked-in input once; fails on any crash, leak or UB.
#   fuzz:   mutate from the corpus for SHOAL_FUZZ_SECONDS (default 20) seconds.
#           New inputs go to a scratch directory, never into the checked-in one.
# Nothing here skips. libFuzzer's own error exit code is 77, which CTest
# reads as "skipped" (SKIP_RETURN_CODE), so every failure exits 1 instead.
set -euo pipefail
mode=$1 target=$2 corpus=$3
[ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "empty corpus: $corpus"; exit 1; }
case $mode in
  replay)
    n=$(find "$corpus" -type f | wc -l)
    log=$(mktemp); trap 'rm -f "$log"' EXIT
    find "$corpus" -type f -print0 | xargs -0 "$target" -runs=1 >/dev/null 2>"$log" \
      || { tail -50 "$log"; exit 1; }
    echo "replayed $n inputs from $(basename "$corpus")" ;;
  fuzz)
    scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
    "$target" -max_total_time="${SHOAL_FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "$scratch" "$corpus" 2>"$scratch.log" \
      || { tail -60 "$scratch.log"; rm -f "$scratch.log"; exit 1; }
    grep -E 'stat::number_of_executed_units' "$scratch.log" || true
    rm -f "$scratch.log" ;;
  *) echo "usage: run.sh replay|fuzz TARGET CORPUS"; exit 2 ;;
esac
