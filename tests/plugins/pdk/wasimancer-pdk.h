/*
 * wasimancer-pdk.h: a small header-only C PDK for Extism-ABI plugins.
 *
 * Written for WASImancer's test plugins from the host ABI description in
 * docs/extism-abi.md (shared docs). Build with:
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -o p.wasm p.c
 *
 * Everything here is `static inline`, and every import is a plain extern
 * declaration, so a plugin imports only the host functions it actually calls.
 *
 * ---------------------------------------------------------------------------
 * Memory and ownership rules (the Extism host ABI)
 * ---------------------------------------------------------------------------
 *  - Kernel memory is separate from the plugin's linear memory. A "handle"
 *    (wm_handle, an i64) is an opaque offset of a kernel block. Bytes are
 *    copied with load_u8/load_u64/store_u8/store_u64; handle+i addresses byte i
 *    of the block (unaligned, little-endian).
 *  - Handle 0 means NULL: allocation failure, alloc(0), "not found", "no
 *    body", or "clear the error".
 *  - length(h) is the block length for the exact start of a live block, else 0.
 *  - free() is a no-op for 0, unknown or already-freed handles.
 *  - All blocks (and input, output, error) are invalidated before each call.
 *  - A handle PASSED to a host function belongs to the host afterwards; the
 *    host frees it (config_get, var_get, var_set, http_request (request and
 *    body), log_*, output_set/error_set (recorded, freed by the next reset),
 *    and the wasimancer:host/mcp functions). Do not free it again (a second
 *    free is harmless, but pointless).
 *  - A handle RETURNED by a host function belongs to the plugin (config_get,
 *    var_get, http_request, http_headers, error_get, sample, elicit). The
 *    plugin may free it, pass it on (e.g. to output_set), or leave it to the
 *    reset before the next call.
 *  - Out-of-range kernel loads return 0 and stores are ignored (no trap).
 *
 * Naming: wm__env_* / wm__mcp_* are the raw imports; wm_* are the wrappers and
 * helpers to use. Define WASIMANCER_PDK_NO_MCP to leave out the
 * wasimancer:host/mcp section entirely.
 */
#ifndef WASIMANCER_PDK_H
#define WASIMANCER_PDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t wm_handle;

#define WM_ENV_IMPORT(n) __attribute__((import_module("extism:host/env"), import_name(#n)))
#define WM_EXPORT(n) __attribute__((export_name(#n)))

/* ===================================================================== */
/* Raw imports: extism:host/env (signatures exactly as in the ABI)        */
/* ===================================================================== */

