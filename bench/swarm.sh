#!/bin/bash
# Swarm benchmark: 1 seed and N leechers, each in its own network namespace
# on a bridge, with shaped uplinks (tc tbf), optional delay (an NFQUEUE
# program, bench/net_delay.c) and loss (nftables), a tracker (opentracker),
# and the same .torrent run as a shoal swarm and as a libtorrent swarm, side
# by side in one run. Prints a markdown table on stdout (progress on
# stderr); per-run details (finish times, the per-peer upload matrix) go to
# OUT. See bench/swarm.py for what is measured.
#
#   bench/swarm.sh [PATH-TO-SHOAL]       default: build/shoal
#   SCENARIOS="a b c d f" REPS=3 SIZE_MB=256 CLIENTS="shoal lt"
#   BENCH_TMP=DIR (data, one copy per leecher), OUT=DIR, KEEP=1
#
# Scenarios: (a) 8 leechers, seed 20 MiB/s, leechers 4 MiB/s; (b) leecher
# uplinks 1, 2, 4, 8 MiB/s, two of each; (c) (a) with 40 ms round trips and
# 0.5 % loss; (d) (a) with churn; (e) 32 leechers; (f) no tc, each client's
# own --up-rate. Needs root (namespaces), iproute2, nftables, iptables,
# opentracker, python3-libtorrent and, for (c), build/shoal-net-delay
# (libnetfilter-queue-dev): scripts/install-deps.sh installs them all.
# It takes the machine: every peer runs at once, so run nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shoal=${1:-$here/../build/shoal}
[ -x "$shoal" ] || { echo "swarm.sh: no shoal binary at $shoal (run make)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "swarm.sh: network namespaces need root" >&2; exit 2; }
for p in ip tc nft iptables opentracker ping; do
  command -v "$p" >/dev/null || { echo "swarm.sh: $p missing (scripts/install-deps.sh)" >&2; exit 2; }
done
export SHOAL_BUILD=${SHOAL_BUILD:-$(dirname "$shoal")}
exec /usr/bin/python3 "$here/swarm.py" "$shoal"
