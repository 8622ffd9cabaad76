#!/usr/bin/env python3
"""shoal daemon driven the way its users drive it, against real peers.

1. transmission-remote: add a .torrent file and a URL, list, info, files,
   peers, trackers, limits, stop/start, verify, move, session info and
   stats, remove, remove with data; each checked against the daemon's
   state and the bytes on disk, through a real download from a libtorrent
   seed found through shoal tracker.
2. The call sequence an automation tool makes (Transmission's RPC spec):
   session-get and its version, torrent-add with a folder and a label,
   torrent-get of the queue, torrent-set, queue-move-top, torrent-remove
   with the data.
3. Crash safety: adds and removes over RPC while the daemon is killed with
   SIGKILL at random moments, 20 times; after each restart the torrents
   are exactly those the RPC acknowledged (an answer lost with the kill
   may go either way), and the data checks out.
4. Dormant seeds: idle seeds leave the engine (and start that way after
   a restart) yet answer torrent-get as seeds, and libtorrent leechers,
   one in plaintext and one forcing RC4 (the daemon finds the torrent by
   its encrypted key), download from them; files and verify wake one.

Usage: test_daemon.py PATH-TO-SHOAL"""

import base64
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

from swarmlib import (Check, LtPeer, Run, free_port, lt_module, make_multi, make_single,
                      make_torrent, require, same_tree, shoal_from_argv, torrent_info, wait_for)

SHOAL = shoal_from_argv()
require(programs=["transmission-remote"], modules=["libtorrent"])
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
import daemon_rpc  # noqa: E402

TIMEOUT = 120


class Daemon:
    def __init__(self, procs, scratch, name="daemon", extra=()):
        self.procs, self.scratch, self.extra = procs, scratch, list(extra)
        self.cfg = os.path.join(scratch, "cfg")
        self.dl = os.path.join(scratch, "dl")
        os.makedirs(self.dl, exist_ok=True)
        self.peer_port = free_port()
        self.n = 0
        self.start(name)

    def start(self, name="daemon"):
        self.n += 1
        self.proc = self.procs.start("%s-%d" % (name, self.n), SHOAL.argv(
            "daemon", "-g", self.cfg, "-w", self.dl, "--rpc-port", 0, "--peer-port",
            self.peer_port, "--bind-address-ipv4", "127.0.0.1", *self.extra))
        self.port = None

        def up():
            m = re.search(r"RPC on \S+ port (\d+)", self.proc.output())
            if m:
                self.port = int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + self.proc.output()[-500:])
            return self.port
        wait_for(up, 60, "the daemon's RPC")

    def rpc(self, method, args=None):
        r = daemon_rpc.call(self.port, method, args or {})
        return r

    def ok(self, method, args=None):
        r = self.rpc(method, args)
        if r["result"] != "success":
            raise RuntimeError("%s: %s" % (method, r["result"]))
        return r["arguments"]

    def remote(self, *args):
        p = subprocess.run(["transmission-remote", "127.0.0.1:%d" % self.port] + list(args),
                           capture_output=True, text=True, timeout=60)
        print("  $ transmission-remote %s\n%s" % (" ".join(args), p.stdout.rstrip()[:1500]),
              flush=True)
        return p

    def torrents(self, fields=("id", "name", "hashString", "percentDone", "status")):
        return self.ok("torrent-get", {"fields": list(fields)})["torrents"]

    def kill(self):
        self.proc.kill()

    def stop(self):
        self.proc.signal(signal.SIGTERM)
        self.proc.wait(60)


def tracker(procs, scratch, interval=5):
    port = free_port()
    p = procs.start("tracker", SHOAL.argv("tracker", "--bind", "127.0.0.1", "-p", port, "--data",
                                          os.path.join(scratch, "trk"), "--interval", interval))
    wait_for(lambda: "listening" in p.output() or "HTTP" in p.output(), 30, "shoal tracker")
    time.sleep(0.3)
    return "http://127.0.0.1:%d/announce" % port


