/* `shoal dht`: a DHT node alone (BEP 5), e.g. the bootstrap node of a
 * private network, printing a status line: nodes in the routing tables,
 * queries per second, stored info-hashes. A session with no torrent: the
 * library runs the node on the session's UDP socket.
 *
 * Exit status: 0 after a graceful stop (Ctrl-C or SIGTERM, the node's id
 * and good nodes saved with --state-dir); 1 when the node cannot start;
 * 2 for bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "netopts.h"
#include "shoal.h"
#include "util.h"

#define DHT_TICK_MS 1000
/* The port DHT nodes have used since BEP 5's examples. */
#define DHT_DEFAULT_PORT 6881
/* Plain status lines (not a terminal): once a minute by default, like
 * shoal seed, since a bootstrap node runs for months. */
#define DHT_PLAIN_EVERY 60

struct dhtcmd {
  struct netopts no;
  struct netopts_run run;
  int tty, quiet, every;
  unsigned ticks;
  uint64_t last_in, last_out;   /* queries at the previous line */
  unsigned last_tick;
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shoal dht [options]\n"
          "\n"
          "Runs a DHT node (BEP 5, with IPv6, BEP 42 ids, scrapes and samples) on\n"
          "the UDP port until interrupted: other clients can bootstrap from it.\n"
          "\n"
          "options:\n"
          "  --port N            UDP port (TCP too, unused), default %d\n"
          "  --bind ADDR         listen on this IPv4/IPv6 address (repeatable, up to 3;\n"
          "                      default all IPv4 and IPv6 addresses)\n"
          "  --bootstrap HOST:PORT\n"
          "                      a node to join the DHT through (repeatable; default\n"
          "                      the public routers, or $SHOAL_DHT_BOOTSTRAP; \"none\")\n"
          "  --state-dir DIR     keep the node id and good nodes in DIR/dht.dat\n"
          "  --read-only         BEP 43: look up only, answer no query\n"
          "  --status-every S    a status line every S seconds when not on a terminal\n"
          "                      (default %d)\n"
          "  -q, --quiet         no status line\n"
          "  -v, --verbose       log what the node does (-vv: debug)\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 stopped by Ctrl-C/SIGTERM, 1 the node could not start,\n"
          "2 bad usage\n",
          DHT_DEFAULT_PORT, DHT_PLAIN_EVERY);
}

static void status_line(struct dhtcmd *c, char *out, size_t len)
{
  struct shoal_dht_status st;
  if (!c->run.sess || shoal_session_dht_status(c->run.sess, &st) < 0) {
    snprintf(out, len, "DHT: not running");
    return;
  }
  unsigned dt = c->ticks - c->last_tick ? c->ticks - c->last_tick : 1;
  double qin = (double)(st.queries_in - c->last_in) / dt;
  double qout = (double)(st.queries_out - c->last_out) / dt;
  c->last_in = st.queries_in;
  c->last_out = st.queries_out;
  c->last_tick = c->ticks;
  snprintf(out, len,
           "DHT port %u: nodes %zu (%zu good)%s  queries in %.1f/s out %.1f/s  "
           "stored %zu info-hashes (%zu peers)",
           shoal_session_port(c->run.sess), st.nodes[0] + st.nodes[1], st.good[0] + st.good[1],
           st.nodes[1] ? " incl. IPv6" : "", qin, qout, st.stored_hashes, st.stored_peers);
}

static void tick(struct netopts_run *r)
{
  struct dhtcmd *c = r->ud;
  c->ticks++;
  if (c->quiet || (!c->tty && c->ticks % (unsigned)c->every))
    return;
  char line[256];
  status_line(c, line, sizeof line);
  if (c->tty)
    printf("\r\033[K%.*s", c->tty, line);
  else
    printf("%s\n", line);
  fflush(stdout);
}

int cmd_dht(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"port", required_argument, NULL, NETOPT_PORT},
      {"bind", required_argument, NULL, NETOPT_BIND},
      {"bootstrap", required_argument, NULL, NETOPT_DHT_BOOTSTRAP},
      {"dht-bootstrap", required_argument, NULL, NETOPT_DHT_BOOTSTRAP},
      {"state-dir", required_argument, NULL, 0x200},
      {"read-only", no_argument, NULL, 0x201},
      {"status-every", required_argument, NULL, 0x202},
      {"quiet", no_argument, NULL, 'q'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  struct dhtcmd c;
  memset(&c, 0, sizeof c);
  netopts_init(&c.no);
  c.no.settings.port = DHT_DEFAULT_PORT;
  c.no.settings.announce = 0; /* no torrent: no tracker client to keep */
  c.every = DHT_PLAIN_EVERY;
  int opt, rc = 2;
  while ((opt = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
    long v;
    switch (opt) {
    case 'h':
      usage(stdout);
      netopts_free(&c.no);
      return 0;
    case 0x200:
      c.no.settings.resume_dir = optarg;
      break;
    case 0x201:
      c.no.settings.dht_read_only = 1;
      break;
    case 0x202:
      if (cli_parse_int(optarg, 1, 86400, &v) < 0) {
        fprintf(stderr, "shoal dht: --status-every '%s': expected seconds 1-86400\n", optarg);
        goto out;
      }
      c.every = (int)v;
      break;
    default:
      if (netopts_parse(&c.no, "dht", opt, optarg) != 1) {
        if (opt == '?')
          fprintf(stderr, "see 'shoal dht --help'\n");
        goto out;
      }
    }
  }
  if (optind < argc) {
    fprintf(stderr, "shoal dht: unexpected argument '%s'\n", argv[optind]);
    goto out;
  }
  c.quiet = c.no.verbosity < 0;
  c.tty = netopts_live_width(&c.no);
  netopts_apply_log(&c.no);
  rc = 1;
  c.run.ud = &c;
  c.run.tick = tick;
  if (netopts_run_start(&c.run, &c.no, "dht", DHT_TICK_MS) < 0)
    goto out;
  struct shoal_dht_status st;
  if (shoal_session_dht_status(c.run.sess, &st) < 0) {
    /* the TCP port was free, not the UDP one (the library said why) */
    fprintf(stderr, "shoal dht: no DHT node: no UDP socket on port %u\n",
            shoal_session_port(c.run.sess));
    netopts_run_stop(&c.run);
    netopts_run_loop(&c.run);
    goto out;
  }
  if (!c.quiet) {
    printf("DHT node on port %u, %zu bootstrap node%s\n", shoal_session_port(c.run.sess),
           c.no.ndht_boot, c.no.ndht_boot == 1 ? "" : "s");
    fflush(stdout);
  }
  netopts_run_loop(&c.run);
  if (c.tty && !c.quiet)
    printf("\n");
  rc = 0;
out:
  netopts_free(&c.no);
  return rc;
}
