//! Org-role provisioning of the Northflank component, live through the harness against the
//! stand-in (tests/northflank_standin): grant, repeat, revoke, repeat; the refused revoke of a
//! membership Directory Sync holds; the provisioning gate; a token without Roles > Manage. Every
//! outcome is checked against the stand-in's own data (`/__standin/org`) and its request log
//! (`/__standin/requests`), never only against what the connector says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
#[path = "northflank/standin.rs"]
mod standin;

use common::within;
use host_harness::wit::{
    OutcomeStatus, ProvisionAction, ProvisionOutcome, ResourceRef, RevokeTarget,
};
use host_harness::{ConnectorError, Harness, HarnessError};
use serde_json::Value;
use standin::Standin;

/// The SRE directory group, linked to `platform-oncall` in the seeded organisation.
const SRE: &str = "directory_group_01H6JRE20ZHYB9B61N12HAHMRP";

/// The component configured against `standin` with the named test token.
async fn harness(standin: &Standin, token: &str, provisioning: bool) -> Harness {
    let mut opts = standin.harness_options(token);
    opts.settings
        .insert("provisioning".into(), provisioning.to_string());
    within("instantiate + configure", Harness::new(opts))
        .await
        .unwrap_or_else(|e| panic!("the Northflank component does not start: {e}"))
}

fn user(id: &str) -> ResourceRef {
    ResourceRef {
        resource_type: "user".into(),
        id: id.into(),
    }
}

fn grant(role: &str, member: &str) -> ProvisionAction {
    ProvisionAction::Grant((format!("role:{role}:member"), user(member)))
}

fn revoke(role: &str, member: &str) -> ProvisionAction {
    ProvisionAction::Revoke(RevokeTarget::Membership((
        format!("role:{role}:member"),
        user(member),
    )))
}

/// How `member` is listed in `role` by the stand-in itself: `["explicit"]`, `["implicit"]`,
/// both, or none.
fn rows(standin: &Standin, role: &str, member: &str) -> Vec<String> {
    let org = standin.org();
    org["roleMembers"][role]
        .as_array()
        .unwrap_or_else(|| panic!("the stand-in has no role `{role}`: {org}"))
        .iter()
        .filter(|r| r["id"] == member)
        .map(|r| r["type"].as_str().unwrap().to_string())
        .collect()
}

