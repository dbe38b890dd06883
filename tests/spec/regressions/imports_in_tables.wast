;; Host functions put into a table and called through call_indirect. wasm2c 1.0.32 gives an
;; imported function in a table the address of the instance's import field instead of its value;
;; the native tier's glue used that pointer as the host context and jumped into the heap
;; (SIGSEGV: the process died). Found by the spec suite (imports.wast) on the native tier.
(module
  (import "spectest" "print_i32" (func $print_i32 (param i32)))
  (import "spectest" "print_f64_f64" (func $print_f64_f64 (param f64 f64)))
  (type $i (func (param i32)))
  (type $dd (func (param f64 f64)))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $print_i32 $print_f64_f64)
  (elem declare func $print_i32)
  (func (export "via-elem") (result i32)
    (call_indirect $t (type $i) (i32.const 5) (i32.const 0))
    (call_indirect $t (type $dd) (f64.const 1) (f64.const 2) (i32.const 1))
    (i32.const 1))
  (func (export "via-ref.func") (result i32)
    (table.set $t (i32.const 2) (ref.func $print_i32))
    (call_indirect $t (type $i) (i32.const 6) (i32.const 2))
    (i32.const 2))
  (func (export "wrong-type")
    (call_indirect $t (type $dd) (f64.const 1) (f64.const 2) (i32.const 0)))
  (func (export "empty-slot")
    (call_indirect $t (type $i) (i32.const 1) (i32.const 3)))
)
(assert_return (invoke "via-elem") (i32.const 1))
(assert_return (invoke "via-ref.func") (i32.const 2))
(assert_trap (invoke "wrong-type") "indirect call type mismatch")
(assert_trap (invoke "empty-slot") "uninitialized element")
