/* The tracker as a running service: libuv front ends (HTTP through
 * net/http_server, UDP datagrams) around the pure core in tracker.h and
 * udp_proto.h, plus the hosted torrents, the web page, signals and timers.
 *
 * With threads > 1 every worker thread has its own loop and its own
 * SO_REUSEPORT sockets on the same ports, so the kernel spreads clients over
 * them; they share one store (locked per bucket), one policy and one hosting
 * set. The main thread runs worker 0 and also owns the signals (SIGINT and
 * SIGTERM stop, SIGHUP reloads) and the timers (peer expiry, request rates). */
#ifndef SHOAL_TRACKER_SERVER_H
#define SHOAL_TRACKER_SERVER_H

#include "tracker/tracker.h"

#define SERVER_MAX_BINDS 8
#define SERVER_MAX_THREADS 64

struct server_config {
  struct tracker_config trk;
  const char *data_dir;
  const char *binds[SERVER_MAX_BINDS]; /* addresses; none means 0.0.0.0 and :: */
  int nbinds;
  int http_port;        /* 0: ephemeral; -1: no HTTP */
  int udp_port;         /* 0: ephemeral (the HTTP port when HTTP is on); -1: no UDP */
  int threads;
  const char *upload_token; /* NULL: uploads disabled */
  const char *blocklist;    /* NULL: DATA/blocklist when it exists */
  const char *add[64];      /* .torrent files to host from start-up */
  int nadd;
  unsigned idle_timeout_ms;
  unsigned max_conns;       /* per worker */
};

void server_config_defaults(struct server_config *c);

/* Runs until SIGINT or SIGTERM. Returns 0 after a clean shutdown, 1 when it
 * could not start (the reason is logged). */
int server_run(const struct server_config *c);

#endif
