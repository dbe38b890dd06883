/* traps.c: each export (but after_trap_ok) traps. Linked with --stack-first
 * so that a shadow-stack overflow runs off the bottom of linear memory (an
 * out-of-bounds trap) instead of silently overwriting the data section. */
#include "wasimancer-pdk.h"

/* Volatile globals (not locals) so that no trapping export touches the shadow
 * stack: they all keep working after stack_overflow has wrecked it. */
static volatile int32_t zero = 0;
static volatile int32_t seven = 7;
static int32_t (*volatile null_fn)(void) = 0;

WM_EXPORT(unreachable) int32_t unreachable_(void) { __builtin_trap(); }

/* i32.div_s by zero: "integer divide by zero". */
WM_EXPORT(div_zero) int32_t div_zero(void) { return seven / zero; }

/* i32.load 1 KiB past the end of linear memory: "out of bounds memory access". */
WM_EXPORT(oob_memory) int32_t oob_memory(void) {
  uintptr_t end = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
  volatile int32_t *p = (volatile int32_t *)(end + 1024u + (uintptr_t)zero);
  return *p;
}

/* Unbounded non-tail recursion; each frame keeps a volatile local on the
 * shadow stack. Traps either by running out of the engine's call stack
 * ("call stack exhausted") or by the shadow stack pointer going below 0 (an
 * out-of-bounds access), whichever comes first. It leaves __stack_pointer
 * wrapped, so later calls of exports that use the shadow stack may trap too;
 * after_trap_ok does not use it. */
__attribute__((noinline)) static int32_t recurse(int32_t n) {
  volatile int32_t local = n;
  if (local == -1) return 0; /* never true, keeps the function returnable */
  int32_t r = recurse(local + 1);
  return r + local; /* the volatile read is sequenced after the call: no TRE */
}
WM_EXPORT(stack_overflow) int32_t stack_overflow(void) { return recurse(zero); }

/* call_indirect through table slot 0 (null): an "uninitialized element" /
 * "indirect call to null" trap. */
WM_EXPORT(null_call) int32_t null_call(void) { return null_fn(); }

/* Output: "ok". Uses neither the data section nor the shadow stack, so it
 * works after any of the traps above. */
WM_EXPORT(after_trap_ok) int32_t after_trap_ok(void) {
  wm_handle h = wm_alloc(2);
  wm_store_u8(h, 'o');
  wm_store_u8(h + 1, 'k');
  wm_output_set(h, 2);
  return 0;
}

/* error_set("error before trap") then trap: the error text wins over the trap. */
WM_EXPORT(error_then_trap) int32_t error_then_trap(void) {
  wm_error_str("error before trap");
  __builtin_trap();
}
