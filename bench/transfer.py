#!/usr/bin/python3
"""Transfer benchmark: shoal and libtorrent moving the same torrent over
loopback, side by side, in one run. Driven by bench/transfer.sh.

Per scenario and repetition: start the seed, wait until it serves, start
the leecher(s) with the seed as their peer, wait for them to exit, check
the bytes are identical, stop the seed. Each process is measured from
outside with wait4(): wall time (leechers), user+system CPU seconds and
peak RSS (both sides). Medians over REPS repetitions, printed as a
markdown table with each scenario's speed relative to libtorrent ->
libtorrent (libtorrent's wall time over the scenario's), then the same
ratio round by round. Repetitions are rounds: each round runs every
scenario once. Before each run the
machine settles (sync, then CPUs idle): see settle().

Environment: REPS (default 3), SIZE_MB (default 2048), FILES (multi-file
variant's file count, default 300), LEECHERS (fan-out scenario, default 8),
VARIANTS ("single multi"), SCENARIOS (names below, default all),
SHOAL_ONLY / LT_ONLY=1 to run only one implementation's scenarios.

Encryption: plain scenarios run each client as it comes (shoal's default
offers MSE and both shoal and libtorrent then pick header-only, so the
stream is plaintext); /rc4 ones make both sides require RC4 for the
whole stream (shoal --encryption require; libtorrent pe_forced with
allowed_enc_level rc4), compared with lt->lt/rc4. shoal->shoal/sendfile
serves with sendfile even on loopback (--local-sendfile): beside plain and
/rc4 it shows what the memory path, the only one RC4 has, costs the seed.

The uTP scenarios (one file only) run both sides over uTP alone: shoal
with --utp-only, libtorrent with TCP turned off both ways; their ratio is
against libtorrent -> libtorrent over uTP, and the table's notes give
shoal's uTP rate as a share of its own TCP rate in the same run.
"""

import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import swarmlib  # noqa: E402

PY = "/usr/bin/python3"  # the interpreter that has python3-libtorrent
LT = os.path.join(HERE, "lt_transfer.py")
PIECE = 1 << 20
TIMEOUT = float(os.environ.get("TIMEOUT", "900"))


