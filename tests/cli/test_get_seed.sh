#!/usr/bin/env bash
# shoal seed -> shoal get over loopback with --peer: a single file whose size
# is not a multiple of the piece length, and a multi-file torrent with nested
# directories and an empty file; the download must be byte-identical. Also:
# `shoal seed` refuses incomplete data, and a second `get` into a complete
# directory finishes without a peer.
. "$(dirname "$0")/lib.sh"
cd "$T"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# start_seed TORRENT DIR LOG: runs `shoal seed` on an OS-chosen port and sets
# $port from its "seeding on port N" line (polling, up to 60 s).
start_seed() {
  "$SHOAL" seed "$1" "$2" --port 0 --bind 127.0.0.1 "${@:4}" >"$3" 2>&1 &
  pids+=($!)
  port=
  for _ in $(seq 1 600); do
    port=$(sed -n 's/.*seeding on port \([0-9]*\).*/\1/p' "$3" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  bad "seed did not start"; sed 's/^/  seed: /' "$3" | head -20
  return 1
}

# --- single file, 5 MiB + 12345 bytes, 256 KiB pieces
mkdir -p src
head -c $((5 * 1048576 + 12345)) /dev/urandom > src/one.bin
"$SHOAL" create --no-date -l 256K -o one.torrent src/one.bin >/dev/null
if start_seed one.torrent src seed1.log; then
  expect_exit 0 "single file: get --no-seed" timeout 120 "$SHOAL" get one.torrent -o dl1 \
    --peer "127.0.0.1:$port" --no-seed -q --bind 127.0.0.1
  if cmp -s src/one.bin dl1/one.bin; then ok "single file byte-identical"; else bad "single file differs"; fi
fi

# --- --json: every line one JSON object with the torrent and its peers; the
# seed limited to 2 MiB/s so the 5 MiB transfer spans several reports
if start_seed one.torrent src seed3.log --up-rate 2M; then
  expect_exit 0 "get --json" timeout 120 "$SHOAL" get one.torrent -o dl3 \
    --peer "127.0.0.1:$port" --no-seed --json --json-every 1 --bind 127.0.0.1
  cp "$T/out" json.log
  if python3 - "$port" json.log <<'PY'
import json, sys
port, lines = sys.argv[1], open(sys.argv[2]).read().splitlines()
assert lines, "no output"
seen = False
for line in lines:
    r = json.loads(line)  # every line parses
    assert r["torrent"]["name"] == "one.bin", r
    assert 0 <= r["t"] < 120, r["t"]  # the last one too, written after the loop ended
    for p in r["peers"]:
        assert set(p) >= {"addr", "client", "downloaded", "uploaded", "down_rate", "up_rate",
                          "flags", "am_choking", "peer_choking", "incoming"}, p
        if p["addr"] == "127.0.0.1:" + port and p["downloaded"] > 0 and "D" in p["flags"] \
                and p["client"].startswith("shoal"):
            seen = True
assert seen, "no report shows the seed sending"
assert json.loads(lines[-1])["torrent"]["have_bytes"] == 5 * 1048576 + 12345
PY
  then ok "--json lines name the seed, its client, bytes and flags"; else bad "--json output"; head -3 json.log; fi
fi

# --- multi-file: nested directories, an empty file, odd sizes, 64 KiB pieces
mkdir -p src/pack/a/b/c src/pack/d
head -c 100001 /dev/urandom > src/pack/top.bin
head -c 65536 /dev/urandom > src/pack/a/exact.bin
head -c 777 /dev/urandom > src/pack/a/b/small.bin
head -c 1000003 /dev/urandom > src/pack/a/b/c/deep.bin
: > src/pack/d/empty.txt
"$SHOAL" create --no-date -l 64K -o pack.torrent src/pack >/dev/null
if start_seed pack.torrent src seed2.log; then
  expect_exit 0 "multi-file: get --no-seed" timeout 120 "$SHOAL" get pack.torrent -o dl2 \
    --peer "127.0.0.1:$port" --no-seed -q --bind 127.0.0.1
  if diff -r src/pack dl2/pack >/dev/null; then ok "multi-file tree byte-identical"; else bad "multi-file tree differs"; diff -r src/pack dl2/pack | head -5; fi
  if [ -f dl2/pack/d/empty.txt ] && [ ! -s dl2/pack/d/empty.txt ]; then ok "empty file created"; else bad "empty file missing"; fi
  # everything is there already: the check finds it complete, no peer needed
  expect_exit 0 "get into a complete directory" timeout 60 "$SHOAL" get pack.torrent -o dl2 \
    --no-seed -q --bind 127.0.0.1
fi

# --- seed refuses incomplete data, naming the count
cp -a src/pack broken
truncate -s 50000 broken/top.bin
mkdir -p brk && mv broken brk/pack
expect_exit 1 "seed with incomplete data" timeout 60 "$SHOAL" seed pack.torrent brk --port 0 \
  --bind 127.0.0.1
expect_grep "$T/err" 'incomplete' "seed names incomplete data"

finish
