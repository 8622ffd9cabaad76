#!/usr/bin/env bash
# shoal daemon over loopback: options and settings.json, transmission-remote
# driving it (add, list, info, files, stop, start, verify, limits, remove
# with data), torrent-add of a URL answered once the fetch ends (added, a
# duplicate, 404, not a torrent, refused, a slow one holding nothing else),
# state kept across a restart and a SIGKILL, the watch folder,
# session-set saved to settings.json, SIGHUP, and every refusal: no session
# id (409), a wrong Host (421), an address off the allow-list (403), bad
# credentials (401, then slowed down), oversized bodies (413), malformed
# and deep JSON (400), path traversal in download-dir and rename.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

# --- options ---
expect_exit 0 "--help" "$SHOAL" daemon --help
expect_grep "$T/out" 'rpc-bind' "help lists --rpc-bind"
expect_exit 2 "port out of range" "$SHOAL" daemon --rpc-port 70000 -g "$T/x"
expect_exit 2 "stray argument" "$SHOAL" daemon extra -g "$T/x"
mkdir -p "$T/bad"; echo '{"rpc-port": "many"}' >"$T/bad/settings.json"
expect_exit 2 "settings.json values are checked" "$SHOAL" daemon -g "$T/bad"
expect_grep "$T/err" 'settings.json: rpc-port many' "names the file and key"
echo '{"rpc-port": 9' >"$T/bad/settings.json"
expect_exit 2 "malformed settings.json" "$SHOAL" daemon -g "$T/bad"

# --- content: two torrents made here ---
mkdir -p "$T/src/multi/sub" "$T/dl"
head -c 3000000 /dev/urandom >"$T/src/one.bin"
head -c 700000 /dev/urandom >"$T/src/multi/a.bin"
head -c 300000 /dev/urandom >"$T/src/multi/sub/b.bin"
"$SHOAL" create "$T/src/one.bin" -o "$T/one.torrent" >/dev/null 2>&1
"$SHOAL" create "$T/src/multi" -o "$T/multi.torrent" >/dev/null 2>&1
head -c 200000 /dev/urandom >"$T/src/three.bin"
"$SHOAL" create "$T/src/three.bin" -o "$T/three.torrent" >/dev/null 2>&1
cp "$T/src/one.bin" "$T/dl/"

# settings.json with Transmission's key names
mkdir -p "$T/cfg"
cat >"$T/cfg/settings.json" <<JSON
{"download-dir": "$T/dl", "speed-limit-up": 77, "speed-limit-up-enabled": true,
 "ratio-limit": 3.5, "unknown-key-of-another-client": 1, "peer-limit-global": 123}
JSON
start_daemon "$T/d1.log" -g "$T/cfg"
S=$(call session-get)
echo "$S" | jq_py 'd["arguments"]["speed-limit-up"], d["arguments"]["seedRatioLimit"], d["arguments"]["download-dir"], d["arguments"]["rpc-version"], d["arguments"]["peer-limit-global"]' >"$T/s"
expect_grep "$T/s" "^77 3.5 $T/dl 17 123$" "settings.json read with Transmission's keys"

