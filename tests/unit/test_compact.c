/* Compact peer entries as the BEPs write them: BEP 23's 6-byte IPv4 form,
 * BEP 7's 18-byte IPv6 form, lists with a truncated tail. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "base/compact.h"

/* One entry as the BEPs write it: decodes to family, port and text, and
 * encodes back to the same bytes. */
struct entry_case {
  const char *what;
  uint8_t wire[SH_COMPACT6_LEN];
  size_t len;
  int family;
  uint16_t port;
  const char *text;
};

static const struct entry_case cases[] = {
    {"BEP 23 IPv4", {10, 0, 0, 1, 0x1a, 0xe1}, 6, 4, 6881, "10.0.0.1:6881"},
    {"BEP 23, top port", {255, 255, 255, 255, 0xff, 0xff}, 6, 4, 65535, "255.255.255.255:65535"},
    {"BEP 7 IPv6",
     {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xc8, 0xd5},
     18, 6, 51413, "[2001:db8::1]:51413"},
};

Test(compact, entries_as_the_beps_write_them)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct entry_case *c = &cases[i];
    struct sh_addr a;
    cr_assert_eq(sh_compact_get(&a, c->wire, c->len), 0, "%s", c->what);
    cr_expect_eq(a.family, c->family, "%s", c->what);
    cr_expect_eq(a.port, c->port, "%s", c->what);
    uint8_t ip[16] = {0};
    memcpy(ip, c->wire, c->len - 2);
    cr_expect_arr_eq(a.ip, ip, 16, "%s: the address, zero after it", c->what);
    char s[64];
    sh_addr_str(&a, s, sizeof s);
    cr_expect_str_eq(s, c->text, "%s", c->what);
    uint8_t out[SH_COMPACT6_LEN];
    cr_assert_eq(sh_compact_put(out, &a), c->len, "%s", c->what);
    cr_expect_arr_eq(out, c->wire, c->len, "%s encodes back", c->what);
  }
}

Test(compact, decodes_as_is)
{
  /* port 0 and an IPv4-mapped address are the caller's to judge */
  uint8_t wire[18] = {0};
  wire[10] = wire[11] = 0xff;
  wire[12] = 127;
  wire[15] = 1;
  struct sh_addr a;
  cr_assert_eq(sh_compact_get(&a, wire, sizeof wire), 0);
  cr_expect_eq(a.family, 6);
  cr_expect_eq(a.port, 0);
  cr_expect_arr_eq(a.ip, wire, 16);
}

Test(compact, other_lengths_refused)
{
  uint8_t wire[19] = {1, 2, 3, 4, 5, 6, 7};
  struct sh_addr a, was;
  memset(&a, 0x5a, sizeof a);
  was = a;
  for (size_t len = 0; len <= sizeof wire; len++) {
    if (len == 6 || len == 18)
      continue;
    cr_expect_eq(sh_compact_get(&a, wire, len), -EINVAL, "%zu bytes", len);
  }
  cr_expect(!memcmp(&a, &was, sizeof a), "the address is untouched");
}

Test(compact, a_list_and_its_tail)
{
  size_t rest;
  cr_expect_eq(sh_compact_count(0, 4, &rest), 0);
  cr_expect_eq(rest, 0);
  cr_expect_eq(sh_compact_count(12, 4, &rest), 2);
  cr_expect_eq(rest, 0);
  cr_expect_eq(sh_compact_count(17, 4, &rest), 2);
  cr_expect_eq(rest, 5, "a truncated third entry");
  cr_expect_eq(sh_compact_count(17, 6, &rest), 0);
  cr_expect_eq(rest, 17);
  cr_expect_eq(sh_compact_count(37, 6, &rest), 2);
  cr_expect_eq(rest, 1);
  cr_expect_eq(sh_compact_len(4), SH_COMPACT4_LEN);
  cr_expect_eq(sh_compact_len(6), SH_COMPACT6_LEN);
}

Test(compact, same_bytes_as_a_sockaddr)
{
  /* what a tracker writes for a peer is what the socket layer says */
  struct sockaddr_in6 in6;
  memset(&in6, 0, sizeof in6);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  inet_pton(AF_INET6, "fe80::abcd", &in6.sin6_addr);
  struct sh_addr a;
  cr_assert_eq(sh_addr_from_sockaddr(&a, (struct sockaddr *)&in6), 0);
  uint8_t out[SH_COMPACT6_LEN];
  cr_assert_eq(sh_compact_put(out, &a), 18);
  cr_expect_arr_eq(out, &in6.sin6_addr, 16);
  cr_expect_arr_eq(out + 16, &in6.sin6_port, 2, "network order, as sin6_port");
}
