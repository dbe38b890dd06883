/* compute_core.h: pure computations shared by compute.c (wasm) and the native
 * benchmark, so both run the same source. No dependencies beyond <stdint.h>. */
#ifndef WASIMANCER_COMPUTE_CORE_H
#define WASIMANCER_COMPUTE_CORE_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define WASIMANCER_COMPUTE_FN __attribute__((noinline, unused)) static
#else
#define WASIMANCER_COMPUTE_FN static
#endif

/* Recursive (exponential) Fibonacci: fib(0) = 0, fib(1) = 1. */
WASIMANCER_COMPUTE_FN uint64_t compute_fib(uint32_t n) {
  if (n < 2) return n;
  return compute_fib(n - 1) + compute_fib(n - 2);
}

/* sum of i*i (mod 2^32) for 0 <= i < n. The optimisation barrier keeps the
 * compiler from replacing the loop with a closed formula, so the loop really
 * runs n times (natively too). */
static inline uint32_t compute_sum_squares(uint32_t n) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    sum += i * i;
#if defined(__GNUC__) || defined(__clang__)
    __asm__ volatile("" : "+r"(sum));
#endif
  }
  return sum;
}

#endif
