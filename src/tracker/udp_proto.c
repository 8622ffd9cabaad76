/* BEP 15 datagram handling; see udp_proto.h. */
#include "tracker/udp_proto.h"

#include <string.h>

#include "tracker/siphash.h"

static uint64_t conn_id_at(const struct tracker *t, const struct tracker_addr *from, uint64_t w)
{
  uint8_t wb[8], key[16];
  for (int i = 0; i < 8; i++)
    wb[i] = (uint8_t)(w >> (8 * i));
  uint64_t k0 = siphash24(t->udp_secret, wb, 8);
  wb[0] ^= 0x5a; /* a second, independent half of the window key */
  uint64_t k1 = siphash24(t->udp_secret, wb, 8);
  memcpy(key, &k0, 8);
  memcpy(key + 8, &k1, 8);
  uint8_t msg[17];
  msg[0] = (uint8_t)from->family;
  memcpy(msg + 1, from->ip, 16);
  return siphash24(key, msg, from->family == STORE_V4 ? 5 : 17);
}

uint64_t udp_proto_conn_id(const struct tracker *t, const struct tracker_addr *from, uint32_t now)
{
  return conn_id_at(t, from, now / UDP_PROTO_WINDOW);
}

static int conn_id_ok(const struct tracker *t, const struct tracker_addr *from, uint32_t now,
                      uint64_t id)
{
  uint64_t w = now / UDP_PROTO_WINDOW;
  return id == conn_id_at(t, from, w) || (w > 0 && id == conn_id_at(t, from, w - 1));
}

/* An error reply, cut to the request's length when the sender is not
 * authenticated, so that it can never amplify. */
static size_t error_reply(struct tracker *t, uint8_t *out, const uint8_t *tid, const char *msg,
                          size_t limit)
{
  size_t m = strlen(msg);
  if (8 + m > limit)
    m = limit > 8 ? limit - 8 : 0;
  sh_wr32(out, UDP_ACT_ERROR);
  memcpy(out + 4, tid, 4);
  memcpy(out + 8, msg, m);
  tracker_count(t, TRK_UDP_ERROR);
  return 8 + m;
}

static size_t handle_announce(struct tracker *t, const uint8_t *pkt, size_t len,
                              const struct tracker_addr *from, uint32_t now, uint32_t rnd,
                              uint8_t *out)
{
  const uint8_t *tid = pkt + 12;
  /* 98 bytes: id 8, action 4, tid 4, info_hash 20, peer_id 20, downloaded 8,
   * left 8, uploaded 8, event 4, IP 4, key 4, num_want 4, port 2. Anything
   * after that (BEP 41 options) is ignored. */
  if (len < 98)
    return error_reply(t, out, tid, "announce is shorter than 98 bytes", UDP_PROTO_MAX_REPLY);
  tracker_count(t, TRK_UDP_ANNOUNCE);
  const uint8_t *hash = pkt + 16;
  uint64_t left = sh_rd64(pkt + 64);
  uint32_t ev = sh_rd32(pkt + 80);
  int32_t numwant = (int32_t)sh_rd32(pkt + 92);
  uint16_t port = sh_rd16(pkt + 96);
  if (ev > 3)
    return error_reply(t, out, tid, "unknown event", UDP_PROTO_MAX_REPLY);
  if (port == 0)
    return error_reply(t, out, tid, "port is 0", UDP_PROTO_MAX_REPLY);
  switch (policy_check(t->policy, hash, t->cfg.hosted_only)) {
  case POLICY_OK:
    break;
  case POLICY_NOT_HOSTED:
    return error_reply(t, out, tid, "torrent is not hosted on this tracker", UDP_PROTO_MAX_REPLY);
  case POLICY_BLOCKED:
    return error_reply(t, out, tid, "torrent is blocked on this tracker", UDP_PROTO_MAX_REPLY);
  }
  struct tracker_addr addr = *from;
  uint32_t given_ip = sh_rd32(pkt + 84);
  if (t->cfg.trust_ip_param && given_ip && from->family == STORE_V4)
    memcpy(addr.ip, pkt + 84, 4);
  uint8_t wire[18];
  tracker_wire_addr(wire, &addr, port);
  uint32_t want = numwant < 0 ? t->cfg.numwant_default
                              : ((uint32_t)numwant > t->cfg.numwant_max ? t->cfg.numwant_max
                                                                        : (uint32_t)numwant);
  /* BEP 15: the reply's address size follows the request's transport, so
   * an IPv4 client gets IPv4 peers only and an IPv6 client IPv6 ones. */
  static const enum store_event evmap[4] = {STORE_EV_NONE, STORE_EV_COMPLETED, STORE_EV_STARTED,
                                            STORE_EV_STOPPED};
  struct store_announce a = {
      .info_hash = hash, .family = addr.family, .addr = wire, .event = evmap[ev],
      .seeder = left == 0, .now = now, .timeout = t->cfg.peer_timeout, .rnd = rnd, .create = 1,
      .out4 = out + 20, .out6 = out + 20,
      .max4 = addr.family == STORE_V4 ? want : 0, .max6 = addr.family == STORE_V6 ? want : 0,
  };
  struct store_reply r;
  if (store_announce(t->store, &a, &r) < 0)
    return error_reply(t, out, tid, "tracker out of memory", UDP_PROTO_MAX_REPLY);
  sh_wr32(out, UDP_ACT_ANNOUNCE);
  memcpy(out + 4, tid, 4);
  sh_wr32(out + 8, t->cfg.interval);
  sh_wr32(out + 12, r.counts.incomplete);
  sh_wr32(out + 16, r.counts.complete);
  return 20 + (addr.family == STORE_V4 ? (size_t)r.n4 * 6 : (size_t)r.n6 * 18);
}

