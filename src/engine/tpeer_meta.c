/* A peer of a torrent whose metadata is not known yet (a magnet link's):
 * what it says it has cannot be checked until we know the piece count, so
 * its bitfield and haves are held, within bounds a hostile peer cannot
 * push (the largest bitfield a torrent may have, SH_METAINFO_MAX_PIECES
 * bits), and checked and applied once the metadata arrives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"

static void held_clear(struct sh_peer *p)
{
  free(p->held_bf);
  free(p->held_have);
  p->held_bf = p->held_have = NULL;
  p->held_bf_len = p->held_have_len = 0;
  p->held_all = 0;
}

static int hold_have(struct sh_peer *p, uint32_t index, const char **why)
{
  if (index >= SH_METAINFO_MAX_PIECES) {
    *why = "have for a piece no torrent can have";
    return SH_EPROTO;
  }
  size_t need = index / 8 + 1;
  if (need > p->held_have_len) {
    /* grow by doubling, so a peer announcing pieces in order costs
     * O(log n) reallocations */
    size_t len = p->held_have_len ? p->held_have_len : 64;
    while (len < need)
      len *= 2;
    uint8_t *n = realloc(p->held_have, len);
    if (!n) {
      *why = "out of memory";
      return -ENOMEM;
    }
    memset(n + p->held_have_len, 0, len - p->held_have_len);
    p->held_have = n;
    p->held_have_len = len;
  }
  sh_bf_set(p->held_have, index);
  return 0;
}

int sh_tpeer_msg_early(struct sh_peer *p, const struct sh_msg *m, const char **why)
{
  switch (m->id) {
  case SH_MSG_BITFIELD: {
    if (m->data_len > SH_BF_BYTES(SH_METAINFO_MAX_PIECES)) {
      *why = "bitfield longer than any torrent's";
      return SH_EPROTO;
    }
    uint8_t *copy = malloc(m->data_len ? m->data_len : 1);
    if (!copy) {
      *why = "out of memory";
      return -ENOMEM;
    }
    memcpy(copy, m->data, m->data_len);
    held_clear(p); /* the newest one wins, as with metadata */
    p->held_bf = copy;
    p->held_bf_len = m->data_len;
    p->got_bitfield = 1;
    return 0;
  }
  case SH_MSG_HAVE:
    return hold_have(p, m->index, why);
  case SH_MSG_HAVE_ALL:
    held_clear(p);
    p->held_all = 1;
    p->got_bitfield = 1;
    return 0;
  case SH_MSG_HAVE_NONE:
    held_clear(p);
    p->got_bitfield = 1;
    return 0;
  case SH_MSG_REQUEST:
    /* we have nothing yet, and said so */
    sh_tpeer_send_reject(p, m->index, m->begin, m->length);
    return 0;
  case SH_MSG_PIECE:
    if (++p->unexpected > SH_PEER_MAX_UNEXPECTED) {
      *why = "sent more than 64 blocks we never asked for";
      return SH_EPROTO;
    }
    return 0;
  default:
    /* cancel, reject, allowed_fast, suggest name pieces we cannot check
     * yet and concern requests that cannot exist: nothing to do */
    return 0;
  }
}

/* Applies what was held; returns 0, or -1 with *why when it does not fit
 * the metadata. */
static int apply_held(struct sh_peer *p, const char **why)
{
  uint32_t n = p->tor->m->num_pieces;
  if (p->held_all) {
    p->have_all = 1;
    p->have_count = n;
    memset(p->bf, 0xff, SH_BF_BYTES(n));
    if (n & 7)
      p->bf[SH_BF_BYTES(n) - 1] &= (uint8_t)(0xff00 >> (n & 7));
    return 0;
  }
  if (p->held_bf) {
    if (p->held_bf_len != SH_BF_BYTES(n) || !sh_bf_spare_clear(p->held_bf, n)) {
      *why = "its bitfield does not fit the torrent's piece count";
      return -1;
    }
    memcpy(p->bf, p->held_bf, p->held_bf_len);
  }
  for (size_t i = 0; i < p->held_have_len * 8; i++) {
    if (!sh_bf_get(p->held_have, (uint32_t)i))
      continue;
    if (i >= n) {
      *why = "it announced a piece past the torrent's last";
      return -1;
    }
    sh_bf_set(p->bf, (uint32_t)i);
  }
  p->have_count = sh_bf_count(p->bf, n);
  p->have_all = p->have_count == n;
  return 0;
}

void sh_tpeer_metadata_known(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  uint32_t n = t->m->num_pieces;
  const char *why = NULL;
  if (!(p->bf = calloc(1, SH_BF_BYTES(n) + 1)))
    why = "out of memory";
  else if (apply_held(p, &why) == 0)
    sh_conn_set_max_frame(p->c, 1 + (uint32_t)SH_BF_BYTES(n));
  held_clear(p);
  if (why)
    sh_conn_close(p->c, why);
}