def serve_files(root):
    """A small HTTP server on loopback for torrent-add by URL."""
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=root, **kw)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def remote_case(scratch, procs):
    ok = Check()
    ann = tracker(procs, scratch)
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    multi = make_multi(src)
    single = make_single(src)
    tm, ts = os.path.join(scratch, "multi.torrent"), os.path.join(scratch, "single.torrent")
    make_torrent(multi, tm, announce=ann)
    make_torrent(single, ts, announce=ann)
    seeds = [LtPeer(tm, src, seed=True), LtPeer(ts, src, seed=True)]
    web = os.path.join(scratch, "web")
    os.makedirs(web)
    shutil.copy(ts, web)
    srv = serve_files(web)
    try:
        d = Daemon(procs, scratch)
        ok(d.remote("-a", tm).returncode == 0, "-a a file")
        ok(d.remote("-a", "http://127.0.0.1:%d/single.torrent" % srv.server_port).returncode == 0,
           "-a a URL")
        wait_for(lambda: len(d.torrents()) == 2, 30, "the URL's torrent to be added")
        wait_for(lambda: all(t["percentDone"] == 1 for t in d.torrents()), TIMEOUT,
                 "both downloads from the libtorrent seeds")
        ok(same_tree(multi, os.path.join(d.dl, "multi")) is None, "multi: bytes identical")
        ok(same_tree(single, os.path.join(d.dl, os.path.basename(single))) is None,
           "single: bytes identical")
        lst = d.remote("-l").stdout
        ok(re.search(r"1 +100%.*multi", lst) and re.search(r"2 +100%", lst), "-l: both at 100%")
        info = d.remote("-t", "1", "-i").stdout
        ok("Location: " + d.dl in info and "Percent Done: 100%" in info, "-i: folder and progress")
        files = d.remote("-t", "1", "-f").stdout
        ok(all(n in files for n in ("multi/",)), "-f lists the files")
        ok(d.remote("-t", "1", "-pi").returncode == 0, "-pi")
        trk = d.remote("-t", "1", "-it").stdout
        ok(re.search(r"Tracker 0: 127\.0\.0\.1:\d+", trk), "-it shows the tracker")
        ok(d.remote("-d", "300", "-u", "100").returncode == 0, "-d/-u")
        s = d.ok("session-get")
        ok(s["speed-limit-down"] == 300 and s["speed-limit-down-enabled"], "limits in session-get")
        ok(d.remote("-t", "1", "-S").returncode == 0, "-S")
        wait_for(lambda: d.torrents()[0]["status"] == 0, 30, "stopped")
        ok(d.remote("-t", "1", "-s").returncode == 0, "-s")
        ok(d.remote("-t", "1", "-v").returncode == 0, "-v")
        wait_for(lambda: d.torrents()[0]["percentDone"] == 1 and d.torrents()[0]["status"] == 6,
                 60, "verified and seeding again")
        moved = os.path.join(scratch, "moved")
        os.makedirs(moved)
        ok(d.remote("-t", "1", "--move", moved).returncode == 0, "--move")
        wait_for(lambda: os.path.isdir(os.path.join(moved, "multi")) and
                 not os.path.exists(os.path.join(d.dl, "multi")), 60, "the data to move")
        ok(same_tree(multi, os.path.join(moved, "multi")) is None, "moved bytes identical")
        ok("Download directory" in d.remote("-si").stdout, "-si")
        ok("Uploaded" in d.remote("-st").stdout, "-st")
        ok(d.remote("-t", "2", "-r").returncode == 0, "-r")
        ok(os.path.exists(os.path.join(d.dl, os.path.basename(single))), "-r keeps the data")
        ok(d.remote("-t", "1", "--remove-and-delete").returncode == 0, "--remove-and-delete")
        wait_for(lambda: not os.path.exists(os.path.join(moved, "multi")), 30, "data deleted")
        ok(d.torrents() == [], "no torrent left")
    finally:
        srv.shutdown()
        for s in seeds:
            s.close()
    return ok.result()


def automation_case(scratch, procs):
    """What Sonarr and its kin do, from Transmission's RPC spec."""
    ok = Check()
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    content = make_single(src, size=300000)
    tor = os.path.join(scratch, "a.torrent")
    make_torrent(content, tor)
    d = Daemon(procs, scratch)
    s = d.ok("session-get")
    ok(s["rpc-version"] >= 14 and re.match(r"\d+\.\d+", s["version"]), "session-get: version")
    meta = base64.b64encode(open(tor, "rb").read()).decode()
    target = os.path.join(scratch, "tv")
    os.makedirs(target)
    shutil.copy(content, target)  # the data is already there: it seeds
    a = d.ok("torrent-add", {"metainfo": meta, "download-dir": target, "labels": ["tv-sonarr"]})
    tid = a["torrent-added"]["id"]
    ok(len(a["torrent-added"]["hashString"]) == 40, "torrent-added with id and hash")
    fields = ["id", "hashString", "name", "downloadDir", "totalSize", "leftUntilDone", "isFinished",
              "eta", "status", "secondsDownloading", "secondsSeeding", "errorString",
              "uploadedEver", "downloadedEver", "seedRatioLimit", "seedRatioMode",
              "seedIdleLimit", "seedIdleMode", "fileCount", "labels", "queuePosition"]
    wait_for(lambda: d.ok("torrent-get", {"ids": [tid], "fields": fields})["torrents"][0]
             ["leftUntilDone"] == 0, 60, "the torrent to check complete")
    t = d.ok("torrent-get", {"fields": fields})["torrents"][0]
    ok(all(f in t for f in fields), "torrent-get: every field a queue poll asks for")
    ok(t["labels"] == ["tv-sonarr"] and t["downloadDir"] == target, "label and folder kept")
    d.ok("torrent-set", {"ids": [tid], "seedRatioLimit": 1.0, "seedRatioMode": 1})
    t = d.ok("torrent-get", {"ids": [tid], "fields": ["seedRatioLimit", "seedRatioMode"]})
    ok(t["torrents"][0]["seedRatioMode"] == 1, "torrent-set applied")
    d.ok("queue-move-top", {"ids": [tid]})
    d.ok("torrent-remove", {"ids": [tid],
                            "delete-local-data": True})
    wait_for(lambda: not os.path.exists(os.path.join(target, os.path.basename(content))), 30,
             "the data to be deleted")
    ok(d.torrents() == [], "removed")
    return ok.result()


