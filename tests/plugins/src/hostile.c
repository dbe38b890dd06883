/* hostile.c: plugins that try to exhaust the host. */
#include "wasimancer-pdk.h"

static volatile uint32_t counter;

/* Loops forever: only a timeout (engine interrupt) stops it. */
WM_EXPORT(infinite_loop) int32_t infinite_loop(void) {
  for (;;) counter++;
}

/* Exponential, loop-free recursion: naive fib(60) (~1.5e12 calls). There is
 * no loop in the code, so only checks at function entry (or calls) can stop it.
 * The volatile read after the calls stops LLVM from turning one of the calls
 * into a loop (accumulator tail-recursion elimination). */
static volatile uint32_t bias;
__attribute__((noinline)) static uint64_t slow_fib(uint32_t n) {
  if (n < 2) return n;
  uint64_t a = slow_fib(n - 1);
  uint64_t b = slow_fib(n - 2);
  return a + b + bias;
}
WM_EXPORT(exp_recursion) int32_t exp_recursion(void) {
  wm_output_u64(slow_fib(60));
  return 0;
}

/* memory.grow(1) until it fails; output the number of pages grown. A host
 * with a memory limit either traps it ("oom", as Extism does) or makes
 * memory.grow return -1 (then the output is the page count). */
WM_EXPORT(memory_bomb) int32_t memory_bomb(void) {
  uint64_t pages = 0;
  while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1) pages++;
  wm_output_u64(pages);
  return 0;
}

/* memory.grow(N), N = decimal input; output = its result as a signed decimal
 * (the old size in pages, or -1). */
WM_EXPORT(grow_once) int32_t grow_once(void) {
  int64_t n = wm_input_i64(0);
  size_t r = __builtin_wasm_memory_grow(0, (size_t)n);
  wm_output_i64(r == (size_t)-1 ? -1 : (int64_t)r);
  return 0;
}

/* Output: the current memory size in pages (decimal). */
WM_EXPORT(memory_pages) int32_t memory_pages(void) {
  wm_output_u64(__builtin_wasm_memory_size(0));
  return 0;
}

/* Allocates kernel blocks of 1, 2, 4, ... bytes (freeing the previous one)
 * until alloc returns 0; returns the size of the largest block obtained. */
static uint64_t biggest_block(wm_handle *out) {
  wm_handle last = 0;
  uint64_t size = 0;
  for (uint64_t n = 1; n != 0; n <<= 1) {
    wm_handle h = wm_alloc(n);
    if (!h) break;
    wm_free(last);
    last = h;
    size = n;
  }
  *out = last;
  return size;
}

/* output_set(largest block, its size): the output is that many bytes (content
 * unspecified). The host should refuse it (output size limit) or return it. */
WM_EXPORT(huge_output) int32_t huge_output(void) {
  wm_handle h;
  uint64_t size = biggest_block(&h);
  wm_output_set(h, size);
  return 0;
}

/* Same doubling, but the output is the size reached as decimal. */
WM_EXPORT(huge_output_size) int32_t huge_output_size(void) {
  wm_handle h;
  uint64_t size = biggest_block(&h);
  wm_free(h);
  wm_output_u64(size);
  return 0;
}

/* output_set(1, 1<<40): an out-of-range output. Extism's kernel ignores it
 * (empty output, success). */
WM_EXPORT(output_oob) int32_t output_oob(void) {
  wm_output_set(1, (uint64_t)1 << 40);
  return 0;
}

/* error_set(1<<40): an out-of-range error handle. Extism's kernel ignores it. */
WM_EXPORT(error_oob) int32_t error_oob(void) {
  wm_error_set((uint64_t)1 << 40);
  return 0;
}

/* 1 MiB kernel blocks until alloc returns 0; output = the count. */
WM_EXPORT(kernel_bomb) int32_t kernel_bomb(void) {
  uint64_t count = 0;
  while (wm_alloc((uint64_t)1 << 20)) count++;
  wm_output_u64(count);
  return 0;
}
