/* Subcommands of the multi-call binary. Each lives in cli/cmd_<name>.c, parses
 * its own options with getopt_long, builds settings and calls libshoal; none
 * holds protocol logic. Exit codes: 0 success, 1 failure of the job, 2 bad
 * usage or bad input file. */
#ifndef SHOAL_CLI_COMMANDS_H
#define SHOAL_CLI_COMMANDS_H

struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
  const char *summary;
};

/* NULL-terminated table in main.c */
extern const struct command shoal_commands[];

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_dht(int argc, char **argv);
int cmd_daemon(int argc, char **argv);

#endif
