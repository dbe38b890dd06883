/* calc.c: addNumbers / multiplyNumbers {"a":2,"b":40} -> "42" (integers). */
#include "args.h"

static int32_t binary(int add) {
  const char *args = args_input(0);
  if (!args_find(args, "a") || !args_find(args, "b")) {
    wm_error_str("the arguments \"a\" and \"b\" are required");
    return 1;
  }
  int64_t a = args_int(args, "a", 0), b = args_int(args, "b", 0);
  wm_output_i64(add ? a + b : a * b);
  return 0;
}

WM_EXPORT(addNumbers) int32_t addNumbers(void) { return binary(1); }
WM_EXPORT(multiplyNumbers) int32_t multiplyNumbers(void) { return binary(0); }
