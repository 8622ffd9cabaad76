#!/usr/bin/env bash
# shoal verify: complete data, truncated file, one flipped byte, missing
# file, and bad usage.
. "$(dirname "$0")/lib.sh"
cd "$T"
mkdir -p data/pack/sub
head -c 200000 /dev/urandom > data/pack/a.bin
head -c 100000 /dev/urandom > data/pack/sub/b.bin
head -c 50000 /dev/urandom > data/pack/c.bin
"$SHOAL" create --no-date -l 16K -o p.torrent data/pack >/dev/null

expect_exit 0 "complete data" "$SHOAL" verify -j 2 p.torrent data
expect_grep "$T/out" '^complete: +22 of 22 pieces \(100.0%\)$' "all pieces complete"
expect_grep "$T/out" '^result: +OK' "OK result"

cp -a data good
truncate -s 150000 data/pack/a.bin
expect_exit 1 "truncated file" "$SHOAL" verify p.torrent data
expect_grep "$T/out" '^  short +pack/a.bin \(150000 of 200000 bytes\)$' "short file named with sizes"
expect_grep "$T/out" '^missing: +4 pieces$' "missing pieces counted"
expect_grep "$T/out" 'INCOMPLETE' "incomplete result"

rm -rf data && cp -a good data
printf '\xff' | dd of=data/pack/sub/b.bin bs=1 seek=1234 conv=notrunc 2>/dev/null
cmp -s data/pack/sub/b.bin good/pack/sub/b.bin && printf '\x00' | dd of=data/pack/sub/b.bin bs=1 seek=1234 conv=notrunc 2>/dev/null
expect_exit 1 "flipped byte" "$SHOAL" verify p.torrent data
expect_grep "$T/out" '^corrupt: +1 pieces$' "one corrupt piece"
expect_grep "$T/out" '^  corrupt +pack/sub/b.bin \(1 corrupt piece\)$' "corrupt file named"
expect_grep "$T/out" 'CORRUPT' "corrupt result"

rm -rf data && cp -a good data && rm data/pack/c.bin
expect_exit 1 "missing file" "$SHOAL" verify p.torrent data
expect_grep "$T/out" '^  missing +pack/c.bin$' "missing file named"
if grep -q 'pack/a.bin' "$T/out"; then bad "intact neighbour listed"; else ok "intact neighbour not listed"; fi

rm -rf data && cp -a good data && mv data/pack/c.bin elsewhere.bin && ln -s "$T/elsewhere.bin" data/pack/c.bin
expect_exit 1 "symlinked file not followed" "$SHOAL" verify p.torrent data
expect_grep "$T/out" '^  not read +pack/c.bin \(a link' "link reported, not followed"

expect_exit 1 "empty directory: everything missing" "$SHOAL" verify p.torrent "$(mktemp -d "$T/e.XXXXXX")"
expect_grep "$T/out" '^complete: +0 of 22' "nothing complete"
expect_exit 2 "DIR missing" "$SHOAL" verify p.torrent nodir
expect_grep "$T/err" 'nodir' "names the directory"
printf 'garbage' > bad.torrent
expect_exit 2 "bad torrent" "$SHOAL" verify bad.torrent data
expect_grep "$T/err" 'bad.torrent: bencode error at byte 0' "names the torrent and offset"
expect_exit 2 "DIR is a file" "$SHOAL" verify p.torrent p.torrent
expect_grep "$T/err" '^shoal verify: p.torrent: not a directory$' "says DIR is not a directory"
mkdir -p many/m && for i in $(seq -w 1 25); do head -c 100 /dev/urandom > many/m/f$i; done
"$SHOAL" create --no-date -o m.torrent many/m >/dev/null
expect_exit 1 "25 missing files" "$SHOAL" verify m.torrent "$(mktemp -d "$T/e.XXXXXX")"
expect_grep "$T/out" '^  missing +m/f20$' "the first 20 are listed"
if grep -q 'm/f21' "$T/out"; then bad "21st file listed"; else ok "21st file not listed"; fi
expect_grep "$T/out" '^  \.\.\. and 5 more files$' "the rest are counted"
expect_exit 2 "one argument" "$SHOAL" verify p.torrent
expect_exit 2 "bad -j" "$SHOAL" verify -j 0 p.torrent data
finish
