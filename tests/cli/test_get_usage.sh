#!/usr/bin/env bash
# `shoal get` and `shoal seed`: help, usage errors and refusals. Everything
# here is decided before any transfer starts; end-to-end transfers are tested
# under tests/interop/. Only the last section (seed refusing incomplete data)
# runs the engine: it binds 127.0.0.1 on a port the kernel picks.
. "$(dirname "$0")/lib.sh"
pid=
# Only the main shell cleans up: a forked child that has not yet exec'd
# shoal must not remove the scratch dir if a signal reaches it.
main=$$
trap '[ "$BASHPID" = "$main" ] || exit; [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$T"' EXIT

# A small torrent made here, so the test needs no other command: 3 pieces of
# 16 KiB over one 40,000-byte file, no trackers.
/usr/bin/python3 - "$T" <<'EOF'
import hashlib, os, sys
t = sys.argv[1]
os.makedirs(os.path.join(t, "data"))
data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(40000))
with open(os.path.join(t, "data", "blob.bin"), "wb") as f:
    f.write(data)
pl = 16384
pieces = b"".join(hashlib.sha1(data[i:i + pl]).digest() for i in range(0, len(data), pl))
info = b"d6:lengthi%de4:name8:blob.bin12:piece lengthi%de6:pieces%d:" % (len(data), pl, len(pieces)) + pieces + b"e"
with open(os.path.join(t, "good.torrent"), "wb") as f:
    f.write(b"d4:info" + info + b"e")
with open(os.path.join(t, "garbage.torrent"), "wb") as f:
    f.write(b"d4:infoi3e")          # truncated: no closing 'e'
with open(os.path.join(t, "noinfo.torrent"), "wb") as f:
    f.write(b"d8:announce9:http://x/e")
EOF
GOOD=$T/good.torrent

# ---- get: help and missing arguments ----
expect_exit 0 "get --help" "$SHOAL" get --help
expect_grep "$T/out" '^usage: shoal get' "get help on stdout"
expect_grep "$T/out" '--seed-ratio R' "get help lists --seed-ratio"
expect_grep "$T/out" '--peer HOST:PORT' "get help lists the shared network options"
expect_exit 2 "get without a torrent" "$SHOAL" get
expect_grep "$T/err" 'missing TORRENT' "says what is missing"
expect_exit 2 "get with an unknown option" "$SHOAL" get --frobnicate "$GOOD"

# ---- get: bad torrent files (exit 2, the parser's reason) ----
expect_exit 2 "get with a nonexistent torrent" "$SHOAL" get "$T/nope.torrent"
expect_grep "$T/err" 'nope\.torrent' "names the missing file"
expect_exit 2 "get with a truncated torrent" "$SHOAL" get -o "$T/dl" "$T/garbage.torrent"
expect_grep "$T/err" 'bencode|byte' "gives the parser's reason"
expect_exit 2 "get with a torrent lacking info" "$SHOAL" get -o "$T/dl" "$T/noinfo.torrent"
expect_grep "$T/err" 'info' "names the missing field"
[ ! -e "$T/dl" ] && ok "nothing created for a bad torrent" || bad "created $T/dl for a bad torrent"

# ---- get: option values ----
for p in 1.2.3.4 '1.2.3.4:' '1.2.3.4:0' '1.2.3.4:65536' '1.2.3.4:8x' '[::1:6881' '[::1]' '::1:6881' ':6881'; do
  expect_exit 2 "--peer '$p' refused" "$SHOAL" get --peer "$p" "$GOOD"
  expect_grep "$T/err" "--peer '\\S*': " "names --peer and its value ($p)"
done
expect_exit 2 "unresolvable --peer host" "$SHOAL" get --peer no-such-host.invalid:6881 "$GOOD"
expect_grep "$T/err" 'no-such-host\.invalid' "names the host"
for r in 10X 5KK -1 K 1.5.2M ''; do
  expect_exit 2 "--up-rate '$r' refused" "$SHOAL" get --up-rate "$r" "$GOOD"
  expect_grep "$T/err" "--up-rate '$r'" "names --up-rate and its value ($r)"
