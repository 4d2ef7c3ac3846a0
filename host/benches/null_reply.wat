;; The null plugin answering a form: `null_plugin.wat`, except that every
;; event is answered with the form `hello` answers to configure (a fixed
;; string in its data), so the host parses and checks a reply. Against the
;; null plugin it prices the host's form check alone.
(component
  (core module $core
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    ;; The host copies the event's strings in through this bump allocator:
    ;; an instance lives for one event, so nothing is ever freed.
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    ;; handle-event(event) -> result<outcome, string>: the four strings
    ;; arrive as (pointer, length) pairs; the answer is written at 16:
    ;; discriminant 0 (ok) and, 4 bytes on, 0 (done).
    (data (i32.const 256) "{\"reply\":\"name_submitted\",\"title\":\"Say hello\",\"description\":\"Tell us who you are\",\"elements\":[{\"type\":\"text\",\"name\":\"name\",\"label\":\"Your name\",\"required\":true}]}")
    (func (export "handle-event") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store8 (i32.const 20) (i32.const 1))
      (i32.store (i32.const 24) (i32.const 256))
      (i32.store (i32.const 28) (i32.const 161))
      (i32.const 16))
    ;; health() -> result<_, string>: ok, written at 32.
    (func (export "health") (result i32)
      (i32.store8 (i32.const 32) (i32.const 0))
      (i32.const 32)))
  (core instance $instance (instantiate $core))

  (type $event-shape (record
    (field "name" string)
    (field "company-id" string)
    (field "account-id" string)
    (field "body" string)))
  (export $event "event" (type $event-shape))
  (type $outcome-shape (variant (case "done") (case "reply" string)))
  (export $outcome "outcome" (type $outcome-shape))

  (func $handle-event (param "event" $event) (result (result $outcome (error string)))
    (canon lift (core func $instance "handle-event")
      (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc"))))
  (export "handle-event" (func $handle-event))
  (func $health (result (result (error string)))
    (canon lift (core func $instance "health") (memory (core memory $instance "memory"))))
  (export "health" (func $health))
)
