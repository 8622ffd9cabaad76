#!/usr/bin/env python3
"""Makes .torrent files for the command-line tests, including hostile ones
that `shoal create` would never write.

  mktorrent.py OUT.torrent DATA [--name N] [--tracker URL]... [--pad]
                                [--v2-only] [--hybrid] [--junk N]

DATA is a file (a single-file torrent) or a folder (multi-file, files in
sorted order). --name overrides the name (any bytes: Python escapes like
\\x1b are decoded). --pad adds BEP 47 padding files after every file but
the last, up to the 16 KiB piece boundary. --hybrid marks it a BEP 52
hybrid (meta version 2, a file tree and piece layers of the right shape;
the v2 hashes are not checked by shoal, which downloads through v1).
--v2-only writes a v2-only torrent (no `pieces`). --junk N adds an unknown
key holding N small integers."""
import hashlib
import os
import sys

PL = 16384


class Raw(bytes):
    """Bytes that are bencode already."""


def be(v):
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(be(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(be(k) + be(x) for k, x in items) + b"e"
    raise TypeError(v)


def main():
    args = sys.argv[1:]
    out, data = args[0], args[1]
    name, trackers, pad, v2only, hybrid, junk = None, [], False, False, False, 0
    i = 2
    while i < len(args):
        a = args[i]
        if a == "--name":
            name = args[i + 1].encode().decode("unicode_escape").encode("latin-1")
            i += 2
        elif a == "--tracker":
            trackers.append(args[i + 1])
            i += 2
        elif a == "--junk":
            junk = int(args[i + 1])
            i += 2
        else:
            pad |= a == "--pad"
            v2only |= a == "--v2-only"
            hybrid |= a == "--hybrid"
            i += 1
    if name is None:
        name = os.path.basename(os.path.normpath(data)).encode()
    info = {"name": name, "piece length": PL}
    if os.path.isdir(data):
        files, blob = [], b""
        rels = sorted(os.path.relpath(os.path.join(d, f), data)
                      for d, _, fs in os.walk(data) for f in fs)
        for k, rel in enumerate(rels):
            with open(os.path.join(data, rel), "rb") as f:
                b = f.read()
            files.append({"length": len(b), "path": rel.split(os.sep)})
            blob += b
            if pad and k + 1 < len(rels) and len(blob) % PL:
                n = PL - len(blob) % PL
                files.append({"attr": "p", "length": n, "path": [".pad", str(n)]})
                blob += b"\0" * n
        info["files"] = files
    else:
        with open(data, "rb") as f:
            blob = f.read()
        info["length"] = len(blob)
    pieces = b"".join(hashlib.sha1(blob[i:i + PL]).digest() for i in range(0, len(blob), PL))
    top = {}
    if not v2only:
        info["pieces"] = pieces
    if v2only or hybrid:
        info["meta version"] = 2
        tree = {}
        for f in info.get("files", [{"length": len(blob), "path": [name]}]):
            if f.get("attr") == "p":
                continue
            node = tree
            for p in f["path"]:
                node = node.setdefault(p, {})
            node[""] = {"length": f["length"], "pieces root": b"\0" * 32}
        info["file tree"] = tree
        top["piece layers"] = {}
    if trackers:
        top["announce"] = trackers[0]
        top["announce-list"] = [[t] for t in trackers]
    if junk:
        top["x-junk"] = Raw(b"l" + b"i1e" * junk + b"e")
    top["info"] = info
    with open(out, "wb") as f:
        f.write(be(top))


main()