class Measured:
    """A child process whose resource use we read when it exits."""

    def __init__(self, argv, log):
        self.argv = argv
        self.log = log
        self.f = open(log, "wb")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        self.rc = None

    def wait(self, timeout=None):
        """Reaps the child with wait4 and records wall, CPU and peak RSS."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                break
            if end is not None and time.monotonic() > end:
                raise TimeoutError("%s still running after %.0f s" % (self.argv[:3], timeout))
            time.sleep(0.02)
        self.wall = time.monotonic() - self.t0
        self.cpu = ru.ru_utime + ru.ru_stime
        self.rss_mib = ru.ru_maxrss / 1024.0  # Linux reports KiB
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc  # so Popen does not try to reap it again
        self.f.close()
        return self.rc

    def running(self):
        return self.rc is None and self.p.poll() is None

    def stop(self):
        if self.rc is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.wait(30)
            except TimeoutError:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.wait(30)

    def output(self):
        try:
            return open(self.log, "rb").read().decode(errors="replace")
        except OSError:
            return ""


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- the sides


SHOAL_FLAGS = {"rc4": ["--encryption", "require"], "plain": [], "sendfile": ["--local-sendfile"]}
LT_FLAGS = {"rc4": ["--rc4"], "plain": [], "sendfile": []}


def transport_args(impl, transport, enc="plain"):
    extra = (SHOAL_FLAGS if impl == "shoal" else LT_FLAGS)[enc]
    if transport != "utp":
        return extra
    return extra + (["--utp-only"] if impl == "shoal" else ["--utp"])


def start_seed(impl, shoal, torrent, data_dir, scratch, tag, transport="tcp", enc="plain"):
    port = swarmlib.free_port()
    log = os.path.join(scratch, "%s-seed.log" % tag)
    extra = transport_args(impl, transport, enc)
    if impl == "shoal":
        m = Measured([shoal, "seed", torrent, data_dir, "--port", str(port)] + extra, log)
        # shoal seed checks the data before serving; the leecher starts only
        # once it says so, so the check is not counted in the transfer time.
        # (A seed that never prints "seeding" is still used once it has
        # listened for 60 s.)
        t0 = time.monotonic()
        swarmlib.wait_for(lambda: _seed_ready(m, port, t0), TIMEOUT, "shoal seed to serve")
    else:
        m = Measured([PY, LT, "seed", torrent, data_dir, "--port", str(port)] + extra, log)
        swarmlib.wait_for(lambda: _alive(m) and "ready" in m.output() and port_open(port),
                          120, "libtorrent seed to listen")
    return m, port


def _alive(m):
    if not m.running():
        raise RuntimeError("%s exited early:\n%s" % (" ".join(m.argv[:3]), m.output()[-2000:]))
    return True


def _seed_ready(m, port, t0):
    _alive(m)
    if not port_open(port):
        return False
    return re.search(r"seeding", m.output(), re.I) or time.monotonic() - t0 > 60


def start_leech(impl, shoal, torrent, out_dir, seed_port, scratch, tag, transport="tcp",
                enc="plain"):
    os.makedirs(out_dir, exist_ok=True)
    log = os.path.join(scratch, "%s.log" % tag)
    if impl == "shoal":
        argv = [shoal, "get", torrent, "-o", out_dir, "--peer", "127.0.0.1:%d" % seed_port,
                "--no-seed", "--port", str(swarmlib.free_port()), "-q"]
    else:
        argv = [PY, LT, "leech", torrent, out_dir, "--peer", str(seed_port),
                "--timeout", str(TIMEOUT)]
    leech_enc = "plain" if enc == "sendfile" else enc  # sendfile is the seed's
    return Measured(argv + transport_args(impl, transport, leech_enc), log)


# ---------------------------------------------------------------- data


def make_single(root, size):
    path = os.path.join(root, "single.bin")
    swarmlib.write_urandom(path, size)
    return path


def make_multi(root, size, nfiles):
    """nfiles files of mixed sizes (log-uniform from 1 byte to several MiB,
    a few empty, in nested folders) scaled to total about `size` bytes."""
    rng = random.Random(7)
    raw = [0 if i % 50 == 0 else int(10 ** rng.uniform(0, 7)) for i in range(nfiles)]
    scale = size / max(1, sum(raw))
    top = os.path.join(root, "multi")
    with open("/dev/urandom", "rb") as rnd:
        for i, r in enumerate(raw):
            d = os.path.join(top, "d%02d" % (i % 17), "s%d" % (i % 3))
            os.makedirs(d, exist_ok=True)
            n = int(r * scale)
            with open(os.path.join(d, "f%04d.bin" % i), "wb") as f:
                while n > 0:
                    k = min(n, 4 << 20)
                    f.write(rnd.read(k))
                    n -= k
    return top


def identical(a, b):
    """cmp for a file, diff -r (content, not only names) for a tree."""
    if os.path.isfile(a):
        return subprocess.run(["cmp", "-s", a, b]).returncode == 0
    return subprocess.run(["diff", "-rq", a, b], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


# ---------------------------------------------------------------- scenarios

SCENARIOS = [
    # name, seed impl, leecher impl, leecher count (None: LEECHERS), transport,
    # encryption
    ("shoal->shoal", "shoal", "shoal", 1, "tcp", "plain"),
    ("lt->lt", "lt", "lt", 1, "tcp", "plain"),
    ("lt->shoal", "lt", "shoal", 1, "tcp", "plain"),
    ("shoal->lt", "shoal", "lt", 1, "tcp", "plain"),
    ("shoal->8shoal", "shoal", "shoal", None, "tcp", "plain"),
    ("shoal->shoal-utp", "shoal", "shoal", 1, "utp", "plain"),
    ("lt->lt-utp", "lt", "lt", 1, "utp", "plain"),
    ("shoal->shoal/rc4", "shoal", "shoal", 1, "tcp", "rc4"),
    ("lt->lt/rc4", "lt", "lt", 1, "tcp", "rc4"),
    ("shoal->shoal/sendfile", "shoal", "shoal", 1, "tcp", "sendfile"),
]
TRANSPORT = {sc[0]: sc[4] for sc in SCENARIOS}
# what each scenario's speed is compared with: libtorrent over the same
# transport with the same encryption
REFERENCE = {sc[0]: "lt->lt-utp" if sc[4] == "utp" else
             "lt->lt/rc4" if sc[5] == "rc4" else "lt->lt" for sc in SCENARIOS}
# scenarios run on the single file only (the fan-out, and uTP: libtorrent's
# uTP moves about 5-11 MB/s here, minutes per GiB)
SINGLE_ONLY = {"shoal->8shoal", "shoal->shoal-utp", "lt->lt-utp"}


def cpu_idle_fraction(seconds):
    """Share of all CPUs' time spent idle (or waiting on I/O) over the next
    `seconds`, from /proc/stat."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]), v[3] + v[4]  # all but guest time; idle + iowait
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return (i1 - i0) / max(1, t1 - t0)


