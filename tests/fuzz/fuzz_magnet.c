/* libFuzzer target: magnet links (meta/magnet.c) and their public view.
 *
 * Input: the link's text (cut at its first NUL). Whatever parses must hold
 * only NUL-free strings within the documented bounds, its hex must be its
 * hash, and the link formatted again from what was parsed must parse back
 * to the same info-hash, name and trackers; the public view must show the
 * same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sha1.h"
#include "meta/magnet.h"
#include "shoal.h"

#define CHECK(c) \
  do {           \
    if (!(c))    \
      abort();   \
  } while (0)

static void check_strs(char *const *v, size_t n, size_t max)
{
  CHECK(n <= max);
  for (size_t i = 0; i < n; i++)
    CHECK(v[i] && v[i][0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *uri = malloc(size + 1);
  memcpy(uri, data, size);
  uri[size] = 0;
  struct sh_magnet *m;
  char err[256];
  int rc = sh_magnet_parse(uri, &m, err, sizeof err);
  struct shoal_magnet *pub;
  int prc = shoal_magnet_parse(uri, &pub, err, sizeof err);
  CHECK((rc == 0) == (prc == 0));
  if (rc < 0) {
    CHECK(!m && !pub && memchr(err, 0, sizeof err));
    free(uri);
    return 0;
  }
  char hex[41];
  sh_hex(m->info_hash, 20, hex);
  CHECK(!strcmp(hex, m->info_hash_hex));
  CHECK(!memcmp(pub->info_hash, m->info_hash, 20) && pub->num_trackers == m->num_trackers &&
        pub->num_peers == m->num_peers && pub->num_select == m->num_select);
  check_strs(m->trackers, m->num_trackers, SH_MAGNET_MAX_URLS);
  check_strs(m->web_seeds, m->num_web_seeds, SH_MAGNET_MAX_URLS);
  check_strs(m->peers, m->num_peers, SH_MAGNET_MAX_PEERS);
  CHECK(m->num_select <= SH_MAGNET_MAX_RANGES);
  for (size_t i = 0; i < m->num_select; i++)
    CHECK(m->select[i].first <= m->select[i].last && m->select[i].last <= SH_MAGNET_MAX_INDEX);
  CHECK(!m->name || strlen(m->name) <= 255);
  /* out and back in */
  struct sh_tier *tiers = calloc(m->num_trackers + 1, sizeof *tiers);
  for (size_t i = 0; i < m->num_trackers; i++)
    tiers[i] = (struct sh_tier){&m->trackers[i], 1};
  struct sh_buf b = SH_BUF_INIT;
  sh_magnet_format(&b, m->info_hash, m->name, tiers, m->num_trackers, m->web_seeds,
                   m->num_web_seeds);
  sh_buf_putc(&b, 0);
  /* escaping may grow it past the limit on links: only a link that fits */
  struct sh_magnet *again;
  if (b.len <= SH_MAGNET_MAX_LEN) {
    CHECK(sh_magnet_parse((const char *)b.data, &again, err, sizeof err) == 0);
    CHECK(!memcmp(again->info_hash, m->info_hash, 20));
    CHECK((!again->name && !m->name) ||
          (again->name && m->name && !strcmp(again->name, m->name)));
    CHECK(again->num_trackers == m->num_trackers);
    for (size_t i = 0; i < m->num_trackers; i++)
      CHECK(!strcmp(again->trackers[i], m->trackers[i]));
    sh_magnet_free(again);
  }
  sh_buf_free(&b);
  free(tiers);
  sh_magnet_free(m);
  shoal_magnet_free(pub);
  free(uri);
  return 0;
}
