;; Recursion through call_indirect (wabt 1.0.32 skipped a call_indirect made exactly at its
;; call-stack limit, which a module turned into a forged reference and a dead server) and a
;; recursion with big frames (the interpreter's value stack once grew to gigabytes). Both must
;; end in "call stack exhausted".
(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $count)
  (func $count (type $t)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))))))
  (func $big (param i32) (result i32)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (call $big (i32.add (local.get 0) (i32.const 1))))
  (func (export "indirect") (result i32) (drop (call_indirect (type $t) (i32.const 10000000) (i32.const 0))) (i32.const 0))
  (func (export "big_frames") (result i32) (call $big (i32.const 0))))
