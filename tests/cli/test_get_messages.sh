#!/usr/bin/env bash
# What `shoal get`, `seed`, `info` and `create` tell a user when something
# is wrong: hostile names, dead or failing trackers, unusable folders,
# duplicates, a second run on the same folder, tampered resume data. Each
# case runs the engine for a few seconds at most, on 127.0.0.1 with ports
# the kernel picks; nothing leaves this machine.
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0")
MK="/usr/bin/python3 $HERE/mktorrent.py"
pids=()
main=$$
trap '[ "$BASHPID" = "$main" ] || exit; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT

mkdir -p "$T/data/multi/sub"
head -c 40000 /dev/urandom >"$T/data/blob.bin"
head -c 20000 /dev/urandom >"$T/data/multi/a.bin"
head -c 30000 /dev/urandom >"$T/data/multi/sub/b.bin"
# no byte that can start an escape sequence, or end one, may reach the user
no_escapes() {
  if LC_ALL=C grep -q $'[\x1b\x07\x9b]' "$1"; then
    bad "$2 (control bytes in $(basename "$1"))"; LC_ALL=C od -c "$1" | grep -m3 '033\|007' | sed 's/^/  | /'
  else ok "$2"; fi
}

# ---- 2. escape sequences in a torrent's name ----
$MK "$T/evil.torrent" "$T/data/blob.bin" --name 'ev\x1b]0;pwned\x07il\x1b[2J'
expect_exit 1 "get of an unreachable torrent with a hostile name fails" \
  "$SHOAL" get -v --no-peer-timeout 1 -o "$T/dl-evil" "$T/evil.torrent"
no_escapes "$T/out" "get: no escape sequence on stdout"
no_escapes "$T/err" "get: no escape sequence on stderr (messages and -v log lines)"
expect_grep "$T/err" 'ev\?\]0;pwned\?il\?\[2J' "get: the name is shown with ? for control bytes"
mkdir -p "$T/empty"
expect_exit 1 "seed of missing data with a hostile name fails" \
  "$SHOAL" seed -v --bind 127.0.0.1 "$T/evil.torrent" "$T/empty"
no_escapes "$T/out" "seed: no escape sequence on stdout"
no_escapes "$T/err" "seed: no escape sequence on stderr"

# A seed of DATA for TORRENT on 127.0.0.1, in the background; sets SEED_PORT.
start_seed() {
  local log=$T/seed.$RANDOM
  "$SHOAL" seed --bind 127.0.0.1 --port 0 "$1" "$2" >"$log.out" 2>"$log.err" &
  pids+=($!)
  SEED_PID=$!
  SEED_PORT=
  for _ in $(seq 300); do
    SEED_PORT=$(sed -n 's/.*seeding on port \([0-9]*\).*/\1/p' "$log.out")
    [ -n "$SEED_PORT" ] && return 0
    sleep 0.1
  done
  bad "the seed did not start"; sed 's/^/  seed: /' "$log.err" | head
  return 1
}
stop_seed() { kill -TERM "$SEED_PID" 2>/dev/null; wait "$SEED_PID" 2>/dev/null || true; }

# ---- 7. magnet links where a .torrent is needed: said so ----
for cmd in seed verify; do
  expect_exit 2 "$cmd of a magnet link" "$SHOAL" $cmd 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567' "$T"
  expect_grep "$T/err" "shoal $cmd: a magnet link holds no metadata" "$cmd says why a magnet link will not do"
  if grep -q 'No such file' "$T/err"; then bad "$cmd: no 'No such file' for a magnet link"; else ok "$cmd: no 'No such file'"; fi
done

# ---- 8. target paths: symlinks, folders in a file's place, -o unwritable ----
$MK "$T/multi.torrent" "$T/data/multi"
mkdir -p "$T/dl-link/multi" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/dl-link/multi/sub"
expect_exit 1 "a symlink in a target path is refused" \
  timeout 60 "$SHOAL" get --bind 127.0.0.1 -o "$T/dl-link" "$T/multi.torrent"
