#!/usr/bin/env bash
# Magnet links on the command line: `shoal info MAGNET` (text and JSON),
# `shoal info --magnet FILE.torrent` (and that link parses back), refusals
# with their reasons, and `shoal get MAGNET` from a `shoal seed` found only
# through the link's x.pe: metadata fetched, data identical, the .torrent
# written by --save-torrent, --only applied once the files are known, and
# a second run that takes the metadata from the resume data, with no peer.
. "$(dirname "$0")/lib.sh"
cd "$T"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

HEX=c12fe1c06bba254a9dc9f519b335aa7c1367a88a

# --- shoal info MAGNET
expect_exit 0 "info MAGNET" "$SHOAL" info \
  "magnet:?xt=urn:btih:$HEX&dn=Big+Buck&tr=udp%3A%2F%2Ft.example%3A6969&x.pe=10.1.2.3:6881&so=0,2-3"
expect_grep "$T/out" "^info-hash: +$HEX" "the info-hash"
expect_grep "$T/out" "^name: +Big Buck" "the name, '+' as a space"
expect_grep "$T/out" "^trackers: +udp://t.example:6969" "the tracker, unescaped"
expect_grep "$T/out" "^peers: +10.1.2.3:6881" "the x.pe peer"
expect_grep "$T/out" "^select \(so\): +0 2-3" "the BEP 53 selection"
expect_exit 0 "info --json MAGNET" "$SHOAL" info --json "magnet:?xt=urn:btih:$HEX&tr=http://a/b"
expect_grep "$T/out" "\"info_hash\":\"$HEX\",\"name\":null,\"trackers\":\[\"http://a/b\"\]" "JSON"

# --- refusals
expect_exit 2 "a short info-hash" "$SHOAL" info "magnet:?xt=urn:btih:c12fe1"
expect_grep "$T/err" "6 characters: it must be 40 hex digits or 32 base32" "says why"
expect_exit 2 "a v2-only link" "$SHOAL" info \
  "magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e"
expect_grep "$T/err" "v2 torrents are not supported yet" "says why"
expect_exit 2 "another URN" "$SHOAL" info "magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C"
expect_grep "$T/err" "not a BitTorrent magnet link" "says why"
expect_exit 2 "get refuses it too" "$SHOAL" get -q "magnet:?dn=nothing"
expect_grep "$T/err" "no xt=urn:btih" "says why"

# --- a torrent's link, and back
mkdir -p src/pack/sub
head -c 300001 /dev/urandom > src/pack/a.bin
head -c 70000 /dev/urandom > src/pack/sub/b.bin
head -c 5000 /dev/urandom > src/pack/c.bin
"$SHOAL" create --no-date -l 64K -t http://127.0.0.1:9/announce -o pack.torrent src/pack >/dev/null
expect_exit 0 "info --magnet" "$SHOAL" info --magnet pack.torrent
link=$(cat "$T/out")
ih=$("$SHOAL" info --json pack.torrent | sed -n 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/p')
expect_grep "$T/out" "^magnet:\?xt=urn:btih:$ih&dn=pack&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce$" \
  "xt, dn and tr, escaped"
expect_exit 0 "the link parses back" "$SHOAL" info "$link"
expect_grep "$T/out" "^trackers: +http://127.0.0.1:9/announce" "with its tracker"

# --- shoal get MAGNET from a shoal seed named by x.pe
"$SHOAL" seed pack.torrent src --port 0 --bind 127.0.0.1 >seed.log 2>&1 &
pids+=($!)
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*seeding on port \([0-9]*\).*/\1/p' seed.log | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  bad "seed did not start"; sed 's/^/  seed: /' seed.log | head
else
  expect_exit 0 "get MAGNET (x.pe, --only 1,3)" timeout 120 "$SHOAL" get "$link&x.pe=127.0.0.1:$port" \
    -o dl --no-seed --bind 127.0.0.1 --save-torrent saved.torrent --only 1,3
  expect_grep "$T/out" "the .torrent is saved in saved.torrent" "says where the .torrent went"
  if cmp -s src/pack/a.bin dl/pack/a.bin && cmp -s src/pack/sub/b.bin dl/pack/sub/b.bin; then
    ok "the files --only named are identical"
  else
    bad "files differ"
  fi
  # files in path order: a.bin, c.bin, sub/b.bin; --only 1,3 named a and b
  saved_ih=$("$SHOAL" info --json saved.torrent | sed -n 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/p')
  if [ "$saved_ih" = "$ih" ]; then ok "the saved .torrent has the info-hash"; else bad "saved .torrent: '$saved_ih'"; fi
  expect_exit 0 "the saved .torrent keeps the link's tracker" "$SHOAL" info saved.torrent
  expect_grep "$T/out" "tier 1: http://127.0.0.1:9/announce" "tracker kept"
  kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
  # again, without any peer: the metadata comes from the resume data
  expect_exit 0 "get MAGNET again, no peer" timeout 60 "$SHOAL" get "$link" -o dl --no-seed \
    --bind 127.0.0.1 --only 1,3
  expect_grep "$T/out" "already on disk" "complete from what is there"
  if grep -q "fetching metadata" "$T/out"; then bad "it fetched the metadata again"; else ok "no fetch"; fi
fi
finish
