#!/usr/bin/env bash
# The DHT core alone, simulated (bench/dht_sim.c): 10,000 nodes on a
# virtual clock with 5 % of datagrams lost each way; at least 99 % of the
# get_peers lookups must find the announced peer. The figures (queries
# and simulated time per lookup, memory per node) are printed for the
# record. Under the sanitizers the same run takes minutes, so the
# sanitized build simulates 1,000 nodes.
. "$(dirname "$0")/lib.sh"
sim=$(dirname "$SHOAL")/shoal-dht-sim
[ -x "$sim" ] || { bad "no $sim (built with shoal)"; finish; }
nodes=10000 lookups=1000 hashes=200
# (grep -c reads all of nm's output: with grep -q, nm's SIGPIPE would fail
# the pipeline under pipefail)
if [ "$(nm "$sim" 2>/dev/null | grep -c __asan_init)" != 0 ]; then
  nodes=1000 lookups=200 hashes=40
fi
expect_exit 0 "$nodes nodes, 5 % loss: at least 99 % of lookups succeed" \
  "$sim" --nodes $nodes --lookups $lookups --hashes $hashes --loss 0.05 --min-success 0.99
sed 's/^/  /' "$T/out"
expect_grep "$T/out" 'get_peers success +(99\.[0-9]+|100\.00) %' "success rate reported"
expect_grep "$T/out" 'memory per node' "memory per node reported"
finish
