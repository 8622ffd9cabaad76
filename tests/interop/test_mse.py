#!/usr/bin/env python3
"""Encrypted connections (MSE/PE) between shoal and real clients over
loopback; every download must be byte-identical.

  * libtorrent forcing RC4 both ways (out_enc_policy and in_enc_policy
    pe_forced, allowed_enc_level rc4): shoal leeching from it (shoal
    dials), it leeching from shoal (it dials), and shoal seeding with
    --encryption require dialling it;
  * Transmission 3.00 with encryption required (`encryption: 2`), shoal
    leeching and seeding (shoal dials: Transmission ignores loopback peers
    it is told about, see test_transmission.py);
  * aria2c --bt-require-crypto=true leeching from shoal (shoal dials);
  * settings that cannot meet: shoal --encryption off against libtorrent
    forcing encryption, and --encryption require against libtorrent with
    encryption disabled, each ending with the message that says why.

Encryption is checked, not assumed: shoal logs each encrypted connection
("encrypted (RC4)") and libtorrent's own peer list flags it. A case whose
client is missing is skipped (and so the file) with the reason.
Usage: test_mse.py PATH-TO-SHOAL"""

import os

from swarmlib import (Check, LtPeer, Run, Transmission, aria2c_argv, fixture, free_port, missing,
                      same_tree, shoal_from_argv, wait_for, wait_listening)

SHOAL = shoal_from_argv()
TIMEOUT = 120
RC4_LOG = "encrypted (RC4)"


def lt_forced(rc4=True):
    """libtorrent settings: encryption forced both ways, RC4 only (or
    encryption disabled both ways with rc4=False)."""
    import libtorrent as lt
    if not rc4:
        return {"out_enc_policy": int(lt.enc_policy.pe_disabled),
                "in_enc_policy": int(lt.enc_policy.pe_disabled)}
    return {"out_enc_policy": int(lt.enc_policy.pe_forced),
            "in_enc_policy": int(lt.enc_policy.pe_forced),
            "allowed_enc_level": int(lt.enc_level.rc4)}


def shoal_get_done(ok, get, content, dst):
    rc = get.wait(TIMEOUT)
    ok(rc == 0, "shoal get exits 0 (got %d)" % rc)
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    ok(RC4_LOG in get.output(), "shoal logged the connection as %r" % RC4_LOG)


# ---------------------------------------------------------------- libtorrent


def shoal_gets_from_lt_forced(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    seed = LtPeer(tor, src, seed=True, settings=lt_forced())
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[seed.port])
        ok = Check()
        shoal_get_done(ok, get, content, dst)
        return ok.result()
    finally:
        seed.close()


def lt_forced_gets_from_shoal(scratch, procs, kind, shoal_dials):
    src, content, tor, dst = fixture(scratch, kind)
    leech = LtPeer(tor, dst, settings=lt_forced())
    flags = []
    try:
        if shoal_dials:
            seed, _ = SHOAL.seed(procs, tor, src, peers=[leech.port],
                                 extra=["--encryption", "require"])
        else:
            seed, port = SHOAL.seed(procs, tor, src)
            leech.connect(port)

        def done():
            flags.extend(leech.peer_flags())
            return leech.done()
        # polled often: on loopback the whole transfer takes a fraction of a second
        wait_for(done, TIMEOUT, "libtorrent to finish downloading from shoal seed", 0.005)
        ok = Check()
        diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
        ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
        pi = leech.lt.peer_info
        up = [f for f in flags if not f & (pi.handshake | pi.connecting)]
        ok(up and all(f & pi.rc4_encrypted for f in up),
           "libtorrent saw the connection as RC4 (flags %s)" % sorted(set(up)))
        ok(RC4_LOG in seed.output(), "shoal logged the connection as %r" % RC4_LOG)
        return ok.result()
    finally:
        leech.close()


def shoal_get_off_vs_lt_forced(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    seed = LtPeer(tor, src, seed=True, settings=lt_forced())
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[seed.port],
                           extra=["--encryption", "off", "--no-peer-timeout", "5"])
        rc = get.wait(TIMEOUT)
        ok = Check()
        out = get.output()
        ok(rc == 1, "shoal get fails (exit %d)" % rc)
        ok("may accept only encrypted connections, and encryption is off" in out,
           "says the peer may want encryption and it is off")
        ok(out.count("may accept only encrypted connections") == 1, "says it once")
        ok(seed.uploaded() == 0, "nothing was transferred")
        return ok.result()
    finally:
        seed.close()


