#!/usr/bin/env bash
# The shoal demo, first version: make a sample file, turn it into a torrent,
# show what the torrent says, and check the data against it. Everything goes
# to demo-out/ at the top of the tree (ignored by git). `make demo` runs this
# after building; SHOAL=path overrides the binary, SIZE_MB the sample size.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
SHOAL=${SHOAL:-$top/build/shoal}
SIZE_MB=${SIZE_MB:-64}
out=$top/demo-out
[ -x "$SHOAL" ] || { echo "no shoal binary at $SHOAL (run make first)" >&2; exit 2; }

step() { printf '\n=== %s\n' "$*"; }

rm -rf "$out"
mkdir -p "$out/seed"
step "1. a ${SIZE_MB} MiB sample file: demo-out/seed/sample.bin"
head -c $((SIZE_MB * 1048576)) /dev/urandom > "$out/seed/sample.bin"
ls -l "$out/seed/sample.bin"

step "2. shoal create: hash it into demo-out/sample.torrent"
"$SHOAL" create -t http://127.0.0.1:6969/announce -c "shoal demo" -o "$out/sample.torrent" \
  "$out/seed/sample.bin"

step "3. shoal info: what the torrent says"
"$SHOAL" info "$out/sample.torrent"

step "4. shoal verify: the data matches the torrent"
"$SHOAL" verify "$out/sample.torrent" "$out/seed"

step "5. flip one byte in the middle and verify again: the damage is found"
at=$((SIZE_MB * 524288))
byte=$(od -An -tu1 -j "$at" -N1 "$out/seed/sample.bin" | tr -d ' ')
printf "\\$(printf %o $((255 - byte)))" | dd of="$out/seed/sample.bin" bs=1 seek="$at" conv=notrunc 2>/dev/null
rc=0
"$SHOAL" verify "$out/sample.torrent" "$out/seed" || rc=$?
echo "(verify exited with $rc: 1 means data missing or corrupt)"

printf '\nDone. Files are in demo-out/.\n'
