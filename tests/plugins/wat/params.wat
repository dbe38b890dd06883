;; `takes_arg` takes a parameter: not callable as a plugin function.
;; `returns_i64` returns an i64: not callable either. `run` is valid.
(module
  (memory (export "memory") 1)
  (func (export "takes_arg") (param i32) (result i32) (local.get 0))
  (func (export "returns_i64") (result i64) (i64.const 7))
  (func (export "run") (result i32) (i32.const 0)))
