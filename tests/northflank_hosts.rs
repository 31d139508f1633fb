//! The Northflank component in the other hosts, live against the stand-in
//! (tests/northflank_standin): Node.js through jco (hosts/node/host.mjs, `make node-host`
//! transpiles it to target/node-host/northflank-connector) and the plain `wasmtime` CLI running
//! the composed `northflank_connector.command.wasm`. Each one's sync prints the harness's live
//! sync of the same (deterministic, reset between runs) organisation byte for byte, with the
//! same requests, and a token missing a permission arrives as the contract's typed error with
//! no output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
use common::text;
#[path = "northflank/standin.rs"]
mod standin;

use host_harness::progress::NoProgress;
use host_harness::{Harness, HarnessOptions, SyncStats};
use serde_json::Value;
use standin::Standin;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A live sync through the harness library with the named token.
async fn harness_sync(standin: &Standin, token: &str) -> (String, SyncStats) {
    let opts = standin.harness_options(token);
    let mut h = common::within("instantiate + configure", Harness::new(opts))
        .await
        .unwrap();
    let mut out = Vec::new();
    let stats = common::within("sync", h.sync(&mut out, &NoProgress))
        .await
        .unwrap_or_else(|e| panic!("the harness's live sync failed: {e}"));
    (text(&out), stats)
}

