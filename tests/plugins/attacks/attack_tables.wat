;; Four 5M-entry tables under a small memory limit: tables count against the plugin's memory
;; budget, so the module cannot start (it once took 950 MB).
(module
  (table 5000000 funcref) (table 5000000 funcref) (table 5000000 funcref) (table 5000000 funcref)
  (func (export "run") (result i32) i32.const 0))
