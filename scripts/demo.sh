#!/usr/bin/env bash
# The shoal demo: make a sample file, turn it into a torrent, show what the
# torrent says and check the data against it; then run a small swarm on
# loopback (a tracker, a seed, a downloader), show the download's progress
# and compare the copy with the original. Everything goes to demo-out/ at the
# top of the tree (ignored by git). `make demo` runs this after building;
# SHOAL=path overrides the binary, SIZE_MB the sample size.
# Only 127.0.0.1 is used, with ports the kernel picks; every process this
# script starts is stopped when it exits, however it exits.
set -euo pipefail
# shoal get/seed: no DHT bootstrap from the public routers here
export SHOAL_DHT_BOOTSTRAP=${SHOAL_DHT_BOOTSTRAP:-none}
top=$(cd "$(dirname "$0")/.." && pwd)
SHOAL=${SHOAL:-$top/build/shoal}
SIZE_MB=${SIZE_MB:-256}
out=$top/demo-out
[ -x "$SHOAL" ] || { echo "no shoal binary at $SHOAL (run make first)" >&2; exit 2; }

step() { printf '\n=== %s\n' "$*"; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# wait_for FILE REGEX WHAT: until a background process logs REGEX (60 s)
wait_for() {
  for _ in $(seq 600); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "gave up waiting for $3; its log:" >&2; tail -20 "$1" >&2; exit 1
}

rm -rf "$out"
mkdir -p "$out/seed"

step "0. shoal tracker: an HTTP+UDP tracker on 127.0.0.1, on a port the kernel picks"
"$SHOAL" tracker -p 0 --bind 127.0.0.1 --data "$out/tracker" >"$out/tracker.log" 2>&1 &
pids+=($!)
wait_for "$out/tracker.log" 'serving HTTP on http://127\.0\.0\.1:[0-9]+/' "the tracker"
announce=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$out/tracker.log" | head -1)announce
echo "tracker up: $announce (log: demo-out/tracker.log)"

step "1. a ${SIZE_MB} MiB sample file: demo-out/seed/sample.bin"
head -c $((SIZE_MB * 1048576)) /dev/urandom > "$out/seed/sample.bin"
ls -l "$out/seed/sample.bin"

step "2. shoal create: hash it into demo-out/sample.torrent, announcing to our tracker"
"$SHOAL" create -t "$announce" -c "shoal demo" -o "$out/sample.torrent" \
  "$out/seed/sample.bin"

step "3. shoal info: what the torrent says"
"$SHOAL" info "$out/sample.torrent"

step "4. shoal verify: the data matches the torrent"
"$SHOAL" verify "$out/sample.torrent" "$out/seed"

step "5. shoal seed: verify demo-out/seed again and serve it (log: demo-out/seed.log)"
"$SHOAL" seed "$out/sample.torrent" "$out/seed" --bind 127.0.0.1 >"$out/seed.log" 2>&1 &
pids+=($!)
wait_for "$out/seed.log" 'seeding on port' "the seed"
grep -m1 'seeding on port' "$out/seed.log"

step "6. shoal get: the tracker names the seed; download into demo-out/leech"
start=$(date +%s.%N)
"$SHOAL" get "$out/sample.torrent" -o "$out/leech" --bind 127.0.0.1 --no-seed
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" -v mb="$SIZE_MB" \
  'BEGIN { printf "downloaded %d MiB in %.1f s (%.0f MiB/s) over loopback\n", mb, b - a, mb / (b - a) }'

step "7. cmp: the copy is the original, byte for byte"
cmp "$out/seed/sample.bin" "$out/leech/sample.bin"
echo "identical: demo-out/leech/sample.bin == demo-out/seed/sample.bin"

step "8. flip one byte in the middle of the copy and verify it: the damage is found"
at=$((SIZE_MB * 524288))
byte=$(od -An -tu1 -j "$at" -N1 "$out/leech/sample.bin" | tr -d ' ')
printf "\\$(printf %o $((255 - byte)))" | dd of="$out/leech/sample.bin" bs=1 seek="$at" conv=notrunc 2>/dev/null
rc=0
"$SHOAL" verify "$out/sample.torrent" "$out/leech" || rc=$?
echo "(verify exited with $rc: 1 means data missing or corrupt)"

printf '\nDone. Files are in demo-out/.\n'
