#!/usr/bin/env bash
# `shoal get` and `shoal seed`: help, usage errors and refusals. Everything
# here is decided before any transfer starts; end-to-end transfers are tested
# under tests/interop/. Only the last section (seed refusing incomplete data)
# runs the engine: it binds 127.0.0.1 on a port the kernel picks.
. "$(dirname "$0")/lib.sh"

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
expect_grep "$T/out" -- '--seed-ratio' "get help lists --seed-ratio"
expect_grep "$T/out" -- '--peer HOST:PORT' "get help lists the shared network options"
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
  expect_grep "$T/err" -- "--up-rate" "names --up-rate ($r)"
done
expect_exit 2 "--down-rate 3Q refused" "$SHOAL" get --down-rate 3Q "$GOOD"
expect_grep "$T/err" 'K or M suffix' "explains the rate syntax"
expect_exit 2 "--port 70000 refused" "$SHOAL" get --port 70000 "$GOOD"
expect_exit 2 "--bind to a name refused" "$SHOAL" get --bind localhost "$GOOD"
expect_exit 2 "--max-peers 0 refused" "$SHOAL" get --max-peers 0 "$GOOD"
expect_exit 2 "--seed-ratio abc refused" "$SHOAL" get --seed-ratio abc "$GOOD"
expect_exit 2 "--seed-ratio -1 refused" "$SHOAL" get --seed-ratio -1 "$GOOD"
expect_exit 2 "--seed-time 5x refused" "$SHOAL" get --seed-time 5x "$GOOD"
expect_grep "$T/err" -- "--seed-time '5x'" "names --seed-time"
expect_exit 2 "--only past the last file refused" "$SHOAL" get --only 1,2 "$GOOD"
expect_grep "$T/err" 'files 1 to 1' "says which indices exist"
expect_exit 2 "--only 0 refused (numbering starts at 1)" "$SHOAL" get --only 0 "$GOOD"
expect_exit 2 "--only garbage refused" "$SHOAL" get --only 'a,b' "$GOOD"
expect_exit 2 "--only with two torrents refused" "$SHOAL" get --only 1 "$GOOD" "$GOOD"

# ---- seed: help and usage ----
expect_exit 0 "seed --help" "$SHOAL" seed --help
expect_grep "$T/out" '^usage: shoal seed' "seed help on stdout"
expect_grep "$T/out" -- '--up-rate' "seed help lists the shared network options"
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
expect_grep "$T/err" '3 of 3 pieces missing or corrupt' "all pieces missing"

finish
