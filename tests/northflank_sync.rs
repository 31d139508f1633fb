//! The Northflank component's sync through the harness: replayed from the synthetic cassettes
//! (`make record-northflank`, tests/cassettes/northflank/) against the golden output, and live
//! against the stand-in (tests/northflank_standin), checked against the stand-in's own data and
//! request log. Also the permission matrix through the harness CLI, the rate-limit behaviour
//! and paging edge cases. Each live test starts its own stand-in on a free loopback port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
#[path = "northflank/standin.rs"]
mod standin;

use common::{golden, lines, repo, run_logged, within};
use host_harness::progress::NoProgress;
use host_harness::{ConnectorError, Harness, HarnessError, HarnessOptions, SyncStats};
use serde_json::Value;
use standin::Standin;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

/// Replay matches requests without their token, so any value configures the connector. A
/// distinctive one: the secret scan after the suite would catch the component repeating it.
const REPLAY_TOKEN: &str = "nf-replay-token-Zq7rW2xK9pLm4vB8";

/// The three read permissions, by test token, and the Northflank permission each missing one
/// must be named as (display names, as the connector reports them). Northflank has no separate
/// permission for the directory-groups list: it needs Roles > Read.
const MATRIX: [(&str, &str); 3] = [
    ("no-members-read", "Organisation > Admin > Members > Read"),
    ("no-roles-read", "Organisation > Admin > Roles > Read"),
    (
        "no-directory-groups-read",
        "Organisation > Admin > Roles > Read",
    ),
];

fn cassette(name: &str) -> PathBuf {
    repo().join("tests/cassettes/northflank").join(name)
}

async fn replay(name: &str) -> Harness {
    let mut opts = HarnessOptions::replay(cassette(name)).unwrap();
    opts.component = standin::component();
    // The library's replay options are resolved without the connector's metadata, so they
    // carry the password placeholder a password-based connector needs; this one has none.
    opts.settings.remove("password");
    opts.settings
        .insert("api_token".into(), REPLAY_TOKEN.into());
    within("instantiate + configure", Harness::new(opts))
        .await
        .unwrap()
}

async fn live(standin: &Standin, token: &str) -> Harness {
    within(
        "instantiate + configure",
        Harness::new(standin.harness_options(token)),
    )
    .await
    .unwrap()
}

async fn sync(h: &mut Harness) -> Result<(String, SyncStats), HarnessError> {
    let mut out = Vec::new();
    let stats = within("sync", h.sync(&mut out, &NoProgress)).await?;
    Ok((String::from_utf8(out).expect("JSONL is UTF-8"), stats))
}

