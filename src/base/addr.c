/* Peer addresses; see addr.h. */
#include "base/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int sh_addr_from_sockaddr(struct sh_addr *a, const struct sockaddr *sa)
{
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    a->family = 4;
    memcpy(a->ip, &in->sin_addr, 4);
    a->port = ntohs(in->sin_port);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    /* An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 peer: keying it
     * as IPv4 keeps bans and dedup working across both listeners. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(&in6->sin6_addr, mapped, 12)) {
      a->family = 4;
      memcpy(a->ip, (const uint8_t *)&in6->sin6_addr + 12, 4);
    } else {
      a->family = 6;
      memcpy(a->ip, &in6->sin6_addr, 16);
    }
    a->port = ntohs(in6->sin6_port);
    return 0;
  }
  return -EAFNOSUPPORT;
}

void sh_addr_to_sockaddr(const struct sh_addr *a, struct sockaddr_storage *ss)
{
  memset(ss, 0, sizeof *ss);
  if (a->family == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, a->ip, 4);
    in->sin_port = htons(a->port);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, a->ip, 16);
    in6->sin6_port = htons(a->port);
  }
}

void sh_addr_str(const struct sh_addr *a, char *out, size_t n)
{
  char ip[INET6_ADDRSTRLEN];
  if (a->family == 4) {
    inet_ntop(AF_INET, a->ip, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, a->port);
  } else {
    inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, a->port);
  }
}

int sh_addr_same_ip(const struct sh_addr *a, const struct sh_addr *b)
{
  return a->family == b->family && !memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16);
}

int sh_addr_eq(const struct sh_addr *a, const struct sh_addr *b)
{
  return sh_addr_same_ip(a, b) && a->port == b->port;
}

int sh_addr_is_loopback(const struct sh_addr *a)
{
  static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a->family == 4 ? a->ip[0] == 127 : !memcmp(a->ip, lo6, 16);
}
