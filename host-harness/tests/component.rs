//! Wiring checks against the real connector component (built by `make component`): loading,
//! linking, calling before and after `configure`, error mapping and replay failures. They
//! assert nothing about Airflow itself; the workspace's end-to-end tests do that.

use std::collections::BTreeMap;
use std::time::Duration;

use host_harness::cassette::Cassette;
use host_harness::engine::default_component_path;
use host_harness::{ConnectorError, Harness, HarnessError, HarnessOptions, HttpMode};

/// Every await gets a named deadline so a hang fails with a reason instead of stalling CI.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
}

/// The built component's path. A missing build is a failure, not a skip: a skipped test would
/// pass with nothing tested (as `common::require_component()` in the workspace's tests).
fn require_component() -> std::path::PathBuf {
    let path = default_component_path();
    assert!(
        path.exists(),
        "{} is missing: run `make component` (make test does)",
        path.display()
    );
    path
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_works_before_configure_and_missing_settings_name_the_field() {
    let component = require_component();
    let opts = HarnessOptions {
        component,
        ..Default::default()
    };
    let mut h = within("instantiate", Harness::instantiate(opts.clone()))
        .await
        .unwrap();
    let meta = within("metadata", h.metadata()).await.unwrap();
    assert!(!meta.name.is_empty());
    assert!(meta.config_fields.iter().any(|f| f.name == "base_url"));
    // What the harness scrubs is what the connector's metadata marks secret.
    let declared: Vec<&str> = meta
        .config_fields
        .iter()
        .filter(|f| f.secret)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(declared, ["password", "token"]);
    assert_eq!(
        h.secret_keys()
            .declared()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        declared
    );

    let err = within("configure", h.configure()).await.unwrap_err();
    match err {
        HarnessError::Connector(ConnectorError::InvalidConfig { field, .. }) => {
            assert!(!field.is_empty())
        }
        other => panic!("expected invalid config, got {other:?}"),
    }
    assert_eq!(h.requests(), 0, "configure must make no network calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_of_an_empty_cassette_fails_with_the_mismatch_not_the_guest_error() {
    let component = require_component();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.json");
    Cassette::new(
        "hand-made".into(),
        "2026-01-01T00:00:00Z".into(),
        BTreeMap::new(),
    )
    .save(&path)
    .unwrap();
    let opts = HarnessOptions {
        component,
        mode: HttpMode::Replay {
            cassette: path.clone(),
        },
        settings: settings(&[
            ("base_url", "http://127.0.0.1:28080"),
            ("username", "admin"),
            ("password", "[REDACTED]"),
        ]),
        ..Default::default()
    };
    let mut h = within("new", Harness::new(opts)).await.unwrap();
    let err = within("validate", h.validate()).await.unwrap_err();
    assert!(
        matches!(err, HarnessError::ReplayMismatch(ref m) if m.contains("empty.json")),
        "{err:?}"
    );
    assert!(h.requests() >= 1);
    let report = h.finish().unwrap();
    assert_eq!(report.replayed, Some((path, vec![])));
}
