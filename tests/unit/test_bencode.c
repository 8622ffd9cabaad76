/* bencode: the examples of BEP 3, every rejection the decoder promises, and
 * round trips through the canonical encoder. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bencode.h"
#include "base/error.h"

static int parse(struct be_doc *d, const char *s)
{
  return be_parse(d, s, strlen(s), NULL);
}

static void reject(const char *in, const char *why, size_t off)
{
  struct be_doc d;
  int rc = parse(&d, in);
  cr_expect_eq(rc, SH_EBENCODE, "'%s' should be refused", in);
  if (rc == SH_EBENCODE) {
    cr_expect_str_eq(d.err, why, "'%s': reason", in);
    cr_expect_eq(d.err_off, off, "'%s': offset %zu, expected %zu", in, d.err_off, off);
  }
  be_free(&d);
}

static void roundtrip(const char *in)
{
  struct be_doc d;
  cr_assert_eq(parse(&d, in), 0, "'%s': %s", in, d.err ? d.err : "");
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(be_encode_canonical(&b, &d, 0), 0);
  cr_expect_eq(b.len, strlen(in));
  cr_expect(memcmp(b.data, in, b.len) == 0, "'%s' re-encoded as '%.*s'", in, (int)b.len, b.data);
  sh_buf_free(&b);
  be_free(&d);
}

Test(bencode, bep3_string)
{
  struct be_doc d;
  cr_assert_eq(parse(&d, "4:spam"), 0);
  size_t n;
  const uint8_t *p = be_str(&d, 0, &n);
  cr_assert_eq(n, 4);
  cr_assert(memcmp(p, "spam", 4) == 0);
  cr_assert_eq(p, (const uint8_t *)d.buf + 2, "strings point into the input, not a copy");
  be_free(&d);
}

Test(bencode, bep3_integers)
{
  struct be_doc d;
  int64_t v;
  cr_assert_eq(parse(&d, "i3e"), 0);
  cr_assert_eq(be_int(&d, 0, &v), 0);
  cr_assert_eq(v, 3);
  be_free(&d);
  cr_assert_eq(parse(&d, "i-3e"), 0);
  be_int(&d, 0, &v);
  cr_assert_eq(v, -3);
  be_free(&d);
  cr_assert_eq(parse(&d, "i0e"), 0);
  be_int(&d, 0, &v);
  cr_assert_eq(v, 0);
  be_free(&d);
}

Test(bencode, int64_limits)
{
  struct be_doc d;
  int64_t v;
  cr_assert_eq(parse(&d, "i9223372036854775807e"), 0);
  be_int(&d, 0, &v);
  cr_assert_eq(v, INT64_MAX);
  be_free(&d);
  cr_assert_eq(parse(&d, "i-9223372036854775808e"), 0);
  be_int(&d, 0, &v);
  cr_assert_eq(v, INT64_MIN);
  be_free(&d);
  reject("i9223372036854775808e", "number too large", 1);
  reject("i-9223372036854775809e", "number too large", 2);
  reject("i99999999999999999999999e", "number too large", 1);
}

Test(bencode, bep3_list)
{
  struct be_doc d;
  cr_assert_eq(parse(&d, "l4:spam4:eggse"), 0);
  cr_assert_eq(d.tok[0].type, BE_LIST);
  cr_assert_eq(d.tok[0].v.n, 2);
  cr_assert_eq(d.ntok, 3);
  cr_assert(be_str_eq(&d, 1, "spam"));
  cr_assert(be_str_eq(&d, (int)d.tok[1].next, "eggs"));
  cr_assert_eq(d.tok[0].next, 3);
  cr_assert_eq(d.tok[0].end, 14);
  be_free(&d);
}

Test(bencode, bep3_dicts)
{
  struct be_doc d;
  cr_assert_eq(parse(&d, "d3:cow3:moo4:spam4:eggse"), 0);
  cr_assert(be_str_eq(&d, be_dict_get(&d, 0, "cow"), "moo"));
  cr_assert(be_str_eq(&d, be_dict_get(&d, 0, "spam"), "eggs"));
  cr_assert_eq(be_dict_get(&d, 0, "nope"), -1);
  be_free(&d);

  cr_assert_eq(parse(&d, "d4:spaml1:a1:bee"), 0);
  int l = be_dict_get_type(&d, 0, "spam", BE_LIST);
  cr_assert(l > 0);
  cr_assert_eq(d.tok[l].v.n, 2);
  cr_assert(be_str_eq(&d, be_child(&d, l), "a"));
  cr_assert_eq(be_dict_get_type(&d, 0, "spam", BE_DICT), -1);
  be_free(&d);
}

Test(bencode, nested_skip)
{
  struct be_doc d;
  const char *s = "d1:ad1:bli1ei2eee1:ci7ee";
  cr_assert_eq(parse(&d, s), 0);
  int64_t v;
  cr_assert_eq(be_int(&d, be_dict_get(&d, 0, "c"), &v), 0);
  cr_assert_eq(v, 7);
  int a = be_dict_get(&d, 0, "a");
  cr_assert_eq(d.tok[a].start, 4);
  cr_assert_eq(d.tok[a].end, 17);
  be_free(&d);
}

Test(bencode, rejections)
{
  reject("i03e", "leading zero", 1);
  reject("i-03e", "leading zero", 2);
  reject("i-0e", "negative zero", 0);
  reject("ie", "expected a digit", 1);
  reject("i-e", "expected a digit", 2);
  reject("i12", "integer not terminated by 'e'", 3);
  reject("i1x", "integer not terminated by 'e'", 2);
  reject("-3:abc", "unexpected character", 0);
  reject("03:abc", "leading zero", 0);
  reject("5:abc", "string runs past the end of input", 0);
  reject("4294967296:x", "number too large", 0);
  reject("3abc", "string length not followed by ':'", 1);
  reject("i1ei2e", "trailing bytes after the value", 3);
  reject("", "empty input", 0);
  reject("l", "unterminated list or dictionary", 1);
  reject("d1:a", "unterminated list or dictionary", 4);
  reject("d1:ae", "dictionary key without a value", 4);
  reject("di1ei2ee", "dictionary key is not a string", 1);
  reject("d1:bi1e1:ai2ee", "dictionary keys not sorted", 7);
  reject("d1:ai1e1:ai2ee", "duplicate dictionary key", 7);
  reject("x", "unexpected character", 0);
  reject("e", "unexpected character", 0);
}

Test(bencode, lax_mode_accepts_unsorted)
{
  struct be_doc d;
  struct be_opts o = {0, 0, 0, 0};
  const char *s = "d1:bi1e1:ai2ee";
  cr_assert_eq(be_parse(&d, s, strlen(s), &o), 0);
  int64_t v;
  be_int(&d, be_dict_get(&d, 0, "a"), &v);
  cr_assert_eq(v, 2);
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(be_encode_canonical(&b, &d, 0), 0);
  cr_assert_str_eq((char *)b.data, "d1:ai2e1:bi1ee");
  sh_buf_free(&b);
  be_free(&d);
}

Test(bencode, depth_limit)
{
  char s[512];
  memset(s, 'l', 101);
  memset(s + 101, 'e', 101);
  s[202] = 0;
  reject(s, "nested too deeply", 100);
  s[100] = 'e'; /* 100 deep is allowed */
  s[201] = 0;
  struct be_doc d;
  cr_assert_eq(parse(&d, s + 0), SH_EBENCODE); /* unbalanced now: 100 l, 101 e */
  be_free(&d);
  memset(s, 'l', 100);
  memset(s + 100, 'e', 100);
  s[200] = 0;
  cr_assert_eq(parse(&d, s), 0);
  be_free(&d);
  struct be_opts o = {5, 0, 1, 0};
  cr_assert_eq(be_parse(&d, "llllllee", 8, &o), SH_EBENCODE);
  cr_assert_str_eq(d.err, "nested too deeply");
  be_free(&d);
}

