//! The second host (issue 12): Node.js running the unmodified component through jco
//! (hosts/node/host.mjs; `make node-host` installs the pinned jco and transpiles). Against a
//! loopback server replaying the recorded Airflow 3.3 directory, its sync prints the harness's
//! JSON Lines byte for byte, and contract errors reach JavaScript as typed `{tag, val}` values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
use common::text;
mod replay_server;

use std::path::PathBuf;
use std::process::{Command, Output};

use replay_server::ReplayServer;

const CASSETTE: &str = "airflow-3.3/sync.json";
/// Given to the host in its environment; the server scrubs it to the cassette's placeholder.
/// The suite's replay password, so the secret scan after `make test` (tests/secrets.rs) looks
/// for it in what the node host printed, too.
const PASSWORD: &str = common::REPLAY_TEST_PASSWORD;

/// The transpiled component; `make node-host` writes it with the hash of the component it came
/// from, so a stale transpile fails here rather than testing an older component.
fn transpiled() -> PathBuf {
    common::require_component();
    let dir = common::repo().join("target/node-host/airflow-connector");
    let fix = "run `make node-host` (make test does) to install the pinned jco and transpile the component";
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not on PATH: install Node.js 20+, then {fix}"
    );
    assert!(
        common::repo()
            .join("hosts/node/node_modules/@bytecodealliance/preview2-shim")
            .exists(),
        "hosts/node/node_modules is missing: {fix}"
    );
    let stamp = std::fs::read_to_string(dir.join("component.sha256"))
        .unwrap_or_else(|_| panic!("{} is missing: {fix}", dir.display()));
    let sha = Command::new("sha256sum")
        .arg(host_harness::engine::default_component_path())
        .output()
        .expect("sha256sum runs");
    let sha = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(
        stamp.trim(),
        sha.split_whitespace().next().unwrap_or_default(),
        "{} was transpiled from another build of the component: {fix}",
        dir.display()
    );
    dir
}

/// `node hosts/node/host.mjs --component DIR ARGS…` with the settings in its environment (the
/// password too, off the command line), against `server` when given.
fn run_host(server: Option<&ReplayServer>, args: &[&str]) -> Output {
    let dir = transpiled();
    let mut cmd = Command::new("node");
    cmd.arg(common::repo().join("hosts/node/host.mjs"))
        .arg("--component")
        .arg(&dir)
        .args(args);
    // Only the settings given here: none inherited from the test's own environment.
    for (name, _) in std::env::vars() {
        if name.starts_with("AIRFLOW_") || name.starts_with("BATON_AIRFLOW_") {
            cmd.env_remove(name);
        }
    }
    if let Some(server) = server {
        cmd.env("AIRFLOW_BASE_URL", server.base_url())
            .env("AIRFLOW_USERNAME", "admin")
            .env("AIRFLOW_PASSWORD", PASSWORD);
    }
    let output = common::run_logged(&mut cmd);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
    if let Some(server) = server {
        assert!(
            server.mismatches().is_empty(),
            "unanswered requests: {:?}\nstderr: {stderr}",
            server.mismatches()
        );
    }
    output
}

