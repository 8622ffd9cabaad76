#!/usr/bin/env python3
"""shoal <-> Transmission 3.00 (transmission-daemon) over loopback.

Transmission never dials peers in 127.0.0.0/8 that a tracker hands it, but
it accepts incoming connections from loopback. So in both directions shoal
is the side that dials: `shoal get --peer` to a Transmission seed, and
`shoal seed --peer` to a downloading Transmission. That exercises shoal's
outgoing handshake against Transmission's incoming one in both roles
without needing root for network namespaces.

One more case drops loopback altogether: Transmission runs in a network
namespace the test creates (veth pair, private /30 addresses that exist
only for the test), and it and a shoal seed meet through shoal tracker, so
Transmission dials shoal from the peer list like it would on a real
network. It needs root and `ip netns`; without them that case is skipped,
and so the whole file reports skipped (exit 77) if nothing failed.

Transmission 3.00 does not create zero-length files, so those alone may be
missing on its side; every other byte must be identical.
Usage: test_transmission.py PATH-TO-SHOAL"""

import os
import re

from swarmlib import (fixture, Check, NetNs, Run, Transmission, free_port_both, make_multi,
                      make_torrent, require, same_tree, shoal_from_argv, wait_for,
                      wait_listening)

SHOAL = shoal_from_argv()
require(programs=["transmission-daemon", "transmission-remote"])
TIMEOUT = 120



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


def transmission_via_tracker_in_netns(scratch, procs):
    ns = NetNs()
    try:
        src = os.path.join(scratch, "src")
        os.makedirs(src)
        content = make_multi(src)
        tport = free_port_both()
        data = os.path.join(scratch, "tracker")
        os.makedirs(data)
        # a short interval so whoever announced first learns of the other soon
        procs.start("shoal-tracker", SHOAL.argv("tracker", "-p", tport, "--bind", ns.outside,
                                                "--data", data, "--interval", 5,
                                                "--min-interval", 1))
        wait_listening(tport, 60, host=ns.outside)
        tor = os.path.join(scratch, "multi.torrent")
        make_torrent(content, tor, announce="http://%s:%d/announce" % (ns.outside, tport))
        seed, _ = SHOAL.seed(procs, tor, src, extra=["--bind", ns.outside], host=ns.outside)
        dst = os.path.join(scratch, "dst")
        os.makedirs(dst)
        tr = Transmission(procs, scratch, dst, bind=ns.inside, netns=ns.name)
        tr.add(tor)
        wait_for(tr.complete, TIMEOUT, "Transmission (in %s) to download from shoal seed at %s"
                 % (ns.name, ns.outside))
        ok = Check()
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)),
                         allow_missing_empty=True)
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        # shoal logs each connection by the remote address: one from the
        # namespace's address and a port other than Transmission's listening
        # port was dialed by Transmission
        ports = {int(m) for m in re.findall(r"peer %s:(\d+)" % re.escape(ns.inside),
                                             seed.output())}
        ok(ports - {tr.peer_port}, "Transmission dialed shoal from %s (ports %s)"
           % (ns.inside, sorted(ports)))
        return ok.result()
    finally:
        procs.kill_all()  # nothing may hold the namespace when it goes
        ns.close()


run = Run("transmission")
for kind in ("single", "multi"):
    run.case("shoal get <- Transmission seed (%s)" % kind, shoal_gets_from_transmission, kind)
    run.case("Transmission <- shoal seed (%s)" % kind, transmission_gets_from_shoal, kind)
NETNS_CASE = "Transmission <- shoal seed via shoal tracker, in a network namespace"
no_netns = NetNs.unavailable()
if no_netns:
    run.skip(NETNS_CASE, no_netns)
else:
    run.case(NETNS_CASE, transmission_via_tracker_in_netns)
run.finish()
