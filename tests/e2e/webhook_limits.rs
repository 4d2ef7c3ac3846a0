//! What the host asks of webhook deliveries beyond a good signature: a
//! rate per URL (429 with `Retry-After` past it), delivery ids forgotten
//! and deleted once past the dedup window, and `order_by`: deliveries of
//! one key run one at a time, in arrival order, other keys alongside.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::schedules::{eventually, seen};
use crate::support::{Host, Setup, install, plugin};
use crate::webhooks::webhooks;

/// POSTs `body` to `url` with `webhook-id: <id>` (the id of an unsigned
/// delivery): the status and `Retry-After`.
pub fn post(url: &str, id: &str, body: &str) -> (u16, Option<String>) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("webhook-id", id)
        .body(body.to_owned())
        .timeout(Duration::from_secs(60))
        .send()
        .expect("the host answers");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry_after)
}

/// The value of the metric line starting with `series`, if any.
pub fn metric(host: &Host, series: &str) -> Option<f64> {
    let text = host.get_admin("/metrics").body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

fn recorder(sidecar: &str) -> Setup {
    Setup::new()
        .app("recorder", &plugin("recorder"))
        .sidecar(sidecar)
}

fn url_of(host: &Host, company: &str, name: &str) -> String {
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    webhooks(host, company)[name].as_str().unwrap().to_owned()
}

#[test]
fn a_url_past_its_rate_gets_429_with_retry_after_then_recovers() {
    let host = Host::start(recorder(
        "[[webhook]]\nname = \"hook\"\nevent = \"np_status\"\nrate = \"1/s\"\nburst = 2\n",
    ));
    let (company, other) = ("co-rate-1", "co-rate-2");
    let url = url_of(&host, company, "hook");
    let other_url = url_of(&host, other, "hook");
    // The burst, then at most one a second: sent back to back, a refusal
    // comes within a few.
    let mut accepted = 0;
    let retry_after = loop {
        match post(&url, &format!("r-{accepted}"), "{}") {
            (200, _) => accepted += 1,
            (429, retry_after) => break retry_after,
            other => panic!("{other:?}"),
        }
        assert!(accepted < 20, "never limited");
    };
    assert!(accepted >= 2, "the burst is 2: {accepted}");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    let limited = "keruj_webhook_deliveries_total{app=\"recorder\",result=\"limited\"}";
    assert_eq!(metric(&host, limited), Some(1.0));
    // Each URL its own bucket: another company's is not limited.
    assert_eq!(post(&other_url, "o-1", "{}").0, 200);
    // Nothing ran for the refused one.
    assert_eq!(seen(&host, "recorder", company).len(), accepted);
    // Once a token is back, deliveries go through again.
    eventually(Duration::from_secs(10), || {
        (post(&url, "after", "{}").0 == 200).then_some(())
    });
    assert_eq!(seen(&host, "recorder", company).len(), accepted + 1);
}

/// The name a delivery id is recorded under: its digest's first 16 bytes.
fn digest(id: &str) -> String {
    Sha256::digest(id.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn expired_delivery_ids_are_deleted_and_fresh_ones_still_deduplicate() {
    let mut host = Host::start(
        recorder("[[webhook]]\nname = \"hook\"\nevent = \"np_status\"\n")
            .env("KERUJ_WEBHOOK_DEDUP_WINDOW", "2s"),
    );
    let company = "co-prune";
    let url = url_of(&host, company, "hook");
    assert_eq!(post(&url, "old", "{}").0, 200);
    assert_eq!(post(&url, "old", "{}").0, 200);
    assert_eq!(seen(&host, "recorder", company).len(), 1, "a duplicate");
    // Deliveries go on; one of them, once "old" is two windows behind,
    // has its install's expired records deleted.
    let pruned = "keruj_webhook_delivery_ids_pruned_total{app=\"recorder\"}";
    let mut n = 0;
    eventually(Duration::from_secs(60), || {
        n += 1;
        assert_eq!(post(&url, &format!("new-{n}"), "{}").0, 200);
        metric(&host, pruned).filter(|&count| count >= 1.0)
    });
    // A fresh id still deduplicates.
    assert_eq!(post(&url, "fresh", "{}").0, 200);
    let runs = seen(&host, "recorder", company).len();
    assert_eq!(post(&url, "fresh", "{}").0, 200);
    assert_eq!(seen(&host, "recorder", company).len(), runs, "a duplicate");
    host.stop();
    let names: Vec<String> = host
        .db_entries()
        .iter()
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .filter(|entry| entry.contains("host/webhook/"))
        .collect();
    assert!(
        !names.iter().any(|name| name.contains(&digest("old"))),
        "{names:?}"
    );
    assert!(
        names.iter().any(|name| name.contains(&digest("fresh"))),
        "{names:?}"
    );
}

/// What the gate saw arrive, and what the test released.
#[derive(Default)]
struct Arrivals {
    arrived: Vec<String>,
    released: HashSet<String>,
}

/// A server the recorder's `slow` runs call with `?delivery=<id>`: it
/// notes each arrival and answers only once the test releases that id.
#[derive(Clone)]
pub struct Gate {
    state: Arc<(Mutex<Arrivals>, Condvar)>,
    pub addr: SocketAddr,
}

impl Gate {
    pub fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate = Gate {
            state: Arc::default(),
            addr: listener.local_addr().unwrap(),
        };
        let server = gate.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let gate = server.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let id = line
                        .split_once("delivery=")
                        .and_then(|(_, rest)| rest.split([' ', '&']).next())
                        .unwrap_or_default()
                        .to_owned();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                            break;
                        }
                    }
                    gate.arrive(&id);
                    let _ = (&stream).write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 2\r\nconnection: close\r\n\r\n{}",
                    );
                });
            }
        });
        gate
    }

    /// Notes `id` and waits until it is released.
    fn arrive(&self, id: &str) {
        let (lock, wake) = &*self.state;
        let mut state = lock.lock().unwrap();
        state.arrived.push(id.to_owned());
        wake.notify_all();
        let _ = wake
            .wait_timeout_while(state, Duration::from_secs(120), |s| {
                !s.released.contains(id)
            })
            .unwrap();
    }

    pub fn release(&self, id: &str) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap().released.insert(id.to_owned());
        wake.notify_all();
    }

    fn arrived(&self) -> Vec<String> {
        self.state.0.lock().unwrap().arrived.clone()
    }

    /// Waits until `id` has arrived: the arrivals so far.
    pub fn wait_for(&self, id: &str) -> Vec<String> {
        eventually(Duration::from_secs(60), || {
            let arrived = self.arrived();
            arrived.iter().any(|a| a == id).then_some(arrived)
        })
    }
}

