/* Settings of a front end, each described once in a table: its name on the
 * command line and in a config file, an alias for another naming scheme
 * (e.g. the JSON keys of Transmission's settings.json, for the daemon), its
 * type and range, its default, its --help text and where its value goes.
 * From the table this module parses the command line (getopt_long), reads
 * "option value" config files, prints the option list for --help and
 * reports errors that name the option, the file and the line.
 *
 * Precedence: every value records where it came from (default < file <
 * command line), and a value never replaces one from a stronger source, so
 * the command line wins over a file whatever order they are read in. Within
 * one source the last value of a setting wins, and a repeatable setting
 * collects them all; the first value from a stronger source replaces what a
 * weaker one collected. Two settings may share a field (-v and -q set one
 * log level): there the later write wins.
 *
 * Another format is a loader that calls settings_find_alias() (or
 * settings_find()) and settings_set() for each key it reads, with the value
 * as text: a JSON number as its digits, true/false as "true"/"false", each
 * element of an array as one value of a repeatable setting.
 *
 * Ownership: the caller owns the table (usually static const), the struct
 * the values are written into and struct settings (usually on its stack).
 * Strings the values point to are copies owned by struct settings: valid
 * until settings_free(). */
#ifndef SHOAL_CLI_SETTINGS_H
#define SHOAL_CLI_SETTINGS_H

#include <stddef.h>
#include <stdio.h>

enum setting_type {
  SETTING_BOOL,     /* a flag on the command line; in a file no value, or
                       yes/no, true/false, on/off, 1/0. Stores .yes or .no */
  SETTING_INT,      /* decimal in [min, max]; .word (e.g. "off") may stand
                       for .word_value */
  SETTING_SIZE,     /* bytes: 16384, 512K, 1M, 2GiB (see cli_parse_size) in
                       [min, max] */
  SETTING_DURATION, /* whole seconds: 90, 90s, 15m, 2h, 1d, in [min, max]
                       seconds; stored in seconds, or in milliseconds with
                       SETTING_MS */
  SETTING_STRING,   /* const char *; empty refused with SETTING_NONEMPTY */
  SETTING_LIST,     /* repeatable string: struct settings_list; at most max
                       values (0: no limit) */
  SETTING_ENUM,     /* one of .choices; stores its index */
  SETTING_CONFIG,   /* command line only: a config file to read */
};

enum setting_flag {
  SETTING_CMDLINE = 1,  /* command line only (--help, --config) */
  SETTING_NONEMPTY = 2, /* STRING, LIST: an empty value is an error */
  SETTING_STOP = 4,     /* seen on the command line: stop parsing (--help) */
  SETTING_MS = 8,       /* DURATION: store milliseconds */
};

struct setting {
  const char *name;     /* "peer-timeout": --peer-timeout, and in files */
  const char *alias;    /* the same setting in another scheme, or NULL */
  int short_name;       /* 'p' for -p, or 0 */
  enum setting_type type;
  unsigned flags;       /* enum setting_flag */
  size_t off, size;     /* destination in the caller's struct: SETTING_AT;
                           size 0: none (--help, --config) */
  long min, max;        /* INT, SIZE, DURATION: range; LIST: most values */
  long yes, no;         /* BOOL: what true and false store */
  const char *word;     /* INT: a word taken instead of a number */
  long word_value;
  const char *const *choices; /* ENUM: NULL-terminated */
  const char *def;      /* default, written like a value; NULL leaves the
                           field as the caller initialised it */
  const char *arg;      /* --help: the value's placeholder ("PORT") */
  const char *help;     /* --help: what it does; '\n' starts a new line */
};

/* Where a setting's value lives: offset and width of a field of T, so the
 * table can stay const and integers can be of any width (1, 2, 4, 8). */
#define SETTING_AT(T, field) .off = offsetof(T, field), .size = sizeof(((T *)0)->field)

/* A repeatable setting's values (the array is owned by struct settings). */
struct settings_list {
  const char **v;
  size_t n;
};

enum settings_source { SETTINGS_DEFAULT = 0, SETTINGS_FILE, SETTINGS_CMDLINE };

struct settings {
  const struct setting *table;
  size_t n;
  void *base;               /* the caller's struct the table points into */
  unsigned char *src;       /* per setting: enum settings_source */
  char **strs;              /* copies of string values */
  size_t nstrs, capstrs;
  char err[1024];           /* the last error, a sentence naming the option */
};

/* Binds the table to base and writes every default. Returns 0, or a
 * negative code with s->err set (a bad default or table, out of memory). */
int settings_init(struct settings *s, const struct setting *table, size_t n, void *base);
void settings_free(struct settings *s);

/* The entry of that name (or alias), or NULL. */
const struct setting *settings_find(const struct settings *s, const char *name);
const struct setting *settings_find_alias(const struct settings *s, const char *alias);

/* Parses value for o and stores it unless a stronger source set o already.
 * label names the value in a message, e.g. "--interval" or "FILE:3:
 * interval". value may be NULL for a BOOL (true). Returns 0, or -EINVAL
 * with s->err "LABEL VALUE: expected ...". A weaker value is still checked. */
int settings_set(struct settings *s, const struct setting *o, const char *value,
                 enum settings_source src, const char *label);

/* Reads "option value" lines: the name, then spaces, tabs or '=', then the
 * value up to the end of the line; '#' starts a comment; blank lines are
 * skipped. A BOOL may have no value. Returns 0, or a negative code with
 * s->err naming the file and line (unknown option, missing or bad value),
 * or "--config FILE: why" when it cannot be read. */
int settings_load_file(struct settings *s, const char *path);

/* Parses argv (argv[0] is the command's name, as getopt_long prints it):
 * every CONFIG file named is read first, then the other options are set
 * with source SETTINGS_CMDLINE. Returns 0 with *first_arg the index of the
 * first operand (argv is permuted so that they come last); 1 when a
 * SETTING_STOP option was met (nothing after it is read); or a negative
 * code with s->err set, or s->err empty when getopt_long already printed
 * the problem (an unknown option, a missing value). */
int settings_parse_args(struct settings *s, int argc, char **argv, int *first_arg);

/* Whether a setting was given (by any source other than the default). */
int settings_is_set(const struct settings *s, const char *name);

/* The option list for --help, one entry per setting:
 *   "  -p, --port PORT         HTTP and UDP on PORT ..." */
void settings_usage(const struct setting *table, size_t n, FILE *f);

#endif
