//! The connector against an in-memory Northflank (`fake.rs`).

use super::fake::{FakeNorthflank, ORIGIN, TOKEN};
use super::*;
use crate::api::{MEMBERS_READ, ROLES_MANAGE, ROLES_READ};
use connector_sdk::http::Response;
use connector_sdk::model::{
    AccountRequest, AccountStatus, OutcomeStatus, Resource, ResourceRequest, RevokeTarget,
};
use std::time::Duration;

fn config(provisioning: bool) -> Config {
    let mut settings = vec![
        ("api_token".to_string(), TOKEN.to_string()),
        ("base_url".to_string(), ORIGIN.to_string()),
        ("allow_insecure_http".to_string(), "true".to_string()),
    ];
    if provisioning {
        settings.push(("provisioning".into(), "true".into()));
    }
    Config::parse(&settings).unwrap()
}

fn connector(fake: &FakeNorthflank) -> Connector<&FakeNorthflank> {
    Connector::new(fake, config(false))
}

fn provisioner(fake: &FakeNorthflank) -> Connector<&FakeNorthflank> {
    Connector::new(fake, config(true))
}

/// What a sync engine does: every page of every synced type, and for roles and groups (whose
/// grants are not inline) every page of their grants.
struct Synced {
    resources: Vec<Resource>,
    entitlements: Vec<String>,
    grants: Vec<Grant>,
}

