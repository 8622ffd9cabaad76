"""Shared helpers for shoal's interop tests and transfer benchmarks.

Everything here drives real programs over loopback: python3-libtorrent
sessions, transmission-daemon, aria2c and the shoal binary. Nothing is mocked.

Conventions the tests rely on:
  * every port comes from the kernel (bind to port 0, read it back), so tests
    running side by side never collide;
  * every child process is registered with a Procs object whose kill_all()
    runs in a finally block, so no daemon outlives its test;
  * waits poll a condition with a generous deadline instead of sleeping a
    fixed time: CI machines have 2 cores shared by several jobs;
  * a test that cannot run here says why in a `SKIP: ...` line and exits
    with SKIP_CODE, which CMake declares as the tests' SKIP_RETURN_CODE, so
    CTest shows it as skipped, not passed: require() for a missing program
    or module (the whole file), Run.skip() for one case (the file then
    reports skipped unless a case failed).
"""

import errno
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# shoal get and seed join the DHT through the public routers by default; no
# test or benchmark may reach them (a test that wants a DHT node passes
# --dht-bootstrap), whoever runs it.
os.environ.setdefault("SHOAL_DHT_BOOTSTRAP", "none")

# ---------------------------------------------------------------- skips

SKIP_CODE = 77  # automake's "skipped"; CMakeLists.txt sets it as SKIP_RETURN_CODE

# Where each program and Python module the tests drive comes from, so a skip
# names the Debian package scripts/install-deps.sh would have installed.
PACKAGE_OF = {
    "aria2c": "aria2", "transmission-daemon": "transmission-daemon",
    "transmission-remote": "transmission-cli", "transmission-create": "transmission-cli",
    "mktorrent": "mktorrent", "ip": "iproute2", "libtorrent": "python3-libtorrent",
    "tc": "iproute2", "nft": "nftables", "iptables": "iptables", "opentracker": "opentracker",
    "ping": "iputils-ping",
}


def missing(programs=(), modules=()):
    """What of programs (on PATH) and Python modules is not there, as a
    sentence, or None when everything is."""
    gone = [p for p in programs if not shutil.which(p)]
    for m in modules:
        try:
            __import__(m)
        except ImportError:
            gone.append("Python module " + m)
    if not gone:
        return None
    pkgs = sorted({PACKAGE_OF.get(g.split()[-1], "?") for g in gone})
    return "%s not found (Debian package%s %s; scripts/install-deps.sh installs %s)" % (
        ", ".join(gone), "s" if len(pkgs) > 1 else "", " ".join(pkgs),
        "them" if len(pkgs) > 1 else "it")


def require(programs=(), modules=()):
    """Skips the whole test file unless every program and module is there."""
    why = missing(programs, modules)
    if why:
        print("SKIP: " + why, flush=True)
        sys.exit(SKIP_CODE)


# ---------------------------------------------------------------- bencode