def settle():
    """Waits for the machine to be quiet before a run: the previous run's
    files are flushed and freed, and the kernel threads that write back or
    return freed memory (a libtorrent leecher leaves 2 GiB of dirty page
    cache behind) have finished. Without this the run after a libtorrent
    leecher paid for its clean-up: shoal -> shoal on 300 files took 2.1 s on
    its own and 2.5 s in rounds, with a third more CPU."""
    os.sync()
    end = time.monotonic() + 15
    while time.monotonic() < end and cpu_idle_fraction(0.5) < 0.95:
        pass


def one_run(shoal, sc, content, torrent, src_dir, scratch, rep, leechers):
    name, seed_impl, leech_impl, count, transport, enc = sc
    settle()
    count = count or leechers
    tag = name.replace(" ", "-").replace("/", "-")
    seed, port = start_seed(seed_impl, shoal, torrent, src_dir, scratch,
                            "%s-%d" % (tag, rep), transport, enc)
    outs, leeches = [], []
    try:
        for i in range(count):
            out = os.path.join(scratch, "out-%d" % i)
            shutil.rmtree(out, ignore_errors=True)
            outs.append(out)
            leeches.append(start_leech(leech_impl, shoal, torrent, out, port, scratch,
                                       "%s-%d-leech%d" % (tag, rep, i), transport, enc))
        t0 = time.monotonic()
        for m in leeches:
            rc = m.wait(TIMEOUT)
            if rc != 0:
                raise RuntimeError("%s leecher exited %d:\n%s" % (name, rc, m.output()[-1500:]))
        wall = time.monotonic() - t0
    finally:
        for m in leeches:
            m.stop()
        seed.stop()
    for out in outs:
        got = os.path.join(out, os.path.basename(content))
        if not identical(content, got):
            raise RuntimeError("%s: data differs in %s" % (name, got))
        shutil.rmtree(out, ignore_errors=True)
    return {
        "wall": wall,
        "leech_cpu": statistics.mean(m.cpu for m in leeches),
        "leech_rss": max(m.rss_mib for m in leeches),
        "seed_cpu": seed.cpu,
        "seed_rss": seed.rss_mib,
        "count": count,
    }