done
expect_exit 2 "--down-rate 3Q refused" "$SHOAL" get --down-rate 3Q "$GOOD"
expect_grep "$T/err" 'K or M suffix' "explains the rate syntax"
expect_exit 2 "--port 70000 refused" "$SHOAL" get --port 70000 "$GOOD"
expect_exit 2 "--bind to a name refused" "$SHOAL" get --bind localhost "$GOOD"
expect_exit 2 "--max-peers 0 refused" "$SHOAL" get --max-peers 0 "$GOOD"
expect_exit 2 "--encryption maybe refused" "$SHOAL" get --encryption maybe "$GOOD"
expect_grep "$T/err" "--encryption 'maybe': expected prefer, require or off" "names the choices"
expect_exit 0 "get help" "$SHOAL" get --help
expect_grep "$T/out" '--encryption MODE' "get help lists --encryption"
expect_exit 2 "--seed-ratio abc refused" "$SHOAL" get --seed-ratio abc "$GOOD"
expect_exit 2 "--seed-ratio -1 refused" "$SHOAL" get --seed-ratio -1 "$GOOD"
expect_exit 2 "--seed-time 5x refused" "$SHOAL" get --seed-time 5x "$GOOD"
expect_grep "$T/err" "--seed-time '5x'" "names --seed-time"
expect_exit 2 "--only past the last file refused" "$SHOAL" get --only 1,2 "$GOOD"
expect_grep "$T/err" 'files 1 to 1' "says which indices exist"
expect_exit 2 "--only 0 refused (numbering starts at 1)" "$SHOAL" get --only 0 "$GOOD"
expect_exit 2 "--only garbage refused" "$SHOAL" get --only 'a,b' "$GOOD"
expect_exit 2 "--only with two torrents refused" "$SHOAL" get --only 1 "$GOOD" "$GOOD"

# ---- seed: help and usage ----
expect_exit 0 "seed --help" "$SHOAL" seed --help
expect_grep "$T/out" '^usage: shoal seed' "seed help on stdout"
expect_grep "$T/out" '--up-rate R' "seed help lists the shared network options"
expect_exit 2 "seed without DIR" "$SHOAL" seed "$GOOD"
expect_grep "$T/err" 'TORRENT and DIR' "says what is missing"
expect_exit 2 "seed with too many arguments" "$SHOAL" seed "$GOOD" "$T/data" extra
expect_exit 2 "seed with a truncated torrent" "$SHOAL" seed "$T/garbage.torrent" "$T/data"
expect_grep "$T/err" 'bencode|byte' "gives the parser's reason"
expect_exit 2 "seed with bad --peer" "$SHOAL" seed --peer nope "$GOOD" "$T/data"
expect_exit 1 "seed with a nonexistent DIR" "$SHOAL" seed "$GOOD" "$T/nodir"
expect_grep "$T/err" 'nodir.*no such directory' "names the directory"

# ---- seed refuses incomplete data (needs the engine: runs its check) ----
# Corrupt one byte of piece 1 and cut the file inside piece 2: 2 of 3 pieces
# are bad. A hang would be a failure, hence the timeout.
cp -r "$T/data" "$T/bad"
printf '\xff' | dd of="$T/bad/blob.bin" bs=1 seek=20000 conv=notrunc status=none
truncate -s 35000 "$T/bad/blob.bin"
expect_exit 1 "seed refuses incomplete data" \
  timeout 120 "$SHOAL" seed --bind 127.0.0.1 --port 0 "$GOOD" "$T/bad"
expect_grep "$T/err" '2 of 3 pieces missing or corrupt' "says how many pieces are bad"
rm -rf "$T/bad/blob.bin"
expect_exit 1 "seed refuses when the file is missing" \
  timeout 120 "$SHOAL" seed --bind 127.0.0.1 --port 0 "$GOOD" "$T/bad"
