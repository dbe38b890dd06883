/* bulk.c: large outputs from small inputs (the transport's budgets and the payload benchmark). */
#include "wasimancer-pdk.h"

static uint8_t fill[65536];

/* N: the first run of decimal digits in the input (so "3" and the tool arguments {"n":"3"}
 * both mean 3), default 0; -1 when the number is too long. */
static int64_t first_number(void) {
  char buf[64];
  uint64_t len = wm_input_read(buf, sizeof buf);
  if (len > sizeof buf) len = sizeof buf;
  uint64_t i = 0;
  while (i < len && (buf[i] < '0' || buf[i] > '9')) i++;
  int64_t n = 0;
  int digits = 0;
  for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
    if (++digits > 12) return -1;
    n = n * 10 + (buf[i] - '0');
  }
  return n;
}

/* Output = N bytes of 'x' (N from the input, default 0, at most 256 MiB), written into one
 * new block 64 KiB at a time. */
WM_EXPORT(repeat) int32_t repeat(void) {
  int64_t n = first_number();
  if (n < 0 || n > (256LL << 20)) { wm_error_str("repeat: N must be between 0 and 268435456"); return 1; }
  if (n == 0) { wm_output_set(0, 0); return 0; }
  for (size_t i = 0; i < sizeof fill; i++) fill[i] = 'x';
  wm_handle out = wm_alloc((uint64_t)n);
  if (!out) { wm_error_str("repeat: alloc failed"); return 1; }
  for (uint64_t off = 0; off < (uint64_t)n; off += sizeof fill) {
    uint64_t k = ((uint64_t)n - off) < sizeof fill ? ((uint64_t)n - off) : sizeof fill;
    wm_store(out, off, fill, (size_t)k);
  }
  wm_output_set(out, (uint64_t)n);
  return 0;
}
