/* Helpers for unit tests that build small .torrent files by hand. */
#ifndef SHOAL_TEST_TORRENT_UTIL_H
#define SHOAL_TEST_TORRENT_UTIL_H

#include <criterion/criterion.h>

#include "base/buf.h"
#include "meta/metainfo.h"

/* Parses the torrent in b, failing the test with the parser's reason, and
 * frees b. */
static inline struct sh_metainfo *test_parse_torrent(struct sh_buf *b)
{
  struct sh_metainfo *m;
  char err[256];
  cr_assert_eq(sh_metainfo_parse(b->data, b->len, &m, err, sizeof err), 0, "%s", err);
  sh_buf_free(b);
  return m;
}

/* For a torrent written up to "6:piecesN:": appends N zero bytes as the
 * piece hashes (for tests that never verify data) and closes the info and
 * outer dicts, then parses it as test_parse_torrent does. */
static inline struct sh_metainfo *test_torrent_zero_hashes(struct sh_buf *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sh_buf_putc(b, 0);
  sh_buf_puts(b, "ee");
  return test_parse_torrent(b);
}

#endif
