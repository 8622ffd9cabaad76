#!/usr/bin/env bash
# shoal tracker end to end over loopback: options, HTTP announce/scrape, UDP
# (BEP 15), hosting (--add, upload with token, download, restart), hosted-only
# mode, blocklist reload on SIGHUP, /stats and /metrics, hostile input
# (100 KB URL, 1,000 idle connections, forged UDP IDs), clean shutdown.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# --- options ---
expect_exit 0 "--help" "$SHOAL" tracker --help
expect_grep "$T/out" 'upload-token' "help lists --upload-token"
expect_exit 2 "bad mode" "$SHOAL" tracker --mode sideways --data "$T/d0"
expect_grep "$T/err" 'open or hosted' "names the modes"
expect_exit 2 "port out of range" "$SHOAL" tracker -p 70000 --data "$T/d0"
expect_exit 2 "stray argument" "$SHOAL" tracker extra --data "$T/d0"
printf '# comment\nmode sideways\n' >"$T/bad.conf"
expect_exit 2 "config file values are checked" "$SHOAL" tracker --config "$T/bad.conf"
expect_grep "$T/err" "bad.conf:2: mode sideways: expected open or hosted" "names the file and line"
printf 'help\n' >"$T/bad.conf"
expect_exit 2 "--help is not a config file option" "$SHOAL" tracker --config "$T/bad.conf"
expect_exit 2 "--config of a missing file" "$SHOAL" tracker --config "$T/missing.conf"
expect_grep "$T/err" "missing.conf: No such file" "says why"
echo garbage >"$T/garbage.torrent"
expect_exit 1 "--add of a broken torrent fails to start" "$SHOAL" tracker --data "$T/d0" \
  --bind 127.0.0.1 -p 0 --add "$T/garbage.torrent"
expect_grep "$T/err" 'garbage.torrent' "names the file"

# a small valid torrent made here (bencode by hand, single file)
mktorrent_py() { # NAME OUT
  $PY - "$1" "$2" <<'EOF'
import hashlib, sys
name, out = sys.argv[1].encode(), sys.argv[2]
data = b"shoal tracker test data " * 100
pieces = hashlib.sha1(data).digest()
def s(b): return str(len(b)).encode() + b":" + b
info = b"d6:lengthi%de4:name%s12:piece lengthi16384e6:pieces%se" % (len(data), s(name), s(pieces))
open(out, "wb").write(b"d8:announce" + s(b"http://127.0.0.1/announce") + b"7:comment" + s(b"<i>hi</i>") + b"4:info" + info + b"e")
print(hashlib.sha1(info).hexdigest())
EOF
}
H1=$(mktorrent_py "one<script>" "$T/one.torrent")
H2=$(mktorrent_py "two" "$T/two.torrent")
H3=$(mktorrent_py "three" "$T/three.torrent")

free_port() { $PY -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
p=s.getsockname()[1]; u.bind(("127.0.0.1",p)); print(p)'; }

start() { # extra args...
  PORT=$(free_port)
  # empty the log first: the redirection below happens in the background
  # job, so the wait could otherwise match the previous tracker's summary
  # and the checks then read a log the new one has just truncated
  : >"$T/log"
  "$SHOAL" tracker --data "$T/data" --bind 127.0.0.1 -p "$PORT" --interval 60 \
    --upload-token s3cret "$@" 2>"$T/log" &
  PID=$!
  # the summary line ("... N worker threads ...") comes after every listener
  # is up: waiting for an earlier one raced the checks of the summary
  for _ in $(seq 100); do
    grep -q 'worker thread' "$T/log" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  bad "tracker did not start"; cat "$T/log"; return 1
}
stop() { kill -TERM "$PID"; local rc=0; wait "$PID" || rc=$?; PID=; return $rc; }
URL() { echo "http://127.0.0.1:$PORT$1"; }

start --add "$T/one.torrent"
expect_grep "$T/log" "serving HTTP on http://127.0.0.1:$PORT/" "logs where HTTP is served"
expect_grep "$T/log" "serving UDP on udp://127.0.0.1:$PORT/announce" "logs where UDP is served"
expect_grep "$T/log" "data in $T/data" "logs the data directory"

# --- HTTP announce and scrape, checked by a bencode reader ---
$PY - "$PORT" "$H1" >"$T/http.out" 2>&1 <<'EOF' && ok "HTTP announce/scrape" || { bad "HTTP announce/scrape"; cat "$T/http.out"; }
import sys, urllib.request, urllib.parse
port, h = sys.argv[1], bytes.fromhex(sys.argv[2])
def bdec(b, i=0):
    c = b[i:i+1]
    if c == b"i": e = b.index(b"e", i); return int(b[i+1:e]), e + 1
    if c == b"l":
        i += 1; out = []
        while b[i:i+1] != b"e": v, i = bdec(b, i); out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1; out = {}
        while b[i:i+1] != b"e": k, i = bdec(b, i); v, i = bdec(b, i); out[k] = v
        return out, i + 1
    col = b.index(b":", i); n = int(b[i:col]); return b[col+1:col+1+n], col + 1 + n
def get(path):
    return bdec(urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=10).read())[0]
