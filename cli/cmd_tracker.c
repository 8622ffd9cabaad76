/* shoal tracker: options -> server_config -> server_run(). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "commands.h"
#include "tracker/server.h"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shoal tracker [options]\n"
          "\n"
          "An HTTP and UDP BitTorrent tracker (BEP 3, 7, 15, 23, 48) that also hosts\n"
          ".torrent files on a web page at /.\n"
          "\n"
          "  -p, --port PORT         HTTP and UDP on PORT (default 6969; 0 picks a free one)\n"
          "      --http-port PORT    HTTP only on PORT ('off' disables HTTP)\n"
          "      --udp-port PORT     UDP only on PORT ('off' disables UDP)\n"
          "      --bind ADDR         listen on ADDR (repeatable; IPv4 or IPv6;\n"
          "                          default 0.0.0.0 and ::)\n"
          "      --data DIR          hosted torrents live in DIR/torrents (default\n"
          "                          $XDG_DATA_HOME/shoal/tracker, else\n"
          "                          ~/.local/share/shoal/tracker, else ./shoal-tracker-data)\n"
          "      --add FILE          host FILE.torrent (repeatable; copied into DIR)\n"
          "      --upload-token TOK  enable POST /upload and the upload form, guarded by TOK\n"
          "      --mode open|hosted  track any info-hash (default) or hosted ones only\n"
          "      --blocklist FILE    info-hashes never tracked, one hex hash per line\n"
          "                          (default DIR/blocklist when present; SIGHUP reloads)\n"
          "      --interval SECONDS  announce interval asked of clients (default 1800)\n"
          "      --min-interval S    minimum interval (default interval / 2)\n"
          "      --peer-timeout S    drop peers unseen this long (default 2 x interval)\n"
          "      --numwant-max N     most peers in one reply (default and limit 200)\n"
          "      --no-full-scrape    refuse /scrape without info_hash\n"
          "      --trust-ip          honour the announce `ip` parameter (behind a proxy)\n"
          "      --threads N         worker threads with SO_REUSEPORT sockets (default 1)\n"
          "      --idle-timeout S    close HTTP connections idle this long (default 15)\n"
          "      --max-conns N       HTTP connections per thread (default 4096)\n"
          "      --config FILE       read options from FILE: one 'option value' per line,\n"
          "                          names as above without '--'; '#' comments;\n"
          "                          command-line options win\n"
          "  -v, --verbose / -q, --quiet\n"
          "  -h, --help\n"
          "\n"
          "SIGINT/SIGTERM stop it; SIGHUP reloads DIR/torrents and the blocklist.\n");
}

enum {
  O_HTTP = 256, O_UDP, O_BIND, O_DATA, O_ADD, O_TOKEN, O_MODE, O_BLOCK, O_INTERVAL, O_MININT,
  O_TIMEOUT, O_NUMWANT, O_NOFULL, O_TRUSTIP, O_THREADS, O_IDLE, O_MAXCONNS, O_CONFIG,
};

static const struct option longopts[] = {
    {"port", required_argument, NULL, 'p'},
    {"http-port", required_argument, NULL, O_HTTP},
    {"udp-port", required_argument, NULL, O_UDP},
    {"bind", required_argument, NULL, O_BIND},
    {"data", required_argument, NULL, O_DATA},
    {"add", required_argument, NULL, O_ADD},
    {"upload-token", required_argument, NULL, O_TOKEN},
    {"mode", required_argument, NULL, O_MODE},
    {"blocklist", required_argument, NULL, O_BLOCK},
    {"interval", required_argument, NULL, O_INTERVAL},
    {"min-interval", required_argument, NULL, O_MININT},
    {"peer-timeout", required_argument, NULL, O_TIMEOUT},
    {"numwant-max", required_argument, NULL, O_NUMWANT},
    {"no-full-scrape", no_argument, NULL, O_NOFULL},
    {"trust-ip", no_argument, NULL, O_TRUSTIP},
    {"threads", required_argument, NULL, O_THREADS},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"max-conns", required_argument, NULL, O_MAXCONNS},
    {"config", required_argument, NULL, O_CONFIG},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int num(const char *opt, const char *s, long min, long max, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) {
    fprintf(stderr, "shoal tracker: --%s %s: expected a number from %ld to %ld\n", opt, s, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int port_arg(const char *opt, const char *s, int *out)
{
  long v;
  if (!strcmp(s, "off")) {
    *out = -1;
    return 0;
  }
  if (num(opt, s, 0, 65535, &v) < 0)
    return -1;
  *out = (int)v;
  return 0;
}

/* Default data directory: never the current user's home in tests, which
 * always pass --data. */
