//! The command component under the plain `wasmtime` CLI (pinned 48.0.2, installed by `make
//! tools`): `make component` composes the generic command adapter with the connector into
//! `airflow_connector.command.wasm`, and `wasmtime run -S http … airflow_connector.command.wasm
//! sync` against a loopback server replaying the recorded Airflow 3.3 sync prints the same bytes
//! as the harness replaying that cassette.

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
/// Given to the component as its password; the server scrubs it to the cassette's placeholder.
const PASSWORD: &str = "cli-Test-Secret-42";

/// The connector composed with the command adapter, beside the connector itself.
fn command_component() -> PathBuf {
    common::require_component();
    let path = host_harness::engine::default_component_path().with_extension("command.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `make component` (make test does)",
        path.display()
    );
    path
}

fn run_cli(server: &ReplayServer, command: &str) -> Output {
    let base_url = format!("AIRFLOW_BASE_URL={}", server.base_url());
    let component = command_component();
    let args = [
        "run",
        "-S",
        "http",
        "--env",
        &base_url,
        "--env",
        "AIRFLOW_USERNAME=admin",
        // Inherited from wasmtime's own environment: the secret stays off the command line.
        "--env",
        "AIRFLOW_PASSWORD",
        component.to_str().unwrap(),
        command,
    ];
    let output = common::run_logged(
        Command::new(common::wasmtime_cli())
            .args(args)
            .env("AIRFLOW_PASSWORD", PASSWORD),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
    assert!(
        server.mismatches().is_empty(),
        "unanswered requests: {:?}\nstderr: {stderr}",
        server.mismatches()
    );
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_run_sync_prints_the_harness_jsonl_byte_for_byte() {
    let harness = common::replay_sync(CASSETTE).await;

    let server = ReplayServer::start(&common::cassette(CASSETTE), PASSWORD);
    let output = tokio::task::block_in_place(|| run_cli(&server, "sync"));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "wasmtime run failed: {stderr}");

    if stdout != harness.output {
        let first = stdout
            .lines()
            .zip(harness.output.lines())
            .position(|(a, b)| a != b);
        panic!(
            "outputs differ ({} vs {} lines); first differing line: {first:?}",
            stdout.lines().count(),
            harness.output.lines().count()
        );
    }
    assert_eq!(
        server.unused(),
        Vec::<String>::new(),
        "the CLI sync made every recorded request"
    );

    let lines = common::lines(&stdout);
    let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count() as u64;
    assert_eq!(count("resource_type"), 3);
    assert_eq!(count("resource"), harness.stats.resources);
    assert_eq!(count("entitlement"), harness.stats.entitlements);
    assert_eq!(count("grant"), harness.stats.grants);
    assert_eq!(
        (
            harness.stats.resources,
            harness.stats.entitlements,
            harness.stats.grants
        ),
        (385, 114, 644),
        "the recorded Airflow 3.3 directory"
    );
    assert!(
        stderr.starts_with(&format!(
            "sync complete: 3 resource types, 385 resources (permission 105, role 9, user 271), \
             114 entitlements, 644 grants; {} HTTP requests;",
            harness.stats.requests
        )),
        "{stderr}"
    );
    assert!(stderr.contains("api: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_run_metadata_prints_what_the_harness_prints() {
    let server = ReplayServer::start(&common::cassette(CASSETTE), PASSWORD);
    let output = tokio::task::block_in_place(|| run_cli(&server, "metadata"));
    assert!(output.status.success(), "{}", text(&output.stderr));

    let mut harness = common::replay(CASSETTE).await.unwrap();
    let metadata = harness.metadata().await.unwrap();
    let mut want =
        serde_json::to_string_pretty(&host_harness::render::metadata(&metadata)).expect("JSON");
    want.push('\n');
    assert_eq!(text(&output.stdout), want);
    let recorded = host_harness::cassette::Cassette::load(&common::cassette(CASSETTE))
        .unwrap()
        .interactions
        .len();
    assert_eq!(server.unused().len(), recorded, "metadata makes no request");
}

#[test]
fn an_unknown_command_prints_usage_and_fails() {
    let server = ReplayServer::start(&common::cassette(CASSETTE), PASSWORD);
    let output = run_cli(&server, "syncc");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error: unknown command `syncc`") && stderr.contains("usage:"),
        "{stderr}"
    );
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn a_missing_setting_fails_with_the_typed_error_naming_its_variables() {
    let component = command_component();
    let output = common::run_logged(
        Command::new(common::wasmtime_cli())
            .args(["run", "-S", "http", "--env", "AIRFLOW_USERNAME=admin"])
            .arg(&component)
            .arg("validate"),
    );
    assert!(!output.status.success());
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: invalid config: field `base_url`: ")
            && stderr
                .contains("(set environment variable AIRFLOW_BASE_URL or BATON_AIRFLOW_BASE_URL)"),
        "{stderr}"
    );
}
