//! Full syncs replayed from cassettes recorded on a real Airflow 3.3 (`make record`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const SYNC: &str = "airflow-3.3/sync.json";

#[tokio::test(flavor = "multi_thread")]
async fn replayed_sync_equals_the_golden_output() {
    for name in SERIES.iter().flat_map(|(s, _)| {
        [
            format!("airflow-{s}/sync"),
            format!("airflow-{s}/sync-least-privilege"),
        ]
    }) {
        let run = replay_sync(&format!("{name}.json")).await;
        // Every recorded request is asked for, the least-privilege recordings included: an
        // interaction left over means the sync skipped a page the server served.
        assert!(
            run.unused.is_empty(),
            "{name}: unused interactions: {:?}",
            run.unused
        );
        let golden_path = golden(&format!("{name}.jsonl"));
        let want = std::fs::read_to_string(&golden_path).unwrap();
        if run.output != want {
            let diff = run
                .output
                .lines()
                .zip(want.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("\n got: {a}\nwant: {b}"))
                .unwrap_or_else(|| "(one output is a prefix of the other)".into());
            panic!(
                "{name}: output differs from {} (regenerate with `make golden` only if the \
                 change is intended){diff}",
                golden_path.display()
            );
        }
    }
}

/// Independent of the golden file: the sync shows exactly the directory the seed script put
/// on the server (tests/fixtures/directory.json) plus the bootstrap admin.
#[tokio::test(flavor = "multi_thread")]
async fn sync_lists_every_seeded_user_role_and_membership() {
    let directory: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/directory.json")).unwrap(),
    )
    .unwrap();
    let mut want_users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    want_users.insert("admin".into(), ["Admin".to_string()].into());
    for u in directory["users"].as_array().unwrap() {
        let roles = u["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        want_users.insert(u["username"].as_str().unwrap().to_string(), roles);
    }
    let mut want_roles: BTreeSet<String> = ["Admin", "Op", "User", "Viewer", "Public"]
        .map(String::from)
        .into();
    for r in directory["roles"].as_array().unwrap() {
        want_roles.insert(r["name"].as_str().unwrap().to_string());
    }

    for (series, _) in SERIES {
        check_directory(series, &want_users, &want_roles).await;
    }
}

async fn check_directory(
    series: &str,
    want_users: &BTreeMap<String, BTreeSet<String>>,
    want_roles: &BTreeSet<String>,
) {
    let run = replay_sync(&format!("airflow-{series}/sync.json")).await;
    let lines = lines(&run.output);
    let of_type = |t: &'static str| lines.iter().filter(move |l| l["type"] == t);

    let users: BTreeSet<String> = of_type("resource")
        .filter(|l| l["resource_type"] == "user")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users, want_users.keys().cloned().collect(), "{series}");
    let roles: BTreeSet<String> = of_type("resource")
        .filter(|l| l["resource_type"] == "role")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&roles, want_roles, "{series}");

    let mut got_members: BTreeMap<String, BTreeSet<String>> =
        users.iter().map(|u| (u.clone(), BTreeSet::new())).collect();
    for g in of_type("grant").filter(|g| g["principal_type"] == "user") {
        let role = g["entitlement"]
            .as_str()
            .unwrap()
            .strip_prefix("role:")
            .and_then(|e| e.strip_suffix(":member"))
            .unwrap()
            .to_string();
        let user = g["principal_id"].as_str().unwrap();
        assert_eq!(g["principal_type"], "user");
        assert_eq!(g["id"], format!("role:{role}:member:user:{user}"));
        got_members.get_mut(user).unwrap().insert(role);
    }
    assert_eq!(&got_members, want_users, "{series}");
    assert!(
        want_users.values().any(BTreeSet::is_empty) && want_users.values().any(|r| r.len() > 1),
        "the directory covers users with zero and several roles"
    );

    let entitlements: BTreeSet<String> = of_type("entitlement")
        .filter(|e| e["resource_type"] == "role")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let want_entitlements: BTreeSet<String> = want_roles
        .iter()
        .map(|r| format!("role:{r}:member"))
        .collect();
    assert_eq!(entitlements, want_entitlements, "{series}");

    // Every permission a custom role holds is a permission resource with its entitlement, and
    // the role's permission grants are exactly the directory's actions.
    let permissions: BTreeSet<String> = of_type("resource")
        .filter(|l| l["resource_type"] == "permission")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let permission_entitlements: BTreeSet<String> = of_type("entitlement")
        .filter(|e| e["resource_type"] == "permission")
        .map(|e| e["resource_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(permissions, permission_entitlements, "{series}");
    for (role, want) in custom_role_permissions() {
        let got: BTreeSet<String> = of_type("grant")
            .filter(|g| g["principal_type"] == "role" && g["principal_id"] == role.as_str())
            .map(|g| {
                let e = g["entitlement"].as_str().unwrap();
                e.strip_prefix("permission:")
                    .and_then(|e| e.strip_suffix(":assigned"))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(got, want, "{series}: permissions of {role}");
        assert!(got.is_subset(&permissions), "{series}: {role}");
    }
}

/// The custom roles of tests/fixtures/directory.json and their `action:resource` pairs.
fn custom_role_permissions() -> BTreeMap<String, BTreeSet<String>> {
    let directory: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/directory.json")).unwrap(),
    )
    .unwrap();
    directory["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let pairs = r["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    format!(
                        "{}:{}",
                        a["action"]["name"].as_str().unwrap(),
                        a["resource"]["name"].as_str().unwrap()
                    )
                })
                .collect();
            (r["name"].as_str().unwrap().to_string(), pairs)
        })
        .collect()
}

