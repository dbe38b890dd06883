;; Imports extism:host/env.alloc with the wrong type (i32)->i32 instead of
;; (i64)->i64: linking must fail (signature mismatch), naming the import.
(module
  (import "extism:host/env" "alloc" (func $alloc (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (call $alloc (i32.const 4))))