def announce(pid, p, left, **kw):
    q = dict(info_hash=h, peer_id=pid, port=p, uploaded=0, downloaded=0, left=left, **kw)
    return get("/announce?" + urllib.parse.urlencode(q))
r = announce(b"-SH0001-aaaaaaaaaaaa", 7001, 100, event="started")
assert r[b"interval"] == 60 and r[b"min interval"] == 30 and r[b"peers"] == b"", r
r = announce(b"-SH0001-bbbbbbbbbbbb", 7002, 0, event="completed")
assert r[b"peers"] == bytes([127, 0, 0, 1, 7001 >> 8, 7001 & 255]), r
assert (r[b"complete"], r[b"incomplete"]) == (1, 1), r
r = announce(b"-SH0001-cccccccccccc", 7003, 0, compact=0)
assert r[b"peers"] == [{b"ip": b"127.0.0.1", b"port": 7001}], r  # a seeder sees no seeders
s = get("/scrape?" + urllib.parse.urlencode(dict(info_hash=h)))
assert s[b"files"][h] == {b"complete": 2, b"downloaded": 1, b"incomplete": 1}, s
f = get("/announce?info_hash=short&peer_id=x&port=0")
assert f[b"failure reason"] == b"info_hash is not 20 bytes", f
print("ok")
EOF

# --- UDP (BEP 15) ---
$PY - "$PORT" "$H1" >"$T/udp.out" 2>&1 <<'EOF' && ok "UDP connect/announce/scrape/error" || { bad "UDP"; cat "$T/udp.out"; }
import socket, struct, sys
port, h = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
def rt(pkt): s.sendto(pkt, ("127.0.0.1", port)); return s.recv(4096)
r = rt(struct.pack(">QII", 0x41727101980, 0, 11))
act, tid, cid = struct.unpack(">IIQ", r); assert (act, tid, len(r)) == (0, 11, 16)
ann = struct.pack(">QII20s20sQQQIIIiH", cid, 1, 12, h, b"-SH0001-dddddddddddd", 0, 5, 0, 2, 0, 9, -1, 7004)
r = rt(ann)
act, tid, interval, leech, seed = struct.unpack(">IIIII", r[:20])
assert (act, tid, interval, leech, seed) == (1, 12, 60, 2, 2), (act, tid, interval, leech, seed)
peers = [r[i:i+6] for i in range(20, len(r), 6)]
assert len(peers) == 3 and struct.pack(">4sH", bytes([127,0,0,1]), 7004) not in peers, peers
r = rt(struct.pack(">QII", cid, 2, 13) + h)
assert struct.unpack(">IIIII", r) == (2, 13, 2, 1, 2), struct.unpack(">IIIII", r)
forged = struct.pack(">QII20s20sQQQIIIiH", cid ^ 1, 1, 14, h, b"x" * 20, 0, 5, 0, 2, 0, 9, -1, 7005)
r = rt(forged)
assert struct.unpack(">II", r[:8]) == (3, 14) and len(r) <= len(forged), r
s.sendto(b"\x00\x01", ("127.0.0.1", port))  # short: dropped, no reply
s.settimeout(0.5)
try: s.recv(100); raise SystemExit("short datagram got a reply")
except socket.timeout: pass
print("ok")
EOF