/// Detection costs one request on Airflow 3 and two on Airflow 2; only the JWT API signs in;
/// then one request per page: 1 + 1 + 3 + 1 on 3.3, 1 + 0 + 3 + 1 on 3.0, 2 + 0 + 3 + 1 on 2.11.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_sync_costs_sign_in_and_a_request_per_page_and_detection_only_on_older_servers() {
    for (series, api) in SERIES {
        let run = replay_sync(&format!("airflow-{series}/sync.json")).await;
        let users = run.stats.resources_by_type["user"];
        let roles = run.stats.resources_by_type["role"];
        assert!(
            users > 200,
            "{series}: the directory spans at least 3 pages ({users} users)"
        );
        assert!(
            run.stats.session["api"].contains(api),
            "{series}: {:?}",
            run.stats.session
        );
        // The sign-in tells FastAPI FAB; Airflow 3.0 and 2 spend two requests finding out.
        let discovery: u64 = run.stats.session["discovery_requests"].parse().unwrap();
        assert_eq!(discovery, if series == "3.3" { 0 } else { 2 }, "{series}");
        let sign_in = u64::from(series == "3.3");
        // Every page after the first starts on the last row of the one before.
        let pages = |n: u64| if n < 100 { 1 } else { (n - 100) / 99 + 2 };
        assert_eq!(
            run.stats.requests,
            discovery + sign_in + pages(users) + pages(roles),
            "{series}"
        );
        assert_eq!(
            pages(users) + pages(roles),
            users.div_ceil(100) + roles.div_ceil(100),
            "{series}: the recorded directory costs what plain offset paging costs"
        );
        assert_eq!(run.stats.session["shifted_pages"], "0", "{series}");
        assert!(
            run.unused.is_empty(),
            "{series}: unused interactions: {:?}",
            run.unused
        );
        let lines = lines(&run.output);
        let permissions = run.stats.resources_by_type["permission"];
        assert!(
            permissions >= 90,
            "{series}: the built-in Admin role alone holds 90+ permissions"
        );
        assert_eq!(run.stats.resources, users + roles + permissions);
        assert_eq!(
            run.stats.grants,
            lines.iter().filter(|l| l["type"] == "grant").count() as u64
        );
    }
}

