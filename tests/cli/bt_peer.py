#!/usr/bin/env python3
"""Plain BitTorrent peers (BEP 3, no encryption) against a local seed, for
the daemon's tests: how many connections a torrent keeps, and how fast it
uploads to one leecher.

    bt_peer.py conns PORT INFO_HASH N SECONDS
        opens N connections, each with its own peer id, and prints how
        many the seed still holds open after SECONDS
    bt_peer.py leech PORT INFO_HASH PIECE_LEN TOTAL SECONDS
        one leecher asking for every block in turn (again from the start
        when done), and prints the payload bytes per second it received
        over SECONDS, counted from one second after the first unchoke (a
        limiter's first burst left out)
"""
import os
import socket
import struct
import sys
import time

BLOCK = 16384
PIPELINE = 32  # requests in flight: enough to fill a loopback link


def handshake(port, ih):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x13BitTorrent protocol" + bytes(8) + ih + b"-PY0001-" + os.urandom(6).hex().encode())
    got = b""
    while len(got) < 68:
        chunk = s.recv(68 - len(got))
        if not chunk:
            break
        got += chunk
    return s


def still_open(s):
    s.setblocking(False)
    try:
        while True:
            if not s.recv(65536):
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def conns(port, ih, n, secs):
    socks = []
    for _ in range(n):
        try:
            socks.append(handshake(port, ih))
        except OSError:
            pass
    time.sleep(secs)
    print(sum(still_open(s) for s in socks))


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, bytearray()

    def message(self, deadline):
        """(id, payload) of the next message, None at the deadline."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    if n:
                        return body[0], body[1:]
                    continue  # keep-alive
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(1 << 18)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("the seed closed the connection")
            self.buf += chunk


def leech(port, ih, piece_len, total, secs):
    s = handshake(port, ih)
    s.sendall(struct.pack(">IB", 1, 2))  # interested
    blocks = []
    for off in range(0, total, BLOCK):
        piece, begin = divmod(off, piece_len)
        blocks.append((piece, begin, min(BLOCK, total - off, piece_len - begin)))
    r = Reader(s)
    nxt, inflight, got, start = 0, 0, 0, None
    end = time.monotonic() + secs + 30
    while True:
        m = r.message(end)
        if m is None:
            break
        mid, payload = m
        if mid == 1 and start is None:  # unchoke
            start = time.monotonic() + 1
            end = start + secs
        elif mid == 7:  # piece
            inflight -= 1
            if start is not None and time.monotonic() >= start:
                got += len(payload) - 8
        if start is not None:
            while inflight < PIPELINE:
                p, b, n = blocks[nxt]
                nxt = (nxt + 1) % len(blocks)
                s.sendall(struct.pack(">IBIII", 13, 6, p, b, n))
                inflight += 1
    print(int(got / secs) if start is not None else -1)


def main():
    cmd, port, ih = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
    if cmd == "conns":
        conns(port, ih, int(sys.argv[4]), float(sys.argv[5]))
    else:
        leech(port, ih, int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))


if __name__ == "__main__":
    main()
