#!/usr/bin/python3
"""Magnet benchmark: from a magnet link to the first verified piece and to
the whole download, shoal against libtorrent, from the same libtorrent
seed over loopback, side by side in one run. Driven by bench/magnet.sh.

The seed (python3-libtorrent, seed mode) serves a SIZE_MB file (default
100) in 256 KiB pieces; the link names only the info-hash and the seed
(x.pe), so each leecher first fetches the metadata from it (BEP 9). Each
repetition runs `shoal get MAGNET --no-seed` and then bench/lt_magnet.py
(libtorrent in a process of its own), each into an empty folder, and checks
the bytes. Times:

  shoal       from the moment `shoal get` is started (its start-up counts
              against it) to the log lines "metadata received", "first
              piece verified" and "download complete" (-v, millisecond
              stamps);
  libtorrent  from the moment lt_magnet.py adds the link (its interpreter
              and session start-up are not counted) to has_metadata,
              the first verified piece and is_seeding, polled every 2 ms.

Medians over REPS (default 3), as a markdown table with shoal/libtorrent
ratios (below 1: shoal is faster).

Environment: REPS, SIZE_MB, BENCH_TMP (scratch folder; default the
system's)."""

import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import swarmlib  # noqa: E402

PY = "/usr/bin/python3"
PIECE = 256 * 1024
STEPS = ("metadata", "first_piece", "done")
MARKS = {"metadata": "metadata received from", "first_piece": "first piece verified",
         "done": "download complete"}


def stamp_to_epoch(stamp, t0):
    """'HH:MM:SS.mmm' (UTC) from shoal's log, on the day of t0 (or the next)."""
    utc = datetime.timezone.utc
    day = datetime.datetime.fromtimestamp(t0, utc).date()
    h, m, s = stamp.split(":")
    sec, ms = s.split(".")
    t = datetime.datetime(day.year, day.month, day.day, int(h), int(m), int(sec),
                          int(ms) * 1000, tzinfo=utc)
    e = t.timestamp()
    return e + 86400 if e < t0 - 3600 else e


def run_shoal(shoal, link, out, log):
    t0 = time.time()
    with open(log, "wb") as f:
        rc = subprocess.run([shoal, "get", link, "-o", out, "--no-seed", "-v", "--bind",
                             "127.0.0.1", "--port", "0"], stdout=f, stderr=subprocess.STDOUT,
                            timeout=600).returncode
    if rc != 0:
        raise RuntimeError("shoal get exited %d, see %s" % (rc, log))
    t = {}
    for line in open(log, errors="replace"):
        for k, mark in MARKS.items():
            if mark in line and k not in t:
                t[k] = stamp_to_epoch(line.split()[0], t0) - t0
    missing = [k for k in STEPS if k not in t]
    if missing:
        raise RuntimeError("no %s in %s" % (", ".join(missing), log))
    return t


def run_lt(link, out):
    r = subprocess.run([PY, os.path.join(HERE, "lt_magnet.py"), link, out],
                       capture_output=True, text=True, timeout=660)
    t = json.loads(r.stdout.strip().splitlines()[-1])
    missing = [k for k in STEPS if k not in t]
    if missing:
        raise RuntimeError("libtorrent never reached %s: %s" % (", ".join(missing), r.stderr))
    return {k: t[k] - t["added"] for k in STEPS}


def main():
    shoal = os.path.abspath(sys.argv[1])
    reps = int(os.environ.get("REPS", "3"))
    size = int(os.environ.get("SIZE_MB", "100")) << 20
    scratch = tempfile.mkdtemp(prefix="shoal-bench-magnet-", dir=os.environ.get("BENCH_TMP"))
    try:
        src = os.path.join(scratch, "src")
        os.makedirs(src)
        print("# making %d MiB of data" % (size >> 20), file=sys.stderr, flush=True)
        content = os.path.join(src, "film.bin")
        swarmlib.write_urandom(content, size)
        tor = os.path.join(scratch, "film.torrent")
        swarmlib.make_torrent(content, tor, piece_length=PIECE)
        seed = swarmlib.LtPeer(tor, src, seed=True, tracker=False)
        link = subprocess.run([shoal, "info", "--magnet", tor], capture_output=True, text=True,
                              check=True).stdout.strip()
        link = "%s&x.pe=127.0.0.1:%d" % (link.split("&")[0], seed.port)
        res = {"shoal": [], "libtorrent": []}
        for rep in range(reps):
            for impl in ("shoal", "libtorrent"):
                out = os.path.join(scratch, "dl-%s-%d" % (impl, rep))
                os.makedirs(out)
                if impl == "shoal":
                    t = run_shoal(shoal, link, out, os.path.join(scratch, "shoal-%d.log" % rep))
                else:
                    t = run_lt(link, out)
                diff = swarmlib.same_tree(content, os.path.join(out, "film.bin"))
                if diff:
                    raise RuntimeError("%s rep %d: the data differ: %s" % (impl, rep, diff))
                res[impl].append(t)
                print("# %s rep %d: metadata %.3f s, first piece %.3f s, done %.3f s"
                      % (impl, rep, t["metadata"], t["first_piece"], t["done"]),
                      file=sys.stderr, flush=True)
                shutil.rmtree(out)
        seed.close()
        med = {impl: {k: statistics.median(r[k] for r in rs) for k in STEPS}
               for impl, rs in res.items()}
        print("Magnet link to data over loopback from a libtorrent seed: %d MiB, 256 KiB "
              "pieces, median of %d\n" % (size >> 20, reps))
        print("| step (from the link) | shoal s | libtorrent s | shoal / libtorrent |")
        print("| --- | ---: | ---: | ---: |")
        names = {"metadata": "metadata fetched", "first_piece": "first verified piece",
                 "done": "complete"}
        for k in STEPS:
            s, l = med["shoal"][k], med["libtorrent"][k]
            print("| %s | %.3f | %.3f | %.2f |" % (names[k], s, l, s / l if l else float("nan")))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
