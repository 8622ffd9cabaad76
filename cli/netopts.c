/* Shared network options of `shoal get` and `shoal seed`; see netopts.h. */
#include "netopts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

void netopts_init(struct netopts *o)
{
  memset(o, 0, sizeof *o);
  shoal_settings_default(&o->settings);
  o->settings.dht = 1; /* the library's default is off; a client wants it */
}

void netopts_free(struct netopts *o)
{
  for (size_t i = 0; i < o->npeers; i++)
    free(o->peers[i].spec);
  free(o->peers);
  o->peers = NULL;
  o->npeers = 0;
  free(o->dht_env);
  o->dht_env = NULL;
}

void netopts_dht_finish(struct netopts *o)
{
  o->settings.dht_bootstrap = o->dht_boot;
  if (o->ndht_boot)
    return; /* given on the command line */
  const char *env = getenv(NETOPTS_DHT_ENV);
  if (!env) {
    static const char *const routers[] = {NETOPTS_DHT_ROUTERS};
    for (size_t i = 0; i < sizeof routers / sizeof routers[0]; i++)
      o->dht_boot[o->ndht_boot++] = routers[i];
    return;
  }
  free(o->dht_env);
  if (!strcmp(env, "none") || !(o->dht_env = strdup(env)))
    return;
  for (char *save = NULL, *t = strtok_r(o->dht_env, ", ", &save);
       t && o->ndht_boot < NETOPTS_MAX_DHT_BOOT; t = strtok_r(NULL, ", ", &save))
    o->dht_boot[o->ndht_boot++] = t;
}

int netopts_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
                           const char **err)
{
  const char *h = s, *colon;
  size_t hl;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close) {
      *err = "missing ']' after an IPv6 address";
      return -1;
    }
    h = s + 1;
    hl = (size_t)(close - h);
    if (close[1] != ':') {
      *err = "expected ':PORT' after ']'";
      return -1;
    }
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) {
      *err = "expected HOST:PORT";
      return -1;
    }
    if (memchr(s, ':', (size_t)(colon - s))) {
      *err = "an IPv6 address needs brackets: [ADDR]:PORT";
      return -1;
    }
    hl = (size_t)(colon - s);
  }
  if (hl == 0) {
    *err = "empty host";
    return -1;
  }
  if (hl >= hostlen) {
    *err = "host name too long";
    return -1;
  }
  const char *p = colon + 1;
  if (*p < '0' || *p > '9') {
    *err = "port must be a number 1-65535";
    return -1;
  }
  char *end;
  errno = 0;
  unsigned long v = strtoul(p, &end, 10);
  if (*end || errno || v < 1 || v > 65535) {
    *err = "port must be a number 1-65535";
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = 0;
  *port = (uint16_t)v;
  return 0;
}

int netopts_parse_rate(const char *s, int64_t *out)
{
  /* the size syntax of every other command, plus an optional "/s" */
  char tmp[64];
  size_t n = strlen(s);
  if (n >= 2 && !strcmp(s + n - 2, "/s"))
    n -= 2;
  if (n >= sizeof tmp)
    return -1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  uint64_t v;
  /* 2^53 B/s is 8 PB/s: beyond any link; refuse it as a typo */
  if (cli_parse_size(tmp, &v) < 0 || v > ((uint64_t)1 << 53))
    return -1;
  *out = (int64_t)v;
  return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
  /* digits only: strtol would also take " +5" */
  if (*s < '0' || *s > '9')
    return -1;
  return cli_parse_int(s, lo, hi, out);
}

static int bad(const char *cmd, const char *opt, const char *arg, const char *why)
{
  fprintf(stderr, "shoal %s: %s '%s': %s\n", cmd, opt, arg, why);
  return -1;
}

/* HOST:PORT syntax of --peer and --dht-bootstrap (resolved later). */
static int check_hostport(const char *cmd, const char *opt, const char *arg)
{
  char host[256];
  uint16_t port;
  const char *why;
  if (netopts_split_hostport(arg, host, sizeof host, &port, &why) < 0)
    return bad(cmd, opt, arg, why);
  return 0;
}