Test(bencode, token_limit)
{
  struct be_doc d;
  struct be_opts o = {0, 3, 1, 0};
  cr_assert_eq(be_parse(&d, "li1ei2ee", 8, &o), 0);
  be_free(&d);
  cr_assert_eq(be_parse(&d, "li1ei2ei3ee", 11, &o), SH_EBENCODE);
  cr_assert_str_eq(d.err, "too many values");
  cr_assert_eq(d.err_off, 7);
  be_free(&d);
}

Test(bencode, trailing_allowed)
{
  struct be_doc d;
  struct be_opts o = {0, 0, 1, 1};
  cr_assert_eq(be_parse(&d, "d1:ai1eeRAW", 11, &o), 0);
  cr_assert_eq(d.used, 8);
  be_free(&d);
}

Test(bencode, huge_length_does_not_allocate)
{
  /* A length near 4 GiB must be refused by comparison, not by an attempt to
   * allocate it. */
  reject("4294967295:abc", "string runs past the end of input", 0);
}

Test(bencode, binary_strings)
{
  struct be_doc d;
  const char s[] = "3:a\0b";
  cr_assert_eq(be_parse(&d, s, 5, NULL), 0);
  size_t n;
  const uint8_t *p = be_str(&d, 0, &n);
  cr_assert_eq(n, 3);
  cr_assert_eq(p[1], 0);
  be_free(&d);
}

Test(bencode, roundtrips)
{
  roundtrip("4:spam");
  roundtrip("0:");
  roundtrip("i-42e");
  roundtrip("le");
  roundtrip("de");
  roundtrip("l4:spam4:eggse");
  roundtrip("d3:cow3:moo4:spam4:eggse");
  roundtrip("d4:spaml1:a1:bee");
  roundtrip("d8:announce3:url4:infod6:lengthi5e4:name1:x12:piece lengthi16384eee");
}

Test(bencode, writers)
{
  struct sh_buf b = SH_BUF_INIT;
  be_put_dict(&b);
  be_put_cstr(&b, "a");
  be_put_list(&b);
  be_put_int(&b, -1);
  be_put_str(&b, "xy", 2);
  be_put_end(&b);
  be_put_cstr(&b, "b");
  be_put_int(&b, 0);
  be_put_end(&b);
  cr_assert_str_eq((char *)b.data, "d1:ali-1e2:xye1:bi0ee");
  struct be_doc d;
  cr_assert_eq(be_parse(&d, b.data, b.len, NULL), 0);
  be_free(&d);
  sh_buf_free(&b);
}

Test(bencode, canonical_drops_duplicate_keys_of_lax_input)
{
  /* found by fuzz_bencode: lax parse accepts duplicates; the first wins */
  struct be_doc d;
  struct be_opts o = {0, 0, 0, 0};
  cr_assert_eq(be_parse(&d, "d1:ai1e1:ai2ee", 14, &o), 0);
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(be_encode_canonical(&b, &d, 0), 0);
  cr_assert_str_eq((char *)b.data, "d1:ai1ee");
  sh_buf_free(&b);
  be_free(&d);
}
