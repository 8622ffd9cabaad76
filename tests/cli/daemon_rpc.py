#!/usr/bin/env python3
"""Talks to a shoal daemon for tests/cli/test_daemon.sh and the interop
tests: Transmission's RPC with the session-id handshake, and raw requests
that check how the daemon refuses bad ones.

    daemon_rpc.py PORT call METHOD [JSON-ARGS]   prints the reply's JSON
    daemon_rpc.py PORT status [options]          prints the HTTP status
      --host H --auth USER:PW --body TEXT --no-sid --method GET
"""
import base64
import http.client
import json
import sys


def request(port, body, sid=None, host=None, auth=None, method="POST", path="/transmission/rpc"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json"}
    if sid:
        h["X-Transmission-Session-Id"] = sid
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    c.putrequest(method, path, skip_host=True)
    c.putheader("Host", host or "127.0.0.1:%d" % port)
    for k, v in h.items():
        c.putheader(k, v)
    data = body.encode() if isinstance(body, str) else body
    c.putheader("Content-Length", str(len(data)))
    c.endheaders()
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the whole body went: the answer is waiting
    r = c.getresponse()
    out = (r.status, dict(r.getheaders()), r.read())
    c.close()
    return out


def session_id(port, **kw):
    st, h, _ = request(port, "{}", **kw)
    return h.get("X-Transmission-Session-Id")


def call(port, method, args=None, **kw):
    sid = session_id(port, **kw)
    st, h, b = request(port, json.dumps({"method": method, "arguments": args or {}, "tag": 7}),
                       sid=sid, **kw)
    if st != 200:
        raise SystemExit("HTTP %d: %s" % (st, b[:200]))
    return json.loads(b)


def main():
    port = int(sys.argv[1])
    if sys.argv[2] == "call":
        args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
        print(json.dumps(call(port, sys.argv[3], args)))
        return
    opts = dict(host=None, auth=None, body='{"method":"session-get"}', sid=True, method="POST",
                path="/transmission/rpc")
    i = 3
    while i < len(sys.argv):
        a = sys.argv[i]
        if a == "--no-sid":
            opts["sid"] = False
            i += 1
            continue
        opts[a[2:]] = sys.argv[i + 1]
        i += 2
    body = opts["body"]
    if body.startswith("@"):
        body = open(body[1:], "rb").read()
    sid = session_id(port, host=opts["host"], auth=opts["auth"]) if opts["sid"] else None
    st, h, b = request(port, body, sid=sid, host=opts["host"], auth=opts["auth"],
                       method=opts["method"], path=opts["path"])
    print(st)
    sys.stderr.write(b[:300].decode(errors="replace") + "\n")


if __name__ == "__main__":
    main()
