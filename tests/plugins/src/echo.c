/* echo.c: input/output, return codes and error precedence. */
#include "wasimancer-pdk.h"

/* Streams the input through a guest buffer into a new block, 64 KiB at a time,
 * so any input size works without growing guest memory. */
static uint8_t chunk[65536];

static wm_handle copy_input(int upper) {
  uint64_t n = wm_input_length();
  wm_handle out = wm_alloc(n);
  if (!out) return 0;
  for (uint64_t off = 0; off < n; off += sizeof chunk) {
    size_t k = (n - off) < sizeof chunk ? (size_t)(n - off) : sizeof chunk;
    wm_input_load(off, chunk, k);
    if (upper)
      for (size_t i = 0; i < k; i++)
        if (chunk[i] >= 'a' && chunk[i] <= 'z') chunk[i] = (uint8_t)(chunk[i] - 'a' + 'A');
    wm_store(out, off, chunk, k);
  }
  return out;
}

WM_EXPORT(echo) int32_t echo(void) {
  uint64_t n = wm_input_length();
  wm_handle h = copy_input(0);
  if (n && !h) { wm_error_str("echo: alloc failed"); return 1; }
  wm_output_set(h, n);
  return 0;
}

/* Same as echo, but a void export: ()->(). */
WM_EXPORT(echo_void) void echo_void(void) {
  wm_output_set(copy_input(0), wm_input_length());
}

/* Output = the input block itself (it is an ordinary block). */
WM_EXPORT(echo_zero_copy) int32_t echo_zero_copy(void) {
  wm_output_set(wm_input_offset(), wm_input_length());
  return 0;
}

WM_EXPORT(upper) int32_t upper(void) {
  uint64_t n = wm_input_length();
  wm_handle h = copy_input(1);
  if (n && !h) { wm_error_str("upper: alloc failed"); return 1; }
  wm_output_set(h, n);
  return 0;
}

WM_EXPORT(empty_output) int32_t empty_output(void) { return 0; }

/* Returns the decimal input as the return code, without an error. */
WM_EXPORT(rc) int32_t rc(void) { return (int32_t)wm_input_i64(0); }

/* error = input text, rc 1. */
WM_EXPORT(fail) int32_t fail(void) {
  wm_error_set(wm_block_from_input(0, wm_input_length()));
  return 1;
}

WM_EXPORT(fail_rc0) int32_t fail_rc0(void) {
  wm_error_str("err with rc 0");
  return 0;
}

WM_EXPORT(error_then_clear) int32_t error_then_clear(void) {
  wm_error_str("this error is cleared");
  wm_error_set(0);
  wm_output_str("cleared");
  return 0;
}

/* Sets an error, reads it back through error_get/length/load_*, clears it and
 * outputs the text read back. */
WM_EXPORT(error_get_roundtrip) int32_t error_get_roundtrip(void) {
  char buf[64];
  wm_error_str("roundtrip error message");
  wm_handle e = wm_error_get();
  uint64_t n = wm_block_read(e, buf, sizeof buf);
  wm_error_set(0);
  if (n > sizeof buf) n = sizeof buf;
  wm_output_buf(buf, (size_t)n);
  return 0;
}
