;; SIMD is refused by design (engine/limits.hpp), naming the feature, whatever SIMD operator a
;; module uses: wabt 1.0.32's reader lets some SIMD loads through with SIMD disabled
;; (v128.load8x8_s, v128.load32_zero, ...); the interpreter ran them and the native build then
;; failed in wasm2c. Found by the spec suite (simd_align.wast) on the native tier. Here
;; assert_invalid's text "refused:FEATURE" means: refused, and the error names FEATURE.

(assert_invalid (module (memory 1) (func (drop (v128.load (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load8x8_s (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load8x8_u (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load16x4_s (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load16x4_u (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load32x2_s (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load32x2_u (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load8_splat (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load16_splat (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load32_splat (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load64_splat (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load32_zero (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load64_zero (i32.const 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load8_lane 0 (i32.const 0) (v128.const i64x2 0 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (v128.load64_lane 1 (i32.const 0) (v128.const i64x2 0 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (v128.store8_lane 0 (i32.const 0) (v128.const i64x2 0 0)))) "refused:simd")
(assert_invalid (module (memory 1) (func (v128.store (i32.const 0) (v128.const i32x4 0 1 2 3)))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (i32x4.add (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (i8x16.extract_lane_s 0 (v128.const i64x2 0 0))))) "refused:simd")
(assert_invalid (module (memory 1) (func (drop (f32x4.splat (f32.const 1))))) "refused:simd")
(assert_invalid (module (func (param v128))) "refused:simd")
(assert_invalid (module (func (local v128))) "refused:simd")
(assert_invalid (module (global v128 (v128.const i64x2 0 0))) "refused:simd")
