use super::Refused::*;
use super::*;
use http::{HeaderName, HeaderValue};

type R = Result<Option<String>, Refused>;
type Headers<'a> = [(&'static str, &'a str)];
const BAD: R = Err(BadSignature);

fn run(scheme: Scheme, secret: &str, hs: &Headers, body: &str, now: i64) -> R {
    let value = |v: &str| HeaderValue::from_str(v).unwrap();
    let h = hs
        .iter()
        .map(|&(k, v)| (HeaderName::from_static(k), value(v)))
        .collect();
    verify(scheme, secret.as_bytes(), &h, body.as_bytes(), now).map(|v| v.delivery_id)
}
fn check_all(cases: impl IntoIterator<Item = (R, R)>) {
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
}
fn ok(id: &str) -> R {
    Ok(Some(id.to_owned()))
}
fn mal(what: &'static str) -> R {
    Err(Malformed(what))
}
fn miss(name: &'static str) -> R {
    Err(MissingHeader(name))
}
fn stale(age_seconds: i64) -> R {
    let tolerance_seconds = 300;
    Err(Stale {
        age_seconds,
        tolerance_seconds,
    })
}

#[test]
fn scheme_names() {
    for s in Scheme::ALL {
        assert_eq!(s.to_string().parse::<Scheme>(), Ok(s));
        assert_eq!(s.needs_secret(), s != Scheme::None);
    }
    let err = "svix".parse::<Scheme>().unwrap_err().to_string();
    assert!(Scheme::ALL.iter().all(|s| err.contains(s.as_str())));
}

// Svix's published test vector, rechecked with python3 hmac.
const SW_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_BODY: &str = r#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const SW_TS: i64 = 1614265330;
const SW_HEADERS: [(&str, &str); 3] = [
    ("webhook-id", SW_ID),
    ("webhook-timestamp", "1614265330"),
    ("webhook-signature", SW_SIG),
];

/// The Svix delivery with signature header `sig`, checked `skew` seconds after it was sent.
fn sw(key: &str, sig: &str, body: &str, skew: i64) -> R {
    let hs = [SW_HEADERS[0], SW_HEADERS[1], ("webhook-signature", sig)];
    run(Scheme::StandardWebhooks, key, &hs, body, SW_TS + skew)
}

#[test]
fn standard_webhooks() {
    let (k, s, b, id) = (SW_KEY, SW_SIG, SW_BODY, || ok(SW_ID));
    let own = hmac(b"raw", &[SW_ID.as_bytes(), b".1614265330.", b.as_bytes()]);
    let own = B64.encode(own);
    let (rotated, v1a) = (format!("v1,AAAA v1a,{own} v1,{own}"), format!("v1a,{own}"));
    let many = format!("{} {s}", ["v1,AAAA"; MAX_SIGNATURES].join(" "));
    let no_ts = [SW_HEADERS[0], SW_HEADERS[2]];
    let plus = ("webhook-timestamp", "+1614265330");
    let signed_ts = [SW_HEADERS[0], plus, SW_HEADERS[2]];
    let other_id = [("webhook-id", "msg_other"), SW_HEADERS[1], SW_HEADERS[2]];
    let other_ts = [
        SW_HEADERS[0],
        ("webhook-timestamp", "1614265331"),
        SW_HEADERS[2],
    ];
    let sw_run = |hs: &Headers| run(Scheme::StandardWebhooks, k, hs, b, SW_TS);
    check_all([
        (sw(k, s, b, 0), id()),
        (sw("raw", &rotated, b, 0), id()),
        (sw("raw", &v1a, b, 0), BAD),
        (sw("whsec_AAAA", s, b, 0), BAD),
        (sw(k, s, "{}", 0), BAD),
        (sw(k, &many, b, 0), BAD),
        (sw(k, s, b, 300), id()),
        (sw(k, s, b, -300), id()),
        (sw(k, s, b, 301), stale(301)),
        (sw(k, s, b, -301), stale(-301)),
        (sw(k, "v1,!!!", b, 0), mal("webhook-signature")),
        (sw(k, "g0hM9SsE", b, 0), mal("webhook-signature")),
        (sw("whsec_!!", s, b, 0), Err(BadSecret("bad whsec_ base64"))),
        (sw("", s, b, 0), Err(BadSecret("empty secret"))),
        (sw_run(&SW_HEADERS[1..]), miss("webhook-id")),
        (sw_run(&no_ts), miss("webhook-timestamp")),
        (sw_run(&SW_HEADERS[..2]), miss("webhook-signature")),
        (sw_run(&signed_ts), mal("webhook-timestamp")),
        (sw_run(&other_id), BAD),
        (sw_run(&other_ts), BAD),
    ]);
}

