/* args.h: reading the tool arguments (a small JSON object) in the example plugins.
 * Enough JSON for flat objects of numbers and strings; real plugins would use a JSON library. */
#ifndef EXAMPLE_ARGS_H
#define EXAMPLE_ARGS_H

#include "wasimancer-pdk.h"

/* The input, NUL-terminated, in a static buffer. */
__attribute__((unused)) static char *args_input(size_t *len) {
  static char buf[16384];
  uint64_t n = wm_input_read(buf, sizeof buf - 1);
  buf[n] = 0;
  if (len) *len = (size_t)n;
  return buf;
}

/* Finds "key": in the input; returns a pointer just after the colon, or 0. */
__attribute__((unused)) static const char *args_find(const char *json, const char *key) {
  size_t klen = wm_strlen(key);
  for (const char *p = json; *p; p++) {
    if (*p != '"') continue;
    size_t i = 0;
    while (i < klen && p[1 + i] == key[i]) i++;
    if (i != klen || p[1 + klen] != '"') continue;
    const char *q = p + klen + 2;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q != ':') continue;
    q++;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    return q;
  }
  return 0;
}

/* An integer argument (numbers with a fraction are truncated), or `dflt`. */
__attribute__((unused)) static int64_t args_int(const char *json, const char *key, int64_t dflt) {
  const char *p = args_find(json, key);
  if (!p) return dflt;
  int neg = 0;
  if (*p == '-') { neg = 1; p++; }
  if (*p < '0' || *p > '9') return dflt;
  int64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return neg ? -v : v;
}

/* A string argument copied (unescaped for \" and \\ only) into `out`; returns its length or -1. */
__attribute__((unused)) static int64_t args_str(const char *json, const char *key, char *out, size_t cap) {
  const char *p = args_find(json, key);
  if (!p || *p != '"') return -1;
  size_t n = 0;
  for (p++; *p && *p != '"'; p++) {
    char c = *p;
    if (c == '\\' && p[1]) c = *++p;
    if (n + 1 < cap) out[n++] = c;
  }
  out[n] = 0;
  return (int64_t)n;
}

#endif
