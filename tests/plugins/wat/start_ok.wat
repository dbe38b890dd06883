;; The start function (run at instantiation, by the wasm spec) sets $g from 1
;; to 0; `run` returns $g without output: rc 0 (success, empty output) proves
;; the start section ran; rc 1 would mean it did not.
(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 1))
  (func $init (global.set $g (i32.const 0)))
  (start $init)
  (func (export "run") (result i32) (global.get $g)))
