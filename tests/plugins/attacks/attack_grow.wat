;; memory.grow past the declared maximum returns -1 (it trapped): `run` returns 0 only then.
(module
  (memory 1 2)
  (func (export "run") (result i32)
    (if (result i32) (i32.eq (memory.grow (i32.const 5)) (i32.const -1))
      (then (i32.const 0))
      (else (i32.const 7)))))
