/* libFuzzer target: the shared UDP socket's demultiplexer. The first byte
 * chooses the source address family, which consumers are registered and
 * whether the datagram's own transaction id is expected; the rest is the
 * datagram. Invariants: the kind delivered is the shape sh_udp_classify()
 * saw, each shape is what its BEP says, a tracker-shaped datagram reaches
 * a consumer only when its id was registered for that address, and every
 * datagram is counted exactly once. Then the same bytes, read as 5-byte
 * add/remove records, drive the transaction-id table against a shadow
 * list. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/udp_demux.h"

static int delivered;
static void take(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  delivered++;
}

static void table_ops(const uint8_t *p, size_t n, const struct sockaddr *from)
{
  enum { MAX = 256 };
  uint32_t shadow[MAX];
  size_t ns = 0;
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  for (size_t i = 0; i + 5 <= n; i += 5) {
    uint32_t tid = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 | p[i + 3] << 8 | p[i + 4];
    tid &= 0x3f; /* few ids: many collisions and removals */
    size_t k = 0;
    while (k < ns && shadow[k] != tid)
      k++;
    if (p[i] & 1) {
      int rc = sh_udp_demux_unexpect(&d, from, tid);
      if ((rc == 0) != (k < ns))
        abort();
      if (k < ns)
        shadow[k] = shadow[--ns];
    } else if (ns < MAX) {
      int rc = sh_udp_demux_expect(&d, from, tid, take, NULL);
      if ((rc == -EEXIST) != (k < ns) || (rc != 0 && rc != -EEXIST))
        abort();
      if (k == ns)
        shadow[ns++] = tid;
    }
    if (d.ntids != ns)
      abort();
  }
  sh_udp_demux_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t ctl = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (ctl & 1) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(6969);
    a->sin6_addr.s6_addr[15] = 1;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(6969);
    a->sin_addr.s_addr = htonl(0x7f000001);
  }
  const struct sockaddr *from = (const struct sockaddr *)&ss;
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  if (ctl & 2)
    sh_udp_demux_set(&d, SH_UDP_DHT, take, NULL);
  if (ctl & 4)
    sh_udp_demux_set(&d, SH_UDP_UTP, take, NULL);
  int expected = (ctl & 8) && n >= 8;
  if (expected) {
    uint32_t tid = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | p[6] << 8 | p[7];
    if (sh_udp_demux_expect(&d, from, tid, take, NULL) != 0)
      abort();
  }
  delivered = 0;
  int k = sh_udp_classify(p, n);
  int got = sh_udp_demux_input(&d, p, n, from);
  if (got != SH_UDP_NONE && got != k)
    abort();
  if ((got != SH_UDP_NONE) != (delivered == 1) || delivered > 1)
    abort();
  if (k == SH_UDP_TRACKER && (n < 8 || p[0] || p[1] || p[2] || p[3] > 3))
    abort();
  if (k == SH_UDP_DHT && (n < 2 || p[0] != 'd' || p[n - 1] != 'e'))
    abort();
  if (k == SH_UDP_UTP && (n < 20 || (p[0] & 15) != 1 || (p[0] >> 4) > 4))
    abort();
  if (got == SH_UDP_TRACKER && !expected)
    abort();
  if (k == SH_UDP_TRACKER && expected && got != SH_UDP_TRACKER)
    abort();
  const struct sh_udp_stats *st = &d.st;
  uint64_t total = st->dropped_in + st->unclassified;
  for (int i = 0; i < SH_UDP_NKINDS; i++)
    total += st->in[i];
  if (total != 1)
    abort();
  sh_udp_demux_free(&d);
  table_ops(p, n, from);
  return 0;
}