def crash_case(scratch, procs):
    ok = Check()
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    metas = []
    for i in range(8):
        c = make_single(src, name="f%d.bin" % i, size=200000 + i, seed=10 + i)
        t = os.path.join(scratch, "t%d.torrent" % i)
        ih = make_torrent(c, t).hex()
        metas.append((ih, base64.b64encode(open(t, "rb").read()).decode()))
    d = Daemon(procs, scratch, extra=["-w", src])
    rng = random.Random(16)
    present = set()  # acknowledged
    for rnd in range(20):
        uncertain = set()
        stop = threading.Event()
        port = d.port

        def churn():
            while not stop.is_set():
                ih, meta = rng.choice(metas)
                try:
                    if ih in present:
                        uncertain.add(ih)
                        sid = daemon_rpc.session_id(port)
                        st, _, b = daemon_rpc.request(port, json.dumps(
                            {"method": "torrent-remove", "arguments": {"ids": [ih]}}), sid=sid)
                        if st == 200 and json.loads(b)["result"] == "success":
                            present.discard(ih)
                            uncertain.discard(ih)
                    else:
                        uncertain.add(ih)
                        sid = daemon_rpc.session_id(port)
                        st, _, b = daemon_rpc.request(port, json.dumps(
                            {"method": "torrent-add", "arguments": {"metainfo": meta}}), sid=sid)
                        if st == 200 and json.loads(b)["result"] == "success":
                            present.add(ih)
                            uncertain.discard(ih)
                except Exception:
                    return  # the daemon is gone
        th = threading.Thread(target=churn)
        th.start()
        time.sleep(rng.uniform(0.1, 1.0))
        d.kill()
        stop.set()
        th.join()
        d.start()
        got = {t["hashString"] for t in d.torrents()}
        if not ok(present - uncertain <= got and got <= present | uncertain,
                  "round %d: %d acknowledged, %d after restart" % (rnd, len(present), len(got))):
            break
        present = got  # an uncertain one settles as what is there
    wait_for(lambda: all(t["percentDone"] == 1 for t in d.torrents()), 60,
             "every torrent to check complete (the data is all there)")
    d.stop()
    return ok.result()


