//! No password, token or authorization header in anything the project commits or prints.
//!
//! The scanner looks for every configured credential (scripts/airflow/config.env, cassette
//! `settings`, the test suite's own passwords and tokens, their Basic forms) and, by shape, for
//! JWT, Basic, Bearer and Negotiate values, session cookies and CSRF tokens. It runs over the cassettes and golden files here, and — run by
//! `make test` after the whole suite (`the_whole_test_output_holds_no_secret`, ignored in the
//! suite itself) — over the suite's captured stdout/stderr (tests/out/test-output.log) and the
//! transcript the suite leaves in `TEST_TRANSCRIPT_DIR`: everything the CLI printed
//! (`common::run_logged`) and every error text the component returned, before the harness
//! scrubbed it (`host_harness::transcript`). A hit names the file, line and kind of secret,
//! never the secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use base64::Engine;
use common::*;
use host_harness::HarnessError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A credential to look for, and the name a hit reports instead of it.
struct Secret {
    name: String,
    value: String,
}

/// Passwords and tokens the test suite itself uses, with the file that must still hold each
/// (checked below, so this list follows the code).
const SUITE_SECRETS: [(&str, &str); 13] = [
    ("scripts/record.sh", "not-the-password"),
    ("scripts/record.sh", "Given-Pa55word-for-bob"),
    ("tests/common/mod.rs", REPLAY_TEST_PASSWORD),
    ("src/connector/tests/mod.rs", "pw-Secret-123"),
    ("src/connector/tests/mod.rs", "static-operator-token"),
    ("src/connector/tests/mod.rs", "csrf-tok-"),
    ("src/connector/tests/mod.rs", "anon-cookie-"),
    ("host-harness/src/http/mod.rs", "s3cret-password"),
    ("fuzz/src/lib.rs", "Fuzz-Secret-Pa55word"),
    ("tests/fault_suite.rs", "Fault-Suite-Pa55word"),
    ("tests/fault_limits.rs", "Limits-Pa55word-xyz"),
    ("tests/wasmtime_cli.rs", "cli-Test-Secret-42"),
    ("tests/standin_server/mod.rs", "standin-opaque-access-token"),
];

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|w| key.contains(w))
}

fn known_secrets() -> Vec<Secret> {
    let mut secrets = Vec::new();
    // config.env: `NAME=${NAME:-value}` for every password/token/secret variable.
    let env = std::fs::read_to_string(repo().join("scripts/airflow/config.env")).unwrap();
    for line in env.lines() {
        let Some((name, rest)) = line.split_once('=') else {
            continue;
        };
        if let Some(value) = rest.split_once(":-").map(|(_, v)| v.trim_end_matches('}')) {
            if is_secret_key(name) && !value.is_empty() {
                secrets.push(Secret {
                    name: format!("{name} of scripts/airflow/config.env"),
                    value: value.to_string(),
                });
            }
        }
    }
    assert!(
        secrets.len() >= 2,
        "config.env defines the admin and seed-user passwords"
    );
    // Every password/token a cassette's settings carry (the recorder stores none; a value other
    // than the placeholder would be one that leaked into the recording).
    for file in files_under(&repo().join("tests/cassettes")) {
        let cassette: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for (key, value) in cassette["settings"].as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            if is_secret_key(key) && !value.is_empty() && value != "[REDACTED]" {
                secrets.push(Secret {
                    name: format!("setting `{key}` of {}", file.display()),
                    value: value.to_string(),
                });
            }
        }
    }
    // The Northflank stand-in's test tokens: fake, but handled by the suite as the real ones
    // would be, so one in any output is a leak the scan must see.
    let org: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/northflank_standin/org.json")).unwrap(),
    )
    .unwrap();
    let tokens = org["tokens"].as_array().cloned().unwrap_or_default();
    assert!(
        tokens.len() >= 5,
        "org.json holds the stand-in's test tokens"
    );
    for t in tokens {
        secrets.push(Secret {
            name: format!(
                "Northflank stand-in token `{}`",
                t["name"].as_str().unwrap()
            ),
            value: t["token"].as_str().unwrap().to_string(),
        });
    }
    for (file, value) in SUITE_SECRETS {
        secrets.push(Secret {
            name: format!("test secret from {file}"),
            value: value.to_string(),
        });
    }
    // The Basic credential each password makes for the accounts the suite signs in as.
    let basic: Vec<Secret> = secrets
        .iter()
        .flat_map(|s| {
            ["admin", "svc-sync"].map(|user| Secret {
                name: format!("Basic pair of `{user}` and the {}", s.name),
                value: base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", s.value)),
            })
        })
        .collect();
    secrets.extend(basic);
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
    out.sort();
    out
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)
}

