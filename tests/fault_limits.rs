//! The harness's sandbox and limits, driving the real component: deadlines, request timeouts,
//! the response-body cap, the memory limit, egress denial, discarded instances, and a
//! `--verbose` that never shows a credential. Servers are local fakes on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use common::*;
use host_harness::http::egress::EgressPolicy;
use host_harness::http::{HttpSetup, HttpState};
use host_harness::progress::NoProgress;
use host_harness::scrub::Scrubber;
use host_harness::{host_config, HarnessError, HarnessOptions, HttpMode, LimitKind, Limits};
use host_harness::{Harness, HttpFailure};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

const PASSWORD: &str = "Limits-Pa55word-xyz";

/// A loopback server counting the connections it accepts.
struct Server {
    base: String,
    accepted: Arc<AtomicUsize>,
}

#[derive(Clone)]
enum Behaviour {
    /// Accept and never answer (the sockets stay open).
    Hang,
    /// Answer every request with these raw bytes, then close.
    Respond(Arc<Vec<u8>>),
    /// Answer the first connection with the first reply, later ones with the second.
    FirstThen(Arc<Vec<u8>>, Arc<Vec<u8>>),
}

async fn server(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            match &behaviour {
                Behaviour::Hang => held.push(sock),
                Behaviour::Respond(reply) => {
                    tokio::spawn(answer(sock, reply.clone()));
                }
                Behaviour::FirstThen(first, then) => {
                    let reply = if count.load(Ordering::SeqCst) == 1 {
                        first
                    } else {
                        then
                    };
                    tokio::spawn(answer(sock, reply.clone()));
                }
            }
        }
    });
    Server { base, accepted }
}

/// Reads one request (head and content-length body) and writes `reply`.
async fn answer(mut sock: TcpStream, reply: Arc<Vec<u8>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut chunk).await else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
        if n == 0 {
            return;
        }
    }
    let _ = sock.write_all(&reply).await;
    let _ = sock.shutdown().await;
}

fn http_reply(status: &str, headers: &[(&str, String)], body: &[u8]) -> Arc<Vec<u8>> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Arc::new(bytes)
}

