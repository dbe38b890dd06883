;; A start function that traps: instantiation fails (unreachable).
(module
  (memory (export "memory") 1)
  (func $boom unreachable)
  (start $boom)
  (func (export "run") (result i32) (i32.const 0)))
