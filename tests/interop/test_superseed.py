#!/usr/bin/env python3
"""A super-seeding shoal seed (`shoal seed --super-seed`, BEP 16) serving
real leechers over loopback: libtorrent (it dials the seed) and
Transmission 3.00 (the seed dials it: Transmission never dials loopback
peers itself). A super-seed says it has nothing and reveals pieces one by
one as the leecher announces those it got, so this only completes if the
leecher's HAVEs and its picker work with it. The data must be identical,
and while libtorrent downloads, the seed must show it no more than the
pieces it has and the four revealed to it.
Usage: test_superseed.py PATH-TO-SHOAL"""

import os

from swarmlib import (Check, LtPeer, Run, Transmission, fixture, missing, same_tree,
                      shoal_from_argv, wait_for)

SHOAL = shoal_from_argv()
TIMEOUT = 120


def libtorrent_leech(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    _, port = SHOAL.seed(procs, tor, src, extra=["--super-seed"])
    lt = LtPeer(tor, dst, tracker=False)
    try:
        lt.connect(port)
        ok = Check()
        # while downloading, the seed shows libtorrent what it has plus at
        # most the four pieces it revealed (SH_SUPERSEED_SLOTS)
        worst = [0, 0, 0]  # pieces shown beyond libtorrent's own, shown, had

        def done():
            st = lt.status()
            have = sum(1 for b in st.pieces if b)
            for pi in lt.h.get_peer_info():
                shown = sum(1 for b in pi.pieces if b)
                if not st.is_seeding and shown - have > worst[0]:
                    worst[:] = [shown - have, shown, have]
            return lt.done()
        wait_for(done, TIMEOUT, "libtorrent to complete from the super-seed", interval=0.02)
        npieces = lt.h.torrent_file().num_pieces()
        ok(worst[0] <= 4, "the seed showed at most 4 pieces beyond libtorrent's own (at worst "
           "%d shown while it had %d of %d)" % (worst[1], worst[2], npieces))
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "libtorrent's copy identical (%s)" % (diff or "same"))
        return ok.result()
    finally:
        lt.close()


def transmission_leech(scratch, procs):
    src, content, tor, dst = fixture(scratch, "multi")
    tr = Transmission(procs, scratch, dst)
    tr.add(tor)
    SHOAL.seed(procs, tor, src, peers=[tr.peer_port], extra=["--super-seed"])
    wait_for(tr.complete, TIMEOUT, "Transmission to complete from the super-seed")
    ok = Check()
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)),
                     allow_missing_empty=True)
    ok(diff is None, "Transmission's copy identical (%s)" % (diff or "same"))
    return ok.result()


run = Run("superseed")
why = missing(modules=["libtorrent"])
if why:
    run.skip("libtorrent leecher", why)
else:
    run.case("super-seed -> libtorrent leecher", libtorrent_leech)
why = missing(programs=["transmission-daemon", "transmission-remote"])
if why:
    run.skip("Transmission leecher", why)
else:
    run.case("super-seed -> Transmission leecher", transmission_leech)
run.finish()