def dormant_case(scratch, procs):
    ok = Check()
    ann = tracker(procs, scratch, interval=120)  # a seed sleeps between announces
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    multi, single = make_multi(src), make_single(src)
    tm, ts = os.path.join(scratch, "multi.torrent"), os.path.join(scratch, "single.torrent")
    make_torrent(multi, tm)  # no tracker: dormant from the restart on
    make_torrent(single, ts, announce=ann)
    d = Daemon(procs, scratch, extra=["--dormant-after", 2])
    for t in (tm, ts):
        d.ok("torrent-add", {"filename": t, "download-dir": src})
    seeding = lambda: [t["status"] for t in d.torrents()] == [6, 6]
    wait_for(seeding, 60, "both checked and seeding")
    slept = lambda n: lambda: sum(int(m) for m in re.findall(r"(\d+) idle seeds dormant",
                                                              d.proc.output())) >= n
    wait_for(slept(2), 60, "both seeds to go dormant")
    awake = lambda: d.proc.output().count(": awake (")
    web = ["id", "name", "status", "percentDone", "totalSize", "sizeWhenDone", "trackers",
           "uploadedEver", "peersConnected", "error", "errorString", "eta"]
    tg = {t["name"]: t for t in d.ok("torrent-get", {"fields": web})["torrents"]}
    ok(tg["multi"]["status"] == 6 and tg["multi"]["percentDone"] == 1 and
       tg["multi"]["totalSize"] == sum(os.path.getsize(os.path.join(r, f))
                                       for r, _, fs in os.walk(multi) for f in fs) and
       tg["multi"]["peersConnected"] == 0 and tg["multi"]["eta"] == -1,
       "a dormant seed shows as a whole seed")
    ok([x["announce"] for x in tg["single.bin"]["trackers"]] == [ann],
       "its trackers are listed while dormant")
    ok(awake() == 0, "torrent-get of the list wakes nobody")
    scrape = ann.replace("/announce", "/scrape") + "?info_hash=" + \
        urllib.parse.quote_from_bytes(torrent_info(ts)[1])
    seeds = re.search(rb"8:completei(\d+)e", urllib.request.urlopen(scrape, timeout=10).read())
    ok(seeds and int(seeds.group(1)) == 1,
       "the tracker still lists the sleeping seed (no event=stopped was sent)")
    lt = lt_module()
    rc4 = {"out_enc_policy": int(lt.enc_policy.pe_forced),
           "in_enc_policy": int(lt.enc_policy.pe_forced),
           "allowed_enc_level": int(lt.enc_level.rc4)}
    plain = {"out_enc_policy": int(lt.enc_policy.pe_disabled),
             "in_enc_policy": int(lt.enc_policy.pe_disabled)}
    peers = []
    try:
        for i, (t, name) in enumerate(((tm, "multi"), (ts, "single.bin"))):
            dest = os.path.join(scratch, "lt%d" % i)
            os.makedirs(dest)
            lt = LtPeer(t, dest, tracker=False, settings=rc4 if i else plain)
            peers.append(lt)
            lt.connect(d.peer_port)
            wait_for(lt.done, TIMEOUT, "libtorrent (%s) to download %s from the dormant seed" %
                     ("RC4 forced" if i else "plaintext", name))
            ok(same_tree(os.path.join(src, name), os.path.join(dest, name)) is None,
               "%s: bytes identical, %s" % (name, "RC4" if i else "plaintext"))
        ok(d.proc.output().count("awake (a peer asked for it)") == 2 and
           d.proc.output().count("encrypted (RC4)") >= 1,
           "each seed woke for its peer (by info-hash, and by req2 hash when encrypted)")
    finally:
        for lt in peers:
            lt.close()
    d.stop()
    d.start()  # the whole seed without a tracker comes back dormant
    wait_for(seeding, 60, "seeding after the restart")
    up = {t["name"]: t["uploadedEver"] for t in d.torrents(("name", "uploadedEver"))}
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(multi) for f in fs)
    ok(up["multi"] >= size, "what it sent while awake is counted after the restart (%s)" % up)
    ok(awake() == 0 and "idle seeds dormant" not in d.proc.output(),
       "the restart left the tracker-less seed out of the engine from the start")
    dest = os.path.join(scratch, "lt-again")
    os.makedirs(dest)
    lt = LtPeer(tm, dest, tracker=False, settings=rc4)
    try:
        lt.connect(d.peer_port)
        wait_for(lt.done, TIMEOUT, "libtorrent (RC4) to download from the seed dormant since start")
        ok(same_tree(multi, os.path.join(dest, "multi")) is None, "bytes identical after restart")
    finally:
        lt.close()
    wait_for(slept(1), 60, "the seed to sleep again")
    files = d.ok("torrent-get", {"ids": [1], "fields": ["files"]})["torrents"][0]["files"]
    ok(len(files) > 1 and all(f["bytesCompleted"] == f["length"] for f in files),
       "torrent-get files wakes it and lists them complete")
    d.ok("torrent-verify", {"ids": [1]})
    wait_for(lambda: d.torrents()[0]["status"] == 6 and d.torrents()[0]["percentDone"] == 1,
             60, "verified and seeding")
    # a stop and a removal with the data, each of a sleeping seed
    unloaded = lambda name: d.proc.output().count("%s: unloaded" % name)
    before = unloaded("multi")
    wait_for(lambda: unloaded("multi") > before and unloaded("single.bin") >= 1, 60,
             "both to sleep again")
    d.ok("torrent-stop", {"ids": [2]})
    wait_for(lambda: d.torrents()[1]["status"] == 0, 30, "the sleeping seed to stop")
    d.ok("torrent-remove", {"ids": [1], "delete-local-data": True})
    wait_for(lambda: not os.path.exists(multi), 30, "the sleeping seed's data to be deleted")
    ok([t["name"] for t in d.torrents()] == ["single.bin"] and os.path.exists(single),
       "a sleeping seed stops, and is removed with its data (the other's stays)")
    d.stop()
    return ok.result()


if __name__ == "__main__":
    run = Run("daemon")
    run.case("transmission-remote against shoal daemon, libtorrent seeds", remote_case)
    run.case("an automation tool's call sequence", automation_case)
    run.case("SIGKILL 20 times while adding and removing", crash_case)
    run.case("dormant seeds: out of the engine, woken by peers and requests", dormant_case)
    run.finish()