int netopts_parse(struct netopts *o, const char *cmd, int opt, const char *arg)
{
  struct shoal_settings *s = &o->settings;
  long v;
  switch (opt) {
  case NETOPT_PORT:
    if (parse_int(arg, 0, 65535, &v) < 0)
      return bad(cmd, "--port", arg, "expected a port number 0-65535 (0: any free port)");
    s->port = (uint16_t)v;
    return 1;
  case NETOPT_BIND: {
    unsigned char tmp[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, arg, tmp) != 1 && inet_pton(AF_INET6, arg, tmp) != 1)
      return bad(cmd, "--bind", arg, "expected a numeric IPv4 or IPv6 address");
    int n = 0;
    while (n < NETOPTS_MAX_BIND && s->bind[n])
      n++;
    if (n == NETOPTS_MAX_BIND)
      return bad(cmd, "--bind", arg, "at most 3 listen addresses");
    s->bind[n] = arg;
    s->bind[n + 1] = NULL;
    return 1;
  }
  case NETOPT_PEER: {
    if (check_hostport(cmd, "--peer", arg) < 0)
      return -1;
    struct netopts_peer *p = realloc(o->peers, (o->npeers + 1) * sizeof *p);
    if (!p)
      return bad(cmd, "--peer", arg, "out of memory");
    o->peers = p;
    memset(&p[o->npeers], 0, sizeof *p);
    p[o->npeers].spec = strdup(arg);
    if (!p[o->npeers].spec)
      return bad(cmd, "--peer", arg, "out of memory");
    o->npeers++;
    return 1;
  }
  case NETOPT_MAX_PEERS:
    /* 10,000 is far above what one process should hold open; refuse typos */
    if (parse_int(arg, 1, 10000, &v) < 0)
      return bad(cmd, "--max-peers", arg, "expected a number 1-10000");
    s->max_peers_per_torrent = (int)v;
    if (s->max_peers_total < (int)v)
      s->max_peers_total = (int)v;
    return 1;
  case NETOPT_UP_RATE:
  case NETOPT_DOWN_RATE: {
    int64_t r;
    const char *name = opt == NETOPT_UP_RATE ? "--up-rate" : "--down-rate";
    if (netopts_parse_rate(arg, &r) < 0)
      return bad(cmd, name, arg, "expected bytes per second with an optional K or M suffix, e.g. 500K");
    if (opt == NETOPT_UP_RATE)
      s->upload_rate = r;
    else
      s->download_rate = r;
    return 1;
  }
  case NETOPT_LOCAL_SENDFILE:
    s->local_sendfile = 1;
    return 1;
  case NETOPT_DHT_BOOTSTRAP:
    if (check_hostport(cmd, "--dht-bootstrap", arg) < 0)
      return -1;
    if (o->ndht_boot == NETOPTS_MAX_DHT_BOOT)
      return bad(cmd, "--dht-bootstrap", arg, "at most 16 bootstrap nodes");
    o->dht_boot[o->ndht_boot++] = arg;
    return 1;
  case NETOPT_NO_DHT:
    s->dht = 0;
    return 1;
  case NETOPT_LSD:
    s->lsd = 1;
    return 1;
  case NETOPT_NO_PEX:
    s->pex = 0;
    return 1;
  case NETOPT_UTP:
    if (strcmp(arg, "on") && strcmp(arg, "off"))
      return bad(cmd, "--utp", arg, "expected on or off");
    s->utp = !strcmp(arg, "on");
    if (!s->utp)
      s->utp_only = 0;
    return 1;
  case NETOPT_UTP_ONLY:
    s->utp = s->utp_only = 1;
    return 1;
  case NETOPT_ENCRYPTION:
    if (!strcmp(arg, "prefer"))
      s->encryption = SHOAL_ENC_PREFER;
    else if (!strcmp(arg, "require"))
      s->encryption = SHOAL_ENC_REQUIRE;
    else if (!strcmp(arg, "off"))
      s->encryption = SHOAL_ENC_OFF;
    else
      return bad(cmd, "--encryption", arg, "expected prefer, require or off");
    return 1;
  case NETOPT_JSON:
    if (!o->json_every_ms)
      o->json_every_ms = NETOPTS_JSON_EVERY_MS;
    return 1;
  case NETOPT_JSON_EVERY:
    if (parse_int(arg, 1, 3600, &v) < 0)
      return bad(cmd, "--json-every", arg, "expected seconds between reports, 1-3600");
    o->json_every_ms = (uint32_t)v * 1000;
    return 1;
  case 'q':
    o->verbosity = -1;
    return 1;
  case 'v':
    if (o->verbosity < 2)
      o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1;
    return 1;
  default:
    return 0;
  }
}

