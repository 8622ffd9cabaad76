/* Local service discovery (BEP 14): the multicast sockets, the announce
 * rounds and the rate-limited reading. See lsd.h. */
#include "lsd/lsd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/sha1.h"
#include "lsd/lsd_msg.h"

struct sh_lsd {
  uv_loop_t *loop;
  uv_udp_t sock[2];          /* IPv4, IPv6 */
  int open[2];
  uv_timer_t timer;
  struct sh_lsd_cb cb;
  uint16_t port;
  char cookie[17];
  uint8_t (*last)[20];       /* what the previous round had to announce */
  size_t nlast;
  size_t rr;                 /* where the next round starts in the list */
  uint64_t last_round_ms, next_round_ms;
  uint64_t second_ms;        /* the second the input counter counts */
  uint32_t in_second;
  uint64_t last_flood_log_ms;
  uint8_t rbuf[SH_LSD_MAX_PACKET + 100];
  struct sh_lsd_stats st;
  int pending;               /* handles still closing */
  int closing;               /* freed once they are closed */
  void (*done)(void *ud);
  void *done_ud;
};

static const char *const groups[2] = {SH_LSD_GROUP4, SH_LSD_GROUP6};

/* ---- announcing ---- */

static void send_round(struct sh_lsd *l, const uint8_t (*ih)[20], size_t n, uint64_t now)
{
  /* the list from where the last round stopped, wrapping */
  uint8_t (*order)[20] = malloc(n * sizeof *order);
  if (!order)
    return;
  size_t start = l->rr < n ? l->rr : 0;
  for (size_t i = 0; i < n; i++)
    memcpy(order[i], ih[(start + i) % n], 20);
  uint8_t pkt[SH_LSD_MAX_PACKET];
  size_t used = 0;
  for (int f = 0; f < 2; f++) {
    if (!l->open[f])
      continue;
    size_t len = sh_lsd_msg_format(pkt, sizeof pkt, f, l->port, (const uint8_t(*)[20])order, n,
                                   l->cookie, &used);
    struct sockaddr_storage to;
    if (f == 0)
      uv_ip4_addr(groups[0], SH_LSD_PORT, (struct sockaddr_in *)&to);
    else
      uv_ip6_addr(groups[1], SH_LSD_PORT, (struct sockaddr_in6 *)&to);
    uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
    int rc = uv_udp_try_send(&l->sock[f], &b, 1, (const struct sockaddr *)&to);
    if (rc < 0)
      sh_debug("local discovery: announce to %s not sent: %s", groups[f], uv_strerror(rc));
    else
      l->st.sent++;
  }
  free(order);
  l->rr = (start + used) % n;
  l->last_round_ms = now;
  /* the rest of the list a minute later; all of it again in 5 minutes */
  l->next_round_ms = now + (l->rr ? SH_LSD_MIN_GAP_MS : SH_LSD_INTERVAL_MS);
}

static int has_new(const struct sh_lsd *l, const uint8_t (*ih)[20], size_t n)
{
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < l->nlast && memcmp(l->last[k], ih[i], 20))
      k++;
    if (k == l->nlast)
      return 1;
  }
  return 0;
}

static void on_timer(uv_timer_t *h)
{
  struct sh_lsd *l = h->data;
  uint8_t (*ih)[20] = malloc(SH_LSD_MAX_TORRENTS * sizeof *ih);
  if (!ih)
    return;
  size_t n = l->cb.collect(l->cb.ud, ih, SH_LSD_MAX_TORRENTS);
  uint64_t now = uv_now(l->loop);
  int fresh = has_new(l, (const uint8_t(*)[20])ih, n);
  int due = n && (now >= l->next_round_ms ||
                  (fresh && (!l->last_round_ms || now - l->last_round_ms >= SH_LSD_MIN_GAP_MS)));
  if (due) {
    send_round(l, (const uint8_t(*)[20])ih, n, now);
    free(l->last);
    l->last = ih; /* what this round had to announce */
    l->nlast = n;
    return;
  }
  free(ih);
}

