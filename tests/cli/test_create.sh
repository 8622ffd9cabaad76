#!/usr/bin/env bash
# shoal create: happy paths (file, directory, options) and every refusal with
# its exit code and a message naming the path.
. "$(dirname "$0")/lib.sh"
cd "$T"
head -c 300000 /dev/urandom > one.bin
mkdir -p tree/sub && head -c 5000 /dev/urandom > tree/a && head -c 70000 /dev/urandom > tree/sub/b
: > tree/empty && echo hidden > tree/.dot && ln -s a tree/link

expect_exit 0 "single file" "$SHOAL" create --no-date -l 16K one.bin
[ -f one.bin.torrent ] && ok "default output NAME.torrent" || bad "default output NAME.torrent"
expect_grep "$T/out" '^info-hash: [0-9a-f]{40}$' "prints the info-hash"
expect_grep "$T/out" '^wrote: +one.bin.torrent$' "prints the output path"
# no progress bar when stderr is not a terminal: only the warning that a
# torrent without a tracker can be found only by address
grep -v '^shoal create: warning: no tracker given' "$T/err" >"$T/err.rest" || true
[ ! -s "$T/err.rest" ] && ok "nothing else on stderr when it is not a terminal" || bad "stderr not empty: $(cat "$T/err")"
"$SHOAL" info one.bin.torrent > info.txt
expect_grep info.txt '^pieces: +19 x 16.0 KiB' "piece length from -l 16K"

expect_exit 2 "existing output refused" "$SHOAL" create --no-date one.bin
expect_grep "$T/err" "one.bin.torrent: already exists \(use -f" "names the existing output"
expect_exit 0 "-f overwrites" "$SHOAL" create -f --no-date -l 32K one.bin
"$SHOAL" info one.bin.torrent > info.txt
expect_grep info.txt '^pieces: +10 x 32.0 KiB' "overwritten with the new piece length"

expect_exit 0 "directory with options" "$SHOAL" create -o t.torrent -t http://127.0.0.1:1/a,http://127.0.0.1:2/a \
  -t udp://127.0.0.1:3 -w http://127.0.0.1:4/ -p -c "a comment" -s SRC -n named -j 2 tree
expect_grep "$T/err" "skipping .*tree/link: symbolic link" "symlink skipped with a warning"
expect_grep "$T/err" '^[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3} warn: skipping tree/link: symbolic link$' \
  "the library's warning printed as a time-stamped log line"
"$SHOAL" info --json t.torrent > t.json
python3 - t.json <<'PY' && ok "fields from the options" || bad "fields from the options"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["name"] == "named", j["name"]
assert j["trackers"] == [["http://127.0.0.1:1/a", "http://127.0.0.1:2/a"], ["udp://127.0.0.1:3"]], j["trackers"]
assert j["web_seeds"] == ["http://127.0.0.1:4/"]
assert j["private"] is True and j["comment"] == "a comment" and j["source"] == "SRC"
assert j["creation_date"] is not None and j["created_by"].startswith("shoal ")
assert [f["path"] for f in j["files"]] == ["named/.dot", "named/a", "named/empty", "named/sub/b"], j["files"]
assert j["total_length"] == 5000 + 70000 + 7
PY
mkdir -p vr && cp -a tree vr/named
expect_exit 0 "created tree verifies in place" "$SHOAL" verify t.torrent vr

ln -s one.bin via-link.bin
expect_exit 0 "PATH itself may be a link" "$SHOAL" create --no-date -o via.torrent via-link.bin
expect_grep "$T/out" '^name: +via-link.bin$' "named after the link"

expect_exit 2 "missing path" "$SHOAL" create nope
expect_grep "$T/err" "nope: No such file" "names the missing path"
mkdir emptydir
expect_exit 2 "empty directory" "$SHOAL" create emptydir
expect_grep "$T/err" "emptydir: empty directory" "names the empty directory"
expect_exit 2 "bad piece length" "$SHOAL" create -l 1000 one.bin
expect_grep "$T/err" "power of two" "explains the piece length rule"
expect_exit 2 "no PATH" "$SHOAL" create
expect_exit 0 "--help" "$SHOAL" create --help
expect_grep "$T/out" '^usage: shoal create' "help text"

# An unreadable file: root reads everything, so drop to nobody when root.
mkdir -p ro && head -c 100 /dev/urandom > ro/secret && chmod 000 ro/secret && chmod 755 "$T" ro
if [ "$(id -u)" -ne 0 ]; then
  expect_exit 2 "unreadable file" "$SHOAL" create -o ro.torrent ro
  expect_grep "$T/err" "ro/secret: Permission denied" "names the unreadable file"
elif command -v setpriv >/dev/null; then
  expect_exit 2 "unreadable file" setpriv --reuid 65534 --regid 65534 --clear-groups "$SHOAL" create -o /dev/null -f ro
  expect_grep "$T/err" "ro/secret: Permission denied" "names the unreadable file"
else
  # setpriv is util-linux, essential in Debian: this is a stripped machine
  skip "unreadable file: running as root and setpriv (util-linux) is missing to drop to nobody"
fi
# a .torrent over the parser's 32 MiB limit is refused before hashing
# (a sparse file: 26 GiB in 16 KiB pieces is 1.7 M hashes, 34 MB)
truncate -s 26G sparse.bin
expect_exit 2 "pieces that would not fit the torrent size limit" timeout 20 "$SHOAL" create -l 16K sparse.bin
expect_grep "$T/err" 'pieces of 16384 bytes would make a \.torrent over the 32 MiB limit for torrent files; use larger pieces' \
  "says so before hashing, naming the limit"
rm -f sparse.bin
finish