int netopts_resolve(struct netopts *o, const char *cmd)
{
  for (size_t i = 0; i < o->npeers; i++) {
    struct netopts_peer *p = &o->peers[i];
    char host[256], port[8];
    uint16_t pn;
    const char *why;
    if (netopts_split_hostport(p->spec, host, sizeof host, &pn, &why) < 0)
      return bad(cmd, "--peer", p->spec, why);
    snprintf(port, sizeof port, "%u", pn);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res)
      return bad(cmd, "--peer", p->spec, rc ? gai_strerror(rc) : "no address");
    p->naddr = 0;
    for (struct addrinfo *ai = res; ai && p->naddr < NETOPTS_MAX_ADDRS; ai = ai->ai_next) {
      if (ai->ai_addrlen > sizeof p->addr[0])
        continue;
      struct sockaddr_storage ss;
      memset(&ss, 0, sizeof ss);
      memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
      int dup = 0;
      for (int k = 0; k < p->naddr; k++)
        dup |= !memcmp(&p->addr[k], &ss, sizeof ss);
      if (!dup)
        p->addr[p->naddr++] = ss;
    }
    freeaddrinfo(res);
    if (!p->naddr)
      return bad(cmd, "--peer", p->spec, "no usable address");
  }
  return 0;
}

void netopts_add_peers(const struct netopts *o, shoal_session *s, shoal_id id, const char *cmd)
{
  for (size_t i = 0; i < o->npeers; i++)
    for (int k = 0; k < o->peers[i].naddr; k++) {
      int rc = shoal_torrent_add_peer(s, id, (const struct sockaddr *)&o->peers[i].addr[k]);
      if (rc < 0)
        fprintf(stderr, "shoal %s: --peer %s: %s\n", cmd, o->peers[i].spec, shoal_strerror(rc));
    }
}

void netopts_apply_log(const struct netopts *o)
{
  if (o->verbosity < 0)
    shoal_log_set_level(SHOAL_LOG_ERROR);
  else if (o->verbosity == 1)
    shoal_log_set_level(SHOAL_LOG_INFO);
  else if (o->verbosity >= 2)
    shoal_log_set_level(SHOAL_LOG_DEBUG);
  else
    shoal_log_set_level(SHOAL_LOG_WARN);
}

int netopts_live_width(const struct netopts *o)
{
  if (!isatty(STDOUT_FILENO) || (o->verbosity > 0 && isatty(STDERR_FILENO)))
    return 0;
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 20)
    return 79; /* the classic 80 columns */
  return ws.ws_col - 1;
}

void netopts_usage(FILE *f)
{
  fprintf(f,
          "network options:\n"
          "  --port N            listen port (default 0: any free port, which trackers\n"
          "                      are told)\n"
          "  --bind ADDR         listen on this IPv4/IPv6 address (repeatable, up to 3;\n"
          "                      default all IPv4 and IPv6 addresses)\n"
          "  --peer HOST:PORT    connect to this peer too (repeatable); IPv6 as\n"
          "                      [ADDR]:PORT; host names are resolved once at start\n"
          "  --max-peers N       connections per torrent (default 80)\n"
          "  --up-rate R         upload limit in bytes/s, K and M suffixes (1K = 1024);\n"
          "                      0 = unlimited (default)\n"
          "  --down-rate R       download limit, same syntax\n"
          "  --local-sendfile    upload to peers on this host with sendfile too\n"
          "                      (default: they are served from memory, cheaper there)\n"
          "  --dht-bootstrap HOST:PORT\n"
          "                      a DHT node to join the DHT through (repeatable; default\n"
          "                      the public routers, or the comma-separated list in\n"
          "                      $SHOAL_DHT_BOOTSTRAP, \"none\" for none)\n"
          "  --no-dht            no DHT node (private torrents never use it anyway)\n"
          "  --lsd               local service discovery (BEP 14): announce the torrents\n"
          "                      by multicast on the local network and take the peers\n"
          "                      announced there (default off: it talks to the LAN)\n"
          "  --no-pex            no peer exchange (BEP 11; private torrents never use it)\n"
          "  --utp on|off        uTP (BEP 29) beside TCP, on the listen port over UDP:\n"
          "                      peers are dialled both ways at once and the first to\n"
          "                      connect is kept (default on)\n"
          "  --utp-only          uTP only: no TCP dialled or accepted (for tests)\n"
          "  --encryption MODE   peer connections (MSE/PE): prefer (default: dial\n"
          "                      encrypted, fall back to plaintext once, accept both),\n"
          "                      require (RC4 only, both ways), off (plaintext only)\n"
          "  --json              instead of the progress display, one JSON object per\n"
          "                      torrent and second on stdout: its status (state,\n"
          "                      progress, rates, trackers) and each peer's address,\n"
          "                      client, bytes and rates both ways and flags (as\n"
          "                      transmission-remote -pi shows); messages on stderr\n"
          "  --json-every N      the same every N seconds\n"
          "  -q, --quiet         no progress display, errors only\n"
          "  -v, --verbose       log what the engine does (-vv: debug)\n");
}

