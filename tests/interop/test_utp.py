#!/usr/bin/env python3
"""shoal <-> libtorrent and Transmission over uTP (BEP 29), on loopback.

libtorrent (python3-libtorrent 2.0) runs with TCP turned off both ways,
so whatever moves, moves over uTP. Every combination: shoal leeching and
seeding, shoal dialling and being dialled, one file and many. shoal runs
with its defaults (uTP and TCP dialled at once): where it dials, its TCP
connection is taken and dropped by libtorrent and it goes on over uTP,
the case the dial policy is for.

Transmission 3.00 runs with uTP on; it never dials loopback peers, so
shoal dials it, with --utp-only (no TCP either way) so the test is about
uTP. Transmission does not create zero-length files; every other byte
must be identical.
Usage: test_utp.py PATH-TO-SHOAL"""

import os

from swarmlib import (fixture, Check, LT_UTP_ONLY, LtPeer, Run, Transmission, missing, require,
                      same_tree, shoal_from_argv, wait_for)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
# libtorrent's uTP moves about 5 MB/s on loopback; this is for a loaded machine
TIMEOUT = 180


def identical(ok, content, dst, allow_missing_empty=False):
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)),
                     allow_missing_empty=allow_missing_empty)
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))


def shoal_dials_lt_seed(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    seed = LtPeer(tor, src, seed=True, settings=LT_UTP_ONLY)
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[seed.port])
        rc = get.wait(TIMEOUT)
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
        identical(ok, content, dst)
        ok(seed.uploaded() > 0, "libtorrent seed uploaded %d bytes" % seed.uploaded())
        return ok.result()
    finally:
        seed.close()


def lt_seed_dials_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    seed = LtPeer(tor, src, seed=True, settings=LT_UTP_ONLY)
    try:
        get, port = SHOAL.get(procs, tor, dst)
        seed.connect(port)
        rc = get.wait(TIMEOUT)
        ok = Check()
        ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
        identical(ok, content, dst)
        return ok.result()
    finally:
        seed.close()


def lt_leech_dials_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    _, port = SHOAL.seed(procs, tor, src)
    leech = LtPeer(tor, dst, settings=LT_UTP_ONLY)
    try:
        leech.connect(port)
        wait_for(leech.done, TIMEOUT, "libtorrent (uTP only) to download from shoal seed")
        ok = Check()
        ok(leech.downloaded() > 0, "libtorrent downloaded %d payload bytes" % leech.downloaded())
        identical(ok, content, dst)
        return ok.result()
    finally:
        leech.close()


def shoal_seed_dials_lt_leech(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    leech = LtPeer(tor, dst, settings=LT_UTP_ONLY)
    try:
        SHOAL.seed(procs, tor, src, peers=[leech.port])
        wait_for(leech.done, TIMEOUT, "libtorrent (uTP only) to download from shoal's dial")
        ok = Check()
        identical(ok, content, dst)
        return ok.result()
    finally:
        leech.close()


def shoal_gets_from_transmission(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, src, settings={"utp-enabled": True})
    tr.add(tor)
    wait_for(tr.complete, TIMEOUT, "Transmission to verify its copy")
    get, _ = SHOAL.get(procs, tor, dst, peers=[tr.peer_port], extra=["--utp-only"])
    rc = get.wait(TIMEOUT)
    ok = Check()
    ok(rc == 0, "shoal get --utp-only exits 0 (got %d)" % rc)
    identical(ok, content, dst)
    return ok.result()


def transmission_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, dst, settings={"utp-enabled": True})
    tr.add(tor)
    SHOAL.seed(procs, tor, src, peers=[tr.peer_port], extra=["--utp-only"])
    wait_for(tr.complete, TIMEOUT, "Transmission to download from shoal seed --utp-only")
    ok = Check()
    identical(ok, content, dst, allow_missing_empty=True)
    return ok.result()


run = Run("utp")
for kind in ("single", "multi"):
    run.case("shoal get dials libtorrent seed, uTP only there (%s)" % kind,
             shoal_dials_lt_seed, kind)
    run.case("libtorrent seed dials shoal get (%s)" % kind, lt_seed_dials_shoal, kind)
    run.case("libtorrent leech dials shoal seed (%s)" % kind, lt_leech_dials_shoal, kind)
    run.case("shoal seed dials libtorrent leech (%s)" % kind, shoal_seed_dials_lt_leech, kind)
no_tr = missing(programs=["transmission-daemon", "transmission-remote"])
for kind in ("single", "multi"):
    for name, fn in (("shoal get --utp-only <- Transmission seed", shoal_gets_from_transmission),
                     ("Transmission <- shoal seed --utp-only", transmission_gets_from_shoal)):
        if no_tr:
            run.skip("%s (%s)" % (name, kind), no_tr)
        else:
            run.case("%s (%s)" % (name, kind), fn, kind)
run.finish()