/* Kernel: memory */
WM_ENV_IMPORT(alloc)          extern uint64_t wm__env_alloc(uint64_t n);
WM_ENV_IMPORT(free)           extern void     wm__env_free(uint64_t h);
WM_ENV_IMPORT(length)         extern uint64_t wm__env_length(uint64_t h);
WM_ENV_IMPORT(length_unsafe)  extern uint64_t wm__env_length_unsafe(uint64_t h);
WM_ENV_IMPORT(load_u8)        extern uint32_t wm__env_load_u8(uint64_t p);            /* (i64)->i32 */
WM_ENV_IMPORT(load_u64)       extern uint64_t wm__env_load_u64(uint64_t p);
WM_ENV_IMPORT(store_u8)       extern void     wm__env_store_u8(uint64_t p, uint32_t v); /* (i64,i32)->() */
WM_ENV_IMPORT(store_u64)      extern void     wm__env_store_u64(uint64_t p, uint64_t v);
/* Kernel: input / output / error */
WM_ENV_IMPORT(input_offset)   extern uint64_t wm__env_input_offset(void);
WM_ENV_IMPORT(input_length)   extern uint64_t wm__env_input_length(void);
WM_ENV_IMPORT(input_load_u8)  extern uint32_t wm__env_input_load_u8(uint64_t i);
WM_ENV_IMPORT(input_load_u64) extern uint64_t wm__env_input_load_u64(uint64_t i);
WM_ENV_IMPORT(output_set)     extern void     wm__env_output_set(uint64_t h, uint64_t len);
WM_ENV_IMPORT(error_set)      extern void     wm__env_error_set(uint64_t h);
WM_ENV_IMPORT(error_get)      extern uint64_t wm__env_error_get(void);
/* Kernel: the host's control API (importable, no real PDK uses it) */
WM_ENV_IMPORT(input_set)      extern void     wm__env_input_set(uint64_t h, uint64_t len);
WM_ENV_IMPORT(output_offset)  extern uint64_t wm__env_output_offset(void);
WM_ENV_IMPORT(output_length)  extern uint64_t wm__env_output_length(void);
WM_ENV_IMPORT(reset)          extern void     wm__env_reset(void);
WM_ENV_IMPORT(memory_bytes)   extern uint64_t wm__env_memory_bytes(void);
/* Host functions */
WM_ENV_IMPORT(config_get)       extern uint64_t wm__env_config_get(uint64_t key);
WM_ENV_IMPORT(var_get)          extern uint64_t wm__env_var_get(uint64_t key);
WM_ENV_IMPORT(var_set)          extern void     wm__env_var_set(uint64_t key, uint64_t val);
WM_ENV_IMPORT(http_request)     extern uint64_t wm__env_http_request(uint64_t req, uint64_t body);
WM_ENV_IMPORT(http_status_code) extern int32_t  wm__env_http_status_code(void);
WM_ENV_IMPORT(http_headers)     extern uint64_t wm__env_http_headers(void);
WM_ENV_IMPORT(log_info)         extern void     wm__env_log_info(uint64_t msg);
WM_ENV_IMPORT(log_debug)        extern void     wm__env_log_debug(uint64_t msg);
WM_ENV_IMPORT(log_warn)         extern void     wm__env_log_warn(uint64_t msg);
WM_ENV_IMPORT(log_error)        extern void     wm__env_log_error(uint64_t msg);
WM_ENV_IMPORT(log_trace)        extern void     wm__env_log_trace(uint64_t msg);
WM_ENV_IMPORT(get_log_level)    extern int32_t  wm__env_get_log_level(void);

/* ===================================================================== */
/* Thin wrappers                                                          */
/* ===================================================================== */

static inline wm_handle wm_alloc(uint64_t n) { return wm__env_alloc(n); }
static inline void      wm_free(wm_handle h) { wm__env_free(h); }
static inline uint64_t  wm_length(wm_handle h) { return wm__env_length(h); }
static inline uint64_t  wm_length_unsafe(wm_handle h) { return wm__env_length_unsafe(h); }
static inline uint8_t   wm_load_u8(uint64_t p) { return (uint8_t)(wm__env_load_u8(p) & 0xFFu); }
static inline uint64_t  wm_load_u64(uint64_t p) { return wm__env_load_u64(p); }
static inline void      wm_store_u8(uint64_t p, uint8_t v) { wm__env_store_u8(p, v); }
static inline void      wm_store_u64(uint64_t p, uint64_t v) { wm__env_store_u64(p, v); }

static inline wm_handle wm_input_offset(void) { return wm__env_input_offset(); }
static inline uint64_t  wm_input_length(void) { return wm__env_input_length(); }
static inline uint8_t   wm_input_load_u8(uint64_t i) { return (uint8_t)(wm__env_input_load_u8(i) & 0xFFu); }
static inline uint64_t  wm_input_load_u64(uint64_t i) { return wm__env_input_load_u64(i); }
static inline void      wm_output_set(wm_handle h, uint64_t len) { wm__env_output_set(h, len); }
static inline void      wm_error_set(wm_handle h) { wm__env_error_set(h); }
static inline wm_handle wm_error_get(void) { return wm__env_error_get(); }

