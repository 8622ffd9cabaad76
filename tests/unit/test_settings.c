/* cli/settings.c: the table-driven settings of the front ends. Types and
 * ranges, the config-file syntax, the command line, which source wins, and
 * the messages. The CLI is not part of libshoal, so its sources are
 * compiled into this test directly. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cli/settings.c"
#include "../../cli/util.c"

struct opts {
  int flag;
  int level;
  int port;
  uint16_t small;
  uint64_t cache;
  uint32_t timeout_s;
  uint32_t timeout_ms;
  const char *name;
  const char *token;
  struct settings_list bind;
  int mode;
};

#define AT(f) SETTING_AT(struct opts, f)
static const char *const modes[] = {"open", "hosted", "closed", NULL};

static const struct setting table[] = {
    {.name = "flag", .alias = "flag-enabled", .type = SETTING_BOOL, AT(flag), .yes = 1, .no = 0,
     .help = "a flag"},
    {.name = "verbose", .short_name = 'v', .type = SETTING_BOOL, AT(level), .yes = 3, .no = 2},
    {.name = "quiet", .short_name = 'q', .type = SETTING_BOOL, AT(level), .yes = 1, .no = 2},
    {.name = "port", .alias = "peer-port", .short_name = 'p', .type = SETTING_INT, AT(port),
     .min = 0, .max = 65535, .word = "off", .word_value = -1, .def = "6969", .arg = "PORT",
     .help = "the port"},
    {.name = "small", .type = SETTING_INT, AT(small), .min = 1, .max = 1000, .def = "7"},
    {.name = "cache", .type = SETTING_SIZE, AT(cache), .min = 0, .max = 1L << 40, .def = "32M",
     .arg = "SIZE", .help = "cache size;\nwith a suffix"},
    {.name = "timeout", .type = SETTING_DURATION, AT(timeout_s), .min = 1, .max = 86400,
     .def = "30m"},
    {.name = "timeout-ms", .type = SETTING_DURATION, .flags = SETTING_MS, AT(timeout_ms),
     .min = 1, .max = 3600, .def = "15"},
    {.name = "name", .type = SETTING_STRING, AT(name), .def = "shoal"},
    {.name = "token", .type = SETTING_STRING, .flags = SETTING_NONEMPTY, AT(token)},
    {.name = "bind", .type = SETTING_LIST, AT(bind), .max = 3, .arg = "ADDR"},
    {.name = "mode", .type = SETTING_ENUM, AT(mode), .choices = modes, .def = "open"},
    {.name = "a-very-long-option-name", .type = SETTING_STRING, AT(name), .arg = "VALUE",
     .help = "goes on the next line"},
    {.name = "config", .type = SETTING_CONFIG, .arg = "FILE"},
    {.name = "help", .short_name = 'h', .type = SETTING_BOOL,
     .flags = SETTING_STOP | SETTING_CMDLINE},
};
#define N (sizeof table / sizeof table[0])

static struct opts o;
static struct settings st;

static void setup(void)
{
  memset(&o, 0, sizeof o);
  o.level = 2;
  cr_assert_eq(settings_init(&st, table, N, &o), 0, "%s", st.err);
}

static void teardown(void) { settings_free(&st); }

TestSuite(settings, .init = setup, .fini = teardown);

static int set(const char *name, const char *value)
{
  char label[64];
  snprintf(label, sizeof label, "--%s", name);
  const struct setting *e = settings_find(&st, name);
  cr_assert_not_null(e, "no setting %s", name);
  return settings_set(&st, e, value, SETTINGS_CMDLINE, label);
}

/* Writes text to a new temporary file; the caller unlinks it. */
static char *conf(const char *text)
{
  char *path = strdup("/tmp/shoal-settings-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static int load(const char *text)
{
  char *path = conf(text);
  int rc = settings_load_file(&st, path);
  unlink(path);
  free(path);
  return rc;
}

/* settings_parse_args on a NULL-terminated list; argv[0] is "test". */
static int parse(int *first, ...)
{
  static char *argv[32];
  va_list ap;
  va_start(ap, first);
  int argc = 0;
  argv[argc++] = "test";
  for (char *a; (a = va_arg(ap, char *));)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  int dummy;
  return settings_parse_args(&st, argc, argv, first ? first : &dummy);
}

Test(settings, defaults_are_written)
{
  cr_expect_eq(o.port, 6969);
  cr_expect_eq(o.small, 7);
  cr_expect_eq(o.cache, 32u << 20);
  cr_expect_eq(o.timeout_s, 1800);
  cr_expect_eq(o.timeout_ms, 15000);
  cr_expect_str_eq(o.name, "shoal");
  cr_expect_null(o.token);
  cr_expect_eq(o.bind.n, 0);
  cr_expect_eq(o.mode, 0);
  cr_expect_eq(o.level, 2, "no default: left as the caller set it");
  cr_expect_not(settings_is_set(&st, "port"), "a default is not 'set'");
}

Test(settings, bool_values)
{
  cr_expect_eq(set("flag", NULL), 0);
  cr_expect_eq(o.flag, 1);
  const char *no[] = {"no", "false", "off", "0", "NO"}, *yes[] = {"yes", "true", "on", "1", ""};
  for (size_t i = 0; i < 5; i++) {
    cr_expect_eq(set("flag", no[i]), 0);
    cr_expect_eq(o.flag, 0, "%s", no[i]);
    cr_expect_eq(set("flag", yes[i]), 0);
    cr_expect_eq(o.flag, 1, "%s", yes[i]);
  }
  cr_expect_eq(set("flag", "maybe"), -EINVAL);
  cr_expect_str_eq(st.err, "--flag maybe: expected yes or no");
  /* two flags sharing a field: the later one wins */
  cr_expect_eq(set("verbose", NULL), 0);
  cr_expect_eq(set("quiet", NULL), 0);
  cr_expect_eq(o.level, 1);
}

Test(settings, integers_and_their_range)
{
  cr_expect_eq(set("port", "0"), 0);
  cr_expect_eq(o.port, 0);
  cr_expect_eq(set("port", "65535"), 0);
  cr_expect_eq(o.port, 65535);
  cr_expect_eq(set("port", "off"), 0);
  cr_expect_eq(o.port, -1, "the word stands for its value");
  const char *bad[] = {"65536", "-1", "", "12x", "0x10", "1e3", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_expect_eq(set("port", bad[i]), -EINVAL, "'%s' should be refused", bad[i]);
  cr_expect_str_eq(st.err, "--port 99999999999999999999: expected a number from 0 to 65535, or off");
  cr_expect_eq(set("port", ""), -EINVAL);
  cr_expect_str_eq(st.err, "--port '': expected a number from 0 to 65535, or off");
  cr_expect_eq(o.port, -1, "a refused value changes nothing");
  cr_expect_eq(set("small", "1000"), 0);
  cr_expect_eq(o.small, 1000, "a 16-bit field");
  cr_expect_eq(set("small", "0"), -EINVAL);
  cr_expect_str_eq(st.err, "--small 0: expected a number from 1 to 1000");
}

Test(settings, sizes_with_suffixes)
{
  cr_expect_eq(set("cache", "16384"), 0);
  cr_expect_eq(o.cache, 16384);
  cr_expect_eq(set("cache", "512K"), 0);
  cr_expect_eq(o.cache, 512u << 10);
  cr_expect_eq(set("cache", "2GiB"), 0);
  cr_expect_eq(o.cache, 2ull << 30);
  cr_expect_eq(set("cache", "1T"), 0);
  cr_expect_eq(o.cache, 1ull << 40);
  cr_expect_eq(set("cache", "2T"), -EINVAL);
  cr_expect_str_eq(st.err,
                   "--cache 2T: expected a size from 0 to 1T bytes (a number, or with K, M, G or T)");
  cr_expect_eq(set("cache", "1.5M"), -EINVAL);
  cr_expect_eq(o.cache, 1ull << 40);
}

Test(settings, durations_with_units)
{
  struct {
    const char *in;
    uint32_t s;
  } ok[] = {{"90", 90}, {"90s", 90}, {"15m", 900}, {"2h", 7200}, {"1d", 86400}};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    cr_expect_eq(set("timeout", ok[i].in), 0, "%s", ok[i].in);
    cr_expect_eq(o.timeout_s, ok[i].s, "%s", ok[i].in);
  }
  const char *bad[] = {"0", "2d", "1w", "m", "-5", "5 m", "1.5h", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_expect_eq(set("timeout", bad[i]), -EINVAL, "'%s' should be refused", bad[i]);
  cr_expect_eq(set("timeout", "2d"), -EINVAL);
  cr_expect_str_eq(st.err, "--timeout 2d: expected a duration from 1 to 86400 seconds (a number, "
                           "or with s, m, h or d)");
  /* SETTING_MS: the range is in seconds, the field in milliseconds */
  cr_expect_eq(set("timeout-ms", "1m"), 0);
  cr_expect_eq(o.timeout_ms, 60000);
  cr_expect_eq(set("timeout-ms", "2h"), -EINVAL);
}

Test(settings, strings_lists_and_enums)
{
  cr_expect_eq(set("name", ""), 0, "empty allowed without SETTING_NONEMPTY");
  cr_expect_str_eq(o.name, "");
  cr_expect_eq(set("token", ""), -EINVAL);
  cr_expect_str_eq(st.err, "--token must not be empty");
  cr_expect_eq(set("token", "s3cret"), 0);
  cr_expect_str_eq(o.token, "s3cret");

  cr_expect_eq(set("bind", "127.0.0.1"), 0);
  cr_expect_eq(set("bind", "::1"), 0);
  cr_expect_eq(set("bind", "10.0.0.1"), 0);
  cr_expect_eq(o.bind.n, 3);
  cr_expect_str_eq(o.bind.v[0], "127.0.0.1");
  cr_expect_str_eq(o.bind.v[2], "10.0.0.1");
  cr_expect_eq(set("bind", "10.0.0.2"), -EINVAL);
  cr_expect_str_eq(st.err, "--bind 10.0.0.2: too many (at most 3)");
  cr_expect_eq(o.bind.n, 3);

  cr_expect_eq(set("mode", "closed"), 0);
  cr_expect_eq(o.mode, 2);
  cr_expect_eq(set("mode", "sideways"), -EINVAL);
  cr_expect_str_eq(st.err, "--mode sideways: expected open, hosted or closed");
  cr_expect_eq(set("mode", "Open"), -EINVAL, "names are exact");
}

Test(settings, values_are_copies)
{
  char buf[16] = "first";
  cr_expect_eq(set("name", buf), 0);
  strcpy(buf, "changed");
  cr_expect_str_eq(o.name, "first");
}

Test(settings, names_and_aliases)
{
  cr_expect_eq(settings_find(&st, "port"), &table[3]);
  cr_expect_null(settings_find(&st, "peer-port"), "an alias is not a name");
  cr_expect_eq(settings_find_alias(&st, "peer-port"), &table[3]);
  cr_expect_eq(settings_find_alias(&st, "flag-enabled"), &table[0]);
  cr_expect_null(settings_find_alias(&st, "port"));
  cr_expect_null(settings_find(&st, "nope"));
}

Test(settings, file_syntax)
{
  int rc = load("# a comment\n"
                "\n"
                "   \t\n"
                "port 7000\n"
                "  small=12   # trailing comment\n"
                "cache = 1M\r\n"
                "\tname\t\tvalue with spaces  \n"
                "flag\n"
                "bind 127.0.0.1\n"
                "bind ::1\n"
                "mode hosted");
  cr_assert_eq(rc, 0, "%s", st.err);
  cr_expect_eq(o.port, 7000);
  cr_expect_eq(o.small, 12);
  cr_expect_eq(o.cache, 1u << 20);
  cr_expect_str_eq(o.name, "value with spaces");
  cr_expect_eq(o.flag, 1);
  cr_expect_eq(o.bind.n, 2, "a repeated list setting collects its values");
  cr_expect_eq(o.mode, 1, "the last line needs no newline");
  cr_expect(settings_is_set(&st, "port"));
}

Test(settings, repeated_in_a_file_last_wins)
{
  cr_assert_eq(load("port 1\nport 2\nflag yes\nflag no\n"), 0, "%s", st.err);
  cr_expect_eq(o.port, 2);
  cr_expect_eq(o.flag, 0);
}

Test(settings, bad_lines_name_file_and_line)
{
  char *path = conf("port 1\n\n# fine so far\nfrob 3\n");
  cr_expect_eq(settings_load_file(&st, path), -EINVAL);
  char want[256];
  snprintf(want, sizeof want, "%s:4: unknown option 'frob'", path);
  cr_expect_str_eq(st.err, want);
  unlink(path);
  free(path);

  struct {
    const char *text, *err;
  } cases[] = {
      {"port\n", ":1: option 'port' needs a value"},
      {"\nport 70000\n", ":2: port 70000: expected a number from 0 to 65535, or off"},
      {"config other.conf\n", ":1: 'config' can only be given on the command line"},
      {"help\n", ":1: 'help' can only be given on the command line"},
      {"flag perhaps\n", ":1: flag perhaps: expected yes or no"},
      {"--port 5\n", ":1: unknown option '--port'"},
      {"=5\n", ":1: unknown option ''"},
      {"peer-port 5\n", ":1: unknown option 'peer-port'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cr_expect_lt(load(cases[i].text), 0, "%s", cases[i].text);
    const char *colon = strstr(st.err, ":");
    cr_expect(colon && !strcmp(colon, cases[i].err), "'%s' gave '%s'", cases[i].text, st.err);
  }
}

Test(settings, missing_file)
{
  cr_expect_lt(settings_load_file(&st, "/nonexistent/shoal.conf"), 0);
  cr_expect_str_eq(st.err, "/nonexistent/shoal.conf: No such file or directory");
  cr_expect_eq(parse(NULL, "--config", "/nonexistent/shoal.conf", NULL), -ENOENT);
  cr_expect_str_eq(st.err, "--config /nonexistent/shoal.conf: No such file or directory");
}

Test(settings, command_line)
{
  int first = -1;
  cr_assert_eq(parse(&first, "-p", "80", "--flag", "--bind", "a", "--bind=b", "--small", "5",
                     "--mode=hosted", "-v", NULL),
               0, "%s", st.err);
  cr_expect_eq(first, 11, "no operands");
  cr_expect_eq(o.port, 80);
  cr_expect_eq(o.flag, 1);
  cr_expect_eq(o.bind.n, 2);
  cr_expect_eq(o.small, 5);
  cr_expect_eq(o.mode, 1);
  cr_expect_eq(o.level, 3);
}

Test(settings, command_line_repeated_and_operands)
{
  int first = -1;
  cr_assert_eq(parse(&first, "-p", "1", "extra", "-p", "2", NULL), 0, "%s", st.err);
  cr_expect_eq(o.port, 2, "the last value wins");
  cr_expect_eq(first, 5, "operands are moved to the end");
}

Test(settings, command_line_errors)
{
  cr_expect_eq(parse(NULL, "--small", "0", NULL), -EINVAL);
  cr_expect_str_eq(st.err, "--small 0: expected a number from 1 to 1000");
  cr_expect_eq(parse(NULL, "-p", "x", NULL), -EINVAL);
  cr_expect_str_eq(st.err, "--port x: expected a number from 0 to 65535, or off",
                   "a short option is named by its long name");
  /* getopt_long reports these itself; err stays empty */
  cr_expect_eq(parse(NULL, "--frob", NULL), -EINVAL);
  cr_expect_str_eq(st.err, "");
  cr_expect_eq(parse(NULL, "--port", NULL), -EINVAL);
  cr_expect_str_eq(st.err, "");
  cr_expect_eq(parse(NULL, "--flag=yes", NULL), -EINVAL, "a flag takes no value here");
}

Test(settings, help_stops_parsing)
{
  cr_expect_eq(parse(NULL, "-p", "1", "--help", "--small", "0", NULL), 1);
  cr_expect_eq(parse(NULL, "-h", NULL), 1);
}

Test(settings, command_line_wins_over_file)
{
  char *path = conf("port 1\nsmall 9\nbind 10.0.0.1\nbind 10.0.0.2\ntimeout 1h\n");
  /* the file is named after the options it loses to, and before */
  cr_assert_eq(parse(NULL, "--port", "2", "--bind", "::1", "--config", path, "--timeout", "5",
                     NULL),
               0, "%s", st.err);
  cr_expect_eq(o.port, 2);
  cr_expect_eq(o.small, 9, "what the command line leaves alone comes from the file");
  cr_expect_eq(o.timeout_s, 5);
  cr_expect_eq(o.bind.n, 1, "the command line's list replaces the file's");
  cr_expect_str_eq(o.bind.v[0], "::1");
  cr_expect(settings_is_set(&st, "small"));
  cr_expect_not(settings_is_set(&st, "cache"));
  unlink(path);
  free(path);
}

Test(settings, stronger_source_is_kept_whatever_the_order)
{
  /* a loader that runs after the command line (as a daemon's JSON might)
   * cannot undo it, but its values are still checked */
  cr_assert_eq(set("port", "2"), 0);
  cr_assert_eq(set("bind", "::1"), 0);
  cr_expect_eq(load("port 1\nbind 10.0.0.1\nsmall 3\n"), 0, "%s", st.err);
  cr_expect_eq(o.port, 2);
  cr_expect_eq(o.bind.n, 1);
  cr_expect_eq(o.small, 3);
  cr_expect_eq(load("port 99999\n"), -EINVAL, "a weaker value is still checked");
  /* JSON-style values through the alias */
  const struct setting *e = settings_find_alias(&st, "flag-enabled");
  cr_expect_eq(settings_set(&st, e, "true", SETTINGS_FILE, "settings.json: flag-enabled"), 0);
  cr_expect_eq(o.flag, 1);
  cr_expect_eq(settings_set(&st, e, "7", SETTINGS_FILE, "settings.json: flag-enabled"), -EINVAL);
  cr_expect_str_eq(st.err, "settings.json: flag-enabled 7: expected yes or no");
}

Test(settings, config_files_in_order)
{
  char *a = conf("port 1\nbind x\n"), *b = conf("port 2\nbind y\n");
  cr_assert_eq(parse(NULL, "--config", a, "--config", b, NULL), 0, "%s", st.err);
  cr_expect_eq(o.port, 2, "a later file wins over an earlier one");
  cr_expect_eq(o.bind.n, 2, "lists from files of the same rank add up");
  unlink(a);
  unlink(b);
  free(a);
  free(b);
}

Test(settings, usage_lines)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  settings_usage(table, N, f);
  fclose(f);
  cr_expect(strstr(buf, "  -p, --port PORT         the port\n") != NULL, "%s", buf);
  cr_expect(strstr(buf, "      --flag              a flag\n") != NULL, "%s", buf);
  cr_expect(strstr(buf, "      --cache SIZE        cache size;\n"
                        "                          with a suffix\n") != NULL, "%s", buf);
  cr_expect(strstr(buf, "      --a-very-long-option-name VALUE\n"
                        "                          goes on the next line\n") != NULL, "%s", buf);
  free(buf);
}

struct bad_opts {
  int x;
  const char *s;
};

Test(settings_table, bad_entries_are_refused)
{
  static const struct setting bad_size[] = {
      {.name = "s", .type = SETTING_STRING, SETTING_AT(struct bad_opts, x)}};
  static const struct setting bad_def[] = {
      {.name = "x", .type = SETTING_INT, SETTING_AT(struct bad_opts, x), .min = 1, .max = 5,
       .def = "9"}};
  struct bad_opts b;
  struct settings s;
  cr_expect_eq(settings_init(&s, bad_size, 1, &b), -EINVAL);
  cr_expect_str_eq(s.err, "setting 's': bad table entry");
  settings_free(&s);
  cr_expect_eq(settings_init(&s, bad_def, 1, &b), -EINVAL);
  cr_expect_str_eq(s.err, "default of x 9: expected a number from 1 to 5");
  settings_free(&s);
}
