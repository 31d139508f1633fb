//! The same `diff` and `report` commands on Northflank syncs: the stand-in's recorded sync
//! against goldens, and two live syncs of the stand-in before and after a grant and a revoke
//! made through the harness.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

#[path = "review/mod.rs"]
mod review;
#[path = "northflank/standin.rs"]
mod standin;

use std::process::Command;

use review::{check_golden, code, csv_records, harness, out_dir, run, stderr, stdout};
use serde_json::{json, Value};
use standin::Standin;

const SYNC: &str = "tests/golden/northflank/sync.jsonl";

#[test]
fn the_report_of_the_stand_in_sync_says_what_the_sync_does_not_carry() {
    let dir = out_dir("report-northflank");
    let o = run(&[
        "report",
        SYNC,
        "--taken-at",
        "2026-12-03T15:00:00Z",
        "--csv",
        dir.to_str().unwrap(),
        "--html",
        dir.join("report.html").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    // Northflank's API has no sign-in data, and its connector maps no role permissions: the
    // report says so rather than reporting nobody as stale or privileged.
    assert!(
        out.contains("note: This sync carries no sign-in data"),
        "{out}"
    );
    assert!(
        out.contains("note: This sync carries no permissions of roles"),
        "{out}"
    );
    let findings = csv_records(&dir.join("findings.csv"));
    let kinds: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f["Finding"].as_str()).collect();
    assert_eq!(
        kinds,
        ["Account without a role", "Role without members"]
            .into_iter()
            .collect()
    );
    let empty_roles: Vec<&str> = findings
        .iter()
        .filter(|f| f["Finding"] == "Role without members")
        .map(|f| f["Role"].as_str())
        .collect();
    // `security-auditor` has no explicit member, but its directory group's members hold it.
    assert_eq!(empty_roles, ["unused"]);
    // Roles held through a directory group count their members.
    let roles = csv_records(&dir.join("roles.csv"));
    let viewer = roles.iter().find(|r| r["Role"] == "viewer").unwrap();
    assert_ne!(viewer["Members"], "0");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Not derived: this sync carries no permissions of roles."));
    check_golden(
        "northflank",
        &dir,
        &["summary.csv", "findings.csv", "roles.csv", "accounts.csv"],
    );
}

fn cli(standin: &Standin, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(harness());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("NORTHFLANK_") || name.starts_with("BATON_") {
            cmd.env_remove(name);
        }
    }
    let o = cmd
        .args(["--connector", "northflank"])
        .args(args)
        .env("NORTHFLANK_API_TOKEN", Standin::token("writer"))
        .env("NORTHFLANK_BASE_URL", &standin.base_url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

#[test]
fn a_grant_and_a_revoke_on_the_stand_in_are_exactly_two_changes() {
    let standin = Standin::start(&[]);
    let dir = out_dir("diff-northflank");
    let (before, after) = (dir.join("before.jsonl"), dir.join("after.jsonl"));
    let (before, after) = (before.to_str().unwrap(), after.to_str().unwrap());
    cli(&standin, &["sync", "--out", before]);
    cli(
        &standin,
        &[
            "--provisioning",
            "provision",
            "grant",
            "--entitlement",
            "role:billing:member",
            "--principal",
            "user:grace-hopper",
        ],
    );
    cli(
        &standin,
        &[
            "--provisioning",
            "provision",
            "revoke",
            "--entitlement",
            "role:admin:member",
            "--principal",
            "user:alan-weber",
        ],
    );
    cli(&standin, &["sync", "--out", after]);

    let o = run(&["diff", "--format", "jsonl", before, after]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let changes: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            json!({"change":"grant_added","entitlement":"role:billing:member",
                   "entitlement_name":"Member of org role Billing","principal_type":"user",
                   "principal_id":"grace-hopper","grant":"role:billing:member:user:grace-hopper"}),
            json!({"change":"grant_removed","entitlement":"role:admin:member",
                   "entitlement_name":"Member of org role Admin","principal_type":"user",
                   "principal_id":"alan-weber","grant":"role:admin:member:user:alan-weber"}),
        ]
    );
    assert_eq!(code(&run(&["diff", before, before])), 0);

    let csv = dir.join("csv");
    let o = run(&[
        "report",
        after,
        "--previous",
        before,
        "--csv",
        csv.to_str().unwrap(),
        "--html",
        dir.join("report.html").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(": 2\n"), "{}", stdout(&o));
    assert_eq!(csv_records(&csv.join("drift.csv")).len(), 2);
}
