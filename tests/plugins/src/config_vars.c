/* config_vars.c: config_get, var_get and var_set. */
#include "wasimancer-pdk.h"

static const char unset[] = "<unset>";

/* Output: config value for key = input, or "<unset>" when config_get returns 0. */
WM_EXPORT(config) int32_t config(void) {
  wm_handle key = wm_block_from_input(0, wm_input_length());
  wm_handle v = wm_config_get(key); /* the host frees key */
  if (v) wm_output_block(v);
  else wm_output_str(unset);
  return 0;
}

/* var "count" (decimal text, absent = 0) + 1 -> stored and output. */
WM_EXPORT(var_counter) int32_t var_counter(void) {
  char buf[32];
  int64_t n = wm_var_read("count", buf, sizeof buf);
  int64_t count = 0;
  if (n > 0 && (size_t)n <= sizeof buf && !wm_parse_i64(buf, (size_t)n, &count)) {
    wm_error_str("var count is not a number");
    return 1;
  }
  count++;
  size_t k = wm_fmt_i64(count, buf);
  wm_var_write("count", buf, k);
  wm_output_buf(buf, k);
  return 0;
}

/* var "v" = input (empty input deletes "v"). No output. */
WM_EXPORT(var_set_input) int32_t var_set_input(void) {
  wm_var_set(wm_block_from_str("v"), wm_block_from_input(0, wm_input_length()));
  return 0;
}

/* Output: value of the var named by the input, or "<unset>". */
WM_EXPORT(var_get) int32_t var_get_(void) {
  wm_handle v = wm_var_get(wm_block_from_input(0, wm_input_length()));
  if (v) wm_output_block(v);
  else wm_output_str(unset);
  return 0;
}

/* Deletes the var named by the input: var_set(key, 0). No output. */
WM_EXPORT(var_delete) int32_t var_delete(void) {
  wm_var_set(wm_block_from_input(0, wm_input_length()), 0);
  return 0;
}

/* Stores var "big" with N bytes ('b' repeated), N = decimal input. Output:
 * "stored N" when the host accepted it (the host fails the call with
 * "Variable store is full" when over its limit). */
WM_EXPORT(var_big) int32_t var_big(void) {
  int64_t n = wm_input_i64(0);
  if (n <= 0) { wm_error_str("var_big: input must be a positive decimal size"); return 1; }
  wm_handle v = wm_alloc((uint64_t)n);
  if (!v) { wm_error_str("var_big: alloc failed"); return 1; }
  uint64_t i = 0;
  for (; i + 8 <= (uint64_t)n; i += 8) wm_store_u64(v + i, 0x6262626262626262ull);
  for (; i < (uint64_t)n; i++) wm_store_u8(v + i, 'b');
  wm_var_set(wm_block_from_str("big"), v);
  char buf[40] = "stored ";
  size_t k = 7 + wm_fmt_i64(n, buf + 7);
  wm_output_buf(buf, k);
  return 0;
}
