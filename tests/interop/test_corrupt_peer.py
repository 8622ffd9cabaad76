#!/usr/bin/env python3
"""`shoal get` facing a peer that sends corrupt blocks.

evil_peer.py speaks BEP 3 correctly, claims every piece, unchokes at once
and answers every request with wrong bytes. Next to it runs an honest,
rate-limited libtorrent seed (1 MiB/s, so the evil peer, which answers
instantly, is sure to be asked for blocks before the seed has sent
everything). shoal must fail those pieces' hash checks, ban the evil
peer, fetch the pieces again from the honest seed and finish with
identical data.
Usage: test_corrupt_peer.py PATH-TO-SHOAL"""

import os
import re

from evil_peer import EvilPeer
from swarmlib import (fixture, Check, LtPeer, Run, require, same_tree, shoal_from_argv)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
TIMEOUT = 120
SEED_RATE = 1 << 20  # bytes/s; the 5 MiB fixture then takes >= 5 s from the seed alone


def corrupt_peer(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    evil = EvilPeer(tor, log=lambda s: print("  evil: " + s, flush=True))
    evil.start()
    seed = LtPeer(tor, src, seed=True, upload_rate=SEED_RATE)
    print("  evil peer on port %d, honest libtorrent seed on port %d" % (evil.port, seed.port),
          flush=True)
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[evil.port, seed.port])
        rc = get.wait(TIMEOUT)
        out = get.output()
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        ok(evil.blocks_sent > 0, "the evil peer was asked for blocks (%d sent)" % evil.blocks_sent)
        bans = [line for line in out.splitlines() if re.search(r"\bban", line, re.I)]
        ok(bans, "shoal logs a ban")
        ok(any(str(evil.port) in line for line in bans),
           "the ban names the evil peer 127.0.0.1:%d (%s)" % (evil.port, bans[:1]))
        return ok.result()
    finally:
        seed.close()
        evil.close()


run = Run("corrupt peer")
for kind in ("single", "multi"):
    run.case("shoal get bans a corrupt peer (%s)" % kind, corrupt_peer, kind)
run.finish()
