/* The compute plugin's core, compiled natively: the reference the wasm tiers are compared to. */
#include "compute_core.h"

uint64_t bench_native_fib(uint32_t n) { return compute_fib(n); }
uint32_t bench_native_sum_squares(uint32_t n) { return compute_sum_squares(n); }
