;; Imports a user host function (extism:host/user.hello_world (i64)->i64), which
;; WASImancer does not provide: loading must fail naming the import.
(module
  (import "extism:host/user" "hello_world" (func $hw (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (local $r i64)
    (local.set $r (call $hw (call $input_offset)))
    (call $output_set (local.get $r) (call $input_length))
    (i32.const 0)))
