"""shoal tracker with real clients: Transmission seeds, libtorrent and aria2c
leech; every client finds the others only through the tracker (no manual
connect), once over HTTP and once over UDP (BEP 15), and the transfer
completes. Scrapes before and after show the right counts; the tracker's
debug log shows every client announcing with its own peer_id.

Transmission never dials 127.0.0.0/8 peers a tracker hands it (INTEROP.md),
so it is the seed here: the leechers dial it, and each other."""

import os
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmlib as sl  # noqa: E402

SIZE = 3 * 1024 * 1024 + 777   # a few MiB, not piece-aligned
PIECE = 256 * 1024


def http_scrape(port, ih):
    q = urllib.parse.urlencode({"info_hash": ih})
    r = sl.bdecode(urllib.request.urlopen("http://127.0.0.1:%d/scrape?%s" % (port, q),
                                          timeout=10).read())
    f = r[b"files"].get(ih)
    if f is None:
        return (0, 0, 0)
    return (f[b"complete"], f[b"incomplete"], f[b"downloaded"])


def udp_scrape(port, ih):
    """BEP 15 connect + scrape; returns (seeders, leechers, completed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        for _ in range(5):
            try:
                s.sendto(struct.pack(">QII", 0x41727101980, 0, 1), ("127.0.0.1", port))
                _, _, cid = struct.unpack(">IIQ", s.recv(64))
                s.sendto(struct.pack(">QII", cid, 2, 2) + ih, ("127.0.0.1", port))
                act, tid, seeders, completed, leechers = struct.unpack(">IIIII", s.recv(64))
                assert (act, tid) == (2, 2)
                return (seeders, leechers, completed)
            except socket.timeout:
                continue
        raise TimeoutError("no UDP scrape reply")
    finally:
        s.close()


def announces(log, proto):
    """{peer_id prefix: set of events} from the tracker's -v log."""
    seen = {}
    for line in log.splitlines():
        marker = "tracker: %s announce from " % proto
        if marker not in line:
            continue
        words = line.split(marker, 1)[1].split()
        pid = words[words.index("peer_id") + 1]
        ev = words[words.index("event") + 1]
        seen.setdefault(pid[:3], set()).add(ev)
    return seen


