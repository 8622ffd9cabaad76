#!/usr/bin/env bash
# shoal daemon: editing a torrent through the RPC. Trackers added, removed
# and replaced (transmission-remote -td/-tr, trackerReplace), announced to
# at once (a local tracker's scrape counts the seed) and kept across a
# restart. A file and the top folder renamed (the data on disk too, kept
# across a restart, refused outside the torrent). torrent-set-location
# without moving: the data looked for and checked in the new folder. A
# per-torrent peer limit holds against plain peers, and a per-torrent
# upload limit is measured against a local leecher (bt_peer.py).
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

mkdir -p "$T/dl/multi/sub"
head -c 1000000 /dev/urandom >"$T/dl/one.bin"
"$SHOAL" create -t "$DEAD" "$T/dl/one.bin" -o "$T/one.torrent" >/dev/null 2>&1
head -c 700000 /dev/urandom >"$T/dl/multi/a.bin"
head -c 300000 /dev/urandom >"$T/dl/multi/sub/b.bin"
cp -r "$T/dl/multi" "$T/orig"
"$SHOAL" create "$T/dl/multi" -o "$T/multi.torrent" >/dev/null 2>&1
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

# --- renames ---
expect_exit 0 "-a a folder" trc -a "$T/multi.torrent"
MID=$(call torrent-get '{"fields":["id","name"]}' | jq_py '[t["id"] for t in d["arguments"]["torrents"] if t["name"] == "multi"][0]')
files() { call torrent-get "{\"ids\":[$MID],\"fields\":[\"name\",\"files\",\"percentDone\",\"status\"]}" |
  jq_py '" ".join([d["arguments"]["torrents"][0]["name"], str(d["arguments"]["torrents"][0]["status"]), str(d["arguments"]["torrents"][0]["percentDone"])] + sorted(f["name"] for f in d["arguments"]["torrents"][0]["files"]))'; }
# wait_files REGEX: until the torrent's name, status (6: seeding),
# percentDone and files match
wait_files() { for _ in $(seq 100); do files >"$T/f"; grep -qE "$1" "$T/f" && return 0; sleep 0.1; done; return 1; }
wait_files '^multi 6 1(\.0)? ' || bad "the folder torrent never seeded"
call torrent-rename-path "{\"ids\":[$MID],\"path\":\"multi/a.bin\",\"name\":\"A.bin\"}" >"$T/s"
expect_grep "$T/s" '"name": "A.bin"' "rename of a file of a seeding torrent answered"
wait_files '^multi 6 1(\.0)? multi/A.bin multi/sub/b.bin$' && ok "the file renamed in the list, seeding again" || bad "file list: $(cat "$T/f")"
cmp -s "$T/orig/a.bin" "$T/dl/multi/A.bin" && [ ! -e "$T/dl/multi/a.bin" ] && ok "the file renamed on disk" \
  || bad "the file not renamed on disk"
call torrent-rename-path "{\"ids\":[$MID],\"path\":\"multi\",\"name\":\"renamed\"}" >"$T/s"
wait_files '^renamed 6 1(\.0)? renamed/A.bin renamed/sub/b.bin$' && ok "the top folder renamed: name and files" \
  || bad "after the top rename: $(cat "$T/f")"
cmp -s "$T/orig/sub/b.bin" "$T/dl/renamed/sub/b.bin" && [ ! -e "$T/dl/multi" ] && ok "the folder renamed on disk" \
  || bad "the folder not renamed on disk"