# --- transmission-remote ---
expect_exit 0 "-a a file" trc -a "$T/one.torrent"
expect_grep "$T/out" 'success' "add answered"
expect_exit 0 "-a a second elsewhere" trc -a "$T/multi.torrent" -w "$T/dl2"
expect_exit 0 "-t 2 -S" trc -t 2 -S
for _ in $(seq 50); do trc -l >"$T/l"; grep -q 'Idle\|Seeding' "$T/l" && break; sleep 0.1; done
expect_grep "$T/l" '1 +100% .*one.bin' "-l: the complete one is done"
expect_grep "$T/l" '2 +0% .*Stopped +multi' "-l: the paused one is stopped"
expect_exit 0 "-t 2 -i" trc -t 2 -i
expect_grep "$T/out" "Location: $T/dl2" "info shows the folder"
expect_exit 0 "-t 2 -f" trc -t 2 -f
expect_grep "$T/out" 'multi/sub/b.bin' "files listed"
expect_exit 0 "-t 2 -G 0 (skip a file)" trc -t 2 -G 0
trc -t 2 -f >"$T/out"
expect_grep "$T/out" '0: .* No .*multi/a.bin' "file 0 no longer wanted"
expect_exit 0 "-t 2 -ph 1" trc -t 2 -ph 1
trc -t 2 -f >"$T/out"
expect_grep "$T/out" '1: .* High .*Yes' "file 1 high priority"
expect_exit 0 "-t 1 -pi" trc -t 1 -pi
expect_exit 0 "-t 1 -it" trc -t 1 -it
expect_exit 0 "-t 1 -S" trc -t 1 -S
trc -l >"$T/l"
expect_grep "$T/l" '1 .*Stopped +one.bin' "stopped"
expect_exit 0 "-t 1 -s" trc -t 1 -s
expect_exit 0 "-t 1 -v" trc -t 1 -v
expect_exit 0 "-d and -u limits" trc -d 500 -u 200
call session-get | jq_py 'd["arguments"]["speed-limit-down"], d["arguments"]["speed-limit-down-enabled"], d["arguments"]["speed-limit-up"]' >"$T/s"
expect_grep "$T/s" '^500 True 200$' "limits set"
expect_grep "$T/cfg/settings.json" '"speed-limit-down": 500' "session-set saved to settings.json"
expect_grep "$T/cfg/settings.json" 'unknown-key-of-another-client' "other keys kept"
expect_exit 0 "-si" trc -si
expect_grep "$T/out" 'RPC version: 17' "session info"
expect_exit 0 "-st" trc -st
expect_grep "$T/out" 'Started 2 times|Started [0-9]+ times' "stats"
call torrent-set '{"ids":[1],"labels":["tv","hd"],"seedRatioMode":1,"seedRatioLimit":9}' >/dev/null
call torrent-get '{"ids":[1],"fields":["labels","seedRatioLimit","seedRatioMode","pieces","pieceCount"]}' |
  jq_py 'd["arguments"]["torrents"][0]["labels"], d["arguments"]["torrents"][0]["seedRatioLimit"], len(d["arguments"]["torrents"][0]["pieces"]) > 0' >"$T/s"
expect_grep "$T/s" "^\['tv', 'hd'\] 9(\.0)? True" "labels, ratio and pieces"
# seed limits: a seed that has uploaded nothing has ratio 0, so a limit
# of 0 stops it at the next tick (its own limit, then the session's)
wait_stopped() {
  for _ in $(seq 40); do trc -l >"$T/l"; grep -Eq "^ *1 .*(Stopped|Finished)" "$T/l" && return 0; sleep 0.1; done
  return 1
}
call torrent-set '{"ids":[1],"seedRatioMode":1,"seedRatioLimit":0}' >/dev/null
wait_stopped && ok "its own ratio limit stops an idle seed" || bad "not stopped by its ratio limit"
call torrent-set '{"ids":[1],"seedRatioMode":0}' >/dev/null
trc -t 1 -s >/dev/null
for _ in $(seq 40); do trc -l >"$T/l"; grep -q "^ *1 .*Seeding\|^ *1 .*Idle" "$T/l" && break; sleep 0.1; done
call session-set '{"seedRatioLimited":true,"seedRatioLimit":0}' >/dev/null
wait_stopped && ok "the session's ratio limit stops an idle seed" || bad "not stopped by the session's limit"
call session-set '{"seedRatioLimited":false,"seedRatioLimit":3.5}' >/dev/null
call torrent-set '{"ids":[1],"seedRatioMode":1,"seedRatioLimit":9}' >/dev/null
trc -t 1 -s >/dev/null
call torrent-get '{"fields":["id","name"],"format":"table"}' | jq_py 'd["arguments"]["torrents"][0]' >"$T/s"
expect_grep "$T/s" "^\['id', 'name'\]" "format table: names first"
call foo-bar >"$T/s"
expect_grep "$T/s" '"result": "method name not recognized"' "unknown method refused"
# a magnet link: added by its info-hash; metadata and data from a local seed
"$SHOAL" seed "$T/three.torrent" "$T/src" --port 0 --bind 127.0.0.1 >"$T/seed.log" 2>&1 &
SPID=$!
SPORT=$(log_value "$T/seed.log" 's/.*seeding on port \([0-9]*\).*/\1/p') || true
HASH=$("$SHOAL" info --json "$T/three.torrent" | jq_py 'd["info_hash"]')
call torrent-add "{\"filename\":\"magnet:?xt=urn:btih:$HASH&dn=three.bin&x.pe=127.0.0.1:$SPORT\",\"download-dir\":\"$T/mag\"}" >"$T/s"
expect_grep "$T/s" 'torrent-added' "magnet link added"
MID=$(jq_py 'd["arguments"]["torrent-added"]["id"]' <"$T/s")
for _ in $(seq 300); do
  call torrent-get "{\"ids\":[$MID],\"fields\":[\"percentDone\",\"name\"]}" >"$T/s"
  grep -q '"percentDone": 1' "$T/s" && break; sleep 0.1
