#!/usr/bin/python3
"""One libtorrent peer of a bench/swarm.sh swarm (python3-libtorrent 2.0).

  lt_peer.py seed|leech TORRENT DIR --bind IP [--port P] [--up-rate B]
             [--down-rate B] [--every S]

Listens on IP:P and finds its peers through the torrent's tracker. Default
settings, except what a fair comparison over TCP needs (INTEROP.md): uTP
off, no DHT, LSD, UPnP or NAT-PMP. With a rate limit every peer is put in
the global peer class: libtorrent exempts peers on a local network (the
benchmark's private addresses) from limits by default.

Prints a JSON line every S seconds (default 1) and one at the moment the
download completes ("finished": true), with "t" in seconds since this
process started (or since --t0): the harness turns that into a finish
time. A leecher
keeps seeding until SIGTERM, as shoal get --seed-ratio 0 does."""

import argparse
import json
import os
import signal
import sys
import time

T0 = time.monotonic()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["seed", "leech"])
    ap.add_argument("torrent")
    ap.add_argument("dir")
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=6881)
    ap.add_argument("--up-rate", type=int, default=0)
    ap.add_argument("--down-rate", type=int, default=0)
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--t0", type=float, default=None,
                    help="CLOCK_MONOTONIC seconds that t counts from (default: start)")
    a = ap.parse_args()
    t0 = a.t0 if a.t0 is not None else T0
    import libtorrent as lt
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ses = lt.session({
        "listen_interfaces": "%s:%d" % (a.bind, a.port),
        "outgoing_interfaces": a.bind,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False,
        "upload_rate_limit": a.up_rate, "download_rate_limit": a.down_rate,
        "alert_mask": 0,
    })
    if a.up_rate or a.down_rate:
        f = lt.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(f)
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(a.torrent)
    p.save_path = a.dir
    if a.role == "seed":
        p.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(p)
    finished = a.role == "seed"
    last = 0.0
    while not stop:
        now = time.monotonic() - t0
        st = h.status()
        done = st.is_seeding or st.is_finished
        report = False
        if done and not finished:
            finished = True
            report = True
        if report or now - last >= a.every:
            last = now
            peers = []
            for pi in h.get_peer_info():
                client = pi.client
                if isinstance(client, bytes):
                    client = client.decode("utf-8", "replace")
                peers.append({"addr": "%s:%d" % pi.ip, "client": client,
                              "downloaded": pi.total_download, "uploaded": pi.total_upload,
                              "down_rate": pi.payload_down_speed,
                              "up_rate": pi.payload_up_speed})
            print(json.dumps({"t": round(now, 3), "state": str(st.state).split(".")[-1],
                              "finished": done, "have_bytes": st.total_wanted_done,
                              "wanted_bytes": st.total_wanted,
                              "downloaded": st.total_payload_download,
                              "uploaded": st.total_payload_upload, "peers": peers}),
                  flush=True)
        time.sleep(0.05)
    ses.remove_torrent(h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
