//! What one event leaves in a pool slot never reaches the next instance in
//! that slot, whatever company it runs for (SECURITY.md, "A pool slot
//! between two events").
//!
//! The pooling allocator reuses a linear memory's slot for the next instance
//! of the same module and resets it in between: with `PAGEMAP_SCAN`
//! (host/src/runtime/engine.rs) only the pages the instance wrote are reset,
//! the first `linear_memory_keep_resident` bytes of them in place and the
//! rest given back to the kernel. wasmtime 48 asked the kernel only for
//! written pages that were *present*: a written page the kernel had swapped
//! out while the instance ran was neither reset nor given back, and the next
//! instance read it back from swap. wasmtime 50 asks for every written page.
//!
//! The plugin below ([`MARKER_PLUGIN`]), on every event, first counts the
//! pages of its own memory that hold a marker (it answers that count), then
//! writes the marker into the memory image's pages, into 512 pages one in
//! two (more regions than one scan reports), into 14 MiB in a row (more
//! than the slot keeps resident) and into pages it grew, and then waits in a
//! host call. While it waits, the test asks the kernel to page the slot's
//! memory out (`process_madvise(MADV_PAGEOUT)`); with swap on, the marked
//! pages are then in swap when the instance is dropped and its slot reset.
//!
//! One app, so every warm slot holds this module, and each instance takes
//! the slot this module's last instance on its thread left (wasmtime picks
//! an affine warm slot first): of [`EVENTS`] events, all but the first on
//! each of wasmtime's slot shards (at most 16) run in a slot a previous
//! event marked, for the other company half the time. The test counts the
//! slots that were used (in the host's memory map) and fails if the events
//! did not mostly share them.
//!
//! Without swap (`free`: Swap 0) the kernel cannot page anonymous memory
//! out, so the swapped-page case is not exercised; the test says so on
//! stderr and still checks the reset of present pages. With
//! `KERUJ_E2E_REQUIRE_PAGEOUT=1` it fails instead when no page went to swap.

use std::io::BufRead;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, event, install};

/// Events after the two installs: enough that most reuse a marked slot
/// whatever the number of shards (at most 16, one first use each).
const EVENTS: usize = 40;

/// The marker: 16 bytes no page of the plugin holds until it writes them.
const MARKER: [&[u8; 8]; 2] = [b"LEAK-MAR", b"KER-0x19"];
/// The first and last 16 bytes of the plugin's memory image (its data).
const IMAGE_HEAD: [&[u8; 8]; 2] = [b"keruj-im", b"age-head"];
const IMAGE_TAIL: [&[u8; 8]; 2] = [b"keruj-im", b"age-tail"];

