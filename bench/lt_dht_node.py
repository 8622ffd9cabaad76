#!/usr/bin/env python3
"""A libtorrent DHT node alone (python3-libtorrent), the reference for
bench/dht.sh: listens on 127.0.0.1:PORT, no torrent, no bootstrap node, and
limits raised so that a load generator on this host measures the node
rather than its defences (libtorrent's defaults answer 8 KB/s and block an
IP after 5 queries a second; shoal's node has neither limit).
Prints "ready PID" once listening, then runs until killed.
Usage: lt_dht_node.py ADDRESS PORT"""

import os
import sys
import time

import libtorrent as lt

host, port = sys.argv[1], int(sys.argv[2])
ses = lt.session({
    "listen_interfaces": "%s:%d" % (host, port),
    "enable_dht": True, "dht_bootstrap_nodes": "",
    "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False, "dht_enforce_node_id": False,
    "dht_upload_rate_limit": 50_000_000, "dht_block_ratelimit": 1_000_000,
    "dht_max_torrents": 20000, "dht_max_peers": 500,
    "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "alert_mask": 0,
})
print("ready %d" % os.getpid(), flush=True)
while True:
    time.sleep(3600)
