/* libFuzzer target: the bencode decoder, strict and lax, plus the canonical
 * re-encoder, which must itself produce input the strict decoder accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct be_doc d;
  struct be_opts lax = {0, 1u << 16, 0, 0};
  if (be_parse(&d, data, size, &lax) == 0) {
    struct sh_buf b = SH_BUF_INIT;
    if (be_encode_canonical(&b, &d, 0) == 0) {
      struct be_doc d2;
      if (be_parse(&d2, b.data, b.len, NULL) != 0)
        abort(); /* canonical output must be strict-valid */
      be_free(&d2);
    }
    sh_buf_free(&b);
  }
  be_free(&d);
  be_parse(&d, data, size, NULL);
  be_free(&d);
  return 0;
}
