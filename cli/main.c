/* shoal: one binary, subcommands like git. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "shoal.h"
#include "util.h"

/* Keep in the order a newcomer meets them. */
const struct command shoal_commands[] = {
    /* COMMANDS: one line per subcommand */
    {"create", cmd_create, "make a .torrent from a file or directory"},
    {"info", cmd_info, "show what a .torrent contains"},
    {"verify", cmd_verify, "check data on disk against a .torrent"},
    {"get", cmd_get, "download a torrent, then seed it for a while"},
    {"seed", cmd_seed, "verify data and serve it to peers"},
    {"tracker", cmd_tracker, "run an HTTP+UDP tracker that also hosts .torrent files"},
    {"dht", cmd_dht, "run a DHT node alone (e.g. a bootstrap node)"},
    {"daemon", cmd_daemon, "keep many torrents, driven by Transmission's RPC and a web page"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
  fprintf(f, "usage: shoal <command> [options]\n\ncommands:\n");
  for (const struct command *c = shoal_commands; c->name; c++)
    fprintf(f, "  %-8s %s\n", c->name, c->summary);
  fprintf(f, "\n'shoal <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
  /* the library is silent until it has somewhere to write */
  shoal_log_set_sink(cli_log_sink, NULL);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  /* `shoal help get` is `shoal get --help` */
  static char help_opt[] = "--help";
  if (!strcmp(name, "help") && argc > 2) {
    name = argv[1] = argv[2];
    argv[2] = help_opt;
    argc = 3;
  } else if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(name, "-V") || !strcmp(name, "--version") || !strcmp(name, "version")) {
    printf("shoal %s\n", SHOAL_VERSION);
    return 0;
  }
  for (const struct command *c = shoal_commands; c->name; c++) {
    if (strcmp(c->name, name))
      continue;
    /* getopt names argv[0] in its messages: "shoal create: unrecognized
     * option", as every other message of the command begins */
    char prog[64];
    snprintf(prog, sizeof prog, "shoal %s", c->name);
    argv[1] = prog;
    return c->run(argc - 1, argv + 1);
  }
  fprintf(stderr, "shoal: unknown command '%s'\n", name);
  usage(stderr);
  return 2;
}