# --- hosting: page, download, upload ---
curl -s "$(URL /)" >"$T/page.html"
expect_grep "$T/page.html" "one&lt;script&gt;" "hosted name is on the page, escaped"
if grep -q "one<script>" "$T/page.html"; then bad "raw name leaked into HTML"; else ok "no raw markup"; fi
expect_grep "$T/page.html" "magnet:\?xt=urn:btih:$H1" "magnet link"
curl -s -o "$T/dl.torrent" "$(URL /torrents/$H1.torrent)"
cmp -s "$T/dl.torrent" "$T/one.torrent" && ok "download is the hosted file" || bad "download differs"
code=$(curl -s -o "$T/up.out" -w '%{http_code}' -H 'X-Upload-Token: wrong' --data-binary @"$T/two.torrent" "$(URL /upload)")
[ "$code" = 401 ] && ok "wrong token is refused (401)" || bad "wrong token gave $code"
code=$(curl -s -o "$T/up.out" -w '%{http_code}' -H 'X-Upload-Token: s3cret' --data-binary @"$T/garbage.torrent" "$(URL /upload)")
[ "$code" = 400 ] && ok "invalid torrent is refused (400)" || bad "garbage upload gave $code"
expect_grep "$T/up.out" "rejected: .*bencode" "names what is wrong"
code=$(curl -s -o "$T/up.out" -w '%{http_code}' -H 'X-Upload-Token: s3cret' --data-binary @"$T/two.torrent" "$(URL /upload)")
[ "$code" = 201 ] && ok "upload with token (201)" || { bad "upload gave $code"; cat "$T/up.out"; }
code=$(curl -s -o "$T/up.out" -w '%{http_code}' -F token=s3cret -F "torrent=@$T/three.torrent" "$(URL /upload)")
[ "$code" = 201 ] && ok "upload through the form" || { bad "form upload gave $code"; cat "$T/up.out"; }
[ -f "$T/data/torrents/$H2.torrent" ] && ok "upload stored in the data dir" || bad "not stored"
curl -s "$(URL /stats)" >"$T/stats.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["hosted"]==3 and d["peers"]==4, d' "$T/stats.json" \
  && ok "/stats is JSON with counts" || { bad "/stats"; cat "$T/stats.json"; }
curl -s "$(URL /metrics)" >"$T/metrics"
expect_grep "$T/metrics" '^shoal_tracker_requests_total\{kind="udp_announce"\} 1$' "/metrics counts"

