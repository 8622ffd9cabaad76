#!/usr/bin/env bash
# shoal info: text and --json views of the fixtures, and bad input (exit 2
# with the reason, byte offset for bencode errors).
. "$(dirname "$0")/lib.sh"
DATA=${SHOAL_SRC:-$(dirname "$0")/../..}/tests/data
cd "$T"
expect_exit 0 "single-file fixture" "$SHOAL" info "$DATA/single.torrent"
expect_grep "$T/out" '^info-hash: +07f993a4ee5614e02181cda10ce99e1d2135bb36$' "info-hash"
expect_grep "$T/out" '^size: +97.7 KiB \(100000 bytes\)$' "size, human and bytes"
expect_grep "$T/out" '^pieces: +4 x 32.0 KiB' "piece length and count"
expect_grep "$T/out" '^  tier 1: http://127.0.0.1:6969/announce$' "tracker"
expect_grep "$T/out" '^creation date: 2023-11-14 22:13:20 UTC' "date"

expect_exit 0 "multi-file fixture" "$SHOAL" info "$DATA/multi.torrent"
expect_grep "$T/out" '^private: +yes$' "private"
expect_grep "$T/out" '^  tier 2: udp://t2/ann$' "second tier"
expect_grep "$T/out" '^  http://ws2/$' "web seeds"
expect_grep "$T/out" '^source: +SRC$' "source"
expect_grep "$T/out" '1 padding file hidden' "padding hidden with a count"
expect_grep "$T/out" 'multi/sub/empty  \[executable\]' "attributes shown"
expect_grep "$T/out" '^     3 +0 B  multi/sub/empty' "files numbered from 1 as --only takes them, padding not counted"
expect_exit 0 "-a lists padding" "$SHOAL" info -a "$DATA/multi.torrent"
expect_grep "$T/out" 'multi/.pad/11384  \[padding\]' "padding listed"
expect_grep "$T/out" '^     - .*multi/.pad/11384' "padding files carry no number"

"$SHOAL" info --json "$DATA/multi.torrent" > m.json
python3 - m.json <<'PY' && ok "--json parses and holds the fields" || bad "--json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["info_hash"] == "4760d0a355641a03948880f95405658ae119d4e6"
assert j["trackers"] == [["http://t1a/ann", "http://t1b/ann"], ["udp://t2/ann"]]
assert j["num_pieces"] == 3 and j["piece_length"] == 16384 and j["private"] is True
assert [f["padding"] for f in j["files"]] == [False, True, False, False]
assert [f["number"] for f in j["files"]] == [1, None, 2, 3]
assert j["comment"] is None and j["creation_date"] is None
PY

# hostile strings: control characters and invalid UTF-8 in name and comment
python3 - <<'PY'
name = b"ev\x1b[2Jil\xff\xc0\xafname\"\\"
info = b"d6:lengthi1e4:name%d:%s12:piece lengthi16e6:pieces20:%se" % (len(name), name, bytes(20))
com = b"line1\nline2\x01\xed\xa0\x80"
open("evil.torrent", "wb").write(b"d7:comment%d:%s4:info%se" % (len(com), com, info))
PY
"$SHOAL" info --json evil.torrent > e.json
python3 - e.json <<'PY' && ok "--json escapes control chars and invalid UTF-8" || bad "--json escaping"
import json, sys
raw = open(sys.argv[1], "rb").read()
raw.decode("utf-8")  # must be valid UTF-8
assert b"\x1b" not in raw and b"\x01" not in raw
j = json.loads(raw)
assert j["name"] == 'ev\x1b[2Jil\ufffd\ufffd\ufffdname"\\', repr(j["name"])
assert j["comment"] == "line1\nline2\x01\ufffd\ufffd\ufffd", repr(j["comment"])
PY
"$SHOAL" info evil.torrent > e.txt
if grep -q $'\x1b' e.txt; then bad "text view leaks escape sequences"; else ok "text view neutralises control chars"; fi

printf 'd4:infod4:name' > trunc.torrent
expect_exit 2 "truncated bencode" "$SHOAL" info trunc.torrent
expect_grep "$T/err" 'trunc.torrent: bencode error at byte 14' "byte offset given"
printf 'd4:infod6:lengthi5e4:name2:..12:piece lengthi16e6:pieces20:AAAAAAAAAAAAAAAAAAAAee' > dots.torrent
expect_exit 2 "'..' name" "$SHOAL" info dots.torrent
expect_grep "$T/err" "info.name: '..' is not allowed" "names the field"
expect_exit 2 "missing file" "$SHOAL" info nope.torrent
expect_grep "$T/err" 'nope.torrent: No such file' "names the path"
expect_exit 2 "directory" "$SHOAL" info .
expect_exit 2 "no FILE" "$SHOAL" info
# ---- hybrid, v2-only and oversized torrents (issue 17, items 15, 17, 18) ----
MK="/usr/bin/python3 $(dirname "$0")/mktorrent.py"
mkdir -p hyb/d && head -c 20000 /dev/urandom >hyb/d/a.bin && head -c 30000 /dev/urandom >hyb/d/b.bin
$MK hybrid.torrent hyb/d --pad --hybrid
expect_exit 0 "a multi-file hybrid torrent" "$SHOAL" info hybrid.torrent
expect_grep "$T/out" '^size: +48\.8 KiB \(50000 bytes\) in 2 files; plus 12\.5 KiB of padding in 1 BEP 47 file, never on disk$' \
  "size is the content's; padding noted apart"
expect_grep "$T/out" '^version: +hybrid v1 \+ v2 \(BEP 52\); shoal uses its v1 part$' "says it is a hybrid"
expect_grep "$T/out" '^files \(2\):$' "padding files not counted"
"$SHOAL" info --json hybrid.torrent >h.json
python3 - h.json <<'PY' && ok "--json: content and padding apart" || bad "--json sizes"
import json, sys
j = json.load(open(sys.argv[1]))
assert (j["content_length"], j["padding_length"], j["num_files"], j["num_padding_files"]) == (50000, 12768, 2, 1), j
assert j["total_length"] == 62768 and j["hybrid"] is True, j
PY
$MK v2only.torrent hyb/d --v2-only
expect_exit 2 "a v2-only torrent" "$SHOAL" info v2only.torrent
expect_grep "$T/err" 'v2-only torrent \(BEP 52, meta version 2\): not supported yet; hybrid v1\+v2 torrents are, through their v1 part' \
  "says v2-only torrents are not supported yet"
if grep -q "pieces: missing" "$T/err"; then bad "no 'missing pieces' for v2-only"; else ok "no 'missing pieces' for v2-only"; fi
$MK junk.torrent hyb/d/a.bin --junk 3000000
expect_exit 2 "9 MB of junk values" "$SHOAL" info junk.torrent
expect_grep "$T/err" 'more than 2000000 bencode values .*over the limit for torrent files' "names the limit"
head -c 33554433 /dev/zero >huge.torrent
expect_exit 2 "a 32 MiB + 1 torrent" "$SHOAL" info huge.torrent
expect_grep "$T/err" 'larger than the 32 MiB limit for torrent files' "names the size limit"
finish
