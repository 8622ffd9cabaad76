#!/usr/bin/env bash
# Tracker benchmark: shoal tracker and opentracker side by side, one run, on
# loopback. Usage: bench/tracker.sh [BUILD_DIR] (default: build/, as `make`).
#
#   HTTP announces with wrk: a new connection per request (as real clients
#   do) and keep-alive; every request a new peer over BENCH_TORRENTS torrents.
#   UDP announces with shoal-udp-load: connect once, then keep a window of
#   announces in flight, tens of thousands of distinct peers.
#   Memory: BENCH_MEM_TORRENTS x BENCH_MEM_PEERS peers announced over UDP,
#   RSS growth per peer.
# Each tracker runs alone while it is measured. opentracker (Debian) only
# tracks whitelisted hashes, so it gets a whitelist of the same hashes.
# Besides requests per second it prints the server's CPU time per request:
# on a small machine wrk and the kernel's TCP set-up often bound the rate,
# and CPU per request is what the tracker itself costs. The client's own CPU
# per request is printed too: when wrk (one thread) is near 100 % of a core,
# the rate measures the client, whatever the server does.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-$ROOT/build}
SHOAL=$BUILD/shoal
LOAD=$BUILD/shoal-udp-load
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
WRK_T=${BENCH_WRK_THREADS:-1}
TORRENTS=${BENCH_TORRENTS:-1000}
MEM_T=${BENCH_MEM_TORRENTS:-100000}
MEM_N=${BENCH_MEM_PEERS:-10}
PY=/usr/bin/python3
for tool in wrk opentracker; do
  command -v $tool >/dev/null || { echo "bench/tracker.sh: $tool is missing (make deps)"; exit 1; }
done
[ -x "$SHOAL" ] && [ -x "$LOAD" ] || { echo "bench/tracker.sh: build first ($SHOAL, $LOAD)"; exit 1; }

T=$(mktemp -d)
# opentracker drops root for "nobody" before it reads the whitelist, and
# mktemp -d makes the directory 0700: without this it silently tracks nothing
chmod 755 "$T"
SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