/// What the stand-in served since its last reset, as (method, path, query, status).
fn served(standin: &Standin) -> Vec<(String, String, Value, u64)> {
    standin
        .request_log()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["query"].clone(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The summary line every host prints after a sync of the seeded organisation, its counts
/// taken from the stand-in's own data: every member, role and group, an entitlement per role
/// and group, a grant per role-member row (explicit and implicit) and per group member
/// (directory users without an account included).
fn summary(standin: &Standin, requests: u64) -> String {
    let org = standin.org();
    let len = |v: &Value| v.as_array().unwrap().len();
    let (members, roles, groups) = (
        len(&org["members"]),
        len(&org["roles"]),
        len(&org["directoryGroups"]),
    );
    let role_rows: usize = org["roleMembers"]
        .as_object()
        .unwrap()
        .values()
        .map(len)
        .sum();
    let group_rows: usize = org["directoryGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| len(&g["members"]))
        .sum();
    format!(
        "sync complete: 4 resource types, {} resources (group {groups}, role {roles}, user \
         {members}), {} entitlements, {} grants; {requests} HTTP requests;",
        members + roles + groups,
        roles + groups,
        role_rows + group_rows
    )
}

fn assert_same_output(host: &str, got: &str, want: &str) {
    if got != want {
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        let show = |s: &str| {
            first
                .and_then(|i| s.lines().nth(i))
                .unwrap_or("")
                .to_string()
        };
        panic!(
            "{host} and the harness differ ({} vs {} lines); first differing line {first:?}:\n\
             {host}: {}\nharness: {}",
            got.lines().count(),
            want.lines().count(),
            show(got),
            show(want)
        );
    }
}

// --- Node.js ---------------------------------------------------------------------------------

/// The transpiled component; `make node-host` stamps it with the hash of the component it came
/// from, so a stale transpile fails here rather than testing an older component.
fn transpiled() -> PathBuf {
    let wasm = standin::component();
    let dir = common::repo().join("target/node-host/northflank-connector");
    let fix = "run `make node-host` (make test does) to install the pinned jco and transpile the components";
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not on PATH: install Node.js 20+, then {fix}"
    );
    let stamp = std::fs::read_to_string(dir.join("component.sha256"))
        .unwrap_or_else(|_| panic!("{} is missing: {fix}", dir.display()));
    let sha = Command::new("sha256sum").arg(&wasm).output().unwrap();
    assert_eq!(
        stamp.trim(),
        text(&sha.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default(),
        "{} was transpiled from another build of {}: {fix}",
        dir.display(),
        wasm.display()
    );
    dir
}

/// `node hosts/node/host.mjs --component DIR ARGS…` with the token and base URL in its
/// environment (NORTHFLANK_*), none inherited from the test's own.
fn node(standin: &Standin, token: &str, args: &[&str]) -> Output {
    node_with(standin, token, &[], args)
}

/// [`node`] with more variables in the host's environment.
fn node_with(standin: &Standin, token: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(common::repo().join("hosts/node/host.mjs"))
        .arg("--component")
        .arg(transpiled())
        .args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("NORTHFLANK_") || name.starts_with("BATON_NORTHFLANK_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("NORTHFLANK_API_TOKEN", Standin::token(token))
        .env("NORTHFLANK_BASE_URL", &standin.base_url)
        .env_remove("BATON_PROVISIONING")
        .envs(env.iter().copied());
    let output = common::run_logged(&mut cmd);
    let token = Standin::token(token);
    for printed in [&output.stdout, &output.stderr] {
        assert!(!text(printed).contains(&token), "the token was printed");
    }
    output
}

/// The typed error the Node host printed: `connector error in CALL: {"tag":…,"val":…}`, exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn node_sync_prints_the_harness_live_sync_byte_for_byte() {
    let standin = Standin::start(&[]);
    let (want, stats) = harness_sync(&standin, "full").await;
    let harness_requests = served(&standin);
    assert_eq!(harness_requests.len() as u64, stats.requests);

    standin.reset();
    let output = tokio::task::block_in_place(|| node(&standin, "full", &["sync"]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "node host failed: {stderr}");
    assert_same_output("node", &stdout, &want);
    assert_eq!(served(&standin), harness_requests, "the same requests");
    let summary = summary(&standin, stats.requests);
    assert!(stderr.starts_with(&summary), "{stderr}\nwant: {summary}");
    assert!(
        stderr.contains("directory_users_without_account: 3"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_metadata_is_the_harness_metadata() {
    let standin = Standin::start(&[]);
    let output = tokio::task::block_in_place(|| node(&standin, "full", &["metadata"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let opts = HarnessOptions {
        component: standin::component(),
        ..Default::default()
    };
    let mut h = Harness::instantiate(opts).await.unwrap();
    let metadata = h.metadata().await.unwrap();
    assert_eq!(got, host_harness::render::metadata(&metadata));
    assert_eq!(standin.requests()["count"], 0, "metadata makes no request");
}

/// Each missing scope arrives typed in JavaScript as `permission-denied` naming the
/// permission, from `validate` and from `sync`, and the sync prints nothing.
#[test]
fn node_gets_permission_denied_typed_naming_the_missing_permission() {
    let standin = Standin::start(&[]);
    for (token, permission) in [
        ("no-roles-read", "Organisation > Admin > Roles > Read"),
        ("no-members-read", "Organisation > Admin > Members > Read"),
    ] {
        for (command, call) in [("validate", "validate"), ("sync", "listResources")] {
            let output = node(&standin, token, &[command]);
            let error = common::node_typed_error(&output, call);
            assert_eq!(
                error["tag"], "permission-denied",
                "{token} {command}: {error}"
            );
            let message = error["val"].as_str().expect("a string payload");
            assert!(
                message.contains(&format!("`{permission}`")),
                "{token} {command}: {message}"
            );
            assert_eq!(text(&output.stdout), "", "{token} {command}: no output");
        }
    }
    let output = node(
        &standin,
        "writer",
        &["--set", "api_token=not-a-token", "validate"],
    );
    let error = common::node_typed_error(&output, "validate");
    assert_eq!(error["tag"], "unauthenticated", "{error}");
}

/// Node reads the settings by the hosts' one rule (sync-engine/src/env.rs): an empty
/// `NORTHFLANK_PROVISIONING` is unset, `BATON_PROVISIONING=on` enables provisioning, and the
/// grant lands in the stand-in's data.
#[test]
fn node_grants_a_role_with_provisioning_from_baton_provisioning() {
    let standin = Standin::start(&[]);
    let grant = [
        "provision-grant",
        "role:billing:member",
        "user:grace-hopper",
    ];
    let output = node_with(
        &standin,
        "writer",
        &[("NORTHFLANK_PROVISIONING", "")],
        &grant,
    );
    assert_eq!(
        common::node_typed_error(&output, "provision")["tag"],
        "unsupported"
    );
    assert_eq!(standin.requests()["count"], 0, "the gate sends nothing");

    let output = node_with(
        &standin,
        "writer",
        &[
            ("NORTHFLANK_PROVISIONING", ""),
            ("BATON_PROVISIONING", "on"),
        ],
        &grant,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(outcome["status"], "done", "{outcome}");
    assert_eq!(
        outcome["grant"]["id"],
        "role:billing:member:user:grace-hopper"
    );
    let rows: Vec<Value> = standin.org()["roleMembers"]["billing"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == "grace-hopper")
        .cloned()
        .collect();
    assert_eq!(
        rows,
        [serde_json::json!({"id": "grace-hopper", "type": "explicit"})]
    );
}

// --- The plain wasmtime CLI ------------------------------------------------------------------

fn command_component() -> PathBuf {
    let path = standin::component().with_extension("command.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `make component` (make test does)",
        path.display()
    );
    path
}

/// `wasmtime run -S http … northflank_connector.command.wasm COMMAND`, the settings under their
/// `BATON_NORTHFLANK_*` names, the token inherited from wasmtime's environment (off the
/// command line).
fn wasmtime(standin: &Standin, token: &str, command: &str) -> Output {
    let base_url = format!("BATON_NORTHFLANK_BASE_URL={}", standin.base_url);
    let output = common::run_logged(
        Command::new(common::wasmtime_cli())
            .args(["run", "-S", "http", "--env", &base_url])
            .args(["--env", "BATON_NORTHFLANK_API_TOKEN"])
            .arg(command_component())
            .arg(command)
            .env("BATON_NORTHFLANK_API_TOKEN", Standin::token(token)),
    );
    let token = Standin::token(token);
    for printed in [&output.stdout, &output.stderr] {
        assert!(!text(printed).contains(&token), "the token was printed");
    }
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_run_sync_prints_the_harness_live_sync_byte_for_byte() {
    let standin = Standin::start(&[]);
    let (want, stats) = harness_sync(&standin, "full").await;
    let harness_requests = served(&standin);

    standin.reset();
    let output = tokio::task::block_in_place(|| wasmtime(&standin, "full", "sync"));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "wasmtime run failed: {stderr}");
    assert_same_output("wasmtime", &stdout, &want);
    assert_eq!(served(&standin), harness_requests, "the same requests");
    let summary = summary(&standin, stats.requests);
    assert!(stderr.starts_with(&summary), "{stderr}\nwant: {summary}");
}

#[test]
fn wasmtime_run_sync_with_a_missing_permission_prints_nothing() {
    let standin = Standin::start(&[]);
    let output = wasmtime(&standin, "no-directory-groups-read", "sync");
    assert!(!output.status.success());
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: sync failed: permission denied: ")
            && stderr.contains("`Organisation > Admin > Roles > Read`")
            && stderr.contains("GET /v1/directory-groups"),
        "{stderr}"
    );
}
