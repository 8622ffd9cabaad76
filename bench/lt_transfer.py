#!/usr/bin/python3
"""libtorrent (python3-libtorrent, TCP only, settings from INTEROP.md; with
--utp, uTP only: TCP off both ways; --rc4 requires RC4 encryption both
ways) as one side of a benchmark transfer.

  lt_transfer.py seed TORRENT DIR [--port P] [--utp]
      checks nothing (seed mode: the harness made the data), prints
      "ready PORT" once listening, serves until SIGTERM/SIGINT.
  lt_transfer.py leech TORRENT DIR --peer PORT [--utp]
      downloads from 127.0.0.1:PORT, prints "done SECONDS", exits 0.

The harness measures CPU and peak RSS of this process from outside
(wait4), like it does for shoal."""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "interop"))
import swarmlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["seed", "leech"])
    ap.add_argument("torrent")
    ap.add_argument("dir")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--peer", type=int, action="append", default=[])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--utp", action="store_true", help="uTP only, TCP off both ways")
    ap.add_argument("--rc4", action="store_true",
                    help="require RC4 (MSE) both ways: pe_forced, allowed_enc_level rc4")
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    settings = dict(swarmlib.LT_UTP_ONLY) if a.utp else None
    if a.rc4:
        import libtorrent as lt
        settings = settings or {}
        settings.update({"out_enc_policy": int(lt.enc_policy.pe_forced),
                         "in_enc_policy": int(lt.enc_policy.pe_forced),
                         "allowed_enc_level": int(lt.enc_level.rc4)})
    peer = swarmlib.LtPeer(a.torrent, a.dir, seed=a.role == "seed", port=a.port,
                           tracker=False, settings=settings)
    t0 = time.monotonic()
    if a.role == "seed":
        print("ready %d" % peer.port, flush=True)
        while not stop:
            time.sleep(0.1)
        st = peer.status()
        print("uploaded %d" % st.total_payload_upload, flush=True)
        return 0
    for p in a.peer:
        peer.connect(p)
    while not stop:
        if peer.done():
            # libtorrent flushes asynchronously: wait for the data on disk
            peer.h.flush_cache()
            time.sleep(0.2)
            print("done %.3f" % (time.monotonic() - t0), flush=True)
            return 0
        if time.monotonic() - t0 > a.timeout:
            print("timeout after %.0f s at %.1f%%" % (a.timeout, peer.status().progress * 100),
                  flush=True)
            return 1
        time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main())
