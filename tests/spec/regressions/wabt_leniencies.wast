;; Malformed modules wabt 1.0.32's reader lets through, refused by engine/limits.cpp. Found by the
;; libFuzzer target of the module loader (tests/fuzz/fuzz_engine_loader.cpp): the module compiled,
;; then the interpreter could not read its own instrumented form (an internal error at instantiation).
;; Operators after the end that closes a function body.
(assert_malformed
  (module binary
    "\00asm" "\01\00\00\00"
    "\01\04\01\60\00\00"                   ;; type 0: [] -> []
    "\03\02\01\00"                         ;; func 0: type 0
    "\0a\08\01\06\00\41\00\1a\0b\01\0b")   ;; code: i32.const 0, drop, end, nop, end
  "END opcode expected")
(assert_malformed
  (module binary
    "\00asm" "\01\00\00\00"
    "\01\04\01\60\00\00" "\03\02\01\00"
    "\0a\0a\01\08\00\41\00\00\1a\0b\1a\0b")  ;; i32.const 0, unreachable, drop, end, drop, end
  "END opcode expected")
;; Data segment flags other than 0, 1 and 2 (wabt accepts up to 7, the element segments' range).
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\05\03\01\00\01" "\0b\04\01\03\00\00")
  "malformed data segment flags")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\05\03\01\00\01" "\0b\06\01\04\41\00\0b\00")
  "malformed data segment flags")
(assert_malformed
  (module binary "\00asm" "\01\00\00\00" "\05\03\01\00\01" "\0b\04\01\07\00\00")
  "malformed data segment flags")
;; The valid forms still load: active, passive, active with a memory index.
(module binary
  "\00asm" "\01\00\00\00" "\05\03\01\00\01"
  "\0b\11\03"
  "\00\41\00\0b\01\61"          ;; active at 0: "a"
  "\01\01\62"                   ;; passive: "b"
  "\02\00\41\01\0b\01\63")      ;; memory 0 at 1: "c"