/// Text markers after which a credential-shaped value is a hit.
const MARKERS: [&str; 7] = [
    "eyJ",
    "Basic ",
    "Bearer ",
    "Negotiate ",
    "session=",
    "csrf_token",
    "csrfToken",
];

/// What the credential-shaped text at `rest` (just after a marker) looks like, if it is one.
fn shaped(marker: &str, rest: &str) -> Option<&'static str> {
    let value: String = rest.chars().take_while(|&c| token_char(c)).collect();
    match marker {
        // SPNEGO and raw Kerberos tokens are long base64 (`YII…`); a bare challenge is not.
        "Negotiate " => (value.len() >= 16).then_some("a Negotiate token"),
        // Flask's session cookie: an id and a signature, or signed data.
        "session=" => (value.len() >= 16).then_some("a session cookie"),
        // A form field (`csrf_token=…`), a JSON key (`"csrf_token": "…"`) or a login form's
        // hidden input (`name="csrf_token" type="hidden" value="…"`).
        "csrf_token" => {
            let after = rest.get(..rest.len().min(120))?;
            let start = after
                .find("value=\"")
                .map(|i| i + 7)
                .or_else(|| after.strip_prefix('=').map(|_| 1))
                .or_else(|| after.strip_prefix("\": \"").map(|_| 4))
                .or_else(|| after.strip_prefix("\":\"").map(|_| 3))?;
            let value: String = after
                .get(start..)?
                .chars()
                .take_while(|&c| token_char(c))
                .collect();
            (value.len() >= 16).then_some("a CSRF token")
        }
        // The same token in a login page's inline script (`var csrfToken = '…'`), as raw HTML
        // or inside a JSON string.
        "csrfToken" => {
            let after = rest.trim_start().strip_prefix(['=', ':'])?.trim_start();
            let after = after.strip_prefix('\\').unwrap_or(after);
            let value: String = after
                .strip_prefix(['\'', '"'])?
                .chars()
                .take_while(|&c| token_char(c))
                .collect();
            (value.len() >= 16).then_some("a CSRF token")
        }
        // A JWT: base64url JSON header, a dot, a payload.
        "eyJ" => {
            let (header, payload) = value.split_once('.')?;
            (header.len() >= 8 && !payload.is_empty()).then_some("a JWT")
        }
        // A Basic value decodes to `user:password`.
        "Basic " => base64::engine::general_purpose::STANDARD
            .decode(value.trim_end_matches('.'))
            .ok()
            .filter(|bytes| value.len() >= 8 && bytes.contains(&b':'))
            .map(|_| "a Basic authorization value"),
        // A bearer token: long, and not a plain word of prose.
        _ => (value.len() >= 16 && value.chars().any(|c| !c.is_ascii_alphabetic()))
            .then_some("a Bearer token"),
    }
}

