#!/bin/bash
# Transfer benchmark: shoal against libtorrent over loopback, one run,
# several repetitions, medians and ratios as a markdown table on stdout
# (progress on stderr). See bench/transfer.py for what is measured.
#
#   bench/transfer.sh [PATH-TO-SHOAL]     default: build/shoal
#   REPS=3 SIZE_MB=2048 FILES=300 LEECHERS=8 VARIANTS="single multi"
#   SCENARIOS="shoal->shoal lt->lt lt->shoal shoal->lt shoal->8shoal
#              shoal->shoal-utp lt->lt-utp     (uTP only, one file)
#              shoal->shoal/rc4 lt->lt/rc4 shoal->shoal/sendfile"
#   LT_ONLY=1 runs only libtorrent -> libtorrent (validates the harness)
#
# Needs /usr/bin/python3 with python3-libtorrent, and free space for the
# data, the leechers' copies (8 x SIZE_MB for the fan-out) under BENCH_TMP
# (default: the system temp dir).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shoal=${1:-$here/../build/shoal}
if [ "${LT_ONLY:-0}" != 1 ] && [ ! -x "$shoal" ]; then
  echo "transfer.sh: no shoal binary at $shoal (build it with make, or set LT_ONLY=1)" >&2
  exit 2
fi
exec /usr/bin/python3 "$here/transfer.py" "$shoal"
