;; Hostile file: a component that imports outbound HTTP, a capability the host
;; never grants. The host must refuse it at the link stage.
(component
  (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func))))
  (instance $nothing)
  (export "sluice:policy/routing@0.1.0" (instance $nothing)))
