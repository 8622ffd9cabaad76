/* libFuzzer target: the ut_metadata (BEP 9) handler, through the engine
 * (see fuzz_ext.h for the input's layout): requests to a seed that serves
 * its metadata, and data, rejects and junk to a torrent fetching its own,
 * from a peer that may claim any metadata_size. The handler must never
 * crash, leak or hold more than the size limit, and the codec must read
 * back what it writes. */
#include "fuzz_ext.h"

#include "ext/ut_metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* the codec alone, on the whole input */
  struct sh_utm_msg m;
  const char *why;
  if (sh_utm_parse(data, size, &m, &why) == 0) {
    struct sh_buf b = SH_BUF_INIT;
    sh_utm_put(&b, (enum sh_utm_type)m.type, m.piece, m.total_size);
    sh_buf_append(&b, m.data, m.len);
    struct sh_utm_msg back;
    if (m.type >= 0 && m.type <= 2 &&
        (sh_utm_parse(b.data, b.len, &back, &why) != 0 || back.piece != m.piece ||
         back.type != m.type || back.len != m.len))
      abort();
    sh_buf_free(&b);
  }
  return fx_run(data, size, 1);
}
