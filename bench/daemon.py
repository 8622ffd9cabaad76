#!/usr/bin/env python3
"""shoal daemon vs transmission-daemon 3.00 with N small torrents.

Set-up (not timed): N torrents of one 20 KiB file each (16 KiB pieces: two
pieces), the data present, added over RPC to each daemon, which checks
and seeds them; then each daemon is stopped (SIGTERM) and started again
on the same state. Measured, per daemon, from that restart:
  - start-up until RPC answers (session-get, asked every 2 ms), and until
    every torrent is seeding (status 6 in torrent-get);
  - torrent-get of all torrents with the fields Transmission's web client
    polls: latency median and p99 over POLLS requests, each on a new
    connection. The daemon's latency is from opening the connection and
    sending the request to the reply's last byte received; "with the
    client's parse" adds Python's json.loads of the reply (several MB:
    the same work for either daemon, and most of the time for the faster
    one);
  - resident memory (VmRSS) with all loaded and idle; CPU time used while
    idle for IDLE_S seconds.
No tracker, no DHT/LPD/PEX/uTP on either side: the daemons do only their
own bookkeeping. Both run on loopback, one at a time."""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SHOAL = os.path.abspath(sys.argv[1])
# another shoal binary (say, main's) measured in the same run, for a before/after
BEFORE = os.environ.get("SHOAL_BEFORE")
N = int(os.environ.get("N", "10000"))
POLLS = int(os.environ.get("POLLS", "60"))
IDLE_S = float(os.environ.get("IDLE_S", "30"))
TMP = tempfile.mkdtemp(prefix="shoal-bench-daemon-", dir=os.environ.get("BENCH_TMP"))
PIECE = 16384
SIZE = 20 * 1024
# what Transmission's web client asks for every few seconds (3.00, main.js)
WEB_FIELDS = ["id", "addedDate", "name", "totalSize", "error", "errorString", "eta",
              "isFinished", "isStalled", "leftUntilDone", "metadataPercentComplete",
              "peersConnected", "peersGettingFromUs", "peersSendingToUs", "percentDone",
              "queuePosition", "rateDownload", "rateUpload", "recheckProgress",
              "seedRatioMode", "seedRatioLimit", "sizeWhenDone", "status", "trackers",
              "downloadDir", "uploadedEver", "uploadRatio", "webseedsSendingToUs"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def be(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, dict):
        return b"d" + b"".join(be(k) + be(v) for k, v in sorted(x.items())) + b"e"
    raise TypeError(x)


def generate():
    data, tors = os.path.join(TMP, "data"), os.path.join(TMP, "torrents")
    os.makedirs(data)
    os.makedirs(tors)
    for i in range(N):
        body = hashlib.sha256(b"%d" % i).digest() * (SIZE // 32)
        name = "t%05d.bin" % i
        with open(os.path.join(data, name), "wb") as f:
            f.write(body)
        pieces = b"".join(hashlib.sha1(body[o:o + PIECE]).digest() for o in range(0, SIZE, PIECE))
        info = {"name": name, "length": SIZE, "piece length": PIECE, "pieces": pieces}
        with open(os.path.join(tors, name + ".torrent"), "wb") as f:
            f.write(be({"info": info}))
    return data, tors


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Rpc:
    def __init__(self, port):
        self.port, self.sid = port, ""

    def call(self, method, args=None, timeout=600):
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("POST", "/transmission/rpc", json.dumps({"method": method,
                                                               "arguments": args or {}}),
                      {"X-Transmission-Session-Id": self.sid})
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 409:
                self.sid = r.getheader("X-Transmission-Session-Id")
                continue
            return json.loads(body)
        raise RuntimeError("no session id")

    def up(self):
        try:
            return self.call("session-get", timeout=5)["result"] == "success"
        except OSError:
            return False


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(v[11]) + int(v[12])) / tick  # utime + stime, seconds


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


class Shoal:
    name = "shoal daemon"

    def __init__(self, data, binary=SHOAL, tag="shoal"):
        self.cfg, self.data = os.path.join(TMP, tag + "-cfg"), data
        self.port, self.peer = free_port(), free_port()
        self.binary, self.tag = binary, tag

    def start(self):
        self.log = open(os.path.join(TMP, self.tag + ".log"), "a")
        self.p = subprocess.Popen([self.binary, "daemon", "-g", self.cfg, "-w", self.data, "--rpc-port",
                                   str(self.port), "--peer-port", str(self.peer),
                                   "--bind-address-ipv4", "127.0.0.1", "--log-level", "warn"],
                                  stdout=self.log, stderr=self.log)
        return Rpc(self.port)


class Transmission:
    name = "transmission-daemon 3.00"

    def __init__(self, data):
        self.cfg, self.data = os.path.join(TMP, "tr-cfg"), data
        self.port, self.peer = free_port(), free_port()
        os.makedirs(self.cfg)
        with open(os.path.join(self.cfg, "settings.json"), "w") as f:
            json.dump({"rpc-port": self.port, "rpc-whitelist-enabled": False,
                       "rpc-host-whitelist-enabled": False, "download-dir": data,
                       "peer-port": self.peer, "bind-address-ipv4": "127.0.0.1",
                       "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False,
                       "utp-enabled": False, "port-forwarding-enabled": False,
                       "download-queue-enabled": False, "seed-queue-enabled": False,
                       "message-level": 1}, f)

    def start(self):
        self.log = open(os.path.join(TMP, "transmission.log"), "a")
        self.p = subprocess.Popen(["transmission-daemon", "-f", "-g", self.cfg],
                                  stdout=self.log, stderr=self.log)
        return Rpc(self.port)


def all_seeding(rpc):
    t = rpc.call("torrent-get", {"fields": ["status"]})["arguments"]["torrents"]
    return len(t) == N and all(x["status"] == 6 for x in t)


def wait(cond, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(step)
    raise RuntimeError("timed out waiting for " + what)


def measure(d, tors):
    log("== %s: adding %d torrents" % (d.name, N))
    rpc = d.start()
    wait(rpc.up, 60, d.name + " RPC")
    for i, f in enumerate(sorted(os.listdir(tors))):
        r = rpc.call("torrent-add", {"filename": os.path.join(tors, f), "download-dir": d.data})
        if r["result"] != "success":
            raise RuntimeError("%s: %s" % (f, r["result"]))
        if i % 2000 == 0:
            log("   %d" % i)
    wait(lambda: all_seeding(rpc), 1800, "all seeding after the adds")
    time.sleep(2)
    d.p.send_signal(signal.SIGTERM)
    d.p.wait(300)
    log("   restarting")
    t0 = time.monotonic()
    rpc = d.start()
    wait(rpc.up, 600, d.name + " RPC after the restart", step=0.002)
    t_rpc = time.monotonic() - t0
    wait(lambda: all_seeding(rpc), 1800, "all seeding after the restart")
    t_seed = time.monotonic() - t0
    lat, lat_parse = [], []
    req = json.dumps({"method": "torrent-get", "arguments": {"fields": WEB_FIELDS}})
    for _ in range(POLLS):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=600)
        s = time.monotonic()
        c.request("POST", "/transmission/rpc", req, {"X-Transmission-Session-Id": rpc.sid})
        body = c.getresponse().read()
        lat.append(time.monotonic() - s)
        c.close()
        r = json.loads(body)
        lat_parse.append(time.monotonic() - s)
        assert len(r["arguments"]["torrents"]) == N
    lat.sort()
    lat_parse.sort()
    time.sleep(3)
    c0 = proc_stat(d.p.pid)
    time.sleep(IDLE_S)
    cpu = (proc_stat(d.p.pid) - c0) / IDLE_S * 100
    rss = rss_mib(d.p.pid)
    d.p.send_signal(signal.SIGTERM)
    d.p.wait(300)
    p99 = lambda v: v[min(len(v) - 1, int(len(v) * 0.99))]
    res = dict(rpc=t_rpc, seed=t_seed, med=statistics.median(lat), p99=p99(lat),
               pmed=statistics.median(lat_parse), pp99=p99(lat_parse), rss=rss, cpu=cpu,
               size=len(body) / 1e6)
    log("   %s" % res)
    return res


def main():
    log("generating %d torrents in %s" % (N, TMP))
    data, tors = generate()
    try:
        b = measure(Shoal(data, os.path.abspath(BEFORE), "before"), tors) if BEFORE else None
        s = measure(Shoal(data), tors)
        t = measure(Transmission(data), tors)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d torrents of 20 KiB (2 pieces each), seeding, no tracker; %d polls\n" % (N, POLLS))
    print("| measure |%s shoal daemon | transmission-daemon 3.00 | shoal / Transmission |"
          % (" shoal before |" if b else ""))
    print("| --- |%s --- | --- | --- |" % (" --- |" if b else ""))
    rows = [("start-up until RPC answers", "rpc", "%.2f s"),
            ("start-up until all seeding", "seed", "%.2f s"),
            ("torrent-get, web client fields, median", "med", "%.3f s"),
            ("torrent-get, web client fields, p99", "p99", "%.3f s"),
            ("torrent-get with the client's parse, median", "pmed", "%.3f s"),
            ("torrent-get with the client's parse, p99", "pp99", "%.3f s"),
            ("torrent-get reply size", "size", "%.1f MB"),
            ("resident memory, loaded and idle", "rss", "%.0f MiB"),
            ("CPU while idle", "cpu", "%.2f %%")]
    for label, k, fmt in rows:
        ratio = s[k] / t[k] if t[k] else float("nan")
        print("| %s |%s %s | %s | %.2f |" % (label, " %s |" % (fmt % b[k]) if b else "",
                                            fmt % s[k], fmt % t[k], ratio))


main()
