/* Local service discovery announces (BEP 14): HTTP-like text over UDP
 * multicast,
 *
 *   BT-SEARCH * HTTP/1.1\r\n
 *   Host: 239.192.152.143:6771\r\n      (or [ff15::efc0:988f]:6771)
 *   Port: <our TCP port>\r\n
 *   Infohash: <40 hex>\r\n              (one or more)
 *   cookie: <ours, to know our own announces when they loop back>\r\n
 *   \r\n
 *   \r\n
 *
 * Pure: bytes in, bytes or a decoded announce out. Parsing takes untrusted
 * datagrams (fuzzed: fuzz_lsd.c): header names are matched without regard
 * to case, unknown headers are ignored, lines may end in a bare \n. */
#ifndef SHOAL_LSD_MSG_H
#define SHOAL_LSD_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SH_LSD_PORT 6771
#define SH_LSD_GROUP4 "239.192.152.143"
#define SH_LSD_GROUP6 "ff15::efc0:988f"
/* BEP 14: an announce with several info-hashes stays under 1400 bytes,
 * so it is never fragmented: 25 hashes fit beside the headers. */
#define SH_LSD_MAX_PACKET 1400
/* Info-hashes read from one announce; more are ignored. A full 1400-byte
 * packet holds about 26. */
#define SH_LSD_MAX_HASHES 32
#define SH_LSD_COOKIE_MAX 32

struct sh_lsd_msg {
  uint16_t port;                        /* where the announcer listens */
  char cookie[SH_LSD_COOKIE_MAX + 1];   /* "" when absent */
  uint8_t ih[SH_LSD_MAX_HASHES][20];
  int nih;
  int skipped;                          /* Infohash lines not used (malformed, over the bound) */
};

/* Writes an announce of hashes ih[0..n) for port, with cookie, into out
 * (cap bytes, at least SH_LSD_MAX_PACKET), as many hashes as fit in
 * SH_LSD_MAX_PACKET bytes. Returns the bytes written; *used gets how many
 * hashes went in. v6 picks the Host header's group. */
size_t sh_lsd_msg_format(uint8_t *out, size_t cap, int v6, uint16_t port,
                         const uint8_t (*ih)[20], size_t n, const char *cookie, size_t *used);

/* Decodes an announce. Returns 0, or -1 with *why: not a BT-SEARCH
 * request, no valid Port, no valid Infohash. */
int sh_lsd_msg_parse(const uint8_t *p, size_t n, struct sh_lsd_msg *m, const char **why);

#endif
