/* One UDP socket bound to one address and port, shared by everything that
 * speaks UDP in a session: UDP tracker replies, DHT and uTP arrive on it
 * and are told apart by net/udp_demux.c. The session opens one per TCP
 * listen address, on the TCP port, as other clients expect (DHT nodes and
 * uTP peers reach us at the port we announce).
 *
 * Reading: when the socket is readable, recvmmsg() takes up to
 * SH_UDP_RECV_BATCH datagrams into slots allocated once at open, so no
 * datagram costs an allocation; each is handed to its consumer. Sending:
 * sh_udp_send() writes at once (sendto), except while the socket is
 * corked; datagrams sent from a consumer's callback, or between
 * sh_udp_cork() and sh_udp_uncork(), are gathered and leave together in
 * sendmmsg() calls. UDP is lossy by contract: a send that would block is
 * dropped and counted, never queued, and callers retransmit.
 *
 * Ownership: sh_udp_open() allocates; sh_udp_close() stops delivery at
 * once and frees the socket from the loop afterwards (done(ud) then). The
 * owner closes it only after every user (the UDP tracker client, uTP, later
 * DHT) is gone. Everything runs on the loop thread. */
#ifndef SHOAL_NET_UDP_H
#define SHOAL_NET_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include "net/udp_demux.h"

/* Datagrams read per recvmmsg() and the size of each slot: 4 KiB holds an
 * MTU-sized DHT or uTP packet and a BEP 15 announce reply to our numwant 80
 * even over IPv6 (20 + 80 * 18 = 1460 bytes) with room to spare; longer
 * datagrams are counted as truncated and dropped. 32 slots: 128 KiB per
 * socket, allocated once (2 MiB of 64 KiB slots once uTP turns GRO on,
 * sh_udp_set_gro). */
#define SH_UDP_RECV_BATCH 32
#define SH_UDP_RECV_SLOT 4096
/* Corked sends: up to this many datagrams of up to this size wait for one
 * sendmmsg(); a larger one flushes the batch and goes out alone. 1500 is
 * an Ethernet MTU, which no DHT, uTP or tracker request should exceed. */
#define SH_UDP_SEND_BATCH 32
#define SH_UDP_SEND_SLOT 1500

struct sh_udp;

/* Binds a non-blocking socket to addr (IPv6 sockets are IPV6_V6ONLY, so
 * "::" and "0.0.0.0" can share a port) and starts reading. Returns 0 or a
 * negative errno (e.g. -EADDRINUSE). */
int sh_udp_open(uv_loop_t *loop, const struct sockaddr *addr, struct sh_udp **out);
void sh_udp_close(struct sh_udp *u, void (*done)(void *ud), void *ud);

/* The bound address (with the port the kernel chose for port 0). */
void sh_udp_local(const struct sh_udp *u, struct sockaddr_storage *ss);
int sh_udp_family(const struct sh_udp *u); /* AF_INET or AF_INET6 */

/* Consumers: see net/udp_demux.h. */
void sh_udp_set_consumer(struct sh_udp *u, enum sh_udp_kind k, sh_udp_recv_cb cb, void *ud);

/* ICMP errors. The socket asks for them (IP_RECVERR, IPV6_RECVERR): a
 * datagram to a port nobody listens on comes back as "port unreachable"
 * within a round trip (at once on loopback), which tells a UDP tracker
 * client its tracker is not there rather than leaving it to wait out BEP
 * 15's schedule of hours. Each error is handed, with the address the
 * bounced datagram was sent to and its quoted bytes (what the kernel kept
 * of them, maybe none), to every consumer that asked: err is a negative
 * errno (-ECONNREFUSED for port unreachable, -EHOSTUNREACH, -ENETUNREACH,
 * ...). An ICMP error is not authenticated: a consumer treats it as a hint
 * to give up early, never as more. Counted in the stats (icmp_errors). */
typedef void (*sh_udp_error_cb)(void *ud, const struct sockaddr *to, int err, const uint8_t *p,
                                size_t n);
void sh_udp_set_error_consumer(struct sh_udp *u, enum sh_udp_kind k, sh_udp_error_cb cb, void *ud);
int sh_udp_expect(struct sh_udp *u, const struct sockaddr *from, uint32_t tid,
                  sh_udp_recv_cb cb, void *ud);
int sh_udp_unexpect(struct sh_udp *u, const struct sockaddr *from, uint32_t tid);

/* Sends one datagram for consumer k (counted under it). Returns 0 when it
 * was sent or queued; a negative errno when it was dropped (-EAGAIN: the
 * socket buffer is full). A queued datagram that fails later is only
 * counted. p is copied (or sent) before the call returns. */
int sh_udp_send(struct sh_udp *u, enum sh_udp_kind k, const void *p, size_t n,
                const struct sockaddr *to);
/* Nested: sends made until the matching uncork go out in batches. */
void sh_udp_cork(struct sh_udp *u);
void sh_udp_uncork(struct sh_udp *u);

/* Sends n datagrams to one address, each one iovec (not copied): with n
 * equal but the last (not longer), at most 64 and 64 KiB in all, in one
 * system call with UDP segmentation offload (GSO) where the kernel has it;
 * else in sendmmsg calls. Never corked (it flushes what is). Returns 0, or
 * a negative errno when some were dropped (-EAGAIN: the buffer is full). */
int sh_udp_send_many(struct sh_udp *u, enum sh_udp_kind k, const struct iovec *pkt, int n,
                     const struct sockaddr *to);
/* Bulk receiving (uTP): the kernel may coalesce a sender's datagrams into
 * one read (UDP GRO), which is split again before the consumers see it;
 * slots grow to 64 KiB and the socket buffers to 4 MiB. Returns 0 or a
 * negative errno (then nothing changed). */
int sh_udp_set_gro(struct sh_udp *u);
/* The receive buffer the kernel gave the socket, in bytes (what SO_RCVBUF
 * reads back: twice what was asked for, capped by net.core.rmem_max). */
int sh_udp_rcvbuf(const struct sh_udp *u);
/* Never fragment what we send (the DF bit; uTP probes the path's MTU). */
int sh_udp_set_dont_fragment(struct sh_udp *u);
/* fn(ud) runs after each batch of reads that delivered datagrams of kind
 * k: a consumer's moment to answer them together (uTP's acks). */
void sh_udp_set_batch_end(struct sh_udp *u, enum sh_udp_kind k, void (*fn)(void *ud), void *ud);

void sh_udp_stats(const struct sh_udp *u, struct sh_udp_stats *st);

#endif