def bencode(x):
    """Canonical bencoding (BEP 3): dict keys sorted as raw byte strings."""
    if isinstance(x, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, (bytes, bytearray)):
        return b"%d:%s" % (len(x), bytes(x))
    if isinstance(x, list):
        return b"l" + b"".join(bencode(v) for v in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError("cannot bencode %r" % type(x))


def bdecode(data):
    """Decodes one bencoded value; raises ValueError on malformed input."""
    def walk(i):
        c = data[i:i + 1]
        if c == b"i":
            j = data.index(b"e", i)
            return int(data[i + 1:j]), j + 1
        if c == b"l":
            out, i = [], i + 1
            while data[i:i + 1] != b"e":
                v, i = walk(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            out, i = {}, i + 1
            while data[i:i + 1] != b"e":
                k, i = walk(i)
                v, i = walk(i)
                out[k] = v
            return out, i + 1
        if c.isdigit():
            j = data.index(b":", i)
            n = int(data[i:j])
            return data[j + 1:j + 1 + n], j + 1 + n
        raise ValueError("bad bencode at offset %d" % i)
    v, end = walk(0)
    if end != len(data):
        raise ValueError("trailing bytes after bencoded value")
    return v


# ---------------------------------------------------------------- content

PIECE = 256 * 1024  # default piece length for test torrents: many pieces in little data


def write_random(path, size, seed):
    """Writes `size` pseudo-random bytes (reproducible from `seed`)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def write_urandom(path, size):
    """Fast incompressible data for big benchmark files."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    subprocess.run(["head", "-c", str(size), "/dev/urandom"], stdout=open(path, "wb"),
                   check=True)


def make_single(root, name="single.bin", size=5 * 1024 * 1024 + 12345, seed=1):
    """One file whose size is deliberately not a multiple of the piece size."""
    path = os.path.join(root, name)
    write_random(path, size, seed)
    return path


# (relative path, size): nested directories, a zero-length file, files
# smaller than a piece, a file spanning many pieces, none piece-aligned.
MULTI_LAYOUT = [
    ("README.txt", 1234),
    ("empty.dat", 0),
    ("docs/a.bin", 300 * 1024 + 7),
    ("docs/deep/er/b.bin", 2 * 1024 * 1024 + 99),
    ("docs/deep/zero", 0),
    ("media/c.bin", 3 * 1024 * 1024 + 4321),
    ("media/tiny", 1),
    ("z/last.bin", 777 * 1024 + 3),
]


def make_multi(root, name="multi", layout=None, seed=2):
    """Builds the shared multi-file fixture under root/name; returns its path."""
    top = os.path.join(root, name)
    for i, (rel, size) in enumerate(layout or MULTI_LAYOUT):
        write_random(os.path.join(top, rel), size, seed * 1000 + i)
    return top


def _files_of(path):
    """[(relative path parts, size, absolute path)] in a stable sorted order."""
    if os.path.isfile(path):
        return [([os.path.basename(path)], os.path.getsize(path), path)]
    out = []
    for d, dirs, files in os.walk(path):
        dirs.sort()
        for fn in sorted(files):
            full = os.path.join(d, fn)
            rel = os.path.relpath(full, path).split(os.sep)
            out.append((rel, os.path.getsize(full), full))
    out.sort(key=lambda t: t[0])
    return out


def make_torrent(path, out, piece_length=PIECE, announce=None, private=False):
    """Writes a v1 .torrent for the file or directory `path` (BEP 3).

    Written here rather than with a client so the fixture does not depend
    on any one implementation's choices (pad files, ordering, v2 hashes).
    Returns the 20-byte info-hash."""
    files = _files_of(path)
    pieces = []
    h = hashlib.sha1()
    filled = 0
    for _, _, full in files:
        with open(full, "rb") as f:
            while True:
                chunk = f.read(piece_length - filled)
                if not chunk:
                    break
                h.update(chunk)
                filled += len(chunk)
                if filled == piece_length:
                    pieces.append(h.digest())
                    h, filled = hashlib.sha1(), 0
    if filled:
        pieces.append(h.digest())
    info = {"name": os.path.basename(os.path.normpath(path)), "piece length": piece_length,
            "pieces": b"".join(pieces)}
    if os.path.isfile(path):
        info["length"] = files[0][1]
    else:
        info["files"] = [{"length": size, "path": rel} for rel, size, _ in files]
    if private:
        info["private"] = 1
    meta = {"info": info, "created by": "shoal interop"}
    if announce:
        meta["announce"] = announce
    with open(out, "wb") as f:
        f.write(bencode(meta))
    return hashlib.sha1(bencode(info)).digest()



def fixture(scratch, kind):
    """The usual test set-up: content of `kind` ("single" or "multi") under
    scratch/src, its torrent at scratch/KIND.torrent and an empty scratch/dst.
    Returns (src, content, torrent, dst)."""
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    content = make_single(src) if kind == "single" else make_multi(src)
    tor = os.path.join(scratch, kind + ".torrent")
    make_torrent(content, tor)
    dst = os.path.join(scratch, "dst")
    os.makedirs(dst)
    return src, content, tor, dst

def torrent_info(path):
    """(info dict, info-hash, total length) of a .torrent file."""
    meta = bdecode(open(path, "rb").read())
    info = meta[b"info"]
    if b"length" in info:
        total = info[b"length"]
    else:
        total = sum(f[b"length"] for f in info[b"files"])
    return info, hashlib.sha1(bencode(info)).digest(), total


def count_good_pieces(torrent, save_dir):
    """How many pieces under save_dir match their hash: what a restarted
    client may keep without downloading again."""
    info, _, _ = torrent_info(torrent)
    plen = info[b"piece length"]
    name = info[b"name"].decode()
    if b"length" in info:
        files = [(os.path.join(save_dir, name), info[b"length"])]
    else:
        files = [(os.path.join(save_dir, name, *[p.decode() for p in f[b"path"]]), f[b"length"])
                 for f in info[b"files"]]
    hashes = info[b"pieces"]
    good, buf, idx = 0, bytearray(), 0

    def feed(data):
        nonlocal good, buf, idx
        buf += data
        while len(buf) >= plen:
            if hashlib.sha1(buf[:plen]).digest() == hashes[idx * 20:idx * 20 + 20]:
                good += 1
            idx += 1
            del buf[:plen]

    for full, size in files:
        left = size
        try:
            with open(full, "rb") as f:
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    feed(chunk)
                    left -= len(chunk)
        except FileNotFoundError:
            pass
        if left > 0:
            feed(b"\0" * left)  # missing bytes: this piece cannot match
    if buf and hashlib.sha1(buf).digest() == hashes[idx * 20:idx * 20 + 20]:
        good += 1
    return good


def same_tree(a, b, allow_missing_empty=False):
    """None if the file/directory trees a and b hold identical bytes, else a
    sentence saying what differs. allow_missing_empty: b may lack the
    zero-length files (Transmission 3.00 never creates them)."""
    if not os.path.exists(b):
        return "%s does not exist" % b
    fa, fb = _files_of(a), _files_of(b)
    if allow_missing_empty:
        have = set(tuple(r) for r, _, _ in fb)
        fa = [t for t in fa if t[1] > 0 or tuple(t[0]) in have]
    ra = [(tuple(r), s) for r, s, _ in fa]
    rb = [(tuple(r), s) for r, s, _ in fb]
    if ra != rb:
        missing = set(ra) - set(rb)
        extra = set(rb) - set(ra)
        return "file lists differ: missing %s, extra %s" % (sorted(missing)[:5], sorted(extra)[:5])
    for (rel, _, pa), (_, _, pb) in zip(fa, fb):
        if file_sha1(pa) != file_sha1(pb):
            return "%s differs" % "/".join(rel)
    return None


def file_sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


# ---------------------------------------------------------------- processes


_port_rng = random.Random(os.urandom(16))
_ports_given = set()


def _port_range():
    """Where test ports come from: below the kernel's ephemeral range when
    there is room (else above it). Outgoing connections, and sockets bound
    to port 0 by any program (libtorrent's, Transmission's and aria2's UDP
    sockets among them), take their ports from that range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if lo - 10000 >= 2000:
        return 10000, lo
    if 65535 - hi >= 2000:
        return hi + 1, 65536
    return 10000, 65536


def _port_is_free(p):
    """Nothing is bound to port p, TCP or UDP, on any IPv4 or IPv6 address."""
    for fam, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            try:
                s = socket.socket(fam, kind)
            except OSError:
                continue  # no IPv6 here
            try:
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, p))
            except OSError as e:
                if fam == socket.AF_INET6 and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue  # IPv6 turned off
                return False
            finally:
                s.close()
    return True


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both TCP and UDP on every address (shoal listens on
    both with one number; `kind` is kept for callers that name one), picked
    at random outside the kernel's ephemeral range (_port_range). A port
    the kernel had handed out, as binding to port 0 does, could be taken
    again by another program's connection or UDP socket before the program
    under test bound it: under load that made interop tests fail with
    "address already in use"."""
    lo, hi = _port_range()
    for _ in range(500):
        p = _port_rng.randrange(lo, hi)
        if p not in _ports_given and _port_is_free(p):
            _ports_given.add(p)  # not handed out twice by this process
            return p
    raise RuntimeError("no free port found in %d-%d" % (lo, hi - 1))


def free_port_both():
    """A port free for both TCP and UDP (a tracker serves both on one
    port): what free_port gives."""
    return free_port()


def wait_for(cond, timeout, what, interval=0.2):
    """Polls cond() until it is truthy; raises TimeoutError naming `what`."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(interval)


def handshake_answered(port, info_hash, host="127.0.0.1"):
    """True if the peer at port answers a BEP 3 handshake for info_hash."""
    try:
        with socket.create_connection((host, port), timeout=2) as c:
            c.sendall(b"\x13BitTorrent protocol" + b"\0" * 8 + info_hash +
                      b"-PROBE0-" + os.urandom(6).hex().encode())
            got = b""
            while len(got) < 68:
                d = c.recv(68 - len(got))
                if not d:
                    return False
                got += d
            return got[28:48] == info_hash
    except OSError:
        return False


# Message Stream Encryption's prime (768 bits, generator 2): for probing a
# peer that accepts encrypted connections only (src/peer/mse_hs.h has the
# protocol).
MSE_P = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
            "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
            "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)


class _Rc4:
    """An RC4 stream with MSE's first 1024 bytes thrown away."""

    def __init__(self, key):
        s, j = list(range(256)), 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) & 255
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0
        self.crypt(bytes(1024))

    def crypt(self, data):
        s, i, j, out = self.s, self.i, self.j, bytearray(len(data))
        for k, b in enumerate(data):
            i = (i + 1) & 255
            j = (j + s[i]) & 255
            s[i], s[j] = s[j], s[i]
            out[k] = b ^ s[(s[i] + s[j]) & 255]
        self.i, self.j = i, j
        return bytes(out)


