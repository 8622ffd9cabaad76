/* The public torrent view (struct shoal_torrent_info, include/shoal.h) over
 * the library's parsed metainfo, for the rest of the library: the engine
 * and the checker work on the struct sh_metainfo behind a view. */
#ifndef SHOAL_API_INFO_H
#define SHOAL_API_INFO_H

#include "meta/metainfo.h"
#include "shoal.h"

/* Builds a view of m and takes ownership of m (freed with the view, or here
 * on failure). Returns 0 or -ENOMEM. */
int sh_info_wrap(struct sh_metainfo *m, struct shoal_torrent_info **out);
/* The metainfo behind a view; valid as long as the view. */
const struct sh_metainfo *sh_info_metainfo(const struct shoal_torrent_info *ti);

#endif
