/* cli/util.c: size parsing, human sizes and JSON string escaping. The CLI is
 * not part of libshoal, so its source is compiled into this test directly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../cli/util.c"

Test(cli_util, parse_size)
{
  uint64_t v;
  cr_expect_eq(cli_parse_size("16384", &v), 0);
  cr_expect_eq(v, 16384);
  cr_expect_eq(cli_parse_size("1M", &v), 0);
  cr_expect_eq(v, 1048576);
  cr_expect_eq(cli_parse_size("256k", &v), 0);
  cr_expect_eq(v, 262144);
  cr_expect_eq(cli_parse_size("2GiB", &v), 0);
  cr_expect_eq(v, 2ull << 30);
  cr_expect_eq(cli_parse_size("3MB", &v), 0);
  cr_expect_eq(v, 3ull << 20);
  cr_expect_eq(cli_parse_size("1T", &v), 0);
  cr_expect_eq(v, 1ull << 40);
  const char *bad[] = {"", "M", "-1", "1X", "1MiBs", " 1", "1.5M", "99999999999999999999", "17179869184G"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_expect_eq(cli_parse_size(bad[i], &v), -1, "'%s' should be refused", bad[i]);
}

Test(cli_util, parse_int)
{
  long v;
  cr_expect_eq(cli_parse_int("4", 1, 64, &v), 0);
  cr_expect_eq(v, 4);
  cr_expect_eq(cli_parse_int("0", 1, 64, &v), -1);
  cr_expect_eq(cli_parse_int("65", 1, 64, &v), -1);
  cr_expect_eq(cli_parse_int("3x", 1, 64, &v), -1);
  cr_expect_eq(cli_parse_int("", 1, 64, &v), -1);
}

Test(cli_util, human_size)
{
  char b[32];
  cli_human_size(812, b, sizeof b);
  cr_expect_str_eq(b, "812 B");
  cli_human_size(1536, b, sizeof b);
  cr_expect_str_eq(b, "1.50 KiB");
  cli_human_size(100000, b, sizeof b);
  cr_expect_str_eq(b, "97.7 KiB");
  cli_human_size(2ull << 30, b, sizeof b);
  cr_expect_str_eq(b, "2.00 GiB");
}

static void json(const char *in, size_t n, const char *want)
{
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  cli_json_str(f, in, n);
  fclose(f);
  cr_expect_str_eq(out, want, "input %zu bytes", n);
  free(out);
}

Test(cli_util, json_escaping)
{
  json("plain", 5, "\"plain\"");
  json("q\"b\\", 4, "\"q\\\"b\\\\\"");
  json("a\nb\tc\x01\x7f", 7, "\"a\\nb\\tc\\u0001\\u007f\"");
  json("\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"");            /* valid UTF-8 kept */
  json("\xf0\x9f\x90\x9f", 4, "\"\xf0\x9f\x90\x9f\"");              /* 4-byte sequence */
  json("a\xff" "b", 3, "\"a\\ufffdb\"");                            /* invalid byte */
  json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
  json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate */
  json("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");                       /* truncated */
  json("a\0b", 3, "\"a\\u0000b\"");                                 /* NUL */
}
