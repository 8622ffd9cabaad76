#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sh_strerror(int err)
{
  switch (err) {
#define XX(name, code, msg) case code: return msg;
    SH_ERRORS(XX)
#undef XX
  default: break;
  }
  if (err < 0 && err > -4096)
    return strerror(-err);
  return "unknown error";
}

const char *sh_errname(int err)
{
  switch (err) {
#define XX(name, code, msg) case code: return "E" #name;
    SH_ERRORS(XX)
#undef XX
  case -ENOENT: return "ENOENT";
  case -EACCES: return "EACCES";
  case -ENOMEM: return "ENOMEM";
  case -EINVAL: return "EINVAL";
  case -EEXIST: return "EEXIST";
  case -ENOSPC: return "ENOSPC";
  case -EIO: return "EIO";
  default: return "EUNKNOWN";
  }
}

int sh_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}
