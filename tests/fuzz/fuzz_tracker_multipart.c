/* libFuzzer target: multipart/form-data splitting of upload bodies and the
 * boundary parameter of Content-Type. Parts must lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracker/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* first line (up to '\n') is the Content-Type, the rest the body */
  const uint8_t *nl = memchr(data, '\n', size);
  size_t hl = nl ? (size_t)(nl - data) : size;
  char *ct = malloc(hl + 1);
  memcpy(ct, data, hl);
  ct[hl] = 0;
  char b[80];
  const uint8_t *body = nl ? nl + 1 : data + size;
  size_t blen = (size_t)(data + size - body);
  if (multipart_boundary(ct, b, sizeof b) > 0) {
    struct multipart_part p[8];
    const char *why;
    int n = multipart_parse(body, blen, b, p, 8, &why);
    for (int i = 0; i < n; i++) {
      if (p[i].data < body || p[i].data + p[i].len > body + blen)
        abort();
      if (p[i].name && ((const uint8_t *)p[i].name < body ||
                        (const uint8_t *)p[i].name + p[i].name_len > body + blen))
        abort();
    }
    multipart_find(p, n > 0 ? n : 0, "torrent");
  }
  free(ct);
  return 0;
}
