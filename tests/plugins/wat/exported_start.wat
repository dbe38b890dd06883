;; Exports `_start` (sets output "started" and marks a global) and `run`
;; (output "started=0" or "started=1": whether _start has run in this
;; instance). A correct host never calls _start implicitly, so the first `run`
;; outputs "started=0". Calling `_start` explicitly outputs "started".
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "started=0")
  (global $started (mut i32) (i32.const 0))
  ;; output = memory[ptr, ptr+len)
  (func $out (param $ptr i32) (param $len i32)
    (local $h i64) (local $i i32)
    (local.set $h (call $alloc (i64.extend_i32_u (local.get $len))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $store_u8
          (i64.add (local.get $h) (i64.extend_i32_u (local.get $i)))
          (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (call $output_set (local.get $h) (i64.extend_i32_u (local.get $len))))
  (func (export "_start")
    (global.set $started (i32.const 1))
    (call $out (i32.const 16) (i32.const 7)))
  (func (export "run") (result i32)
    ;; patch the digit in "started=?"
    (i32.store8 (i32.const 24) (i32.add (i32.const 48) (global.get $started)))
    (call $out (i32.const 16) (i32.const 9))
    (i32.const 0)))