whitelist() { # N FILE: hashes 0..N-1 as bench/udp_load.c makes them
  $PY -c 'import sys
n = int(sys.argv[1])
with open(sys.argv[2], "w") as f:
    for i in range(n): f.write(("%08x" % i) * 5 + "\n")' "$1" "$2"
}
free_port() { $PY -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
p=s.getsockname()[1]; u.bind(("127.0.0.1",p)); print(p)'; }
wait_port() { for _ in $(seq 100); do
  $PY -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$1" 2>/dev/null && return 0
  sleep 0.1; done; echo "server on port $1 did not come up"; exit 1; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

start() { # shoal|opentracker PORT WHITELIST
  case $1 in
    shoal) "$SHOAL" tracker --data "$T/data" --bind 127.0.0.1 -p "$2" -q ${SHOAL_THREADS:+--threads $SHOAL_THREADS} & ;;
    opentracker) opentracker -i 127.0.0.1 -p "$2" -P "$2" -w "$3" >/dev/null 2>&1 & ;;
  esac
  SRV=$!
  wait_port "$2"
}
stop() { kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=; }
# seeders + leechers of torrent 5 per an HTTP scrape: proof that a tracker
# really stored the announces (a failure reason also comes back as 200 OK)
peers_of_5() { $PY -c 'import re, sys, urllib.request
h = "%00%00%00%05" * 5
r = urllib.request.urlopen("http://127.0.0.1:%s/scrape?info_hash=%s" % (sys.argv[1], h), timeout=10).read()
c = re.search(rb"8:completei(\d+)e", r); i = re.search(rb"10:incompletei(\d+)e", r)
print(int(c.group(1)) + int(i.group(1)) if c and i else 0)' "$1"; }

whitelist "$TORRENTS" "$T/wl"
declare -A R
for k in shoal opentracker; do for m in http_close http_close_us http_close_wrk http_keepalive http_keepalive_us udp udp_us rss bpp; do R[$k.$m]=-; done; done
echo "# shoal tracker vs opentracker, $(nproc) cores, ${DUR}s per run, wrk -t$WRK_T -c$CONNS, $TORRENTS torrents"
for who in ${BENCH_RATES:-shoal opentracker}; do
  for mode in close keepalive; do
    port=$(free_port); start $who "$port" "$T/wl"
    hdr=(); [ $mode = close ] && hdr=(-H "Connection: close")
    c0=$(cpu_ticks "$SRV")
    out=$(BENCH_TORRENTS=$TORRENTS /usr/bin/time -f "wrk-cpu %U %S" \
          wrk -t"$WRK_T" -c"$CONNS" -d"${DUR}s" -s "$HERE/tracker_announce.lua" \
          "${hdr[@]}" "http://127.0.0.1:$port/" 2>&1)
    c1=$(cpu_ticks "$SRV")
    tracked=$(peers_of_5 "$port")
    [ "$tracked" -gt 0 ] || { echo "http $mode $who: the announces were not stored"; exit 1; }
    stop
    rps=$(awk '/^Requests\/sec/{print int($2)}' <<<"$out")
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out"); non2xx=${non2xx:-0}
    R[$who.http_$mode]=$rps
    wrk_us=$(awk -v n="$reqs" '/^wrk-cpu/{printf "%.1f", ($2+$3)*1e6/n}' <<<"$out")
    R[$who.http_${mode}_wrk]=$wrk_us
    R[$who.http_${mode}_us]=$(awk -v c=$((c1 - c0)) -v n="$reqs" 'BEGIN{printf "%.1f", c*10000/n}')
    echo "http $mode  $who: $rps req/s, server CPU ${R[$who.http_${mode}_us]} us/request, wrk CPU $wrk_us us/request, non-2xx $non2xx"
  done
  port=$(free_port); start $who "$port" "$T/wl"
  c0=$(cpu_ticks "$SRV")
  out=$("$LOAD" -p "$port" -d "$DUR" -t "$TORRENTS" -P 50000 -s 4 -w 64 -W 50)
  c1=$(cpu_ticks "$SRV")
  stop
  rps=$(sed -n 's/^udp announces\/s: \([0-9]*\).*/\1/p' <<<"$out")
  reqs=$(sed -n 's/.*(replies \([0-9]*\) in.*/\1/p' <<<"$out")
  R[$who.udp]=$rps
  R[$who.udp_us]=$(awk -v c=$((c1 - c0)) -v n="$reqs" 'BEGIN{printf "%.2f", c*10000/n}')
  echo "udp        $who: $rps announces/s, server CPU ${R[$who.udp_us]} us/announce ($out)"
done

whitelist "$MEM_T" "$T/wl_mem"
peers=$((MEM_T * MEM_N))
for who in shoal opentracker; do
  port=$(free_port); start $who "$port" "$T/wl_mem"
  sleep 0.5
  r0=$(rss_kb "$SRV")
  "$LOAD" --fill -p "$port" -t "$MEM_T" -n "$MEM_N" >/dev/null
  sleep 0.5
  r1=$(rss_kb "$SRV")
  # check the peers are really stored: torrent 5 must have all its peers
  got=$(peers_of_5 "$port")
  [ "$got" = "$MEM_N" ] || { echo "memory     $who: torrent 5 has $got peers, expected $MEM_N: not tracking"; exit 1; }
  stop
  R[$who.rss]=$r1
  R[$who.bpp]=$(awk -v a="$r0" -v b="$r1" -v n="$peers" 'BEGIN{printf "%.1f", (b-a)*1024/n}')
  echo "memory     $who: RSS ${r0} kB idle -> ${r1} kB with $peers peers over $MEM_T torrents: ${R[$who.bpp]} bytes/peer"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "| measure | shoal | opentracker | shoal/opentracker |"
echo "| --- | ---: | ---: | ---: |"
echo "| HTTP announces/s, new connection each | ${R[shoal.http_close]} | ${R[opentracker.http_close]} | $(ratio ${R[shoal.http_close]} ${R[opentracker.http_close]}) |"
echo "| HTTP server CPU us/request, new connection each | ${R[shoal.http_close_us]} | ${R[opentracker.http_close_us]} | $(ratio ${R[shoal.http_close_us]} ${R[opentracker.http_close_us]}) |"
echo "| wrk (client) CPU us/request, new connection each | ${R[shoal.http_close_wrk]} | ${R[opentracker.http_close_wrk]} | $(ratio ${R[shoal.http_close_wrk]} ${R[opentracker.http_close_wrk]}) |"
echo "| HTTP announces/s, keep-alive (opentracker closes anyway) | ${R[shoal.http_keepalive]} | ${R[opentracker.http_keepalive]} | $(ratio ${R[shoal.http_keepalive]} ${R[opentracker.http_keepalive]}) |"
echo "| UDP announces/s | ${R[shoal.udp]} | ${R[opentracker.udp]} | $(ratio ${R[shoal.udp]} ${R[opentracker.udp]}) |"
echo "| UDP server CPU us/announce | ${R[shoal.udp_us]} | ${R[opentracker.udp_us]} | $(ratio ${R[shoal.udp_us]} ${R[opentracker.udp_us]}) |"
echo "| RSS with $peers peers (kB) | ${R[shoal.rss]} | ${R[opentracker.rss]} | $(ratio ${R[shoal.rss]} ${R[opentracker.rss]}) |"
echo "| bytes per peer | ${R[shoal.bpp]} | ${R[opentracker.bpp]} | $(ratio ${R[shoal.bpp]} ${R[opentracker.bpp]}) |"