static inline void      wm_input_set(wm_handle h, uint64_t len) { wm__env_input_set(h, len); }
static inline wm_handle wm_output_offset(void) { return wm__env_output_offset(); }
static inline uint64_t  wm_output_length(void) { return wm__env_output_length(); }
static inline void      wm_reset(void) { wm__env_reset(); }
static inline uint64_t  wm_memory_bytes(void) { return wm__env_memory_bytes(); }

static inline wm_handle wm_config_get(wm_handle key) { return wm__env_config_get(key); }
static inline wm_handle wm_var_get(wm_handle key) { return wm__env_var_get(key); }
static inline void      wm_var_set(wm_handle key, wm_handle val) { wm__env_var_set(key, val); }
static inline wm_handle wm_http_request(wm_handle req, wm_handle body) { return wm__env_http_request(req, body); }
static inline int32_t   wm_http_status_code(void) { return wm__env_http_status_code(); }
static inline wm_handle wm_http_headers(void) { return wm__env_http_headers(); }
static inline void      wm_log_info(wm_handle m) { wm__env_log_info(m); }
static inline void      wm_log_debug(wm_handle m) { wm__env_log_debug(m); }
static inline void      wm_log_warn(wm_handle m) { wm__env_log_warn(m); }
static inline void      wm_log_error(wm_handle m) { wm__env_log_error(m); }
static inline void      wm_log_trace(wm_handle m) { wm__env_log_trace(m); }
static inline int32_t   wm_get_log_level(void) { return wm__env_get_log_level(); }

/* ===================================================================== */
/* Guest-side utilities (no libc needed)                                  */
/* ===================================================================== */

static inline size_t wm_strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

/* Little-endian pack/unpack without relying on memcpy. */
static inline uint64_t wm__get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline void wm__put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; }
}

/* Decimal formatting; `out` needs 21 bytes (no NUL is written). Returns length. */
static inline size_t wm_fmt_u64(uint64_t v, char *out) {
  char tmp[20];
  size_t n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}
static inline size_t wm_fmt_i64(int64_t v, char *out) {
  if (v < 0) { out[0] = '-'; return 1 + wm_fmt_u64((uint64_t)0 - (uint64_t)v, out + 1); }
  return wm_fmt_u64((uint64_t)v, out);
}

/* Parses an optionally signed decimal integer surrounded by optional ASCII
 * whitespace. Returns 1 on success, 0 on empty/invalid text (then *out is unchanged). */
static inline int wm_parse_i64(const char *s, size_t n, int64_t *out) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
  while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) { neg = s[i] == '-'; i++; }
  if (i >= n) return 0;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
  return 1;
}

/* ===================================================================== */
/* Block helpers                                                          */
/* ===================================================================== */

/* Copies n guest bytes into kernel memory at h+off: 8-byte chunks with
 * store_u64, then the remainder with store_u8. */
static inline void wm_store(wm_handle h, uint64_t off, const void *src, size_t n) {
  const uint8_t *p = (const uint8_t *)src;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) wm_store_u64(h + off + i, wm__get_le64(p + i));
  for (; i < n; i++) wm_store_u8(h + off + i, p[i]);
}

/* Copies n kernel bytes at h+off into guest memory: load_u64 chunks + load_u8. */
static inline void wm_load(wm_handle h, uint64_t off, void *dst, size_t n) {
  uint8_t *p = (uint8_t *)dst;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) wm__put_le64(p + i, wm_load_u64(h + off + i));
  for (; i < n; i++) p[i] = wm_load_u8(h + off + i);
}

/* Allocates a kernel block holding a copy of a guest buffer. Returns 0 when
 * n == 0 (alloc(0) is 0) or when the allocation fails. */
static inline wm_handle wm_block_from(const void *src, size_t n) {
  wm_handle h = wm_alloc(n);
  if (h) wm_store(h, 0, src, n);
  return h;
}
static inline wm_handle wm_block_from_str(const char *s) { return wm_block_from(s, wm_strlen(s)); }

/* Copies a kernel block into a guest buffer: min(length(h), cap) bytes.
 * Returns the full block length (0 for an invalid handle). */
