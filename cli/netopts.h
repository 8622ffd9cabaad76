/* Network options shared by `shoal get` and `shoal seed`: listening address
 * and port, peers added by hand, peer limits, rate limits, uTP, encryption,
 * verbosity.
 *
 * Use: netopts_init(), then pass every option getopt_long returns to
 * netopts_parse() (its long options are NETOPTS_LONG, its short ones
 * NETOPTS_SHORT, to be merged into the command's own tables), then read
 * o->settings and o->peers. netopts_free() releases what parsing allocated.
 * Parsing never touches the network: hostnames given to --peer are resolved
 * once, with getaddrinfo, by netopts_resolve() before the loop starts. */
#ifndef SHOAL_CLI_NETOPTS_H
#define SHOAL_CLI_NETOPTS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "shoal.h"

/* getopt_long codes of the shared long options; 0x100 and up so they never
 * clash with a command's single-letter options. */
enum {
  NETOPT_PORT = 0x100,
  NETOPT_BIND,
  NETOPT_PEER,
  NETOPT_MAX_PEERS,
  NETOPT_UP_RATE,
  NETOPT_DOWN_RATE,
  NETOPT_LOCAL_SENDFILE,
  NETOPT_DHT_BOOTSTRAP,
  NETOPT_NO_DHT,
  NETOPT_LSD,
  NETOPT_NO_PEX,
  NETOPT_UTP,
  NETOPT_UTP_ONLY,
  NETOPT_ENCRYPTION,
  NETOPT_JSON,
  NETOPT_JSON_EVERY,
};

#define NETOPTS_SHORT "qv"
#define NETOPTS_LONG                                                                    \
  {"port", required_argument, NULL, NETOPT_PORT},                                       \
  {"bind", required_argument, NULL, NETOPT_BIND},                                       \
  {"peer", required_argument, NULL, NETOPT_PEER},                                       \
  {"max-peers", required_argument, NULL, NETOPT_MAX_PEERS},                             \
  {"up-rate", required_argument, NULL, NETOPT_UP_RATE},                                 \
  {"down-rate", required_argument, NULL, NETOPT_DOWN_RATE},                             \
  {"local-sendfile", no_argument, NULL, NETOPT_LOCAL_SENDFILE},                         \
  {"dht-bootstrap", required_argument, NULL, NETOPT_DHT_BOOTSTRAP},                     \
  {"no-dht", no_argument, NULL, NETOPT_NO_DHT},                                         \
  {"lsd", no_argument, NULL, NETOPT_LSD},                                               \
  {"no-pex", no_argument, NULL, NETOPT_NO_PEX},                                         \
  {"utp", required_argument, NULL, NETOPT_UTP},                                         \
  {"utp-only", no_argument, NULL, NETOPT_UTP_ONLY},                                     \
  {"encryption", required_argument, NULL, NETOPT_ENCRYPTION},                           \
  {"json", no_argument, NULL, NETOPT_JSON},                                             \
  {"json-every", required_argument, NULL, NETOPT_JSON_EVERY},                           \
  {"quiet", no_argument, NULL, 'q'},                                                    \
  {"verbose", no_argument, NULL, 'v'}

/* --json reports every 2 s unless --json-every says otherwise. */
#define NETOPTS_JSON_EVERY_MS 1000

/* Listen addresses beyond this are refused: shoal_settings holds three plus
 * its NULL terminator. */
#define NETOPTS_MAX_BIND 3

/* A name like "localhost" may stand for 127.0.0.1 and ::1 with the peer
 * listening on only one: every address is dialled, up to this many. */
#define NETOPTS_MAX_ADDRS 4

struct netopts_peer {
  char *spec;                   /* as given, for messages; owned */
  struct sockaddr_storage addr[NETOPTS_MAX_ADDRS]; /* filled by netopts_resolve() */
  int naddr;
};

/* The DHT bootstrap nodes when none is given: the public routers that
 * libtorrent, Transmission and uTorrent ship. The environment variable
 * SHOAL_DHT_BOOTSTRAP replaces them (a comma-separated list; "none" or
 * empty: no bootstrap node), which is how the test suite and the
 * benchmarks keep every node on this machine. */
#define NETOPTS_DHT_ROUTERS                                                                   \
  "router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "router.utorrent.com:6881",  \
      "dht.libtorrent.org:25401"
#define NETOPTS_DHT_ENV "SHOAL_DHT_BOOTSTRAP"
#define NETOPTS_MAX_DHT_BOOT 16

