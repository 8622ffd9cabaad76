/* Local service discovery announces (BEP 14): the text we send byte for
 * byte, what we read from others (header case, bare newlines, several
 * info-hashes, bounds) and what we refuse. The sockets are tested in a
 * network namespace of their own (tests/cli/test_lsd.sh): announces go
 * to the LAN. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lsd/lsd_msg.h"

static const uint8_t IH1[20] = {0xc1, 0x2f, 0xe1, 0xc0, 0x6b, 0xba, 0x25, 0x4a, 0x9d, 0xc9,
                                0xf5, 0x19, 0xb3, 0x35, 0xaa, 0x7c, 0x13, 0x67, 0xa8, 0x8a};

static int parse(const char *s, struct sh_lsd_msg *m, const char **why)
{
  return sh_lsd_msg_parse((const uint8_t *)s, strlen(s), m, why);
}

Test(lsd, announce_as_bep14_writes_it)
{
  uint8_t out[SH_LSD_MAX_PACKET];
  size_t used;
  uint8_t ih[1][20];
  memcpy(ih[0], IH1, 20);
  size_t n = sh_lsd_msg_format(out, sizeof out, 0, 6881, (const uint8_t(*)[20])ih, 1, "abc123",
                               &used);
  static const char want[] = "BT-SEARCH * HTTP/1.1\r\n"
                             "Host: 239.192.152.143:6771\r\n"
                             "Port: 6881\r\n"
                             "Infohash: c12fe1c06bba254a9dc9f519b335aa7c1367a88a\r\n"
                             "cookie: abc123\r\n"
                             "\r\n"
                             "\r\n";
  cr_expect_eq(used, 1);
  cr_assert_eq(n, sizeof want - 1);
  cr_expect_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);
  n = sh_lsd_msg_format(out, sizeof out, 1, 6881, (const uint8_t(*)[20])ih, 1, "abc123", &used);
  cr_expect(memmem(out, n, "Host: [ff15::efc0:988f]:6771\r\n", 30), "the IPv6 group");
}

Test(lsd, many_hashes_stay_under_1400_bytes)
{
  uint8_t ih[100][20];
  for (int i = 0; i < 100; i++)
    memset(ih[i], i, 20);
  uint8_t out[4096];
  size_t used;
  size_t n = sh_lsd_msg_format(out, sizeof out, 1, 65535, (const uint8_t(*)[20])ih, 100,
                               "0123456789abcdef", &used);
  cr_expect_leq(n, SH_LSD_MAX_PACKET);
  cr_expect_gt(used, 20, "about 25 fit");
  cr_expect_lt(used, 100);
  struct sh_lsd_msg m;
  const char *why;
  cr_assert_eq(sh_lsd_msg_parse(out, n, &m, &why), 0, "%s", why);
  cr_expect_eq((size_t)m.nih, used, "and read back");
  cr_expect_eq(m.port, 65535);
  cr_expect_str_eq(m.cookie, "0123456789abcdef");
}

Test(lsd, read_what_others_send)
{
  struct sh_lsd_msg m;
  const char *why = NULL;
  /* header names in any case, bare newlines, unknown headers, upper-case
   * hex, a repeated hash kept once, a malformed one skipped */
  cr_assert_eq(parse("BT-SEARCH * HTTP/1.1\n"
                     "HOST: 239.192.152.143:6771\n"
                     "port:  51413 \n"
                     "X-Whatever: yes\n"
                     "infohash: C12FE1C06BBA254A9DC9F519B335AA7C1367A88A\n"
                     "Infohash: c12fe1c06bba254a9dc9f519b335aa7c1367a88a\n"
                     "Infohash: 1234\n"
                     "Infohash: 00000000000000000000000000000000000000ff\n"
                     "\n",
                     &m, &why),
               0, "%s", why);
  cr_expect_eq(m.port, 51413);
  cr_expect_eq(m.nih, 2);
  cr_expect_eq(memcmp(m.ih[0], IH1, 20), 0);
  cr_expect_eq(m.ih[1][19], 0xff);
  cr_expect_eq(m.skipped, 1);
  cr_expect_str_eq(m.cookie, "", "no cookie");
}

Test(lsd, bounds)
{
  char buf[8192];
  size_t n = (size_t)snprintf(buf, sizeof buf, "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\ncookie: ");
  memset(buf + n, 'c', 100);
  n += 100;
  n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");
  for (int i = 0; i < 40; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "Infohash: %040x\r\n", i + 1);
  struct sh_lsd_msg m;
  const char *why;
  cr_assert_eq(sh_lsd_msg_parse((const uint8_t *)buf, n, &m, &why), 0, "%s", why);
  cr_expect_eq(m.nih, SH_LSD_MAX_HASHES);
  cr_expect_eq(m.skipped, 40 - SH_LSD_MAX_HASHES);
  cr_expect_eq(strlen(m.cookie), SH_LSD_COOKIE_MAX, "a long cookie is cut");
}

Test(lsd, refusals)
{
  struct sh_lsd_msg m;
  const char *why = NULL;
  cr_expect_eq(parse("NOTIFY * HTTP/1.1\r\nPort: 1\r\n\r\n", &m, &why), -1);
  cr_expect_str_eq(why, "not a BT-SEARCH announce");
  cr_expect_eq(parse("", &m, &why), -1);
  cr_expect_eq(parse("BT-SEARCH * HTTP/1.1\r\nInfohash: c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
                     "\r\n\r\n",
                     &m, &why),
               -1);
  cr_expect_str_eq(why, "no valid Port");
  cr_expect_eq(parse("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: "
                     "c12fe1c06bba254a9dc9f519b335aa7c1367a88a\r\n\r\n",
                     &m, &why),
               -1);
  cr_expect_str_eq(why, "no valid Port");
  cr_expect_eq(parse("BT-SEARCH * HTTP/1.1\r\nPort: 0x10\r\n\r\n", &m, &why), -1);
  cr_expect_eq(parse("BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\n", &m, &why), -1);
  cr_expect_str_eq(why, "no valid Infohash");
  /* headers after the blank line are not headers */
  cr_expect_eq(parse("BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\nInfohash: "
                     "c12fe1c06bba254a9dc9f519b335aa7c1367a88a\r\n",
                     &m, &why),
               -1);
}
