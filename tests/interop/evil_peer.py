#!/usr/bin/env python3
"""A hostile BitTorrent peer for interop tests: it speaks the real peer wire
protocol (BEP 3) correctly, claims to have every piece, unchokes everyone
at once, and answers every request with a block of the right length but
the wrong bytes. A correct client must notice the hash failures, blame this
peer, ban it, and still finish from honest peers.

Usage: evil_peer.py TORRENT [--port P]
Prints "listening PORT" once it accepts connections, then one line per
event (connect, requests served, disconnect). Runs until killed.

Importable too: EvilPeer(torrent_path).start() -> port.
"""

import argparse
import hashlib
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmlib  # noqa: E402

PSTR = b"\x13BitTorrent protocol"
# BEP 3 message ids
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)
MAX_MSG = 1 << 20  # a request is 13 bytes; anything over 1 MiB is hostile in return


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


class EvilPeer:
    def __init__(self, torrent, port=0, log=print):
        info, self.info_hash, self.total = swarmlib.torrent_info(torrent)
        self.piece_len = info[b"piece length"]
        self.num_pieces = len(info[b"pieces"]) // 20
        self.peer_id = b"-EV0001-" + os.urandom(6).hex().encode()
        self.log = log
        self.lock = threading.Lock()
        self.connections = 0
        self.blocks_sent = 0
        self.closed_by_peer = 0
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]

    def bitfield(self):
        """All pieces set; spare bits at the end zero, as BEP 3 requires."""
        nbytes = (self.num_pieces + 7) // 8
        bits = bytearray(b"\xff" * nbytes)
        spare = nbytes * 8 - self.num_pieces
        if spare:
            bits[-1] = (0xff << spare) & 0xff
        return bytes(bits)

    def start(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()
        return self.port

    def accept_loop(self):
        while True:
            try:
                c, addr = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c, addr), daemon=True).start()

    def serve(self, c, addr):
        with self.lock:
            self.connections += 1
        self.log("connect %s:%d" % addr)
        served = 0
        try:
            hs = recv_exact(c, 68)
            if hs[:20] != PSTR or hs[28:48] != self.info_hash:
                self.log("bad handshake from %s:%d" % addr)
                return
            # reserved bytes all zero: no extensions, nothing but BEP 3
            c.sendall(PSTR + b"\0" * 8 + self.info_hash + self.peer_id)
            bf = self.bitfield()
            c.sendall(struct.pack(">IB", 1 + len(bf), BITFIELD) + bf)
            c.sendall(struct.pack(">IB", 1, UNCHOKE))
            while True:
                (n,) = struct.unpack(">I", recv_exact(c, 4))
                if n == 0:
                    continue  # keepalive
                if n > MAX_MSG:
                    self.log("oversized message (%d bytes) from %s:%d" % (n, *addr))
                    return
                msg = recv_exact(c, n)
                if msg[0] == REQUEST and n == 13:
                    index, begin, length = struct.unpack(">III", msg[1:])
                    if length > 128 * 1024 or index >= self.num_pieces:
                        continue
                    # wrong bytes, but a deterministic pattern so a test can
                    # tell them from the real data if it ever has to
                    junk = hashlib.sha256(b"evil%d:%d" % (index, begin)).digest()
                    block = (junk * (length // 32 + 1))[:length]
                    c.sendall(struct.pack(">IBII", 9 + length, PIECE, index, begin) + block)
                    served += 1
                    with self.lock:
                        self.blocks_sent += 1
                elif msg[0] == INTERESTED:
                    c.sendall(struct.pack(">IB", 1, UNCHOKE))
        except (ConnectionError, OSError) as e:
            with self.lock:
                self.closed_by_peer += 1
            self.log("disconnect %s:%d after %d bad blocks (%s)" % (addr[0], addr[1], served,
                                                                  e.__class__.__name__))
        finally:
            c.close()

    def close(self):
        self.srv.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("torrent")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    ev = EvilPeer(a.torrent, a.port, log=lambda s: print(s, flush=True))
    print("listening %d" % ev.port, flush=True)
    ev.accept_loop()


if __name__ == "__main__":
    main()