static inline uint64_t wm_block_read(wm_handle h, void *dst, size_t cap) {
  uint64_t len = wm_length(h);
  wm_load(h, 0, dst, len < cap ? (size_t)len : cap);
  return len;
}

/* Copies input[start, start+n) into guest memory (input_load_u64 chunks + input_load_u8). */
static inline void wm_input_load(uint64_t start, void *dst, size_t n) {
  uint8_t *p = (uint8_t *)dst;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) wm__put_le64(p + i, wm_input_load_u64(start + i));
  for (; i < n; i++) p[i] = wm_input_load_u8(start + i);
}

/* Copies the input into a guest buffer: min(input_length(), cap) bytes.
 * Returns the full input length. */
static inline uint64_t wm_input_read(void *dst, size_t cap) {
  uint64_t len = wm_input_length();
  wm_input_load(0, dst, len < cap ? (size_t)len : cap);
  return len;
}

/* Reads the input as a decimal integer (at most 63 bytes are considered);
 * returns `dflt` for empty or invalid input. */
static inline int64_t wm_input_i64(int64_t dflt) {
  char buf[64];
  uint64_t len = wm_input_read(buf, sizeof buf);
  int64_t v = dflt;
  if (len == 0 || len > sizeof buf || !wm_parse_i64(buf, (size_t)len, &v)) return dflt;
  return v;
}

/* New kernel block holding input[start, start+n) (kernel-to-kernel copy, no
 * guest buffer). Returns 0 when n == 0 or on allocation failure. */
static inline wm_handle wm_block_from_input(uint64_t start, uint64_t n) {
  wm_handle h = wm_alloc(n);
  if (!h) return 0;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) wm_store_u64(h + i, wm_input_load_u64(start + i));
  for (; i < n; i++) wm_store_u8(h + i, wm_input_load_u8(start + i));
  return h;
}

/* ===================================================================== */
/* Output, error, config, vars                                           */
/* ===================================================================== */

/* Sets the output to a copy of a guest buffer. An empty buffer gives output_set(0, 0). */
static inline void wm_output_buf(const void *p, size_t n) {
  wm_handle h = wm_block_from(p, n);
  wm_output_set(h, h ? n : 0);
}
static inline void wm_output_str(const char *s) { wm_output_buf(s, wm_strlen(s)); }
static inline void wm_output_u64(uint64_t v) { char b[21]; wm_output_buf(b, wm_fmt_u64(v, b)); }
static inline void wm_output_i64(int64_t v) { char b[21]; wm_output_buf(b, wm_fmt_i64(v, b)); }
/* Sets the output to a whole kernel block (no copy). */
static inline void wm_output_block(wm_handle h) { wm_output_set(h, wm_length(h)); }

/* Sets the error message. An empty string cannot be represented (alloc(0) is
 * 0), so it clears the error. */
static inline void wm_error_str(const char *s) { wm_error_set(wm_block_from_str(s)); }
static inline void wm_error_clear(void) { wm_error_set(0); }

/* config_get/var_get with a guest key, copying the value into `dst`.
 * Returns -1 when the host returns 0 (unset or empty), else the full value
 * length (only min(len, cap) bytes are copied). The value block is freed. */
static inline int64_t wm__get_str(wm_handle (*getter)(wm_handle), const char *key, size_t key_len,
                                  void *dst, size_t cap) {
  wm_handle v = getter(wm_block_from(key, key_len)); /* the host frees the key */
  if (!v) return -1;
  uint64_t len = wm_block_read(v, dst, cap);
  wm_free(v);
  return (int64_t)len;
}
static inline int64_t wm_config_read(const char *key, void *dst, size_t cap) {
  return wm__get_str(wm_config_get, key, wm_strlen(key), dst, cap);
}
static inline int64_t wm_var_read(const char *key, void *dst, size_t cap) {
  return wm__get_str(wm_var_get, key, wm_strlen(key), dst, cap);
}
/* Stores var `key` = guest bytes; n == 0 deletes the key (val handle 0). */
static inline void wm_var_write(const char *key, const void *val, size_t n) {
  wm_handle k = wm_block_from_str(key);
  wm_handle v = wm_block_from(val, n);
  wm_var_set(k, v); /* the host frees both */
}
static inline void wm_var_delete(const char *key) { wm_var_set(wm_block_from_str(key), 0); }

