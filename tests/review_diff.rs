//! `host-harness diff` on real syncs: a real Airflow 3.3 before and after a grant, a revoke and
//! a new account made through the harness (scripts/record-review.sh, tests/fixtures/review/),
//! and two syncs with nothing changed in between.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

#[path = "review/mod.rs"]
mod review;

use review::{check_golden, code, fixture, out_dir, run, stderr, stdout};
use serde_json::{json, Value};

#[test]
fn a_grant_a_revoke_and_a_new_account_are_exactly_three_changes() {
    let (before, after) = (fixture("before.jsonl"), fixture("after.jsonl"));
    let o = run(&["diff", "--format", "jsonl", &before, &after]);
    assert_eq!(code(&o), 1, "different syncs exit 1: {}", stderr(&o));
    let changes: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            json!({"change":"account_added","resource_type":"user","id":"rev.new",
                   "display_name":"Rita New","login":"rev.new","email":"rev.new@example.com",
                   "status":"enabled","holds":["role:Viewer:member"]}),
            json!({"change":"grant_added","entitlement":"role:Op:member",
                   "entitlement_name":"Op role member","principal_type":"user",
                   "principal_id":"anna maria","grant":"role:Op:member:user:anna maria"}),
            json!({"change":"grant_removed","entitlement":"role:Data Engineer:member",
                   "entitlement_name":"Data Engineer role member","principal_type":"user",
                   "principal_id":"d.evans","grant":"role:Data Engineer:member:user:d.evans"}),
        ]
    );

    let text = run(&["diff", &before, &after]);
    assert_eq!(code(&text), 1);
    let dir = out_dir("diff");
    std::fs::write(dir.join("before-after.txt"), stdout(&text)).unwrap();
    std::fs::write(dir.join("before-after.jsonl"), stdout(&o)).unwrap();
    check_golden("diff", &dir, &["before-after.txt", "before-after.jsonl"]);
}

#[test]
fn the_same_changes_read_backwards_are_mirrored() {
    let o = run(&[
        "diff",
        "--format",
        "jsonl",
        &fixture("after.jsonl"),
        &fixture("before.jsonl"),
    ]);
    assert_eq!(code(&o), 1);
    let kinds: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["change"].to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "\"account_removed\"",
            "\"grant_added\"",
            "\"grant_removed\""
        ]
    );
    assert!(stdout(&o).contains("\"principal_id\":\"d.evans\""));
}

#[test]
fn two_real_syncs_with_nothing_changed_between_them_are_equal() {
    let (a, b) = (fixture("after.jsonl"), fixture("after-again.jsonl"));
    let o = run(&["diff", &a, &b]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("No changes from "), "{}", stdout(&o));
    let o = run(&["diff", "--format", "jsonl", &a, &a]);
    assert_eq!((code(&o), stdout(&o)), (0, String::new()));
    // They are two syncs: the connector's own sign-in moved the admin's bookkeeping, which
    // only --all-fields compares.
    let o = run(&["diff", "--all-fields", "--format", "jsonl", &a, &b]);
    assert_eq!(code(&o), 1);
    let fields: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["id"].as_str().unwrap(),
                v["field"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(fields, ["admin user.last_login", "admin user.login_count"]);
}

#[test]
fn bad_input_exits_2_naming_the_file_and_line() {
    let dir = out_dir("diff-bad");
    let good = review::repo().join(fixture("before.jsonl"));
    let text = std::fs::read_to_string(&good).unwrap();
    // Cut in the middle of the 100th line.
    let cut: usize = text.lines().take(99).map(|l| l.len() + 1).sum::<usize>() + 30;
    let truncated = dir.join("truncated.jsonl");
    std::fs::write(&truncated, &text[..cut]).unwrap();
    let o = run(&[
        "diff",
        &fixture("before.jsonl"),
        truncated.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        format!(
            "error: {}, line 100: the file ends in the middle of this record: it looks truncated\n",
            truncated.display()
        )
    );
    assert_eq!(stdout(&o), "", "nothing on stdout when the input is bad");

    let not_jsonl = dir.join("stats.json");
    std::fs::write(&not_jsonl, "{\n  \"requests\": 5\n}\n").unwrap();
    let o = run(&[
        "diff",
        not_jsonl.to_str().unwrap(),
        &fixture("before.jsonl"),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("stats.json, line 1: the record is cut short: incomplete JSON"),
        "{}",
        stderr(&o)
    );

    let o = run(&["diff", "no/such/file.jsonl", &fixture("before.jsonl")]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("error: cannot read no/such/file.jsonl: "),
        "{}",
        stderr(&o)
    );
}
