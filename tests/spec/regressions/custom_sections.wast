;; Custom sections: their contents are free, their frame is not. wabt 1.0.32 skips errors inside
;; custom sections, so the engine accepted these malformed modules until engine/limits.cpp checked
;; the frame itself (the spec suite's custom.wast, binary-leb128.wast, utf8-custom-section-id.wast).
(module binary
  "\00asm" "\01\00\00\00"
  "\00\05\02hi" "\ff\00"                         ;; custom section "hi", any contents
  "\00\81\80\80\80\00\00"                        ;; size 1 as a 5-byte LEB, empty name
)
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00")
  "unexpected end")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\00")
  "unexpected end")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\05\09abcd")      ;; name longer than the section
  "unexpected end")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\83\80\80\80\80\00\011" "2")   ;; size LEB of 6 bytes
  "integer representation too long")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\83\80\80\80\10\011" "2")      ;; unused bits set
  "integer too large")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\02\01\80")      ;; a lone continuation byte
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\03\02\c0\80")   ;; overlong NUL
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\04\03\ed\a0\80")   ;; a surrogate
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\05\04\f4\90\80\80")   ;; past U+10FFFF
  "malformed UTF-8 encoding")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\00\03\02\e2\82")   ;; truncated sequence
  "malformed UTF-8 encoding")
(module binary "\00asm" "\01\00\00\00" "\00\05\04\f0\9f\98\80")   ;; U+1F600 is fine