/* ===================================================================== */
/* Logging                                                                */
/* ===================================================================== */

enum { WM_LOG_TRACE = 0, WM_LOG_DEBUG = 1, WM_LOG_INFO = 2, WM_LOG_WARN = 3, WM_LOG_ERROR = 4 };

/* Logs a guest buffer at `level` (WM_LOG_*), skipping levels below
 * get_log_level() like the real PDKs. Returns 1 if the message was sent. */
static inline int wm_log_buf(int level, const void *msg, size_t n) {
  if (level < wm_get_log_level()) return 0;
  wm_handle h = wm_block_from(msg, n); /* the host frees it */
  switch (level) {
    case WM_LOG_TRACE: wm_log_trace(h); break;
    case WM_LOG_DEBUG: wm_log_debug(h); break;
    case WM_LOG_INFO:  wm_log_info(h); break;
    case WM_LOG_WARN:  wm_log_warn(h); break;
    default:           wm_log_error(h); break;
  }
  return 1;
}
static inline int wm_log(int level, const char *msg) { return wm_log_buf(level, msg, wm_strlen(msg)); }

/* ===================================================================== */
/* Building text directly in a kernel block (two passes: measure, write)  */
/* ===================================================================== */

/* A sink either counts bytes (h == 0) or writes them to kernel block h. Bytes
 * are staged in a small guest buffer and flushed with wm_store. */
typedef struct {
  wm_handle h;
  uint64_t pos; /* bytes emitted so far (flushed + staged) */
  uint32_t staged;
  uint8_t buf[64];
} wm_sink;

static inline void wm_sink_flush(wm_sink *s) {
  if (s->h && s->staged) wm_store(s->h, s->pos - s->staged, s->buf, s->staged);
  s->staged = 0;
}
static inline void wm_sink_byte(wm_sink *s, uint8_t c) {
  s->pos++;
  if (!s->h) return;
  s->buf[s->staged++] = c;
  if (s->staged == sizeof s->buf) wm_sink_flush(s);
}
static inline void wm_sink_bytes(wm_sink *s, const void *p, size_t n) {
  const uint8_t *b = (const uint8_t *)p;
  for (size_t i = 0; i < n; i++) wm_sink_byte(s, b[i]);
}
static inline void wm_sink_str(wm_sink *s, const char *str) { wm_sink_bytes(s, str, wm_strlen(str)); }
static inline void wm_sink_u64(wm_sink *s, uint64_t v) { char b[21]; wm_sink_bytes(s, b, wm_fmt_u64(v, b)); }
static inline void wm_sink_i64(wm_sink *s, int64_t v) { char b[21]; wm_sink_bytes(s, b, wm_fmt_i64(v, b)); }

/* One byte of a JSON string body: escapes '"', '\\' and control characters;
 * other bytes (including UTF-8 sequences) are copied as they are. */