call torrent-rename-path "{\"ids\":[$MID],\"path\":\"renamed/sub\",\"name\":\"A.bin\"}" >"$T/s"
expect_grep "$T/s" 'already there' "a name taken in the torrent refused"
call torrent-rename-path "{\"ids\":[$MID],\"path\":\"../renamed\",\"name\":\"x\"}" >"$T/s"
expect_grep "$T/s" 'invalid argument' "a path outside the torrent refused"
call torrent-rename-path "{\"ids\":[$MID],\"path\":\"renamed/sub\",\"name\":\"..\"}" >"$T/s"
expect_grep "$T/s" 'invalid argument' "a name of .. refused"
call torrent-rename-path "{\"path\":\"renamed/sub\",\"name\":\"x\"}" >"$T/s"
expect_grep "$T/s" 'requires 1 torrent' "a rename of every torrent refused"
[ -e "$T/dl/renamed/sub/b.bin" ] && ok "nothing changed by the refusals" || bad "a refused rename changed the data"

# --- a location without moving the data ---
# where DIR PCT: until torrent ID's downloadDir and percentDone are those
where() {
  for _ in $(seq 100); do
    call torrent-get "{\"ids\":[$ID],\"fields\":[\"downloadDir\",\"percentDone\"]}" |
      jq_py '"%s %g" % (d["arguments"]["torrents"][0]["downloadDir"], d["arguments"]["torrents"][0]["percentDone"])' >"$T/w"
    [ "$(cat "$T/w")" = "$1 $2" ] && return 0; sleep 0.1
  done
  return 1
}
mkdir -p "$T/empty" "$T/elsewhere"
cp "$T/dl/one.bin" "$T/elsewhere/"
call torrent-set-location "{\"ids\":[$ID],\"location\":\"$T/empty\",\"move\":false}" >"$T/s"
expect_grep "$T/s" '"result": "success"' "set-location without moving answered"
where "$T/empty" 0 && ok "pointed at an empty folder: checked there, nothing found" || bad "empty folder: $(cat "$T/w")"
[ -e "$T/dl/one.bin" ] && [ ! -e "$T/empty/one.bin" ] && ok "nothing moved" || bad "the data moved"
call torrent-set-location "{\"ids\":[$ID],\"location\":\"$T/elsewhere\",\"move\":false}" >/dev/null
where "$T/elsewhere" 1 && ok "pointed at a copy of the data: complete there" || bad "copy: $(cat "$T/w")"
expect_exit 0 "-S" trc -t "$ID" -S
call torrent-set-location "{\"ids\":[$ID],\"location\":\"$T/empty\",\"move\":false}" >/dev/null
where "$T/empty" 0 && ok "a stopped torrent checked in its new folder" || bad "stopped: $(cat "$T/w")"
call torrent-set-location "{\"ids\":[$ID],\"location\":\"$T/dl\",\"move\":false}" >/dev/null
where "$T/dl" 1 && ok "and in the next" || bad "stopped, back: $(cat "$T/w")"
trc -l >"$T/l"
expect_grep "$T/l" "^ *$ID .*Stopped" "and stopped still"
call torrent-set-location "{\"ids\":[$ID],\"location\":\"$T/x/../../etc\",\"move\":false}" >"$T/s"
expect_grep "$T/s" 'not absolute' "a location with .. refused"

