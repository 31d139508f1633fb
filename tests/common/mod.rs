//! Shared by the replay integration tests: paths, a named deadline on every await, and a
//! replayed sync run through the harness library.
#![allow(dead_code)]

use host_harness::progress::NoProgress;
use host_harness::{Harness, HarnessError, HarnessOptions, SyncStats};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Every recorded Airflow series, and the API the connector should detect on it.
pub const SERIES: [(&str, &str); 3] = [
    ("3.3", "FastAPI"),
    ("3.0", "Connexion"),
    ("2.11", "Airflow 2"),
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cassette(name: &str) -> PathBuf {
    repo().join("tests/cassettes").join(name)
}

pub fn golden(name: &str) -> PathBuf {
    repo().join("tests/golden").join(name)
}

/// The tests exercise the built component; a missing build is a failure, not a skip.
pub fn require_component() {
    let path = host_harness::engine::default_component_path();
    assert!(
        path.exists(),
        "{} is missing: run `make component` (make test does)",
        path.display()
    );
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 120 s"))
}

/// The password replayed tests configure. Replay accepts any password (the recordings hold
/// `[REDACTED]`), so a distinctive one lets the secret scan after the suite (tests/secrets.rs)
/// catch the component repeating it in an error text or output.
pub const REPLAY_TEST_PASSWORD: &str = "Replay-Test-Pa55word-7q";

pub async fn replay(cassette_name: &str) -> Result<Harness, HarnessError> {
    require_component();
    let mut opts = HarnessOptions::replay(cassette(cassette_name))?;
    opts.settings
        .insert("password".into(), REPLAY_TEST_PASSWORD.into());
    within("instantiate + configure", Harness::new(opts)).await
}

pub struct SyncRun {
    pub output: String,
    pub stats: SyncStats,
    pub unused: Vec<String>,
}

pub async fn replay_sync(cassette_name: &str) -> SyncRun {
    let mut harness = replay(cassette_name).await.expect("harness starts");
    let mut out = Vec::new();
    let stats = within("sync", harness.sync(&mut out, &NoProgress))
        .await
        .unwrap_or_else(|e| panic!("replayed sync of {cassette_name} failed: {e}"));
    let unused = harness.unused_interactions();
    SyncRun {
        output: String::from_utf8(out).expect("JSONL is UTF-8"),
        stats,
        unused,
    }
}

pub fn lines(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

/// Runs a CLI process and returns its output, appending what it printed to the test transcript
/// (`TEST_TRANSCRIPT_DIR`, set by `make test`) for the secret scan after the suite. Every test
/// that runs the CLI goes through here, so the scan sees everything the CLI printed.
pub fn run_logged(cmd: &mut std::process::Command) -> std::process::Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    if let Some(dir) = std::env::var_os(host_harness::transcript::ENV) {
        use std::io::Write;
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        let path = std::path::Path::new(&dir).join(format!("cli-{}.log", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        write!(
            file,
            "=== {} {}\n--- stdout\n{}\n--- stderr\n{}\n",
            cmd.get_program().to_string_lossy(),
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .unwrap();
    }
    output
}

/// The pinned plain `wasmtime` CLI. A missing one fails the test: `make test` installs it, so
/// its absence is a broken setup.
pub fn wasmtime_cli() -> PathBuf {
    let path = repo().join(".tools/bin/wasmtime");
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (make test does) to install the pinned wasmtime CLI",
        path.display()
    );
    path
}

/// A host's output as text; the hosts write UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// The typed contract error the Node.js host (hosts/node/host.mjs) reports for `call`: exit
/// status 2 and a `connector error in CALL: {"tag":…,"val":…}` line on stderr.
pub fn node_typed_error(output: &std::process::Output, call: &str) -> serde_json::Value {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let prefix = format!("connector error in {call}: ");
    let payload = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in: {stderr}"));
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}
