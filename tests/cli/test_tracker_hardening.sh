#!/usr/bin/env bash
# shoal tracker against what a hostile client or an operator's slip does:
# floods of POST bodies (memory stays bounded, announces keep being
# answered), upload errors (one shape, no server paths), blocklisted hosted
# torrents, a missing --blocklist file, bad % escapes, peers that re-announce
# less often than asked. Loopback only, ports the kernel picks.
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0")
PY=/usr/bin/python3
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# start [args...]: a tracker on 127.0.0.1, port from its log; sets PID, PORT
start() {
  : >"$T/log"
  "$SHOAL" tracker --data "$T/data" --bind 127.0.0.1 -p 0 "$@" 2>"$T/log" &
  PID=$!
  PORT=
  for _ in $(seq 100); do
    grep -q 'worker thread' "$T/log" && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  PORT=$(sed -n 's|.*serving HTTP on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/log" | head -1)
  [ -n "$PORT" ] || { bad "tracker did not start: $(cat "$T/log")"; return 1; }
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }
URL() { echo "http://127.0.0.1:$PORT$1"; }

# a valid torrent, and one too large to host
$PY "$HERE/mktorrent.py" "$T/one.torrent" "$HERE/mktorrent.py" --name one
H1=$("$SHOAL" info "$T/one.torrent" | sed -n 's/^info-hash: *//p')
head -c 5000000 /dev/zero >"$T/big.torrent"

# ---- 1. POST bodies: decided from the headers; memory bounded ----
# The issue's attack: 200 connections each sending a 4 MiB body but its last
# byte. Bound: the tracker's own ~10 MB plus --upload-memory (16 MiB by
# default) for the one kind whose body must be read (a form, whose token is
# inside it); 40 MB leaves room for the allocator.
for kind in upload announce form; do
  start --upload-token s3cret
  if $PY "$HERE/tracker_flood.py" "$PID" "$PORT" "$kind" 200 40 >"$T/flood.out" 2>&1; then
    ok "$(cat "$T/flood.out")"
  else
    bad "$(cat "$T/flood.out")"
  fi
  stop
done
start --upload-token s3cret
code=$(curl -s -o "$T/r" -w '%{http_code}' -X POST --data-binary @"$T/one.torrent" "$(URL /announce)")
[ "$code" = 405 ] && ok "POST /announce: 405 before the body" || bad "POST /announce gave $code"
code=$(curl -s -o "$T/r" -w '%{http_code}' -H 'X-Upload-Token: nope' --data-binary @"$T/big.torrent" "$(URL /upload)")
[ "$code" = 401 ] && ok "wrong token with a 5 MB body: 401, not 413 nor a reset" || bad "gave $code"
curl -s "$(URL /stats)" >"$T/stats.json"
expect_grep "$T/stats.json" '"upload_memory":\{"held":0,"cap":16777216,"refused":0\}' "/stats reports upload memory"

# ---- 13. upload errors: one shape, no server paths ----
code=$(curl -s -o "$T/r" -w '%{http_code}' -H 'X-Upload-Token: s3cret' --data-binary @"$T/big.torrent" "$(URL /upload)")
[ "$code" = 413 ] && ok "raw upload too large: 413" || bad "raw upload too large gave $code"
if head -c 2 "$T/r" | grep -q '^d[0-9]'; then bad "413 is not bencoded: $(cat "$T/r")"; else ok "413 is plain text like the other upload errors"; fi
expect_grep "$T/r" '^rejected: the upload is larger than' "413 says why"
code=$(curl -s -o "$T/r" -w '%{http_code}' -F token=s3cret -F "torrent=@$T/big.torrent" "$(URL /upload)")
[ "$code" = 413 ] && ok "form upload too large: 413" || bad "form upload too large gave $code"
expect_grep "$T/r" '<!DOCTYPE html>.*larger than' "the form gets a page, as its other errors"
code=$(curl -s -o "$T/r" -w '%{http_code}' "$(URL /upload)")
[ "$code" = 405 ] && ok "GET /upload: 405" || bad "GET /upload gave $code"
if [ "$(id -u)" != 0 ] || command -v setpriv >/dev/null; then
  stop
  # a data folder the tracker cannot write (as nobody): the 500 names no path
  mkdir -p "$T/ro/torrents" && chmod 555 "$T/ro/torrents" && chmod o+rx "$T" "$T/ro"
  chmod o+r "$T/one.torrent"
  RUN=(); [ "$(id -u)" = 0 ] && RUN=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  : >"$T/log"
  "${RUN[@]}" "$SHOAL" tracker --data "$T/ro" --bind 127.0.0.1 -p 0 --upload-token s3cret 2>"$T/log" &
  PID=$!
  for _ in $(seq 100); do grep -q 'worker thread' "$T/log" && break; sleep 0.05; done
  PORT=$(sed -n 's|.*serving HTTP on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/log" | head -1)
  code=$(curl -s -o "$T/r" -w '%{http_code}' -H 'X-Upload-Token: s3cret' --data-binary @"$T/one.torrent" "$(URL /upload)")
  [ "$code" = 500 ] && ok "storage failure: 500" || bad "storage failure gave $code: $(cat "$T/r")"
  if grep -q "$T" "$T/r"; then bad "the 500 shows a server path: $(cat "$T/r")"; else ok "the 500 shows no server path"; fi
  expect_grep "$T/r" 'could not store the torrent: Permission denied' "says what failed"
  expect_grep "$T/log" "upload rejected: cannot store .*$T/ro/torrents" "the log has the path"
  stop
else
  skip "upload storage failure: root without setpriv"
fi

# ---- 6. blocklist: a missing file refuses to start; blocked torrents hidden ----
expect_exit 1 "--blocklist of a missing file refuses to start" timeout 10 "$SHOAL" tracker --data "$T/data" \
  --bind 127.0.0.1 -p 0 --blocklist "$T/nope.list"
expect_grep "$T/err" "blocklist .*nope\.list: No such file" "names the file"
echo "$H1" >"$T/block.list"
start --add "$T/one.torrent" --blocklist "$T/block.list"
curl -s "$(URL /)" >"$T/page.html"
if grep -q "$H1" "$T/page.html"; then bad "a blocked hosted torrent is listed"; else ok "a blocked hosted torrent is not listed"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$(URL /torrents/$H1.torrent)")
[ "$code" = 404 ] && ok "its .torrent is not served" || bad "its .torrent gave $code"
expect_grep "$T/page.html" 'td\{overflow-wrap:anywhere' "long names and comments wrap (no column pushed off screen)"
stop

# ---- 14. bad % escapes fail, as docs/tracker.md says ----
start
IH=$($PY -c 'print("%41"*20)')
for bad_esc in '%' '%4' '%zz'; do
  for param in key no_peer_id trackerid; do
    curl -s "$(URL "/announce?info_hash=$IH&peer_id=-SH0001-000000000001&port=1&left=0&$param=ab$bad_esc")" >"$T/r"
    expect_grep "$T/r" "failure reason.*$param" "$param=ab$bad_esc: failure naming $param"
  done
done

# ---- 19. peers live at least 45 minutes whatever the interval ----
stop
start --interval 10
expect_grep "$T/log" 'interval 10s; peers expire after 2700s' "a short interval keeps peers 45 min"
stop
start --interval 2h
expect_grep "$T/log" 'peers expire after 14400s' "a long interval: 2 x interval"
stop
start --interval 10 --min-peer-timeout 60
expect_grep "$T/log" 'peers expire after 60s' "--min-peer-timeout sets the floor"
stop
start --interval 10 --peer-timeout 30
expect_grep "$T/log" 'peers expire after 30s' "--peer-timeout still wins"
stop

finish