/* ---- hearing ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct sh_lsd *l = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)l->rbuf, sizeof l->rbuf);
}

/* Over SH_LSD_MAX_IN announces this second? */
static int flooded(struct sh_lsd *l, uint64_t now)
{
  if (now - l->second_ms >= 1000) {
    l->second_ms = now;
    l->in_second = 0;
  }
  if (++l->in_second <= SH_LSD_MAX_IN)
    return 0;
  l->st.flood_dropped++;
  if (now - l->last_flood_log_ms >= 60000) {
    l->last_flood_log_ms = now;
    sh_info("local discovery: over %d announces a second: the rest dropped (%llu so far)",
            SH_LSD_MAX_IN, (unsigned long long)l->st.flood_dropped);
  }
  return 1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
  struct sh_lsd *l = h->data;
  (void)flags;
  if (nread <= 0 || !from || flooded(l, uv_now(l->loop)))
    return;
  l->st.received++;
  struct sh_lsd_msg m;
  const char *why = NULL;
  struct sh_addr a;
  if (sh_lsd_msg_parse((const uint8_t *)buf->base, (size_t)nread, &m, &why) < 0 ||
      sh_addr_from_sockaddr(&a, from) < 0) {
    l->st.malformed++;
    sh_debug("local discovery: an announce ignored: %s", why ? why : "bad source address");
    return;
  }
  if (!strcmp(m.cookie, l->cookie)) {
    l->st.own++;
    return;
  }
  if (a.family == 6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
    return; /* link-local: no use without its interface */
  a.port = m.port;
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(&a, &ss);
  for (int i = 0; i < m.nih; i++) {
    l->st.peers++;
    l->cb.peer(l->cb.ud, m.ih[i], (const struct sockaddr *)&ss);
  }
}

/* ---- life ---- */

/* One family's socket: bound to 6771, in its group. 0 or a negative errno. */
static int open_family(struct sh_lsd *l, int f)
{
  uv_udp_t *h = &l->sock[f];
  int rc = uv_udp_init_ex(l->loop, h, f ? AF_INET6 : AF_INET);
  if (rc < 0)
    return rc;
  h->data = l;
  struct sockaddr_storage any;
  if (f)
    uv_ip6_addr("::", SH_LSD_PORT, (struct sockaddr_in6 *)&any);
  else
    uv_ip4_addr("0.0.0.0", SH_LSD_PORT, (struct sockaddr_in *)&any);
  rc = uv_udp_bind(h, (const struct sockaddr *)&any,
                   UV_UDP_REUSEADDR | (f ? UV_UDP_IPV6ONLY : 0));
  if (rc == 0)
    rc = uv_udp_set_membership(h, groups[f], NULL, UV_JOIN_GROUP);
  if (rc == 0)
    rc = uv_udp_set_multicast_ttl(h, 1);
  if (rc == 0)
    rc = uv_udp_set_multicast_loop(h, 1); /* other clients on this host hear us */
  if (rc == 0)
    rc = uv_udp_recv_start(h, on_alloc, on_recv);
  l->open[f] = 1; /* opened: closed with the rest, whatever happened */
  return rc;
}

static void on_closed(uv_handle_t *h)
{
  struct sh_lsd *l = h->data;
  /* a family given up at start closes alone: the rest lives on */
  if (--l->pending || !l->closing)
    return;
  void (*done)(void *) = l->done;
  void *ud = l->done_ud;
  free(l->last);
  free(l);
  if (done)
    done(ud);
}

static void close_family(struct sh_lsd *l, int f)
{
  if (!l->open[f])
    return;
  l->open[f] = 0;
  l->pending++;
  uv_close((uv_handle_t *)&l->sock[f], on_closed);
}

int sh_lsd_new(uv_loop_t *loop, uint16_t port, const struct sh_lsd_cb *cb, struct sh_lsd **out)
{
  *out = NULL;
  struct sh_lsd *l = calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  l->loop = loop;
  l->cb = *cb;
  l->port = port;
  uint8_t rnd[8];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    uint64_t t = uv_hrtime();
    memcpy(rnd, &t, sizeof rnd);
  }
  sh_hex(rnd, sizeof rnd, l->cookie);
  int ok = 0, last = 0;
  for (int f = 0; f < 2; f++) {
    int rc = open_family(l, f);
    if (rc == 0) {
      ok++;
      continue;
    }
    last = rc;
    sh_info("local discovery: no %s multicast (%s:%d): %s", f ? "IPv6" : "IPv4", groups[f],
            SH_LSD_PORT, uv_strerror(rc));
    close_family(l, f);
  }
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  if (!ok) {
    l->closing = 1;
    l->pending++;
    uv_close((uv_handle_t *)&l->timer, on_closed);
    return last;
  }
  uv_timer_start(&l->timer, on_timer, 100, 1000);
  *out = l;
  return 0;
}

void sh_lsd_close(struct sh_lsd *l, void (*done)(void *ud), void *ud)
{
  l->done = done;
  l->done_ud = ud;
  l->closing = 1;
  l->pending++; /* the timer */
  uv_close((uv_handle_t *)&l->timer, on_closed);
  close_family(l, 0);
  close_family(l, 1);
}

void sh_lsd_stats(const struct sh_lsd *l, struct sh_lsd_stats *st)
{
  *st = l->st;
}
