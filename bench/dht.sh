#!/usr/bin/env bash
# DHT node benchmark: `shoal dht` and libtorrent's DHT node side by side,
# one run, on loopback. Usage: bench/dht.sh [BUILD_DIR] (default: build/).
#
# Each node runs alone while it is measured, with no bootstrap node and no
# torrent. shoal-dht-load (bench/dht_load.c) first stores BENCH_HASHES
# info-hashes in it (get_peers for a token, then announce_peer, read back
# with BEP 51's `num`), then sends BENCH_RATE queries a second for
# BENCH_SECONDS from 32 sources: get_peers of stored and of unknown
# info-hashes, find_node, ping, announce_peer. The node's CPU time during
# the load and its memory come from /proc; replies and their latency from
# the generator. libtorrent (python3-libtorrent) runs in a Python process,
# whose interpreter is in its RSS: both idle sizes are printed too.
# libtorrent's own limits (8 KB/s of replies, 5 queries a second from one
# address) are raised so the node, not its defences, is measured; shoal's
# node has no such limit (docs/dht.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-$ROOT/build}
SHOAL=$BUILD/shoal
LOAD=$BUILD/shoal-dht-load
HASHES=${BENCH_HASHES:-10000}
RATE=${BENCH_RATE:-5000}
DUR=${BENCH_SECONDS:-30}
PY=/usr/bin/python3
[ -x "$SHOAL" ] && [ -x "$LOAD" ] || { echo "bench/dht.sh: build first ($SHOAL, $LOAD)"; exit 1; }
$PY -c 'import libtorrent' 2>/dev/null || { echo "bench/dht.sh: python3-libtorrent is missing (make deps)"; exit 1; }
export SHOAL_DHT_BOOTSTRAP=none

T=$(mktemp -d)
SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
free_port() { $PY -c 'import socket,sys
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind((sys.argv[1],0)); print(u.getsockname()[1])' "$1"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# start shoal|libtorrent: the node on its own address (libtorrent answers no
# query from its own address), SRV its pid, ADDR where it listens
start() {
  case $1 in
    shoal)
      ADDR=127.0.0.1:$(free_port 127.0.0.1)
      "$SHOAL" dht --port "${ADDR#*:}" --bind 127.0.0.1 -q & SRV=$! ;;
    libtorrent)
      ADDR=127.0.0.2:$(free_port 127.0.0.2)
      $PY "$HERE/lt_dht_node.py" 127.0.0.2 "${ADDR#*:}" > "$T/lt.out" & SRV=$!
      for _ in $(seq 100); do grep -q ready "$T/lt.out" && break; sleep 0.1; done ;;
  esac
  sleep 1 # let it settle before its idle size is read
}
stop() { kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=; }

declare -A R
echo "# DHT node: shoal dht vs libtorrent $($PY -c 'import libtorrent as lt; print(lt.__version__)'), $(nproc) cores,"
echo "# $HASHES info-hashes stored, $RATE queries/s for ${DUR}s"
for who in shoal libtorrent; do
  start $who
  R[$who.idle]=$(rss_kb "$SRV")
  out=$("$LOAD" --target "$ADDR" --pid "$SRV" --hashes "$HASHES" --rate "$RATE" --seconds "$DUR") || {
    echo "$out"; echo "bench/dht.sh: $who answered fewer than 90 % of the queries"; exit 1; }
  echo "## $who"
  echo "$out" | sed 's/^/  /'
  R[$who.cpu]=$(echo "$out" | sed -n 's/^node *\([0-9.]*\) % of one core.*/\1/p')
  R[$who.rss]=$(echo "$out" | sed -n 's/.*RSS \([0-9.]*\) MiB.*/\1/p')
  R[$who.lat]=$(echo "$out" | sed -n 's/^reply latency *median \([0-9.]*\) ms.*/\1/p')
  R[$who.stored]=$(echo "$out" | sed -n 's/^node reports *\([0-9]*\) info-hashes.*/\1/p')
  stop
done

ratio() { $PY -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (a/b) if b else "-")' "$1" "$2"; }
printf '\n%-36s %12s %12s %8s\n' "" shoal libtorrent ratio
printf '%-36s %12s %12s %8s\n' "info-hashes stored" "${R[shoal.stored]}" "${R[libtorrent.stored]}" -
printf '%-36s %12s %12s %8s\n' "CPU under load, % of one core" "${R[shoal.cpu]}" "${R[libtorrent.cpu]}" \
  "$(ratio "${R[shoal.cpu]}" "${R[libtorrent.cpu]}")"
printf '%-36s %12s %12s %8s\n' "RSS loaded, MiB" "${R[shoal.rss]}" "${R[libtorrent.rss]}" \
  "$(ratio "${R[shoal.rss]}" "${R[libtorrent.rss]}")"
printf '%-36s %12.1f %12.1f %8s\n' "RSS idle, MiB" "$(echo "${R[shoal.idle]} / 1024" | bc -l)" \
  "$(echo "${R[libtorrent.idle]} / 1024" | bc -l)" -
printf '%-36s %12s %12s %8s\n' "median reply latency, ms" "${R[shoal.lat]}" "${R[libtorrent.lat]}" \
  "$(ratio "${R[shoal.lat]}" "${R[libtorrent.lat]}")"
echo "(ratio: shoal / libtorrent; lower is better)"
