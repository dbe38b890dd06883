;; Imports its memory from "env" instead of defining one: loading must fail
;; with a message naming the import env.memory.
(module
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "run") (result i32) (i32.const 0)))