static const char *default_data_dir(char *buf, size_t cap)
{
  const char *x = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  if (x && *x)
    snprintf(buf, cap, "%s/shoal/tracker", x);
  else if (home && *home)
    snprintf(buf, cap, "%s/.local/share/shoal/tracker", home);
  else
    snprintf(buf, cap, "shoal-tracker-data");
  return buf;
}

/* Reads "--config FILE" into extra argv entries ("--name", "value"),
 * malloc'd; cmd_tracker frees them when the server has stopped. */
static int read_config(const char *path, char ***av, int *ac)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "shoal tracker: --config %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[1024];
  unsigned lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line + strspn(line, " \t");
    char *hash = strchr(p, '#');
    if (hash)
      *hash = 0;
    size_t l = strlen(p);
    while (l && (p[l - 1] == '\n' || p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
      p[--l] = 0;
    if (!l)
      continue;
    size_t kl = strcspn(p, " \t=");
    char *val = p + kl;
    val += strspn(val, " \t=");
    p[kl] = 0;
    const struct option *o = longopts;
    while (o->name && strcmp(o->name, p))
      o++;
    if (!o->name || !strcmp(p, "config") || !strcmp(p, "help")) {
      fprintf(stderr, "shoal tracker: %s:%u: unknown option '%s'\n", path, lineno, p);
      fclose(f);
      return -1;
    }
    char **na = realloc(*av, (size_t)(*ac + 3) * sizeof *na);
    if (!na) {
      fclose(f);
      return -1;
    }
    *av = na;
    size_t nl = strlen(p) + 3;
    char *name = malloc(nl);
    if (!name) {
      fclose(f);
      return -1;
    }
    snprintf(name, nl, "--%s", p);
    (*av)[(*ac)++] = name;
    if (o->has_arg == required_argument) {
      if (!*val) {
        fprintf(stderr, "shoal tracker: %s:%u: option '%s' needs a value\n", path, lineno, p);
        fclose(f);
        return -1;
      }
      (*av)[(*ac)++] = strdup(val);
    }
  }
  fclose(f);
  return 0;
}