#[test]
fn github() {
    // GitHub's documented example, rechecked with `openssl dgst -sha256 -hmac`.
    const K: &str = "It's a Secret to Everybody";
    const S: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const H: &str = "x-hub-signature-256";
    let gh = |key: &str, sig: &str, body: &str| {
        let hs = [(H, sig), ("x-github-delivery", "72d3162e")];
        run(Scheme::Github, key, &hs, body, 0)
    };
    let own = format!("sha256={}", hex::encode(hmac(b"k", &[b"{}"])));
    check_all([
        (gh(K, S, "Hello, World!"), ok("72d3162e")),
        (gh("k", &own, "{}"), ok("72d3162e")),
        (run(Scheme::Github, "k", &[(H, &own)], "{}", 0), Ok(None)),
        (gh("wrong", S, "Hello, World!"), BAD),
        (gh(K, S, "Hello, World?"), BAD),
        (gh(K, &S[7..], ""), mal(H)),
        (gh(K, "sha256=zz", ""), mal(H)),
        (gh(K, "sha256=abc", ""), mal(H)),
        (gh(K, "sha1=00", ""), mal(H)),
        (run(Scheme::Github, K, &[], "", 0), miss(H)),
    ]);
}

#[test]
fn stripe() {
    // Rechecked with `openssl dgst -sha256 -hmac whsec_test_secret` over `{t}.{body}`.
    const K: &str = "whsec_test_secret";
    const B: &str = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event"}"#;
    const V1: &str = "0d82a261071768f1ddd21d94f6476ec95b9b2a1f4de9fd55aa93ad34e86c6ca1";
    const T: i64 = 1_700_000_000;
    const H: &str = "stripe-signature";
    let st = |key: &str, sig: &str, body: &str, now: i64| {
        run(Scheme::Stripe, key, &[(H, sig)], body, now)
    };
    let evt = || ok("evt_1NG8Du2eZvKYlo2CUI79vXWy");
    let good = format!("t={T},v1={V1},v0=6ffbb59b");
    let signed = format!("{T}.not json");
    let own = hex::encode(hmac(b"whsec_b", &[signed.as_bytes()]));
    let rotated = format!("t={T}, v1={V1}, v1={own}");
    let (next_t, v0) = (format!("t={},v1={V1}", T + 1), format!("t={T},v0={V1}"));
    check_all([
        (st(K, &good, B, T), evt()),
        (st("whsec_b", &rotated, "not json", T), Ok(None)),
        (st("whsec_wrong", &good, B, T), BAD),
        (st(K, &good, r#"{"id":"evt_2"}"#, T), BAD),
        (st(K, &next_t, B, T), BAD),
        (st(K, &v0, B, T), BAD),
        (st(K, &good, B, T - 300), evt()),
        (st(K, &good, B, T + 301), stale(301)),
        (st(K, &good, B, T - 301), stale(-301)),
        (run(Scheme::Stripe, K, &[], B, T), miss(H)),
        (st(K, V1, B, T), mal(H)),
        (st(K, "t=1,v1=xyz", B, T), mal(H)),
        (st(K, "t=1,v1", B, T), mal(H)),
        (st(K, "t=,v1=00", B, T), mal("stripe-signature t")),
        (st(K, "t=1,t=1,v1=00", B, T), mal("stripe-signature t")),
        (st(K, "v1=00", B, T), mal("stripe-signature t")),
    ]);
}

#[test]
fn shopify() {
    // Rechecked with `openssl dgst -sha256 -hmac shpss_test_secret -binary | base64`.
    const K: &str = "shpss_test_secret";
    const B: &str = r#"{"id":820982911946154508}"#;
    const S: &str = "AU5n5C4JV1EbE8g4yEzV+ZHbqkXpM29HXkzNAa5zicA=";
    const H: &str = "x-shopify-hmac-sha256";
    let ids = [("x-shopify-webhook-id", "w1"), ("x-shopify-event-id", "e1")];
    let sh = |key: &str, sig: &str, body: &str| {
        run(Scheme::Shopify, key, &[(H, sig), ids[0], ids[1]], body, 0)
    };
    let own = B64.encode(hmac(b"k", &[b"x"]));
    let event_only = [(H, own.as_str()), ids[1]];
    check_all([
        (sh(K, S, B), ok("w1")),
        (run(Scheme::Shopify, "k", &event_only, "x", 0), ok("e1")),
        (sh("shpss_wrong", S, B), BAD),
        (sh(K, S, "{}"), BAD),
        (sh(K, "not base64!", B), mal(H)),
        (run(Scheme::Shopify, K, &[], B, 0), miss(H)),
    ]);
}

#[test]
fn none_checks_nothing_but_finds_ids() {
    let none = |hs: &Headers| run(Scheme::None, "", hs, "anything", 0);
    let both = [("webhook-id", "a"), ("idempotency-key", "b")];
    check_all([
        (none(&both), ok("a")),
        (none(&both[1..]), ok("b")),
        (none(&[]), Ok(None)),
    ]);
}

#[test]
fn verify_accepts_what_sign_makes_for_every_scheme() {
    let body = br#"{"id":"evt_42","order":7}"#;
    let now = 1_700_000_000;
    for scheme in Scheme::ALL {
        for secret in [&b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"[..], b"plain key"] {
            let headers: HeaderMap = sign(scheme, secret, "msg_1", body, now)
                .into_iter()
                .map(|(k, v)| {
                    (
                        HeaderName::from_static(k),
                        HeaderValue::from_str(&v).unwrap(),
                    )
                })
                .collect();
            let got = verify(scheme, secret, &headers, body, now + 60);
            let id = if scheme == Scheme::Stripe {
                "evt_42"
            } else {
                "msg_1"
            };
            assert_eq!(got.map(|v| v.delivery_id), ok(id), "{scheme}");
            if scheme.needs_secret() {
                let other = verify(scheme, b"another key", &headers, body, now);
                assert_eq!(other.map(|v| v.delivery_id), BAD, "{scheme}");
                let tampered = verify(scheme, secret, &headers, b"{}", now);
                assert_eq!(tampered.map(|v| v.delivery_id), BAD, "{scheme}");
            }
        }
    }
}

#[test]
fn non_utf8_header_is_malformed() {
    let mut h = HeaderMap::new();
    let sig = format!("sha256={}", hex::encode(hmac(b"k", &[b""])));
    h.insert("x-hub-signature-256", sig.parse().unwrap());
    let not_utf8 = HeaderValue::from_bytes(b"\xff").unwrap();
    h.insert("x-github-delivery", not_utf8);
    let r = verify(Scheme::Github, b"k", &h, b"", 0).map(|v| v.delivery_id);
    assert_eq!(r, mal("x-github-delivery"));
}

#[test]
fn refusals_never_show_the_secret_or_a_signature() {
    let (k, s) = (SW_KEY, "v1,AAAA");
    let mut all = [sw(k, s, "x", 0), sw(k, s, "", 999), sw("whsec_!", s, "", 0)].to_vec();
    all.extend([miss("a"), mal("b"), stale(301)]);
    for r in all {
        let r = r.unwrap_err();
        let shown = format!("{r} {r:?}");
        let leaks = shown.contains(&k[6..]) || shown.contains(&SW_SIG[3..]);
        assert!(!leaks, "{shown}");
    }
}
