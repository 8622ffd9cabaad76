/* shoal_session_new: the engine's session (src/engine/session.c) with the
 * BEP 10 extensions of src/ext/ registered. Here, above both, because the
 * extensions build on the engine: the engine never calls up into them but
 * through its registry (engine/ext.h). */
#include "base/log.h"
#include "engine/session.h"
#include "ext/ut_metadata.h"
#include "ext/ut_pex.h"
#include "shoal.h"

int shoal_session_new(uv_loop_t *loop, const struct shoal_settings *set, shoal_session **out,
                      char *err, size_t errlen)
{
  int rc = sh_session_new(loop, set, out, err, errlen);
  if (rc < 0)
    return rc;
  /* the registry has room for 16, so only memory can make these fail; the
   * session still serves .torrent files without them */
  if (sh_ut_metadata_register(*out) < 0)
    sh_warn("out of memory: no ut_metadata, so magnet links cannot be fetched");
  if (set->pex && sh_ut_pex_register(*out) < 0)
    sh_warn("out of memory: no peer exchange (ut_pex)");
  return 0;
}