int cmd_tracker(int argc, char **argv)
{
  struct server_config c;
  server_config_defaults(&c);
  char datadir[4096];
  int interval_set = 0, minint_set = 0, timeout_set = 0, port = -2;
  int http_port = -2, udp_port = -2;
  long v;

  /* Options from --config go first so that the command line overrides them. */
  int ac = 1;
  char **av = malloc(sizeof *av);
  if (!av)
    return 1;
  av[0] = argv[0];
  int nconf = 0; /* av[1..nconf] came from config files and are ours */
  for (int i = 1; i < argc; i++) {
    const char *cf = NULL;
    if (!strcmp(argv[i], "--config") && i + 1 < argc)
      cf = argv[i + 1];
    else if (!strncmp(argv[i], "--config=", 9))
      cf = argv[i] + 9;
    if (cf && read_config(cf, &av, &ac) < 0) {
      for (int j = 1; j < ac; j++)
        free(av[j]);
      free(av);
      return 2;
    }
  }
  nconf = ac - 1;
  /* getopt_long may permute av, so remember which strings are ours */
  char **owned = malloc((size_t)(nconf + 1) * sizeof *owned);
  if (!owned) {
    for (int j = 1; j <= nconf; j++)
      free(av[j]);
    free(av);
    return 1;
  }
  memcpy(owned, av + 1, (size_t)nconf * sizeof *owned);
  char **na = realloc(av, (size_t)(ac + argc + 1) * sizeof *na);
  if (!na) {
    for (int j = 0; j < nconf; j++)
      free(owned[j]);
    free(owned);
    free(av);
    return 1;
  }
  av = na;
  for (int i = 1; i < argc; i++)
    av[ac++] = argv[i];
  av[ac] = NULL;

  int opt, rc = 2;
  optind = 1;
  while ((opt = getopt_long(ac, av, "p:vqh", longopts, NULL)) != -1) {
    switch (opt) {
    case 'p':
      if (port_arg("port", optarg, &port) < 0 || port < 0) {
        if (port < 0)
          fprintf(stderr, "shoal tracker: --port needs a number\n");
        goto done;
      }
      break;
    case O_HTTP:
      if (port_arg("http-port", optarg, &http_port) < 0)
        goto done;
      break;
    case O_UDP:
      if (port_arg("udp-port", optarg, &udp_port) < 0)
        goto done;
      break;
    case O_BIND:
      if (c.nbinds == SERVER_MAX_BINDS) {
        fprintf(stderr, "shoal tracker: at most %d --bind addresses\n", SERVER_MAX_BINDS);
        goto done;
      }
      c.binds[c.nbinds++] = optarg;
      break;
    case O_DATA:
      c.data_dir = optarg;
      break;
    case O_ADD:
      if (c.nadd == (int)(sizeof c.add / sizeof c.add[0])) {
        fprintf(stderr, "shoal tracker: too many --add files; put them in DIR/torrents\n");
        goto done;
      }
      c.add[c.nadd++] = optarg;
      break;
    case O_TOKEN:
      if (!*optarg) {
        fprintf(stderr, "shoal tracker: --upload-token must not be empty\n");
        goto done;
      }
      c.upload_token = optarg;
      break;
    case O_MODE:
      if (!strcmp(optarg, "open"))
        c.trk.hosted_only = 0;
      else if (!strcmp(optarg, "hosted"))
        c.trk.hosted_only = 1;
      else {
        fprintf(stderr, "shoal tracker: --mode %s: expected open or hosted\n", optarg);
        goto done;
      }
      break;
    case O_BLOCK:
      c.blocklist = optarg;
      break;
    case O_INTERVAL:
      if (num("interval", optarg, 1, 86400, &v) < 0)
        goto done;
      c.trk.interval = (uint32_t)v;
      interval_set = 1;
      break;
    case O_MININT:
      if (num("min-interval", optarg, 1, 86400, &v) < 0)
        goto done;
      c.trk.min_interval = (uint32_t)v;
      minint_set = 1;
      break;
    case O_TIMEOUT:
      if (num("peer-timeout", optarg, 1, 7 * 86400, &v) < 0)
        goto done;
      c.trk.peer_timeout = (uint32_t)v;
      timeout_set = 1;
      break;
    case O_NUMWANT:
      if (num("numwant-max", optarg, 1, TRACKER_MAX_NUMWANT, &v) < 0)
        goto done;
      c.trk.numwant_max = (uint32_t)v;
      if (c.trk.numwant_default > c.trk.numwant_max)
        c.trk.numwant_default = c.trk.numwant_max;
      break;
    case O_NOFULL:
      c.trk.full_scrape = 0;
      break;
    case O_TRUSTIP:
      c.trk.trust_ip_param = 1;
      break;
    case O_THREADS:
      if (num("threads", optarg, 1, SERVER_MAX_THREADS, &v) < 0)
        goto done;
      c.threads = (int)v;
      break;
    case O_IDLE:
      if (num("idle-timeout", optarg, 1, 3600, &v) < 0)
        goto done;
      c.idle_timeout_ms = (unsigned)v * 1000;
      break;
    case O_MAXCONNS:
      if (num("max-conns", optarg, 1, 1000000, &v) < 0)
        goto done;
      c.max_conns = (unsigned)v;
      break;
    case O_CONFIG:
      break; /* read above */
    case 'v':
      sh_log_set_level(SH_LOG_DEBUG);
      break;
    case 'q':
      sh_log_set_level(SH_LOG_WARN);
      break;
    case 'h':
      usage(stdout);
      rc = 0;
      goto done;
    default:
      usage(stderr);
      goto done;
    }
  }
  if (optind < ac) {
    fprintf(stderr, "shoal tracker: unexpected argument '%s'\n", av[optind]);
    usage(stderr);
    goto done;
  }
  if (port >= 0)
    c.http_port = c.udp_port = port;
  if (http_port != -2)
    c.http_port = http_port;
  if (udp_port != -2)
    c.udp_port = udp_port;
  if (c.http_port < 0 && c.udp_port < 0) {
    fprintf(stderr, "shoal tracker: both HTTP and UDP are off; nothing to serve\n");
    goto done;
  }
  if (interval_set && !minint_set)
    c.trk.min_interval = c.trk.interval / 2 ? c.trk.interval / 2 : 1;
  if (interval_set && !timeout_set)
    c.trk.peer_timeout = 2 * c.trk.interval;
  if (c.trk.min_interval > c.trk.interval)
    c.trk.min_interval = c.trk.interval;
  if (!c.data_dir)
    c.data_dir = default_data_dir(datadir, sizeof datadir);
  rc = server_run(&c);
done:
  for (int j = 0; j < nconf; j++)
    free(owned[j]);
  free(owned);
  free(av);
  return rc;
}
