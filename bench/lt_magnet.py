#!/usr/bin/python3
"""libtorrent's side of bench/magnet.py: downloads a magnet link into a
folder and prints, as one JSON line, the wall-clock times (time.time())
at which it added the link, had the metadata, had its first verified
piece and had everything.

    lt_magnet.py MAGNET OUT_DIR

Settings as the interop tests use them (INTEROP.md): TCP only, no DHT, LSD,
UPnP or NAT-PMP; the link's x.pe names the seed."""

import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/interop")
import swarmlib  # noqa: E402


def main():
    link, out = sys.argv[1], sys.argv[2]
    lt = swarmlib.lt_module()
    ses = lt.session(swarmlib.lt_settings())
    # its threads up and listening before the clock starts: only what the
    # link takes is timed
    deadline = time.time() + 30
    while not ses.is_listening() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    p = lt.parse_magnet_uri(link)
    p.save_path = out
    t = {"added": time.time()}
    h = ses.add_torrent(p)
    deadline = time.time() + 600
    while "done" not in t and time.time() < deadline:
        s = h.status()
        now = time.time()
        if s.has_metadata and "metadata" not in t:
            t["metadata"] = now
        if s.num_pieces > 0 and "first_piece" not in t:
            t["first_piece"] = now
        if s.is_seeding:
            t["done"] = now
        time.sleep(0.002)
    print(json.dumps(t), flush=True)
    ses.remove_torrent(h)


if __name__ == "__main__":
    main()
