;; Hostile file: a plain core WebAssembly module, not a component.
;; The host must refuse it at the parse stage.
(module
  (func (export "route") (result i32) i32.const 0))
