//! `host-harness report`: the findings of real Airflow directories against goldens (the recorded
//! directories of the three generations, and a real 3.3 directory seeded with the accounts a
//! review must find), the drift section, the thresholds as flags, and a page that fetches
//! nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

#[path = "review/mod.rs"]
mod review;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use review::{
    check_golden, code, csv_records, fixture, out_dir, run, stderr, stdout, sync_lines, taken_at,
};

/// The files whose content the goldens fix; the section CSVs are subsets of findings.csv.
const GOLDEN: [&str; 5] = [
    "summary.csv",
    "findings.csv",
    "privileged.csv",
    "roles.csv",
    "accounts.csv",
];

/// The recorded Airflow directories were synced on this day.
const RECORDED_AT: &str = "2026-12-03T15:00:00Z";

fn report(name: &str, sync: &str, taken: &str, extra: &[&str]) -> PathBuf {
    let dir = out_dir(name);
    let csv = dir.to_str().unwrap().to_string();
    let html = dir.join("report.html");
    let mut args = vec![
        "report",
        sync,
        "--taken-at",
        taken,
        "--csv",
        &csv,
        "--html",
        html.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("Access review of {sync} (taken ")),
        "{}",
        stdout(&o)
    );
    dir
}

fn column(dir: &Path, file: &str, label: &str) -> Vec<String> {
    csv_records(&dir.join(file))
        .into_iter()
        .map(|r| r[label].clone())
        .collect()
}

/// Accounts holding `role` in a sync, read straight from its grants.
fn holders(sync: &str, role: &str) -> BTreeSet<String> {
    let ent = format!("role:{role}:member");
    sync_lines(sync)
        .into_iter()
        .filter(|l| l["type"] == "grant" && l["entitlement"] == ent.as_str())
        .map(|l| l["principal_id"].as_str().unwrap().to_string())
        .collect()
}

/// (finding title, account, role) of every finding.
fn findings(dir: &Path) -> Vec<(String, String, String, String)> {
    csv_records(&dir.join("findings.csv"))
        .into_iter()
        .map(|r| {
            (
                r["Severity"].clone(),
                r["Finding"].clone(),
                r["Account"].clone(),
                r["Role"].clone(),
            )
        })
        .collect()
}

fn with_title<'a>(
    all: &'a [(String, String, String, String)],
    title: &str,
) -> Vec<&'a (String, String, String, String)> {
    all.iter().filter(|f| f.1 == title).collect()
}

