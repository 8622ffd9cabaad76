#!/usr/bin/env python3
"""aria2c (1.36) downloading from `shoal seed` over loopback.

aria2c has no option to add a peer by hand, so aria2c listens and shoal
seed dials it (`--peer`); aria2c exits 0 once its download is complete and
verified. Single file and the multi-file fixture.
Usage: test_aria2.py PATH-TO-SHOAL"""

import os

from swarmlib import (fixture, Check, Run, aria2c_argv, free_port, require, same_tree,
                      shoal_from_argv, wait_listening)

SHOAL = shoal_from_argv()
require(programs=["aria2c"])
TIMEOUT = 120


def aria2_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    aport = free_port()
    aria = procs.start("aria2c", aria2c_argv(tor, dst, aport))
    wait_listening(aport)
    SHOAL.seed(procs, tor, src, peers=[aport])
    rc = aria.wait(TIMEOUT)
    ok = Check()
    ok(rc == 0, "aria2c exits 0 (got %d)" % rc)
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    return ok.result()


run = Run("aria2")
for kind in ("single", "multi"):
    run.case("aria2c <- shoal seed (%s)" % kind, aria2_gets_from_shoal, kind)
run.finish()
