//! Error paths and targeted look-ups replayed from real Airflow 3.3 recordings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use host_harness::{wit, ConnectorError, HarnessError};
use serde_json::Value;

fn role(name: &str) -> wit::ResourceRef {
    wit::ResourceRef {
        resource_type: "role".into(),
        id: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_reports_identity_and_directory_size() {
    let mut h = replay("airflow-3.3/validate.json").await.unwrap();
    let v = within("validate", h.validate()).await.unwrap();
    assert_eq!(v.identity, "admin");
    assert!(v.system.contains("271 users, 9 roles"), "{}", v.system);
    assert_eq!(
        h.requests(),
        3,
        "sign-in (which tells the API), one row of users, one row of roles"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_unauthenticated_and_names_the_settings_on_every_generation() {
    for (series, _) in SERIES {
        let mut h = replay(&format!("airflow-{series}/bad-password.json"))
            .await
            .unwrap();
        match within("validate", h.validate()).await {
            Err(HarnessError::Connector(ConnectorError::Unauthenticated(m))) => {
                assert!(m.contains("`username` and `password`"), "{series}: {m}");
                assert!(!m.contains("not-the-password"), "{series}");
            }
            other => panic!("{series}: expected unauthenticated, got {other:?}"),
        }
    }
}

/// Airflow 2 answers the same 403 to a missing permission as to wrong credentials, so the
/// connector says both; the newer generations tell them apart.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_read_permission_on_airflow2_is_reported_as_either_cause() {
    let mut h = replay("airflow-2.11/no-read-permission.json")
        .await
        .unwrap();
    match within("validate", h.validate()).await {
        Err(HarnessError::Connector(ConnectorError::Unauthenticated(m))) => {
            assert!(
                m.contains("both to wrong credentials and to missing permissions"),
                "{m}"
            );
            assert!(m.contains("can_read on Users and Roles"), "{m}");
        }
        other => panic!("expected unauthenticated, got {other:?}"),
    }
    let mut h = replay("airflow-3.0/no-read-permission.json").await.unwrap();
    assert!(matches!(
        within("validate", h.validate()).await,
        Err(HarnessError::Connector(ConnectorError::PermissionDenied(_)))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_without_read_permission_is_denied_with_the_permission_named() {
    let mut h = replay("airflow-3.3/no-read-permission.json").await.unwrap();
    match within("validate", h.validate()).await {
        Err(HarnessError::Connector(ConnectorError::PermissionDenied(m))) => {
            assert!(m.contains("can_read on Users and Roles"), "{m}");
            assert!(m.contains("roneil"), "{m}");
        }
        other => panic!("expected permission denied, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_grants_of_one_role_finds_exactly_its_members() {
    let directory: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/directory.json")).unwrap(),
    )
    .unwrap();
    let mut want: Vec<String> = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            u["roles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "Data Engineer")
        })
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    want.sort();

    let mut h = replay("airflow-3.3/grants-data-engineer.json")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut token = None;
    loop {
        let page = within(
            "list-grants",
            h.list_grants(&role("Data Engineer"), token.as_deref()),
        )
        .await
        .unwrap();
        for g in &page.grants {
            assert_eq!(g.entitlement_id, "role:Data Engineer:member");
            got.push(g.principal.id.clone());
        }
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert_eq!(
        h.requests(),
        1 + 1 + 3,
        "sign-in, the role, three pages of users"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_does_not_exist_is_not_found() {
    let mut h = replay("airflow-3.3/grants-unknown-role.json")
        .await
        .unwrap();
    match within("list-grants", h.list_grants(&role("No Such Role"), None)).await {
        Err(HarnessError::Connector(ConnectorError::NotFound(m))) => {
            assert!(m.contains("No Such Role"), "{m}")
        }
        other => panic!("expected not found, got {other:?}"),
    }
}

/// A request the cassette does not hold fails the call loudly, showing the request and the
/// closest recorded one, rather than surfacing as a vague connector error.
#[tokio::test(flavor = "multi_thread")]
async fn an_unexpected_request_fails_replay_with_the_closest_recorded_one() {
    let mut h = replay("airflow-3.3/sync.json").await.unwrap();
    // validate asks for one row (limit=1); the sync cassette only has limit=100 pages.
    match within("validate", h.validate()).await {
        Err(HarnessError::ReplayMismatch(m)) => {
            assert!(m.contains("GET /auth/fab/v1/users?limit=1&offset=0"), "{m}");
            assert!(
                m.contains("closest: GET /auth/fab/v1/users?limit=100&offset=0"),
                "{m}"
            );
        }
        other => panic!("expected a replay mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_recorded_once_cannot_be_replayed_twice() {
    let mut h = replay("airflow-3.3/sync.json").await.unwrap();
    within("first page", h.list_resources("role", None))
        .await
        .unwrap();
    match within("same page again", h.list_resources("role", None)).await {
        Err(HarnessError::ReplayMismatch(m)) => assert!(m.contains("/auth/fab/v1/roles"), "{m}"),
        other => panic!("expected a replay mismatch, got {other:?}"),
    }
}