# --- hostile input: a 100 KB URL, 1,000 idle connections ---
$PY - "$PORT" "$H1" >"$T/hostile.out" 2>&1 <<'EOF' && ok "100 KB URL and 1,000 idle connections" || { bad "hostile"; cat "$T/hostile.out"; }
import socket, sys, urllib.request
port = int(sys.argv[1])
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(10)
c.sendall(b"GET /announce?" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")
r = b""
while True:
    try: d = c.recv(65536)
    except ConnectionResetError: break
    if not d: break
    r += d
assert b" 414 " in r and b"failure reason" in r, r[:200]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
r = urllib.request.urlopen("http://127.0.0.1:%d/scrape?info_hash=%s" % (port, "%00" * 20), timeout=10).read()
assert r == b"d5:filesdee", r
for s in idle: s.close()
print("ok")
EOF
grep -q 'ERROR\|error:' "$T/log" && bad "errors logged: $(grep -i error "$T/log" | head -3)" || ok "nothing bad in the log"

# --- restart: hosted torrents survive; hosted-only mode; blocklist + SIGHUP ---
stop && ok "SIGTERM exits 0" || bad "SIGTERM exit code"
expect_grep "$T/log" "shutting down" "logs the shutdown"
start --mode hosted --threads 2 --bind ::1
expect_grep "$T/log" '2 worker threads' "two SO_REUSEPORT workers"
$PY - "$PORT" "$H2" "$H1" >"$T/hosted.out" 2>&1 <<'EOF' && ok "hosted-only mode after restart" || { bad "hosted mode"; cat "$T/hosted.out"; }
import sys, urllib.request, urllib.parse
port = sys.argv[1]
def ann(h):
    q = urllib.parse.urlencode(dict(info_hash=bytes.fromhex(h), peer_id=b"-SH0001-eeeeeeeeeeee", port=9, left=1))
    return urllib.request.urlopen("http://127.0.0.1:%s/announce?%s" % (port, q), timeout=10).read()
assert ann(sys.argv[2]).startswith(b"d8:complete"), "uploaded torrent survived the restart"
assert ann(sys.argv[3]).startswith(b"d8:complete")
r = ann("ab" * 20)
assert r == b"d14:failure reason37:torrent is not hosted on this trackere", r
# IPv6: a peer announcing from ::1 is handed out in peers6 (BEP 7)
def ann6(pid, p):
    q = urllib.parse.urlencode(dict(info_hash=bytes.fromhex(sys.argv[3]), peer_id=pid, port=p, left=1))
    return urllib.request.urlopen("http://[::1]:%s/announce?%s" % (port, q), timeout=10).read()
ann6(b"-SH0001-666666666666", 5555)
r = ann(sys.argv[3])
want = b"6:peers618:" + bytes(15) + b"\x01" + bytes([5555 >> 8, 5555 & 255])
assert want in r, r
# UDP over IPv6: 18-byte peers (BEP 15), here the ::1 peer seen from ::1 on another port
import socket, struct
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.settimeout(5)
u.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("::1", int(port)))
_, _, cid = struct.unpack(">IIQ", u.recv(64))
u.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, 2, bytes.fromhex(sys.argv[3]), b"-SH0001-777777777777",
                     0, 1, 0, 2, 0, 0, -1, 6666), ("::1", int(port)))
r = u.recv(4096)
assert struct.unpack(">II", r[:8]) == (1, 2) and (len(r) - 20) % 18 == 0, r
assert bytes(15) + b"\x01" + bytes([5555 >> 8, 5555 & 255]) in r[20:], r
print("ok")
EOF
echo "$H2  # blocked for the test" >"$T/data/blocklist"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q '1 info-hashes blocked' "$T/log" && break; sleep 0.1; done
expect_grep "$T/log" '3 torrents hosted, 1 info-hashes blocked' "SIGHUP reloads the blocklist"
r=$($PY -c 'import sys,urllib.request,urllib.parse
q=urllib.parse.urlencode(dict(info_hash=bytes.fromhex(sys.argv[2]),peer_id=b"-SH0001-ffffffffffff",port=9,left=1))
print(urllib.request.urlopen("http://127.0.0.1:%s/announce?%s"%(sys.argv[1],q),timeout=10).read().decode())' "$PORT" "$H2")
[ "$r" = "d14:failure reason34:torrent is blocked on this trackere" ] && ok "blocked hash refused" || bad "blocked hash: $r"
stop && ok "second shutdown clean" || bad "second shutdown"

# --- a config file; the command line wins over it ---
# (192.0.2.1 is not on this host: the tracker starts only because the
# command line's --bind replaces the file's)
printf '# tracker settings\ninterval = 77\nmin-interval 11\nmode hosted\npeer-timeout 2h\nbind 192.0.2.1\n' >"$T/good.conf"
start --config "$T/good.conf" --mode open
expect_grep "$T/log" "peers expire after 7200s" "a duration with a unit"
r=$($PY -c 'import sys,urllib.request,urllib.parse
q=urllib.parse.urlencode(dict(info_hash=b"\x09"*20,peer_id=b"-SH0001-gggggggggggg",port=9,left=1))
print(urllib.request.urlopen("http://127.0.0.1:%s/announce?%s"%(sys.argv[1],q),timeout=10).read().decode())' "$PORT")
case $r in
  d8:completei0e10:incompletei1e8:intervali60e12:min\ intervali11e*) ok "config file sets min-interval; --interval 60 and --mode open on the command line win" ;;
  *) bad "config file: $r" ;;
esac
stop || bad "third shutdown"
finish