struct netopts {
  struct shoal_settings settings; /* defaults, then the options; bind[] points
                                     into argv */
  struct netopts_peer *peers;     /* --peer, in order; owned */
  size_t npeers;
  /* --dht-bootstrap, NULL-terminated (pointing into argv), or the defaults
   * above once netopts_dht_finish() ran; settings.dht_bootstrap points here */
  const char *dht_boot[NETOPTS_MAX_DHT_BOOT + 1];
  size_t ndht_boot;
  char *dht_env;                  /* a copy of the environment's list, owned */
  int verbosity;                  /* -1 with -q, 0, 1 with -v, 2 with -vv */
  uint32_t json_every_ms;         /* --json: a report this often; 0 = none */
};

void netopts_init(struct netopts *o);
void netopts_free(struct netopts *o);

/* Handles option opt (a getopt_long return value) with argument arg.
 * Returns 1 when handled, 0 when opt is not a shared option, or -1 after
 * printing "shoal CMD: ..." naming the bad value on stderr. */
int netopts_parse(struct netopts *o, const char *cmd, int opt, const char *arg);

/* Settles the DHT bootstrap list: the --dht-bootstrap options, else
 * SHOAL_DHT_BOOTSTRAP, else the public routers; points
 * settings.dht_bootstrap at it. netopts_run_start() calls it. */
void netopts_dht_finish(struct netopts *o);

/* Resolves every --peer (host names once, up to NETOPTS_MAX_ADDRS distinct
 * addresses each). Returns 0, or -1 after printing which peer could not be
 * resolved. */
int netopts_resolve(struct netopts *o, const char *cmd);

/* Hands every resolved --peer address to torrent id; prints (does not fail
 * on) the ones the engine refuses. */
void netopts_add_peers(const struct netopts *o, shoal_session *s, shoal_id id, const char *cmd);

/* Applies -q/-v to the library's log threshold. */
void netopts_apply_log(const struct netopts *o);

/* Whether to redraw a live status line in place: the usable width (the
 * terminal's columns less one, so the cursor never wraps), or 0 when stdout
 * is not a terminal or -v logs to the same terminal (log lines would land in
 * the middle of the redrawn line): then print plain lines from time to time. */
int netopts_live_width(const struct netopts *o);

/* The help text of the shared options, for a command's --help. */
void netopts_usage(FILE *f);

/* ---- the run-time both commands share ----
 * One loop (the default loop), one session, a timer that calls tick, and
 * SIGINT/SIGTERM handlers: the first signal asks for a graceful stop
 * (shoal_session_close: announce `stopped`, flush, save resume data), a
 * second one exits at once with 128 + signal. */
struct netopts_run {
  uv_loop_t *loop;
  shoal_session *sess;
  const char *cmd;
  void (*tick)(struct netopts_run *r); /* every tick_ms on the loop thread */
  void (*on_signal)(struct netopts_run *r, int signo); /* before stopping */
  /* each event of the session, on the loop thread, outside engine code */
  void (*event)(struct netopts_run *r, const struct shoal_event *e);
  void *ud;
  uint64_t tick_ms;
  int signo;     /* the first signal received, or 0 */
  int stopping;  /* netopts_run_stop was called */
  int closed;    /* the session is closed */
  uint64_t end_ms; /* the loop's clock when it ended (the loop is closed then) */
  uv_timer_t timer;
  uv_signal_t sig[2];
};

/* Creates the session from o->settings (the DHT bootstrap list settled by
 * netopts_dht_finish) and starts the timer and signal handlers. Returns
 * 0, or -1 after printing why. */
int netopts_run_start(struct netopts_run *r, struct netopts *o, const char *cmd,
                      uint64_t tick_ms);
/* Begins the graceful close; idempotent. The loop then ends by itself. */
void netopts_run_stop(struct netopts_run *r);
/* Runs the tick on the next loop turn (then every tick_ms again). */
void netopts_run_tick_soon(struct netopts_run *r);
/* Runs the loop to its end and releases it. */
void netopts_run_loop(struct netopts_run *r);

/* Human-readable figures into buf (returned): "12.3 MiB/s", "1h02m",
 * "4m05s", "12s". Sizes: cli_human_size() in util.h. */
const char *netopts_fmt_rate(uint64_t bps, char *buf, size_t len);
const char *netopts_fmt_duration(uint64_t secs, char *buf, size_t len);

/* Exposed for the tests and for other commands that take the same syntax. */

/* HOST:PORT, 1.2.3.4:PORT or [IPv6]:PORT. Splits into host (NUL-terminated,
 * brackets removed, at most hostlen-1 bytes) and port 1..65535. Returns 0 or
 * -1 with a reason in err. */
int netopts_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
                           const char **err);
/* A rate in bytes per second: cli_parse_size()'s syntax (K, M, G suffixes,
 * powers of 1024 as aria2c and curl read them), optional "/s"; 0 means
 * unlimited. Returns 0 or -1. */
int netopts_parse_rate(const char *s, int64_t *out);

#endif
