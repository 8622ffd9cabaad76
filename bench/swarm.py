#!/usr/bin/python3
"""Swarm benchmark: 1 seed and N leechers, each in its own network
namespace on a bridge, uplinks shaped, optionally delayed and lossy; the
same .torrent run as a shoal swarm and as a libtorrent swarm, side by side
in one run. Driven by bench/swarm.sh (which says how to run it).

Per scenario, client and repetition: a fresh tracker (opentracker), the
seed, then every leecher at once (time zero); each leecher keeps seeding
until the last one has finished. Measured from outside the clients:
  * finish time of each leecher (from its own JSON lines: shoal get --json,
    bench/lt_peer.py), and the sha1 of what it wrote;
  * bytes each peer received from each other peer: an nftables set with a
    counter per source address on each namespace's input hook (IP bytes,
    headers included); from it, what each peer uploaded to each other;
  * connections opened between peers: TCP SYNs and uTP ST_SYNs counted on
    each output hook (shoal dials both at once and keeps the first to
    connect, so each of its dials counts once for each);
  * uplink use over time: each namespace's transmitted bytes every 0.5 s
    (/proc/PID/net/dev of its client); "busy" is the share of those
    samples, until the last leecher finished, in which a peer sent at 85 %
    of its uplink's nominal rate or more (tbf counts headers, so payload
    tops out near 96 %);
  * CPU seconds and peak RSS of every client (/proc/PID/stat and status,
    read just before it is stopped).
The bound is the minimum distribution time of a file of size F to N peers
from a seed uploading u_s, peer uploads u_i and slowest download d_min:
T = max(F/u_s, N*F/(u_s + sum u_i), F/d_min) (downloads are not shaped
here, so the last term never binds).

Environment: SCENARIOS (default "a b c d f"), REPS (3), SIZE_MB (256),
CLIENTS ("shoal lt"; "shoal-ss" is shoal with a super-seeding seed),
SHOAL_GET_ARGS and SHOAL_SEED_ARGS (more options
for the shoal leechers and seed, to compare settings, e.g. --super-seed), BENCH_TMP (scratch space: the data and one
copy per leecher), OUT (a folder for per-run details, default a fresh one under
BENCH_TMP), KEEP=1 keeps the scratch data.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import swarmlib  # noqa: E402

PY = "/usr/bin/python3"  # the interpreter that has python3-libtorrent
MiB = 1 << 20
PORT = 6881
TRACKER_PORT = 6969
CLK = os.sysconf("SC_CLK_TCK")

# name: (description, leechers, seed MiB/s, leecher MiB/s list or one value,
#        shaped by tc (else each client's own --up-rate), delay ms each way,
#        loss in parts per million per bridge crossing, churn)
SCENARIOS = {
    "a": ("8 leechers, seed 20 MiB/s, leechers 4 MiB/s (tc)", 8, 20, 4, True, 0, 0, False),
    "b": ("8 leechers with uplinks 1, 2, 4, 8 MiB/s, two of each (tc)", 8, 20,
          [1, 1, 2, 2, 4, 4, 8, 8], True, 0, 0, False),
    "c": ("(a) with 40 ms round trips and 0.5 % loss", 8, 20, 4, True, 20, 5000, False),
    "d": ("(a) with churn: a leecher leaves at half time, two join then", 8, 20, 4, True, 0, 0,
          True),
    "e": ("32 leechers, seed 20 MiB/s, leechers 4 MiB/s (tc)", 32, 20, 4, True, 0, 0, False),
    "f": ("8 leechers, no tc: seed --up-rate 20M, leechers --up-rate 4M", 8, 20, 4, False, 0, 0,
          False),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


sh = swarmlib.sh


def uplink(sc, who):
    """A node's uplink in MiB/s: the seed's, or its place in the leechers'
    list (joiners take the scalar rate of a churn scenario)."""
    ups, seed_up = sc[3], sc[2]
    if who == "seed":
        return seed_up
    if not isinstance(ups, list):
        return ups
    k = int(who[1:]) - 1
    return ups[k % len(ups)]


def bound(size_mb, seed_up, ups):
    n = len(ups)
    return max(size_mb / seed_up, n * size_mb / (seed_up + sum(ups)))


# ---------------------------------------------------------------- network


# ---------------------------------------------------------------- processes


class Node:
    """One client process in a namespace; its log holds JSON lines."""

    def __init__(self, name, argv, ns, logpath, env=None):
        self.name, self.log_path = name, logpath
        self.f = open(logpath, "wb")
        self.start = time.monotonic()
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=self.f,
                                  stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.pos, self.finish, self.seeding, self.offset = 0, None, False, None
        self.cpu = self.rss = None
        self.tx = []  # (seconds since time zero, transmitted bytes)

    def poll_log(self, t0):
        """Reads new lines; notes when the download completed, in seconds
        since time zero t0 (a line's t counts from this process's start,
        or from t0 itself when self.offset is 0)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.pos += end + 1
        for line in data[:end].splitlines():
            if not line.startswith(b"{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            tor = r.get("torrent", r)
            if tor.get("state") == "seeding" or r.get("finished"):
                self.seeding = True
            done = r.get("finished") or (tor.get("wanted_bytes") and
                                         tor.get("have_bytes") == tor.get("wanted_bytes"))
            if done and self.finish is None:
                off = self.start - t0 if self.offset is None else self.offset
                self.finish = r["t"] + off

    def sample(self, t0):
        try:
            with open("/proc/%d/net/dev" % self.p.pid) as f:
                for line in f:
                    if line.strip().startswith("eth0:"):
                        self.tx.append((time.monotonic() - t0, int(line.split(":")[1].split()[8])))
        except OSError:
            pass

    def measure(self):
        """CPU seconds and peak RSS (MiB), read while the process lives."""
        try:
            st = open("/proc/%d/stat" % self.p.pid).read()
            fields = st[st.rindex(")") + 2:].split()
            self.cpu = (int(fields[11]) + int(fields[12])) / CLK
            for line in open("/proc/%d/status" % self.p.pid):
                if line.startswith("VmHWM:"):
                    self.rss = int(line.split()[1]) / 1024.0
        except (OSError, ValueError):
            pass

    def stop(self):
        if self.p.poll() is None:
            self.measure()
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.f.close()


def client_argv(client, role, torrent, d, ip, up_rate, shoal, t0=None):
    if client.startswith("shoal"):
        if role == "seed":
            argv = [shoal, "seed", torrent, d] + os.environ.get("SHOAL_SEED_ARGS", "").split()
            if client == "shoal-ss":
                argv.append("--super-seed")
        else:
            argv = [shoal, "get", torrent, "-o", d, "--seed-ratio", "0"]
            argv += os.environ.get("SHOAL_GET_ARGS", "").split()
        argv += ["--bind", ip, "--port", str(PORT), "--json", "--json-every", "1"]
        if up_rate:
            argv += ["--up-rate", str(up_rate)]
        return argv
    argv = [PY, os.path.join(HERE, "lt_peer.py"), role, torrent, d, "--bind", ip,
            "--port", str(PORT)]
    if up_rate:
        argv += ["--up-rate", str(up_rate)]
    if t0 is not None:
        argv += ["--t0", "%.6f" % t0]
    return argv


# ---------------------------------------------------------------- one run



def run_once(sc, client, net, env):
    """One swarm of one client; returns a dict of what was measured."""
    desc, n, seed_up, ups, shaped, delay, loss, churn = sc
    leechers = ["L%d" % (i + 1) for i in range(n)]
    joiners = ["J1", "J2"] if churn else []
    scratch, torrent, content, name = env["scratch"], env["torrent"], env["content"], env["name"]
    rundir = tempfile.mkdtemp(prefix="%s-" % client, dir=scratch)
    os.chmod(rundir, 0o755)
    net.reset_counters()
    tr = subprocess.Popen(["ip", "netns", "exec", net.ns["tracker"], "opentracker", "-i",
                           net.ip["tracker"], "-p", str(TRACKER_PORT), "-P", str(TRACKER_PORT),
                           "-w", env["whitelist"]], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    nodes = {}
    try:
        time.sleep(0.3)
        seed_dir = os.path.join(rundir, "seed")
        os.makedirs(seed_dir)
        os.link(content, os.path.join(seed_dir, name))
        up_rate = {w: int(uplink(sc, w) * MiB) for w in ["seed"] + leechers + joiners}
        lim = lambda who: 0 if shaped else up_rate[who]  # noqa: E731
        nodes["seed"] = Node("seed", client_argv(client, "seed", torrent, seed_dir, net.ip["seed"],
                                                 lim("seed"), env["shoal"]),
                             net.ns["seed"], os.path.join(rundir, "seed.log"))
        end = time.monotonic() + 120
        while not nodes["seed"].seeding:
            nodes["seed"].poll_log(0)
            if time.monotonic() > end or nodes["seed"].p.poll() is not None:
                raise RuntimeError("the %s seed did not start: see %s" % (client, rundir))
            time.sleep(0.1)
        t0 = time.monotonic()

        def start(who):
            d = os.path.join(rundir, who)
            os.makedirs(d)
            nodes[who] = Node(who, client_argv(client, "leech", torrent, d, net.ip[who], lim(who),
                                               env["shoal"], t0),
                              net.ns[who], os.path.join(rundir, who + ".log"))
            if client == "lt":
                nodes[who].offset = 0.0  # its t counts from t0 already

        for l in leechers:
            start(l)
        T = env["bound"]
        left_at, leaver = None, (leechers[-1] if churn else None)
        stop_sampling = threading.Event()

        def sampler():
            while not stop_sampling.wait(0.5):
                for nd in list(nodes.values()):
                    nd.sample(t0)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        deadline = t0 + max(600, 15 * T)
        while True:
            now = time.monotonic()
            for nd in nodes.values():
                nd.poll_log(t0)
            if churn and left_at is None and now - t0 >= T / 2:
                left_at = now - t0
                nodes[leaver].stop()
                for j in joiners:
                    start(j)
            waiting = [w for w in leechers + joiners if w != leaver and
                       (w not in nodes or nodes[w].finish is None)]
            if not waiting and (not churn or left_at is not None):
                break
            if now > deadline:
                raise RuntimeError("%s swarm: %s unfinished after %.0f s (see %s)" %
                                   (client, " ".join(waiting), now - t0, rundir))
            for nd in nodes.values():
                if nd.p.poll() is not None and nd.name != leaver:
                    raise RuntimeError("%s %s exited with %s: see %s" %
                                       (client, nd.name, nd.p.returncode, nd.log_path))
            time.sleep(0.1)
        stop_sampling.set()
        th.join()
        for nd in nodes.values():
            nd.sample(t0)
            nd.measure()
    finally:
        for nd in nodes.values():
            nd.stop()
        tr.terminate()
        tr.wait()
    res = {"client": client, "dir": rundir, "finish": {}, "sha1_ok": {}, "cpu": {}, "rss": {},
           "rx": {}, "syn": {}, "usyn": {}, "tx": {}, "up_rate": up_rate}
    ip_of = {v: k for k, v in net.ip.items()}
    for who, nd in nodes.items():
        res["cpu"][who], res["rss"][who] = nd.cpu, nd.rss
        res["tx"][who] = nd.tx
        if who != "seed":
            res["finish"][who] = nd.finish
            path = os.path.join(rundir, who, name)
            res["sha1_ok"][who] = (who == leaver or
                                   (os.path.exists(path) and swarmlib.file_sha1(path) == env["sha1"]))
        res["rx"][who] = {ip_of.get(a, a): b for a, b in net.counters(who, "rx").items()}
        for kind in ("syn", "usyn"):
            res[kind][who] = sum(c for a, c in net.counters(who, kind).items()
                                 if ip_of.get(a) != "tracker")
    res["leaver"] = leaver
    if not os.environ.get("KEEP"):
        for who in nodes:
            if who != "seed":
                shutil.rmtree(os.path.join(rundir, who), ignore_errors=True)
    return res


# ---------------------------------------------------------------- analysis


def analyse(res, T):
    fin = [f for w, f in res["finish"].items() if w != res["leaver"] and f is not None]
    last = max(fin)
    rx = res["rx"]
    # uploads: what each node's address delivered to every other node
    sent = {}
    for dst, srcs in rx.items():
        for src, b in srcs.items():
            if src in rx:
                sent.setdefault(src, {})[dst] = b
    def max_share(who):
        s = sent.get(who, {})
        tot = sum(s.values())
        return max(s.values()) / tot if tot else 0.0
    leech_shares = sorted(max_share(w) for w in sent if w != "seed")
    # uplink busy: the share of 0.5 s samples, from the first in which the
    # peer sent anything worth counting (the seed: from time zero) to the
    # last finish, in which it sent at >= 85 % of its uplink's nominal rate
    # (tbf counts headers too: payload tops out near 96 % of it)
    busy = {}
    for who, series in res["tx"].items():
        rate = res["up_rate"].get(who)
        if not rate or len(series) < 3:
            continue
        samples = [(t1, (b1 - b0) / (t1 - t0)) for (t0, b0), (t1, b1) in zip(series, series[1:])
                   if t1 > t0 and t1 <= last + 0.25]
        if who != "seed":
            while samples and samples[0][1] < 0.1 * rate:
                samples.pop(0)
        if samples:
            busy[who] = sum(1 for _, r in samples if r >= 0.85 * rate) / len(samples)
    return {
        "last": last, "median_finish": statistics.median(fin),
        "cpu": sum(c for c in res["cpu"].values() if c),
        "rss": sum(r for r in res["rss"].values() if r),
        "seed_max_share": max_share("seed"),
        "leech_max_share": statistics.median(leech_shares) if leech_shares else 0.0,
        "busy_seed": busy.get("seed"),
        "busy_leech": statistics.median([v for k, v in busy.items() if k != "seed"] or [0]),
        "busy_min": min([v for k, v in busy.items()] or [0]),
        "conns": sum(res["syn"].values()), "uconns": sum(res.get("usyn", {}).values()),
        "sha1_ok": all(res["sha1_ok"].values()),
        "finish": res["finish"], "sent": sent,
    }


def matrix(a, names):
    """MiB each peer (row) sent to each other peer (column)."""
    out = ["| from \\ to | " + " | ".join(names) + " |",
           "| --- |" + " --- |" * len(names)]
    for src in names:
        row = a["sent"].get(src, {})
        out.append("| %s | %s |" % (src, " | ".join("%.0f" % (row.get(d, 0) / MiB) if d != src
                                                    else "-" for d in names)))
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main():
    shoal = os.path.abspath(sys.argv[1])
    reps = int(os.environ.get("REPS", "3"))
    size_mb = int(os.environ.get("SIZE_MB", "256"))
    clients = os.environ.get("CLIENTS", "shoal lt").split()
    names = os.environ.get("SCENARIOS", "a b c d f").split()
    base = os.environ.get("BENCH_TMP") or tempfile.gettempdir()
    scratch = tempfile.mkdtemp(prefix="shoal-swarm-", dir=base)
    os.chmod(scratch, 0o755)
    outdir = os.environ.get("OUT") or os.path.join(scratch, "results")
    os.makedirs(outdir, exist_ok=True)
    env = {"shoal": shoal, "scratch": scratch, "name": "swarm.bin"}
    env["content"] = os.path.join(scratch, "src", env["name"])
    os.makedirs(os.path.dirname(env["content"]))
    log("swarm: %d MiB of random data, clients %s, scenarios %s, %d repetitions" %
        (size_mb, " ".join(clients), " ".join(names), reps))
    subprocess.run(["head", "-c", str(size_mb * MiB), "/dev/urandom"],
                   stdout=open(env["content"], "wb"), check=True)
    os.chmod(env["content"], 0o644)
    env["sha1"] = swarmlib.file_sha1(env["content"])
    summary = []
    try:
        for sname in names:
            sc = SCENARIOS[sname]
            desc, n, seed_up, ups, shaped, delay, loss, churn = sc
            nodes = ["tracker", "seed"] + ["L%d" % (i + 1) for i in range(n)]
            nodes += ["J1", "J2"] if churn else []
            # the bound counts the leechers that finish: with churn, all but
            # the one that leaves, and the two that join
            finishers = [x for x in nodes[2:] if not (churn and x == "L%d" % n)]
            T = bound(size_mb, seed_up, [uplink(sc, x) for x in finishers])
            env["bound"] = T
            net = swarmlib.BridgeNet(nodes)
            try:
                tracker_url = "http://%s:%d/announce" % (net.ip["tracker"], TRACKER_PORT)
                env["torrent"] = os.path.join(scratch, "swarm-%s.torrent" % sname)
                sh(shoal, "create", "-f", "--no-date", "-l", "1M", "-t", tracker_url, "-o",
                   env["torrent"], env["content"])
                os.chmod(env["torrent"], 0o644)
                ih = json.loads(sh(shoal, "info", "--json", env["torrent"]))["info_hash"]
                env["whitelist"] = os.path.join(scratch, "whitelist-%s" % sname)
                with open(env["whitelist"], "w") as f:
                    f.write(ih + "\n")
                os.chmod(env["whitelist"], 0o644)
                peers = [x for x in nodes if x != "tracker"]
                if shaped:
                    for who in peers:
                        net.shape(who, int(uplink(sc, who) * MiB))
                if loss:
                    net.add_loss(loss)
                if delay:
                    prog = os.path.join(os.environ.get("SHOAL_BUILD",
                                                       os.path.join(HERE, "..", "build")),
                                        "shoal-net-delay")
                    net.add_delay(prog, delay, nodes)
                    log("swarm %s: round trip seed -> L1 %.1f ms" % (sname, net.rtt_ms("seed", "L1")))
                runs = {c: [] for c in clients}
                for rep in range(reps):
                    order = clients if rep % 2 == 0 else list(reversed(clients))
                    for c in order:
                        log("swarm %s: %s, repetition %d of %d" % (sname, c, rep + 1, reps))
                        res = run_once(sc, c, net, env)
                        a = analyse(res, T)
                        runs[c].append(a)
                        with open(os.path.join(outdir, "%s-%s-%d.json" % (sname, c, rep)), "w") as f:
                            json.dump({"result": res, "analysis": a}, f, default=str)
                        log("  last finish %.1f s (bound %.1f s), CPU %.1f s, RSS %.0f MiB, "
                            "seed's top share %.0f %%, dials %d TCP %d uTP, data %s" %
                            (a["last"], T, a["cpu"], a["rss"], 100 * a["seed_max_share"],
                             a["conns"], a["uconns"], "ok" if a["sha1_ok"] else "CORRUPT"))
                summary.append((sname, desc, T, runs, peers))
            finally:
                net.close()
    finally:
        report(summary, size_mb, reps, outdir)
        if not os.environ.get("KEEP"):
            shutil.rmtree(os.path.join(scratch, "src"), ignore_errors=True)
            for d in os.listdir(scratch):
                p = os.path.join(scratch, d)
                if os.path.isdir(p) and d != "results":
                    shutil.rmtree(p, ignore_errors=True)
        log("swarm: details in %s" % outdir)


def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(v) if v else None


NAMES = {"shoal": "shoal", "shoal-ss": "shoal, seed --super-seed", "lt": "libtorrent"}


def report(summary, size_mb, reps, outdir):
    if not summary:
        return
    print("%d MiB, 1 MiB pieces, medians of %d runs; ratios: last finish over the bound, "
          "and shoal's over libtorrent's\n" % (size_mb, reps))
    print("| scenario | client | last finish | bound | / bound | shoal / lt | median finish | "
          "CPU s | peak RSS MiB | seed's top peer | leechers' top peer | uplink busy: seed, "
          "median leecher, least | dials: TCP, uTP | data |")
    print("| --- " * 14 + "|")
    for sname, desc, T, runs, peers in summary:
        lt_last = med(runs.get("lt", []), "last")
        for c, rs in runs.items():
            if not rs:
                continue
            last = med(rs, "last")
            ratio = "%.2f" % (last / lt_last) if c.startswith("shoal") and lt_last else ""
            bs, bl, bm = med(rs, "busy_seed"), med(rs, "busy_leech"), med(rs, "busy_min")
            print("| %s | %s | %.1f s | %.1f s | %.2f | %s | %.1f s | %.1f | %.0f | %.0f %% | "
                  "%.0f %% | %s, %s, %s | %.0f, %.0f | %s |" %
                  (sname, NAMES.get(c, c), last, T, last / T, ratio,
                   med(rs, "median_finish"), med(rs, "cpu"), med(rs, "rss"),
                   100 * med(rs, "seed_max_share"), 100 * med(rs, "leech_max_share"),
                   "%.0f %%" % (100 * bs) if bs is not None else "-",
                   "%.0f %%" % (100 * bl) if bl is not None else "-",
                   "%.0f %%" % (100 * bm) if bm is not None else "-",
                   med(rs, "conns"), med(rs, "uconns") or 0,
                   "ok" if all(r["sha1_ok"] for r in rs) else "CORRUPT"))
    print()
    for sname, desc, T, runs, peers in summary:
        print("(%s) %s" % (sname, desc))
    # per-peer detail of the first run of each: finish times and the upload matrix
    with open(os.path.join(outdir, "details.md"), "w") as f:
        for sname, desc, T, runs, peers in summary:
            for c, rs in runs.items():
                for i, a in enumerate(rs):
                    f.write("## (%s) %s: %s, run %d\n\nfinish (s): %s\n\nMiB sent (row) to "
                            "(column):\n\n%s\n\n" %
                            (sname, desc, c, i + 1,
                             ", ".join("%s %.1f" % (k, v) for k, v in sorted(a["finish"].items())
                                       if v is not None), matrix(a, peers)))


if __name__ == "__main__":
    main()