/// The typed error the host printed: `connector error in CALL: {"tag":…,"val":…}`, exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn node_sync_prints_the_harness_jsonl_byte_for_byte() {
    let harness = common::replay_sync(CASSETTE).await;
    let golden = std::fs::read_to_string(common::golden("airflow-3.3/sync.jsonl")).unwrap();
    assert_eq!(
        harness.output, golden,
        "the harness replays the golden file"
    );

    let server = ReplayServer::start(&common::cassette(CASSETTE), PASSWORD);
    let started = std::time::Instant::now();
    let output = tokio::task::block_in_place(|| run_host(Some(&server), &["sync"]));
    let elapsed = started.elapsed();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "node host failed: {stderr}");
    eprintln!("node host sync: {} ms; {stderr}", elapsed.as_millis());

    if stdout != golden {
        let first = stdout.lines().zip(golden.lines()).position(|(a, b)| a != b);
        let show = |s: &str| {
            first
                .and_then(|i| s.lines().nth(i))
                .unwrap_or("")
                .to_string()
        };
        panic!(
            "outputs differ ({} vs {} lines); first differing line {first:?}:\nnode:   {}\ngolden: {}",
            stdout.lines().count(),
            golden.lines().count(),
            show(&stdout),
            show(&golden)
        );
    }
    assert_eq!(
        server.unused(),
        Vec::<String>::new(),
        "the node sync made every recorded request"
    );
    assert!(
        stderr.starts_with(&format!(
            "sync complete: 3 resource types, 385 resources (permission 105, role 9, user 271), \
             114 entitlements, 644 grants; {} HTTP requests;",
            harness.stats.requests
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_metadata_and_validate_match_the_harness() {
    let output = run_host(None, &["metadata"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut harness = common::replay(CASSETTE).await.unwrap();
    let metadata = harness.metadata().await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(got, host_harness::render::metadata(&metadata));

    let name = "airflow-3.3/validate.json";
    let server = ReplayServer::start(&common::cassette(name), PASSWORD);
    let output = tokio::task::block_in_place(|| run_host(Some(&server), &["validate"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The system names the server it reached: the loopback one here, the recorded one there.
    let got = text(&output.stdout).replace(&server.base_url(), "http://127.0.0.1:28080");
    let got: serde_json::Value = serde_json::from_str(&got).expect("JSON");
    let mut harness = common::replay(name).await.unwrap();
    let want = harness.validate().await.unwrap();
    assert_eq!(got, host_harness::render::validation(&want));
    assert_eq!(server.unused(), Vec::<String>::new());
}

/// The gate: provisioning is off unless configured, and the refusal is a typed `unsupported`
/// error on the JavaScript side, before any request.
#[test]
fn a_grant_with_provisioning_off_is_refused_as_unsupported() {
    let server = ReplayServer::start(
        &common::cassette("airflow-3.3/provision/gate-off.json"),
        PASSWORD,
    );
    let output = run_host(
        Some(&server),
        &["provision-grant", "role:Op:member", "user:rec.alice"],
    );
    let error = common::node_typed_error(&output, "provision");
    assert_eq!(error["tag"], "unsupported", "{error}");
    let message = error["val"].as_str().expect("unsupported carries a string");
    assert!(
        message.contains("set the `provisioning` setting to `true`"),
        "{message}"
    );
    assert_eq!(text(&output.stdout), "");
}

/// A server's refusal arrives typed too: the recorded 401 of a wrong password is `unauthenticated`.
#[test]
fn a_wrong_password_is_unauthenticated() {
    let server = ReplayServer::start(&common::cassette("airflow-3.3/bad-password.json"), PASSWORD);
    let output = run_host(Some(&server), &["validate"]);
    let error = common::node_typed_error(&output, "validate");
    assert_eq!(error["tag"], "unauthenticated", "{error}");
    assert!(
        error["val"]
            .as_str()
            .is_some_and(|m| m.contains("`username` and `password`")),
        "{error}"
    );
    assert_eq!(server.unused(), Vec::<String>::new());
}

/// A setting the connector refuses is `invalid-config`, a record: `{field, message}`.
#[test]
fn a_malformed_setting_is_invalid_config_naming_the_field() {
    let server = ReplayServer::start(&common::cassette(CASSETTE), PASSWORD);
    let output = run_host(
        Some(&server),
        &["--set", "verify_delay_ms=soon", "validate"],
    );
    let error = common::node_typed_error(&output, "configure");
    assert_eq!(error["tag"], "invalid-config", "{error}");
    assert_eq!(error["val"]["field"], "verify_delay_ms", "{error}");
}

/// This host authenticates no request itself, so it refuses the contract's `host_auth` before
/// `configure` rather than let the connector send requests without credentials.
#[test]
fn host_provided_authentication_is_refused_before_configure() {
    let output = run_host(None, &["--set", "host_auth=negotiate", "validate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: `host_auth` is `negotiate` (--set host_auth)")
            && stderr.contains("this Node.js host does not")
            && !stderr.contains("connector error"),
        "{stderr}"
    );
}
