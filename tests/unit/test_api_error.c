/* Public error codes: the same values and sentences as the library's table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "shoal.h"

Test(api_error, sentences)
{
  cr_expect_str_eq(shoal_strerror(SHOAL_EBENCODE), "malformed bencode");
  cr_expect_str_eq(shoal_strerror(SHOAL_EMETAINFO), "invalid torrent file");
  cr_expect_str_eq(shoal_strerror(SHOAL_EHTTP), "HTTP request failed");
  cr_expect_str_eq(shoal_strerror(-ENOENT), strerror(ENOENT), "errno codes read as strerror");
  cr_expect_str_eq(shoal_strerror(-ECANCELED), strerror(ECANCELED));
  cr_expect_str_eq(shoal_strerror(-99999), "unknown error");
  cr_expect_str_eq(shoal_strerror(1), "unknown error");
}

Test(api_error, names)
{
  cr_expect_str_eq(shoal_errname(SHOAL_EMETAINFO), "EMETAINFO");
  cr_expect_str_eq(shoal_errname(SHOAL_ETIMEOUT), "ETIMEOUT");
  cr_expect_str_eq(shoal_errname(-ENOENT), "ENOENT");
  cr_expect_str_eq(shoal_errname(-99999), "EUNKNOWN");
}

Test(api_error, every_code_has_its_own_sentence)
{
  const int codes[] = {SHOAL_EBENCODE, SHOAL_EMETAINFO,   SHOAL_EHASH,   SHOAL_ETRACKER,
                       SHOAL_EPROTO,   SHOAL_ELIMIT,      SHOAL_EUSAGE,  SHOAL_EINCOMPLETE,
                       SHOAL_EBANNED,  SHOAL_ETIMEOUT,    SHOAL_EURL,    SHOAL_EHTTP};
  size_t n = sizeof codes / sizeof *codes;
  for (size_t i = 0; i < n; i++) {
    cr_expect(codes[i] < -4095, "%d is beyond errno's range", codes[i]);
    cr_expect_str_neq(shoal_strerror(codes[i]), "unknown error", "%d", codes[i]);
    for (size_t j = 0; j < i; j++)
      cr_expect_str_neq(shoal_strerror(codes[i]), shoal_strerror(codes[j]));
  }
}
