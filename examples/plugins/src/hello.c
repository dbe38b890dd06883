/* hello.c: say_hello {"name":"Bob"} -> "👋 Hello, Bob!"; the greeting comes from the
 * plugin config GREETING (plugins.yml `config:`), or the WASM_GREETING environment variable. */
#include "args.h"

WM_EXPORT(say_hello) int32_t say_hello(void) {
  const char *args = args_input(0);
  char name[256], greeting[128], out[512];
  if (args_str(args, "name", name, sizeof name) < 0) {
    wm_error_str("the argument \"name\" is required");
    return 1;
  }
  int64_t g = wm_config_read("GREETING", greeting, sizeof greeting - 1);
  if (g <= 0) g = wm_config_read("WASM_GREETING", greeting, sizeof greeting - 1);
  const char *hello = g > 0 ? greeting : "Hello";
  if (g > 0) greeting[g] = 0;
  size_t n = 0;
  const char *parts[] = {"\xf0\x9f\x91\x8b ", hello, ", ", name, "!"};
  for (unsigned i = 0; i < 5; i++)
    for (const char *p = parts[i]; *p && n < sizeof out; p++) out[n++] = *p;
  wm_log(WM_LOG_INFO, "said hello");
  wm_output_buf(out, n);
  return 0;
}
