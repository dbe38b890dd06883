/* compute.c: pure computation (also used by the benchmarks). */
#include "compute_core.h"
#include "wasimancer-pdk.h"

/* Output: fib(n) as decimal, n = decimal input (default 20; 0..93). */
WM_EXPORT(fib) int32_t fib(void) {
  int64_t n = wm_input_i64(20);
  if (n < 0 || n > 93) { wm_error_str("fib: n must be 0..93"); return 1; }
  wm_output_u64(compute_fib((uint32_t)n));
  return 0;
}

/* Output: sum of i*i mod 2^32 for i < n as decimal, n = decimal input
 * (default 1000000; 0..4294967295). */
WM_EXPORT(sum_loop) int32_t sum_loop(void) {
  int64_t n = wm_input_i64(1000000);
  if (n < 0 || n > 0xFFFFFFFFll) { wm_error_str("sum_loop: n must be 0..4294967295"); return 1; }
  wm_output_u64(compute_sum_squares((uint32_t)n));
  return 0;
}