/// The kinds of secret on each line of `text`: (1-based line, what). Never the secret itself.
fn scan_text(text: &str, secrets: &[Secret]) -> Vec<(usize, String)> {
    let mut hits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for s in secrets {
            if line.contains(&s.value) {
                hits.push((n + 1, s.name.clone()));
            }
        }
        for marker in MARKERS {
            for (i, _) in line.match_indices(marker) {
                let rest = &line[i + marker.len()..];
                if let Some(kind) = shaped(marker, rest) {
                    hits.push((n + 1, kind.to_string()));
                }
            }
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

/// `file:line: what` for every hit in `files`.
fn scan_files(files: &[PathBuf], secrets: &[Secret]) -> Vec<String> {
    let mut report = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        for (line, what) in scan_text(&String::from_utf8_lossy(&bytes), secrets) {
            report.push(format!("{}:{line}: {what}", file.display()));
        }
    }
    report
}

fn assert_clean(report: &[String]) {
    assert!(
        report.is_empty(),
        "secrets found (values not shown):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scanner_finds_a_planted_secret_and_reports_where_not_what() {
    let secrets = known_secrets();
    let admin_password = &secrets[0].value;
    let dir = std::env::temp_dir().join(format!("secrets-self-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let planted = dir.join("planted.log");
    let basic = base64::engine::general_purpose::STANDARD.encode("someone:hunter22");
    std::fs::write(
        &planted,
        format!(
            "clean line\nerror: login as admin with {admin_password} failed\n\
             authorization: Basic {basic}\nauthorization: Bearer abc123def456ghi789\n\
             token eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiIxIn0.sig\n\
             \"authorization\":\"[REDACTED]\",\"password\":\"[REDACTED]\"\n\
             Airflow 3.0 FAB API (Connexion, /auth/fab/v1, Basic); Bearer tokens; eyJ.real.token\n\
             set-cookie: session=c1a49bbc-89eb-4637-9468-906010e09d00.7MQykewHPyqFeyV6g2wNZQs9_gE; HttpOnly\n\
             csrf_token=ImUxZWVjNTk0ZjI1YTk4.Z2hpamtsbW5v&username=admin\n\
             <input id=\"csrf_token\" name=\"csrf_token\" type=\"hidden\" value=\"IjRiOGE4YzQ1.aGkx-_Mn\">\n\
             authorization: Negotiate YIIC9AYGKwYBBQUCoIIC6DCCAuSgDTALBgkqhkiG9xIBAgKiggLR\n\
             \"cookie\":\"session=[REDACTED]\",\"csrf_token\":\"[REDACTED]\",\"body\":\"csrf_token=[REDACTED]\"\n\
             the session login; WWW-Authenticate: Negotiate; value=\"[REDACTED]\" name=\"csrf_token\"\n\
             \"body\":\"<script>var csrfToken = 'IjQ2ZjE0YzM5.aWh3-Xyz9';</script>\"\n\
             var csrfToken = '[REDACTED]'; csrfToken = \\\"ImQ4ZmUyOTE0.YWJj_Zz\\\"\n"
        ),
    )
    .unwrap();
    let report = scan_files(std::slice::from_ref(&planted), &secrets);
    std::fs::remove_dir_all(&dir).ok();
    let at = |line: usize, what: &str| {
        report
            .iter()
            .any(|r| r.ends_with(&format!("planted.log:{line}: {what}")))
    };
    assert!(
        at(2, "AIRFLOW_ADMIN_PASSWORD of scripts/airflow/config.env"),
        "{report:?}"
    );
    assert!(at(3, "a Basic authorization value"), "{report:?}");
    assert!(at(4, "a Bearer token"), "{report:?}");
    assert!(at(5, "a JWT"), "{report:?}");
    assert!(at(8, "a session cookie"), "{report:?}");
    assert!(at(9, "a CSRF token"), "{report:?}");
    assert!(at(10, "a CSRF token"), "{report:?}");
    assert!(at(11, "a Negotiate token"), "{report:?}");
    assert!(at(14, "a CSRF token"), "{report:?}");
    assert!(at(15, "a CSRF token"), "{report:?}");
    assert_eq!(
        report.len(),
        10,
        "redactions and prose are not hits: {report:?}"
    );
    let text = report.join("\n");
    assert!(!text.contains(admin_password.as_str()) && !text.contains(&basic));
}

#[test]
fn the_suite_secrets_are_still_where_the_list_says() {
    for (file, value) in SUITE_SECRETS {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(
            text.contains(value),
            "{file} no longer holds a secret listed in SUITE_SECRETS: update the list"
        );
    }
}

#[test]
fn no_cassette_or_golden_file_holds_a_secret() {
    let secrets = known_secrets();
    let mut files = files_under(&repo().join("tests/cassettes"));
    files.extend(files_under(&repo().join("tests/golden")));
    assert!(files.len() >= 80, "found only {} files", files.len());
    assert_clean(&scan_files(&files, &secrets));
    for file in files
        .iter()
        .filter(|f| f.starts_with(repo().join("tests/cassettes")))
    {
        let cassette: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for i in cassette["interactions"].as_array().unwrap() {
            let req = &i["request"];
            if let Some(auth) = req["headers"].get("authorization") {
                assert_eq!(auth, "[REDACTED]", "{}", file.display());
            }
            // Cookies keep their names, never their values.
            let cookies = [
                req["headers"].get("cookie"),
                i["response"]["headers"].get("set-cookie"),
            ];
            for cookie in cookies.into_iter().flatten() {
                let cookie = cookie.as_str().unwrap();
                let first = cookie.split(';').next().unwrap();
                assert!(
                    first.ends_with("=[REDACTED]") || first == "[REDACTED]",
                    "{}: a cookie value is stored",
                    file.display()
                );
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

/// The component's error texts on every failing recorded scenario name no secret. The harness
/// scrubs configured secrets from them, so a `[REDACTED]` in the text means the component
/// itself repeated one.
#[tokio::test(flavor = "multi_thread")]
async fn component_error_texts_hold_no_secret() {
    let secrets = known_secrets();
    let mut texts = Vec::new();
    for (series, _) in SERIES {
        for name in ["bad-password", "no-read-permission"] {
            let mut h = replay(&format!("airflow-{series}/{name}.json"))
                .await
                .unwrap();
            let err = within(name, h.validate()).await.unwrap_err();
            texts.push((format!("{series}/{name}"), err));
        }
    }
    for (what, err) in &texts {
        let text = err.to_string();
        assert!(
            matches!(err, HarnessError::Connector(_)),
            "{what}: a typed connector error, got {text}"
        );
        assert!(
            !text.contains("[REDACTED]"),
            "{what}: the component repeated a secret"
        );
        let hits = scan_text(&text, &secrets);
        assert!(hits.is_empty(), "{what}: {hits:?}");
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
        ("airflow-3.0/bad-password.json", vec!["validate"]),
        ("airflow-2.11/no-read-permission.json", vec!["validate"]),
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
        let output = run_logged(
            cmd.env("AIRFLOW_PASSWORD", &secrets[0].value)
                .env("BATON_AIRFLOW_PASSWORD", &secrets[1].value),
        );
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            printed.contains("GET") || printed.contains("POST"),
            "--verbose shows requests: {printed}"
        );
        let hits = scan_text(&printed, &secrets);
        assert!(hits.is_empty(), "{recording}: printed {hits:?}");
    }
    std::fs::remove_dir_all(&out_dir).ok();
}

/// Run by `make test` after the suite (`--ignored`): the suite's captured output and its
/// transcript (CLI output, raw component error texts) hold no secret.
#[test]
#[ignore = "run by `make test` after the whole suite, over its captured output"]
fn the_whole_test_output_holds_no_secret() {
    let log = repo().join("tests/out/test-output.log");
    let transcript = std::env::var_os(host_harness::transcript::ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/out/transcript"));
    let output = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make test`, which writes it", log.display()));
    assert!(
        output.contains("test result: ok"),
        "{} holds no finished test run",
        log.display()
    );
    let mut files = vec![log];
    files.extend(files_under(&transcript));
    let named = |prefix: &str| {
        files.iter().any(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
    };
    // The hooks ran: the CLI runs and the component's error texts reached the transcript.
    assert!(
        named("cli-") && named("guest-"),
        "{} lacks cli-*.log or guest-*.log: was the suite run with {} set (make test)?",
        transcript.display(),
        host_harness::transcript::ENV
    );
    let report = scan_files(&files, &known_secrets());
    eprintln!("scanned {} files of the suite's output", files.len());
    assert_clean(&report);
}