def shoal_get_require_vs_lt_disabled(scratch, procs):
    src, content, tor, dst = fixture(scratch, "single")
    seed = LtPeer(tor, src, seed=True, settings=lt_forced(rc4=False))
    try:
        get, _ = SHOAL.get(procs, tor, dst, peers=[seed.port],
                           extra=["--encryption", "require", "--no-peer-timeout", "5"])
        rc = get.wait(TIMEOUT)
        ok = Check()
        ok(rc == 1, "shoal get fails (exit %d)" % rc)
        ok("encryption is required: not trying plaintext" in get.output(),
           "says encryption is required and the peer refused it")
        return ok.result()
    finally:
        seed.close()


# ---------------------------------------------------------------- transmission

TR_REQUIRED = {"encryption": 2}


def shoal_gets_from_transmission(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, src, settings=TR_REQUIRED)
    tr.add(tor)
    wait_for(tr.complete, TIMEOUT, "Transmission to verify its copy")
    get, _ = SHOAL.get(procs, tor, dst, peers=[tr.peer_port])
    ok = Check()
    shoal_get_done(ok, get, content, dst)
    return ok.result()


def transmission_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    tr = Transmission(procs, scratch, dst, settings=TR_REQUIRED)
    tr.add(tor)
    seed, _ = SHOAL.seed(procs, tor, src, peers=[tr.peer_port])
    wait_for(tr.complete, TIMEOUT, "Transmission to finish downloading from shoal seed")
    ok = Check()
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)),
                     allow_missing_empty=True)
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    ok(RC4_LOG in seed.output(), "shoal logged the connection as %r" % RC4_LOG)
    return ok.result()


# ---------------------------------------------------------------- aria2


def aria2_gets_from_shoal(scratch, procs, kind):
    src, content, tor, dst = fixture(scratch, kind)
    aport = free_port()
    aria = procs.start("aria2c", aria2c_argv(tor, dst, aport, [
        "--bt-require-crypto=true", "--bt-min-crypto-level=arc4"]))
    wait_listening(aport)
    seed, _ = SHOAL.seed(procs, tor, src, peers=[aport])
    rc = aria.wait(TIMEOUT)
    ok = Check()
    ok(rc == 0, "aria2c exits 0 (got %d)" % rc)
    diff = same_tree(content, os.path.join(dst, os.path.basename(content)))
    ok(diff is None, "downloaded bytes identical (%s)" % (diff or "same"))
    ok(RC4_LOG in seed.output(), "shoal logged the connection as %r" % RC4_LOG)
    return ok.result()


run = Run("mse")
no_lt = missing(modules=["libtorrent"])
no_tr = missing(programs=["transmission-daemon", "transmission-remote"])
no_aria = missing(programs=["aria2c"])


def case(why_not, name, fn, *args):
    if why_not:
        run.skip(name, why_not)
    else:
        run.case(name, fn, *args)


for kind in ("single", "multi"):
    case(no_lt, "shoal get <- libtorrent seed forcing RC4 (%s)" % kind,
         shoal_gets_from_lt_forced, kind)
    case(no_lt, "libtorrent forcing RC4 <- shoal seed, libtorrent dials (%s)" % kind,
         lt_forced_gets_from_shoal, kind, False)
case(no_lt, "libtorrent forcing RC4 <- shoal seed --encryption require, shoal dials",
     lt_forced_gets_from_shoal, "multi", True)
case(no_lt, "shoal get --encryption off vs libtorrent forcing encryption: fails, says why",
     shoal_get_off_vs_lt_forced)
case(no_lt, "shoal get --encryption require vs libtorrent without encryption: fails, says why",
     shoal_get_require_vs_lt_disabled)
for kind in ("single", "multi"):
    case(no_tr, "shoal get <- Transmission requiring encryption (%s)" % kind,
         shoal_gets_from_transmission, kind)
    case(no_tr, "Transmission requiring encryption <- shoal seed (%s)" % kind,
         transmission_gets_from_shoal, kind)
    case(no_aria, "aria2c --bt-require-crypto <- shoal seed (%s)" % kind,
         aria2_gets_from_shoal, kind)
run.finish()