static size_t handle_scrape(struct tracker *t, const uint8_t *pkt, size_t len, uint8_t *out)
{
  const uint8_t *tid = pkt + 12;
  size_t n = (len - 16) / 20;
  if (n == 0)
    return error_reply(t, out, tid, "scrape names no info_hash", UDP_PROTO_MAX_REPLY);
  if (n > UDP_PROTO_MAX_SCRAPE)
    n = UDP_PROTO_MAX_SCRAPE; /* the rest would not fit one reply; BEP 15 */
  tracker_count(t, TRK_UDP_SCRAPE);
  sh_wr32(out, UDP_ACT_SCRAPE);
  memcpy(out + 4, tid, 4);
  uint8_t *o = out + 8;
  for (size_t i = 0; i < n; i++, o += 12) {
    const uint8_t *h = pkt + 16 + 20 * i;
    struct store_counts c = {0, 0, 0};
    if (policy_check(t->policy, h, t->cfg.hosted_only) == POLICY_OK)
      store_scrape(t->store, h, &c);
    sh_wr32(o, c.complete);
    sh_wr32(o + 4, c.downloaded);
    sh_wr32(o + 8, c.incomplete);
  }
  return 8 + 12 * n;
}

size_t udp_proto_handle(struct tracker *t, const uint8_t *pkt, size_t len,
                        const struct tracker_addr *from, uint32_t now, uint32_t rnd,
                        uint8_t *out)
{
  /* 16 bytes is the smallest request (connect); below that there is not
   * even a transaction ID to answer to. */
  if (len < 16) {
    tracker_count(t, TRK_UDP_DROPPED);
    return 0;
  }
  uint64_t id = sh_rd64(pkt);
  uint32_t action = sh_rd32(pkt + 8);
  const uint8_t *tid = pkt + 12;
  if (action == UDP_ACT_CONNECT) {
    if (id != UDP_PROTO_MAGIC) {
      tracker_count(t, TRK_UDP_DROPPED);
      return 0; /* not BEP 15 at all */
    }
    tracker_count(t, TRK_UDP_CONNECT);
    sh_wr32(out, UDP_ACT_CONNECT);
    memcpy(out + 4, tid, 4);
    sh_wr64(out + 8, udp_proto_conn_id(t, from, now));
    return 16;
  }
  if (action != UDP_ACT_ANNOUNCE && action != UDP_ACT_SCRAPE)
    return error_reply(t, out, tid, "unknown action", len);
  if (!conn_id_ok(t, from, now, id))
    return error_reply(t, out, tid, "bad or expired connection id", len);
  if (action == UDP_ACT_ANNOUNCE)
    return handle_announce(t, pkt, len, from, now, rnd, out);
  return handle_scrape(t, pkt, len, out);
}