done
expect_grep "$T/s" '"name": "three.bin"' "the magnet's metadata came"
cmp -s "$T/src/three.bin" "$T/mag/three.bin" && ok "the magnet's data downloaded from the seed" \
  || bad "the magnet's data differs or is missing"
kill "$SPID"; wait "$SPID" 2>/dev/null || true

# --- torrent-add of a URL: answered once fetched and added, as Transmission
# does, with the torrent or why not; other requests are served meanwhile ---
head -c 100000 /dev/urandom >"$T/src/url.bin"
"$SHOAL" create "$T/src/url.bin" -o "$T/www-url.torrent" >/dev/null 2>&1
head -c 100000 /dev/urandom >"$T/src/slow.bin"
"$SHOAL" create "$T/src/slow.bin" -o "$T/www-slow.torrent" >/dev/null 2>&1
# a local web server: /url.torrent, /slow.torrent after 3 s, /junk, else 404
$PY - "$T" >"$T/www.log" 2>&1 <<'PYEOF' &
import http.server, os, sys, time
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("GET", self.path, flush=True)
        name = {"/url.torrent": "www-url.torrent", "/slow.torrent": "www-slow.torrent"}.get(self.path)
        if self.path == "/slow.torrent":
            time.sleep(3)
        body = open(os.path.join(root, name), "rb").read() if name else b"<html>not a torrent</html>"
        self.send_response(200 if name or self.path == "/junk" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("www on port", s.server_address[1], flush=True)
s.serve_forever()
PYEOF
WPID=$!
# wait_fetches N: until the web server has been asked for slow.torrent N times
wait_fetches() {
  for _ in $(seq 100); do
    [ "$(grep -c '^GET /slow.torrent' "$T/www.log")" -ge "$1" ] && return 0; sleep 0.1
  done
  return 1
}
trap 'kill "$WPID" 2>/dev/null || true; cleanup' EXIT
WWW=http://127.0.0.1:$(log_value "$T/www.log" 's/^www on port \([0-9]*\)/\1/p')
UHASH=$("$SHOAL" info --json "$T/www-url.torrent" | jq_py 'd["info_hash"]')
call torrent-add "{\"filename\":\"$WWW/url.torrent\",\"paused\":true,\"download-dir\":\"$T/urldl\"}" >"$T/s"
jq_py 'd["result"], d["tag"], d["arguments"]["torrent-added"]["hashString"], d["arguments"]["torrent-added"]["name"]' <"$T/s" >"$T/r"
expect_grep "$T/r" "^success 7 $UHASH url.bin$" "a URL's reply names the torrent added, with the tag"
UID1=$(jq_py 'd["arguments"]["torrent-added"]["id"]' <"$T/s")
call torrent-get "{\"ids\":[$UID1],\"fields\":[\"hashString\"]}" >"$T/s"
expect_grep "$T/s" "$UHASH" "and it is there when the reply comes"
expect_exit 0 "-a a URL again" trc -a "$WWW/url.torrent"
expect_grep "$T/out" 'success' "transmission-remote -a URL answered"
call torrent-add "{\"filename\":\"$WWW/url.torrent\"}" | jq_py 'd["arguments"]["torrent-duplicate"]["id"]' >"$T/r"
expect_grep "$T/r" "^$UID1$" "the same URL again: torrent-duplicate"
call torrent-add "{\"filename\":\"$WWW/missing.torrent\"}" >"$T/s"
expect_grep "$T/s" '"result": "cannot fetch http://[^"]*/missing.torrent: http error 404: Not Found"' "a URL that 404s: the status named"
call torrent-add "{\"filename\":\"$WWW/junk\"}" >"$T/s"
expect_grep "$T/s" '"result": "invalid or corrupt torrent file"' "a URL to something else: not a torrent"
DEADWWW=http://127.0.0.1:$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
call torrent-add "{\"filename\":\"$DEADWWW/x.torrent\"}" >"$T/s"
expect_grep "$T/s" '"result": "cannot fetch http://[^"]*: .*([Cc]onnect|refused)' "a URL nobody serves: the transport error named"
# a slow URL holds only its own reply
SLOW_T0=$(date +%s.%N)
call torrent-add "{\"filename\":\"$WWW/slow.torrent\",\"paused\":true,\"download-dir\":\"$T/urldl\"}" >"$T/slow" &
SLOWPID=$!
wait_fetches 1 || bad "the slow URL was never fetched"
Q_T0=$(date +%s.%N)
call session-get >"$T/s"
Q_T1=$(date +%s.%N)
expect_grep "$T/s" '"result": "success"' "session-get answered while a URL is fetched"
$PY -c "import sys; sys.exit(0 if $Q_T1 - $Q_T0 < 2.0 else 1)" && ok "session-get not held by the slow fetch" \
  || bad "session-get took $($PY -c "print($Q_T1 - $Q_T0)") s behind the slow fetch"
kill -0 "$SLOWPID" 2>/dev/null && ok "the slow add still waits meanwhile" || bad "the slow add answered before its fetch ended"
wait "$SLOWPID"
SLOW_T1=$(date +%s.%N)
expect_grep "$T/slow" 'torrent-added' "the slow URL's reply came once it was added"
$PY -c "import sys; sys.exit(0 if $SLOW_T1 - $SLOW_T0 >= 2.5 else 1)" && ok "after the fetch's 3 s" || bad "the slow reply came too soon"
SID2=$(jq_py 'd["arguments"]["torrent-added"]["id"]' <"$T/slow")
call torrent-remove "{\"ids\":[$UID1,$SID2]}" >/dev/null

# --- state across a restart ---
expect_exit 0 "-t 1 -S before the restart" trc -t 1 -S
# (stopped while a URL is still being fetched: the fetch is cancelled, its
# request answered 503, and the daemon exits cleanly all the same)
call torrent-add "{\"filename\":\"$WWW/slow.torrent\"}" >"$T/slow" 2>&1 &
SLOWPID=$!
wait_fetches 2 || bad "the slow URL was never fetched again"
kill -TERM "$PID"; DRC=0; wait "$PID" || DRC=$?; PID=
[ "$DRC" = 0 ] && ok "stopped cleanly with a fetch pending" || bad "exit $DRC with a fetch pending"
wait "$SLOWPID" && bad "the pending add was answered as done" || ok "the pending add was refused"
expect_grep "$T/slow" 'HTTP 503' "with a 503 as the server closed"
kill "$WPID"; wait "$WPID" 2>/dev/null || true
expect_grep "$T/d1.log" 'shutting down' "SIGTERM logged"
start_daemon "$T/d2.log" -g "$T/cfg"
trc -l >"$T/l"
expect_grep "$T/l" '1 +100% .*Stopped +one.bin' "torrent 1 back after a restart, stopped, its progress shown"
expect_exit 0 "-t 1 -s after the restart" trc -t 1 -s
expect_grep "$T/l" '2 .*Stopped +multi' "torrent 2 back, still stopped"
call torrent-get '{"ids":[1],"fields":["labels"]}' >"$T/s"
expect_grep "$T/s" '"tv", "hd"' "labels back"
trc -t 2 -f >"$T/out"
expect_grep "$T/out" '0: .* No .*multi/a.bin' "file priorities back"
expect_grep "$T/l" "$MID .*three.bin" "the magnet's torrent back with its metadata"
expect_exit 0 "-r the magnet's torrent" trc -t "$MID" -r

# --- remove with data ---
cp "$T/src/multi" -r "$T/dl2/" 2>/dev/null || true
expect_exit 0 "--remove-and-delete" trc -t 2 --remove-and-delete
for _ in $(seq 50); do [ -e "$T/dl2/multi" ] || break; sleep 0.1; done
[ ! -e "$T/dl2/multi" ] && ok "data deleted" || bad "data still there"
expect_exit 0 "-r" trc -t 1 -r
trc -l >"$T/l"
grep -q 'one.bin' "$T/l" && bad "torrent 1 still listed" || ok "torrent 1 removed"
[ -e "$T/dl/one.bin" ] && ok "-r keeps the data" || bad "-r deleted the data"

# --- crash safety: what the RPC acknowledged is there after SIGKILL ---
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start_daemon "$T/d3.log" -g "$T/cfg"
B64=$(base64 -w0 "$T/one.torrent")
call torrent-add "{\"metainfo\":\"$B64\",\"paused\":true}" >"$T/s"
expect_grep "$T/s" 'torrent-added' "added by metainfo"
call torrent-add "{\"metainfo\":\"$B64\"}" >"$T/s"
expect_grep "$T/s" 'torrent-duplicate' "a duplicate is named so"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start_daemon "$T/d4.log" -g "$T/cfg"
trc -l >"$T/l"
expect_grep "$T/l" 'one.bin' "an acknowledged add survives SIGKILL"
ID=$(call torrent-get '{"fields":["id"]}' | jq_py 'd["arguments"]["torrents"][0]["id"]')
call torrent-remove "{\"ids\":[$ID]}" >/dev/null
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start_daemon "$T/d5.log" -g "$T/cfg"
trc -l >"$T/l"
grep -q 'one.bin' "$T/l" && bad "an acknowledged remove came back" || ok "an acknowledged remove survives SIGKILL"

# --- the watch folder ---
stop_daemon
mkdir -p "$T/watch"
start_daemon "$T/d6.log" -g "$T/cfg" --watch-dir "$T/watch" --watch-dir-enabled
cp "$T/one.torrent" "$T/watch/"
for _ in $(seq 50); do [ -e "$T/watch/one.torrent.added" ] && break; sleep 0.1; done
[ -e "$T/watch/one.torrent.added" ] && ok "watch file renamed .added" || bad "watch file not taken"
trc -l >"$T/l"
expect_grep "$T/l" 'one.bin' "watch file added"

# --- SIGHUP re-reads settings.json ---
$PY - "$T/cfg/settings.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); d["alt-speed-up"] = 42; json.dump(d, open(sys.argv[1], "w"))
PYEOF
kill -HUP "$PID"; sleep 0.5
call session-get | jq_py 'd["arguments"]["alt-speed-up"]' >"$T/s"
expect_grep "$T/s" '^42$' "SIGHUP applied settings.json"

# --- refusals ---
expect_grep <(status --no-sid) '^409$' "no session id: 409"
expect_grep <(status --method GET --no-sid) '^409$' "GET: 409 with the id"
expect_grep <(status --host evil.example:9091) '^421$' "a foreign Host: 421"
expect_grep <(status --host localhost:1) '^200$' "localhost Host: 200"
expect_grep <(status --body '{"method": ') '^400$' "malformed JSON: 400"
$PY -c "print('['*5000 + ']'*5000)" >"$T/deep.json"
expect_grep <(status --body @"$T/deep.json") '^400$' "deep JSON: 400"
$PY -c "import sys; sys.stdout.write(' ' * (65 << 20))" >"$T/big.json"
expect_grep <(status --body @"$T/big.json") '^413$' "oversized body: 413"
call torrent-add "{\"metainfo\":\"$B64\",\"download-dir\":\"/tmp/../etc\"}" >"$T/s"
expect_grep "$T/s" 'not absolute' "download-dir with .. refused"
call torrent-add "{\"metainfo\":\"$B64\",\"download-dir\":\"relative/dir\"}" >"$T/s"
expect_grep "$T/s" 'not absolute' "relative download-dir refused"
call torrent-rename-path '{"ids":[1],"path":"one.bin","name":"../../x"}' >"$T/s"
expect_grep "$T/s" 'invalid argument' "rename to ../ refused"
call torrent-set-location '{"ids":[1],"location":"/a/../../b","move":true}' >"$T/s"
expect_grep "$T/s" 'not absolute' "set-location with .. refused"
expect_grep <(status --path /transmission/web/../../etc/passwd --method GET) '^404$' "no path traversal on the web side"
stop_daemon

start_daemon "$T/d7.log" -g "$T/cfg" --rpc-whitelist 10.9.8.7
expect_grep <(status --no-sid) '^403$' "an address off the allow-list: 403"
stop_daemon
start_daemon "$T/d8.log" -g "$T/cfg" --rpc-authentication-required --rpc-username u --rpc-password p
expect_grep <(status --auth u:p) '^200$' "right credentials: 200"
expect_grep <(status --auth u:x --no-sid) '^401$' "wrong credentials: 401"
for _ in 1 2 3 4 5; do status --auth u:x --no-sid >/dev/null; done
expect_grep <(status --auth u:p --no-sid) '^401$' "after repeated failures even the right password waits"
stop_daemon
ls "$T/cfg" >"$T/s"
expect_grep "$T/s" 'state.db' "state in the config folder"
finish
