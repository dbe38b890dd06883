/* globals.c: instance reuse and constructors. */
#include "wasimancer-pdk.h"

static uint32_t calls;
static uint32_t ctor_value;

/* Runs from _initialize (crt1-reactor -> __wasm_call_ctors). */
__attribute__((constructor)) static void init(void) { ctor_value += 42; }

/* Output: 1, 2, 3, ... on successive calls of the same instance. */
WM_EXPORT(counter) int32_t counter(void) {
  wm_output_u64(++calls);
  return 0;
}

/* Output: "42" when _initialize ran exactly once ("0": never, "84": twice). */
WM_EXPORT(ctor_ran) int32_t ctor_ran(void) {
  wm_output_u64(ctor_value);
  return 0;
}
