//! Provisioning replayed from a real Airflow 3.3 (`make record`): every action, its repeat,
//! and its error paths, with the exact typed outcome.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use host_harness::wit::{
    AccountRequest, OutcomeStatus, ProvisionAction, ProvisionOutcome, ResourceRef, RevokeTarget,
};
use host_harness::{ConnectorError, HarnessError};
use std::process::Command;

fn user(id: &str) -> ResourceRef {
    ResourceRef {
        resource_type: "user".into(),
        id: id.into(),
    }
}

/// The request as scripts/record.sh made it (replay matches the body).
fn account(
    login: &str,
    email: &str,
    names: (&str, &str),
    roles: &[&str],
    password: Option<&str>,
) -> ProvisionAction {
    ProvisionAction::CreateAccount(AccountRequest {
        login: login.into(),
        email: email.into(),
        first_name: names.0.into(),
        last_name: names.1.into(),
        entitlement_ids: roles.iter().map(|r| format!("role:{r}:member")).collect(),
        password: password.map(String::from),
    })
}

fn grant(role: &str, login: &str) -> ProvisionAction {
    ProvisionAction::Grant((format!("role:{role}:member"), user(login)))
}

/// Replays `provision/<name>.json`; returns the outcome and the requests made, and checks the
/// cassette was used up.
async fn run(name: &str, action: ProvisionAction) -> (Result<ProvisionOutcome, HarnessError>, u64) {
    let mut h = replay(&format!("airflow-3.3/provision/{name}.json"))
        .await
        .unwrap();
    let result = within(name, h.provision(&action)).await;
    assert!(
        h.unused_interactions().is_empty(),
        "{name}: unused {:?}",
        h.unused_interactions()
    );
    (result, h.requests())
}

