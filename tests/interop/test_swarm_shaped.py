#!/usr/bin/env python3
"""A small shaped swarm in network namespaces: `shoal tracker`, one shoal
seed and four `shoal get` leechers, each in its own namespace on a bridge,
with private addresses that exist only inside them. The leechers' uplinks
are shaped with tc (tbf, 8 MiB/s); the seed keeps to its own --up-rate
(4 MiB/s), the fair limiter under test.

Every leecher must finish with data identical to the seed's, and over every
5 s during which all four leechers were unchoked by the seed and wanted
data, each must have received between half and twice its fair share of
the seed's upload (read from the seed's --json lines). The leechers must
also have traded among themselves: with the seed alone the 32 MiB x 4
would take 32 s, and the byte counters of the namespaces show what each
leecher sent to the others.
Needs root, iproute2 (ip, tc) and nftables; says SKIP otherwise.
Usage: test_swarm_shaped.py PATH-TO-SHOAL"""

import json
import os
import time

from swarmlib import (BridgeNet, Check, NetNs, Run, file_sha1, missing, shoal_from_argv,
                      wait_for, write_urandom, SKIP_CODE)

SHOAL = shoal_from_argv()
MiB = 1 << 20
SIZE = 32 * MiB
NLEECH = 4
SEED_RATE = 4 * MiB
LEECH_UPLINK = 8 * MiB
TIMEOUT = 120


def why_not():
    return NetNs.unavailable() or missing(programs=["tc", "nft"])


def reports(path):
    """The seed's --json lines so far."""
    out = []
    try:
        for line in open(path, "rb").read().splitlines():
            if line.startswith(b"{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def share_windows(lines, ips):
    """[(t0, t1, {ip: bytes})] for each 5 s stretch of reports in which every
    leecher was unchoked by the seed and interested ('U' flag)."""
    def sent(r):
        by = {}
        for p in r["peers"]:
            ip = p["addr"].rsplit(":", 1)[0]
            if ip in ips and "U" in p["flags"]:
                by[ip] = p["uploaded"]
        return by if len(by) == len(ips) else None
    snaps = [(r["t"], sent(r)) for r in lines]
    out = []
    for i, (t0, a) in enumerate(snaps):
        if a is None:
            continue
        for t1, b in snaps[i + 1:]:
            if b is None:
                break
            if t1 - t0 >= 5:
                out.append((t0, t1, {ip: b[ip] - a[ip] for ip in ips}))
                break
    return out


def shaped_swarm(scratch, procs):
    ok = Check()
    names = ["tracker", "seed"] + ["L%d" % i for i in range(1, NLEECH + 1)]
    net = BridgeNet(names)
    try:
        for who in names[2:]:
            net.shape(who, LEECH_UPLINK)
        src = os.path.join(scratch, "src")
        content = os.path.join(src, "shaped.bin")
        write_urandom(content, SIZE)
        want = file_sha1(content)
        tor = os.path.join(scratch, "shaped.torrent")
        url = "http://%s:6969/announce" % net.ip["tracker"]
        procs.start("create", SHOAL.argv("create", "-l", "256K", "-t", url, "-o", tor,
                                         content)).wait(60)
        tdata = os.path.join(scratch, "tracker")
        os.makedirs(tdata)
        procs.start("tracker", ["ip", "netns", "exec", net.ns["tracker"]] +
                    SHOAL.argv("tracker", "-p", 6969, "--data", tdata, "--bind",
                               net.ip["tracker"]))
        seed = procs.start("seed", ["ip", "netns", "exec", net.ns["seed"]] +
                           SHOAL.argv("seed", tor, src, "--bind", net.ip["seed"], "--port", 6881,
                                      "--up-rate", SEED_RATE, "--json", "--json-every", 1))
        wait_for(lambda: any(r["torrent"]["state"] == "seeding"
                             for r in reports(seed.log_path)), 60, "the seed to be ready")
        gets = {}
        for who in names[2:]:
            dst = os.path.join(scratch, who)
            os.makedirs(dst)
            gets[who] = (procs.start(who, ["ip", "netns", "exec", net.ns[who]] +
                                     SHOAL.argv("get", tor, "-o", dst, "--bind", net.ip[who],
                                                "--port", 6881, "--seed-ratio", 0, "-v")), dst)
        t0 = time.monotonic()

        def done(who):
            p, dst = gets[who]
            if p.poll() is not None:
                raise RuntimeError("%s exited with %d" % (who, p.poll()))
            f = os.path.join(dst, "shaped.bin")
            return os.path.exists(f) and os.path.getsize(f) == SIZE and file_sha1(f) == want
        finished = {}

        def all_done():
            for who in gets:
                if who not in finished and done(who):
                    finished[who] = time.monotonic() - t0
            return len(finished) == len(gets)
        wait_for(all_done, TIMEOUT, "every leecher to hold the whole file", interval=0.5)
        print("  finished: %s" % ", ".join("%s %.1f s" % kv for kv in sorted(finished.items())))
        ok(True, "all %d leechers hold data identical to the seed's" % NLEECH)
        # the fair limiter: every 5 s window with all four unchoked and interested
        ips = {net.ip[w]: w for w in names[2:]}
        wins = share_windows(reports(seed.log_path), set(ips))
        ok(len(wins) >= 1, "%d windows of 5 s with all four leechers served by the seed"
           % len(wins))
        for t_a, t_b, got in wins:
            fair = sum(got.values()) / len(got)
            shares = ", ".join("%s %.1f MiB" % (ips[ip], b / MiB) for ip, b in sorted(got.items()))
            ok(all(fair / 2 <= b <= 2 * fair for b in got.values()),
               "seed's upload %.0f-%.0f s within half and twice the fair share: %s"
               % (t_a, t_b, shares))
        # the leechers traded: each sent to the others (counted by the kernel)
        for who in names[2:]:
            to_others = sum(net.counters(other, "rx").get(net.ip[who], 0)
                            for other in names[2:] if other != who)
            ok(to_others > SIZE / 8, "%s sent %.1f MiB to the other leechers"
               % (who, to_others / MiB))
        return ok.result()
    finally:
        procs.kill_all()
        net.close()


why = why_not()
if why:
    print("SKIP: " + why, flush=True)
    raise SystemExit(SKIP_CODE)
run = Run("swarm_shaped")
run.case("shaped swarm in namespaces: 1 seed + %d leechers, fair shares" % NLEECH, shaped_swarm)
run.finish()