fn live(base: &str, limits: Limits) -> HarnessOptions {
    require_component();
    let settings: BTreeMap<String, String> = [
        ("base_url", base),
        ("username", "admin"),
        ("password", PASSWORD),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    HarnessOptions {
        mode: HttpMode::Live,
        settings,
        limits,
        ..Default::default()
    }
}

fn limit_of<T: std::fmt::Debug>(r: Result<T, HarnessError>) -> (LimitKind, String) {
    match r {
        Err(e @ HarnessError::Limit { .. }) => (e.limit().unwrap(), e.to_string()),
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_slower_than_the_deadline() {
    let slow = server(Behaviour::Hang).await;
    let limits = Limits {
        deadline: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut h = within("start", Harness::new(live(&slow.base, limits)))
        .await
        .unwrap();
    let (kind, msg) = limit_of(within("validate", h.validate()).await);
    assert_eq!(kind, LimitKind::Deadline, "{msg}");
    assert!(
        msg.contains("`validate` did not finish within 2 s (waiting for ")
            && msg.contains(&format!("{}/", slow.base))
            && msg.contains("--deadline")
            && msg.contains("instance was discarded"),
        "{msg}"
    );
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(
        slow.accepted.load(Ordering::SeqCst) >= 1,
        "the request went out"
    );
    assert_eq!(h.instances(), 1);
    // As documented: the next call runs on a fresh, re-configured instance.
    let info = within("metadata", h.metadata()).await.unwrap();
    assert!(!info.resource_types.is_empty());
    assert_eq!(h.instances(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_request_timeout() {
    let slow = server(Behaviour::Hang).await;
    let limits = Limits {
        first_byte_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let mut h = within("start", Harness::new(live(&slow.base, limits)))
        .await
        .unwrap();
    let (kind, msg) = limit_of(within("validate", h.validate()).await);
    assert_eq!(kind, LimitKind::RequestTimeout, "{msg}");
    assert!(
        msg.starts_with("request timeout: ")
            && msg.contains(&format!("{}/", slow.base))
            && msg.contains("no response within 1 s")
            && msg.contains("--first-byte-timeout")
            && msg.contains("the connector reported: "),
        "{msg}"
    );
    // A request timeout is an answer the guest handled, not a broken instance.
    assert_eq!(h.instances(), 1);
    assert!(h
        .http_failures()
        .iter()
        .all(|f| matches!(f, HttpFailure::Timeout(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_cap() {
    // Replay: a real recording, with a cap smaller than the sign-in answers it holds.
    let mut opts = HarnessOptions::replay(cassette("airflow-3.3/validate.json")).unwrap();
    opts.limits.max_body_bytes = 40;
    let mut h = within("start", Harness::new(opts)).await.unwrap();
    let (kind, msg) = limit_of(within("validate", h.validate()).await);
    assert_eq!(kind, LimitKind::ResponseBody, "{msg}");
    assert!(
        msg.contains("exceeds the cap of 40 bytes") && msg.contains("--max-body-mib"),
        "{msg}"
    );

    // Live: a server answering 2 MiB, once with a content-length and once streamed without
    // one, against a 1 MiB cap.
    let body = vec![b'x'; 2 << 20];
    for headers in [
        vec![("content-length", body.len().to_string())],
        vec![("transfer-encoding", "chunked".to_string())],
    ] {
        let chunked = headers[0].0 == "transfer-encoding";
        let payload = if chunked {
            let mut p = format!("{:x}\r\n", body.len()).into_bytes();
            p.extend_from_slice(&body);
            p.extend_from_slice(b"\r\n0\r\n\r\n");
            p
        } else {
            body.clone()
        };
        let big = server(Behaviour::Respond(http_reply("200 OK", &headers, &payload))).await;
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut h = within("start", Harness::new(live(&big.base, limits)))
            .await
            .unwrap();
        let (kind, msg) = limit_of(within("validate", h.validate()).await);
        assert_eq!(kind, LimitKind::ResponseBody, "chunked={chunked}: {msg}");
        assert!(msg.contains("exceeds the cap of 1 MiB"), "{msg}");
    }
}

/// Enough for the component to start (it asks for 1.125 MiB) and sync a real directory page
/// by page, too little to hold a 4 MiB response.
const SMALL_MEMORY: u64 = 2 << 20;

/// A JSON answer of 4 MiB: under the body cap, over [`SMALL_MEMORY`].
fn big_json() -> Arc<Vec<u8>> {
    let body = format!(r#"{{"detail":"{}"}}"#, "x".repeat(4 << 20));
    http_reply(
        "200 OK",
        &[
            ("content-type", "application/json".into()),
            ("content-length", body.len().to_string()),
        ],
        body.as_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_limit() {
    // Too small to even instantiate the component.
    let mut opts = HarnessOptions::replay(cassette("airflow-3.3/sync.json")).unwrap();
    opts.limits.memory_bytes = 1 << 20;
    let started = within("start", Harness::new(opts)).await.map(|_| ());
    let (kind, msg) = limit_of(started);
    assert_eq!(kind, LimitKind::Memory, "{msg}");
    assert!(
        msg.contains("memory limit (1 MiB) exceeded") && msg.contains("--memory-limit-mib"),
        "{msg}"
    );

    // Enough to start and to sync a real recording…
    let mut opts = HarnessOptions::replay(cassette("airflow-3.3/sync.json")).unwrap();
    opts.limits.memory_bytes = SMALL_MEMORY;
    let mut h = within("start", Harness::new(opts)).await.unwrap();
    let mut out = Vec::new();
    within("sync", h.sync(&mut out, &NoProgress)).await.unwrap();

    // …but not to read a 4 MiB answer: the call fails with the limit (a trap, not a panic).
    let big = server(Behaviour::Respond(big_json())).await;
    let mut h = within("start", Harness::new(live(&big.base, small_memory())))
        .await
        .unwrap();
    let (kind, msg) = limit_of(within("validate", h.validate()).await);
    assert_eq!(kind, LimitKind::Memory, "{msg}");
    assert!(
        msg.starts_with("memory limit (2 MiB) exceeded (the connector asked for ")
            && msg.contains("in `validate`")
            && msg.contains("instance was discarded"),
        "{msg}"
    );
}

fn small_memory() -> Limits {
    Limits {
        memory_bytes: SMALL_MEMORY,
        ..Limits::default()
    }
}

/// A live-mode choke point, as the harness builds it for the `airflow` connector, with `extra`
/// allowed origins.
fn choke_point(base_url: &str, extra: &[String]) -> Arc<HttpState> {
    HttpState::new(
        HttpSetup::Live,
        EgressPolicy::new(Some(base_url), extra)
            .unwrap()
            .with_origins_var("AIRFLOW_ALLOWED_ORIGINS".into()),
        Scrubber::default(),
        Scrubber::default(),
        false,
        Limits::default(),
    )
}

async fn send_through(state: &Arc<HttpState>, url: &str) -> Result<u16, HttpError> {
    let body: WasiBody = Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync();
    let req = http::Request::get(url).body(body).unwrap();
    let mut hooks = host_harness::http::Hooks::new(state.clone());
    let fut = hooks.send_request(req, None, Box::new(async { Ok(()) }));
    let (res, _io) = Box::into_pin(fut).await?;
    Ok(res.status().as_u16())
}

async fn wait_for_count(server: &Server, n: usize) {
    within("the listener to count the probe", async {
        while server.accepted.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_to_another_origin_never_leaves_the_host() {
    let ok = http_reply("200 OK", &[("content-length", "2".into())], b"{}");
    let allowed = server(Behaviour::Respond(ok.clone())).await;
    let other = server(Behaviour::Respond(ok)).await;

    // Through the choke point: the request to the other origin is refused before any
    // connection, and the operator's message names the target and the settings that allow it.
    let state = choke_point(&allowed.base, &[]);
    let err = send_through(&state, &format!("{}/api/v2/users", other.base))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err}");
    let failures = state.failures();
    let HttpFailure::Denied(msg) = &failures[0] else {
        panic!("{failures:?}")
    };
    let target = other.base.replace("http://", "");
    assert!(
        msg.contains(&format!("tried to reach http://{target}"))
            && msg.contains("--allow-origin")
            && msg.contains("allowed_origins")
            && msg.contains("AIRFLOW_ALLOWED_ORIGINS"),
        "{msg}"
    );
    assert_eq!(
        send_through(&state, &format!("{}/x", allowed.base))
            .await
            .unwrap(),
        200
    );
    assert_eq!(allowed.accepted.load(Ordering::SeqCst), 1);

    // Through the component: the allowed server redirects to the other origin; the
    // connector does not follow, and nothing reaches the other listener.
    let redirect = http_reply(
        "302 Found",
        &[
            ("location", format!("{}/auth/token", other.base)),
            ("content-length", "0".into()),
        ],
        b"",
    );
    let redirector = server(Behaviour::Respond(redirect)).await;
    let mut h = within(
        "start",
        Harness::new(live(&redirector.base, Limits::default())),
    )
    .await
    .unwrap();
    let r = within("validate", h.validate()).await;
    assert!(r.is_err(), "a redirect-only server cannot validate: {r:?}");
    assert!(redirector.accepted.load(Ordering::SeqCst) >= 1);

    // The other listener does count: a direct probe is its first and only connection.
    drop(TcpStream::connect(target.as_str()).await.unwrap());
    wait_for_count(&other, 1).await;
    assert_eq!(other.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn extra_allowed_origin_is_reachable() {
    let ok = http_reply("200 OK", &[("content-length", "2".into())], b"{}");
    let extra = server(Behaviour::Respond(ok)).await;
    // The operator allows it in the config file, as `allowed_origins`.
    let config = format!(
        r#"{{"base_url":"http://127.0.0.1:9","allowed_origins":["{}"]}}"#,
        extra.base
    );
    let host = host_config::resolve(
        Some(("c.json", &config)),
        &BTreeMap::new(),
        &Default::default(),
    )
    .unwrap();
    let mut opts = live("http://127.0.0.1:9", Limits::default());
    opts.extra_allowed_origins = host.allowed_origins.clone();
    let h = within("start", Harness::instantiate(opts)).await.unwrap();
    let uri: http::Uri = format!("{}/api/v2/version", extra.base).parse().unwrap();
    assert!(h.egress().check(&uri).is_ok());

    let state = choke_point("http://127.0.0.1:9", &host.allowed_origins);
    let status = send_through(&state, &format!("{}/api/v2/version", extra.base))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(extra.accepted.load(Ordering::SeqCst), 1);
    assert!(state.failures().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn trapped_instance_is_not_reused() {
    // The first answer makes the guest trap on the memory limit; later ones are a plain 404.
    let not_found = http_reply(
        "404 Not Found",
        &[
            ("content-type", "application/json".into()),
            ("content-length", "21".into()),
        ],
        br#"{"detail":"Not Found"}"#,
    );
    let srv = server(Behaviour::FirstThen(big_json(), not_found)).await;
    let mut h = within("start", Harness::new(live(&srv.base, small_memory())))
        .await
        .unwrap();
    let err = within("validate", h.validate()).await.unwrap_err();
    assert_eq!(err.limit(), Some(LimitKind::Memory), "{err}");
    assert_eq!(h.instances(), 1);

    // The next call does not touch the trapped instance: a fresh one is made and configured
    // again (an unconfigured instance would answer "the connector is not configured"), and it
    // reaches the server, which now answers 404.
    let err = within("validate again", h.validate()).await.unwrap_err();
    assert_eq!(h.instances(), 2);
    match &err {
        HarnessError::Connector(e) => assert!(
            !e.to_string().contains("not configured"),
            "the fresh instance was not configured: {e}"
        ),
        other => panic!("expected the connector's answer to a 404, got {other:?}"),
    }
    assert!(srv.accepted.load(Ordering::SeqCst) >= 2);
    // Calls that end normally keep their instance.
    within("metadata", h.metadata()).await.unwrap();
    assert_eq!(h.instances(), 2);
}

#[test]
fn verbose_never_prints_credentials() {
    require_component();
    let harness = repo().join("target/debug/host-harness");
    assert!(harness.exists(), "build the harness first (make harness)");
    // Airflow 2 signs every request with HTTP Basic; 3.x exchanges the password for a JWT.
    let basic = format!("admin:{PASSWORD}");
    let basic_b64 = base64::engine::general_purpose::STANDARD.encode(basic.as_bytes());
    for recording in ["airflow-2.11/validate.json", "airflow-3.3/validate.json"] {
        let output = std::process::Command::new(&harness)
            .args(["-v", "--replay"])
            .arg(cassette(recording))
            .arg("validate")
            .env("AIRFLOW_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{recording}: {printed}");
        assert!(printed.contains("limits: deadline 60 s"), "{printed}");
        assert!(
            printed.contains("http: replay GET http://127.0.0.1:")
                && printed.contains("limit=1")
                && printed.contains("-> 200 ("),
            "{recording}: --verbose lists mode, method, URL with query, status: {printed}"
        );
        for leak in [
            PASSWORD,
            basic.as_str(),
            basic_b64.as_str(),
            "Basic ",
            "Bearer ",
            "eyJ",
        ] {
            assert!(
                !printed.contains(leak),
                "{recording}: printed `{leak}`:\n{printed}"
            );
        }
    }
}