fn connector_error(e: HarnessError) -> ConnectorError {
    match e {
        HarnessError::Connector(c) => c,
        other => panic!("expected the connector's typed error, got {other}"),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn pages(rows: usize) -> u64 {
    // Every listing reads at least one page, an empty one too.
    rows.div_ceil(100).max(1) as u64
}

/// The requests a full sync costs, by the formula in northflank/src/lib.rs, from the
/// stand-in's own data.
fn formula(org: &Value) -> u64 {
    let members = org["members"].as_array().unwrap().len();
    let roles = org["roles"].as_array().unwrap().len();
    let role_rows: u64 = org["roleMembers"]
        .as_object()
        .unwrap()
        .values()
        .map(|rows| pages(rows.as_array().unwrap().len()))
        .sum();
    let group_rows: u64 = org["directoryGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| pages(g["members"].as_array().unwrap().len()))
        .sum();
    3 + pages(members) + pages(roles) + 1 + role_rows + group_rows
}

/// The id the connector gives a directory group member with a null id: its first e-mail
/// (lower-case), else `name:<name>` (northflank/src/mapping.rs).
fn directory_user_id(member: &Value) -> String {
    if let Some(email) = strs(&member["emails"])
        .into_iter()
        .find(|e| !e.trim().is_empty())
    {
        return email.trim().to_ascii_lowercase();
    }
    let name = member["name"].as_str().unwrap_or_default().trim();
    assert!(
        !name.is_empty(),
        "a seeded null-id member without e-mail or name"
    );
    format!("name:{name}")
}

/// What a sync must show, from the stand-in's data (`/__standin/org`), as the set of each kind
/// of id.
#[derive(Debug, Default, PartialEq)]
struct View {
    users: BTreeSet<String>,
    unfinalised: BTreeSet<String>,
    roles: BTreeSet<String>,
    groups: BTreeSet<String>,
    entitlements: BTreeSet<String>,
    grants: BTreeSet<String>,
    directory_users: BTreeSet<String>,
}

fn expected(org: &Value) -> View {
    let mut v = View::default();
    for m in org["members"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap().to_string();
        if m["finalized"] == false {
            v.unfinalised.insert(id.clone());
        }
        v.users.insert(id);
    }
    for r in org["roles"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        v.roles.insert(id.to_string());
        v.entitlements.insert(format!("role:{id}:member"));
    }
    // Northflank's role-member rows do not say which group grants an implicit membership, so
    // the grant names every group linked to the role (the roles listing says which).
    let linked: BTreeMap<&str, Vec<String>> = org["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), strs(&r["directoryGroups"])))
        .collect();
    for (role, rows) in org["roleMembers"].as_object().unwrap() {
        let via = &linked[role.as_str()];
        for row in rows.as_array().unwrap() {
            let member = row["id"].as_str().unwrap();
            let base = format!("role:{role}:member:user:{member}");
            match row["type"].as_str().unwrap() {
                "explicit" => v.grants.insert(base),
                "implicit" => {
                    // The groups that really grant it (the stand-in knows) are among them.
                    for g in strs(&row["directoryGroups"]) {
                        assert!(via.contains(&g), "{role}: {g} is not linked");
                    }
                    v.grants
                        .insert(format!("{base}:implicit:via:{}", via.join(",")))
                }
                other => panic!("row type {other}"),
            };
        }
    }
    for g in org["directoryGroups"].as_array().unwrap() {
        let id = g["id"].as_str().unwrap();
        v.groups.insert(id.to_string());
        v.entitlements.insert(format!("group:{id}:member"));
        for m in g["members"].as_array().unwrap() {
            let principal = match m["id"].as_str() {
                Some(user) => format!("user:{user}"),
                None => {
                    let du = directory_user_id(m);
                    v.directory_users.insert(du.clone());
                    format!("directory_user:{du}")
                }
            };
            v.grants.insert(format!("group:{id}:member:{principal}"));
        }
    }
    v
}

fn seen(output: &str) -> View {
    let mut v = View::default();
    for line in lines(output) {
        let id = line["id"].as_str().unwrap().to_string();
        match (
            line["type"].as_str().unwrap(),
            line["resource_type"].as_str(),
        ) {
            ("resource", Some("user")) => {
                let finalised = line["attributes"]["finalized"].as_str();
                match finalised {
                    Some("false") => {
                        assert!(
                            line["attributes"]["note"]
                                .as_str()
                                .is_some_and(|n| n.contains("not finalised")),
                            "an unfinalised member is marked for the reviewer: {line}"
                        );
                        v.unfinalised.insert(id.clone());
                    }
                    Some("true") => {}
                    other => panic!("user {id}: finalized {other:?}"),
                }
                v.users.insert(id);
            }
            ("resource", Some("role")) => {
                v.roles.insert(id);
            }
            ("resource", Some("group")) => {
                v.groups.insert(id);
            }
            ("resource", other) => panic!("a resource of type {other:?}: {line}"),
            ("entitlement", _) => {
                v.entitlements.insert(id);
            }
            ("grant", _) => {
                if line["principal_type"] == "directory_user" {
                    v.directory_users
                        .insert(line["principal_id"].as_str().unwrap().to_string());
                }
                v.grants.insert(id);
            }
            ("resource_type", _) => {}
            (other, _) => panic!("unexpected line type {other}: {line}"),
        }
    }
    v
}

/// Compares field by field, so a failure names what differs rather than printing two views.
fn assert_same(got: &View, want: &View) {
    for (what, g, w) in [
        ("users", &got.users, &want.users),
        ("unfinalised users", &got.unfinalised, &want.unfinalised),
        ("roles", &got.roles, &want.roles),
        ("groups", &got.groups, &want.groups),
        ("entitlements", &got.entitlements, &want.entitlements),
        ("grants", &got.grants, &want.grants),
        (
            "directory users",
            &got.directory_users,
            &want.directory_users,
        ),
    ] {
        let missing: Vec<_> = w.difference(g).take(5).collect();
        let extra: Vec<_> = g.difference(w).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{what}: missing {missing:?}, extra {extra:?}"
        );
    }
}

fn request_log(standin: &Standin) -> Vec<Value> {
    standin.request_log()
}

// --- (a) replay ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn replayed_sync_equals_the_golden_output_and_uses_every_interaction() {
    let mut h = replay("sync.json").await;
    let (output, stats) = sync(&mut h).await.unwrap();
    let unused = h.unused_interactions();
    assert!(unused.is_empty(), "unused interactions: {unused:?}");
    let golden_path = golden("northflank/sync.jsonl");
    let want = std::fs::read_to_string(&golden_path).unwrap();
    if output != want {
        let diff = output
            .lines()
            .zip(want.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("\n got: {a}\nwant: {b}"))
            .unwrap_or_else(|| "(one output is a prefix of the other)".into());
        panic!(
            "output differs from {} (regenerate with `make record-northflank` only if the \
             change is intended){diff}",
            golden_path.display()
        );
    }
    assert_eq!(
        stats.requests, 27,
        "the seeded organisation's request formula"
    );
}

#[test]
fn the_cassettes_are_marked_synthetic_and_hold_no_token() {
    let tokens: Vec<String> = ["full", "writer", "team-scoped"]
        .into_iter()
        .chain(MATRIX.map(|(t, _)| t))
        .map(Standin::token)
        .collect();
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("tests/cassettes/northflank")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let c: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(c["synthetic"], true, "{}", path.display());
        let source = c["source"].as_str().unwrap();
        assert!(
            source.starts_with("synthetic:") && source.contains("@northflank/js-client 0.9.5"),
            "{}: {source}",
            path.display()
        );
        assert!(
            c["settings"].get("api_token").is_none(),
            "{}",
            path.display()
        );
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "{} holds a test token",
                path.display()
            );
        }
        for i in c["interactions"].as_array().unwrap() {
            assert_eq!(i["request"]["headers"]["authorization"], "[REDACTED]");
        }
        count += 1;
    }
    assert!(count >= 10, "only {count} cassettes");
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_missing_scopes_are_permission_denied_naming_the_permission() {
    for (token, permission) in MATRIX {
        let mut h = replay(&format!("{token}-validate.json")).await;
        match connector_error(h.validate().await.unwrap_err()) {
            ConnectorError::PermissionDenied(m) => assert!(m.contains(permission), "{token}: {m}"),
            other => panic!("{token}: validate gave {other}"),
        }
        let mut h = replay(&format!("{token}-sync.json")).await;
        let mut out = Vec::new();
        let err = within("sync", h.sync(&mut out, &NoProgress))
            .await
            .unwrap_err();
        match connector_error(err) {
            ConnectorError::PermissionDenied(m) => assert!(m.contains(permission), "{token}: {m}"),
            other => panic!("{token}: sync gave {other}"),
        }
        assert!(
            out.is_empty(),
            "{token}: the sync wrote {} bytes",
            out.len()
        );
        assert!(h.unused_interactions().is_empty(), "{token}");
    }
    // A team-scoped token has no organisation permission at all: every one is named.
    let mut h = replay("team-scoped-validate.json").await;
    match connector_error(h.validate().await.unwrap_err()) {
        ConnectorError::PermissionDenied(m) => {
            for (_, permission) in MATRIX {
                assert!(m.contains(permission), "{m}");
            }
        }
        other => panic!("team-scoped: validate gave {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_spent_budget_is_rate_limited_with_the_reset_as_retry_after() {
    let mut h = replay("rate-limited.json").await;
    match connector_error(h.validate().await.unwrap_err()) {
        // The recorded 429 said `x-ratelimit-reset: 3600`.
        ConnectorError::RateLimited { retry_after_ms, .. } => {
            let ms = retry_after_ms.expect("a retry-after");
            assert!((3_599_000..=3_600_000).contains(&ms), "{ms}");
        }
        other => panic!("validate gave {other}"),
    }
}

// --- (b) live, checked against the stand-in's own data (must show 1) -----------------------

#[tokio::test(flavor = "multi_thread")]
async fn live_sync_shows_every_member_role_group_and_membership_of_the_standin() {
    let standin = Standin::start(&[]);
    let mut h = live(&standin, "full").await;
    let (output, stats) = sync(&mut h).await.unwrap();
    let org = standin.org();
    let want = expected(&org);
    let got = seen(&output);
    assert_same(&got, &want);

    // The seed's cases are really there, so the comparison above covered them.
    assert_eq!(want.users.len(), 262);
    assert_eq!(want.unfinalised.len(), 10);
    assert_eq!(want.roles.len(), 9);
    assert_eq!(want.groups.len(), 6);
    assert!(want.directory_users.contains("pat.pending@example.com"));
    assert_eq!(want.directory_users.len(), 3);
    // A member both explicit and implicit in one role: two rows, two grants.
    for both in [
        "role:developer:member:user:grace-hopper",
        "role:developer:member:user:grace-hopper:implicit:via:directory_group_01HS3WJ4KGD7Y4X2JWAQZCGXTM",
    ] {
        assert!(got.grants.contains(both), "{both}");
    }
    // Viewer is linked to two groups: its implicit grants name both.
    assert!(got.grants.contains(
        "role:viewer:member:user:alan-ueda:implicit:via:\
         directory_group_01HS3WJ4KGD7Y4X2JWAQZCGXTM,directory_group_01HHR9M25ZDVJPVDR3YT0NHK4V"
    ));
    assert_eq!(
        stats
            .session
            .get("directory_users_without_account")
            .map(String::as_str),
        Some("3")
    );

    // The request count is the documented formula, as the stand-in counted it.
    let log = request_log(&standin);
    let want_requests = formula(&org);
    assert_eq!(want_requests, 27);
    assert_eq!(log.len() as u64, want_requests, "requests: {log:?}");
    assert_eq!(stats.requests, want_requests);
    assert!(
        log.iter()
            .all(|r| r["status"] == 200 && r["token"] == "full" && r["method"] == "GET"),
        "{log:?}"
    );
    // Paged listings ask for 100 at a time; the permission check reads one item of each.
    for r in &log {
        let query = r["query"].as_str().unwrap();
        if r["path"] == "/v1/directory-groups" {
            continue;
        }
        assert!(
            query
                .split('&')
                .any(|p| p == "per_page=100" || p == "per_page=1"),
            "{r}"
        );
    }
    assert_eq!(
        log.iter()
            .filter(|r| r["query"]
                .as_str()
                .unwrap()
                .split('&')
                .any(|p| p == "per_page=1"))
            .count(),
        2,
        "the permission check reads one member and one role"
    );
}

// --- (c) the permission matrix through the harness CLI (must show 3) -----------------------

fn cli(standin: &Standin, token: &str, args: &[&str]) -> std::process::Output {
    let harness = repo().join("target/debug/host-harness");
    assert!(harness.exists(), "build the harness first (make harness)");
    let mut cmd = Command::new(harness);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("NORTHFLANK_") || name.starts_with("BATON_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(["--connector", "northflank"])
        .args(args)
        .env("NORTHFLANK_API_TOKEN", Standin::token(token))
        .env("NORTHFLANK_BASE_URL", &standin.base_url)
        .env("NORTHFLANK_ALLOW_INSECURE_HTTP", "false");
    run_logged(&mut cmd)
}

#[test]
fn a_token_missing_a_scope_fails_validate_and_sync_with_no_output() {
    let standin = Standin::start(&[]);
    let dir = std::env::temp_dir().join(format!("northflank-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (token, permission) in MATRIX {
        let v = cli(&standin, token, &["validate"]);
        let stderr = String::from_utf8_lossy(&v.stderr);
        assert!(!v.status.success(), "{token}: validate succeeded");
        assert!(
            stderr.contains("permission denied") && stderr.contains(permission),
            "{token}: validate said {stderr}"
        );

        standin.reset();
        let out = dir.join(format!("{token}.jsonl"));
        let s = cli(&standin, token, &["sync", "--out", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&s.stderr);
        assert!(!s.status.success(), "{token}: sync succeeded");
        assert!(
            stderr.contains("permission denied") && stderr.contains(permission),
            "{token}: sync said {stderr}"
        );
        assert!(!out.exists(), "{token}: sync left {}", out.display());
        assert!(s.stdout.is_empty(), "{token}: sync printed {:?}", s.stdout);
        // The sync stopped at the permission check: it read no listing page.
        let log = request_log(&standin);
        assert!(
            log.iter().any(|r| r["status"] == 401)
                && !log
                    .iter()
                    .any(|r| r["query"].as_str().unwrap().contains("per_page=100")),
            "{token}: {log:?}"
        );
        standin.reset();
    }
    // The full token, for contrast, syncs to the file.
    let out = dir.join("full.jsonl");
    let s = cli(&standin, "full", &["sync", "--out", out.to_str().unwrap()]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    std::fs::remove_dir_all(&dir).ok();
}

// --- (d) rate limit ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn low_budget_paces_the_sync_and_keeps_the_reserve() {
    // 100 in a window of 10 s: pacing starts at 20 left, so with 40 left a 27-request sync
    // paces its last 7 and still finishes above the reserve. The window is long enough that
    // the first 20 requests never outlast it on a loaded machine (which would refill the
    // budget and leave nothing to pace), short enough that pacing costs seconds.
    let standin = Standin::start(&["--rate-limit", "100", "--reset-seconds", "10"]);
    let mut h = live(&standin, "full").await;
    standin.configure(r#"{"remaining": 40}"#);
    let (output, stats) = sync(&mut h).await.unwrap();
    assert_same(&seen(&output), &expected(&standin.org()));
    let paced: u64 = stats.session["paced_ms"].parse().unwrap();
    assert!(paced > 0, "paced_ms {paced}");
    let log = request_log(&standin);
    assert!(log.iter().all(|r| r["status"] == 200), "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_budget_is_rate_limited_with_the_reset_as_retry_after() {
    let standin = Standin::start(&[]);
    let mut h = live(&standin, "full").await;
    // 429 on the first request.
    standin.configure(r#"{"remaining": 0}"#);
    match connector_error(h.validate().await.unwrap_err()) {
        ConnectorError::RateLimited { retry_after_ms, .. } => {
            let ms = retry_after_ms.expect("a retry-after");
            assert!((1..=3_600_000).contains(&ms), "{ms}");
        }
        other => panic!("validate gave {other}"),
    }
    let log = request_log(&standin);
    assert_eq!(log.len(), 1, "no retry into a spent budget: {log:?}");
    assert_eq!(log[0]["status"], 429);

    // Down to the reserve (5 of 100): one answer says so, and the connector stops before
    // spending the rest.
    let standin = Standin::start(&["--rate-limit", "100", "--reset-seconds", "600"]);
    let mut h = live(&standin, "full").await;
    standin.configure(r#"{"remaining": 6}"#);
    let mut out = Vec::new();
    let err = within("sync", h.sync(&mut out, &NoProgress))
        .await
        .unwrap_err();
    match connector_error(err) {
        ConnectorError::RateLimited { retry_after_ms, .. } => {
            let ms = retry_after_ms.expect("a retry-after");
            assert!((1..=600_000).contains(&ms), "{ms}");
        }
        other => panic!("sync gave {other}"),
    }
    assert!(out.is_empty(), "nothing written");
    let log = request_log(&standin);
    assert!(
        log.len() < 6 && log.iter().all(|r| r["status"] == 200),
        "fewer requests than the budget, none refused: {log:?}"
    );
    assert!(log.last().unwrap()["remaining"].as_u64().unwrap() >= 5);
}

// --- (e) paging edge cases -----------------------------------------------------------------

/// The seeded organisation cut to exactly 100 members (one full page), with an empty directory
/// group added; memberships of removed members are dropped.
fn edge_org(dir: &std::path::Path) -> PathBuf {
    let mut org: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/northflank_standin/org.json")).unwrap(),
    )
    .unwrap();
    let mut members = org["members"].as_array().unwrap().clone();
    members.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    members.truncate(100);
    let kept: BTreeSet<String> = members
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    org["members"] = Value::Array(members);
    for role in org["roles"].as_array_mut().unwrap() {
        let explicit: Vec<Value> = strs(&role["explicitMembers"])
            .into_iter()
            .filter(|m| kept.contains(m))
            .map(Value::String)
            .collect();
        role["explicitMembers"] = Value::Array(explicit);
    }
    let groups = org["directoryGroups"].as_array_mut().unwrap();
    for g in groups.iter_mut() {
        let members: Vec<Value> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["id"].as_str().is_none_or(|id| kept.contains(id)))
            .cloned()
            .collect();
        g["members"] = Value::Array(members);
    }
    let mut empty = groups[0].clone();
    empty["id"] = "directory_group_01HZZZZZZZZZZZZZZZZZZEMPTY0".into();
    empty["name"] = "Empty".into();
    empty["idpId"] = "00g1empty0000000000".into();
    empty["members"] = Value::Array(Vec::new());
    groups.push(empty);
    let path = dir.join("edge-org.json");
    std::fs::write(&path, serde_json::to_string_pretty(&org).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_full_page_and_an_empty_group_sync_completely() {
    let dir = std::env::temp_dir().join(format!("northflank-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let org_file = edge_org(&dir);
    let standin = Standin::start(&["--org", org_file.to_str().unwrap()]);
    let mut h = live(&standin, "full").await;
    let (output, stats) = sync(&mut h).await.unwrap();
    let org = standin.org();
    assert_eq!(org["members"].as_array().unwrap().len(), 100);
    let want = expected(&org);
    assert_same(&seen(&output), &want);
    assert!(want
        .entitlements
        .contains("group:directory_group_01HZZZZZZZZZZZZZZZZZZEMPTY0:member"));
    assert!(!want
        .grants
        .iter()
        .any(|g| g.starts_with("group:directory_group_01HZZZZZZZZZZZZZZZZZZEMPTY0:")));

    // A page of exactly 100 without a cursor is the last: no second member page is asked for.
    let log = request_log(&standin);
    let member_pages = log
        .iter()
        .filter(|r| r["path"] == "/v1/org-members")
        .count();
    assert_eq!(
        member_pages, 2,
        "the permission check and one page: {log:?}"
    );
    assert_eq!(log.len() as u64, formula(&org), "{log:?}");
    assert_eq!(stats.requests, formula(&org));

    // Without Directory Sync: no groups, no group grants, the role listings still complete.
    standin.configure(r#"{"directorySync": false}"#);
    let mut h = live(&standin, "full").await;
    let (output, _) = sync(&mut h).await.unwrap();
    let got = seen(&output);
    assert!(got.groups.is_empty(), "{:?}", got.groups);
    assert!(!got.grants.iter().any(|g| g.starts_with("group:")));
    assert_eq!(got.users.len(), 100);
    assert_eq!(got.roles.len(), 9);
    std::fs::remove_dir_all(&dir).ok();
}

/// The golden output's counts, independent of the stand-in: a reviewer reading the file sees
/// the directory users and both membership kinds.
#[test]
fn the_golden_output_shows_directory_users_and_both_membership_kinds() {
    let text = std::fs::read_to_string(golden("northflank/sync.jsonl")).unwrap();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines(&text) {
        let key = match line["type"].as_str().unwrap() {
            "resource" => format!("resource:{}", line["resource_type"].as_str().unwrap()),
            "grant" if line["principal_type"] == "directory_user" => "grant:directory_user".into(),
            "grant" if line["id"].as_str().unwrap().contains(":implicit:via:") => {
                "grant:implicit".into()
            }
            other => other.to_string(),
        };
        *by_type.entry(key).or_default() += 1;
    }
    assert_eq!(by_type["resource:user"], 262);
    assert_eq!(by_type["resource:role"], 9);
    assert_eq!(by_type["resource:group"], 6);
    assert_eq!(by_type["grant:directory_user"], 3);
    assert!(by_type["grant:implicit"] > 0);
    assert_eq!(by_type["resource_type"], 4);
}
