/* The peer list of one torrent (addresses we know from the tracker, the
 * DHT, `--peer`, incoming connections) and the session-wide ban list.
 *
 * Pure: no sockets and no clock of its own; the caller passes `now_ms`.
 * Both lists are flat arrays of fixed-size records, bounded so a tracker or
 * a hostile peer cannot make them grow without limit. Owned by the torrent
 * (sh_peers) or the session (sh_bans), which free them with the _free calls;
 * used from the loop thread only. */
#ifndef SHOAL_SWARM_PEERS_H
#define SHOAL_SWARM_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/addr.h" /* struct sh_addr, which lived here first */

/* A tracker hands out up to ~200 peers per announce; 2000 known addresses is
 * ten announces' worth and 2000 * 48 bytes = 96 KiB per torrent at most. */
#define SH_PEERS_MAX 2000
/* After a failed dial, wait 30 s, then 60, 120, ... up to 30 min; after 6
 * failures in a row the address is forgotten. */
#define SH_PEERS_RETRY_MS 30000u
/* Addresses the user gave by hand (`--peer`) are retried after 2 s, 4 s,
 * ... up to a minute, and never forgotten: a seed that is still checking
 * its data refuses us for a few seconds, and the user wants that peer. */
#define SH_PEERS_MANUAL_RETRY_MS 2000u
#define SH_PEERS_MANUAL_MAX_MS 60000u
#define SH_PEERS_MAX_FAILS 6
/* A peer that closes the connection right after our handshake, before its
 * own, three times in a row is taken to refuse us for good (a peer that
 * requires encryption does exactly that), though it is still retried. */
#define SH_PEERS_CLOSER_TIMES 3

/* Ban policy (per IP, for the life of the session): a peer is banned after 2
 * hash failures of pieces it sent alone (it certainly sent bad data), or 5
 * failures of pieces it shared with others (it probably did). Loopback is
 * the exception: one machine runs many peers there (tests, benchmarks), so
 * a loopback ban is keyed by address and listen port. */
#define SH_BAN_SOLE_STRIKES 2
#define SH_BAN_ANY_STRIKES 5
#define SH_BANS_MAX 4096

enum sh_peer_source { SH_SRC_MANUAL = 1, SH_SRC_TRACKER = 2, SH_SRC_INCOMING = 4, SH_SRC_DHT = 8 };
/* from other peers (BEP 11) and local service discovery (BEP 14) */
enum { SH_SRC_PEX = 16, SH_SRC_LSD = 32 };

enum sh_peer_entry_state { SH_PE_IDLE = 0, SH_PE_CONNECTING, SH_PE_CONNECTED };

/* What we know of a peer's uTP (BEP 29). */
enum sh_peer_utp { SH_PE_UTP_UNKNOWN = 0, SH_PE_UTP_YES, SH_PE_UTP_NO };
/* What encrypted dials (MSE/PE) taught us about a peer. */
#define SH_PE_PLAIN 1u /* it refused an encrypted handshake: dial it in plaintext */
#define SH_PE_TOLD 2u  /* the log has said why it cannot be reached */

struct sh_peer_entry {
  struct sh_addr addr;
  uint8_t source;      /* enum sh_peer_source bits */
  uint8_t state;       /* enum sh_peer_entry_state */
  uint8_t fails;       /* dial failures in a row */
  uint8_t seed;        /* it was a seed last time we spoke */
  uint8_t closed_early;/* closes right after our handshake, in a row */
  uint8_t utp;         /* enum sh_peer_utp: a uTP connection worked (or PEX
                          said so), or a uTP dial failed: then TCP only */
  uint8_t crypto;      /* SH_PE_PLAIN, SH_PE_TOLD */
  uint64_t next_try_ms;
};

struct sh_peers {
  struct sh_peer_entry *e;
  size_t n, cap;
};

void sh_peers_init(struct sh_peers *l);
void sh_peers_free(struct sh_peers *l);
/* Adds (or merges the source of) an address. Returns 1 when new, 0 when known,
 * SH_ELIMIT when the list is full. */
int sh_peers_add(struct sh_peers *l, const struct sh_addr *a, int source, uint64_t now_ms);
struct sh_peer_entry *sh_peers_find(struct sh_peers *l, const struct sh_addr *a);
/* The next idle address whose retry time has come, skipping seeds when
 * skip_seeds is set (a seed never dials a seed); marks it CONNECTING. NULL
 * when none is due. */
struct sh_peer_entry *sh_peers_next(struct sh_peers *l, uint64_t now_ms, int skip_seeds);
/* A dial failed or a connection closed. `failed` counts towards forgetting
 * the address (an established connection that later closed does not). */
void sh_peers_done(struct sh_peers *l, const struct sh_addr *a, int failed, uint64_t now_ms);
/* A dial failed in a way another way of dialling avoids (an encrypted
 * handshake refused: plaintext next): idle again and due at once, and
 * not counted as a failure. */
void sh_peers_retry_now(struct sh_peers *l, const struct sh_addr *a, uint64_t now_ms);
void sh_peers_remove(struct sh_peers *l, const struct sh_addr *a);
/* Records what a dial learnt of the address's uTP (no-op if unknown). */
void sh_peers_set_utp(struct sh_peers *l, const struct sh_addr *a, enum sh_peer_utp v);
size_t sh_peers_count_idle(const struct sh_peers *l, uint64_t now_ms);
/* A dial the peer closed right after our handshake, before sending its own
 * (a failure, as sh_peers_done counts it, and one more close in a row). A
 * handshake from it (the entry's state going CONNECTED) ends the row. */
void sh_peers_closed_early(struct sh_peers *l, const struct sh_addr *a, uint64_t now_ms);
/* 1 when there are known peers and every one of them closed on us
 * SH_PEERS_CLOSER_TIMES times in a row: nobody here talks to us as we are. */
int sh_peers_all_closers(const struct sh_peers *l);

struct sh_ban_entry {
  struct sh_addr addr; /* port ignored, except on loopback */
  uint8_t sole, any;   /* strikes */
  uint8_t banned;
};

struct sh_bans {
  struct sh_ban_entry *e;
  size_t n, cap;
  int num_banned;
};

void sh_bans_init(struct sh_bans *b);
void sh_bans_free(struct sh_bans *b);
/* One hash failure involving this IP; sole: it was the only sender. Returns 1
 * when this strike bans it, 0 otherwise. */
int sh_bans_strike(struct sh_bans *b, const struct sh_addr *a, int sole);
int sh_bans_is_banned(const struct sh_bans *b, const struct sh_addr *a);

#endif
