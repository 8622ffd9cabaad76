/* base/text.c: the one sanitiser for text others supplied, and the log
 * running every message through it. Cases are bytes in, bytes out. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "shoal.h"

static const char *safe(const char *in, size_t n)
{
  static char out[256];
  sh_text_safe(out, sizeof out, in, n);
  return out;
}
#define SAFE(lit) safe(lit, sizeof lit - 1)

Test(text, escape_sequences_from_a_torrent_name_are_defused)
{
  /* the two: retitle the window, clear the screen */
  cr_expect_str_eq(SAFE("a\x1b]0;pwned\x07z"), "a?]0;pwned?z");
  cr_expect_str_eq(SAFE("\x1b[2Jname"), "?[2Jname");
  /* 8-bit CSI as a raw byte and as U+009B; DEL; NUL inside */
  cr_expect_str_eq(SAFE("x\x9b" "2J"), "x?2J");
  cr_expect_str_eq(SAFE("x\xc2\x9b" "2J"), "x?2J");
  cr_expect_str_eq(SAFE("del\x7f"), "del?");
  cr_expect_str_eq(SAFE("a\0b"), "a?b");
  /* a newline would forge a line of output; a tab shifts columns */
  cr_expect_str_eq(SAFE("one\nshoal get: fake\r\t"), "one?shoal get: fake??");
}

Test(text, utf8_is_kept_and_broken_utf8_is_not)
{
  cr_expect_str_eq(SAFE("Café – 日本 🎵"), "Café – 日本 🎵");
  /* stray continuation, overlong '/', surrogate, truncated, above U+10FFFF */
  cr_expect_str_eq(SAFE("\x80x"), "?x");
  cr_expect_str_eq(SAFE("\xc0\xaf"), "??");
  cr_expect_str_eq(SAFE("\xed\xa0\x80"), "???");
  cr_expect_str_eq(SAFE("ab\xe6\x97"), "ab??");
  cr_expect_str_eq(SAFE("\xf4\x90\x80\x80"), "????");
}

Test(text, line_separators_and_bidi_overrides_are_replaced)
{
  cr_expect_str_eq(SAFE("a\xe2\x80\xa8" "b\xe2\x80\xa9"), "a?b?");
  /* "exe.txt" shown as "txt.exe" by a right-to-left override */
  cr_expect_str_eq(SAFE("x\xe2\x80\xaetxt.exe"), "x?txt.exe");
  cr_expect_str_eq(SAFE("\xe2\x81\xa6" "i\xe2\x81\xa9"), "?i?");
  /* neighbours of those ranges stay */
  cr_expect_str_eq(SAFE("\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xaa"), "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xaa");
}

Test(text, in_place_and_cut_at_a_character)
{
  char buf[32] = "ab\x1b[2Jcd";
  cr_expect_eq(sh_text_safe(buf, sizeof buf, buf, strlen(buf)), 8);
  cr_expect_str_eq(buf, "ab?[2Jcd");
  char small[5];
  /* "é" takes two bytes: it is not split, the output stops before it */
  cr_expect_eq(sh_text_safe(small, sizeof small, "abcé", 5), 3);
  cr_expect_str_eq(small, "abc");
  cr_expect_eq(sh_text_safe(small, 0, "abc", 3), 0);
  char pub[16];
  cr_expect_eq(shoal_text_safe(pub, sizeof pub, "n\x1b]0;x\x07"), 7);
  cr_expect_str_eq(pub, "n?]0;x?");
}

static char seen[1100];
static void sink(void *ud, enum shoal_log_level l, const char *msg)
{
  snprintf(seen, sizeof seen, "%s", msg);
}

Test(text, every_log_line_is_made_safe_before_the_sink)
{
  shoal_log_set_sink(sink, NULL);
  shoal_log_set_level(SHOAL_LOG_INFO);
  sh_info("%s: tracker says: %s", "ev\x1b[2Jil", "fail\x1b]0;t\x07\nnext");
  cr_expect_str_eq(seen, "ev?[2Jil: tracker says: fail?]0;t??next");
  shoal_log_set_sink(NULL, NULL);
}
