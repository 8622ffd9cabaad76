#!/usr/bin/env python3
"""shoal <-> Transmission 3.00 (transmission-daemon) over loopback.

Transmission never dials peers in 127.0.0.0/8 that a tracker hands it, but
it accepts incoming connections from loopback. So in both directions shoal
is the side that dials: `shoal get --peer` to a Transmission seed, and
`shoal seed --peer` to a downloading Transmission. That exercises shoal's
outgoing handshake against Transmission's incoming one in both roles
without needing root for network namespaces.

Transmission 3.00 does not create zero-length files, so those alone may be
missing on its side; every other byte must be identical.
Usage: test_transmission.py PATH-TO-SHOAL"""

import os

from swarmlib import (Check, Run, Transmission, make_multi, make_single, make_torrent,
                      same_tree, shoal_from_argv, wait_for)

SHOAL = shoal_from_argv()
TIMEOUT = 120


def fixture(scratch, kind):
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    content = make_single(src) if kind == "single" else make_multi(src)
    tor = os.path.join(scratch, kind + ".torrent")
    make_torrent(content, tor)
    dst = os.path.join(scratch, "dst")
    os.makedirs(dst)
    return src, content, tor, dst


def shoal_gets_from_transmission(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, src)
    tr.add(tor)
    # it verifies the data it is given before it will seed
    wait_for(tr.complete, TIMEOUT, "Transmission to verify its copy")
    get, _ = SHOAL.get(procs, tor, dst, peers=[tr.peer_port])
    rc = get.wait(TIMEOUT)
    ok = Check()
    ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    return ok.result()


def transmission_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, dst)
    tr.add(tor)
    SHOAL.seed(procs, tor, src, peers=[tr.peer_port])
    wait_for(tr.complete, TIMEOUT, "Transmission to finish downloading from shoal seed")
    ok = Check()
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)),
                     allow_missing_empty=True)
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    return ok.result()


run = Run("transmission")
for kind in ("single", "multi"):
    run.case("shoal get <- Transmission seed (%s)" % kind, shoal_gets_from_transmission, kind)
    run.case("Transmission <- shoal seed (%s)" % kind, transmission_gets_from_shoal, kind)
run.finish()
