;; Imports a function that extism:host/env does not provide: loading/linking
;; must fail with a message naming extism:host/env.not_a_function.
(module
  (import "extism:host/env" "not_a_function" (func $nf))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (call $nf) (i32.const 0)))
