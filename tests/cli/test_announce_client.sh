#!/usr/bin/env bash
# The tracker client inside `shoal get` / `shoal seed`, against a real
# `shoal tracker` on 127.0.0.1: peers find each other only through the
# tracker (no --peer), over HTTP (with a dead tracker in the same tier, so
# the BEP 12 walk has to skip it) and over UDP (BEP 15). Afterwards the
# tracker's scrape must show the seed alone: the downloader's `completed`
# was counted and its `stopped` took it out of the swarm.
. "$(dirname "$0")/lib.sh"
cd "$T"
PY=/usr/bin/python3

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# wait_line FILE SED_EXPR PID: polls FILE (up to 60 s) until SED_EXPR prints
# something, echoes it; fails if PID dies first
wait_line() {
  local v
  for _ in $(seq 1 600); do
    v=$(sed -n "$2" "$1" | head -1)
    [ -n "$v" ] && { echo "$v"; return 0; }
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

"$SHOAL" tracker --data "$T/trk" --bind 127.0.0.1 -p 0 --interval 60 2>tracker.log &
pids+=($!)
TPID=$!
HTTP=$(wait_line tracker.log 's/.*serving HTTP on \(http[^ ]*\).*/\1/p' $TPID) || { bad "tracker did not start"; cat tracker.log; finish; exit 1; }
UDP=$(wait_line tracker.log 's/.*serving UDP on \(udp[^ ]*\).*/\1/p' $TPID) || { bad "no UDP"; finish; exit 1; }
HTTP=${HTTP%/}/announce
ok "tracker at $HTTP and $UDP"

# a port nobody listens on, for the dead tracker
DEAD=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

mkdir -p src
head -c $((3 * 1048576 + 4321)) /dev/urandom > src/data.bin
"$SHOAL" create --no-date -l 256K -t "http://127.0.0.1:$DEAD/announce,$HTTP" -o http.torrent \
  -n data.bin src/data.bin >/dev/null
# -s gives the UDP torrent its own info-hash, so the two swarms stay apart
"$SHOAL" create --no-date -l 256K -t "$UDP" -o udp.torrent -n data.bin -s udp src/data.bin >/dev/null

# scrape HASH_HEX: prints "complete downloaded incomplete" from the HTTP scrape
scrape() {
  $PY - "${HTTP%announce}scrape" "$1" <<'PYEOF'
import sys, urllib.request, urllib.parse
url, h = sys.argv[1], bytes.fromhex(sys.argv[2])
body = urllib.request.urlopen(url + "?info_hash=" + urllib.parse.quote(h, safe=""), timeout=10).read()
def val(key):
    k = b"%d:%s" % (len(key), key)
    i = body.find(k)
    if i < 0: return -1
    i += len(k) + 1
    return int(body[i:body.index(b"e", i)])
print(val(b"complete"), val(b"downloaded"), val(b"incomplete"))
PYEOF
}

run_case() { # NAME TORRENT
  local name=$1 tor=$2 hash
  hash=$("$SHOAL" info --json "$tor" | $PY -c 'import json,sys; print(json.load(sys.stdin)["info_hash"])')
  "$SHOAL" seed "$tor" src --port 0 --bind 127.0.0.1 >"seed-$name.log" 2>&1 &
  local spid=$!
  pids+=($spid)
  wait_line "seed-$name.log" 's/.*seeding on port \([0-9]*\).*/\1/p' $spid >/dev/null \
    || { bad "$name: seed did not start"; sed 's/^/  seed: /' "seed-$name.log" | head; return; }
  # the seed announces right after its check: wait until the tracker knows it
  local s=
  for _ in $(seq 1 300); do
    s=$(scrape "$hash")
    [ "${s%% *}" = 1 ] && break
    sleep 0.1
  done
  [ "${s%% *}" = 1 ] && ok "$name: the seed announced itself" || bad "$name: seed not on the tracker ($s)"
  expect_exit 0 "$name: get finds the seed through the tracker" timeout 120 \
    "$SHOAL" get "$tor" -o "dl-$name" --no-seed -q --bind 127.0.0.1
  if cmp -s src/data.bin "dl-$name/data.bin"; then ok "$name: byte-identical"; else bad "$name: data differs"; fi
  # the getter's completed and stopped reached the tracker before it exited
  s=$(scrape "$hash")
  [ "$s" = "1 1 0" ] && ok "$name: scrape shows 1 seed, 1 completed, 0 leechers" \
    || bad "$name: scrape after get is '$s', wanted '1 1 0'"
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  # the seed's stopped on SIGTERM empties the swarm
  for _ in $(seq 1 100); do
    s=$(scrape "$hash")
    case "${s%% *}" in 0 | -1) break ;; esac
    sleep 0.1
  done
  case "${s%% *}" in 0 | -1) true ;; *) false ;; esac && ok "$name: seed's stopped removed it" || bad "$name: seed still listed ($s)"
}

run_case http http.torrent
run_case udp udp.torrent
finish