/// A component of the `app` world that imports `keruj-api` (to wait in a
/// host call) and, on every event, counts the marked pages in its memory,
/// marks its pages, calls the API and answers the count. Its memory: 20 MiB
/// (320 wasm pages), grown by 4 MiB each event; a 512 KiB image from 1 MiB
/// (`keruj-image-head` ... `keruj-image-tail`, with the reply's text), which
/// it checks is intact before anything else. The marker and the image's
/// ends are i64 constants in code, so no page holds them until written.
const MARKER_PLUGIN: &str = r#"
(component
  (import "keruj:plugin/keruj-api@0.1.0" (instance $api
    (export "graphql" (func (param "query" string) (param "variables" string)
      (result (result string (error string)))))))

  ;; The memory, its allocator and its image.
  (core module $memory
    (memory (export "memory") 320)
    (global $next (mut i32) (i32.const 1024))
    ;; A bump allocator below 32 KiB: an instance lives for one event.
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (data (i32.const 0x100000) "keruj-image-head")
    (data (i32.const 0x100100) "{\"reply\":\"probe\",\"title\":\"Probe\",\"elements\":[{\"type\":\"info\",\"name\":\"found\",\"label\":\"")
    (data (i32.const 0x100200) "\"}]}")
    (data (i32.const 0x100300) "{ viewer { id } }")
    (data (i32.const 0x100320) "{}")
    (data (i32.const 0x100400) "the memory image was not restored")
    (data (i32.const 0x100480) "the keruj-api call failed")
    (data (i32.const 0x17fff0) "keruj-image-tail"))
  (core instance $mem (instantiate $memory))
  (core func $graphql (canon lower (func $api "graphql")
    (memory (core memory $mem "memory")) (realloc (core func $mem "realloc"))))

  (core module $main
    (import "env" "memory" (memory 320))
    (import "api" "graphql" (func $graphql (param i32 i32 i32 i32 i32)))

    (func $is_pair (param $at i32) (param $a i64) (param $b i64) (result i32)
      (i32.and
        (i64.eq (i64.load (local.get $at)) (local.get $a))
        (i64.eq (i64.load offset=8 (local.get $at)) (local.get $b))))

    ;; How many 8-byte-aligned places in the whole memory hold the marker.
    (func $count_markers (result i32)
      (local $at i32) (local $last i32) (local $found i32)
      (local.set $last (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 16)))
      (block $done (loop $next
        (br_if $done (i32.gt_u (local.get $at) (local.get $last)))
        (if (i64.eq (i64.load (local.get $at)) (i64.const MARKER_0))
          (then (if (i64.eq (i64.load offset=8 (local.get $at)) (i64.const MARKER_1))
            (then (local.set $found (i32.add (local.get $found) (i32.const 1)))))))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (br $next)))
      (local.get $found))

    ;; The marker at 64 bytes into every `step`-th byte from `from` to `to`.
    (func $mark (param $from i32) (param $to i32) (param $step i32)
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (i64.store offset=64 (local.get $from) (i64.const MARKER_0))
        (i64.store offset=72 (local.get $from) (i64.const MARKER_1))
        (local.set $from (i32.add (local.get $from) (local.get $step)))
        (br $next))))

    ;; `n` in decimal at `out`; returns its length.
    (func $decimal (param $n i32) (param $out i32) (result i32)
      (local $len i32) (local $rest i32) (local $i i32)
      (local.set $len (i32.const 1))
      (local.set $rest (local.get $n))
      (block $done (loop $count
        (br_if $done (i32.lt_u (local.get $rest) (i32.const 10)))
        (local.set $rest (i32.div_u (local.get $rest) (i32.const 10)))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $count)))
      (local.set $i (local.get $len))
      (loop $write
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (i32.store8 (i32.add (local.get $out) (local.get $i))
          (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
        (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
        (br_if $write (i32.gt_u (local.get $i) (i32.const 0))))
      (local.get $len))

    ;; err(the string at `at`, `len` bytes), written at 16.
    (func $fail (param $at i32) (param $len i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 1))
      (i32.store (i32.const 20) (local.get $at))
      (i32.store (i32.const 24) (local.get $len))
      (i32.const 16))

    (func (export "handle-event") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (local $found i32) (local $len i32)
      ;; 1. This instance's memory as it found it, grown as the last one grew it.
      (if (i32.lt_s (memory.grow (i32.const 64)) (i32.const 0))
        (then unreachable))
      (if (i32.eqz (i32.and
            (call $is_pair (i32.const 0x100000) (i64.const IMAGE_HEAD_0) (i64.const IMAGE_HEAD_1))
            (call $is_pair (i32.const 0x17fff0) (i64.const IMAGE_TAIL_0) (i64.const IMAGE_TAIL_1))))
        (then (return (call $fail (i32.const 0x100400) (i32.const 33)))))
      (local.set $found (call $count_markers))
      ;; 2. The marker into: the image's pages (copied on write);
      (call $mark (i32.const 0x100000) (i32.const 0x180000) (i32.const 4096))
      ;; one page in two over 4 MiB (512 regions for the scan);
      (call $mark (i32.const 0x200000) (i32.const 0x600000) (i32.const 8192))
      ;; 14 MiB in a row, past what a slot keeps resident;
      (call $mark (i32.const 0x600000) (i32.const 0x1400000) (i32.const 4096))
      ;; the 4 MiB grown above.
      (call $mark (i32.const 0x1400000) (i32.const 0x1800000) (i32.const 4096))
      ;; 3. Wait in a host call (the test pages the memory out meanwhile).
      (call $graphql (i32.const 0x100300) (i32.const 17) (i32.const 0x100320) (i32.const 2)
        (i32.const 64))
      (if (i32.load8_u (i32.const 64))
        (then (return (call $fail (i32.const 0x100480) (i32.const 25)))))
      ;; 4. Answer the count as the label of an info element.
      (memory.copy (i32.const 0x8000) (i32.const 0x100100) (i32.const PREFIX_LEN))
      (local.set $len (call $decimal (local.get $found) (i32.const PREFIX_END)))
      (memory.copy (i32.add (i32.const PREFIX_END) (local.get $len)) (i32.const 0x100200)
        (i32.const 4))
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store8 (i32.const 20) (i32.const 1))
      (i32.store (i32.const 24) (i32.const 0x8000))
      (i32.store (i32.const 28) (i32.add (i32.const REPLY_FIXED_LEN) (local.get $len)))
      (i32.const 16))

    (func (export "health") (result i32)
      (i32.store8 (i32.const 32) (i32.const 0))
      (i32.const 32)))
  (core instance $instance (instantiate $main
    (with "env" (instance $mem))
    (with "api" (instance (export "graphql" (func $graphql))))))

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
      (memory (core memory $mem "memory"))
      (realloc (core func $mem "realloc"))))
  (export "handle-event" (func $handle-event))
  (func $health (result (result (error string)))
    (canon lift (core func $instance "health") (memory (core memory $mem "memory"))))
  (export "health" (func $health))
)
"#;

