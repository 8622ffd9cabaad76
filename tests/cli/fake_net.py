#!/usr/bin/env python3
"""Small misbehaving network programs for the command-line tests, on
127.0.0.1 only. Prints the port it listens on as the first line of stdout,
then serves until killed.

  fake_net.py closer        TCP: reads a BitTorrent handshake and hangs up
                            without answering (as a peer that requires
                            encryption does); counts on stderr
  fake_net.py udp-silent    UDP: reads everything, answers nothing
  fake_net.py http-fail TEXT  HTTP: every request gets a bencoded
                            `failure reason` TEXT (Python escapes decoded)
"""
import socket
import sys

kind = sys.argv[1]
if kind == "udp-silent":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    while True:
        s.recvfrom(65536)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
if kind == "http-fail":
    text = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
    body = b"d14:failure reason%d:%se" % (len(text), text)
n = 0
while True:
    c, _ = srv.accept()
    c.settimeout(5)
    try:
        if kind == "closer":
            got = b""
            while len(got) < 68:
                b = c.recv(68 - len(got))
                if not b:
                    break
                got += b
            n += 1
            print("closed %d" % n, file=sys.stderr, flush=True)
        else:
            req = b""
            while b"\r\n\r\n" not in req:
                b = c.recv(4096)
                if not b:
                    break
                req += b
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (len(body), body))
    except OSError:
        pass
    c.close()