# --- peer limit and upload limit, against peers of bt_peer.py ---
BT="$PY $(dirname "$0")/bt_peer.py"
expect_exit 0 "-s" trc -t "$ID" -s
for _ in $(seq 100); do trc -l >"$T/l"; grep -Eq "^ *$ID .*(Seeding|Idle)" "$T/l" && break; sleep 0.1; done
PPORT=$(call session-get | jq_py 'd["arguments"]["peer-port"]')
call torrent-set "{\"ids\":[$ID],\"peer-limit\":2}" >/dev/null
N=$($BT conns "$PPORT" "$HASH" 5 1.5)
[ "$N" = 2 ] && ok "peer-limit 2: 2 of 5 peers kept" || bad "peer-limit 2: $N of 5 peers kept"
call torrent-set "{\"ids\":[$ID],\"peer-limit\":10}" >/dev/null
N=$($BT conns "$PPORT" "$HASH" 5 1.5)
[ "$N" = 5 ] && ok "peer-limit 10: all 5 kept" || bad "peer-limit 10: $N of 5 peers kept"
$BT conns "$PPORT" "$HASH" 5 3 >"$T/n" &
sleep 1.5
call torrent-set "{\"ids\":[$ID],\"peer-limit\":3}" >/dev/null
wait $!
[ "$(cat "$T/n")" = 3 ] && ok "lowered to 3 with 5 connected: 2 closed" || bad "lowered to 3: $(cat "$T/n") kept"
call torrent-set "{\"ids\":[$ID],\"peer-limit\":10}" >/dev/null
PLEN=$("$SHOAL" info --json "$T/one.torrent" | jq_py 'd["piece_length"]')
call torrent-set "{\"ids\":[$ID],\"uploadLimit\":100,\"uploadLimited\":true}" >/dev/null
R=$($BT leech "$PPORT" "$HASH" "$PLEN" 1000000 4)
echo "# upload limited to 100 kB/s: $R bytes/s over 4 s"
[ "$R" -ge 50000 ] && [ "$R" -le 125000 ] && ok "uploadLimit 100 kB/s holds: $R B/s" \
  || bad "uploadLimit 100 kB/s: $R B/s"
call torrent-set "{\"ids\":[$ID],\"uploadLimited\":false}" >/dev/null
R=$($BT leech "$PPORT" "$HASH" "$PLEN" 1000000 2)
echo "# upload unlimited: $R bytes/s over 2 s"
[ "$R" -ge 1000000 ] && ok "without the limit the same leecher gets more: $R B/s" \
  || bad "unlimited: only $R B/s"
# the session's limit, then a torrent that does not honour it
expect_exit 0 "-u 100" trc -u 100
R=$($BT leech "$PPORT" "$HASH" "$PLEN" 1000000 4)
echo "# session upload limit 100 kB/s: $R bytes/s over 4 s"
[ "$R" -ge 50000 ] && [ "$R" -le 125000 ] && ok "the session's 100 kB/s holds: $R B/s" \
  || bad "session limit 100 kB/s: $R B/s"
expect_exit 0 "-HL (no-honor-session)" trc -t "$ID" -HL
R=$($BT leech "$PPORT" "$HASH" "$PLEN" 1000000 2)
echo "# not honouring the session's limit: $R bytes/s over 2 s"
[ "$R" -ge 1000000 ] && ok "a torrent that does not honour the session's limit is not held to it: $R B/s" \
  || bad "honorsSessionLimits false: only $R B/s"
call torrent-get "{\"ids\":[$ID],\"fields\":[\"honorsSessionLimits\"]}" >"$T/s"
expect_grep "$T/s" '"honorsSessionLimits": false' "honorsSessionLimits reads back false"
expect_exit 0 "-U (session upload unlimited)" trc -U

stop_daemon
start_daemon "$T/d2.log" -g "$T/cfg" -w "$T/dl"
where "$T/dl" 1 && ok "the new location kept across a restart" || bad "after a restart: $(cat "$T/w")"
call torrent-get "{\"ids\":[$ID],\"fields\":[\"peer-limit\"]}" >"$T/s"
expect_grep "$T/s" '"peer-limit": 10' "the peer limit kept across a restart"
call torrent-get "{\"ids\":[$ID],\"fields\":[\"honorsSessionLimits\"]}" >"$T/s"
expect_grep "$T/s" '"honorsSessionLimits": false' "honorsSessionLimits kept across a restart"
trackers "$ID" >"$T/s"
expect_grep "$T/s" "^0:0:$HTTP 1:0:$DEAD 2:1:${HTTP/127.0.0.1/localhost}$" "the trackers kept across a restart"
wait_files '^renamed 6 1(\.0)? renamed/A.bin renamed/sub/b.bin$' && ok "renames kept across a restart, the data still complete" \
  || bad "after a restart: $(cat "$T/f")"
stop_daemon
finish
