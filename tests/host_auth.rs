//! Host-provided authentication (`host_auth`, docs/kerberos.md) with the real component: the
//! connector sends no credentials and the harness attaches its own to every request, fresh
//! each time; a recording made with Kerberos replays without it; a failure to make credentials
//! ends the operation at once with the host's message, through the connector's retry logic.
//!
//! The server is a loopback stand-in answering from tests/cassettes/airflow-2.11-kerberos/
//! sync.json, recorded from a real Airflow 2.11 with its Kerberos backend and a real KDC
//! (scripts/live_kerberos.sh --keep-cassette); the credentials are a counter instead of
//! Kerberos, so the tests need no KDC and no Kerberos library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
#[path = "loopback_http/mod.rs"]
mod loopback_http;

use common::{cassette, golden, lines, require_component, within};
use host_harness::cassette::{Body, Cassette};
use host_harness::http::host_auth::{Credentials, HostAuthOptions};
use host_harness::http::player::{IncomingRequest, Player};
use host_harness::progress::NoProgress;
use host_harness::{Harness, HarnessError, HarnessOptions, HttpMode};
use loopback_http::{Response, Server};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const RECORDING: &str = "airflow-2.11-kerberos/sync.json";
const PRINCIPAL: &str = "alice@AUTHLAB.TEST";

/// Tokens `Negotiate host-token-<n>`, or the failure a host without a ticket reports.
struct Counting {
    made: AtomicUsize,
    fail: bool,
}

impl Counting {
    fn new(fail: bool) -> Arc<Self> {
        Arc::new(Self {
            made: AtomicUsize::new(0),
            fail,
        })
    }

    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }
}

impl Credentials for Counting {
    fn authorization(&self) -> Result<String, String> {
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail {
            return Err(
                "Kerberos (host_auth=negotiate): no Kerberos ticket: run `kinit` first".into(),
            );
        }
        Ok(format!("Negotiate host-token-{n}"))
    }

    fn describe(&self) -> String {
        "counting test credentials".into()
    }
}

/// What one request to the stand-in carried.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: Option<String>,
    cookie: Option<String>,
}