/// The same directory syncs to the same identities, roles, role entitlements and memberships
/// on every generation; only timestamps and sign-in counters differ between servers.
#[tokio::test(flavor = "multi_thread")]
async fn every_generation_gives_the_same_sync_apart_from_timestamps_and_counters() {
    let mut outputs = Vec::new();
    for (series, _) in SERIES {
        let run = replay_sync(&format!("airflow-{series}/sync.json")).await;
        let mut normalised: Vec<String> = lines(&run.output)
            .into_iter()
            // Built-in roles hold different permissions per generation (Admin: 92 on 2.11, 99
            // on 3.0, 105 on 3.3); custom roles' permissions are checked against the directory.
            .filter(|l| {
                l["resource_type"] != "permission"
                    && !l["entitlement"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("permission:"))
            })
            .map(|mut l| {
                if let Some(obj) = l.as_object_mut() {
                    obj.remove("attributes");
                    if let Some(Value::Object(user)) = obj.get_mut("user") {
                        user.retain(|k, _| matches!(k.as_str(), "login" | "email" | "status"));
                    }
                }
                l.to_string()
            })
            .collect();
        normalised.sort();
        outputs.push((series, normalised));
    }
    let (first, reference) = &outputs[0];
    for (series, output) in &outputs[1..] {
        let missing: Vec<_> = reference
            .iter()
            .filter(|l| !output.contains(l))
            .take(3)
            .collect();
        let extra: Vec<_> = output
            .iter()
            .filter(|l| !reference.contains(l))
            .take(3)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{series} differs from {first}: missing {missing:?}, extra {extra:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn output_lines_have_exactly_the_documented_fields_in_order() {
    let run = replay_sync(SYNC).await;
    let keys = |t: &str, rt: Option<&str>| -> Vec<String> {
        let line = run
            .output
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Map<String, Value>>(l).unwrap())
            .find(|l| l["type"] == t && rt.is_none_or(|rt| l["resource_type"] == rt))
            .unwrap();
        line.keys().cloned().collect()
    };
    assert_eq!(
        keys("resource_type", None),
        ["type", "id", "display_name", "description", "traits"]
    );
    assert_eq!(
        keys("resource", Some("user")),
        [
            "type",
            "resource_type",
            "id",
            "display_name",
            "user",
            "attributes"
        ]
    );
    assert_eq!(
        keys("resource", Some("role")),
        ["type", "resource_type", "id", "display_name"]
    );
    assert_eq!(
        keys("entitlement", None),
        [
            "type",
            "id",
            "resource_type",
            "resource_id",
            "slug",
            "display_name",
            "description",
            "purpose",
            "grantable_to"
        ]
    );
    assert_eq!(
        keys("grant", None),
        [
            "type",
            "id",
            "entitlement",
            "principal_type",
            "principal_id"
        ]
    );

    let user: Value = run
        .output
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["id"] == "admin")
        .unwrap();
    let profile: Vec<&String> = user["user"].as_object().unwrap().keys().collect();
    assert_eq!(
        profile,
        [
            "login",
            "email",
            "status",
            "last_login",
            "login_count",
            "fail_login_count",
            "created_at"
        ]
    );
    assert_eq!(user["user"]["status"], "enabled");
    assert_eq!(user["display_name"], "Admin User");
}

/// Output order is the contract's: resource types, then all resources, entitlements, grants.
#[tokio::test(flavor = "multi_thread")]
async fn lines_come_in_phase_order() {
    let run = replay_sync(SYNC).await;
    let rank = |t: &str| {
        ["resource_type", "resource", "entitlement", "grant"]
            .iter()
            .position(|x| *x == t)
            .unwrap()
    };
    let ranks: Vec<usize> = lines(&run.output)
        .iter()
        .map(|l| rank(l["type"].as_str().unwrap()))
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
}

/// The peak the harness reports (`-v`) is the connector's linear memory: whole wasm pages,
/// never shrinking, within the limit.
#[tokio::test(flavor = "multi_thread")]
async fn the_connectors_peak_linear_memory_is_tracked_through_a_sync() {
    let mut h = replay("airflow-3.3/sync.json").await.unwrap();
    let before = h.guest_memory_peak().unwrap_or(0);
    let mut out = Vec::new();
    within(
        "sync",
        h.sync(&mut out, &host_harness::progress::NoProgress),
    )
    .await
    .unwrap();
    let peak = h
        .guest_memory_peak()
        .expect("the connector grew its memory");
    assert!(peak >= before, "{peak} < {before}");
    assert_eq!(peak % 65_536, 0, "whole wasm pages: {peak}");
    assert!(peak < 256 * 1024 * 1024, "within the default limit: {peak}");
}