def _recv_until(c, buf, n):
    while len(buf) < n:
        d = c.recv(4096)
        if not d:
            raise OSError("closed")
        buf += d
    return buf


def handshake_answered_mse(port, info_hash, host="127.0.0.1"):
    """True if the peer at port completes an encrypted handshake (MSE,
    RC4 offered alone) for info_hash and answers with a BEP 3 handshake
    naming it."""
    def sha1(*parts):
        return hashlib.sha1(b"".join(parts)).digest()
    try:
        with socket.create_connection((host, port), timeout=2) as c:
            x = int.from_bytes(os.urandom(20), "big")
            c.sendall(pow(2, x, MSE_P).to_bytes(96, "big"))
            yb = _recv_until(c, b"", 96)
            s = pow(int.from_bytes(yb[:96], "big"), x, MSE_P).to_bytes(96, "big")
            enc, dec = _Rc4(sha1(b"keyA", s, info_hash)), _Rc4(sha1(b"keyB", s, info_hash))
            ia = (b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-PROBE0-" +
                  os.urandom(6).hex().encode())
            req23 = bytes(a ^ b for a, b in zip(sha1(b"req2", info_hash), sha1(b"req3", s)))
            c.sendall(sha1(b"req1", s) + req23 + enc.crypt(
                bytes(8) + (2).to_bytes(4, "big") + bytes(2) + len(ia).to_bytes(2, "big") + ia))
            vc, buf = dec.crypt(bytes(8)), yb[96:]
            while vc not in buf:
                if len(buf) > 512 + 8:
                    return False
                buf = _recv_until(c, buf, len(buf) + 1)
            rest = _recv_until(c, buf[buf.index(vc) + 8:], 6)
            head = dec.crypt(rest[:6])
            padd = int.from_bytes(head[4:6], "big")
            rest = _recv_until(c, rest, 6 + padd + 68)
            hs = dec.crypt(rest[6:6 + padd + 68])[padd:]
            return head[:4] == b"\0\0\0\x02" and hs[28:48] == info_hash
    except OSError:
        return False


