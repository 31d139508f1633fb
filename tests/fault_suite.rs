//! The fault suite: every way a server, a network or a setting can go wrong ends in one exact
//! typed error (or a documented recovery), never in a sync that reports success with rows
//! missing, and never with a credential in the message.
//!
//! Faults a real server will not produce on demand are replayed from hand-made cassettes under
//! tests/cassettes/synthetic/ (written by scripts/synthetic_cassettes.py from real recordings:
//! everything but the fault is what Airflow 3.3 answered). The rest replay real recordings or
//! use no server at all. Deadline, body cap, memory and egress faults are in fault_limits.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use host_harness::progress::NoProgress;
use host_harness::{wit, ConnectorError, Harness, HarnessError, HarnessOptions, SyncStats};
use std::collections::BTreeMap;

/// Configured in every case, so the suite can check that no message ever shows it.
const PASSWORD: &str = "Fault-Suite-Pa55word";

/// A replay of `cassette` with the suite's password.
async fn harness(cassette_name: &str) -> Harness {
    require_component();
    let mut opts = HarnessOptions::replay(cassette(cassette_name)).unwrap();
    assert!(
        !cassette_name.starts_with("synthetic/") || synthetic(cassette_name),
        "{cassette_name} must be marked synthetic"
    );
    opts.settings.insert("password".into(), PASSWORD.into());
    within("instantiate + configure", Harness::new(opts))
        .await
        .unwrap()
}

fn synthetic(cassette_name: &str) -> bool {
    let text = std::fs::read_to_string(cassette(cassette_name)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["synthetic"] == true && v["source"].as_str().unwrap().starts_with("synthetic fault")
}

/// The connector's error, after checking its message holds no credential.
fn connector_error(e: HarnessError) -> ConnectorError {
    let text = e.to_string();
    assert_no_secret(&text);
    match e {
        HarnessError::Connector(c) => c,
        other => panic!("expected a connector error, got {other:?}"),
    }
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "password in: {text}");
    for marker in ["Bearer ", "Basic ", "eyJ"] {
        for (i, _) in text.match_indices(marker) {
            let rest: String = text[i + marker.len()..].chars().take(12).collect();
            assert!(
                rest.starts_with("[REDACTED]")
                    || rest.chars().filter(char::is_ascii_alphanumeric).count() < 8,
                "credential-like `{marker}{rest}` in: {text}"
            );
        }
    }
}

/// A full sync of `cassette` that must fail: its error, after checking no output was
/// reported as a completed sync.
async fn failed_sync(cassette_name: &str) -> ConnectorError {
    let mut h = harness(cassette_name).await;
    let mut out = Vec::new();
    let result = within("sync", h.sync(&mut out, &NoProgress)).await;
    match result {
        Ok(stats) => panic!("{cassette_name}: the sync reported success: {stats:?}"),
        Err(e) => connector_error(e),
    }
}

/// A full sync of `cassette` that must recover: its stats, which must equal those of the
/// fault-free recording (same rows, nothing missing), every interaction used.
async fn recovered_sync(cassette_name: &str) -> SyncStats {
    let clean = replay_sync("airflow-3.3/sync.json").await.stats;
    let mut h = harness(cassette_name).await;
    let mut out = Vec::new();
    let stats = within("sync", h.sync(&mut out, &NoProgress))
        .await
        .unwrap_or_else(|e| panic!("{cassette_name}: {e}"));
    assert_eq!(h.unused_interactions(), Vec::<String>::new());
    for (what, got, want) in [
        ("resources", stats.resources, clean.resources),
        ("entitlements", stats.entitlements, clean.entitlements),
        ("grants", stats.grants, clean.grants),
    ] {
        assert_eq!(got, want, "{cassette_name}: {what}");
    }
    assert_eq!(stats.resources_by_type, clean.resources_by_type);
    stats
}

