;; A 4 GiB memory (65,536 pages) wrapped its size to 0 on the native tier; both tiers hold at most
;; 65,535 pages, so it cannot start.
(module (memory 65536) (func (export "run") (result i32) i32.const 0))
