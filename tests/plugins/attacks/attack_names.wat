;; A module whose export name closes the C comment wasm2c 1.0.32 writes it into and adds a
;; constructor that runs a shell command when the native code is loaded (the sandbox issue's
;; first finding). The tool itself (`run`) is harmless; the name must never reach generated C.
(module
  (func $ok (result i32) i32.const 0)
  (export "run" (func $ok))
  (export "ok*/\0a#include <stdlib.h>\0a__attribute__((constructor)) static void pwn(void) { system(\22touch /tmp/wasimancer-pwned-by-export-name\22); }\0a/*" (func $ok)))