expect_grep "$T/err" 'dl-link/multi/sub is a symbolic link: shoal refuses to write through symlinks' \
  "says shoal refuses to write through symlinks, and which path"
if grep -q 'Too many levels' "$T/err"; then bad "no bare ELOOP message"; else ok "no bare ELOOP message"; fi
[ -z "$(ls -A "$T/elsewhere")" ] && ok "nothing written through the link" || bad "wrote through the link"
mkdir -p "$T/dl-dir/multi/a.bin"
expect_exit 1 "a folder where a file goes is refused before downloading" \
  timeout 60 "$SHOAL" get --bind 127.0.0.1 -o "$T/dl-dir" "$T/multi.torrent"
expect_grep "$T/err" 'dl-dir/multi/a\.bin is a folder where the torrent needs a file' "names the folder in the way"
[ ! -e "$T/dl-dir/multi/sub" ] && ok "no other file started before the refusal" || bad "other files were created"
mkdir -p "$T/dl-file" && echo x >"$T/dl-file/multi"
expect_exit 1 "a file where a folder goes is refused" \
  timeout 60 "$SHOAL" get --bind 127.0.0.1 -o "$T/dl-file" "$T/multi.torrent"
expect_grep "$T/err" 'dl-file/multi is a file where the torrent needs a folder' "names the file in the way"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  mkdir -p "$T/ro" && chmod 555 "$T/ro" && chmod o+rx "$T" && chmod -R o+r "$T/evil.torrent"
  expect_exit 1 "an unwritable -o DIR is refused" setpriv --reuid=nobody --regid=nogroup \
    --clear-groups "$SHOAL" get --bind 127.0.0.1 -o "$T/ro/x" "$T/evil.torrent"
  expect_grep "$T/err" "^shoal get: -o .*/ro/x: cannot write there: Permission denied at .*/ro$" "names -o and the folder"
  if grep -q resume "$T/err"; then bad "not reported as a resume-data problem"; else ok "not reported as a resume-data problem"; fi
elif [ "$(id -u)" != 0 ]; then
  mkdir -p "$T/ro" && chmod 555 "$T/ro"
  expect_exit 1 "an unwritable -o DIR is refused" "$SHOAL" get --bind 127.0.0.1 -o "$T/ro/x" "$T/evil.torrent"
  expect_grep "$T/err" "^shoal get: -o .*/ro/x: cannot write there: Permission denied" "names -o and the folder"
else
  skip "unwritable -o: root without setpriv (root writes anywhere)"
fi

# ---- 9. a fatal error is printed once ----
expect_exit 1 "a failing download" timeout 60 "$SHOAL" get --bind 127.0.0.1 -o "$T/dl-dir" "$T/multi.torrent"
n=$(grep -c 'is a folder where the torrent needs a file' "$T/err" || true)
[ "$n" = 1 ] && ok "the error is printed once" || bad "the error is printed $n times"

# ---- 11. no trackers: create warns, get says so at once ----
expect_exit 0 "create without -t" "$SHOAL" create -o "$T/notrk.torrent" "$T/data/blob.bin"
expect_grep "$T/err" 'warning: no tracker given \(-t URL\): peers can find this torrent only through the DHT' \
  "create warns that the torrent has no tracker"
"$SHOAL" get --bind 127.0.0.1 --no-peer-timeout 30 -o "$T/dl-notrk" "$T/notrk.torrent" >"$T/nt.out" 2>"$T/nt.err" &
pids+=($!); ntpid=$!
for _ in $(seq 50); do grep -q 'no trackers' "$T/nt.err" && break; sleep 0.1; done
expect_grep "$T/nt.err" 'lists no trackers and no --peer was given: only a peer that connects here' \
  "get says at once that no peer can be found"
