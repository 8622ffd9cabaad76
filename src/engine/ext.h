/* The BEP 10 extension registry: each extension (ut_metadata, ut_pex, ...)
 * is a module that registers itself with the session once, naming itself
 * and giving its handlers. The registry assigns it our local id (the one
 * we advertise in `m`, so peers send its messages under it), learns each
 * peer's id for it from the peer's handshake, and routes messages both
 * ways. An extension keeps its own per-peer and per-torrent state in the
 * slot each peer and torrent has for it (sh_ext_peer_slot,
 * sh_ext_torrent_slot), and gets a tick per torrent.
 *
 * Ownership: the session embeds the registry; definitions are copied, and
 * ud is the extension's own, untouched by the registry until on_free. What
 * an extension puts in a slot is its own: it frees a peer's in
 * on_peer_gone and a torrent's in on_torrent_gone. */
#ifndef SHOAL_ENGINE_EXT_H
#define SHOAL_ENGINE_EXT_H

#include <stddef.h>
#include <stdint.h>

#include "peer/wire.h"

struct sh_peer;
struct shoal_session;
struct shoal_torrent;
struct shoal_status;

struct sh_ext_def {
  const char *name;  /* as in `m`: "ut_metadata"; static storage */
  /* Optional: add keys of its own to our handshake (metadata_size). */
  void (*fill_handshake)(void *ud, struct sh_peer *p, struct sh_ext_handshake *eh);
  /* Optional: the peer's handshake arrived; sh_ext_peer_supports says
   * whether it speaks this extension. */
  void (*on_handshake)(void *ud, struct sh_peer *p, const struct sh_ext_handshake *eh);
  /* A message for this extension (the payload after the id byte). 0, or a
   * negative code with *why to hang up. */
  int (*on_message)(void *ud, struct sh_peer *p, const uint8_t *data, size_t len,
                    const char **why);
  /* Optional: the peer's connection is closing; drop its state. */
  void (*on_peer_gone)(void *ud, struct sh_peer *p);
  /* Optional: once a session tick (about 1 s) for each torrent that is
   * fetching its metadata, downloading or seeding. */
  void (*on_tick)(void *ud, struct shoal_torrent *t, uint64_t now_ms);
  /* Optional: the torrent is being freed; drop its state. */
  void (*on_torrent_gone)(void *ud, struct shoal_torrent *t);
  /* Optional: add what the extension knows to the torrent's status. */
  void (*on_status)(void *ud, const struct shoal_torrent *t, struct shoal_status *st);
  /* Optional: the session is being freed, after every torrent; free ud. */
  void (*on_free)(void *ud);
  void *ud;
};

struct sh_ext_registry {
  struct sh_ext_def ext[SH_EXT_MAX];
  int n;
};

/* Registers d; returns its local id (1..SH_EXT_MAX), or -1 when the table
 * is full or the name is taken. Register before peers connect: peers
 * already connected do not learn of it. */
int sh_ext_register(struct shoal_session *s, const struct sh_ext_def *d);
/* Does p speak extension `id` (a local id)? */
int sh_ext_peer_supports(const struct sh_peer *p, int id);
/* Sends a message of extension `id` to p. -ENOTSUP when p does not speak
 * it, -ECONNRESET when p is closing. */
int sh_ext_send(struct sh_peer *p, int id, const void *payload, size_t len);
/* Extension `id`'s state for a peer or a torrent: a slot, NULL at first. */
void **sh_ext_peer_slot(struct sh_peer *p, int id);
void **sh_ext_torrent_slot(struct shoal_torrent *t, int id);

/* For the peer code (tpeer.c, peer.c). */
void sh_ext_fill_handshake(struct sh_peer *p, struct sh_ext_handshake *eh);
void sh_ext_on_handshake(struct sh_peer *p, const struct sh_ext_handshake *eh);
/* A message with ext_id (our local id) != 0: to its extension, or ignored
 * when we advertised no such id (BEP 10: not an error). */
int sh_ext_dispatch(struct sh_peer *p, uint8_t ext_id, const uint8_t *data, size_t len,
                    const char **why);
void sh_ext_peer_gone(struct sh_peer *p);
/* For the torrent and the session: the hooks above, for every extension. */
void sh_ext_tick(struct shoal_torrent *t, uint64_t now_ms);
void sh_ext_torrent_gone(struct shoal_torrent *t);
void sh_ext_status(const struct shoal_torrent *t, struct shoal_status *st);
void sh_ext_free(struct shoal_session *s);

#endif
