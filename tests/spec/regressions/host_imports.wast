;; The host links only function imports. A module importing a global, memory or table is refused
;; with a link error on both tiers, before any native build: the native tier used to build it,
;; then fail to load it (an undefined symbol, an internal error naming the cache path).
(assert_unlinkable (module (import "spectest" "global_i32" (global i32))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "memory" (memory 1))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "table" (table 10 funcref))) "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "print_i32" (func (param i32))) (import "spectest" "global_i64" (global i64)))
  "incompatible import type")
;; A function import of the wrong type, or of a function the host does not have.
(assert_unlinkable (module (import "spectest" "print_i32" (func (param i64)))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "print_i32" (func (param i32) (result i32)))) "incompatible import type")
(assert_unlinkable (module (import "spectest" "nothing" (func))) "unknown import")
;; What the host does provide.
(module
  (import "spectest" "print_i32" (func $p (param i32)))
  (import "spectest" "print_f64_f64" (func $pp (param f64 f64)))
  (func (export "run") (result i32) (call $p (i32.const 1)) (call $pp (f64.const 1) (f64.const 2)) (i32.const 7)))
(assert_return (invoke "run") (i32.const 7))
