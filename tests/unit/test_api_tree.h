/* Scratch folders of generated files for the public create and verify
 * tests: a fresh directory per test, files of deterministic bytes. */
#ifndef TEST_API_TREE_H
#define TEST_API_TREE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tree_dir[64];

static inline void tree_setup(void)
{
  strcpy(tree_dir, "/tmp/shoal-api-XXXXXX");
  cr_assert(mkdtemp(tree_dir));
}

static inline void tree_teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree_dir);
  cr_expect_eq(system(cmd), 0);
}

/* tree_dir/rel, in buf */
static inline const char *tree_path(char *buf, size_t len, const char *rel)
{
  snprintf(buf, len, "%s/%s", tree_dir, rel);
  return buf;
}

/* Writes n bytes ((i * 31 + seed) & 0xff) at tree_dir/rel, making parents. */
static inline void tree_put(const char *rel, size_t n, unsigned seed)
{
  char p[256], cmd[300];
  tree_path(p, sizeof p, rel);
  char *slash = strrchr(p, '/');
  *slash = 0;
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
  cr_assert_eq(system(cmd), 0);
  *slash = '/';
  FILE *f = fopen(p, "wb");
  cr_assert(f, "%s", p);
  for (size_t i = 0; i < n; i++)
    fputc((int)((i * 31 + seed) & 0xff), f);
  fclose(f);
}

#endif