fn own(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
fn the_seeded_airflow_3_3_directory_names_every_admin_equivalent_stale_and_failing_account() {
    let sync = fixture("before.jsonl");
    let dir = report("report-airflow-3.3-seeded", &sync, &taken_at(), &[]);

    // Every account that can administer access: the Admin role's members and the member of the
    // custom role `Access Manager`, which can create, edit and delete users.
    let want: BTreeSet<String> = holders(&sync, "Admin")
        .union(&holders(&sync, "Access Manager"))
        .cloned()
        .collect();
    assert_eq!(want.len(), 17);
    let privileged = csv_records(&dir.join("privileged.csv"));
    let got: BTreeSet<String> = privileged.iter().map(|r| r["Account"].clone()).collect();
    assert_eq!(got, want);
    let keyholder = privileged
        .iter()
        .find(|r| r["Account"] == "rev.keyholder")
        .unwrap();
    assert_eq!(
        (
            keyholder["Granted by"].as_str(),
            keyholder["Custom role"].as_str(),
            keyholder["Admin-equivalent permissions"].as_str()
        ),
        (
            "Access Manager",
            "yes",
            "can edit on Roles, can create on Users, can edit on Users, can delete on Users"
        )
    );

    let all = findings(&dir);
    assert_eq!(
        with_title(&all, "No sign-in for a long time"),
        [&own(
            "medium",
            "No sign-in for a long time",
            "rev.stale",
            "Op"
        )]
    );
    assert_eq!(
        with_title(&all, "Failed sign-ins"),
        [&own("medium", "Failed sign-ins", "rev.locked", "User")]
    );
    assert_eq!(
        with_title(&all, "Never signed in"),
        [&own("medium", "Never signed in", "rev.dormant", "Viewer")]
    );
    assert_eq!(
        with_title(&all, "Disabled but still holds roles"),
        [&own(
            "low",
            "Disabled but still holds roles",
            "rev.leaver",
            "Data Engineer"
        )]
    );
    assert_eq!(
        with_title(&all, "Admin-equivalent through a custom role"),
        [&own(
            "high",
            "Admin-equivalent through a custom role",
            "rev.keyholder",
            "Access Manager"
        )]
    );
    assert_eq!(
        with_title(&all, "Custom role with dangerous permissions"),
        [
            &own(
                "high",
                "Custom role with dangerous permissions",
                "",
                "Access Manager"
            ),
            &own(
                "medium",
                "Custom role with dangerous permissions",
                "",
                "Data Engineer"
            ),
        ]
    );
    // The 32 zero-role accounts of the directory, and no role without members.
    assert_eq!(with_title(&all, "Account without a role").len(), 32);
    assert!(with_title(&all, "Role without members").is_empty());
    // Each finding says what, why, and whom.
    for r in csv_records(&dir.join("findings.csv")) {
        assert!(
            !r["What"].is_empty() && r["Why it matters"].len() > 60,
            "{r:?}"
        );
        assert!(!(r["Account"].is_empty() && r["Role"].is_empty()), "{r:?}");
    }
    let stale = csv_records(&dir.join("stale.csv"));
    assert!(
        stale[0]["What"].starts_with("No sign-in for 400 days (last "),
        "{stale:?}"
    );

    let summary: BTreeMap<String, String> = csv_records(&dir.join("summary.csv"))
        .into_iter()
        .map(|r| (r["item"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(summary["Accounts"], "276");
    assert_eq!(summary["Disabled"], "1");
    assert_eq!(summary["Admin-equivalent accounts"], "17");
    assert_eq!(summary["Taken (how known)"], "given with --taken-at");
    assert_eq!(summary["Stale after days (--stale-days)"], "90");

    check_golden("airflow-3.3-seeded", &dir, &GOLDEN);
}

#[test]
fn the_recorded_directories_of_every_generation() {
    for series in ["3.3", "3.0", "2.11"] {
        let sync = format!("tests/golden/airflow-{series}/sync.jsonl");
        let dir = report(&format!("report-airflow-{series}"), &sync, RECORDED_AT, &[]);
        // No custom role there can administer access: the admin-equivalent accounts are
        // exactly the Admin role's members.
        let got: BTreeSet<String> = column(&dir, "privileged.csv", "Account")
            .into_iter()
            .collect();
        assert_eq!(got, holders(&sync, "Admin"), "{series}");
        assert_eq!(
            column(&dir, "privileged.csv", "Custom role"),
            vec!["no"; got.len()],
            "{series}"
        );
        check_golden(&format!("airflow-{series}"), &dir, &GOLDEN);
    }
}

#[test]
fn with_previous_the_drift_comes_first() {
    let dir = report(
        "report-airflow-3.3-drift",
        &fixture("after.jsonl"),
        &taken_at(),
        &["--previous", &fixture("before.jsonl")],
    );
    let drift = csv_records(&dir.join("drift.csv"));
    let rows: Vec<(&str, &str, &str)> = drift
        .iter()
        .map(|r| {
            (
                r["Change"].as_str(),
                r["Account or resource"].as_str(),
                r["Entitlement or field"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("account added", "user:rev.new", ""),
            (
                "grant added",
                "user:anna maria",
                "role:Op:member (Op role member)"
            ),
            (
                "grant removed",
                "user:d.evans",
                "role:Data Engineer:member (Data Engineer role member)"
            ),
        ]
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let sections: Vec<&str> = html
        .split("<section id=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        sections,
        [
            "summary",
            "drift",
            "privileged",
            "stale",
            "failed-sign-ins",
            "custom-roles",
            "roles-without-members",
            "accounts-without-role",
            "accounts",
            "roles"
        ]
    );
    check_golden("airflow-3.3-drift", &dir, &["drift.csv", "summary.csv"]);
}

#[test]
fn thresholds_are_flags_and_the_report_says_which_were_used() {
    let dir = report(
        "report-thresholds",
        &fixture("before.jsonl"),
        &taken_at(),
        &[
            "--stale-days",
            "500",
            "--failed-sign-ins",
            "9",
            "--builtin-roles",
            "Admin,Op,User,Viewer,Public,Access Manager,Data Engineer",
        ],
    );
    let all = findings(&dir);
    for title in [
        "No sign-in for a long time",
        "Never signed in",
        "Failed sign-ins",
        "Admin-equivalent through a custom role",
        "Custom role with dangerous permissions",
    ] {
        assert!(with_title(&all, title).is_empty(), "{title}: {all:?}");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for shown in [
        "no sign-in for <b>500</b> days",
        "Failed sign-ins: <b>9</b> or more",
        "Built-in roles: Admin, Op, User, Viewer, Public, Access Manager, Data Engineer",
    ] {
        assert!(
            html.contains(shown),
            "the page names the threshold: {shown}"
        );
    }

    let help = run(&["report", "--help"]);
    for default in [
        "--stale-days <DAYS>",
        "[default: 90]",
        "--failed-sign-ins <N>",
        "[default: 5]",
        "[default: Admin,Op,User,Viewer,Public]",
    ] {
        assert!(stdout(&help).contains(default), "--help shows {default}");
    }
    let o = run(&[
        "report",
        &fixture("before.jsonl"),
        "--taken-at",
        "last week",
    ]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: --taken-at `last week` is not a time: give e.g. 2026-12-03T14:00:00Z or 2026-12-03\n"
    );
}

#[test]
fn without_taken_at_the_sync_file_says_when_it_was_written() {
    let dir = out_dir("report-mtime");
    let copy = dir.join("sync.jsonl");
    std::fs::copy(review::repo().join(fixture("before.jsonl")), &copy).unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_798_761_600); // 2027-01-01
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let csv = dir.join("csv");
    let o = run(&[
        "report",
        copy.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary: BTreeMap<String, String> = csv_records(&csv.join("summary.csv"))
        .into_iter()
        .map(|r| (r["item"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(summary["Taken"], "2027-01-01 00:00 UTC");
    assert_eq!(
        summary["Taken (how known)"],
        "the sync file's modification time; --taken-at overrides it"
    );
    // Weeks later, the directory's own accounts that never signed in are older than 30 days.
    let dir2 = report(
        "report-mtime-30",
        &fixture("before.jsonl"),
        "2027-01-10",
        &["--stale-days", "30"],
    );
    assert!(with_title(&findings(&dir2), "Never signed in").len() > 200);
}

#[test]
fn the_page_is_one_file_that_fetches_nothing() {
    let dir = report(
        "report-self-contained",
        &fixture("after.jsonl"),
        &taken_at(),
        &["--previous", &fixture("before.jsonl")],
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for banned in [
        "http://", "https://", "<link", "<img", " src=", "url(", "@import", "<iframe",
    ] {
        assert!(!html.contains(banned), "the page contains `{banned}`");
    }
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
    ));
    assert_eq!(html.matches("<script").count(), 1, "one inline script");
    // Names from the directory are escaped: `o'brien` and `Seán O'Brien` never break out.
    assert!(html.contains("o&#39;brien") && !html.contains("o'brien"));
}