expect_grep "$T/err" 'the data is not there: .*bad/blob\.bin does not exist' \
  "all pieces missing: says the data is not there, and where it was looked for"

# ---- get's own decisions around the engine (no transfer; needs the engine) ----
# Data already complete: nothing was downloaded, so nothing is owed, and get
# exits 0 after its check without waiting for peers.
expect_exit 0 "get on complete data exits 0" \
  timeout 120 "$SHOAL" get --bind 127.0.0.1 --port 0 -o "$T/data" "$GOOD"
expect_grep "$T/out" 'blob\.bin: complete' "reports completion"
[ -d "$T/data/.shoal" ] && ok "default resume dir DIR/.shoal created" || bad "no $T/data/.shoal"
# every accepted spelling of the shared options (peers that refuse are fine)
expect_exit 0 "valid network options accepted" \
  timeout 120 "$SHOAL" get --bind 127.0.0.1 --bind ::1 --port 0 --max-peers 10 \
  --up-rate 500K --down-rate 1M/s --peer 127.0.0.1:1 --peer '[::1]:1' --peer localhost:1 \
  --seed-ratio 2.5 --seed-time 0m -q -o "$T/data" "$GOOD"
[ ! -s "$T/out" ] && ok "-q prints nothing on success" || bad "-q printed: $(head -c 200 "$T/out")"

# No trackers, no --peer, nobody dials in: give up with the reason.
expect_exit 1 "get gives up without any source of peers" \
  timeout 120 "$SHOAL" get --bind 127.0.0.1 --port 0 --no-peer-timeout 2 -o "$T/dl1" "$GOOD"
expect_grep "$T/err" 'no trackers and no --peer' "says there was nowhere to find peers"

# A tracker that refuses connections (port 1 on loopback is closed).
/usr/bin/python3 - "$T" <<'EOF2'
import sys
t = sys.argv[1]
raw = open(t + "/good.torrent", "rb").read()
url = b"http://127.0.0.1:1/announce"
open(t + "/deadtracker.torrent", "wb").write(b"d8:announce%d:%s" % (len(url), url) + raw[1:])
EOF2
expect_exit 1 "get gives up when the tracker is unreachable" \
  timeout 120 "$SHOAL" get --bind 127.0.0.1 --port 0 --no-peer-timeout 2 -o "$T/dl2" "$T/deadtracker.torrent"
expect_grep "$T/err" 'no peers for 2s; last tracker error: .*127\.0\.0\.1:1' "names the tracker and its error"

# Interrupted before completion: graceful stop, 130 for SIGINT, 143 for
# SIGTERM, resume data saved in --resume-dir.
for sig in INT TERM; do
  want=$([ $sig = INT ] && echo 130 || echo 143)
  out=$T/sig$sig.out
  "$SHOAL" get --bind 127.0.0.1 --port 0 --resume-dir "$T/res$sig" -o "$T/dl$sig" "$GOOD" \
    >"$out" 2>"$T/sig$sig.err" &
  pid=$!
  # wait for the first status line: the session is up and the handlers set
  # (a file of its own, so no earlier run's output can satisfy this)
  for _ in $(seq 200); do [ -s "$out" ] && break; sleep 0.1; done
  kill -$sig $pid
  rc=0
  for _ in $(seq 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then kill -KILL $pid; bad "SIG$sig: did not stop within 60 s"; fi
  wait $pid || rc=$?
  pid=
  [ "$rc" -eq "$want" ] && ok "SIG$sig before completion exits $want" || bad "SIG$sig: exit $rc, wanted $want"
  expect_grep "$out" 'incomplete, 0 B of' "SIG$sig: summary says what is missing"
  ls "$T/res$sig"/*.resume >/dev/null 2>&1 && ok "SIG$sig: resume data saved" || bad "SIG$sig: no resume file in $T/res$sig"
done

finish