kill -INT $ntpid 2>/dev/null || true; wait $ntpid 2>/dev/null || true

# ---- 12. the same torrent twice: as two arguments, and as two runs ----
cp "$T/data/blob.bin" "$T/seeddata.bin"; mkdir -p "$T/sd" && cp "$T/data/blob.bin" "$T/sd/"
$MK "$T/blob.torrent" "$T/data/blob.bin"
cp "$T/blob.torrent" "$T/blob-copy.torrent"
start_seed "$T/blob.torrent" "$T/sd"
expect_exit 0 "a torrent given twice is fetched once" timeout 60 "$SHOAL" get --bind 127.0.0.1 \
  --no-seed --peer "127.0.0.1:$SEED_PORT" -o "$T/dl-twice" "$T/blob.torrent" "$T/blob-copy.torrent"
expect_grep "$T/err" 'blob-copy\.torrent is the same torrent as .*blob\.torrent .*skipping it' "notes the duplicate"
if grep -q 'File exists\|already added' "$T/err"; then bad "no 'File exists' for the duplicate"; else ok "no 'File exists'"; fi
"$SHOAL" get --bind 127.0.0.1 --seed-time 1h -o "$T/dl-lock" "$T/blob.torrent" --peer "127.0.0.1:$SEED_PORT" \
  >"$T/l1.out" 2>"$T/l1.err" &
pids+=($!); l1=$!
for _ in $(seq 100); do grep -q 'complete' "$T/l1.out" && break; sleep 0.1; done
expect_exit 1 "a second get on the same folder and torrent is refused" timeout 60 "$SHOAL" get \
  --bind 127.0.0.1 --no-peer-timeout 5 -o "$T/dl-lock" "$T/blob.torrent"
expect_grep "$T/err" "another program \(pid $l1\) is already using this torrent with the resume folder .*dl-lock/\.shoal" \
  "names the other process and the resume folder"

# ---- 10. after completion: why it keeps running, and where the data is ----
expect_grep "$T/l1.out" "complete, .* in $T/dl-lock/blob\.bin; seeding until ratio 1 or for 1h00m, or Ctrl-C \(see --seed-ratio, --seed-time, --no-seed\)" \
  "says how long it seeds and where the data is"
kill -INT $l1 2>/dev/null || true; wait $l1 2>/dev/null || true
# --no-seed: no seeding line, even for a moment (a terminal redraws each second)
script -qec "$SHOAL get --bind 127.0.0.1 --no-seed --peer 127.0.0.1:$SEED_PORT -o $T/dl-noseed $T/blob.torrent" \
  /dev/null >"$T/ns.out" 2>&1 || true
expect_grep "$T/ns.out" 'blob\.bin: complete' "--no-seed completes (on a terminal)"
if grep -q 'seeding' "$T/ns.out"; then bad "--no-seed shows no seeding line"; grep -a seeding "$T/ns.out" | head -3 | cat -v; else ok "--no-seed shows no seeding line"; fi
stop_seed

# ---- 14. small inconsistencies of the command line ----
expect_exit 0 "shoal help get" "$SHOAL" help get
expect_grep "$T/out" '^usage: shoal get' "help get prints get's usage"
expect_exit 2 "an unknown option of create" "$SHOAL" create --bogus x
expect_grep "$T/err" "^shoal create: unrecognized option '--bogus'" "names the command as shoal create"
expect_exit 2 "tracker -p 70000" "$SHOAL" tracker -p 70000
[ "$(wc -l <"$T/err")" = 1 ] && ok "tracker -p 70000: one error line" || bad "tracker -p 70000: $(wc -l <"$T/err") lines"

# fake NAME ARGS...: one of fake_net.py's programs in the background; sets FAKE_PORT
fake() {
  local out=$T/fake.$RANDOM
  : >"$out"
  /usr/bin/python3 "$HERE/fake_net.py" "$@" >"$out" 2>"$out.err" &
  pids+=($!)
  FAKE_PID=$!
  FAKE_PORT=
  for _ in $(seq 100); do FAKE_PORT=$(head -1 "$out" || true); [ -n "$FAKE_PORT" ] && return 0; sleep 0.05; done
  bad "fake_net.py $1 did not start"
}

