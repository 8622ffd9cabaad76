/* Super-seeding (BEP 16) for a seeding torrent added with super_seed: it
 * tells each peer it has nothing, then reveals pieces one by one
 * (swarm/superseed.h chooses which), so a seed with a thin uplink sends
 * each piece about once and every leecher gets something of its own to
 * pass on. The peer's own messages drive it: its bitfield or first HAVE
 * of a revealed piece brings the next one. */
#include <stdlib.h>

#include "base/bitfield.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"
#include "swarm/superseed.h"

int sh_superseed_on(const struct shoal_torrent *t)
{
  return t->super_seed && t->state == SHOAL_SEEDING && t->m && t->picker;
}

static uint32_t avail(const void *ud, uint32_t piece)
{
  return sh_picker_availability(ud, piece);
}

/* Reveals the next piece in p's slot k (a HAVE), or leaves it empty. */
static void reveal(struct sh_peer *p, int k)
{
  struct shoal_torrent *t = p->tor;
  uint32_t n = t->m->num_pieces;
  if (!t->ss_revealed && !(t->ss_revealed = calloc(n, sizeof *t->ss_revealed)))
    return;
  if (!t->ss_rng)
    t->ss_rng = sh_session_rand(t->sess) | 1;
  int64_t skip[SH_SUPERSEED_SLOTS];
  for (int i = 0; i < SH_SUPERSEED_SLOTS; i++)
    skip[i] = p->ss[i];
  int64_t piece = sh_superseed_pick(avail, t->picker, t->ss_revealed, n, p->bf, skip,
                                    SH_SUPERSEED_SLOTS, &t->ss_rng);
  p->ss[k] = piece;
  if (piece < 0)
    return;
  t->ss_revealed[piece]++;
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (b)
    sh_wire_put_have(b, (uint32_t)piece);
}

void sh_superseed_update(struct sh_peer *p)
{
  if (!sh_superseed_on(p->tor) || !p->bf || p->closing)
    return;
  for (int k = 0; k < SH_SUPERSEED_SLOTS; k++)
    if (p->ss[k] < 0 || sh_bf_get(p->bf, (uint32_t)p->ss[k]))
      reveal(p, k);
}

void sh_superseed_gone(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  for (int k = 0; k < SH_SUPERSEED_SLOTS; k++) {
    int64_t i = p->ss[k];
    /* shown but never fetched: it may be shown to someone else */
    if (i >= 0 && t->ss_revealed && t->ss_revealed[i] && !(p->bf && sh_bf_get(p->bf, (uint32_t)i)))
      t->ss_revealed[i]--;
    p->ss[k] = -1;
  }
}
