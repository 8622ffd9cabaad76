#!/usr/bin/env bash
# `shoal dht` and the DHT of `shoal get`/`shoal seed`, all on loopback:
# two standalone nodes find each other and one saves its state; then a
# seed of a torrent with no tracker announces to the DHT alone, and
# `shoal get` with nothing but a bootstrap node finds it and completes,
# byte-identical, from the .torrent and from a magnet link that holds the
# info-hash alone (the metadata fetched from the seed the DHT named). Bad
# options are refused by name.
. "$(dirname "$0")/lib.sh"
cd "$T"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

expect_exit 0 "shoal dht --help" "$SHOAL" dht --help
expect_grep "$T/out" '--bootstrap HOST:PORT' "help lists --bootstrap"
expect_exit 2 "a bootstrap node without a port is refused" "$SHOAL" dht --bootstrap localhost
expect_grep "$T/err" "bootstrap 'localhost'" "names the option and value"
expect_exit 2 "--status-every 0 is refused" "$SHOAL" dht --status-every 0
expect_exit 2 "get: a bad --dht-bootstrap is refused" "$SHOAL" get --dht-bootstrap '[::1' x.torrent

# wait_for FILE REGEX: polls up to 30 s for a line, sets $match
wait_for() {
  match=
  for _ in $(seq 1 300); do
    match=$(grep -E -m1 -- "$2" "$1" || true)
    [ -n "$match" ] && return 0
    sleep 0.1
  done
  return 1
}

# start_node NAME ARGS...: a standalone node on a free port; sets $port
start_node() {
  local name=$1; shift
  "$SHOAL" dht --port 0 --bind 127.0.0.1 --status-every 1 "$@" >"$name.log" 2>&1 &
  pids+=($!)
  port=
  wait_for "$name.log" 'DHT node on port [0-9]+' && port=$(sed -n 's/DHT node on port \([0-9]*\).*/\1/p' "$name.log" | head -1)
  [ -n "$port" ] || { bad "$name did not start"; sed 's/^/  | /' "$name.log"; finish; }
}

start_node a --state-dir state
a_port=$port a_pid=${pids[-1]}
start_node b --bootstrap "127.0.0.1:$a_port"
if wait_for b.log 'nodes 1 \(1 good\)' && wait_for a.log 'nodes 1 \(1 good\)'; then
  ok "two nodes know each other"
else
  bad "the nodes did not meet"; tail -3 a.log b.log
fi
kill -INT "$a_pid"
rc=0; wait "$a_pid" || rc=$?
[ "$rc" -eq 0 ] && ok "SIGINT stops a node gracefully" || bad "node exited $rc"
[ -s state/dht.dat ] && ok "the node saved its id and nodes" || bad "no state/dht.dat"
start_node a2 --state-dir state
if wait_for b.log 'nodes 1 \(1 good\)' && wait_for a2.log 'nodes 1 \(1 good\)'; then
  ok "restarted from its saved state, it finds its node again"
else
  bad "the restarted node is alone"; tail -3 a2.log
fi

# --- a trackerless torrent over the DHT: seed, bootstrap node, leecher
boot=$port
mkdir -p src
head -c $((3 * 1048576 + 777)) /dev/urandom > src/dht.bin
"$SHOAL" create --no-date -l 256K -o dht.torrent src/dht.bin >/dev/null
"$SHOAL" seed dht.torrent src --port 0 --bind 127.0.0.1 --dht-bootstrap "127.0.0.1:$boot" -v \
  >seed.log 2>&1 &
pids+=($!)
if wait_for a2.log 'stored 1 info-hashes'; then
  ok "the seed announced to the DHT"
else
  bad "no announce reached the bootstrap node"; tail -5 seed.log a2.log
fi
expect_exit 0 "get with only a bootstrap node completes" timeout 120 "$SHOAL" get dht.torrent \
  -o dl --port 0 --bind 127.0.0.1 --dht-bootstrap "127.0.0.1:$boot" --no-seed -q
cmp -s src/dht.bin dl/dht.bin && ok "downloaded through the DHT, byte-identical" || bad "data differs"

# --- the same with a bare magnet link: no tr, no x.pe, no .torrent
ih=$("$SHOAL" info --json dht.torrent | sed -n 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/p')
expect_exit 0 "get MAGNET with only a bootstrap node completes" timeout 120 "$SHOAL" get \
  "magnet:?xt=urn:btih:$ih" -o dl-mag --port 0 --bind 127.0.0.1 --dht-bootstrap "127.0.0.1:$boot" \
  --no-seed -v
expect_grep "$T/err" "dht.bin: metadata received from 127.0.0.1:[0-9]+" "the metadata came from the seed"
cmp -s src/dht.bin dl-mag/dht.bin && ok "the magnet's data is byte-identical" || bad "magnet data differs"
# a magnet whose only source would be the DHT, with no node answering
expect_exit 1 "get MAGNET gives up when the DHT reaches no node" "$SHOAL" get \
  "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a" -o dl-none --port 0 \
  --bind 127.0.0.1 --dht-bootstrap 127.0.0.1:9 --no-seed --no-peer-timeout 2 -q
expect_grep "$T/err" "no peers for 2s: the magnet link names no trackers and the DHT reached no node" \
  "says why, naming the magnet link"
finish
