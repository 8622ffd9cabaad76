/* libFuzzer target: the ut_pex (BEP 11) handler, through the engine (see
 * fuzz_ext.h for the input's layout): messages of any shape and size, at
 * any pace, to a seeding torrent and to one fetching its metadata. The
 * peer list must stay within its bound, whatever the messages; the codec
 * must read back what it writes, flags included (a short flags list
 * reads as 0 for the rest). */
#include "fuzz_ext.h"

#include "base/compact.h"
#include "ext/ut_pex.h"
#include "swarm/peers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sh_pex_msg m;
  const char *why;
  if (sh_pex_parse(data, size, &m, &why) == 0) {
    /* the added entries, written again and read back */
    size_t n = m.n_added + m.n_added6;
    struct sh_addr *a = calloc(n + 1, sizeof *a);
    uint8_t *f = calloc(n + 1, 1);
    for (size_t i = 0; i < m.n_added; i++) {
      sh_compact_get(&a[i], m.added + 6 * i, 6);
      f[i] = i < m.n_added_f ? m.added_f[i] : 0;
    }
    for (size_t i = 0; i < m.n_added6; i++) {
      sh_compact_get(&a[m.n_added + i], m.added6 + 18 * i, 18);
      f[m.n_added + i] = i < m.n_added6_f ? m.added6_f[i] : 0;
    }
    struct sh_buf b = SH_BUF_INIT;
    sh_pex_put(&b, a, f, n, NULL, 0);
    struct sh_pex_msg back;
    if (n && (sh_pex_parse(b.data, b.len, &back, &why) != 0 || back.n_added != m.n_added ||
              back.n_added6 != m.n_added6 ||
              /* a family with no entries has NULL lists: no memcmp (UB) */
              (m.n_added && (memcmp(back.added, m.added, 6 * m.n_added) ||
                             memcmp(back.added_f, f, m.n_added))) ||
              (m.n_added6 && (memcmp(back.added6, m.added6, 18 * m.n_added6) ||
                              memcmp(back.added6_f, f + m.n_added, m.n_added6)))))
      abort();
    sh_buf_free(&b);
    free(a);
    free(f);
  }
  fx_run(data, size, 2);
  for (int k = 0; k < 2; k++)
    if (sh_torrent_by_id(fx_sess, fx_id[k])->plist.n > SH_PEERS_MAX)
      abort();
  return 0;
}
