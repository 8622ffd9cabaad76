/* ut_pex (BEP 11): peers tell each other whom they are connected to.
 *
 * Sending: once a minute per peer at most (the first message at its first
 * tick), the peers we are connected to whose listening address we know
 * (we dialled them, or they gave `p` in their extension handshake) that
 * this peer was not told of yet as `added`, and those it was told of that
 * are gone as `dropped`, at most SH_PEX_MAX_ENTRIES of each per message,
 * with flags (0x01 it connected encrypted, 0x02 seed, 0x04 it is connected
 * over uTP, 0x10 reachable: we dialled it).
 *
 * Receiving: what a message adds goes into the torrent's peer list
 * (source PEX; dialled within the torrent's connection limits), at most
 * SH_PEX_MAX_TAKE entries per message (twice that in a peer's first),
 * one per IP address (BEP 11: a victim's address under many ports is how
 * PEX would be turned into a denial of service; loopback excepted, where
 * one host runs many peers), nothing from a peer that writes again within
 * SH_PEX_MIN_GAP_MS. Past SH_PEX_MAX_IGNORED ignored messages the peer is
 * dropped. `dropped` is not used: the peer list forgets peers that fail.
 * The flags of what is taken feed the peer list, below what our own dials
 * saw: 0x04 marks an unknown uTP as working, 0x01 clears a plaintext-only
 * mark (the next dial tries MSE first), 0x02 marks a seed (which a seed of
 * ours does not dial).
 *
 * Private torrents (BEP 27) neither advertise nor use it.
 *
 * The codec (sh_pex_parse, sh_pex_put) is pure and fuzzed (fuzz_ut_pex
 * drives the whole handler through the engine). */
#ifndef SHOAL_EXT_UT_PEX_H
#define SHOAL_EXT_UT_PEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/buf.h"

struct shoal_session;

#define SH_PEX_INTERVAL_MS 60000u  /* BEP 11: no more than one message a minute */
#define SH_PEX_MIN_GAP_MS 20000u   /* closer ones from a peer are ignored */
#define SH_PEX_MAX_ENTRIES 50      /* BEP 11: added (and dropped) per message */
#define SH_PEX_MAX_TAKE 50         /* entries used from one message */
#define SH_PEX_MAX_IGNORED 10      /* ignored messages before we hang up */

enum { SH_PEX_F_CRYPTO = 0x01, SH_PEX_F_SEED = 0x02, SH_PEX_F_UTP = 0x04,
       SH_PEX_F_HOLEPUNCH = 0x08, SH_PEX_F_REACHABLE = 0x10 };

/* A decoded message: compact lists borrowed from the input, whole entries
 * only (a list whose length is not a multiple of its entry size is
 * refused). Flags are optional; a flags string shorter than its list
 * leaves the rest without flags. */
struct sh_pex_msg {
  const uint8_t *added, *added_f, *added6, *added6_f, *dropped, *dropped6;
  size_t n_added, n_added_f, n_added6, n_added6_f, n_dropped, n_dropped6; /* entries, flag bytes */
};

/* Returns 0, or SH_EPROTO with *why: not a bencoded dictionary, a list
 * that is not a string or not whole entries, none of the four lists. */
int sh_pex_parse(const uint8_t *p, size_t n, struct sh_pex_msg *m, const char **why);
/* Appends a message: added peers (IPv4 to added, IPv6 to added6, each
 * with its flags byte) and dropped ones. */
void sh_pex_put(struct sh_buf *b, const struct sh_addr *added, const uint8_t *flags, size_t nadded,
                const struct sh_addr *dropped, size_t ndropped);

/* Registers ut_pex with the session's extension registry. Returns its
 * local id, or -1. */
int sh_ut_pex_register(struct shoal_session *s);

#endif
