#!/usr/bin/env python3
"""shoal's DHT <-> libtorrent's DHT (python3-libtorrent 2.0) on loopback.

Torrents with no tracker and no peer given by hand: the peers must find each
other through the DHT alone.
  * shoal get, bootstrapped from libtorrent's DHT node, finds the libtorrent
    seed and downloads from it;
  * libtorrent, bootstrapped from shoal's DHT node, finds the shoal seed and
    downloads from it;
  * both bootstrap from a standalone `shoal dht` node, which stores what
    libtorrent announces and hands it to shoal get.
libtorrent's DHT runs with its address checks off, on 127.0.0.2 (each node
of a DHT on its own address, as INTEROP.md found necessary); shoal on
127.0.0.1. The downloaded bytes must be identical to the originals.
Usage: test_dht.py PATH-TO-SHOAL"""

import os
import re

from swarmlib import (fixture, free_port_both, Check, LtPeer, Run, require, same_tree,
                      shoal_from_argv, wait_for, lt_module, lt_settings)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
TIMEOUT = 120
LT_HOST = "127.0.0.2"


class LtDhtPeer(LtPeer):
    """A libtorrent session on LT_HOST with its DHT on, holding one torrent
    (seeding or leeching) that it may only find peers for through the DHT.
    LtPeer's queries and close() apply."""

    def __init__(self, torrent, save_dir, seed=False, bootstrap=None):
        # not LtPeer.__init__: its session listens on 127.0.0.1 without a DHT
        lt = lt_module()
        self.lt = lt
        self.port = free_port_both()
        s = lt_settings()
        s.update({
            "listen_interfaces": "%s:%d" % (LT_HOST, self.port),
            "enable_dht": True, "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False, "dht_prefer_verified_node_ids": False,
            "dht_enforce_node_id": False,
            "dht_bootstrap_nodes": "127.0.0.1:%d" % bootstrap if bootstrap else "",
        })
        self.ses = lt.session(s)
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = save_dir
        if seed:
            p.flags |= lt.torrent_flags.seed_mode
        self.h = self.ses.add_torrent(p)

    def announce(self):
        """Announces again (libtorrent's first announce may go out before
        its DHT knows any node); True for wait_for."""
        self.h.force_dht_announce()
        return True


def shoal_get_dht(procs, tor, dst, boot_host, boot_port):
    """shoal get with nothing but a DHT bootstrap node. Returns the Proc."""
    get, _ = SHOAL.get(procs, tor, dst, extra=["--bind", "127.0.0.1", "--dht-bootstrap",
                                               "%s:%d" % (boot_host, boot_port)])
    return get


def finished(get, seed):
    """Waits for shoal get to exit, nudging the libtorrent seed to announce
    (every 2 s) until it does. Returns the exit code."""
    def exited():
        if get.poll() is None:
            seed.announce()
            return False
        return True
    wait_for(exited, TIMEOUT, "shoal get to finish through the DHT", 2.0)
    return get.poll()


def shoal_gets_via_libtorrent_node(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    seed = LtDhtPeer(tor, src, seed=True)
    try:
        get = shoal_get_dht(procs, tor, dst, LT_HOST, seed.port)
        rc = finished(get, seed)
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %s)" % rc)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        ok(seed.uploaded() > 0, "libtorrent seed uploaded %d bytes" % seed.uploaded())
        return ok.result()
    finally:
        seed.close()


def libtorrent_gets_via_shoal_node(scratch, procs):
    src, content, tor, dst = fixture(scratch, "multi")
    _, port = SHOAL.seed(procs, tor, src, extra=["--bind", "127.0.0.1"])
    leech = LtDhtPeer(tor, dst, bootstrap=port)
    try:
        wait_for(leech.done, TIMEOUT, "libtorrent to find the shoal seed through the DHT")
        ok = Check()
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        return ok.result()
    finally:
        leech.close()


def both_via_shoal_dht_node(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    boot_port = free_port_both()
    node = procs.start("shoal-dht", SHOAL.argv("dht", "--port", boot_port, "--bind", "127.0.0.1",
                                                "--status-every", 1))
    wait_for(lambda: "DHT node on port" in node.output(), 30, "shoal dht to start")
    seed = LtDhtPeer(tor, src, seed=True, bootstrap=boot_port)
    try:
        wait_for(lambda: seed.announce() and re.search(r"stored [1-9]\d* info-hashes",
                                                       node.output()),
                 TIMEOUT, "libtorrent's announce to reach the shoal dht node", 1.0)
        get = shoal_get_dht(procs, tor, dst, "127.0.0.1", boot_port)
        rc = finished(get, seed)
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %s)" % rc)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        return ok.result()
    finally:
        seed.close()


run = Run("dht")
run.case("shoal get <- libtorrent seed, via libtorrent's DHT node",
         shoal_gets_via_libtorrent_node)
run.case("libtorrent <- shoal seed, via shoal's DHT node", libtorrent_gets_via_shoal_node)
run.case("libtorrent seed -> shoal dht node -> shoal get", both_via_shoal_dht_node)
run.finish()
