/* http.c: http_request, http_status_code, http_headers. The input holds the
 * URL (tests point it at a local server on 127.0.0.1). */
#include "wasimancer-pdk.h"

static char url[8192];

/* Reads input[0, n) into `url`; fails the call when too long. */
static int read_url(uint64_t n) {
  if (n == 0 || n > sizeof url) { wm_error_str("http: input must be a URL of 1..8192 bytes"); return 0; }
  wm_input_load(0, url, (size_t)n);
  return 1;
}

static wm_http_resp get(uint64_t n) {
  static const char *const headers[] = {"accept", "*/*", "x-wasimancer-test", "1"};
  wm_http_req r = {url, (size_t)n, "GET", headers, 2};
  return wm_http_send(&r, 0);
}

/* GET <input>; output = response body (empty for an empty body). */
WM_EXPORT(http_get) int32_t http_get(void) {
  uint64_t n = wm_input_length();
  if (!read_url(n)) return 1;
  wm_http_resp r = get(n);
  wm_output_set(r.body, r.body_len);
  return 0;
}

/* GET <input>; output = status code as decimal. */
WM_EXPORT(http_status) int32_t http_status(void) {
  uint64_t n = wm_input_length();
  if (!read_url(n)) return 1;
  wm_http_resp r = get(n);
  wm_output_i64(r.status);
  return 0;
}

/* Input: "<url>\n<body>"; POST body (content-type text/plain) to url; output =
 * response body. No newline: POST with no body (body handle 0). */
WM_EXPORT(http_post) int32_t http_post(void) {
  static const char *const headers[] = {"content-type", "text/plain"};
  uint64_t n = wm_input_length();
  uint64_t nl = 0;
  while (nl < n && wm_input_load_u8(nl) != '\n') nl++;
  if (!read_url(nl)) return 1;
  wm_handle body = nl < n ? wm_block_from_input(nl + 1, n - nl - 1) : 0;
  wm_http_req r = {url, (size_t)nl, "POST", headers, 1};
  wm_http_resp resp = wm_http_send(&r, body);
  wm_output_set(resp.body, resp.body_len);
  return 0;
}

/* GET <input>; output = the http_headers() JSON block, or "{}" when it is 0. */
WM_EXPORT(http_headers) int32_t http_headers_(void) {
  uint64_t n = wm_input_length();
  if (!read_url(n)) return 1;
  wm_http_resp r = get(n);
  wm_free(r.body);
  wm_handle h = wm_http_headers();
  if (h) wm_output_block(h);
  else wm_output_str("{}");
  return 0;
}

/* Sends {"url":<input>,"method":null,"headers":null} (as old go-pdk did);
 * output = response body. A correct host treats it as a GET with no headers. */
static void null_req(wm_sink *s, const void *ctx) {
  wm_sink_str(s, "{\"url\":");
  wm_sink_json_str(s, url, *(const size_t *)ctx);
  wm_sink_str(s, ",\"method\":null,\"headers\":null}");
}
WM_EXPORT(http_method_null) int32_t http_method_null(void) {
  uint64_t n = wm_input_length();
  if (!read_url(n)) return 1;
  size_t len = (size_t)n;
  wm_handle body = wm_http_request(wm_build(null_req, &len), 0);
  wm_output_block(body);
  return 0;
}

/* GET <input> with "method":"get" (lower case; the host upper-cases it);
 * output = status as decimal. */
WM_EXPORT(http_lower_method) int32_t http_lower_method(void) {
  uint64_t n = wm_input_length();
  if (!read_url(n)) return 1;
  wm_http_req r = {url, (size_t)n, "get", 0, 0};
  wm_http_resp resp = wm_http_send(&r, 0);
  wm_output_i64(resp.status);
  return 0;
}

/* Output: http_status_code() before any request in this call (decimal). */
WM_EXPORT(http_status_before) int32_t http_status_before(void) {
  wm_output_i64(wm_http_status_code());
  return 0;
}