static inline void wm_sink_json_char(wm_sink *s, uint8_t c) {
  static const char hex[] = "0123456789abcdef";
  if (c == '"' || c == '\\') { wm_sink_byte(s, '\\'); wm_sink_byte(s, c); }
  else if (c == '\n') { wm_sink_byte(s, '\\'); wm_sink_byte(s, 'n'); }
  else if (c == '\r') { wm_sink_byte(s, '\\'); wm_sink_byte(s, 'r'); }
  else if (c == '\t') { wm_sink_byte(s, '\\'); wm_sink_byte(s, 't'); }
  else if (c < 0x20) {
    wm_sink_str(s, "\\u00");
    wm_sink_byte(s, (uint8_t)hex[c >> 4]);
    wm_sink_byte(s, (uint8_t)hex[c & 15]);
  } else wm_sink_byte(s, c);
}
/* A quoted JSON string from a guest buffer. */
static inline void wm_sink_json_str(wm_sink *s, const char *p, size_t n) {
  wm_sink_byte(s, '"');
  for (size_t i = 0; i < n; i++) wm_sink_json_char(s, (uint8_t)p[i]);
  wm_sink_byte(s, '"');
}
/* A quoted JSON string from input[start, start+n). */
static inline void wm_sink_json_input(wm_sink *s, uint64_t start, uint64_t n) {
  wm_sink_byte(s, '"');
  for (uint64_t i = 0; i < n; i++) wm_sink_json_char(s, wm_input_load_u8(start + i));
  wm_sink_byte(s, '"');
}

/* Runs `fn` twice: once to measure, once to write into a fresh block of
 * exactly that size. Returns the block (0 if empty or allocation failed). */
typedef void (*wm_build_fn)(wm_sink *s, const void *ctx);
static inline wm_handle wm_build(wm_build_fn fn, const void *ctx) {
  wm_sink s;
  s.h = 0; s.pos = 0; s.staged = 0;
  fn(&s, ctx);
  uint64_t n = s.pos;
  wm_handle h = wm_alloc(n);
  if (!h) return 0;
  s.h = h; s.pos = 0; s.staged = 0;
  fn(&s, ctx);
  wm_sink_flush(&s);
  return h;
}

/* ===================================================================== */
/* HTTP                                                                   */
/* ===================================================================== */

typedef struct {
  const char *url;             /* guest bytes, url_len long */
  size_t url_len;
  const char *method;          /* NUL-terminated, e.g. "GET"; NULL sends "method":null */
  const char *const *headers;  /* name, value, name, value, ...; may be NULL */
  size_t n_headers;            /* number of (name, value) pairs */
} wm_http_req;

typedef struct {
  int32_t status;    /* http_status_code() after the request */
  wm_handle body;    /* response body block (plugin-owned), 0 when empty */
  uint64_t body_len; /* length(body) */
} wm_http_resp;

/* {"url":"...","method":"GET","headers":{"name":"value",...}} */
static inline void wm__http_req_json(wm_sink *s, const void *ctx) {
  const wm_http_req *r = (const wm_http_req *)ctx;
  wm_sink_str(s, "{\"url\":");
  wm_sink_json_str(s, r->url, r->url_len);
  wm_sink_str(s, ",\"method\":");
  if (r->method) wm_sink_json_str(s, r->method, wm_strlen(r->method));
  else wm_sink_str(s, "null");
  wm_sink_str(s, ",\"headers\":{");
  for (size_t i = 0; r->headers && i < r->n_headers; i++) {
    if (i) wm_sink_byte(s, ',');
    wm_sink_json_str(s, r->headers[2 * i], wm_strlen(r->headers[2 * i]));
    wm_sink_byte(s, ':');
    wm_sink_json_str(s, r->headers[2 * i + 1], wm_strlen(r->headers[2 * i + 1]));
  }
  wm_sink_str(s, "}}");
}

/* Sends a request. `body` is a kernel block or 0 (no body); the host takes
 * ownership of it. A denied host or a transport failure traps in the host
 * (the call fails); 4xx/5xx come back as a status. */
static inline wm_http_resp wm_http_send(const wm_http_req *req, wm_handle body) {
  wm_http_resp r;
  wm_handle reqh = wm_build(wm__http_req_json, req); /* the host frees it */
  r.body = wm_http_request(reqh, body);
  r.body_len = r.body ? wm_length(r.body) : 0;
  r.status = wm_http_status_code();
  return r;
}