/// The reply's text before the count.
const REPLY_PREFIX: &str =
    r#"{"reply":"probe","title":"Probe","elements":[{"type":"info","name":"found","label":""#;

/// Places written by one event: image 128 pages, one in two 512, in a row
/// 3,584, grown 1,024.
const MARKED_PER_EVENT: u64 = 128 + 512 + 3584 + 1024;

fn marker_plugin() -> Vec<u8> {
    let constant = |bytes: &[u8; 8]| format!("{:#x}", u64::from_le_bytes(*bytes));
    let text = MARKER_PLUGIN
        .replace("MARKER_0", &constant(MARKER[0]))
        .replace("MARKER_1", &constant(MARKER[1]))
        .replace("IMAGE_HEAD_0", &constant(IMAGE_HEAD[0]))
        .replace("IMAGE_HEAD_1", &constant(IMAGE_HEAD[1]))
        .replace("IMAGE_TAIL_0", &constant(IMAGE_TAIL[0]))
        .replace("IMAGE_TAIL_1", &constant(IMAGE_TAIL[1]))
        .replace("PREFIX_LEN", &REPLY_PREFIX.len().to_string())
        .replace("PREFIX_END", &(0x8000 + REPLY_PREFIX.len()).to_string())
        .replace("REPLY_FIXED_LEN", &(REPLY_PREFIX.len() + 4).to_string());
    wat::parse_str(text).expect("the marker plugin's text")
}

