/* observe.c: a tool that logs and makes one HTTP request, for the trace tests
 * (tests/integration/observe_otlp.test.mjs). Its input is the tool's arguments as JSON:
 * {"url": "<url>"} (the URL may not contain '"' or '\'). */
#include "wasimancer-pdk.h"

static char input[8192];
static char url[8192];

/* Logs "fetching <url>" at info, GETs it; output = the response body. */
WM_EXPORT(fetch) int32_t fetch(void) {
  uint64_t n = wm_input_length();
  if (n == 0 || n >= sizeof input) { wm_error_str("observe: the input must be {\"url\": \"...\"}"); return 1; }
  wm_input_load(0, input, (size_t)n);
  input[n] = 0;
  const char *key = "\"url\":";
  char *p = input;
  while (*p && !(p[0] == key[0] && p[1] == key[1] && p[2] == key[2] && p[3] == key[3] && p[4] == key[4] && p[5] == key[5])) p++;
  if (!*p) { wm_error_str("observe: no \"url\" in the input"); return 1; }
  p += 6;
  while (*p == ' ') p++;
  if (*p != '"') { wm_error_str("observe: \"url\" must be a string"); return 1; }
  p++;
  size_t len = 0;
  while (p[len] && p[len] != '"') len++;
  for (size_t i = 0; i < len; i++) url[i] = p[i];
  url[len] = 0;
  static char line[8300];
  const char *prefix = "fetching ";
  size_t k = 0;
  for (; prefix[k]; k++) line[k] = prefix[k];
  for (size_t i = 0; i <= len; i++) line[k + i] = url[i];
  wm_log_info(wm_block_from_str(line));
  static const char *const headers[] = {"accept", "*/*"};
  wm_http_req r = {url, len, "GET", headers, 1};
  wm_http_resp resp = wm_http_send(&r, 0);
  wm_output_set(resp.body, resp.body_len);
  return 0;
}
