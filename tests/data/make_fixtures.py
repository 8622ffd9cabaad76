#!/usr/bin/env python3
"""Regenerates single.torrent and multi.torrent and prints their info-hashes,
computed here with hashlib independently of shoal's parser. Keys of the
multi-file outer dict are deliberately unsorted (real torrents do that)."""
import hashlib
import os


def be(x):
    if isinstance(x, int):
        return b'i%de' % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b'%d:' % len(x) + x
    if isinstance(x, list):
        return b'l' + b''.join(be(i) for i in x) + b'e'
    return b'd' + b''.join(be(k) + be(v) for k, v in x.items()) + b'e'


def hashes(blob, pl):
    return b''.join(hashlib.sha1(blob[i:i + pl]).digest() for i in range(0, len(blob), pl))


here = os.path.dirname(os.path.abspath(__file__))
data = bytes((i * 7 + 3) & 0xff for i in range(100000))
info = {'length': 100000, 'name': 'sample.bin', 'piece length': 32768, 'pieces': hashes(data, 32768)}
t = {'announce': 'http://127.0.0.1:6969/announce', 'comment': 'fixture', 'created by': 'hand',
     'creation date': 1700000000, 'info': info}
open(os.path.join(here, 'single.torrent'), 'wb').write(be(t))
print('single', hashlib.sha1(be(info)).hexdigest())

files = [{'length': 5000, 'path': ['a.txt']}, {'attr': 'p', 'length': 11384, 'path': ['.pad', '11384']},
         {'length': 20000, 'path': ['sub', 'b.bin']}, {'attr': 'x', 'length': 0, 'path': ['sub', 'empty']}]
blob = bytes((i * 13) & 0xff for i in range(5000)) + bytes(11384) + bytes((i * 5 + 1) & 0xff for i in range(20000))
info = {'files': files, 'name': 'multi', 'piece length': 16384, 'pieces': hashes(blob, 16384),
        'private': 1, 'source': 'SRC'}
t = {'info': info, 'announce': 'http://ignored/announce',
     'announce-list': [['http://t1a/ann', 'http://t1b/ann'], ['udp://t2/ann']],
     'url-list': ['http://ws1/', 'http://ws2/']}
open(os.path.join(here, 'multi.torrent'), 'wb').write(be(t))
print('multi', hashlib.sha1(be(info)).hexdigest())
