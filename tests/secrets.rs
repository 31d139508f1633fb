//! No password, token or authorization header in anything the project commits or prints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The credentials the recordings were made with (scripts/airflow/config.env) and the wrong
/// password of the bad-password scenario (scripts/record.sh).
fn known_secrets() -> Vec<String> {
    let env = std::fs::read_to_string(repo().join("scripts/airflow/config.env")).unwrap();
    let mut secrets: Vec<String> = env
        .lines()
        .filter(|l| {
            l.starts_with("AIRFLOW_ADMIN_PASSWORD=") || l.starts_with("AIRFLOW_SEED_USER_PASSWORD=")
        })
        .map(|l| {
            // NAME=${NAME:-value}
            let value = l.split(":-").nth(1).unwrap().trim_end_matches('}');
            value.to_string()
        })
        .collect();
    assert_eq!(secrets.len(), 2, "config.env defines both passwords");
    secrets.push("not-the-password".into());
    // The password given to `create-account --password-stdin` by scripts/record.sh.
    secrets.push("Given-Pa55word-for-bob".into());
    secrets
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Finds what looks like a credential: a known password, a JWT, or a Basic/Bearer value.
fn leaks(text: &str, secrets: &[String]) -> Vec<String> {
    let mut found: Vec<String> = secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .cloned()
        .collect();
    for marker in ["eyJ", "Basic ", "Bearer "] {
        for (i, _) in text.match_indices(marker) {
            let rest: String = text[i + marker.len()..].chars().take(12).collect();
            if !rest.starts_with("[REDACTED]")
                && rest.chars().filter(|c| c.is_ascii_alphanumeric()).count() >= 8
            {
                found.push(format!("{marker}{rest}…"));
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_what_it_looks_for() {
    let secrets = known_secrets();
    assert!(!leaks(&format!("x {} y", secrets[0]), &secrets).is_empty());
    assert!(!leaks("authorization: Bearer abcdefghijklmnop", &secrets).is_empty());
    assert!(!leaks("Basic YWRtaW46YWRtaW4=", &secrets).is_empty());
    assert!(!leaks("eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiIxIn0.sig", &secrets).is_empty());
    assert!(leaks(
        r#""authorization":"[REDACTED]","password":"[REDACTED]""#,
        &secrets
    )
    .is_empty());
}

#[test]
fn no_cassette_or_golden_file_holds_a_secret() {
    let secrets = known_secrets();
    let mut files = files_under(&repo().join("tests/cassettes"));
    files.extend(files_under(&repo().join("tests/golden")));
    assert!(files.len() >= 5);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let found = leaks(&text, &secrets);
        assert!(found.is_empty(), "{} holds {found:?}", file.display());
        if file.extension().is_some_and(|e| e == "json") {
            let cassette: serde_json::Value = serde_json::from_str(&text).unwrap();
            for i in cassette["interactions"].as_array().unwrap() {
                let req = &i["request"];
                if let Some(auth) = req["headers"].get("authorization") {
                    assert_eq!(auth, "[REDACTED]", "{}", file.display());
                }
                if let Some(pw) = req["json"].get("password") {
                    assert_eq!(pw, "[REDACTED]", "{}", file.display());
                }
                if let Some(token) = i["response"]["json"].get("access_token") {
                    assert_eq!(token, "[REDACTED]", "{}", file.display());
                }
            }
        }
    }
}

/// The CLI, given the real password, never prints it or the token: not on success, not on
/// an authentication failure, not with --verbose.
#[test]
fn the_cli_prints_no_secret() {
    require_component();
    let harness = repo().join("target/debug/host-harness");
    assert!(harness.exists(), "build the harness first (make harness)");
    let secrets = known_secrets();
    let out_dir = std::env::temp_dir().join(format!("secrets-test-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for (recording, args) in [
        ("airflow-3.3/sync.json", vec!["sync", "--out"]),
        ("airflow-3.3/bad-password.json", vec!["validate"]),
        ("airflow-3.3/no-read-permission.json", vec!["validate"]),
    ] {
        let mut cmd = Command::new(&harness);
        cmd.arg("--verbose")
            .arg("--replay")
            .arg(cassette(recording))
            .args(&args);
        if args.contains(&"--out") {
            cmd.arg(out_dir.join("sync.jsonl"));
        }
        let output = cmd
            .env("AIRFLOW_PASSWORD", &secrets[0])
            .env("BATON_AIRFLOW_PASSWORD", &secrets[1])
            .output()
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            printed.contains("GET") || printed.contains("POST"),
            "--verbose shows requests: {printed}"
        );
        let found = leaks(&printed, &secrets);
        assert!(
            found.is_empty(),
            "{recording}: printed {found:?}:\n{printed}"
        );
    }
    std::fs::remove_dir_all(&out_dir).ok();
}
