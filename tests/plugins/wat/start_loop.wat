;; A start function that never returns: instantiation itself must be stopped
;; by the host (timeout). `run` is never reached.
(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func $spin
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l)))
  (start $spin)
  (func (export "run") (result i32) (i32.const 0)))
