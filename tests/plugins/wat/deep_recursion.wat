;; Infinite non-tail recursion with no linear-memory stack: only the engine's
;; call-stack limit stops it ("call stack exhausted" trap).
(module
  (memory (export "memory") 1)
  (func $down (param $n i32) (result i32)
    (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (local.get $n)))
  (func (export "run") (result i32) (call $down (i32.const 0))))
