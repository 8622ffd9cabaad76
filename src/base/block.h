/* The unit BitTorrent moves data in, shared by the wire codec (what we ask
 * for and accept) and the piece picker (how it cuts pieces). */
#ifndef SHOAL_BASE_BLOCK_H
#define SHOAL_BASE_BLOCK_H

/* BEP 3: the de-facto request size; every common client asks for 16 KiB
 * and many refuse more. */
#define SH_BLOCK_SIZE 16384u

#endif
