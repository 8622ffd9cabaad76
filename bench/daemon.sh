#!/bin/bash
# Daemon benchmark: shoal daemon against transmission-daemon 3.00 with N
# small torrents (default 10,000: generated, a few pieces each, data
# present so they seed), in one run. Prints a markdown table with ratios
# on stdout, progress on stderr. See bench/daemon.py for what is measured.
#
#   bench/daemon.sh [PATH-TO-SHOAL]     default: build/shoal
#   N=10000 POLLS=60 IDLE_S=30 BENCH_TMP=/tmp
#   SHOAL_BEFORE=PATH: another shoal binary measured in the same run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shoal=${1:-$here/../build/shoal}
[ -x "$shoal" ] || { echo "daemon.sh: no shoal binary at $shoal (make)" >&2; exit 2; }
command -v transmission-daemon >/dev/null || { echo "daemon.sh: transmission-daemon missing (make deps)" >&2; exit 2; }
exec /usr/bin/python3 "$here/daemon.py" "$shoal"
