/* libFuzzer target: the BEP 15 datagram handler. Half the runs stamp a
 * valid connection ID over the first 8 bytes so that announce and scrape
 * are reached. Invariants: a reply never exceeds the buffer, and a reply to
 * a datagram without a valid connection ID is never larger than it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "tracker/udp_proto.h"

static struct tracker T;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!T.store) {
    struct tracker_config c;
    tracker_config_defaults(&c);
    if (tracker_init(&T, &c) < 0)
      abort();
    memcpy(T.udp_secret, "fuzzing-secret!!", 16);
  }
  if (size < 1)
    return 0;
  struct tracker_addr a = {data[0] & 2 ? STORE_V6 : STORE_V4, {10, 0, 0, data[0]}};
  uint32_t now = 1000000;
  uint8_t *pkt = malloc(size - 1 ? size - 1 : 1);
  memcpy(pkt, data + 1, size - 1);
  size_t len = size - 1;
  int authed = (data[0] & 1) && len >= 8;
  if (authed)
    sh_wr64(pkt, udp_proto_conn_id(&T, &a, now));
  uint8_t out[UDP_PROTO_MAX_REPLY];
  size_t n = udp_proto_handle(&T, pkt, len, &a, now, (uint32_t)size, out);
  if (n > sizeof out)
    abort();
  int connect = len >= 16 && sh_rd32(pkt + 8) == 0;
  if (n && !authed && !connect && n > len)
    abort(); /* amplification */
  if (connect && n && n != 16)
    abort();
  free(pkt);
  store_expire(T.store, 1u << 30, 1);
  return 0;
}
