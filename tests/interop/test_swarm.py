#!/usr/bin/env python3
"""A swarm through `shoal tracker`: one shoal seed, three `shoal get`
leechers and one libtorrent leecher, started together.

The seed's upload is capped (--up-rate 1 MiB/s) so that serving every
leecher from the seed alone would take 4 x 12 MiB / 1 MiB/s = 48 s or
more: the leechers have to trade pieces. All must finish with identical
data, and the leechers must be seen uploading to each other: libtorrent's
own counters show it sent payload, each shoal leecher's summary reports
uploaded bytes, and the seed's own summary shows it kept to its rate and
sent less than the four leechers hold.
Usage: test_swarm.py PATH-TO-SHOAL"""

import os
import re
import time

from swarmlib import (Check, LtPeer, Run, free_port_both, make_single, make_torrent, require,
                      same_tree, shoal_from_argv, wait_for, wait_listening)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
SIZE = 12 * 1024 * 1024 + 4097
SEED_RATE = 1 << 20
TIMEOUT = 150


UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10,
         "mib": 1 << 20, "gib": 1 << 30}


def uploaded_from_summary(out):
    """Bytes uploaded as shoal get last reports them ("uploaded 123456",
    "uploaded: 1.5 MiB"...), or None if it never does."""
    found = None
    for m in re.finditer(r"\buploaded\b[ :=]+([0-9]+(?:\.[0-9]+)?)\s*"
                         r"(bytes|[kmg]i?b|b)?\b", out, re.I):
        found = int(float(m.group(1)) * UNITS[(m.group(2) or "").lower()])
    return found


def swarm(scratch, procs):
    tport = free_port_both()
    tracker = procs.start("shoal-tracker", SHOAL.argv("tracker", "-p", tport, "--data",
                                                      os.path.join(scratch, "tracker"),
                                                      "--bind", "127.0.0.1"))
    os.makedirs(os.path.join(scratch, "tracker"), exist_ok=True)
    wait_listening(tport, 60)
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    content = make_single(src, size=SIZE)
    tor = os.path.join(scratch, "swarm.torrent")
    make_torrent(content, tor, announce="http://127.0.0.1:%d/announce" % tport)
    seed, _ = SHOAL.seed(procs, tor, src, extra=["--up-rate", SEED_RATE])
    t0 = time.monotonic()
    gets = []
    for i in range(3):
        dst = os.path.join(scratch, "get%d" % i)
        os.makedirs(dst)
        # seed a while after completing, so the others can still fetch from us
        p, _ = SHOAL.get(procs, tor, dst, seed_args=("--seed-time", "600"),
                         name="shoal-get-%d" % i)
        gets.append((p, dst))
    ltdst = os.path.join(scratch, "lt")
    os.makedirs(ltdst)
    lt = LtPeer(tor, ltdst)
    try:
        ok = Check()
        def shoal_done(dst):
            return same_tree(content, os.path.join(dst, os.path.basename(content))) is None
        wait_for(lambda: lt.done() and all(shoal_done(d) for _, d in gets), TIMEOUT,
                 "every leecher to hold the whole file")
        elapsed = time.monotonic() - t0
        print("  all four leechers complete after %.1f s" % elapsed, flush=True)
        for i, (p, dst) in enumerate(gets):
            ok(p.poll() is None or p.poll() == 0, "shoal get %d running or exited 0" % i)
        diff = same_tree(content, os.path.join(ltdst, os.path.basename(content)))
        ok(diff is None, "libtorrent's copy identical (%s)" % (diff or "same"))
        st = lt.status()
        ok(st.total_payload_upload > 0, "libtorrent leecher uploaded %d bytes"
           % st.total_payload_upload)
        # the seed's own count of what it sent, from its exit summary
        seed.signal(2)
        seed.wait(60)
        seed_up = uploaded_from_summary(seed.output())
        ok(seed_up is not None, "shoal seed prints its uploaded bytes (%s)" % seed_up)
        seed_up = seed_up or 0
        # 2 s of slack for the start-up burst and the time to notice completion
        seed_max = SEED_RATE * (elapsed + 2)
        ok(seed_up <= seed_max, "the seed kept to --up-rate: sent %d bytes in %.1f s "
           "(at most %d)" % (seed_up, elapsed, seed_max))
        ok(seed_up < 4 * SIZE, "the seed sent %d bytes, less than the %d the four leechers "
           "hold: they traded the rest" % (seed_up, 4 * SIZE))
        # stop the shoal leechers so they print their final summary
        for p, _ in gets:
            p.signal(2)
        total_up = 0
        for i, (p, _) in enumerate(gets):
            p.wait(60)
            up = uploaded_from_summary(p.output())
            ok(up is not None, "shoal get %d prints its uploaded bytes (%s)" % (i, up))
            total_up += up or 0
        ok(total_up > 0, "shoal leechers uploaded %d bytes in all" % total_up)
        return ok.result()
    finally:
        lt.close()


run = Run("swarm")
run.case("swarm: 1 seed, 3 shoal + 1 libtorrent leechers via shoal tracker", swarm)
run.finish()