fn upstream(e: ConnectorError) -> String {
    match e {
        ConnectorError::UpstreamProtocol(m) => m,
        other => panic!("expected upstream-protocol, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json() {
    let m = upstream(failed_sync("synthetic/malformed-json.json").await);
    assert!(
        m.contains("listing users (GET /auth/fab/v1/users): Airflow answered 200 with a body that is not valid JSON; it starts `{\"users\""),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_body() {
    let m = upstream(failed_sync("synthetic/truncated-body.json").await);
    assert!(m.contains("answered 200 with a truncated JSON body"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn html_404_page() {
    let m = upstream(failed_sync("synthetic/html-404-page.json").await);
    assert!(
        m.contains("answered 404 with an HTML page titled `404 Not Found`"),
        "{m}"
    );
    assert!(m.contains("check that `base_url`"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn html_500_page() {
    match failed_sync("synthetic/html-500-page.json").await {
        ConnectorError::Unavailable(m) => assert!(
            m.contains("answered 500 with an HTML page titled `500 Internal Server Error`"),
            "{m}"
        ),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

/// Real recording: Airflow 3.3 refusing a wrong password.
#[tokio::test(flavor = "multi_thread")]
async fn status_401() {
    let mut h = harness("airflow-3.3/bad-password.json").await;
    match connector_error(within("validate", h.validate()).await.unwrap_err()) {
        ConnectorError::Unauthenticated(m) => {
            assert!(
                m.contains("check the `username` and `password` settings"),
                "{m}"
            )
        }
        other => panic!("expected unauthenticated, got {other:?}"),
    }
}

/// Real recording: an account without can_read on Users.
#[tokio::test(flavor = "multi_thread")]
async fn status_403() {
    let mut h = harness("airflow-3.3/no-read-permission.json").await;
    match connector_error(within("validate", h.validate()).await.unwrap_err()) {
        ConnectorError::PermissionDenied(m) => {
            assert!(m.contains("needs can_read on Users and Roles"), "{m}")
        }
        other => panic!("expected permission-denied, got {other:?}"),
    }
}

/// Real recording: the grants of a role that does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn status_404() {
    let mut h = harness("airflow-3.3/grants-unknown-role.json").await;
    let role = wit::ResourceRef {
        resource_type: "role".into(),
        id: "No Such Role".into(),
    };
    let e = within("list-grants", h.list_grants(&role, None))
        .await
        .unwrap_err();
    match connector_error(e) {
        ConnectorError::NotFound(m) => assert!(
            m.contains("reading role `No Such Role` (GET /auth/fab/v1/roles/No%20Such%20Role): Airflow answered 404"),
            "{m}"
        ),
        other => panic!("expected not-found, got {other:?}"),
    }
}

async fn provision(cassette_name: &str, action: wit::ProvisionAction) -> ConnectorError {
    let mut h = harness(cassette_name).await;
    let e = within("provision", h.provision(&action)).await.unwrap_err();
    assert_eq!(h.unused_interactions(), Vec::<String>::new());
    connector_error(e)
}

fn create_account(login: &str, email: &str, names: (&str, &str)) -> wit::ProvisionAction {
    wit::ProvisionAction::CreateAccount(wit::AccountRequest {
        login: login.into(),
        email: email.into(),
        first_name: names.0.into(),
        last_name: names.1.into(),
        entitlement_ids: vec![],
        password: None,
    })
}

/// Real recording: Airflow's 409 to a role name that is taken (with other permissions).
#[tokio::test(flavor = "multi_thread")]
async fn status_409() {
    let action = wit::ProvisionAction::CreateResource(wit::ResourceRequest {
        resource_type: "role".into(),
        id: "rec.role".into(),
        entitlement_ids: vec!["permission:can_read:DAGs:assigned".into()],
    });
    match provision("airflow-3.3/provision/create-role-different.json", action).await {
        ConnectorError::Conflict(m) => {
            assert!(m.contains("already exists with other permissions"), "{m}")
        }
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_422_with_list_shaped_detail() {
    let action = create_account("rec.alice", "rec.alice@example.com", ("Alice", "Recorded"));
    match provision("synthetic/422-list-detail.json", action).await {
        ConnectorError::InvalidArgument(m) => {
            assert!(
                m.contains("answered 422 with body.email: value is not a valid email address"),
                "{m}"
            );
            // FastAPI echoes the input; the message never does.
            assert!(!m.contains("\"input\""), "{m}");
        }
        other => panic!("expected invalid-argument, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_429_with_retry_after_then_success() {
    let stats = recovered_sync("synthetic/429-then-success.json").await;
    assert_eq!(
        stats.requests,
        5 + 1,
        "the one refused page was asked again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_503_then_success() {
    let stats = recovered_sync("synthetic/503-then-success.json").await;
    assert_eq!(stats.requests, 5 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_503_forever() {
    match failed_sync("synthetic/503-forever.json").await {
        ConnectorError::Unavailable(m) => {
            assert!(m.contains("answered 503"), "{m}");
            assert!(m.contains("gave up after 4 attempts over 3.0 s"), "{m}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_expired_mid_sync_then_success() {
    let stats = recovered_sync("synthetic/token-expired-mid-sync.json").await;
    assert_eq!(stats.requests, 5 + 2, "one sign-in and the page again");
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_paging() {
    let m = upstream(failed_sync("synthetic/endless-paging.json").await);
    assert!(
        m.contains("the page at offset 174 starts with the same row as the two pages before it"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_ends_before_the_total_is_a_conflict() {
    match failed_sync("synthetic/empty-page-before-total.json").await {
        ConnectorError::Conflict(m) => assert!(
            m.contains("the page at offset 198 ended after 10 rows although total_entries is 271")
                && m.contains("run the sync again"),
            "{m}"
        ),
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn total_entries_changing_mid_sync_is_not_an_error() {
    // A user added at the end between two pages: the sync completes and includes them.
    let clean = replay_sync("airflow-3.3/sync.json").await.stats;
    let mut h = harness("synthetic/total-changed-mid-sync.json").await;
    let mut out = Vec::new();
    let stats = within("sync", h.sync(&mut out, &NoProgress)).await.unwrap();
    assert_eq!(h.unused_interactions(), Vec::<String>::new());
    assert_eq!(stats.resources_by_type.get("user"), Some(&272));
    assert_eq!(stats.resources, clean.resources + 1);
    assert_eq!(stats.requests, clean.requests);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out.matches(r#""id":"late.joiner""#).count(),
        1,
        "reported once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_content_type() {
    let m = upstream(failed_sync("synthetic/wrong-content-type.json").await);
    assert!(
        m.contains("answered 200 with content-type `text/plain; charset=utf-8` instead of JSON"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_to_another_host() {
    let mut h = harness("synthetic/redirect-to-another-host.json").await;
    let mut out = Vec::new();
    let e = within("sync", h.sync(&mut out, &NoProgress))
        .await
        .unwrap_err();
    let m = upstream(connector_error(e));
    assert!(
        m.contains(
            "answered 302 redirecting to `https://sso.example.com`; redirects are not followed"
        ),
        "{m}"
    );
    assert!(!m.contains("next="), "only the origin is named: {m}");
    assert_eq!(
        h.requests(),
        2,
        "sign-in and the redirected page; nothing was sent to the redirect target"
    );
}

/// Real recording (no request at all): Airflow cannot address a name with `/`.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_containing_a_slash() {
    let action = create_account("rec/slash", "s@example.com", ("S", "L"));
    match provision("airflow-3.3/provision/create-account-slash.json", action).await {
        ConnectorError::InvalidArgument(m) => assert!(m.contains("contains `/`"), "{m}"),
        other => panic!("expected invalid-argument, got {other:?}"),
    }
}

/// `configure` with these settings, no server involved.
async fn configure(settings: &[(&str, &str)]) -> ConnectorError {
    require_component();
    let opts = HarnessOptions {
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    };
    let e = within("configure", Harness::new(opts))
        .await
        .err()
        .expect("configure must fail");
    connector_error(e)
}

fn invalid_config(e: ConnectorError) -> (String, String) {
    match e {
        ConnectorError::InvalidConfig { field, message } => (field, message),
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_or_missing_config_field() {
    let (field, message) = invalid_config(
        configure(&[
            ("base_url", " "),
            ("username", "admin"),
            ("password", PASSWORD),
        ])
        .await,
    );
    assert_eq!(field, "base_url");
    assert!(message.contains("is empty; set it to"), "{message}");
    let (field, message) = invalid_config(
        configure(&[("base_url", "https://a.example"), ("password", PASSWORD)]).await,
    );
    assert_eq!(field, "username");
    assert!(message.contains("is missing; set it to"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_remote_host_without_allow_insecure_http() {
    let settings = [
        ("base_url", "http://airflow.example.com"),
        ("username", "admin"),
        ("password", PASSWORD),
    ];
    let (field, message) = invalid_config(configure(&settings).await);
    assert_eq!(field, "base_url");
    assert!(
        message.contains("set `allow_insecure_http` to `true`") && message.contains("https://"),
        "{message}"
    );
}

/// Live mode against a loopback port nobody listens on.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_host() {
    require_component();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base_url = format!("http://127.0.0.1:{port}");
    let opts = HarnessOptions {
        settings: [
            ("base_url", base_url.as_str()),
            ("username", "admin"),
            ("password", PASSWORD),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Default::default()
    };
    let mut h = within("configure", Harness::new(opts)).await.unwrap();
    match connector_error(within("validate", h.validate()).await.unwrap_err()) {
        ConnectorError::Unavailable(m) => {
            assert!(m.contains(&format!("cannot reach {base_url}")), "{m}");
            assert!(m.contains("gave up after 4 attempts"), "{m}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(h.requests(), 4, "bounded attempts");
}
