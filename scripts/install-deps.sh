#!/usr/bin/env bash
# Installs, with apt, exactly the Debian packages shoal's build, tests, demo and
# benchmarks need that are not installed yet. Safe to run again: when nothing is
# missing it does nothing and touches no network.
set -euo pipefail

pkgs=(
  # build
  build-essential cmake pkg-config git
  libuv1-dev libssl-dev libcurl4-openssl-dev node-llhttp
  libsqlite3-dev libjansson-dev
  # tests and fuzzing
  libcriterion-dev clang libclang-rt-14-dev python3 iproute2
  # real clients and trackers the interop tests drive
  python3-libtorrent transmission-daemon transmission-cli aria2 opentracker mktorrent
  # the daemon's web page in a real browser
  chromium chromium-driver python3-selenium
  # benchmarks; the swarm benchmark's namespaces, shaping, loss, delay and
  # per-peer counters (bench/swarm.sh, tests/interop/test_swarm_shaped.py)
  wrk hyperfine time
  nftables iptables libnetfilter-queue-dev iputils-ping
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
