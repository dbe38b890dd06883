/* A WASI command (not an Extism plugin): `_start` reads stdin and writes stdout, as a program
 * built for `wasmtime run` would. Served with `kind: command` (tests/integration/wasi_command.test.mjs,
 * tests/unit/registry_command_test.cpp).
 *
 *   wc_command [upper|count|fail|args|loop|spam]   default: upper
 *     upper  stdin upper-cased on stdout
 *     count  "<lines> <words> <bytes>\n" of stdin
 *     fail   "no such mode\n" on stderr, exit code 3
 *     args   every argument (argv[0] included) on its own line
 *     loop   never ends (timeouts)
 *     spam   writes to stdout without end (output bound)
 *     state  a counter kept in a global: 1 on every run when each run gets a fresh instance
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int counter;

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "upper";
  if (strcmp(mode, "args") == 0) {
    for (int i = 0; i < argc; ++i) printf("%s\n", argv[i]);
    return 0;
  }
  if (strcmp(mode, "state") == 0) {
    printf("%d\n", ++counter);
    return 0;
  }
  if (strcmp(mode, "loop") == 0) {
    volatile unsigned long n = 0;
    for (;;) ++n;
  }
  if (strcmp(mode, "spam") == 0) {
    for (;;) fputs("spam spam spam spam spam spam spam spam spam spam spam spam spam\n", stdout);
  }
  if (strcmp(mode, "upper") == 0) {
    int c;
    while ((c = getchar()) != EOF) putchar(toupper(c));
    return 0;
  }
  if (strcmp(mode, "count") == 0) {
    long lines = 0, words = 0, bytes = 0;
    int c, in_word = 0;
    while ((c = getchar()) != EOF) {
      ++bytes;
      if (c == '\n') ++lines;
      if (isspace(c)) in_word = 0;
      else if (!in_word) { in_word = 1; ++words; }
    }
    printf("%ld %ld %ld\n", lines, words, bytes);
    return 0;
  }
  fprintf(stderr, "no such mode: %s\n", mode);
  return 3;
}