fn done(
    name: &str,
    result: Result<ProvisionOutcome, HarnessError>,
    status: OutcomeStatus,
) -> ProvisionOutcome {
    let outcome = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(outcome.status, status, "{name}: {}", outcome.message);
    outcome
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_refuses_without_sending_anything() {
    let (result, requests) = run("gate-off", grant("Op", "rec.alice")).await;
    match result {
        Err(HarnessError::Connector(ConnectorError::Unsupported(m))) => {
            assert!(
                m.contains("set the `provisioning` setting to `true`"),
                "{m}"
            )
        }
        other => panic!("expected the gate, got {other:?}"),
    }
    assert_eq!(requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_account_generates_a_password_and_sends_the_default_role() {
    let (result, requests) = run(
        "create-account",
        account(
            "rec.alice",
            "rec.alice@example.com",
            ("Alice", "Recorded"),
            &[],
            None,
        ),
    )
    .await;
    let outcome = done("create-account", result, OutcomeStatus::Done);
    let credential = outcome.credential.expect("a generated password");
    assert_eq!(credential.kind, "password");
    assert!(credential.value.len() >= 20);
    assert!(!outcome.message.contains(&credential.value));
    assert!(outcome.message.contains("`Public`"), "{}", outcome.message);
    assert_eq!(outcome.resource.unwrap().id, "rec.alice");
    assert_eq!(requests, 2, "sign-in, POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_account_with_roles_and_a_supplied_password() {
    let (result, _) = run(
        "create-account-with-roles",
        account(
            "rec.bob",
            "rec.bob@example.com",
            ("Bob", "Recorded"),
            &["Op", "Viewer"],
            Some("any"),
        ),
    )
    .await;
    let outcome = done("create-account-with-roles", result, OutcomeStatus::Done);
    assert!(
        outcome.credential.is_none(),
        "a supplied password is not echoed back"
    );
    assert!(
        outcome.message.contains("`Op`, `Viewer`"),
        "{}",
        outcome.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_taken_name_in_another_case_returns_the_existing_account() {
    let (result, _) = run(
        "create-account-again",
        account("REC.ALICE", "other@example.com", ("A", "R"), &[], None),
    )
    .await;
    let outcome = done("create-account-again", result, OutcomeStatus::AlreadyDone);
    assert!(outcome.credential.is_none());
    assert_eq!(outcome.resource.unwrap().id, "rec.alice");
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_then_grant_again() {
    let (result, requests) = run("grant", grant("Op", "rec.alice")).await;
    let outcome = done("grant", result, OutcomeStatus::Done);
    assert_eq!(outcome.grant.unwrap().id, "role:Op:member:user:rec.alice");
    assert_eq!(requests, 4, "sign-in, read, PATCH, verifying read");
    let (result, requests) = run("grant-again", grant("Op", "rec.alice")).await;
    let outcome = done("grant-again", result, OutcomeStatus::AlreadyDone);
    assert!(
        outcome.message.contains("already holds"),
        "{}",
        outcome.message
    );
    assert_eq!(requests, 2, "sign-in and one read: no PATCH");
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_by_grant_id_then_by_membership() {
    let by_id = ProvisionAction::Revoke(RevokeTarget::GrantId(
        "role:Op:member:user:rec.alice".into(),
    ));
    let (result, _) = run("revoke", by_id).await;
    done("revoke", result, OutcomeStatus::Done);
    let by_membership = ProvisionAction::Revoke(RevokeTarget::Membership((
        "role:Op:member".into(),
        user("rec.alice"),
    )));
    let (result, _) = run("revoke-again", by_membership).await;
    let outcome = done("revoke-again", result, OutcomeStatus::AlreadyDone);
    assert!(
        outcome.message.contains("does not hold"),
        "{}",
        outcome.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_then_delete_again() {
    let (result, _) = run(
        "delete-account",
        ProvisionAction::DeleteAccount(user("rec.alice")),
    )
    .await;
    done("delete-account", result, OutcomeStatus::Done);
    let (result, _) = run(
        "delete-account-again",
        ProvisionAction::DeleteAccount(user("rec.alice")),
    )
    .await;
    let outcome = done("delete-account-again", result, OutcomeStatus::AlreadyDone);
    assert!(
        outcome.message.contains("already deleted"),
        "{}",
        outcome.message
    );
}

/// Cassette, action, the expected error variant, and a text its message must hold.
type ErrorCase = (
    &'static str,
    ProvisionAction,
    fn(&ConnectorError) -> bool,
    &'static str,
);

#[tokio::test(flavor = "multi_thread")]
async fn error_paths_are_typed() {
    let cases: Vec<ErrorCase> = vec![
        (
            "grant-unknown-role",
            grant("No Such Role", "rec.alice"),
            |e| matches!(e, ConnectorError::NotFound(_)),
            "Unknown roles",
        ),
        (
            "grant-unknown-user",
            grant("Op", "rec.nobody"),
            |e| matches!(e, ConnectorError::NotFound(_)),
            "rec.nobody",
        ),
        (
            "create-account-slash",
            account("rec/slash", "s@example.com", ("S", "L"), &[], None),
            |e| matches!(e, ConnectorError::InvalidArgument(_)),
            "contains `/`",
        ),
        (
            "delete-self",
            ProvisionAction::DeleteAccount(user("admin")),
            |e| matches!(e, ConnectorError::Conflict(_)),
            "signs in as",
        ),
    ];
    for (name, action, is_expected, text) in cases {
        let (result, _) = run(name, action).await;
        match result {
            Err(HarnessError::Connector(e)) => {
                assert!(is_expected(&e), "{name}: got {e:?}");
                assert!(e.to_string().contains(text), "{name}: {e}");
            }
            other => panic!("{name}: expected an error, got {other:?}"),
        }
    }
}

/// A generated password reaches stdout once and never stderr, even with --verbose.
#[test]
fn the_cli_prints_a_generated_password_on_stdout_only() {
    require_component();
    let output = run_logged(
        Command::new(repo().join("target/debug/host-harness"))
            .args(["--verbose", "--replay"])
            .arg(cassette("airflow-3.3/provision/create-account.json"))
            .args([
                "provision",
                "create-account",
                "--login",
                "rec.alice",
                "--email",
                "rec.alice@example.com",
            ])
            .args(["--first-name", "Alice", "--last-name", "Recorded"]),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let password = outcome["credential"]["value"].as_str().unwrap();
    assert!(password.len() >= 20);
    assert_eq!(stdout.matches(password).count(), 1);
    assert!(
        !stderr.contains(password),
        "stderr shows the password: {stderr}"
    );
    assert!(
        stderr.contains("POST"),
        "--verbose lists the requests: {stderr}"
    );
}

/// The same actions give the same outcomes on Airflow 3.0 (Connexion, Basic) and Airflow 2
/// (/api/v1, Basic, PATCH with identity fields) as on 3.3.
#[tokio::test(flavor = "multi_thread")]
async fn provisioning_outcomes_match_on_the_older_generations() {
    for series in ["3.0", "2.11"] {
        let cases = [
            (
                "create-account",
                account(
                    "rec.alice",
                    "rec.alice@example.com",
                    ("Alice", "Recorded"),
                    &[],
                    None,
                ),
                OutcomeStatus::Done,
            ),
            (
                "create-account-again",
                account("REC.ALICE", "other@example.com", ("A", "R"), &[], None),
                OutcomeStatus::AlreadyDone,
            ),
            ("grant", grant("Op", "rec.alice"), OutcomeStatus::Done),
            (
                "grant-again",
                grant("Op", "rec.alice"),
                OutcomeStatus::AlreadyDone,
            ),
            (
                "revoke",
                ProvisionAction::Revoke(RevokeTarget::GrantId(
                    "role:Op:member:user:rec.alice".into(),
                )),
                OutcomeStatus::Done,
            ),
            (
                "revoke-again",
                ProvisionAction::Revoke(RevokeTarget::Membership((
                    "role:Op:member".into(),
                    user("rec.alice"),
                ))),
                OutcomeStatus::AlreadyDone,
            ),
            (
                "delete-account",
                ProvisionAction::DeleteAccount(user("rec.alice")),
                OutcomeStatus::Done,
            ),
            (
                "delete-account-again",
                ProvisionAction::DeleteAccount(user("rec.alice")),
                OutcomeStatus::AlreadyDone,
            ),
        ];
        for (name, action, status) in cases {
            let mut h = replay(&format!("airflow-{series}/provision/{name}.json"))
                .await
                .unwrap();
            let outcome = within(name, h.provision(&action))
                .await
                .unwrap_or_else(|e| panic!("{series} {name}: {e}"));
            assert_eq!(
                outcome.status, status,
                "{series} {name}: {}",
                outcome.message
            );
            assert!(
                h.unused_interactions().is_empty(),
                "{series} {name}: {:?}",
                h.unused_interactions()
            );
        }
    }
}

fn create_role(name: &str, permissions: &[&str]) -> ProvisionAction {
    ProvisionAction::CreateResource(host_harness::wit::ResourceRequest {
        resource_type: "role".into(),
        id: name.into(),
        entitlement_ids: permissions
            .iter()
            .map(|p| format!("permission:{p}:assigned"))
            .collect(),
    })
}

fn delete_role(name: &str) -> ProvisionAction {
    ProvisionAction::DeleteResource(ResourceRef {
        resource_type: "role".into(),
        id: name.into(),
    })
}

/// Create and delete a role on every generation: read back after each write (Airflow 2 and
/// Connexion answer `{}` to a create), repeats are already done, a taken name with other
/// permissions is a conflict, built-in roles are refused.
#[tokio::test(flavor = "multi_thread")]
async fn role_lifecycle_on_every_generation() {
    let both = ["can_read:DAGs", "can_edit:Variables"];
    for (series, _) in SERIES {
        let path = |name: &str| format!("airflow-{series}/provision/{name}.json");
        let mut ok_cases = vec![
            (
                "create-role",
                create_role("rec.role", &both),
                OutcomeStatus::Done,
            ),
            (
                "create-role-again",
                create_role("rec.role", &both),
                OutcomeStatus::AlreadyDone,
            ),
            ("delete-role", delete_role("rec.role"), OutcomeStatus::Done),
            (
                "delete-role-again",
                delete_role("rec.role"),
                OutcomeStatus::AlreadyDone,
            ),
        ];
        for (name, action, status) in ok_cases.drain(..) {
            let mut h = replay(&path(name)).await.unwrap();
            let outcome = within(name, h.provision(&action))
                .await
                .unwrap_or_else(|e| panic!("{series} {name}: {e}"));
            assert_eq!(
                outcome.status, status,
                "{series} {name}: {}",
                outcome.message
            );
            if name.starts_with("create") {
                assert_eq!(outcome.resource.unwrap().id, "rec.role", "{series} {name}");
            }
            assert!(
                h.unused_interactions().is_empty(),
                "{series} {name}: {:?}",
                h.unused_interactions()
            );
        }
        let error_cases: Vec<ErrorCase> = vec![
            (
                "create-role-different",
                create_role("rec.role", &["can_read:DAGs"]),
                |e| matches!(e, ConnectorError::Conflict(_)),
                "other permissions",
            ),
            (
                "create-role-unknown-action",
                create_role("rec.bad", &["can_fly:DAGs"]),
                |e| matches!(e, ConnectorError::InvalidArgument(_)),
                "can_fly",
            ),
            (
                "delete-builtin-role",
                delete_role("Admin"),
                |e| matches!(e, ConnectorError::Conflict(_)),
                "built-in",
            ),
        ];
        for (name, action, is_expected, text) in error_cases {
            let mut h = replay(&path(name)).await.unwrap();
            match within(name, h.provision(&action)).await {
                Err(HarnessError::Connector(e)) => {
                    assert!(is_expected(&e), "{series} {name}: got {e:?}");
                    assert!(e.to_string().contains(text), "{series} {name}: {e}");
                }
                other => panic!("{series} {name}: expected an error, got {other:?}"),
            }
        }
    }
}

fn permission_grant(permission: &str, role: &str) -> ProvisionAction {
    ProvisionAction::Grant((
        format!("permission:{permission}:assigned"),
        ResourceRef {
            resource_type: "role".into(),
            id: role.into(),
        },
    ))
}

/// Permissions of an existing role on every generation: verified grant, repeat without a write,
/// revoke (refused before any write on the Connexion APIs, whose role PATCH only adds), built-in and
/// unknown roles refused.
#[tokio::test(flavor = "multi_thread")]
async fn permissions_of_an_existing_role_on_every_generation() {
    let role = ResourceRef {
        resource_type: "role".into(),
        id: "rec.perm".into(),
    };
    for (series, _) in SERIES {
        let path = |name: &str| format!("airflow-{series}/provision/{name}.json");
        let revoke = ProvisionAction::Revoke(RevokeTarget::GrantId(
            "permission:can_edit:Variables:assigned:role:rec.perm".into(),
        ));
        let absent = ProvisionAction::Revoke(RevokeTarget::Membership((
            "permission:can_delete:Variables:assigned".into(),
            role.clone(),
        )));
        let cases: Vec<(&str, ProvisionAction, Result<OutcomeStatus, &str>)> = vec![
            (
                "grant-permission",
                permission_grant("can_read:Variables", "rec.perm"),
                Ok(OutcomeStatus::Done),
            ),
            (
                "grant-permission-again",
                permission_grant("can_read:Variables", "rec.perm"),
                Ok(OutcomeStatus::AlreadyDone),
            ),
            (
                "revoke-permission",
                revoke,
                if series != "3.3" {
                    Err("only adds")
                } else {
                    Ok(OutcomeStatus::Done)
                },
            ),
            (
                "revoke-permission-absent",
                absent,
                Ok(OutcomeStatus::AlreadyDone),
            ),
            (
                "grant-permission-builtin",
                permission_grant("can_read:DAGs", "Viewer"),
                Err("built-in"),
            ),
            (
                "grant-permission-unknown-role",
                permission_grant("can_read:DAGs", "No Such Role"),
                Err("No Such Role"),
            ),
        ];
        for (name, action, want) in cases {
            let mut h = replay(&path(name)).await.unwrap();
            let result = within(name, h.provision(&action)).await;
            match (want, result) {
                (Ok(status), Ok(outcome)) => {
                    assert_eq!(
                        outcome.status, status,
                        "{series} {name}: {}",
                        outcome.message
                    );
                    let grant = outcome.grant.expect("a permission outcome names its grant");
                    assert_eq!(
                        (
                            grant.principal.resource_type.as_str(),
                            grant.principal.id.as_str()
                        ),
                        ("role", "rec.perm"),
                        "{series} {name}"
                    );
                }
                (Err(text), Err(HarnessError::Connector(e))) => {
                    let expected = match name {
                        "revoke-permission" => matches!(e, ConnectorError::Unsupported(_)),
                        "grant-permission-builtin" => matches!(e, ConnectorError::Conflict(_)),
                        _ => matches!(e, ConnectorError::NotFound(_)),
                    };
                    assert!(expected, "{series} {name}: got {e:?}");
                    assert!(e.to_string().contains(text), "{series} {name}: {e}");
                }
                (want, got) => panic!("{series} {name}: wanted {want:?}, got {got:?}"),
            }
            // Every recorded interaction was replayed (checked below), so the cassette's writes
            // are the writes the connector made.
            let recorded: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(cassette(&path(name))).unwrap())
                    .unwrap();
            let writes = recorded["interactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| &i["request"])
                .filter(|r| {
                    r["method"] != "GET" && !r["url"].as_str().unwrap().ends_with("/auth/token")
                })
                .count();
            let expect_writes = usize::from(name == "grant-permission")
                + usize::from(name == "revoke-permission" && series == "3.3");
            assert_eq!(writes, expect_writes, "{series} {name}: writes");
            assert!(
                h.unused_interactions().is_empty(),
                "{series} {name}: {:?}",
                h.unused_interactions()
            );
        }
    }
}
