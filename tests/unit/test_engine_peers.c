/* The peer list and the ban list (src/swarm/peers.c): pure data, no
 * sockets; the clock is passed in. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "base/error.h"
#include "swarm/peers.h"

static struct sh_addr v4(const char *ip, uint16_t port)
{
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  struct sh_addr r;
  cr_assert_eq(sh_addr_from_sockaddr(&r, (struct sockaddr *)&a), 0);
  return r;
}

static struct sh_addr v6(const char *ip, uint16_t port)
{
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  struct sh_addr r;
  cr_assert_eq(sh_addr_from_sockaddr(&r, (struct sockaddr *)&a), 0);
  return r;
}

Test(engine_peers, addresses_print_and_compare)
{
  char s[64];
  struct sh_addr a = v4("10.1.2.3", 6881);
  sh_addr_str(&a, s, sizeof s);
  cr_expect_str_eq(s, "10.1.2.3:6881");
  struct sh_addr b = v6("2001:db8::1", 51413);
  sh_addr_str(&b, s, sizeof s);
  cr_expect_str_eq(s, "[2001:db8::1]:51413");
  /* an IPv4-mapped IPv6 address is the IPv4 peer */
  struct sh_addr c = v6("::ffff:10.1.2.3", 6881);
  cr_expect(sh_addr_eq(&a, &c));
  struct sh_addr d = v4("10.1.2.3", 6882);
  cr_expect(sh_addr_same_ip(&a, &d));
  cr_expect_not(sh_addr_eq(&a, &d));
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(&b, &ss);
  struct sh_addr back;
  sh_addr_from_sockaddr(&back, (struct sockaddr *)&ss);
  cr_expect(sh_addr_eq(&b, &back));
}

Test(engine_peers, dedup_and_dial_order)
{
  struct sh_peers l;
  sh_peers_init(&l);
  struct sh_addr t1 = v4("10.0.0.1", 1), t2 = v4("10.0.0.2", 2), m = v4("10.0.0.3", 3);
  cr_expect_eq(sh_peers_add(&l, &t1, SH_SRC_TRACKER, 0), 1);
  cr_expect_eq(sh_peers_add(&l, &t2, SH_SRC_TRACKER, 0), 1);
  cr_expect_eq(sh_peers_add(&l, &t1, SH_SRC_TRACKER, 0), 0, "a known address is not added twice");
  cr_expect_eq(sh_peers_add(&l, &m, SH_SRC_MANUAL, 0), 1);
  cr_expect_eq(l.n, 3);
  /* the hand-given peer is dialled first */
  struct sh_peer_entry *e = sh_peers_next(&l, 0, 0);
  cr_assert(e);
  cr_expect(sh_addr_eq(&e->addr, &m));
  cr_expect_eq(e->state, SH_PE_CONNECTING);
  e = sh_peers_next(&l, 0, 0);
  cr_assert(e);
  e = sh_peers_next(&l, 0, 0);
  cr_assert(e);
  cr_expect_null(sh_peers_next(&l, 0, 0), "every address is being dialled");
  sh_peers_free(&l);
}

Test(engine_peers, failures_back_off_then_forget)
{
  struct sh_peers l;
  sh_peers_init(&l);
  struct sh_addr a = v4("10.0.0.9", 9);
  sh_peers_add(&l, &a, SH_SRC_TRACKER, 0);
  uint64_t now = 0;
  for (int i = 1; i < SH_PEERS_MAX_FAILS; i++) {
    struct sh_peer_entry *e = sh_peers_next(&l, now, 0);
    cr_assert(e, "due again after failure %d", i - 1);
    sh_peers_done(&l, &a, 1, now);
    e = sh_peers_find(&l, &a);
    cr_assert(e);
    uint64_t wait = e->next_try_ms - now;
    cr_expect_eq(wait, (uint64_t)SH_PEERS_RETRY_MS << (i - 1), "back-off after %d failures", i);
    cr_expect_null(sh_peers_next(&l, now + wait - 1, 0), "not due before its time");
    now += wait;
  }
  cr_assert(sh_peers_next(&l, now, 0));
  sh_peers_done(&l, &a, 1, now);
  cr_expect_null(sh_peers_find(&l, &a), "forgotten after %d failures", SH_PEERS_MAX_FAILS);
  sh_peers_free(&l);
}