/// Every write the stand-in has served since its last reset: (method, path, status).
fn writes(standin: &Standin) -> Vec<(String, String, u64)> {
    standin
        .request_log()
        .iter()
        .filter(|r| r["method"] != "GET")
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn provision(
    h: &mut Harness,
    action: &ProvisionAction,
) -> Result<ProvisionOutcome, HarnessError> {
    within("provision", h.provision(action)).await
}

fn status(
    result: Result<ProvisionOutcome, HarnessError>,
    want: OutcomeStatus,
    what: &str,
) -> ProvisionOutcome {
    let outcome = result.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(outcome.status, want, "{what}: {}", outcome.message);
    outcome
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_repeat_revoke_repeat_each_verified_in_the_standins_data() {
    let standin = Standin::start(&[]);
    let mut h = harness(&standin, "writer", true).await;
    let (role, member) = ("billing", "grace-hopper");
    assert!(rows(&standin, role, member).is_empty(), "seeded without it");

    let outcome = status(
        provision(&mut h, &grant(role, member)).await,
        OutcomeStatus::Done,
        "grant",
    );
    let g = outcome.grant.expect("a grant names what it made");
    assert_eq!(g.id, "role:billing:member:user:grace-hopper");
    assert_eq!(g.entitlement_id, "role:billing:member");
    assert_eq!(
        (g.principal.resource_type.as_str(), g.principal.id.as_str()),
        ("user", member)
    );
    assert_eq!(rows(&standin, role, member), ["explicit"]);
    let org = standin.org();
    let billing = org["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == role)
        .unwrap();
    assert!(
        billing["explicitMembers"]
            .as_array()
            .unwrap()
            .contains(&Value::from(member)),
        "{billing}"
    );
    let add = (
        "POST".to_string(),
        "/v1/org-roles/billing/members".to_string(),
        200,
    );
    assert_eq!(writes(&standin), std::slice::from_ref(&add), "one write");

    let outcome = status(
        provision(&mut h, &grant(role, member)).await,
        OutcomeStatus::AlreadyDone,
        "grant again",
    );
    assert!(
        outcome.message.contains("nothing written"),
        "{}",
        outcome.message
    );
    assert_eq!(
        writes(&standin),
        std::slice::from_ref(&add),
        "no second write"
    );
    assert_eq!(rows(&standin, role, member), ["explicit"]);

    // By membership, then (already gone) by the grant id the sync reports.
    status(
        provision(&mut h, &revoke(role, member)).await,
        OutcomeStatus::Done,
        "revoke",
    );
    assert!(rows(&standin, role, member).is_empty());
    let remove = (
        "DELETE".to_string(),
        "/v1/org-roles/billing/members/grace-hopper".to_string(),
        200,
    );
    assert_eq!(writes(&standin), [add.clone(), remove.clone()]);

    let by_id = ProvisionAction::Revoke(RevokeTarget::GrantId(g.id.clone()));
    let outcome = status(
        provision(&mut h, &by_id).await,
        OutcomeStatus::AlreadyDone,
        "revoke again",
    );
    assert!(
        outcome.message.contains("nothing written"),
        "{}",
        outcome.message
    );
    status(
        provision(&mut h, &revoke(role, member)).await,
        OutcomeStatus::AlreadyDone,
        "revoke again",
    );
    assert_eq!(
        writes(&standin),
        [add, remove],
        "no write for what is already so"
    );
    assert!(rows(&standin, role, member).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_an_implicit_membership_is_refused_naming_the_directory_group() {
    let standin = Standin::start(&[]);
    let mut h = harness(&standin, "writer", true).await;
    let before = standin.org();

    // ana-quinn holds platform-oncall only through SRE.
    assert_eq!(rows(&standin, "platform-oncall", "ana-quinn"), ["implicit"]);
    let refused = |result: Result<ProvisionOutcome, HarnessError>, what: &str| match result {
        Err(HarnessError::Connector(ConnectorError::Unsupported(m))) => {
            assert!(
                m.contains(&format!("directory group `SRE` ({SRE})")),
                "{what}: {m}"
            );
            assert!(m.contains("identity provider"), "{what}: {m}");
            m
        }
        other => panic!("{what}: expected `unsupported` naming the group, got {other:?}"),
    };
    let m = refused(
        provision(&mut h, &revoke("platform-oncall", "ana-quinn")).await,
        "by membership",
    );
    assert!(m.contains("only through"), "{m}");
    let implicit_id = format!("role:platform-oncall:member:user:ana-quinn:implicit:via:{SRE}");
    refused(
        provision(
            &mut h,
            &ProvisionAction::Revoke(RevokeTarget::GrantId(implicit_id)),
        )
        .await,
        "by the implicit grant's id",
    );

    // ken-thompson holds it both ways: the implicit grant's id is refused and his explicit
    // membership stays.
    assert_eq!(
        rows(&standin, "platform-oncall", "ken-thompson"),
        ["explicit", "implicit"]
    );
    let implicit_id = format!("role:platform-oncall:member:user:ken-thompson:implicit:via:{SRE}");
    let m = refused(
        provision(
            &mut h,
            &ProvisionAction::Revoke(RevokeTarget::GrantId(implicit_id)),
        )
        .await,
        "the implicit half of a double membership",
    );
    assert!(m.contains("also through"), "{m}");

    assert_eq!(writes(&standin), [], "a refusal writes nothing");
    assert_eq!(standin.org(), before, "the organisation is unchanged");
}

/// Revoking a member who holds the role both ways removes the explicit membership only, and
/// says which group still grants the role; the stand-in keeps the implicit row.
#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_double_membership_removes_the_explicit_half_only() {
    let standin = Standin::start(&[]);
    let mut h = harness(&standin, "writer", true).await;
    let outcome = status(
        provision(&mut h, &revoke("platform-oncall", "ken-thompson")).await,
        OutcomeStatus::Done,
        "revoke",
    );
    assert!(
        outcome.message.contains(&format!(
            "still hold the role through directory group `SRE` ({SRE})"
        )),
        "{}",
        outcome.message
    );
    assert_eq!(
        rows(&standin, "platform-oncall", "ken-thompson"),
        ["implicit"]
    );
    assert_eq!(
        writes(&standin),
        [(
            "DELETE".to_string(),
            "/v1/org-roles/platform-oncall/members/ken-thompson".to_string(),
            200
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_off_is_refused_by_the_gate_before_any_request() {
    let standin = Standin::start(&[]);
    let before = standin.org();
    let mut h = harness(&standin, "writer", false).await;
    for action in [
        grant("billing", "grace-hopper"),
        revoke("admin", "ada-lovelace"),
    ] {
        match provision(&mut h, &action).await {
            Err(HarnessError::Connector(ConnectorError::Unsupported(m))) => {
                assert!(
                    m.contains("set the `provisioning` setting to `true`"),
                    "{m}"
                )
            }
            other => panic!("expected the gate, got {other:?}"),
        }
    }
    assert_eq!(h.requests(), 0, "the harness saw no request");
    assert_eq!(
        standin.requests()["count"],
        0,
        "the stand-in saw no request"
    );
    assert_eq!(standin.org(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_roles_manage_is_permission_denied_and_changes_nothing() {
    let standin = Standin::start(&[]);
    let before = standin.org();
    // `full` reads everything a sync reads but cannot manage roles.
    let mut h = harness(&standin, "full", true).await;
    for (action, path) in [
        (
            grant("billing", "grace-hopper"),
            "/v1/org-roles/billing/members",
        ),
        (
            revoke("admin", "ada-lovelace"),
            "/v1/org-roles/admin/members/ada-lovelace",
        ),
    ] {
        match provision(&mut h, &action).await {
            Err(HarnessError::Connector(ConnectorError::PermissionDenied(m))) => {
                assert!(m.contains("`Organisation > Admin > Roles > Manage`"), "{m}");
                assert!(!m.contains(&Standin::token("full")), "no token in errors");
            }
            other => panic!("expected permission-denied, got {other:?}"),
        }
        let last = writes(&standin).pop().expect("the write was tried");
        assert_eq!(
            (last.1.as_str(), last.2),
            (path, 401),
            "the stand-in refused it"
        );
    }
    assert_eq!(standin.org(), before, "the organisation is unchanged");
    assert_eq!(rows(&standin, "admin", "ada-lovelace"), ["explicit"]);
}
