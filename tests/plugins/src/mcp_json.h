/* mcp_json.h: the little JSON the self-describing test plugins need (no escapes in what they
 * read; everything they write is escaped). A static output buffer, written with out_*(). */
#ifndef MCP_JSON_H
#define MCP_JSON_H
#include <string.h>

#include "wasimancer-pdk.h"

static char mj_in[8192];
static char mj_out[16384];
static size_t mj_len;

/* The input, NUL-terminated (truncated to the buffer). */
static inline const char *read_input(void) {
  size_t n = wm_input_read(mj_in, sizeof mj_in - 1);
  mj_in[n] = 0;
  return mj_in;
}

/* The string value of "key":"..." at or after `s` (no escapes), into out; 0 if absent. */
static inline size_t json_str(const char *s, const char *key, char *out, size_t cap) {
  char pat[64] = "\"";
  strncat(pat, key, 40);
  strcat(pat, "\":\"");
  const char *p = strstr(s, pat);
  if (!p) return 0;
  p += strlen(pat);
  size_t n = 0;
  while (p[n] && p[n] != '"' && n + 1 < cap) { out[n] = p[n]; n++; }
  out[n] = 0;
  return n;
}

static inline void out_reset(void) { mj_len = 0; }
static inline void out_raw(const char *s) {
  size_t n = strlen(s);
  if (mj_len + n < sizeof mj_out) { memcpy(mj_out + mj_len, s, n); mj_len += n; }
}
static inline void out_str(const char *s) {  /* a JSON string literal */
  out_raw("\"");
  for (; *s; s++) {
    char e[8] = {0};
    if (*s == '"' || *s == '\\') { e[0] = '\\'; e[1] = *s; }
    else if ((unsigned char)*s < 0x20) { strcpy(e, "\\u0020"); }
    else e[0] = *s;
    out_raw(e);
  }
  out_raw("\"");
}
static inline void out_send(void) { wm_output_buf(mj_out, mj_len); }

static inline void text_result(const char *text, int is_error) {
  out_reset();
  out_raw("{\"content\":[{\"type\":\"text\",\"text\":");
  out_str(text);
  out_raw(is_error ? "}],\"isError\":true}" : "}]}");
  out_send();
}

/* A host function's answer (a kernel handle) as a C string (0: none). */
static inline const char *handle_text(wm_handle h, char *buf, size_t cap) {
  if (!h) return 0;
  uint64_t n = wm_block_read(h, buf, cap - 1);
  buf[n < cap ? n : cap - 1] = 0;
  return buf;
}
#endif