#[test]
fn deliveries_of_one_key_run_one_at_a_time_in_arrival_order_others_alongside() {
    let gate = Gate::start();
    let mut host = Host::start(recorder(&format!(
        "allowed_hosts = [\"{addr}\"]\ntimeout_ms = 30000\nhttp_timeout_ms = 30000\n\
         [config]\nwait_url = \"http://{addr}/wait\"\n\n\
         [[webhook]]\nname = \"tracking\"\nevent = \"slow_status\"\norder_by = \"/parcel/ttn\"\n",
        addr = gate.addr
    )));
    let company = "co-order";
    let url = url_of(&host, company, "tracking");
    let waiting = "keruj_webhook_ordered_waiting{app=\"recorder\"}";
    std::thread::scope(|scope| {
        let send = |id: &'static str, body: String| {
            let url = url.clone();
            scope.spawn(move || post(&url, id, &body).0)
        };
        let parcel = |ttn: &str| format!(r#"{{"parcel":{{"ttn":"{ttn}"}}}}"#);
        let a1 = send("a1", parcel("204500"));
        gate.wait_for("a1");
        // Two more of the same parcel queue behind it, in the order sent.
        let a2 = send("a2", parcel("204500"));
        eventually(Duration::from_secs(30), || {
            (metric(&host, waiting) == Some(1.0)).then_some(())
        });
        let a3 = send("a3", parcel("204500"));
        eventually(Duration::from_secs(30), || {
            (metric(&host, waiting) == Some(2.0)).then_some(())
        });
        // Another parcel, and a body with nothing to order by, run at once.
        let b1 = send("b1", parcel("999999"));
        let c1 = send("c1", "not JSON".to_owned());
        gate.wait_for("b1");
        let arrived = gate.wait_for("c1");
        assert_eq!(arrived.len(), 3, "a2 and a3 wait for a1: {arrived:?}");
        for (id, run) in [("b1", b1), ("c1", c1)] {
            gate.release(id);
            assert_eq!(run.join().unwrap(), 200, "{id}");
        }
        gate.release("a1");
        assert_eq!(a1.join().unwrap(), 200);
        let arrived = gate.wait_for("a2");
        assert_eq!(arrived[3..], ["a2"], "a3 waits for a2: {arrived:?}");
        gate.release("a2");
        assert_eq!(a2.join().unwrap(), 200);
        gate.wait_for("a3");
        gate.release("a3");
        assert_eq!(a3.join().unwrap(), 200);
        // A repeat of a1 is answered as the first and leaves the key free.
        assert_eq!(post(&url, "a1", &parcel("204500")).0, 200);
        let a4 = send("a4", parcel("204500"));
        gate.wait_for("a4");
        gate.release("a4");
        assert_eq!(a4.join().unwrap(), 200);
        // A caller that hangs up mid-run does not cut the run short: it
        // ends, its id is settled (a repeat is a duplicate, not 409 for
        // good) and the key is free again.
        let hung_up = {
            let (url, body) = (url.clone(), parcel("204500"));
            scope.spawn(move || {
                reqwest::blocking::Client::new()
                    .post(url)
                    .header("webhook-id", "a5")
                    .body(body)
                    .timeout(Duration::from_millis(500))
                    .send()
                    .is_err()
            })
        };
        gate.wait_for("a5");
        assert!(hung_up.join().unwrap(), "the caller gave up");
        gate.release("a5");
        eventually(Duration::from_secs(30), || {
            (post(&url, "a5", &parcel("204500")).0 == 200).then_some(())
        });
        let a6 = send("a6", parcel("204500"));
        gate.wait_for("a6");
        gate.release("a6");
        assert_eq!(a6.join().unwrap(), 200);
    });
    assert_eq!(metric(&host, waiting), Some(0.0));
    // Each ran once, the parcel's in the order they arrived.
    let runs = seen(&host, "recorder", company);
    let ids: Vec<&str> = (0..runs.len())
        .map(|n| {
            runs[&format!("seen/slow_status/{n}")]["webhook"]["id"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, ["b1", "c1", "a1", "a2", "a3", "a4", "a5", "a6"]);
    // Each run's claim of its key is gone with it.
    host.stop();
    let entries = host.db_entries();
    let claims = entries
        .iter()
        .filter(|entry| String::from_utf8_lossy(entry).contains("host/order/"));
    assert_eq!(claims.count(), 0);
}