/* ===================================================================== */
/* wasimancer:host/mcp: WASImancer's own host functions                   */
/* ===================================================================== */
/*
 * Provided by the WASImancer server only (not by Extism). A plugin that calls
 * any of these imports them; plugins that don't, don't. Ownership: the JSON
 * handle passed in belongs to the host (it frees it); a returned handle
 * belongs to the plugin.
 *
 *   progress(i64 json) -> i32    {"progress":n,"total":n?,"message":"..."?};
 *                                0 = sent, non-zero = the client cannot receive progress.
 *   notify_log(i32 level, i64 msg) -> ()
 *                                MCP notifications/message; level 0..7 =
 *                                debug, info, notice, warning, error, critical, alert, emergency.
 *   sample(i64 json) -> i64      sampling/createMessage params; result JSON block or 0.
 *   elicit(i64 json) -> i64      elicitation/create params; result JSON block or 0.
 */
#ifndef WASIMANCER_PDK_NO_MCP

#define WM_MCP_IMPORT(n) __attribute__((import_module("wasimancer:host/mcp"), import_name(#n)))
WM_MCP_IMPORT(progress)   extern int32_t  wm__mcp_progress(uint64_t json);
WM_MCP_IMPORT(notify_log) extern void     wm__mcp_notify_log(int32_t level, uint64_t msg);
WM_MCP_IMPORT(sample)     extern uint64_t wm__mcp_sample(uint64_t json);
WM_MCP_IMPORT(elicit)     extern uint64_t wm__mcp_elicit(uint64_t json);

enum {
  WM_MCP_DEBUG = 0, WM_MCP_INFO = 1, WM_MCP_NOTICE = 2, WM_MCP_WARNING = 3,
  WM_MCP_ERROR = 4, WM_MCP_CRITICAL = 5, WM_MCP_ALERT = 6, WM_MCP_EMERGENCY = 7
};

static inline int32_t   wm_mcp_progress(wm_handle json) { return wm__mcp_progress(json); }
static inline void      wm_mcp_notify_log(int32_t level, wm_handle msg) { wm__mcp_notify_log(level, msg); }
static inline wm_handle wm_mcp_sample(wm_handle json) { return wm__mcp_sample(json); }
static inline wm_handle wm_mcp_elicit(wm_handle json) { return wm__mcp_elicit(json); }

typedef struct {
  uint64_t progress;
  uint64_t total;      /* ignored when has_total == 0 */
  int has_total;
  const char *message; /* NUL-terminated, or NULL for none */
} wm__progress_args;

static inline void wm__progress_json(wm_sink *s, const void *ctx) {
  const wm__progress_args *a = (const wm__progress_args *)ctx;
  wm_sink_str(s, "{\"progress\":");
  wm_sink_u64(s, a->progress);
  if (a->has_total) { wm_sink_str(s, ",\"total\":"); wm_sink_u64(s, a->total); }
  if (a->message) { wm_sink_str(s, ",\"message\":"); wm_sink_json_str(s, a->message, wm_strlen(a->message)); }
  wm_sink_byte(s, '}');
}

/* Reports progress; total < 0 means "unknown". Returns the host's result (0 ok). */
static inline int32_t wm_progress(uint64_t progress, int64_t total, const char *message) {
  wm__progress_args a;
  a.progress = progress;
  a.total = total < 0 ? 0 : (uint64_t)total;
  a.has_total = total >= 0;
  a.message = message;
  return wm_mcp_progress(wm_build(wm__progress_json, &a));
}

/* Sends an MCP log notification with a guest string. */
static inline void wm_notify(int32_t level, const char *msg) {
  wm_mcp_notify_log(level, wm_block_from_str(msg));
}

/* sample/elicit with a guest JSON string. Return the result block or 0. */
static inline wm_handle wm_sample_json(const char *json) { return wm_mcp_sample(wm_block_from_str(json)); }
static inline wm_handle wm_elicit_json(const char *json) { return wm_mcp_elicit(wm_block_from_str(json)); }

#endif /* WASIMANCER_PDK_NO_MCP */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WASIMANCER_PDK_H */
