//! `--webhooks <rounds> <companies>` (issue 22): how many verified webhook
//! deliveries a second keruj-host takes, and what they do to Keruj's own
//! requests. Two apps on one host: `front` (hello, one company) gets
//! configure events; `hooked` (hello again) has a `[[webhook]]` verified
//! with the GitHub scheme (HMAC-SHA256 of the body) for `companies`
//! companies, its rate per URL set out of the way. Each delivery is
//! signed, carries no delivery id (so each one is verified and runs the
//! app: no deduplication short cut) and is spread over every company's
//! URL. Each round, in turn: deliveries alone, configure alone, and
//! configure while deliveries run at the same concurrency.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::load::{Generator, Req, Stats};
use crate::scale::{install_all, own};
use crate::servers::Server;
use crate::{COMPANY, Plan, TOKEN, configure_body, post};

const CONCURRENCY: usize = 16;
const SECRET: &str = "bench webhook secret";
const BODY: &str = r#"{"ttn":"20450000000000","status":"delivered"}"#;

pub fn run(plan: &Plan, generator: &Generator, hello: &[u8], rounds: usize, companies: usize) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    crate::servers::write_apps(&plugins, hello, &["front", "hooked"]);
    std::fs::write(
        plugins.join("hooked.toml"),
        "max_concurrency = 1000\n[[webhook]]\nname = \"events\"\nevent = \"np_status\"\n\
         verify = \"github\"\nsecret = \"env:BENCH_HOOK_SECRET\"\nrate = \"100000/s\"\nburst = 100000\n",
    )
    .unwrap();
    let names = ["front".to_owned(), "hooked".to_owned()];
    let kept = tempfile::TempDir::with_prefix_in("host", dir.path()).unwrap();
    let server = Server::keruj_in_env(own(&dir, kept), &names, &[("BENCH_HOOK_SECRET", SECRET)]);
    let pairs: Vec<(String, String)> = std::iter::once(("front".into(), COMPANY.into()))
        .chain((0..companies).map(|c| ("hooked".into(), format!("co-{c:05}"))))
        .collect();
    install_all(
        &server.addr,
        &server.log_path(),
        &pairs.iter().collect::<Vec<_>>(),
    );

    let signature = format!("sha256={}", hex(&hmac(SECRET.as_bytes(), BODY.as_bytes())));
    let deliveries: Vec<Req> = (0..companies)
        .map(|c| Req {
            path: hook_path(&server, &format!("co-{c:05}")),
            body: BODY.into(),
            headers: vec![("x-hub-signature-256".into(), signature.clone())],
        })
        .collect();
    let configure = vec![Req {
        path: "/apps/front/events".into(),
        body: configure_body(COMPANY),
        ..Req::default()
    }];
    let seconds = std::time::Duration::from_secs(plan.seconds);
    let load = |reqs: &[Req]| generator.run(&server.addr, TOKEN, reqs, CONCURRENCY, seconds);
    println!(
        "webhook deliveries (github scheme, each verified and run, spread over {companies} \
         companies' URLs) beside configure, c={CONCURRENCY} each, {} s per point",
        plan.seconds
    );
    println!(
        "round  {:<28} {:>9} {:>8} {:>8} {:>10}",
        "point", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut points: Vec<(&str, Vec<Stats>)> = vec![
        ("deliveries alone", Vec::new()),
        ("configure alone", Vec::new()),
        ("configure beside deliveries", Vec::new()),
        ("deliveries beside configure", Vec::new()),
    ];
    let row = |round: usize, name: &str, stats: &Stats| {
        println!(
            "{:<6} {:<28} {:>9.0} {:>8.3} {:>8.3} {:>10}",
            round + 1,
            name,
            stats.rps,
            stats.p50_us / 1000.0,
            stats.p99_us / 1000.0,
            stats.errors
        )
    };
    for round in 0..rounds {
        let alone = load(&deliveries);
        row(round, points[0].0, &alone);
        points[0].1.push(alone);
        let front = load(&configure);
        row(round, points[1].0, &front);
        points[1].1.push(front);
        let (front, hooks) = std::thread::scope(|scope| {
            let hooks = scope.spawn(|| load(&deliveries));
            let front = load(&configure);
            (front, hooks.join().unwrap())
        });
        row(round, points[2].0, &front);
        row(round, points[3].0, &hooks);
        points[2].1.push(front);
        points[3].1.push(hooks);
    }
    println!("\nmedians                        req/s   p99 ms");
    for (name, stats) in &points {
        let median = |f: &dyn Fn(&Stats) -> f64| {
            let mut values: Vec<f64> = stats.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!(
            "{name:<28} {:>9.0} {:>8.3}",
            median(&|s| s.rps),
            median(&|s| s.p99_us / 1000.0)
        );
    }
}

/// The path of `company`'s webhook URL, read from the `webhooks` the app
/// is given in every event (hello echoes an unknown event's body).
fn hook_path(server: &Server, company: &str) -> String {
    let show = format!(r#"{{"event":"show","company_id":"{company}","account_id":"acc"}}"#);
    let (status, body) = post(&server.addr, "/apps/hooked/events", &show);
    assert_eq!(status, 200, "{body}");
    let form: Value = serde_json::from_str(&body).unwrap();
    let echoed: Value =
        serde_json::from_str(form["elements"][0]["label"].as_str().unwrap()).unwrap();
    let url = echoed["webhooks"]["events"]
        .as_str()
        .expect("a webhook URL");
    let (_, path) = url.split_once("/hooks/").expect("a hooks URL");
    format!("/hooks/{path}")
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
