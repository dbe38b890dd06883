;; `two` has two results, which the Extism call protocol rejects (only ()->()
;; and ()->i32 are callable). `run` is a valid export of the same module.
(module
  (memory (export "memory") 1)
  (func (export "two") (result i32 i32) (i32.const 1) (i32.const 2))
  (func (export "run") (result i32) (i32.const 0)))
