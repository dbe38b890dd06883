/* mcp_features.c: WASImancer's own wasimancer:host/mcp host functions. */
#include "wasimancer-pdk.h"

/* Reports progress i of N with message "step i" for i = 1..N (N = decimal
 * input, default 3 when the input is empty or not a number; 0..1000).
 * Output: "done" when every progress() returned 0, else
 * "done (progress rejected: K)" with K = how many returned non-zero. */
WM_EXPORT(progress_steps) int32_t progress_steps(void) {
  int64_t n = wm_input_i64(3);
  if (n < 0 || n > 1000) { wm_error_str("progress_steps: N must be 0..1000"); return 1; }
  uint64_t rejected = 0;
  for (int64_t i = 1; i <= n; i++) {
    char msg[32] = "step ";
    size_t k = 5 + wm_fmt_i64(i, msg + 5);
    msg[k] = 0;
    if (wm_progress((uint64_t)i, n, msg) != 0) rejected++;
  }
  if (!rejected) { wm_output_str("done"); return 0; }
  char out[64] = "done (progress rejected: ";
  size_t k = 25 + wm_fmt_u64(rejected, out + 25);
  out[k++] = ')';
  wm_output_buf(out, k);
  return 0;
}

/* notify_log(info, <input>). Output: "sent". */
WM_EXPORT(notify) int32_t notify(void) {
  wm_mcp_notify_log(WM_MCP_INFO, wm_block_from_input(0, wm_input_length()));
  wm_output_str("sent");
  return 0;
}

/* {"messages":[{"role":"user","content":{"type":"text","text":<input>}}],"maxTokens":100} */
static void sample_json(wm_sink *s, const void *ctx) {
  (void)ctx;
  wm_sink_str(s, "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":");
  wm_sink_json_input(s, 0, wm_input_length());
  wm_sink_str(s, "}}],\"maxTokens\":100}");
}

/* sample() with the input as the user's text. Output: the result JSON block;
 * error "sampling failed" when the host returns 0. */
WM_EXPORT(ask_model) int32_t ask_model(void) {
  wm_handle r = wm_mcp_sample(wm_build(sample_json, 0));
  if (!r) { wm_error_str("sampling failed"); return 1; }
  wm_output_block(r);
  return 0;
}

/* {"message":<input>,"requestedSchema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}} */
static void elicit_json(wm_sink *s, const void *ctx) {
  (void)ctx;
  wm_sink_str(s, "{\"message\":");
  wm_sink_json_input(s, 0, wm_input_length());
  wm_sink_str(s, ",\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}}");
}

/* elicit() with message = input. Output: the result JSON block; error
 * "elicitation failed" when the host returns 0. */
WM_EXPORT(ask_user) int32_t ask_user(void) {
  wm_handle r = wm_mcp_elicit(wm_build(elicit_json, 0));
  if (!r) { wm_error_str("elicitation failed"); return 1; }
  wm_output_block(r);
  return 0;
}