fn sync(c: &mut Connector<&FakeNorthflank>) -> Result<Synced> {
    let mut out = Synced {
        resources: Vec::new(),
        entitlements: Vec::new(),
        grants: Vec::new(),
    };
    for t in crate::metadata::resource_types()
        .into_iter()
        .filter(|t| t.capabilities.sync)
    {
        let mut token: Option<String> = None;
        loop {
            let page = c.list_resources(&t.id, token.as_deref())?;
            out.entitlements
                .extend(page.entitlements.iter().map(|e| e.id.clone()));
            for r in &page.resources {
                if !t.capabilities.inline_grants {
                    let rref = ResourceRef::new(&r.resource_type, &r.id);
                    let mut gt: Option<String> = None;
                    loop {
                        let g = c.list_grants(&rref, gt.as_deref())?;
                        out.grants.extend(g.grants);
                        gt = g.next_page_token;
                        if gt.is_none() {
                            break;
                        }
                    }
                }
            }
            out.resources.extend(page.resources);
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

fn grant_ids(s: &Synced) -> Vec<&str> {
    s.grants.iter().map(|g| g.id.as_str()).collect()
}

fn info(c: &Connector<&FakeNorthflank>, key: &str) -> Option<String> {
    c.session_info()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn a_full_sync_reports_every_member_role_group_and_membership() {
    let fake = FakeNorthflank::seeded(250);
    let mut c = connector(&fake);
    let s = sync(&mut c).unwrap();
    let users: Vec<_> = s
        .resources
        .iter()
        .filter(|r| r.resource_type == "user")
        .collect();
    assert_eq!(users.len(), 250);
    let unfinalised: Vec<_> = users
        .iter()
        .filter(|u| u.attributes.contains(&("finalized".into(), "false".into())))
        .collect();
    assert_eq!(unfinalised.len(), 25);
    assert!(unfinalised
        .iter()
        .all(|u| u.user.as_ref().unwrap().status == AccountStatus::Unknown));
    let roles: Vec<_> = s
        .resources
        .iter()
        .filter(|r| r.resource_type == "role")
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(roles, ["admin", "developer", "viewer"]);
    let groups: Vec<_> = s
        .resources
        .iter()
        .filter(|r| r.resource_type == "group")
        .map(|r| r.display_name.as_str())
        .collect();
    assert_eq!(groups, ["Engineering", "Operations"]);
    assert_eq!(
        s.entitlements,
        [
            "role:admin:member",
            "role:developer:member",
            "role:viewer:member",
            "group:directory_group_ENG:member",
            "group:directory_group_OPS:member"
        ]
    );
    let ids = grant_ids(&s);
    // user-1 holds `developer` both ways: two grants; user-2 only through the group.
    for want in [
        "role:admin:member:user:user-0",
        "role:developer:member:user:user-1",
        "role:developer:member:user:user-1:implicit:via:directory_group_ENG",
        "role:developer:member:user:user-2:implicit:via:directory_group_ENG",
        "role:developer:member:user:user-5",
        "group:directory_group_ENG:member:user:user-1",
        "group:directory_group_ENG:member:directory_user:new.hire@example.com",
        "group:directory_group_OPS:member:user:user-3",
    ] {
        assert!(ids.contains(&want), "{want} missing");
    }
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("role:viewer:")).count(),
        150
    );
    assert_eq!(s.grants.len(), 1 + 4 + 150 + 3 + 1);
    // Requests: the permission check 3 (one member, one role, the groups) + members
    // ⌈250/100⌉ + roles 1 + groups 1 + per role ⌈members/100⌉ (admin 1, developer 1, viewer 2)
    // + per group ⌈members/100⌉ (1 each). No role is read again: the roles page told the
    // linked groups.
    assert_eq!(c.client.requests(), 3 + 3 + 1 + 1 + 4 + 2);
    assert!(fake
        .requests()
        .iter()
        .all(|r| !r.starts_with("GET /v1/org-roles/developer ")));
    assert_eq!(info(&c, "requests").as_deref(), Some("14"));
    assert_eq!(
        info(&c, "directory_users_without_account").as_deref(),
        Some("1")
    );
    assert_eq!(info(&c, "rate_limit_remaining").as_deref(), Some("986"));
    assert_eq!(info(&c, "paced_ms").as_deref(), Some("0"));
}

#[test]
fn pages_are_read_by_cursor_with_per_page_100_and_end_without_a_cursor() {
    let fake = FakeNorthflank::seeded(250);
    let mut c = connector(&fake);
    c.validate().unwrap();
    let first = c.list_resources("user", None).unwrap();
    assert_eq!(first.resources.len(), 100);
    let t1 = first.next_page_token.unwrap();
    assert_eq!(t1, "nf1:members:100:c100");
    let second = c.list_resources("user", Some(&t1)).unwrap();
    let third = c
        .list_resources("user", second.next_page_token.as_deref())
        .unwrap();
    assert_eq!((third.resources.len(), third.next_page_token), (50, None));
    assert_eq!(
        fake.requests().into_iter().skip(3).collect::<Vec<_>>(),
        [
            "GET /v1/org-members?per_page=100",
            "GET /v1/org-members?per_page=100&cursor=c100",
            "GET /v1/org-members?per_page=100&cursor=c200"
        ]
    );
    // Exactly 100: the last page is the one without a cursor, not a short one.
    let fake = FakeNorthflank::seeded(100);
    let mut c = connector(&fake);
    c.validate().unwrap();
    assert_eq!(
        c.list_resources("user", None).unwrap().next_page_token,
        None
    );
    assert_eq!(fake.requests().len(), 3 + 1);
}

#[test]
fn garbage_and_foreign_page_tokens_are_invalid_arguments_before_any_request() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = connector(&fake);
    let role = ResourceRef::new("role", "viewer");
    for (call, token) in [
        ("user", "garbage"),
        ("user", "nf1:roles:100:c100"),
        ("role", "nf1:members:1:c1"),
        ("group", "nf1:members:1:c1"),
        ("grants", "nf1:role=admin:100:c100"),
        ("grants", "nf1:role=viewer:x:c100"),
    ] {
        let r = match call {
            "grants" => c.list_grants(&role, Some(token)).map(|_| ()),
            t => c.list_resources(t, Some(token)).map(|_| ()),
        };
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "{call} {token}: {r:?}"
        );
    }
    assert!(fake.requests().is_empty());
    assert!(
        matches!(c.list_resources("team", None), Err(Error::InvalidArgument(m)) if m.contains("`group`"))
    );
    assert!(matches!(
        c.list_resources("directory_user", None),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn inconsistent_paging_answers_are_upstream_protocol_errors() {
    let fake = FakeNorthflank::seeded(5);
    let answer = |body: &str| {
        Ok(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        })
    };
    let mut c = connector(&fake);
    for (body, why) in [
        (
            r#"{"data":{"members":[]},"pagination":{"hasNextPage":true,"count":0}}"#,
            "no cursor",
        ),
        (r#"{"data":{"members":[]}}"#, "without `pagination`"),
        (
            r#"{"data":{"members":[{"name":"no id"}]},"pagination":{"hasNextPage":false}}"#,
            "unexpected shape",
        ),
        (r#"{"data":{"members":"#, "truncated"),
    ] {
        fake.canned.borrow_mut().push_back(answer(body));
        let r = c.list_resources("user", None);
        assert!(
            matches!(&r, Err(Error::UpstreamProtocol(m)) if m.contains(why)),
            "{r:?}"
        );
    }
    fake.canned.borrow_mut().push_back(answer(
        r#"{"data":{"members":[]},"pagination":{"hasNextPage":true,"cursor":"c7"}}"#,
    ));
    let r = c.list_resources("user", Some("nf1:members:7:c7"));
    assert!(
        matches!(&r, Err(Error::UpstreamProtocol(m)) if m.contains("loop")),
        "{r:?}"
    );
}

#[test]
fn grants_of_a_role_or_group_outside_a_sync_read_the_role_and_page_on() {
    let fake = FakeNorthflank::seeded(250);
    let mut c = connector(&fake);
    let page = c
        .list_grants(&ResourceRef::new("role", "developer"), None)
        .unwrap();
    assert_eq!(page.grants.len(), 4);
    assert_eq!(fake.requests()[0], "GET /v1/org-roles/developer");
    let viewer = ResourceRef::new("role", "viewer");
    let first = c.list_grants(&viewer, None).unwrap();
    let token = first.next_page_token.unwrap();
    assert_eq!(token, "nf1:role=viewer:100:c100");
    let second = c.list_grants(&viewer, Some(&token)).unwrap();
    assert_eq!(
        (
            first.grants.len(),
            second.grants.len(),
            second.next_page_token
        ),
        (100, 50, None)
    );
    let missing = c.list_grants(&ResourceRef::new("role", "ghost"), None);
    assert!(matches!(missing, Err(Error::NotFound(m)) if m.contains("Role not found")));
    assert!(c
        .list_grants(&ResourceRef::new("user", "user-1"), None)
        .unwrap()
        .grants
        .is_empty());
    let e = c
        .list_entitlements(&ResourceRef::new("group", "directory_group_OPS"), None)
        .unwrap();
    assert_eq!(
        e.entitlements[0].display_name,
        "Member of directory group Operations"
    );
    let e = c
        .list_entitlements(&ResourceRef::new("role", "admin"), None)
        .unwrap();
    assert_eq!(e.entitlements[0].id, "role:admin:member");
    assert!(matches!(
        c.list_entitlements(&ResourceRef::new("group", "nope"), None),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn validate_reads_members_roles_and_groups_once_each() {
    let fake = FakeNorthflank::seeded(5);
    let v = connector(&fake).validate().unwrap();
    assert!(v.system.contains("2 directory group(s)"), "{}", v.system);
    assert_eq!(
        fake.requests(),
        [
            "GET /v1/org-members?per_page=1",
            "GET /v1/org-roles?per_page=1",
            "GET /v1/directory-groups"
        ]
    );
}

#[test]
fn each_missing_permission_fails_validate_and_the_sync_naming_it() {
    for missing in [MEMBERS_READ, ROLES_READ] {
        let fake = FakeNorthflank::seeded(5);
        fake.without(missing);
        let err = connector(&fake).validate().unwrap_err();
        match &err {
            Error::PermissionDenied(m) => {
                assert!(m.contains(&format!("`{missing}`")), "{m}");
                assert!(!m.contains(TOKEN), "{m}");
            }
            other => panic!("{missing}: {other:?}"),
        }
        assert!(
            matches!(sync(&mut connector(&fake)), Err(Error::PermissionDenied(m)) if m.contains(missing))
        );
    }
    // Both missing: both named at once.
    let fake = FakeNorthflank::seeded(5);
    fake.without(MEMBERS_READ).without(ROLES_READ);
    let m = connector(&fake).validate().unwrap_err().to_string();
    assert!(m.contains(MEMBERS_READ) && m.contains(ROLES_READ), "{m}");
    // Manage is not needed to read.
    let fake = FakeNorthflank::seeded(5);
    fake.without(ROLES_MANAGE);
    assert!(connector(&fake).validate().is_ok());
}

#[test]
fn a_bad_token_is_unauthenticated_not_permission_denied() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = Connector::new(
        &fake,
        Config::parse(&[
            ("api_token".into(), "wrong-token-123456".into()),
            ("base_url".into(), ORIGIN.into()),
            ("allow_insecure_http".into(), "true".into()),
        ])
        .unwrap(),
    );
    let err = c.validate().unwrap_err();
    assert!(
        matches!(&err, Error::Unauthenticated(m) if m.contains("`api_token`")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-token-123456"));
    // Stops at the first answer: the other two would say the same.
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn no_error_message_carries_the_token_even_when_the_server_echoes_it() {
    let fake = FakeNorthflank::seeded(5);
    fake.echo_token.set(true);
    let mut c = provisioner(&fake);
    let errors = [
        c.list_grants(&ResourceRef::new("role", "ghost"), None)
            .unwrap_err(),
        c.list_grants(&ResourceRef::new("group", "ghost"), None)
            .unwrap_err(),
        c.provision(&ProvisionAction::Grant(
            "role:admin:member".into(),
            ResourceRef::new("user", "ghost"),
        ))
        .unwrap_err(),
    ];
    for e in errors {
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(TOKEN) && !text.contains("eyJzZWNyZXQ"),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
    }
}

#[test]
fn a_low_budget_slows_requests_down_and_the_reserve_is_left_untouched() {
    let fake = FakeNorthflank::seeded(250);
    fake.remaining.set(60);
    fake.window_end
        .set(super::fake::now() + Duration::from_secs(100));
    let mut c = connector(&fake);
    let s = sync(&mut c).unwrap();
    assert_eq!(s.resources.len(), 255);
    let paced: u64 = info(&c, "paced_ms").unwrap().parse().unwrap();
    // 49 spendable over 100 s: about 2 s between requests, 13 waits after the first answer.
    assert!((20_000..=31_000).contains(&paced), "{paced}");
    assert_eq!(fake.paused.get().as_millis() as u64, paced);
    // The budget down to the reserve: the next call fails before sending.
    fake.remaining.set(10);
    fake.window_end
        .set(super::fake::now() + Duration::from_secs(1800));
    let sent = fake.requests().len();
    let _ = c.list_resources("group", None).unwrap();
    match c.list_resources("group", None) {
        Err(Error::RateLimited {
            retry_after_ms,
            message,
        }) => {
            // The reset as of the last answer, which came after one more paced wait.
            let ms = retry_after_ms.unwrap();
            assert!((1_790_000..=1_800_000).contains(&ms), "{ms}");
            assert!(
                message.contains(&format!("resets in {} s", ms / 1000)),
                "{message}"
            );
            assert!(message.contains("9 request(s)"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), sent + 1);
    // Once the window has reset (by the connector's own reckoning), requests flow again.
    (&fake).pause(Duration::from_secs(1800));
    let _ = c.list_resources("group", None).unwrap();
}

#[test]
fn a_429_is_rate_limited_with_the_reset_as_retry_after() {
    let fake = FakeNorthflank::seeded(5);
    fake.remaining.set(0);
    fake.window_end
        .set(super::fake::now() + Duration::from_secs(42));
    let mut c = connector(&fake);
    match c.list_resources("user", None) {
        Err(Error::RateLimited {
            retry_after_ms,
            message,
        }) => {
            assert_eq!(retry_after_ms, Some(42_000));
            assert!(message.contains("429"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Not retried: one request.
    assert_eq!(fake.requests().len(), 1);
    // Without rate-limit headers, `Retry-After` is used.
    let fake = FakeNorthflank::seeded(5);
    fake.rate_headers.set(false);
    fake.canned.borrow_mut().push_back(Ok(Response {
        status: 429,
        headers: vec![("retry-after".into(), "7".into())],
        body: br#"{"error":{"status":429,"message":"Too many requests"}}"#.to_vec(),
    }));
    let r = connector(&fake).list_resources("role", None);
    assert!(
        matches!(
            r,
            Err(Error::RateLimited {
                retry_after_ms: Some(7000),
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn lost_connections_and_transient_answers_are_retried_for_reads() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = connector(&fake);
    c.validate().unwrap();
    fake.canned
        .borrow_mut()
        .push_back(Err("connection reset".into()));
    fake.canned.borrow_mut().push_back(Ok(Response {
        status: 503,
        headers: vec![],
        body: vec![],
    }));
    assert_eq!(c.list_resources("role", None).unwrap().resources.len(), 3);
    assert_eq!(fake.requests().len(), 3 + 3);
    for _ in 0..3 {
        fake.canned
            .borrow_mut()
            .push_back(Err("connection refused".into()));
    }
    let r = c.list_resources("role", None);
    assert!(
        matches!(&r, Err(Error::Unavailable(m)) if m.contains("after 3 attempts")),
        "{r:?}"
    );
}

// Provisioning.

fn grant(role: &str, user: &str) -> ProvisionAction {
    ProvisionAction::Grant(
        format!("role:{role}:member"),
        ResourceRef::new("user", user),
    )
}

fn revoke(role: &str, user: &str) -> ProvisionAction {
    ProvisionAction::Revoke(RevokeTarget::Membership(
        format!("role:{role}:member"),
        ResourceRef::new("user", user),
    ))
}

fn writes(fake: &FakeNorthflank) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .collect()
}

#[test]
fn provisioning_is_refused_unless_enabled() {
    let fake = FakeNorthflank::seeded(5);
    let r = connector(&fake).provision(&grant("admin", "user-2"));
    assert!(matches!(r, Err(Error::Unsupported(m)) if m.contains("`provisioning`")));
    assert!(fake.requests().is_empty());
}

#[test]
fn grant_and_revoke_round_trip_idempotently_and_verified() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = provisioner(&fake);
    let done = c.provision(&grant("admin", "user-2")).unwrap();
    assert_eq!(done.status, OutcomeStatus::Done);
    assert_eq!(done.grant.unwrap().id, "role:admin:member:user:user-2");
    assert_eq!(
        fake.requests(),
        [
            "GET /v1/org-roles/admin/members?per_page=100&userIds=user-2",
            "POST /v1/org-roles/admin/members",
            "GET /v1/org-roles/admin/members?per_page=100&userIds=user-2"
        ]
    );
    assert_eq!(
        fake.log.borrow()[1].body.as_deref(),
        Some(br#"{"userId":"user-2"}"#.as_slice())
    );
    let again = c.provision(&grant("admin", "user-2")).unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    let removed = c.provision(&revoke("admin", "user-2")).unwrap();
    assert_eq!(removed.status, OutcomeStatus::Done);
    let again = c.provision(&revoke("admin", "user-2")).unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    assert_eq!(
        writes(&fake),
        [
            "POST /v1/org-roles/admin/members",
            "DELETE /v1/org-roles/admin/members/user-2"
        ]
    );
    // Revoking by the grant id a sync reported works the same way.
    c.provision(&grant("admin", "user-3")).unwrap();
    let by_id = ProvisionAction::Revoke(RevokeTarget::GrantId(
        "role:admin:member:user:user-3".into(),
    ));
    assert_eq!(c.provision(&by_id).unwrap().status, OutcomeStatus::Done);
    assert!(!fake.roles.borrow()[0]
        .explicit
        .contains(&"user-3".to_string()));
}

#[test]
fn the_membership_check_does_not_trust_the_user_filter() {
    let fake = FakeNorthflank::seeded(250);
    fake.honour_user_filter.set(false);
    let mut c = provisioner(&fake);
    // user-149 is the 150th explicit viewer: on the second page of an unfiltered listing.
    let r = c.provision(&grant("viewer", "user-149")).unwrap();
    assert_eq!(r.status, OutcomeStatus::AlreadyDone);
    assert!(writes(&fake).is_empty());
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn an_implicit_membership_is_never_revoked_and_the_group_is_named() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = provisioner(&fake);
    // user-2 holds `developer` only through Engineering.
    let err = c.provision(&revoke("developer", "user-2")).unwrap_err();
    match &err {
        Error::Unsupported(m) => {
            assert!(
                m.contains("only through directory group `Engineering` (directory_group_ENG)"),
                "{m}"
            );
            assert!(m.contains("identity provider"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Its implicit grant id is refused the same way.
    let by_id = ProvisionAction::Revoke(RevokeTarget::GrantId(
        "role:developer:member:user:user-2:implicit:via:directory_group_ENG".into(),
    ));
    assert!(matches!(c.provision(&by_id), Err(Error::Unsupported(_))));
    // user-1 holds it both ways: the explicit membership goes, the implicit one is named.
    let r = c.provision(&revoke("developer", "user-1")).unwrap();
    assert_eq!(r.status, OutcomeStatus::Done);
    assert!(
        r.message
            .contains("still hold the role through directory group `Engineering`"),
        "{}",
        r.message
    );
    // Its implicit grant, revoked by id, is still refused.
    let by_id = ProvisionAction::Revoke(RevokeTarget::GrantId(
        "role:developer:member:user:user-1:implicit".into(),
    ));
    assert!(matches!(c.provision(&by_id), Err(Error::Unsupported(_))));
    assert_eq!(
        writes(&fake),
        ["DELETE /v1/org-roles/developer/members/user-1"]
    );
    // Granting to an implicit-only member writes the explicit membership.
    let r = c.provision(&grant("developer", "user-2")).unwrap();
    assert_eq!(r.status, OutcomeStatus::Done);
    assert!(
        r.message.contains("also hold it through a directory group"),
        "{}",
        r.message
    );
}

#[test]
fn a_lost_write_answer_is_judged_by_reading_back() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = provisioner(&fake);
    fake.lose_write_answer.set(true);
    let r = c.provision(&grant("admin", "user-4")).unwrap();
    assert_eq!(r.status, OutcomeStatus::Done);
    assert!(r.message.contains("read back"), "{}", r.message);
    fake.lose_write_answer.set(true);
    let r = c.provision(&revoke("admin", "user-4")).unwrap();
    assert_eq!(r.status, OutcomeStatus::Done);
    assert_eq!(writes(&fake).len(), 2);
}

#[test]
fn other_changes_are_unsupported_or_invalid_with_clear_messages() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = provisioner(&fake);
    let account = AccountRequest {
        login: "x".into(),
        email: "x@example.com".into(),
        first_name: "X".into(),
        last_name: "Y".into(),
        entitlement_ids: vec![],
        password: None,
    };
    let role = ResourceRequest {
        resource_type: "role".into(),
        id: "r".into(),
        entitlement_ids: vec![],
    };
    for (action, want) in [
        (ProvisionAction::CreateAccount(account), "invitation"),
        (
            ProvisionAction::DeleteAccount(ResourceRef::new("user", "user-1")),
            "invitation",
        ),
        (
            ProvisionAction::CreateResource(role),
            "org-role membership only",
        ),
        (
            ProvisionAction::DeleteResource(ResourceRef::new("role", "admin")),
            "org-role membership only",
        ),
        (
            ProvisionAction::Grant(
                "group:directory_group_ENG:member".into(),
                ResourceRef::new("user", "user-4"),
            ),
            "identity provider",
        ),
        (
            ProvisionAction::Grant(
                "role:admin:member".into(),
                ResourceRef::new("directory_user", "new@example.com"),
            ),
            "no Northflank account",
        ),
    ] {
        let r = c.provision(&action);
        assert!(
            matches!(&r, Err(Error::Unsupported(m)) if m.contains(want)),
            "{action:?}: {r:?}"
        );
    }
    for action in [
        grant("admin", "bad/id"),
        grant("adm in", "user-1"),
        ProvisionAction::Grant("permission:x".into(), ResourceRef::new("user", "user-1")),
        ProvisionAction::Revoke(RevokeTarget::GrantId("group:g:member:user:user-1".into())),
    ] {
        assert!(
            matches!(c.provision(&action), Err(Error::InvalidArgument(_))),
            "{action:?}"
        );
    }
    assert!(fake.requests().is_empty());
    let r = c.provision(&grant("ghost", "user-1"));
    assert!(matches!(r, Err(Error::NotFound(m)) if m.contains("Role not found")));
    let r = c.provision(&grant("admin", "nobody"));
    assert!(matches!(r, Err(Error::NotFound(m)) if m.contains("User not found")));
}

#[test]
fn a_token_without_manage_cannot_provision_and_is_told_which_permission() {
    let fake = FakeNorthflank::seeded(5);
    fake.without(ROLES_MANAGE);
    let r = provisioner(&fake).provision(&grant("admin", "user-2"));
    assert!(matches!(r, Err(Error::PermissionDenied(m)) if m.contains(ROLES_MANAGE)));
}

#[test]
fn a_refused_certificate_is_not_retried() {
    let fake = FakeNorthflank::seeded(5);
    let mut c = connector(&fake);
    c.validate().unwrap();
    fake.canned.borrow_mut().push_back(Err(format!(
        "{}unknown issuer: add the CA with --ca-file",
        connector_sdk::http::TLS_REFUSED
    )));
    let r = c.list_resources("role", None);
    assert!(
        matches!(&r, Err(Error::Unavailable(m)) if m.contains("--ca-file") && m.contains("after 1 attempt")),
        "{r:?}"
    );
    assert_eq!(fake.requests().len(), 3 + 1, "no second attempt");
}