/// Answers from the Kerberos recording, and keeps what each request carried.
struct Standin {
    server: Server,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Standin {
    fn start() -> Self {
        let recording = Cassette::load(&cassette(RECORDING)).expect("the Kerberos recording loads");
        let player = Mutex::new(Player::new(recording, RECORDING.into()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Server::start(
            move |addr, request| {
                log.lock().unwrap().push(Seen {
                    line: format!("{} {}", request.method, request.target),
                    authorization: request.header("authorization").map(String::from),
                    cookie: request.header("cookie").map(String::from),
                });
                let incoming = IncomingRequest {
                    method: request.method.clone(),
                    url: format!("http://{addr}{}", request.target),
                    body: Body::from_bytes(&request.body),
                };
                match player.lock().unwrap().take(&incoming) {
                    Ok(answer) => Response {
                        status: answer.status,
                        reason: "Replayed",
                        headers: answer
                            .headers
                            .into_iter()
                            .filter(|(k, _)| k == "content-type")
                            .collect(),
                        body: answer.body,
                    },
                    Err(message) => Response {
                        status: 599,
                        reason: "Not recorded",
                        headers: Vec::new(),
                        body: message.into_bytes(),
                    },
                }
            },
            |_| {},
        );
        Self { server, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn live(standin: &Standin, credentials: Arc<Counting>, host_auth: &str) -> HarnessOptions {
    require_component();
    HarnessOptions {
        mode: HttpMode::Live,
        settings: BTreeMap::from([
            ("base_url".to_string(), standin.server.base_url()),
            ("host_auth".to_string(), host_auth.to_string()),
            ("username".to_string(), PRINCIPAL.to_string()),
        ]),
        host_auth: HostAuthOptions {
            credentials: Some(credentials),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn replayed_output() -> String {
    require_component();
    // The recording's own settings (host_auth among them), no ticket, no Kerberos library.
    let opts = HarnessOptions::replay(cassette(RECORDING)).unwrap();
    assert_eq!(opts.settings["host_auth"], "negotiate");
    assert!(
        !opts.settings.contains_key("password"),
        "{:?}",
        opts.settings
    );
    let mut harness = within("configure", Harness::new(opts)).await.unwrap();
    let mut out = Vec::new();
    within("sync", harness.sync(&mut out, &NoProgress))
        .await
        .unwrap();
    assert!(harness.unused_interactions().is_empty());
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_made_with_kerberos_replays_without_it_and_holds_no_token() {
    let output = replayed_output().await;
    let golden = golden("airflow-2.11-kerberos/sync.jsonl");
    assert!(
        output == std::fs::read_to_string(&golden).unwrap(),
        "the replay differs from {} (regenerate with `make golden` only if the change is \
         intended)",
        golden.display()
    );
    let users: Vec<String> = lines(&output)
        .into_iter()
        .filter(|l| l["type"] == "resource" && l["resource_type"] == "user")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert!(users.len() > 250, "{} users", users.len());
    assert!(users.iter().any(|u| u == PRINCIPAL), "{users:?}");

    let recording = Cassette::load(&cassette(RECORDING)).unwrap();
    for i in &recording.interactions {
        let headers: Vec<&String> = i.request.headers.keys().collect();
        assert!(
            !headers
                .iter()
                .any(|h| *h == "authorization" || *h == "cookie"),
            "{} {}: {headers:?}",
            i.request.method,
            i.request.url
        );
    }
    let text = std::fs::read_to_string(cassette(RECORDING)).unwrap();
    assert!(!text.contains("YII"), "an SPNEGO token in the recording");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_attaches_a_fresh_token_to_every_request_and_the_connector_sends_none() {
    let standin = Standin::start();
    let credentials = Counting::new(false);
    let opts = live(&standin, credentials.clone(), "negotiate");
    let mut harness = within("configure", Harness::new(opts)).await.unwrap();
    let mut out = Vec::new();
    let stats = within("sync", harness.sync(&mut out, &NoProgress))
        .await
        .unwrap_or_else(|e| panic!("sync failed: {e}\nseen: {:?}", standin.seen()));

    let seen = standin.seen();
    assert_eq!(seen.len() as u64, stats.requests, "{seen:?}");
    let tokens: Vec<String> = (1..=seen.len())
        .map(|n| format!("Negotiate host-token-{n}"))
        .collect();
    let sent: Vec<String> = seen
        .iter()
        .map(|s| s.authorization.clone().unwrap_or_default())
        .collect();
    let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        sent, tokens,
        "one new token per request, in order: {lines:?}"
    );
    assert!(seen.iter().all(|s| s.cookie.is_none()), "{seen:?}");
    assert_eq!(credentials.made(), seen.len());
    // The same directory as the recording shows.
    assert_eq!(String::from_utf8(out).unwrap(), replayed_output().await);
    assert!(
        stats
            .session
            .get("auth")
            .is_some_and(|v| v.starts_with("provided by the host")),
        "{:?}",
        stats.session
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_the_host_cannot_make_end_the_sync_at_once_with_its_message() {
    let standin = Standin::start();
    let credentials = Counting::new(true);
    let opts = live(&standin, credentials.clone(), "negotiate");
    let mut harness = within("configure", Harness::new(opts)).await.unwrap();
    let mut out = Vec::new();
    let err = within("sync", harness.sync(&mut out, &NoProgress))
        .await
        .unwrap_err();
    let HarnessError::Usage(message) = &err else {
        panic!("expected the host's usage error, got {err:?}")
    };
    assert!(message.contains("run `kinit` first"), "{message}");
    assert_eq!(err.exit_code(), 2);
    // The connector's retry loop saw a final failure: one attempt, nothing sent.
    assert_eq!(credentials.made(), 1);
    assert!(standin.seen().is_empty(), "{:?}", standin.seen());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheme_the_harness_does_not_provide_is_refused_before_anything_is_sent() {
    let standin = Standin::start();
    let credentials = Counting::new(false);
    let opts = live(&standin, credentials.clone(), "cloud-identity-token");
    let err = within("instantiate", Harness::instantiate(opts))
        .await
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(
        message.contains("does not provide the authentication scheme `cloud-identity-token`")
            && message.contains("provides: negotiate"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(credentials.made(), 0);
    assert!(standin.seen().is_empty());
}