def run_case(scratch, procs, shoal, proto):
    check = sl.Check()
    port = sl.free_port_both()
    url = "%s://127.0.0.1:%d/announce" % (proto, port)
    content = os.path.join(scratch, "content")
    os.makedirs(content)
    data = sl.make_single(content, name="payload-%s.bin" % proto, size=SIZE, seed=7)
    torrent = os.path.join(scratch, "t.torrent")
    ih = sl.make_torrent(data, torrent, piece_length=PIECE, announce=url)

    # the tracker hosts the torrent and tracks nothing else
    tr = procs.start("shoal-tracker", shoal.argv(
        "tracker", "--data", os.path.join(scratch, "trk"), "--bind", "127.0.0.1", "-p", port,
        "--mode", "hosted", "--add", torrent, "--interval", "20",
        # libtorrent re-announces at most every 5 minutes (min_announce_interval)
        "--peer-timeout", "600", "-v"))
    sl.wait_for(lambda: "serving UDP" in tr.output() or tr.poll() is not None, 30,
                "the tracker to start")
    last = {}

    def scrape():
        last["v"] = http_scrape(port, ih) if proto == "http" else udp_scrape(port, ih)
        return last["v"]

    def wait_scrape(want, timeout, what):
        try:
            sl.wait_for(lambda: scrape() == want, timeout, what)
        except TimeoutError as e:
            raise TimeoutError("%s (last scrape: %s)" % (e, last.get("v")))
    check(scrape() == (0, 0, 0), "scrape before anyone announced: 0 seeders, 0 leechers")

    # Transmission seeds from the original data (it verifies, then announces)
    trans = sl.Transmission(procs, scratch, content, name="transmission")
    trans.add(torrent)
    wait_scrape((1, 0, 0), 90, "Transmission's announce as a seeder")
    check(True, "scrape with the seed alone: 1 seeder, 0 leechers, 0 done")

    # two leechers that only know the tracker
    lt_dir = os.path.join(scratch, "lt")
    os.makedirs(lt_dir)
    lt = sl.LtPeer(torrent, lt_dir)
    a2_dir = os.path.join(scratch, "aria2")
    os.makedirs(a2_dir)
    argv = sl.aria2c_argv(torrent, a2_dir, sl.free_port())
    # stay in the swarm after finishing so the final counts are stable
    argv = [a for a in argv if not a.startswith("--seed-time")] + ["--seed-time=600"]
    if proto == "udp":
        # aria2c speaks BEP 15 only through its DHT socket ("udp is not
        # supported yet" otherwise). With no dht.dat and no entry point its
        # DHT knows no node, so nothing leaves the machine.
        argv = [a for a in argv if not a.startswith("--enable-dht=")]
        argv[1:1] = ["--enable-dht=true", "--dht-listen-port=%d" % sl.free_port(socket.SOCK_DGRAM),
                     "--dht-file-path=" + os.path.join(scratch, "dht.dat"),
                     "--dht-listen-addr6=::1"]
    a2 = procs.start("aria2c", argv)
    a2_file = os.path.join(a2_dir, os.path.basename(data))

    want_sha1 = sl.file_sha1(data)

    def a2_done():
        # aria2c keeps its .aria2 control file while it seeds, so compare
        # the content itself (3 MiB: cheap enough to hash every poll)
        return (os.path.exists(a2_file) and os.path.getsize(a2_file) == SIZE
                and sl.file_sha1(a2_file) == want_sha1)
    try:
        sl.wait_for(lambda: lt.done() and a2_done(), 120, "libtorrent and aria2c to finish", 0.5)
    finally:
        lt_status = lt.status()
    check(sl.file_sha1(os.path.join(lt_dir, os.path.basename(data))) == sl.file_sha1(data),
          "libtorrent's copy is intact")
    check(sl.file_sha1(a2_file) == sl.file_sha1(data), "aria2c's copy is intact")
    check(lt_status.num_peers >= 1 or lt_status.total_payload_download >= SIZE,
          "libtorrent downloaded from peers the tracker named")

    # after: everyone seeds; two completed downloads
    try:
        sl.wait_for(lambda: scrape() == (3, 0, 2), 60, "scrape to show 3 seeders, 2 completed")
    except TimeoutError:
        pass
    check(scrape() == (3, 0, 2), "scrape after: 3 seeders, 0 leechers, 2 completed (got %s)"
          % (scrape(),))

    log = tr.output()
    seen = announces(log, proto)
    for prefix, who in (("-TR", "Transmission"), ("-LT", "libtorrent"), ("A2-", "aria2c")):
        check("started" in seen.get(prefix, set()),
              "%s announced over %s with event=started (saw %s)" % (who, proto,
                                                                     sorted(seen.get(prefix, []))))
    check("completed" in seen.get("-LT", set()), "libtorrent announced completed")
    check("completed" in seen.get("A2-", set()), "aria2c announced completed")
    other = "udp" if proto == "http" else "http"
    check(not announces(log, other), "nobody used %s for a %s tracker" % (other, proto))
    page = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10).read().decode()
    check(os.path.basename(data) in page, "the web page lists the hosted torrent")
    a2.kill()
    lt.close()
    return check.result()


def main():
    shoal = sl.shoal_from_argv()
    sl.require(programs=["transmission-daemon", "transmission-remote", "aria2c"],
               modules=["libtorrent"])
    run = sl.Run("tracker with real clients")
    for proto in os.environ.get("SHOAL_TRACKER_PROTOS", "http udp").split():
        run.case("%s tracker: Transmission seeds, libtorrent and aria2c leech" % proto, run_case,
                 shoal, proto)
    run.finish()


if __name__ == "__main__":
    main()
