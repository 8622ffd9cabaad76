#!/usr/bin/env python3
"""Info-hash agreement: `shoal create` against mktorrent and libtorrent.

Single file, 1 MiB pieces: shoal, mktorrent (-l 20) and libtorrent
(create_torrent v1_only) must give the same info-hash.

Multi-file: shoal orders files by byte-wise sorted relative path, as mktorrent
does, so the two agree. libtorrent's add_files() keeps directory-iteration
order (unsorted), so its hash differs for the same tree; given the files in
shoal's order through file_storage.add_file() it agrees, and it adds no
padding files for a v1-only torrent. Both facts are asserted here so a change
in either tool shows up.

The other way round: torrents made by libtorrent (canonical_files, with BEP 47
padding files) and transmission-create read with the same info-hash and
verify against the same tree.

Usage: test_infohash.py PATH_TO_SHOAL"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from swarmlib import require

require(programs=["mktorrent", "transmission-create"], modules=["libtorrent"])
import libtorrent as lt  # noqa: E402 (after the check, so a missing module is a skip)

SHOAL = os.path.abspath(sys.argv[1])
TRACKER = 'http://127.0.0.1:6969/announce'
failures = 0


def check(cond, what):
    global failures
    print(('ok - ' if cond else 'FAIL - ') + what)
    if not cond:
        failures += 1


def run(*args, cwd):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=300).stdout


def shoal_hash(torrent, cwd):
    return json.loads(run(SHOAL, 'info', '--json', torrent, cwd=cwd))['info_hash']


def lt_create(fs, piece, parent):
    ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    ct.add_tracker(TRACKER)
    lt.set_piece_hashes(ct, parent)
    ti = lt.torrent_info(ct.generate())
    return str(ti.info_hashes().v1), ti


def write_random(path, n):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb') as f:
        f.write(os.urandom(n))


def main():
    tmp = tempfile.mkdtemp(prefix='shoal-infohash-')
    try:
        # --- single file: 5.5 MiB, so the last piece is short
        write_random(os.path.join(tmp, 'data.bin'), 5 * 1048576 + 524289)
        run(SHOAL, 'create', '--no-date', '-l', '1M', '-t', TRACKER, '-o', 's.torrent', 'data.bin', cwd=tmp)
        run('mktorrent', '-l', '20', '-a', TRACKER, '-o', 'mk.torrent', 'data.bin', cwd=tmp)
        fs = lt.file_storage()
        lt.add_files(fs, os.path.join(tmp, 'data.bin'))
        lt_hash, _ = lt_create(fs, 1048576, tmp)
        s, mk = shoal_hash('s.torrent', tmp), shoal_hash('mk.torrent', tmp)
        check(s == mk, f'single file: shoal {s} == mktorrent {mk}')
        check(s == lt_hash, f'single file: shoal {s} == libtorrent {lt_hash}')
        ti = lt.torrent_info(os.path.join(tmp, 's.torrent'))
        check(str(ti.info_hashes().v1) == s, 'libtorrent reads the shoal torrent with the same hash')
        check(ti.num_pieces() == 6 and ti.piece_length() == 1048576, 'libtorrent sees 6 pieces of 1 MiB')

        # private flag: mktorrent -p adds only `private` to the info dict
        run(SHOAL, 'create', '--no-date', '-p', '-l', '1M', '-t', TRACKER, '-o', 'sp.torrent', 'data.bin', cwd=tmp)
        run('mktorrent', '-p', '-l', '20', '-a', TRACKER, '-o', 'mkp.torrent', 'data.bin', cwd=tmp)
        s, mk = shoal_hash('sp.torrent', tmp), shoal_hash('mkp.torrent', tmp)
        check(s == mk, f'private single file: shoal {s} == mktorrent {mk}')

        # --- multi-file tree; 'a.txt' sorts before 'a/z' byte-wise ('.' < '/')
        tree = os.path.join(tmp, 'tree')
        sizes = {'.dot': 10, 'a.txt': 700000, 'a/z': 300001, 'b': 1500000, 'sub/c': 900000, 'sub/empty': 0}
        for rel, n in sizes.items():
            write_random(os.path.join(tree, rel), n)
        run(SHOAL, 'create', '--no-date', '-l', '256K', '-t', TRACKER, '-o', 'st.torrent', 'tree', cwd=tmp)
        run('mktorrent', '-l', '18', '-a', TRACKER, '-o', 'mkt.torrent', 'tree', cwd=tmp)
        s, mk = shoal_hash('st.torrent', tmp), shoal_hash('mkt.torrent', tmp)
        files = [f['path'] for f in json.loads(run(SHOAL, 'info', '--json', 'st.torrent', cwd=tmp))['files']]
        check(files == ['tree/' + r for r in sorted(sizes)], f'shoal file order {files}')
        check(s == mk, f'multi-file: shoal {s} == mktorrent {mk}')

        fs = lt.file_storage()
        for rel in sorted(sizes):
            fs.add_file('tree/' + rel, sizes[rel])
        lt_hash, ti = lt_create(fs, 262144, tmp)
        check(s == lt_hash, f'multi-file, files in shoal order: shoal {s} == libtorrent {lt_hash}')
        pads = [i for i in range(ti.num_files()) if ti.files().file_flags(i) & lt.file_storage.flag_pad_file]
        check(not pads, 'libtorrent adds no padding files to a v1-only torrent')
        fs = lt.file_storage()
        lt.add_files(fs, tree)
        order = [fs.file_path(i) for i in range(fs.num_files())]
        print(f'# libtorrent add_files order: {order}')
        if order != ['tree/' + r for r in sorted(sizes)]:
            lt_hash, _ = lt_create(fs, 262144, tmp)
            check(lt_hash != s, 'libtorrent add_files (directory order) differs, as expected')

        # --- the other way round: shoal reads and verifies what they made.
        # libtorrent with canonical_files adds BEP 47 padding files, which
        # shoal must hash as zeros without finding them on disk.
        fs = lt.file_storage()
        lt.add_files(fs, tree)
        ct = lt.create_torrent(fs, 262144, flags=lt.create_torrent.v1_only | lt.create_torrent.canonical_files)
        ct.add_tracker(TRACKER)
        lt.set_piece_hashes(ct, tmp)
        e = ct.generate()
        with open(os.path.join(tmp, 'ltpad.torrent'), 'wb') as f:
            f.write(lt.bencode(e))
        want = str(lt.torrent_info(e).info_hashes().v1)
        j = json.loads(run(SHOAL, 'info', '--json', 'ltpad.torrent', cwd=tmp))
        npad = sum(1 for f in j['files'] if f['padding'])
        check(j['info_hash'] == want, f'libtorrent padded torrent: shoal reads {j["info_hash"]} == {want}')
        check(npad > 0, f'shoal sees libtorrent\'s {npad} padding files')
        out = run(SHOAL, 'verify', 'ltpad.torrent', tmp, cwd=tmp)
        check('result:    OK' in out, 'shoal verify accepts the tree against the padded torrent')

        subprocess.run(['transmission-create', '-s', '256', '-t', TRACKER, '-o', 'tr.torrent', 'tree'], cwd=tmp,
                       check=True, capture_output=True, timeout=300)
        tr = shoal_hash('tr.torrent', tmp)
        want = str(lt.torrent_info(os.path.join(tmp, 'tr.torrent')).info_hashes().v1)
        check(tr == want, f'transmission-create torrent: shoal {tr} == libtorrent {want}')
        out = run(SHOAL, 'verify', 'tr.torrent', tmp, cwd=tmp)
        check('result:    OK' in out, 'shoal verify accepts the tree against the transmission torrent')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'{failures} failed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
