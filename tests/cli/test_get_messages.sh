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
trap '[ "$BASHPID" = "$main" ] || exit; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

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

finish
