/* A peer's address as a fixed-size comparable key, and its conversions.
 *
 * struct sh_addr is a plain value (no pointers, no ownership): the peer and
 * ban lists (swarm/peers.h), connections and the compact-peer codec
 * (base/compact.h) all copy it freely. Pure: no sockets, no DNS. */
#ifndef SHOAL_ADDR_H
#define SHOAL_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Family, 16 address bytes (IPv4 in the first 4, the rest zero), port in
 * host order. */
struct sh_addr {
  uint8_t family; /* 4 or 6 */
  uint8_t ip[16];
  uint16_t port;
};

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes family 4, so one
 * peer has one key whichever listener it reached. Returns 0 or
 * -EAFNOSUPPORT. */
int sh_addr_from_sockaddr(struct sh_addr *a, const struct sockaddr *sa);
void sh_addr_to_sockaddr(const struct sh_addr *a, struct sockaddr_storage *ss);
/* "1.2.3.4:6881" or "[::1]:6881" into out (at least 64 bytes). */
void sh_addr_str(const struct sh_addr *a, char *out, size_t n);
int sh_addr_same_ip(const struct sh_addr *a, const struct sh_addr *b);
int sh_addr_eq(const struct sh_addr *a, const struct sh_addr *b);
int sh_addr_is_loopback(const struct sh_addr *a);

#endif