Test(engine_peers, seeds_skip_seeds)
{
  struct sh_peers l;
  sh_peers_init(&l);
  struct sh_addr a = v4("10.0.0.5", 5);
  sh_peers_add(&l, &a, SH_SRC_TRACKER, 0);
  sh_peers_find(&l, &a)->seed = 1;
  cr_expect_null(sh_peers_next(&l, 0, 1), "a seed does not dial a seed");
  cr_expect_not_null(sh_peers_next(&l, 0, 0));
  sh_peers_free(&l);
}

Test(engine_peers, list_is_bounded)
{
  struct sh_peers l;
  sh_peers_init(&l);
  for (uint32_t i = 0; i < SH_PEERS_MAX; i++) {
    struct sh_addr a = v4("10.0.0.1", (uint16_t)(i + 1));
    a.ip[2] = (uint8_t)(i >> 8);
    cr_assert_eq(sh_peers_add(&l, &a, SH_SRC_TRACKER, 0), 1);
  }
  struct sh_addr extra = v4("10.9.9.9", 1);
  cr_expect_eq(sh_peers_add(&l, &extra, SH_SRC_TRACKER, 0), SH_ELIMIT);
  sh_peers_free(&l);
}

Test(engine_peers, bans_after_two_sole_or_five_shared_strikes)
{
  struct sh_bans b;
  sh_bans_init(&b);
  struct sh_addr bad = v4("10.0.0.66", 1000), other_port = v4("10.0.0.66", 2000);
  struct sh_addr meh = v4("10.0.0.77", 1000);
  cr_expect_eq(sh_bans_strike(&b, &bad, 1), 0);
  cr_expect_not(sh_bans_is_banned(&b, &bad));
  cr_expect_eq(sh_bans_strike(&b, &bad, 1), 1, "second sole strike bans");
  cr_expect(sh_bans_is_banned(&b, &other_port), "bans are per IP, any port");
  for (int i = 1; i < SH_BAN_ANY_STRIKES; i++)
    cr_expect_eq(sh_bans_strike(&b, &meh, 0), 0, "shared strike %d", i);
  cr_expect_eq(sh_bans_strike(&b, &meh, 0), 1, "fifth shared strike bans");
  cr_expect_eq(b.num_banned, 2);
  cr_expect_eq(sh_bans_strike(&b, &meh, 0), 0, "already banned: no second ban");
  sh_bans_free(&b);
}

Test(engine_peers, loopback_bans_are_per_port)
{
  /* many peers share 127.0.0.1 on one machine: banning one spares the rest */
  struct sh_bans b;
  sh_bans_init(&b);
  struct sh_addr liar = v4("127.0.0.1", 7000), honest = v4("127.0.0.1", 7001);
  struct sh_addr liar6 = v6("::1", 7000), honest6 = v6("::1", 7001);
  sh_bans_strike(&b, &liar, 1);
  cr_expect_eq(sh_bans_strike(&b, &liar, 1), 1);
  cr_expect(sh_bans_is_banned(&b, &liar));
  cr_expect_not(sh_bans_is_banned(&b, &honest));
  sh_bans_strike(&b, &liar6, 1);
  sh_bans_strike(&b, &liar6, 1);
  cr_expect(sh_bans_is_banned(&b, &liar6));
  cr_expect_not(sh_bans_is_banned(&b, &honest6));
  sh_bans_free(&b);
}

Test(engine_peers, manual_peers_retry_soon_and_stay)
{
  struct sh_peers l;
  sh_peers_init(&l);
  struct sh_addr a = v4("10.0.0.8", 8);
  sh_peers_add(&l, &a, SH_SRC_MANUAL, 0);
  uint64_t now = 0, expect = SH_PEERS_MANUAL_RETRY_MS;
  for (int i = 0; i < 12; i++) {
    struct sh_peer_entry *e = sh_peers_next(&l, now, 0);
    cr_assert(e, "hand-given peer due again (round %d)", i);
    sh_peers_done(&l, &a, 1, now);
    e = sh_peers_find(&l, &a);
    cr_assert(e, "hand-given peers are never forgotten");
    cr_expect_eq(e->next_try_ms - now, expect, "round %d", i);
    now = e->next_try_ms;
    expect = expect * 2 > SH_PEERS_MANUAL_MAX_MS ? SH_PEERS_MANUAL_MAX_MS : expect * 2;
  }
  sh_peers_free(&l);
}
