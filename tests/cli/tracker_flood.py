#!/usr/bin/env python3
"""Floods a running tracker with POST bodies and checks what it costs.

  tracker_flood.py PID PORT KIND CONNS MAX_MB

KIND: `upload` (raw POST /upload without a token), `announce` (POST
/announce), `form` (a multipart upload: its token is inside the body, so
the tracker must read it). Each of CONNS connections announces a 4 MiB body
and sends all of it but the last byte, as fast as the tracker takes it,
then holds the connection open. Meanwhile a plain announce is sent every
50 ms on a new connection, as a client would. After the bodies are sent
(or refused), the connections are held 3 s more, then closed.

Prints the tracker's peak resident memory (VmHWM) and the announces'
figures, and exits 1 when the peak passes MAX_MB, an announce was not
answered, or one took over a second."""
import os
import selectors
import socket
import sys
import time

pid, port, kind, conns, max_mb = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                  int(sys.argv[4]), float(sys.argv[5]))
BODY = 4 << 20
BOUNDARY = "xYzBoUnDaRy"


def head():
    if kind == "upload":
        return ("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-bittorrent\r\n"
                "Content-Length: %d\r\n\r\n" % BODY).encode()
    if kind == "announce":
        return ("POST /announce HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % BODY).encode()
    return ("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
            "Content-Length: %d\r\n\r\n--%s\r\nContent-Disposition: form-data; name=\"torrent\"; "
            "filename=\"x.torrent\"\r\n\r\n" % (BOUNDARY, BODY, BOUNDARY)).encode()


def hwm_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def announce(i):
    """One announce on a new connection; its latency in seconds, or None."""
    q = ("/announce?info_hash=%s&peer_id=-SH0001-%012d&port=%d&left=0&compact=1"
         % ("%41" * 20, i, 10000 + i % 50000))
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % q).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
    except OSError:
        return None
    if b" 200 OK" not in data or b"8:interval" not in data:
        return None
    return time.monotonic() - t0


sel = selectors.DefaultSelector()
h = head()
left = {}
for i in range(conns):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    left[s] = [h, BODY - (len(h) - h.index(b"\r\n\r\n") - 4) - 1]  # all but the last byte
    sel.register(s, selectors.EVENT_WRITE)
chunk = b"x" * 65536
lat, failed, n = [], 0, 0
next_ann = time.monotonic()
deadline = time.monotonic() + 30
while left and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.05):
        s = key.fileobj
        pending, rest = left[s]
        try:
            if pending:
                k = s.send(pending)
                left[s][0] = pending[k:]
            elif rest > 0:
                k = s.send(chunk[:min(rest, len(chunk))])
                left[s][1] = rest - k
            if not left[s][0] and left[s][1] <= 0:
                sel.unregister(s)
                del left[s]  # sent all but the last byte: hold it open
                held = s
                globals().setdefault("holding", []).append(held)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # refused and closed by the tracker: fine
            sel.unregister(s)
            del left[s]
            s.close()
    if time.monotonic() >= next_ann:
        r = announce(n)
        n += 1
        next_ann = time.monotonic() + 0.05
        if r is None:
            failed += 1
        else:
            lat.append(r)
end = time.monotonic() + 3
while time.monotonic() < end:
    r = announce(n)
    n += 1
    if r is None:
        failed += 1
    else:
        lat.append(r)
    time.sleep(0.05)
peak = hwm_kb() / 1024.0
for s in list(left) + globals().get("holding", []):
    s.close()
worst = max(lat) if lat else 0
print("%s x%d: tracker peak RSS %.1f MB (limit %.0f); %d announces answered, %d failed, "
      "slowest %.3f s; %d connections still sending at the end"
      % (kind, conns, peak, max_mb, len(lat), failed, worst, len(left)))
sys.exit(0 if peak <= max_mb and failed == 0 and lat and worst < 1.0 else 1)
