/* The checker: hashes a torrent's data on disk against its piece hashes with
 * several threads, reading whole pieces with large sequential reads. Used by
 * `shoal verify` and by the engine's start-up check (from a worker thread). */
#ifndef SHOAL_CHECK_H
#define SHOAL_CHECK_H

#include <stdint.h>

#include "disk/storage.h"

enum sh_piece_state { SH_PIECE_OK = 0, SH_PIECE_MISSING = 1, SH_PIECE_CORRUPT = 2 };

struct sh_check_opts {
  int threads;            /* 0: all cores */
  const uint8_t *only;    /* NULL, or a bitfield of the pieces to check */
  /* Progress, called from checker threads (serialised), may be NULL. */
  void (*progress)(void *ud, uint32_t done, uint32_t total, uint64_t bytes);
  void *ud;
  volatile int *cancel;   /* set non-zero to stop early; may be NULL */
};

/* Fills state[num_pieces] with enum sh_piece_state values. Returns 0 (even if
 * pieces are missing or corrupt), SH_ETIMEOUT when cancelled, or -errno for a
 * failure unrelated to the data (out of memory, threads). */
int sh_check_run(const struct sh_metainfo *m, struct sh_storage *s, uint8_t *state,
                 const struct sh_check_opts *opts);

#endif