def wait_listening(port, timeout=30, host="127.0.0.1"):
    def up():
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout, "something listening on %s:%d" % (host, port))


class Proc:
    """A child process with its stdout+stderr captured to a log file."""

    def __init__(self, name, argv, log, cwd=None, env=None):
        self.name, self.argv, self.log_path = name, argv, log
        self.logf = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, cwd=cwd,
                                  env=env, start_new_session=True)
        self.start = time.monotonic()

    def poll(self):
        return self.p.poll()

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError("%s did not exit within %ds" % (self.name, timeout))

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        try:
            return open(self.log_path, "rb").read().decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGTERM, then SIGKILL if it lingers past 5 s."""
        if self.p.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.p.wait(5)
        self.logf.close()


class Procs:
    """Every child a test starts, so a finally block can end them all."""

    def __init__(self, scratch):
        self.scratch, self.items, self.n = scratch, [], 0

    def start(self, name, argv, **kw):
        self.n += 1
        log = os.path.join(self.scratch, "%02d-%s.log" % (self.n, name))
        p = Proc(name, argv, log, **kw)
        self.items.append(p)
        return p

    def kill_all(self):
        for p in reversed(self.items):
            try:
                p.kill()
            except Exception:  # keep killing the others
                traceback.print_exc()


# ---------------------------------------------------------------- libtorrent


def lt_module():
    import libtorrent  # python3-libtorrent; only /usr/bin/python3 has it
    return libtorrent


def lt_settings(port=0, upload_rate=0, download_rate=0):
    """Settings from INTEROP.md: uTP off (it crawls on loopback), no DHT/LSD/
    UPnP/NAT-PMP, several connections per IP (everyone is 127.0.0.1)."""
    return {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False,
        "upload_rate_limit": upload_rate, "download_rate_limit": download_rate,
        "alert_mask": 0,
    }


# libtorrent with TCP turned off both ways: uTP (BEP 29) only
LT_UTP_ONLY = {"enable_outgoing_utp": True, "enable_incoming_utp": True,
               "enable_outgoing_tcp": False, "enable_incoming_tcp": False}


class LtPeer:
    """One libtorrent session holding one torrent, seeding or leeching.

    With a rate limit, every peer is put in the global peer class: libtorrent
    exempts local-network peers (127.0.0.0/8 included) from rate limits by
    default, which would make a "slow seed" on loopback fast."""

    def __init__(self, torrent, save_dir, seed=False, upload_rate=0, download_rate=0,
                 port=0, tracker=True, settings=None):
        lt = lt_module()
        self.lt = lt
        pack = lt_settings(port, upload_rate, download_rate)
        pack.update(settings or {})  # e.g. LT_UTP_ONLY
        self.ses = lt.session(pack)
        # a seed refusing plaintext is probed with an encrypted handshake
        probe = handshake_answered_mse \
            if pack.get("in_enc_policy") == int(lt.enc_policy.pe_forced) else handshake_answered
        if upload_rate or download_rate:
            f = lt.ip_filter()
            f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
            self.ses.set_peer_class_filter(f)
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = save_dir
        if seed:
            p.flags |= lt.torrent_flags.seed_mode
        if not tracker:
            p.trackers = []
        self.h = self.ses.add_torrent(p)
        self.port = self.ses.listen_port()
        if seed and pack.get("enable_incoming_tcp", True):
            # add_torrent returns before the torrent is attached; for a
            # moment after that libtorrent still closes incoming handshakes
            # for it (seen here: up to ~1 s), and the client under test
            # would then sit out its reconnect back-off. So probe with a
            # real handshake until libtorrent answers one.
            ih = torrent_info(torrent)[1]
            wait_for(lambda: probe(self.port, ih), 60,
                     "libtorrent seed to answer handshakes", 0.3)
        elif seed:
            # no TCP to probe with: wait until it says it seeds, and the
            # moment above
            wait_for(lambda: self.h.status().is_seeding, 60, "libtorrent seed to seed", 0.1)
            time.sleep(1.5)

    def connect(self, port, host="127.0.0.1"):
        self.h.connect_peer((host, port))

    def status(self):
        return self.h.status()

    def done(self):
        s = self.h.status()
        return s.is_seeding or s.is_finished

    def uploaded(self):
        return self.h.status().total_payload_upload

    def uploaded_settled(self, timeout=30):
        """The upload counter once it has stopped moving for a second:
        libtorrent updates its counters on its own tick, so a read right
        after a peer left may be short of what was sent."""
        last = self.uploaded()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            time.sleep(1.0)
            now = self.uploaded()
            if now == last:
                return now
            last = now
        return last

    def downloaded(self):
        return self.h.status().total_payload_download

    def peer_flags(self):
        """The flags of each connected peer (lt.peer_info.rc4_encrypted...)."""
        return [p.flags for p in self.h.get_peer_info()]

    def close(self):
        try:
            self.ses.remove_torrent(self.h)
        except Exception:
            pass
        del self.h
        del self.ses


# ---------------------------------------------------------------- transmission


class Transmission:
    """transmission-daemon in the foreground with its own config dir, driven
    with transmission-remote over RPC on loopback (INTEROP.md settings)."""

    def __init__(self, procs, scratch, download_dir, name="transmission", bind="127.0.0.1",
                 netns=None, settings=None):
        import json
        self.cfg = os.path.join(scratch, name + "-cfg")
        os.makedirs(self.cfg, exist_ok=True)
        self.rpc_port = free_port()
        self.peer_port = free_port()
        settings_json = {
            "dht-enabled": False, "lpd-enabled": False, "utp-enabled": False,
            "pex-enabled": False, "port-forwarding-enabled": False,
            "rpc-bind-address": "127.0.0.1", "rpc-port": self.rpc_port,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
            "rpc-host-whitelist-enabled": False,
            "peer-port": self.peer_port, "peer-port-random-on-start": False,
            "bind-address-ipv4": bind, "bind-address-ipv6": "::1",
            "download-dir": download_dir, "incomplete-dir-enabled": False,
            "start-added-torrents": True, "ratio-limit-enabled": False,
            "speed-limit-up-enabled": False, "speed-limit-down-enabled": False,
            "message-level": 2, "cache-size-mb": 16,
        }
        settings_json.update(settings or {})  # e.g. {"utp-enabled": True}
        with open(os.path.join(self.cfg, "settings.json"), "w") as f:
            json.dump(settings_json, f)
        self.netns = netns  # run inside this network namespace (see NetNs)
        self.proc = procs.start(name, self._in_ns(["transmission-daemon", "-f", "-g", self.cfg]))
        wait_for(self._rpc_up, 60, "transmission RPC on port %d" % self.rpc_port, 0.3)

    def remote(self, *args, check=True):
        argv = self._in_ns(["transmission-remote", "127.0.0.1:%d" % self.rpc_port] + list(args))
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("transmission-remote %s: %s%s" % (" ".join(args), r.stdout,
                                                                 r.stderr))
        return r.stdout

    def _in_ns(self, argv):
        return ["ip", "netns", "exec", self.netns] + argv if self.netns else argv

    def _rpc_up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("transmission-daemon exited:\n" + self.proc.output()[-2000:])
        try:
            self.remote("-l")
            return True
        except (RuntimeError, subprocess.TimeoutExpired):
            return False

    def add(self, torrent):
        self.remote("-a", torrent)

    def percent(self):
        """Percent done of torrent 1 from `transmission-remote -l`, or -1."""
        for line in self.remote("-l").splitlines()[1:]:
            parts = line.split()
            if parts and parts[0].rstrip("*").isdigit():
                pct = parts[1]
                if pct.endswith("%"):
                    return float(pct[:-1])
                return -1
        return -1

    def info(self):
        return self.remote("-t", "1", "-i")

    def state(self):
        for line in self.info().splitlines():
            line = line.strip()
            if line.startswith("State:"):
                return line.split(":", 1)[1].strip()
        return ""

    def complete(self):
        """All data present and verified (a seed without peers says 'Idle',
        not 'Seeding', so the state name alone is no test)."""
        return self.percent() == 100 and "verif" not in self.state().lower()


class NetNs:
    """A network namespace joined to this one by a veth pair, with private
    addresses that exist only while the test runs: outside 10.X.Y.1, inside
    10.X.Y.2 (a /30). For clients that refuse loopback peers. Needs root;
    NetNs.available() says whether this machine allows it."""

    def __init__(self):
        tag = "%x%04x" % (os.getpid() & 0xffff, random.getrandbits(16))
        self.name = "shoal-%s" % tag
        self.veth_out, self.veth_in = "sho%s" % tag[:8], "shi%s" % tag[:8]
        # 10.X.Y.0/30 from the random tag, so parallel tests do not collide
        x, y = random.randrange(100, 250), random.randrange(0, 64) * 4
        self.outside, self.inside = "10.%d.%d.1" % (x, y), "10.%d.%d.2" % (x, y)
        self.created = False
        try:
            self._ip("netns", "add", self.name)
            self.created = True
            self._ip("link", "add", self.veth_out, "type", "veth", "peer", "name", self.veth_in)
            self._ip("link", "set", self.veth_in, "netns", self.name)
            self._ip("addr", "add", self.outside + "/30", "dev", self.veth_out)
            self._ip("link", "set", self.veth_out, "up")
            self.exec_ok("ip", "addr", "add", self.inside + "/30", "dev", self.veth_in)
            self.exec_ok("ip", "link", "set", self.veth_in, "up")
            self.exec_ok("ip", "link", "set", "lo", "up")
        except Exception:
            self.close()
            raise

    @staticmethod
    def unavailable():
        """Why this machine cannot make one, or None when it can."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        why = missing(programs=["ip"])
        if why:
            return why
        probe = "shoal-probe-%d" % os.getpid()
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            return "'ip netns add' failed: %s" % r.stderr.strip()
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return None

    @staticmethod
    def available():
        return NetNs.unavailable() is None

    def _ip(self, *args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True, timeout=30)

    def exec_ok(self, *argv):
        subprocess.run(["ip", "netns", "exec", self.name] + list(argv), check=True,
                       capture_output=True, timeout=30)

    def close(self):
        """Deleting the namespace deletes the veth pair with it."""
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self.created = False
        subprocess.run(["ip", "link", "del", self.veth_out], capture_output=True)