# ---- 3. a dead UDP tracker: failing at once (ICMP), said, and given up on ----
DEAD=$(/usr/bin/python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$MK "$T/deadudp.torrent" "$T/data/blob.bin" --tracker "udp://127.0.0.1:$DEAD/announce"
expect_exit 1 "get with only a dead UDP tracker gives up after --no-peer-timeout" \
  timeout 30 "$SHOAL" get --bind 127.0.0.1 --no-peer-timeout 3 -o "$T/dl-dead" "$T/deadudp.torrent"
expect_grep "$T/err" "no peers for 3s; last tracker error: udp://127\.0\.0\.1:$DEAD/announce: connection refused" \
  "names the tracker and the refusal"
expect_grep "$T/err" "every tracker is failing \(udp://127\.0\.0\.1:$DEAD/announce: connection refused" \
  "a one-line warning when every tracker fails, at normal verbosity"
# a silent one: failing after its first unanswered interval, not after BEP 15's hours
fake udp-silent
$MK "$T/silent.torrent" "$T/data/blob.bin" --tracker "udp://127.0.0.1:$FAKE_PORT/announce"
expect_exit 1 "get with only a silent UDP tracker gives up after --no-peer-timeout" \
  timeout 30 env SHOAL_UDP_TIMEOUT_MS=300 "$SHOAL" get --bind 127.0.0.1 --no-peer-timeout 3 -o "$T/dl-silent" "$T/silent.torrent"
expect_grep "$T/err" "no peers for 3s; last tracker error: udp://127\.0\.0\.1:$FAKE_PORT/announce: no connect reply after [0-9]+ tr(y|ies); still trying" \
  "says the tracker does not answer"
kill $FAKE_PID 2>/dev/null || true

# ---- 4. tracker trouble on the progress line and in --json ----
script -qec "$SHOAL get --bind 127.0.0.1 --no-peer-timeout 3 -o $T/dl-tty $T/deadudp.torrent" /dev/null \
  >"$T/tty.out" 2>&1 || true
tr '\r' '\n' <"$T/tty.out" >"$T/tty.lines"
expect_grep "$T/tty.lines" '^blob\.bin +0\.0%  tracker: connection refused, retry in [0-9]+s$' \
  "the progress line says what the tracker does and when it retries"
fake http-fail 'torrent \x1b[2Jnot registered\x07 here'
$MK "$T/httpfail.torrent" "$T/data/blob.bin" --tracker "http://127.0.0.1:$FAKE_PORT/announce"
timeout 30 "$SHOAL" get --json --bind 127.0.0.1 --no-peer-timeout 2 -o "$T/dl-json" "$T/httpfail.torrent" \
  >"$T/json.out" 2>"$T/json.err" || true
cat >"$T/check.py" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines, "no JSON lines"
t = [l["torrent"] for l in lines if l["torrent"]["trackers"]["failing"]]
assert t, "no line with a failing tracker: %r" % lines[-1]
tr = t[-1]["trackers"]
assert tr["total"] == 1 and tr["failing"] == 1, tr
assert tr["error"] == "tracker says: torrent ?[2Jnot registered? here", tr
assert "http://127.0.0.1:" in tr["message"], tr
assert lines[-1]["torrent"]["state"] == "error", lines[-1]
EOF
if /usr/bin/python3 "$T/check.py" "$T/json.out"; then
  ok "--json: one valid JSON line per tick, with the tracker's state, made safe"
else bad "--json output"; head -3 "$T/json.out"; fi
no_escapes "$T/json.err" "--json: messages on stderr carry no escape sequence"
kill $FAKE_PID 2>/dev/null || true

# ---- 16. peers that hang up after our handshake ----
# (with --encryption off, where "they may require encryption" is the news;
# by default the encrypted handshake comes first: see the case after).
# Three closes make a closer: a --peer is retried 2 s and then 4 s after a
# failure, on the engine's 1 s tick, so the third close comes 6-8 s in;
# the timeout leaves room for a slow (sanitizer) build.
fake closer
"$SHOAL" get --json --bind 127.0.0.1 --no-peer-timeout 12 --peer "127.0.0.1:$FAKE_PORT" -o "$T/dl-closer" \
  --encryption off "$T/blob.torrent" >"$T/cl.out" 2>"$T/cl.err" &
pids+=($!); clpid=$!
for _ in $(seq 250); do kill -0 $clpid 2>/dev/null || break; sleep 0.1; done
kill $clpid 2>/dev/null || true; rc=0; wait $clpid || rc=$?
[ "$rc" = 1 ] && ok "get with a peer that hangs up gives up after --no-peer-timeout" || bad "exit $rc"
expect_grep "$T/cl.err" 'no peers for 12s: peers close the connection after the handshake; they may require encryption \(--encryption is off\)' \
  "says why nothing comes"
expect_grep "$T/cl.out" '"peers_closed_after_handshake":[3-9]' "counts the closes in the status"
kill $FAKE_PID 2>/dev/null || true
# the default (prefer): encrypted first, then plaintext, both hung up on
fake closer
"$SHOAL" get --bind 127.0.0.1 --no-peer-timeout 12 --peer "127.0.0.1:$FAKE_PORT" -o "$T/dl-closer2" \
  "$T/blob.torrent" >"$T/cl2.out" 2>"$T/cl2.err" &
pids+=($!); clpid=$!
for _ in $(seq 250); do kill -0 $clpid 2>/dev/null || break; sleep 0.1; done
kill $clpid 2>/dev/null || true; rc=0; wait $clpid || rc=$?
[ "$rc" = 1 ] && ok "prefer: gives up after --no-peer-timeout" || bad "prefer: exit $rc"
expect_grep "$T/cl2.err" 'no peers for 12s: peers close the connection after the handshake, encrypted or not' \
  "prefer: says both handshakes were hung up on"
kill $FAKE_PID 2>/dev/null || true

# ---- 5. resume data edited by hand is not trusted ----
# Wrong data of the right size, a run that saves resume data (no piece
# verified), then every bit of `pieces` set with the file stamps untouched.
mkdir -p "$T/dl-tamper" && head -c 40000 /dev/urandom >"$T/dl-tamper/blob.bin"
expect_exit 1 "a first run on wrong data finds no piece" timeout 30 "$SHOAL" get --bind 127.0.0.1 \
  --no-peer-timeout 1 -o "$T/dl-tamper" "$T/blob.torrent"
cat >"$T/tamper.py" <<'EOF'
import glob, sys
path = glob.glob(sys.argv[1] + "/.shoal/*.resume")[0]
d = bytearray(open(path, "rb").read())
i = d.index(b"6:pieces") + 8
j = d.index(b":", i)
n = int(d[i:j])
d[j + 1:j + 1 + n] = b"\xe0" * n  # 3 pieces: the top three bits
open(path, "wb").write(d)
EOF
/usr/bin/python3 "$T/tamper.py" "$T/dl-tamper"
expect_exit 1 "edited resume data does not make get report done" timeout 30 "$SHOAL" get \
  --bind 127.0.0.1 --no-peer-timeout 1 -o "$T/dl-tamper" "$T/blob.torrent"
expect_grep "$T/err" 'resume data not used \(resume data: the checksum does not match its content \(damaged or edited\)\), checking the data' \
  "refuses it with the reason, at the default verbosity"
if grep -q 'complete' "$T/out"; then bad "reported complete on wrong data"; else ok "not reported complete"; fi

finish
