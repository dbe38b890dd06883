;; SIMD is not an accepted feature: refused at upload, naming it (once: accepted by the
;; interpreter, failing the native build).
(module
  (func (export "run") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 0 1 2 3))))