def sh(*argv, check=True, ns=None):
    """Runs a command (inside namespace ns when given); its stdout."""
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


# rx: bytes received per source, TCP and UDP (uTP carries peer traffic
# too); syn: TCP connections opened per destination; usyn: uTP ones (a uTP
# packet whose first byte is 0x41: type ST_SYN, version 1, BEP 29).
ACCT = """
table inet acct {
  set rx { type ipv4_addr; flags dynamic; counter; size 65535; }
  set syn { type ipv4_addr; flags dynamic; counter; size 65535; }
  set usyn { type ipv4_addr; flags dynamic; counter; size 65535; }
  chain in { type filter hook input priority 0;
             meta l4proto { tcp, udp } update @rx { ip saddr }; }
  chain out { type filter hook output priority 0;
              tcp flags & (syn | ack) == syn update @syn { ip daddr };
              meta l4proto udp @ih,0,8 0x41 update @usyn { ip daddr }; }
}
"""


class BridgeNet:
    """A bridge in a namespace of its own and one namespace per node, each
    joined to it by a veth pair, with private addresses that exist only
    inside these namespaces: 10.X.Y.k/24, k = 1 for the first node. Each
    node's nftables count the bytes it receives per source address (rx)
    and the connections it opens per destination (syn). Needs root, and
    nft; NetNs.unavailable() says whether namespaces work here."""

    def __init__(self, names):
        """names: the nodes, in address order."""
        tag = "%04x" % random.getrandbits(16)
        self.prefix = "shsw%s" % tag
        self.br = self.prefix + "-br"
        x, y = random.randrange(100, 250), random.randrange(0, 255)
        self.ns, self.ip, self.delay_proc = {}, {}, None
        sh("ip", "netns", "add", self.br)
        try:
            sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.br, "link", "set", "br0", "up")
            for k, name in enumerate(names):
                self.add(name, "10.%d.%d.%d" % (x, y, k + 1), k)
        except Exception:
            self.close()
            raise

    def add(self, name, ip, k):
        ns = "%s-%d" % (self.prefix, k)
        veth = "v%s%d" % (self.prefix[4:], k)
        sh("ip", "netns", "add", ns)
        self.ns[name], self.ip[name] = ns, ip
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", self.br)
        sh("ip", "-n", self.br, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=ACCT, text=True,
                       check=True, capture_output=True)

    def shape(self, name, rate):
        """An uplink of rate bytes/s, as INTEROP.md describes (tbf)."""
        burst = max(rate // 100, 65536)
        sh("tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "%dbps" % rate,
           "burst", str(burst), "latency", "100ms", ns=self.ns[name])

    def add_loss(self, ppm):
        """Drops ppm per million frames crossing the bridge (each packet
        crosses it once)."""
        rules = ("table bridge loss {\n  chain drops {\n"
                 "    type filter hook forward priority 0;\n"
                 "    numgen random mod 1000000 < %d drop\n  }\n}\n" % ppm)
        subprocess.run(["ip", "netns", "exec", self.br, "nft", "-f", "-"], input=rules,
                       text=True, check=True, capture_output=True)

    def add_delay(self, prog, ms, names):
        """Every packet a node receives waits ms (prog: shoal-net-delay, on
        an NFQUEUE, as this kernel has no netem): a round trip takes
        2 * ms."""
        for n in names:
            sh("iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "eth0", "-j", "NFQUEUE",
               "--queue-num", "0", "--queue-bypass", ns=self.ns[n])
        self.delay_proc = subprocess.Popen([prog, str(ms), "0"] + [self.ns[n] for n in names])
        time.sleep(0.3)
        if self.delay_proc.poll() is not None:
            raise RuntimeError("shoal-net-delay exited")

    def reset_counters(self):
        for ns in self.ns.values():
            sh("nft", "flush", "set", "inet", "acct", "rx", ns=ns)
            sh("nft", "flush", "set", "inet", "acct", "syn", ns=ns)
            sh("nft", "flush", "set", "inet", "acct", "usyn", ns=ns)

    def counters(self, name, setname):
        """{source or destination address: bytes (rx) or packets (syn, usyn)}"""
        import json
        out = json.loads(sh("nft", "-j", "list", "set", "inet", "acct", setname,
                            ns=self.ns[name]))
        res = {}
        for item in out["nftables"]:
            for e in item.get("set", {}).get("elem", []):
                c = e["elem"]["counter"]
                res[e["elem"]["val"]] = c["bytes"] if setname == "rx" else c["packets"]
        return res

    def rtt_ms(self, a, b):
        out = sh("ping", "-U", "-c", "3", "-q", self.ip[b], ns=self.ns[a], check=False)
        for line in out.splitlines():
            if "min/avg" in line:
                return float(line.split("=")[1].split("/")[1])
        return None

    def close(self):
        if self.delay_proc:
            self.delay_proc.terminate()
            try:
                self.delay_proc.wait(5)
            except subprocess.TimeoutExpired:
                self.delay_proc.kill()
        for ns in list(self.ns.values()) + [self.br]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# ---------------------------------------------------------------- aria2


def aria2c_argv(torrent, out_dir, port, extra=()):
    """aria2c as a leecher that exits 0 once the download is complete."""
    return ["aria2c", "--dir=" + out_dir, "--seed-time=0", "--enable-dht=false",
            "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
            "--listen-port=%d" % port, "--file-allocation=none", "--summary-interval=0",
            "--console-log-level=notice", "--bt-stop-timeout=0", "--check-integrity=false"] + \
        list(extra) + [torrent]


# ---------------------------------------------------------------- shoal


class Shoal:
    """The shoal binary under test (first command-line argument of a test)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    def argv(self, *args):
        return [self.path] + [str(a) for a in args]

    def seed(self, procs, torrent, data_dir, port=None, peers=(), extra=(), name="shoal-seed",
             host="127.0.0.1"):
        """Starts `shoal seed` listening on port (a fresh one if None) and
        waits until it accepts connections on host. Returns (Proc, port)."""
        port = port or free_port()
        argv = self.argv("seed", torrent, data_dir, "--port", port, "-v")
        for p in peers:
            argv += ["--peer", "127.0.0.1:%d" % p]
        p = procs.start(name, argv + [str(x) for x in extra])
        wait_for(lambda: _listening_or_dead(p, port, host), 120,
                 "shoal seed to listen on %s:%d" % (host, port))
        return p, port

    def get(self, procs, torrent, out_dir, peers=(), seed_args=("--no-seed",), port=None,
            extra=(), name="shoal-get"):
        """Starts `shoal get` (does not wait). Returns (Proc, listen port)."""
        port = port or free_port()
        argv = self.argv("get", torrent, "-o", out_dir, "--port", port, "-v")
        for p in peers:
            argv += ["--peer", "127.0.0.1:%d" % p]
        return procs.start(name, argv + [str(x) for x in list(seed_args) + list(extra)]), port


def _listening_or_dead(proc, port, host="127.0.0.1"):
    if proc.poll() is not None:
        raise RuntimeError("%s exited with %d before listening" % (proc.name, proc.poll()))
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- a test run


class Run:
    """Collects the results of one test file's cases and prints the
    'N passed, N failed, N skipped' line CTest's log shows."""

    def __init__(self, title):
        self.title, self.passed, self.failed, self.skipped = title, 0, 0, []
        self.keep = os.environ.get("SHOAL_KEEP_SCRATCH") == "1"

    def skip(self, name, why):
        """A case this machine cannot run. The file then ends as skipped
        (unless another case failed), never as passed."""
        self.skipped.append("%s: %s" % (name, why))
        print("skip - %s: %s" % (name, why), flush=True)

    def case(self, name, fn, *args):
        """Runs fn(scratch, *args) in a fresh scratch directory; an exception
        or a returned string is a failure."""
        scratch = tempfile.mkdtemp(prefix="shoal-interop-")
        t0 = time.monotonic()
        procs = Procs(scratch)
        print("== %s" % name, flush=True)
        try:
            err = fn(scratch, procs, *args)
        except Exception as e:
            err = "%s: %s" % (type(e).__name__, e)
            traceback.print_exc()
        finally:
            procs.kill_all()
        dt = time.monotonic() - t0
        if err:
            self.failed += 1
            print("FAIL - %s (%.1fs): %s" % (name, dt, err), flush=True)
            for p in procs.items:
                out = p.output()
                print("  --- last lines of %s (%s)" % (p.name, " ".join(p.argv[:6])))
                for line in out.splitlines()[-25:]:
                    print("  | " + line)
        else:
            self.passed += 1
            print("ok - %s (%.1fs)" % (name, dt), flush=True)
        if self.keep:
            print("  scratch kept in %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    def finish(self):
        """Exits 1 when a case failed (or none ran at all), SKIP_CODE when
        one was skipped, else 0."""
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, len(self.skipped)),
              flush=True)
        if self.failed or not (self.passed or self.skipped):
            sys.exit(1)
        for why in self.skipped:
            print("SKIP: " + why, flush=True)
        sys.exit(SKIP_CODE if self.skipped else 0)


class Check:
    """Accumulates failed expectations inside one case."""

    def __init__(self):
        self.errors = []

    def __call__(self, cond, what):
        if not cond:
            self.errors.append(what)
            print("  not ok: " + what, flush=True)
        else:
            print("  ok: " + what, flush=True)
        return cond

    def result(self):
        return "; ".join(self.errors) if self.errors else None


def shoal_from_argv():
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH-TO-SHOAL" % sys.argv[0])
    return Shoal(sys.argv[1])

