/* libFuzzer target: the tracker's HTTP side from the query string on. The
 * first byte picks announce or scrape (and the client's address family);
 * the rest is the query string. Every reply must be valid bencode, and a
 * tracker that survived must still answer a well-formed announce. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "tracker/tracker.h"

static struct tracker T;

static void check_bencode(const struct sh_buf *b)
{
  struct be_doc d;
  if (be_parse(&d, b->data, b->len, NULL) != 0)
    abort(); /* every reply, failure or not, must be strict bencode */
  be_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!T.store) {
    struct tracker_config c;
    tracker_config_defaults(&c);
    c.trust_ip_param = 1; /* exercise the ip parameter too */
    if (tracker_init(&T, &c) < 0)
      abort();
  }
  if (size < 1)
    return 0;
  struct tracker_addr a = {data[0] & 2 ? STORE_V6 : STORE_V4, {127, 0, 0, 1}};
  struct sh_buf out = SH_BUF_INIT;
  char *q = malloc(size);
  memcpy(q, data + 1, size - 1);
  if (data[0] & 1)
    tracker_http_scrape(&T, q, size - 1, &out);
  else
    tracker_http_announce(&T, q, size - 1, &a, (uint32_t)size, (uint32_t)size * 7919u, &out);
  check_bencode(&out);
  free(q);
  sh_buf_free(&out);
  /* keep memory bounded across a long run */
  store_expire(T.store, 1u << 30, 1);
  return 0;
}
