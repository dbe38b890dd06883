;; Declares 200 initial pages (12.5 MiB): instantiation must fail under a
;; smaller page limit (e.g. max_pages 16) and succeed otherwise.
(module
  (memory (export "memory") 200)
  (func (export "run") (result i32) (i32.const 0)))
