/* Internal to the sha1_mb*.c files: the block functions each implementation
 * provides. A block function runs nblocks 64-byte blocks of every lane
 * i < n whose p[i] is not NULL through the compression function, updating
 * h[i] (FIPS 180-4 §6.1.2 step 2-4, the H words in host order). */
#ifndef SHOAL_SHA1_MB_IMPL_H
#define SHOAL_SHA1_MB_IMPL_H

#include <stddef.h>
#include <stdint.h>

typedef void sh_sha1_mb_blocks_fn(uint32_t (*h)[5], const uint8_t *const *p, unsigned n,
                                  size_t nblocks);

#if defined(__x86_64__) || defined(__i386__)
#define SH_SHA1_MB_X86 1
sh_sha1_mb_blocks_fn sh_sha1_mb_blocks_shani;
sh_sha1_mb_blocks_fn sh_sha1_mb_blocks_shani4;
sh_sha1_mb_blocks_fn sh_sha1_mb_blocks_avx2;
sh_sha1_mb_blocks_fn sh_sha1_mb_blocks_avx512;
#endif

#endif
