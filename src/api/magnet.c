/* struct shoal_magnet: a view whose pointers lead into the parsed struct
 * sh_magnet it owns (meta/magnet.c), and the public magnet helpers. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/info.h"
#include "base/error.h"
#include "meta/magnet.h"
#include "shoal.h"

struct magnet {
  struct shoal_magnet pub; /* first: a view's address is its struct's */
  struct sh_magnet *m;
};

_Static_assert(sizeof(struct shoal_file_range) == sizeof(struct sh_magnet_range) &&
                   offsetof(struct shoal_file_range, last) ==
                       offsetof(struct sh_magnet_range, last),
               "file ranges");

int shoal_magnet_parse(const char *uri, struct shoal_magnet **out, char *err, size_t errlen)
{
  *out = NULL;
  struct sh_magnet *m;
  int rc = sh_magnet_parse(uri, &m, err, errlen);
  if (rc < 0)
    return rc;
  struct magnet *v = calloc(1, sizeof *v);
  if (!v) {
    sh_magnet_free(m);
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  }
  v->m = m;
  struct shoal_magnet *p = &v->pub;
  memcpy(p->info_hash, m->info_hash, 20);
  memcpy(p->info_hash_hex, m->info_hash_hex, sizeof p->info_hash_hex);
  p->name = m->name;
  p->trackers = (const char *const *)m->trackers;
  p->num_trackers = m->num_trackers;
  p->web_seeds = (const char *const *)m->web_seeds;
  p->num_web_seeds = m->num_web_seeds;
  p->peers = (const char *const *)m->peers;
  p->num_peers = m->num_peers;
  p->select = (const struct shoal_file_range *)m->select;
  p->num_select = m->num_select;
  p->has_v2 = m->has_v2;
  p->dropped = m->dropped;
  *out = p;
  return 0;
}

void shoal_magnet_free(struct shoal_magnet *pm)
{
  if (!pm)
    return;
  struct magnet *v = (struct magnet *)pm;
  sh_magnet_free(v->m);
  free(v);
}

void shoal_add_params_magnet(struct shoal_add_params *p, const struct shoal_magnet *m)
{
  p->info_hash = m->info_hash;
  p->name = m->name;
  p->trackers = m->trackers;
  p->num_trackers = m->num_trackers;
  p->web_seeds = m->web_seeds;
  p->num_web_seeds = m->num_web_seeds;
  p->peers = m->peers;
  p->num_peers = m->num_peers;
  p->select = m->select;
  p->num_select = m->num_select;
}

char *shoal_magnet_link(const struct shoal_torrent_info *ti)
{
  const struct sh_metainfo *m = sh_info_metainfo(ti);
  struct sh_buf b = SH_BUF_INIT;
  sh_magnet_format(&b, m->info_hash, m->name, m->tiers, m->num_tiers, m->web_seeds,
                   m->num_web_seeds);
  if (b.oom) {
    sh_buf_free(&b);
    return NULL;
  }
  return sh_buf_steal(&b, NULL);
}
