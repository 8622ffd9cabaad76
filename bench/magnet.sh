#!/bin/bash
# Magnet benchmark: from a magnet link to the first verified piece and to
# completion, shoal get against libtorrent, from the same libtorrent seed
# over loopback, side by side in one run; medians and ratios as a markdown
# table on stdout (progress on stderr). See bench/magnet.py.
#
#   bench/magnet.sh [PATH-TO-SHOAL]     default: build/shoal
#   REPS=3 SIZE_MB=100
#
# Needs /usr/bin/python3 with python3-libtorrent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shoal=${1:-$here/../build/shoal}
if [ ! -x "$shoal" ]; then
  echo "magnet.sh: no shoal binary at $shoal (build it with make)" >&2
  exit 2
fi
exec /usr/bin/python3 "$here/magnet.py" "$shoal"