/* ---- run-time ---------------------------------------------------------- */

static void run_on_timer(uv_timer_t *t)
{
  struct netopts_run *r = t->data;
  if (r->tick && !r->closed)
    r->tick(r);
}

static void run_on_signal(uv_signal_t *h, int signo)
{
  struct netopts_run *r = h->data;
  if (r->signo || r->stopping) {
    /* The user asked twice: do not wait for trackers or the disk. */
    fprintf(stderr, "\nshoal %s: interrupted again, exiting now\n", r->cmd);
    _exit(128 + signo);
  }
  r->signo = signo;
  if (r->on_signal)
    r->on_signal(r, signo);
  netopts_run_stop(r);
}

/* The session has events: each goes to the command's handler. */
static void run_on_event(void *ud)
{
  struct netopts_run *r = ud;
  struct shoal_event ev[32];
  size_t n;
  while (r->sess && (n = shoal_session_events(r->sess, ev, 32)) > 0)
    for (size_t i = 0; i < n; i++)
      if (r->event)
        r->event(r, &ev[i]);
}

static void run_on_session_closed(void *ud)
{
  struct netopts_run *r = ud;
  r->closed = 1;
  r->sess = NULL;
  uv_close((uv_handle_t *)&r->timer, NULL);
  uv_close((uv_handle_t *)&r->sig[0], NULL);
  uv_close((uv_handle_t *)&r->sig[1], NULL);
}

int netopts_run_start(struct netopts_run *r, struct netopts *o, const char *cmd,
                      uint64_t tick_ms)
{
  r->cmd = cmd;
  /* A peer that hangs up while we write to its socket makes sendfile()
   * raise SIGPIPE, whose default action kills the process; unlike send(),
   * sendfile cannot take MSG_NOSIGNAL. The EPIPE error is enough. */
  signal(SIGPIPE, SIG_IGN);
  r->loop = uv_default_loop();
  if (!r->loop) {
    fprintf(stderr, "shoal %s: cannot create the event loop\n", cmd);
    return -1;
  }
  char err[256] = "";
  netopts_dht_finish(o);
  struct shoal_settings set = o->settings;
  set.on_event = run_on_event;
  set.event_ud = r;
  int rc = shoal_session_new(r->loop, &set, &r->sess, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "shoal %s: %s\n", cmd, err[0] ? err : shoal_strerror(rc));
    uv_loop_close(r->loop);
    return -1;
  }
  uv_timer_init(r->loop, &r->timer);
  r->timer.data = r;
  r->tick_ms = tick_ms;
  uv_timer_start(&r->timer, run_on_timer, tick_ms, tick_ms);
  static const int signos[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(r->loop, &r->sig[i]);
    r->sig[i].data = r;
    uv_signal_start(&r->sig[i], run_on_signal, signos[i]);
  }
  return 0;
}

void netopts_run_stop(struct netopts_run *r)
{
  if (r->stopping)
    return;
  r->stopping = 1;
  uv_timer_stop(&r->timer);
  shoal_session_close(r->sess, run_on_session_closed, r);
}

void netopts_run_tick_soon(struct netopts_run *r)
{
  if (!r->stopping)
    uv_timer_start(&r->timer, run_on_timer, 0, r->tick_ms);
}

void netopts_run_loop(struct netopts_run *r)
{
  uv_run(r->loop, UV_RUN_DEFAULT);
  r->end_ms = uv_now(r->loop);
  uv_loop_close(r->loop);
}

const char *netopts_fmt_rate(uint64_t bps, char *buf, size_t len)
{
  char s[32];
  cli_human_size(bps, s, sizeof s);
  snprintf(buf, len, "%s/s", s);
  return buf;
}

const char *netopts_fmt_duration(uint64_t secs, char *buf, size_t len)
{
  if (secs >= 100 * 3600ull)
    snprintf(buf, len, "%llud", (unsigned long long)(secs / 86400));
  else if (secs >= 3600)
    snprintf(buf, len, "%lluh%02llum", (unsigned long long)(secs / 3600),
             (unsigned long long)(secs / 60 % 60));
  else if (secs >= 60)
    snprintf(buf, len, "%llum%02llus", (unsigned long long)(secs / 60),
             (unsigned long long)(secs % 60));
  else
    snprintf(buf, len, "%llus", (unsigned long long)secs);
  return buf;
}
