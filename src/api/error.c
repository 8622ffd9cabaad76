/* Public error strings: the library's one table (base/error.h). */
#include "shoal.h"

#include "base/error.h"

const char *shoal_strerror(int code)
{
  /* Every internal code has a public twin of the same value: a code added
   * to SH_ERRORS without its SHOAL_E* fails the build here. */
#define XX(name, value, msg) _Static_assert((int)SHOAL_E##name == (int)SH_E##name, "SHOAL_E" #name);
  SH_ERRORS(XX)
#undef XX
  return sh_strerror(code);
}

const char *shoal_errname(int code) { return sh_errname(code); }
