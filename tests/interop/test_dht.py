#!/usr/bin/env python3
"""shoal's DHT <-> libtorrent's DHT (python3-libtorrent 2.0) on loopback.

Torrents with no tracker and no peer given by hand: the peers must find each
other through the DHT alone.
  * shoal get, bootstrapped from libtorrent's DHT node, finds the libtorrent
    seed and downloads from it;
  * libtorrent, bootstrapped from shoal's DHT node, finds the shoal seed and
    downloads from it;
  * both bootstrap from a standalone `shoal dht` node, which stores what
    libtorrent announces and hands it to shoal get;
  * the same two ways with a magnet link that holds the info-hash alone (no
    tr, no x.pe): shoal get MAGNET, bootstrapped from libtorrent's node,
    fetches the metadata and the data from the libtorrent seed; libtorrent,
    bootstrapped from the shoal seed's node, does so from the shoal seed.
libtorrent's DHT runs with its address checks off, on 127.0.0.2 (each node
of a DHT on its own address, as INTEROP.md found necessary); shoal on
127.0.0.1. The downloaded bytes must be identical to the originals.
Usage: test_dht.py PATH-TO-SHOAL"""

import os
import re

from swarmlib import (fixture, free_port_both, Check, LtPeer, Run, require, same_tree,
                      shoal_from_argv, torrent_info, wait_for, lt_module, lt_settings)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
TIMEOUT = 120
LT_HOST = "127.0.0.2"


class LtDhtPeer(LtPeer):
    """A libtorrent session on LT_HOST with its DHT on, holding one torrent
    (seeding or leeching) that it may only find peers for through the DHT:
    from a .torrent, or with magnet set, from that link alone (no tracker,
    no peer). LtPeer's queries and close() apply."""

    def __init__(self, torrent, save_dir, seed=False, bootstrap=None, magnet=None):
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
        if magnet:
            p = lt.parse_magnet_uri(magnet)
            p.trackers = []
        else:
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


def bare_magnet(tor):
    """The magnet link of a .torrent with the info-hash and nothing else."""
    return "magnet:?xt=urn:btih:" + torrent_info(tor)[1].hex()


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


def lt_leech_result(leech, content, dst, what):
    """Waits for the libtorrent leecher to finish, closes it and compares
    its files. Compared only after the close: libtorrent may say it is
    finished while a small file is still short on disk (seen: a 1-byte
    file of a multi-file torrent read back empty), and closing its
    session waits for its disk threads."""
    try:
        wait_for(leech.done, TIMEOUT, "libtorrent to get " + what)
    finally:
        leech.close()
    ok = Check()
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    return ok.result()


def shoal_get_result(get, seed, content, dst):
    """Waits for shoal get (nudging the libtorrent seed) and returns a Check
    of its exit code and its bytes, for the caller to add to."""
    rc = finished(get, seed)
    ok = Check()
    ok(rc == 0, "shoal get exits 0 (got %s)" % rc)
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    return ok


def shoal_gets_via_libtorrent_node(scratch, procs, magnet=False):
    """With magnet, shoal is given the bare link (and a multi-file torrent)
    and must fetch the metadata from the seed the DHT names."""
    src, content, tor, dst = fixture(scratch, "multi" if magnet else "single")
    seed = LtDhtPeer(tor, src, seed=True)
    try:
        get = shoal_get_dht(procs, bare_magnet(tor) if magnet else tor, dst, LT_HOST, seed.port)
        ok = shoal_get_result(get, seed, content, dst)
        ok(seed.uploaded() > 0, "libtorrent seed uploaded %d bytes" % seed.uploaded())
        if magnet:
            # the seed is the only other peer: it may hand the metadata over
            # on the connection shoal dialled (LT_HOST:port) or on one it
            # dialled itself after finding shoal in the DHT (its own
            # address and an ephemeral port)
            ok(re.search(r"metadata received from 127\.0\.0\.\d+:\d+", get.output()),
               "shoal fetched the metadata from the libtorrent seed")
        return ok.result()
    finally:
        seed.close()


def libtorrent_gets_via_shoal_node(scratch, procs):
    src, content, tor, dst = fixture(scratch, "multi")
    _, port = SHOAL.seed(procs, tor, src, extra=["--bind", "127.0.0.1"])
    leech = LtDhtPeer(tor, dst, bootstrap=port)
    return lt_leech_result(leech, content, dst, "the shoal seed through the DHT")


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
        return shoal_get_result(get, seed, content, dst).result()
    finally:
        seed.close()


def libtorrent_magnet_via_shoal_node(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    _, port = SHOAL.seed(procs, tor, src, extra=["--bind", "127.0.0.1"])
    leech = LtDhtPeer(None, dst, bootstrap=port, magnet=bare_magnet(tor))
    return lt_leech_result(leech, content, dst, "the metadata and data of the shoal seed "
                           "found through the DHT")


run = Run("dht")
run.case("shoal get <- libtorrent seed, via libtorrent's DHT node",
         shoal_gets_via_libtorrent_node)
run.case("libtorrent <- shoal seed, via shoal's DHT node", libtorrent_gets_via_shoal_node)
run.case("libtorrent seed -> shoal dht node -> shoal get", both_via_shoal_dht_node)
run.case("shoal get MAGNET <- libtorrent seed, via libtorrent's DHT node",
         shoal_gets_via_libtorrent_node, True)
run.case("libtorrent MAGNET <- shoal seed, via shoal's DHT node",
         libtorrent_magnet_via_shoal_node)
run.finish()