#[test]
fn an_event_never_reads_what_the_event_before_it_left_in_its_pool_slot() {
    let host_pid: Arc<OnceLock<u32>> = Arc::default();
    let paged: Arc<Mutex<Vec<PageOut>>> = Arc::default();
    let keruj = {
        let (host_pid, paged) = (host_pid.clone(), paged.clone());
        Stub::start(move |_| {
            // The plugin waits for this answer, its pages marked.
            if let Some(&pid) = host_pid.get() {
                paged.lock().unwrap().push(page_out(pid));
            }
            Reply::json(json!({"data": {"viewer": {"id": "u1"}}}))
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("marker.wasm");
    std::fs::write(&wasm, marker_plugin()).unwrap();
    let host = Host::start(
        Setup::new()
            .app("marker", &wasm)
            .env("KERUJ_API_URL", &keruj.url("/api/graphql")),
    );
    host_pid.set(host.pid()).unwrap();

    let companies = ["co-slot-a", "co-slot-b"];
    let mut bodies = companies.iter().map(|c| install(c)).collect::<Vec<_>>();
    bodies.extend((0..EVENTS).map(|i| event("application_configure", companies[i % 2])));
    for (i, body) in bodies.iter().enumerate() {
        let answer = host.send("marker", body);
        assert_eq!(answer.status, 200, "event {i}: {}", answer.body);
        let found = &answer.json()["elements"][0]["label"];
        assert_eq!(
            found, "0",
            "event {i} ({}) found the marker of an earlier event in its memory, \
             {found} times; each event writes it {MARKED_PER_EVENT} times",
            body["company_id"]
        );
    }

    let paged = paged.lock().unwrap();
    assert_eq!(paged.len(), bodies.len(), "one page-out per event");
    // Each event ran in a slot an earlier event had marked, but for the first
    // in each slot: the events used few slots (one per shard), again and again.
    let slots = paged.iter().map(|p| p.slots).max().unwrap_or(0);
    assert!(
        (1..=bodies.len() / 2).contains(&slots),
        "{slots} memory slots for {} events: slots were not reused",
        bodies.len()
    );
    let swapped: Vec<u64> = paged
        .iter()
        .filter_map(|p| p.swap_kib.clone().ok())
        .collect();
    let most = swapped.iter().copied().max().unwrap_or(0);
    let errors: Vec<&String> = paged
        .iter()
        .filter_map(|p| p.swap_kib.as_ref().err())
        .collect();
    eprintln!(
        "slot reset: {} events in {slots} memory slots, none saw an earlier event's marker; \
         pages forced out while marked: {} of {} events moved memory to swap (at most \
         {most} KiB, {} KiB marked per event){}",
        bodies.len(),
        swapped.iter().filter(|&&kib| kib > 0).count(),
        paged.len(),
        MARKED_PER_EVENT * 4,
        match (errors.first(), most) {
            (Some(error), _) => format!("; page-out refused: {error}"),
            (None, 0) => "; no swap on this machine: swapped-out pages were not exercised".into(),
            _ => String::new(),
        }
    );
    if std::env::var_os("KERUJ_E2E_REQUIRE_PAGEOUT").is_some_and(|v| v == "1") {
        assert!(
            swapped.len() == paged.len() && swapped.iter().all(|&kib| kib > 0),
            "KERUJ_E2E_REQUIRE_PAGEOUT=1 but some events' pages were not forced out: {paged:?}"
        );
    }
}

/// What one page-out did: the host's swap use right after (KiB), or why
/// the kernel refused.
#[derive(Debug)]
struct PageOut {
    swap_kib: Result<u64, String>,
    /// Memory slots of the pool in use or warm (with writable pages).
    slots: usize,
}

/// Asks the kernel to page out every writable mapping inside the host's
/// pool reservation (a span of address space of 1 TiB or more), then reads
/// how much of the host is in swap.
fn page_out(pid: u32) -> PageOut {
    let (span, ranges) = pool_mappings(pid);
    let swap_kib = match ranges.is_empty() {
        true => Err("no writable mapping in a reservation of 1 TiB or more".into()),
        false => advise_page_out(pid, &ranges).map(|()| vm_swap_kib(pid)),
    };
    // Slots are at least `max_memory_size` (4 GiB) apart: one bucket each.
    let mut slots: Vec<usize> = ranges.iter().map(|r| (r.0 - span) >> 32).collect();
    slots.dedup();
    PageOut {
        swap_kib,
        slots: slots.len(),
    }
}

/// The start of the host's memory pool (the first span of adjacent mappings
/// of 1 TiB or more) and the writable mappings in it: (start, length).
fn pool_mappings(pid: u32) -> (usize, Vec<(usize, usize)>) {
    const SPAN: usize = 1 << 40;
    let maps = std::fs::File::open(format!("/proc/{pid}/maps")).unwrap();
    let mut mappings: Vec<(usize, usize, bool)> = Vec::new();
    for line in std::io::BufReader::new(maps).lines() {
        let line = line.unwrap();
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        mappings.push((start, end, perms.contains('w')));
    }
    // Group adjacent mappings into spans; keep the writable parts of large ones.
    let mut span_start = 0;
    for (i, &(start, end, _)) in mappings.iter().enumerate() {
        if i == 0 || mappings[i - 1].1 != start {
            span_start = i;
        }
        let last = mappings.get(i + 1).is_none_or(|next| next.0 != end);
        if last && end - mappings[span_start].0 >= SPAN {
            let writable = mappings[span_start..=i]
                .iter()
                .filter(|m| m.2)
                .map(|&(start, end, _)| (start, end - start));
            return (mappings[span_start].0, writable.collect());
        }
    }
    (0, Vec::new())
}

/// `process_madvise(pidfd, ranges, MADV_PAGEOUT)`, in batches.
fn advise_page_out(pid: u32, ranges: &[(usize, usize)]) -> Result<(), String> {
    let os_error = || std::io::Error::last_os_error().to_string();
    // SAFETY: plain system calls on integers and on iovecs that outlive them.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0);
        if pidfd < 0 {
            return Err(format!("pidfd_open: {}", os_error()));
        }
        let mut result = Ok(());
        for batch in ranges.chunks(512) {
            let iovecs: Vec<libc::iovec> = batch
                .iter()
                .map(|&(start, len)| libc::iovec {
                    iov_base: start as *mut libc::c_void,
                    iov_len: len,
                })
                .collect();
            let advised = libc::syscall(
                libc::SYS_process_madvise,
                pidfd,
                iovecs.as_ptr(),
                iovecs.len(),
                libc::MADV_PAGEOUT,
                0,
            );
            if advised < 0 {
                result = Err(format!("process_madvise(MADV_PAGEOUT): {}", os_error()));
                break;
            }
        }
        libc::close(pidfd as libc::c_int);
        result
    }
}

/// `VmSwap` of the process, in KiB.
fn vm_swap_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSwap:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}
