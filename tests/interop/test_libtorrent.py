#!/usr/bin/env python3
"""shoal <-> libtorrent (python3-libtorrent 2.0, TCP only) over loopback.

Both directions, with a single file and with the multi-file fixture (nested
directories, zero-length files, sizes not multiples of the piece length).
The downloaded bytes must be identical to the originals.
Usage: test_libtorrent.py PATH-TO-SHOAL"""

import os

from swarmlib import (fixture, Check, LtPeer, Run, require, same_tree, shoal_from_argv,
                      wait_for)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
TIMEOUT = 120  # a few MiB take well under a second here; this is for loaded CI



def shoal_gets_from_libtorrent(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    seed = LtPeer(tor, src, seed=True)
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[seed.port])
        rc = get.wait(TIMEOUT)
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        ok(seed.uploaded() > 0, "libtorrent seed uploaded %d bytes" % seed.uploaded())
        return ok.result()
    finally:
        seed.close()


def libtorrent_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    _, port = SHOAL.seed(procs, tor, src)
    leech = LtPeer(tor, dst)
    try:
        leech.connect(port)
        wait_for(leech.done, TIMEOUT, "libtorrent to finish downloading from shoal seed")
        ok = Check()
        st = leech.status()
        ok(st.total_payload_download > 0, "libtorrent downloaded %d payload bytes"
           % st.total_payload_download)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        return ok.result()
    finally:
        leech.close()


run = Run("libtorrent")
for kind in ("single", "multi"):
    run.case("shoal get <- libtorrent seed (%s)" % kind, shoal_gets_from_libtorrent, kind)
    run.case("libtorrent <- shoal seed (%s)" % kind, libtorrent_gets_from_shoal, kind)
run.finish()
