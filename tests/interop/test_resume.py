#!/usr/bin/env python3
"""`shoal get` stopped half way, then started again, resumes: the second
run fetches only roughly what the first left unverified.

The seed is libtorrent, rate-limited to 2 MiB/s, so "half way" through
the 16 MiB file is a window of seconds, not microseconds. The test stops
shoal once the seed has sent about half, counts the pieces on disk that
already match their hashes (what a correct restart may keep), restarts
shoal and compares the seed's upload counter across the second run with
what was missing. Done twice: with SIGKILL (no chance to save anything;
the restart must find verified pieces by checking the data) and with
SIGINT (the graceful path).
Usage: test_resume.py PATH-TO-SHOAL"""

import os
import signal

from swarmlib import (Check, LtPeer, Run, count_good_pieces, make_single, make_torrent,
                      require, same_tree, shoal_from_argv, torrent_info, wait_for)

SHOAL = shoal_from_argv()
require(modules=["libtorrent"])
SIZE = 16 * 1024 * 1024 + 5555
RATE = 2 << 20
TIMEOUT = 120


def resume(scratch, procs, sig):
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    content = make_single(src, size=SIZE)
    tor = os.path.join(scratch, "r.torrent")
    make_torrent(content, tor)
    info, _, total = torrent_info(tor)
    plen = info[b"piece length"]
    npieces = len(info[b"pieces"]) // 20
    dst = os.path.join(scratch, "dst")
    os.makedirs(dst)
    seed = LtPeer(tor, src, seed=True, upload_rate=RATE)
    try:
        first, port = SHOAL.get(procs, tor, dst, peers=[seed.port], name="shoal-get-1")
        wait_for(lambda: first.poll() is not None or seed.uploaded() >= total // 2, TIMEOUT,
                 "the seed to upload half the file")
        ok = Check()
        if not ok(first.poll() is None, "first run still running at half way"):
            return ok.result()
        first.signal(sig)
        rc1 = first.wait(60)
        ok(rc1 != 0, "interrupted run does not claim success (exit %d)" % rc1)
        sent_first = seed.uploaded_settled()
        good = count_good_pieces(tor, dst)
        print("  first run: seed sent %d bytes, %d of %d pieces verified on disk"
              % (sent_first, good, npieces), flush=True)
        ok(good >= npieces // 4, "at least a quarter of the pieces on disk after the stop "
           "(%d of %d)" % (good, npieces))
        second, _ = SHOAL.get(procs, tor, dst, peers=[seed.port], port=port,
                              name="shoal-get-2")
        rc2 = second.wait(TIMEOUT)
        ok(rc2 == 0, "second run exits 0 (got %d)" % rc2)
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        sent_second = seed.uploaded_settled() - sent_first
        missing = total - good * plen
        # slack: blocks in flight and re-requests at the start, 4 pieces' worth
        limit = missing + 4 * plen
        ok(sent_second <= limit, "second run fetched %d bytes, at most missing %d + slack "
           "(limit %d)" % (sent_second, missing, limit))
        ok(sent_second < total * 3 // 4, "second run fetched well under the whole file "
           "(%d of %d)" % (sent_second, total))
        return ok.result()
    finally:
        seed.close()


run = Run("resume")
run.case("resume after SIGKILL", resume, signal.SIGKILL)
run.case("resume after SIGINT", resume, signal.SIGINT)
run.finish()
