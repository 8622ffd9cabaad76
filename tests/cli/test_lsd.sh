#!/usr/bin/env bash
# Local service discovery (BEP 14): two shoal clients find each other with
# no tracker, no DHT and no --peer, in a network namespace of the test's own
# (`unshare --net`: only a loopback with multicast on, so no announce can
# leave the machine). A `shoal seed --lsd` and a `shoal get --lsd` of the
# torrent's magnet link: the metadata and the data come through LSD alone.
# Skipped, visibly, where namespaces cannot be made (not root, a container
# that refuses them).
. "$(dirname "$0")/lib.sh"
cd "$T"

command -v unshare >/dev/null || skip_all "unshare not found (package util-linux)"
command -v ip >/dev/null || skip_all "ip not found (package iproute2)"
unshare --net true 2>/dev/null || skip_all "cannot create a network namespace (needs root)"

head -c $((3 * 1048576 + 777)) /dev/urandom > film.bin
"$SHOAL" create --no-date -l 256K -o film.torrent film.bin >/dev/null
link=$("$SHOAL" info --magnet film.torrent)

# Everything below runs inside the namespace.
cat > inside.sh <<'EOF'
set -u
SHOAL=$1 link=$2
ip link set lo up
ip link set lo multicast on
ip route add 239.0.0.0/8 dev lo src 127.0.0.1
"$SHOAL" seed film.torrent . --port 0 --lsd -v > seed.log 2>&1 &
seed=$!
rc=0
timeout 60 "$SHOAL" get "$link" -o dl --no-seed --lsd -v --no-peer-timeout 45 > get.log 2>&1 || rc=$?
kill $seed 2>/dev/null
wait $seed 2>/dev/null
exit $rc
EOF
expect_exit 0 "shoal get MAGNET --lsd finds shoal seed --lsd" unshare --net bash inside.sh "$SHOAL" "$link"
if cmp -s film.bin dl/film.bin; then ok "data identical"; else bad "data differ"; tail -20 get.log; fi
expect_grep get.log "metadata received from 127.0.0.1:" "the metadata came from the seed"
expect_grep seed.log "Infohash|attached|closing" "the seed saw the leech"
finish
