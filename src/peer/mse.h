/* Message Stream Encryption as a transport that wraps another (TCP today,
 * uTP later): it runs the handshake (mse_hs.h) on the inner transport, then
 * encrypts what its owner writes and decrypts what it reads.
 *
 * Reading after the handshake costs no copy: the inner transport reads
 * straight into the owner's buffer and the bytes are decrypted there.
 * Writing costs one: RC4 cannot run in place on memory the owner only
 * lends (a block in the read cache is shared by every peer it goes to), so
 * writev encrypts into a buffer of its own (up to SH_MSE_OUT_CAP bytes at a
 * time) and writes that; what the inner transport does not take yet waits
 * there and writev reports all of it taken. With RC4 there is no sendfile:
 * uploads go through memory (docs/ARCHITECTURE.md measures the cost). With
 * plaintext selected (header-only), bytes pass through untouched after the
 * handshake, sendfile included.
 *
 * During the handshake the owner may already write: an outgoing
 * connection's BitTorrent handshake becomes IA (sent inside step 3, saving
 * a round trip); later bytes wait until the method is known. Nothing is
 * delivered to the owner before the handshake is done; a failure reaches
 * it as an error read (SH_EPROTO, with sh_mse_why saying what went wrong).
 *
 * Ownership: sh_mse_dial and sh_mse_accept take the inner transport over
 * (its callbacks become this module's) when they succeed, and leave it to
 * the caller when they fail. Closing this transport closes the inner one;
 * on_closed comes once both are gone. */
#ifndef SHOAL_PEER_MSE_H
#define SHOAL_PEER_MSE_H

#include <stdint.h>
#include <uv.h>

#include "peer/mse_hs.h"
#include "peer/transport.h"

/* What a session does about encryption (shoal_settings.encryption). */
enum sh_mse_policy {
  SH_MSE_PREFER = 0, /* dial encrypted, offering RC4 and header-only; fall back to
                        plaintext once if the peer refuses; accept everything */
  SH_MSE_REQUIRE,    /* RC4 only, both ways */
  SH_MSE_OFF,        /* plaintext only; refuse encrypted handshakes */
};

/* Bytes encrypted per writev: eight 16 KiB blocks and their headers. */
#define SH_MSE_OUT_CAP (128u * 1024)
/* Bytes the owner may write during the handshake beyond IA. */
#define SH_MSE_HOLD_MAX (64u * 1024)

struct sh_mse_opts {
  uv_loop_t *loop;
  enum sh_mse_policy policy; /* SH_MSE_PREFER or SH_MSE_REQUIRE */
  /* accept: the info-hash of a torrent by HASH('req2', info-hash); 0 or -1 */
  int (*find_skey)(void *ud, const uint8_t req2[20], uint8_t skey[20]);
  void *ud;
};

/* Wraps an outgoing transport for info_hash. connected: the inner
 * transport is connected already (the handshake starts now), else its
 * on_connect starts it and is passed on. The wrapper's cb and ud are the
 * inner's. Returns 0 or -ENOMEM. */
int sh_mse_dial(struct sh_transport *inner, int connected, const uint8_t info_hash[20],
                const struct sh_mse_opts *o, struct sh_transport **out);
/* Wraps an incoming transport that is reading and whose first n bytes
 * (first) were not a plaintext handshake; cb and ud as the inner's.
 * Returns 0, -ENOMEM, or SH_EPROTO with *why when those bytes already
 * break the handshake. */
int sh_mse_accept(struct sh_transport *inner, const uint8_t *first, size_t n,
                  const struct sh_mse_opts *o, struct sh_transport **out, const char **why);

/* SH_MSE_RC4 or SH_MSE_PLAIN once the handshake is done, else 0. */
uint32_t sh_mse_method(const struct sh_transport *t);
/* The torrent the handshake was for (after it is done). */
const uint8_t *sh_mse_info_hash(const struct sh_transport *t);
/* Why the handshake failed (a static sentence), or NULL. */
const char *sh_mse_why(const struct sh_transport *t);

#endif