def main():
    shoal = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    reps = int(os.environ.get("REPS", "3"))
    size = int(float(os.environ.get("SIZE_MB", "2048")) * (1 << 20))
    nfiles = int(os.environ.get("FILES", "300"))
    leechers = int(os.environ.get("LEECHERS", "8"))
    variants = os.environ.get("VARIANTS", "single multi").split()
    wanted = os.environ.get("SCENARIOS", "").split()
    scen = [s for s in SCENARIOS if not wanted or s[0] in wanted]
    if os.environ.get("LT_ONLY") == "1" or not shoal:
        scen = [s for s in scen if s[1] == "lt" and s[2] == "lt"]
    if os.environ.get("SHOAL_ONLY") == "1":
        scen = [s for s in scen if "shoal" in (s[1], s[2])]
    base = os.environ.get("BENCH_TMP") or None
    scratch = tempfile.mkdtemp(prefix="shoal-bench-", dir=base)
    rows = []
    try:
        for variant in variants:
            src = os.path.join(scratch, "src-" + variant)
            os.makedirs(src)
            print("# making %d MiB of %s-file data" % (size >> 20, variant), file=sys.stderr,
                  flush=True)
            content = make_single(src, size) if variant == "single" else \
                make_multi(src, size, nfiles)
            torrent = os.path.join(scratch, variant + ".torrent")
            swarmlib.make_torrent(content, torrent, piece_length=PIECE)
            _, _, total = swarmlib.torrent_info(torrent)
            # warm the page cache: every run reads the source from memory
            subprocess.run(["cat"] + ([content] if os.path.isfile(content) else []),
                           stdout=subprocess.DEVNULL)
            if os.path.isdir(content):
                subprocess.run(["sh", "-c", "find \"$1\" -type f -exec cat {} + >/dev/null",
                                "sh", content])
            here = [sc for sc in scen if sc[0] not in SINGLE_ONLY or variant == "single"]
            results = {sc[0]: [] for sc in here}
            # Repetitions outermost: every scenario runs once per round, so a
            # slow spell of the machine (page-cache refills, the host) falls
            # on all of them rather than on the reps of one scenario.
            for rep in range(reps):
                for sc in here:
                    r = one_run(shoal, sc, content, torrent, src, scratch, rep, leechers)
                    print("# %s %s rep %d: %.2f s, leech %.1f CPU s %.0f MiB, seed %.1f CPU s "
                          "%.0f MiB" % (variant, sc[0], rep + 1, r["wall"], r["leech_cpu"],
                                         r["leech_rss"], r["seed_cpu"], r["seed_rss"]),
                          file=sys.stderr, flush=True)
                    results[sc[0]].append(r)
            for sc in here:
                res = results[sc[0]]
                med = {k: statistics.median(r[k] for r in res) for k in res[0]}
                med["bytes"] = total * med["count"]
                med["gib"] = total / float(1 << 30)
                ref = results.get(REFERENCE[sc[0]])
                med["rounds"] = [a["wall"] / b["wall"] for a, b in zip(ref, res)] \
                    if ref and res[0]["count"] == 1 else []
                rows.append((variant, sc[0], med))
            shutil.rmtree(src, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_table(rows, reps, size, nfiles, leechers)


def print_table(rows, reps, size, nfiles, leechers):
    print("Transfer over loopback, %d MiB, 1 MiB pieces, median of %d; multi = %d files; "
          "fan-out = 1 seed to %d leechers (aggregate rate); uTP rows: both sides uTP "
          "only, compared with lt->lt-utp\n" % (size >> 20, reps, nfiles, leechers))
    print("| data | scenario | wall s | MB/s | speed vs lt->lt | leech CPU s "
          "| leech CPU s/GiB | leech peak RSS MiB | seed CPU s | seed CPU s/GiB "
          "| seed peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ref = {(v, n): m["wall"] for v, n, m in rows}
    for variant, name, m in rows:
        r = ref.get((variant, REFERENCE[name]))
        ratio = "%.2f x" % (r / m["wall"]) if r and m["count"] == 1 else "-"
        gib = m["gib"] * m["count"]
        print("| %s | %s | %.2f | %.0f | %s | %.1f | %.2f | %.0f | %.1f | %.2f | %.0f |" % (
            variant, name, m["wall"], m["bytes"] / m["wall"] / 1e6, ratio, m["leech_cpu"],
            m["leech_cpu"] / m["gib"], m["leech_rss"], m["seed_cpu"], m["seed_cpu"] / gib,
            m["seed_rss"]))
    tcp, utp = ref.get(("single", "shoal->shoal")), ref.get(("single", "shoal->shoal-utp"))
    lt_utp = ref.get(("single", "lt->lt-utp"))
    if utp and (tcp or lt_utp):
        print()
        if lt_utp:
            print("- shoal over uTP: %.1f x libtorrent over uTP (goal: at least 20 x)"
                  % (lt_utp / utp))
        if tcp:
            print("- shoal over uTP: %.2f of shoal's own TCP rate (goal: at least 0.5)"
                  % (tcp / utp))
    rounds = [(v, n, m["rounds"]) for v, n, m in rows if m["rounds"] and n != REFERENCE[n]]
    if rounds:
        print("\nSpeed vs the same run's reference (its wall time / the scenario's):\n")
        for variant, name, r in rounds:
            print("- %s %s: %s" % (variant, name, ", ".join("%.2f" % x for x in r)))


if __name__ == "__main__":
    main()
