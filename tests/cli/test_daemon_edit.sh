#!/usr/bin/env bash
# shoal daemon: editing a torrent through the RPC. Trackers added, removed
# and replaced (transmission-remote -td/-tr, trackerReplace), announced to
# at once (a local tracker's scrape counts the seed) and kept across a
# restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
TPID=
trap 'for p in $TPID; do kill "$p" 2>/dev/null; done; cleanup' EXIT

# a local tracker, and a port nobody listens on for a dead one
"$SHOAL" tracker --data "$T/trk" --bind 127.0.0.1 -p 0 --interval 60 2>"$T/tracker.log" &
TPID=$!
HTTP=$(log_value "$T/tracker.log" 's/.*serving HTTP on \(http[^ ]*\).*/\1/p') || { bad "tracker did not start"; cat "$T/tracker.log"; finish; exit 1; }
HTTP=${HTTP%/}/announce
DEAD=http://127.0.0.1:$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/announce

# seeders HASH_HEX: "complete" of the local tracker's scrape
seeders() {
  $PY - "${HTTP%announce}scrape" "$1" <<'PYEOF'
import sys, urllib.request, urllib.parse
url, h = sys.argv[1], bytes.fromhex(sys.argv[2])
body = urllib.request.urlopen(url + "?info_hash=" + urllib.parse.quote(h, safe=""), timeout=10).read()
i = body.find(b"8:complete")
print(int(body[i + 11:body.index(b"e", i + 11)]) if i >= 0 else 0)
PYEOF
}
trackers() { call torrent-get "{\"ids\":[$1],\"fields\":[\"trackers\"]}" |
  jq_py '" ".join("%d:%d:%s" % (x["id"], x["tier"], x["announce"]) for x in d["arguments"]["torrents"][0]["trackers"])'; }

mkdir -p "$T/dl"
head -c 1000000 /dev/urandom >"$T/dl/one.bin"
"$SHOAL" create -t "$DEAD" "$T/dl/one.bin" -o "$T/one.torrent" >/dev/null 2>&1
HASH=$("$SHOAL" info --json "$T/one.torrent" | jq_py 'd["info_hash"]')
start_daemon "$T/d1.log" -g "$T/cfg" -w "$T/dl"
expect_exit 0 "-a a seed" trc -a "$T/one.torrent"
ID=$(call torrent-get '{"fields":["id"]}' | jq_py 'd["arguments"]["torrents"][0]["id"]')

# --- trackers ---
expect_exit 0 "-td adds a tracker" trc -t "$ID" -td "$HTTP"
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:$DEAD 1:1:$HTTP$" "added as a tier of its own after the torrent's"
for _ in $(seq 100); do [ "$(seeders "$HASH")" = 1 ] && break; sleep 0.1; done
[ "$(seeders "$HASH")" = 1 ] && ok "the new tracker announced to at once: it counts the seed" \
  || bad "the new tracker never heard of the seed"
expect_exit 0 "-tr removes the dead one" trc -t "$ID" -tr 0
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:$HTTP$" "only the live tracker left, now the first tier"
call torrent-set "{\"ids\":[$ID],\"trackerReplace\":[0,\"${HTTP/127.0.0.1/localhost}\"]}" >"$T/s"
expect_grep "$T/s" '"result": "success"' "trackerReplace answered"
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:${HTTP/127.0.0.1/localhost}$" "replaced in place"
call torrent-set "{\"ids\":[$ID],\"trackerAdd\":[\"ftp://x/announce\"]}" >"$T/s"
expect_grep "$T/s" 'invalid tracker announce URL' "a URL no tracker client speaks refused"
call torrent-set "{\"ids\":[$ID],\"trackerRemove\":[7]}" >"$T/s"
expect_grep "$T/s" 'invalid argument' "an unknown tracker id refused"
call torrent-set "{\"ids\":[$ID],\"trackerList\":\"$HTTP\\n$DEAD\\n\\n${HTTP/127.0.0.1/localhost}\\n\"}" >"$T/s"
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:$HTTP 1:0:$DEAD 2:1:${HTTP/127.0.0.1/localhost}$" "trackerList sets tiers"
stop_daemon
start_daemon "$T/d2.log" -g "$T/cfg" -w "$T/dl"
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:$HTTP 1:0:$DEAD 2:1:${HTTP/127.0.0.1/localhost}$" "the trackers kept across a restart"
stop_daemon
finish
