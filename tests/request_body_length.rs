//! Request bodies go out with a `content-length`, never chunked (issue 12, "HTTP bodies with a
//! length"). Python's http.server and some gateways do not take chunked request bodies: they
//! read the sign-in JSON as empty. The component runs live against a loopback server that
//! answers every chunked request 411 Length Required, as it does a POST or PATCH without a
//! `content-length`, and otherwise serves a tiny Airflow 3.3 (FastAPI FAB) directory;
//! `POST /auth/token` signs in only when the JSON body it got holds the right credentials.
//! A DELETE carries no body: without a length it is read as empty, so it is accepted.
//!
//! The plain `wasmtime run -S http` CLI streams the body to hyper as the guest writes it, so
//! there the component's own header is what keeps the request from going out chunked: the CLI
//! cases are the ones that catch a component that leaves it out. They also catch the second
//! way a declared length went wrong: hyper ends a length-framed body after its last byte and
//! closes the guest's stream, and a transport that read that as a failure made the connector
//! send the sign-in again (about every other run). So each CLI run must sign in exactly once.
//! The harness's live client buffers each request body before sending it (hyper then frames
//! it by its size whatever the guest said), so the harness cases only show that the header
//! does not get in the way of a live sync and a live delete.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;
#[path = "loopback_http/mod.rs"]
mod loopback_http;

use common::{require_component, within, REPLAY_TEST_PASSWORD};
use host_harness::progress::NoProgress;
use host_harness::wit::{OutcomeStatus, ProvisionAction, ResourceRef};
use host_harness::{Harness, HarnessOptions, HttpMode};
use loopback_http::{Request, Response, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};

const USERNAME: &str = "admin";
/// tests/secrets.rs scans the suite's output for this one.
const PASSWORD: &str = REPLAY_TEST_PASSWORD;
/// What `/auth/token` hands out: opaque, so the connector never renews it.
const TOKEN: &str = "t";
const API: &str = "/auth/fab/v1";
/// The account the delete cases remove.
const DELETED: &str = "bob";

/// One request as the server received it.
#[derive(Clone)]
struct Seen {
    method: String,
    target: String,
    content_length: Option<String>,
    transfer_encoding: Option<String>,
    body: Vec<u8>,
}

impl Seen {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// The framing, not the body: a sign-in body holds the password.
impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (content-length {:?}, transfer-encoding {:?}, {} body bytes)",
            self.line(),
            self.content_length,
            self.transfer_encoding,
            self.body.len()
        )
    }
}

#[derive(Default)]
struct Log {
    requests: Vec<Seen>,
    /// Requests the server refused for their framing, or could not read.
    problems: Vec<String>,
}

/// A loopback Airflow that refuses request bodies without a length.
struct LengthStrict {
    server: Server,
    log: Arc<Mutex<Log>>,
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

impl LengthStrict {
    fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let server = {
            let (answer_log, failed_log) = (log.clone(), log.clone());
            Server::start(
                move |_, request| answer(&mut lock(&answer_log), request),
                move |e| lock(&failed_log).problems.push(e),
            )
        };
        LengthStrict { server, log }
    }

    fn base_url(&self) -> String {
        self.server.base_url()
    }

    fn requests(&self) -> Vec<Seen> {
        lock(&self.log).requests.clone()
    }

    fn problems(&self) -> Vec<String> {
        lock(&self.log).problems.clone()
    }

    /// The requests `METHOD path` (query ignored) the server received.
    fn received(&self, method: &str, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.target.split('?').next() == Some(path))
            .collect()
    }

    /// Nothing refused, nothing chunked, a `content-length` on every request with a body (and
    /// every POST and PATCH), and each one equal to the bytes that arrived.
    fn assert_every_body_had_its_length(&self) {
        assert_eq!(self.problems(), Vec::<String>::new(), "refused requests");
        for seen in self.requests() {
            assert_eq!(seen.transfer_encoding, None, "{}", seen.line());
            let needs_length = needs_length(&seen.method) || !seen.body.is_empty();
            if needs_length || seen.content_length.is_some() {
                assert_eq!(
                    seen.content_length.as_deref(),
                    Some(seen.body.len().to_string().as_str()),
                    "{}: content-length against the body received",
                    seen.line()
                );
            }
        }
    }

    /// The sign-in happened with the JSON credentials, framed by their length.
    fn assert_signed_in_with_a_length(&self) {
        let sign_ins = self.received("POST", "/auth/token");
        assert!(!sign_ins.is_empty(), "no sign-in: {:?}", self.requests());
        for seen in sign_ins {
            let body: Value = serde_json::from_slice(&seen.body).expect("JSON sign-in body");
            assert_eq!(body["username"], USERNAME);
            assert_eq!(
                seen.content_length,
                Some(seen.body.len().to_string()),
                "the sign-in body's length"
            );
            assert!(seen.body.len() > 2, "a sign-in body with the credentials");
        }
    }
}

/// Methods whose requests carry a body: a server that wants lengths refuses them without one.
fn needs_length(method: &str) -> bool {
    matches!(method, "POST" | "PATCH")
}

fn json_response(status: u16, reason: &'static str, body: &Value) -> Response {
    Response {
        status,
        reason,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn answer(log: &mut Log, request: &Request) -> Response {
    let seen = Seen {
        method: request.method.clone(),
        target: request.target.clone(),
        content_length: request.header("content-length").map(str::to_string),
        transfer_encoding: request.header("transfer-encoding").map(str::to_string),
        body: request.body.clone(),
    };
    let line = seen.line();
    log.requests.push(seen);
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        log.problems.push(format!("{line}: chunked request body"));
        return json_response(
            411,
            "Length Required",
            &json!({"detail": "chunked request bodies are not accepted"}),
        );
    }
    if needs_length(&request.method) && request.header("content-length").is_none() {
        log.problems
            .push(format!("{line}: no content-length on a {}", request.method));
        return json_response(
            411,
            "Length Required",
            &json!({"detail": "content-length required"}),
        );
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    if (request.method.as_str(), path) == ("POST", "/auth/token") {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if body["username"] == USERNAME && body["password"] == PASSWORD {
            return json_response(201, "Created", &json!({ "access_token": TOKEN }));
        }
        // What FastAPI FAB says to an empty or incomplete body.
        return json_response(
            400,
            "Bad Request",
            &json!({"detail": "Username and password must be provided"}),
        );
    }
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return json_response(401, "Unauthorized", &json!({"detail": "Not authenticated"}));
    }
    match (request.method.as_str(), path) {
        ("GET", p) if p == format!("{API}/users") => {
            json_response(200, "OK", &page("users", users(), query))
        }
        ("GET", p) if p == format!("{API}/roles") => {
            json_response(200, "OK", &page("roles", roles(), query))
        }
        ("DELETE", p) if p == format!("{API}/users/{DELETED}") => Response {
            status: 204,
            reason: "No Content",
            headers: Vec::new(),
            body: Vec::new(),
        },
        _ => json_response(404, "Not Found", &json!({"detail": "Not Found"})),
    }
}

fn users() -> Vec<Value> {
    [("admin", "Admin"), ("alice", "Viewer"), (DELETED, "Viewer")]
        .iter()
        .map(|(name, role)| {
            json!({
                "username": name,
                "email": format!("{name}@example.com"),
                "first_name": name,
                "last_name": "Example",
                "roles": [{"name": role}],
                "active": true,
            })
        })
        .collect()
}

fn roles() -> Vec<Value> {
    [
        ("Admin", "can_edit", "Users"),
        ("Viewer", "can_read", "DAGs"),
    ]
    .iter()
    .map(|(name, action, resource)| {
        json!({
            "name": name,
            "actions": [{"action": {"name": action}, "resource": {"name": resource}}],
        })
    })
    .collect()
}

/// `{collection: [...], total_entries}` for the `offset` and `limit` in `query`.
fn page(collection: &str, rows: Vec<Value>, query: &str) -> Value {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let offset = param("offset").unwrap_or(0);
    let limit = param("limit").unwrap_or(100);
    let total = rows.len();
    let rows: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    json!({ collection: rows, "total_entries": total })
}

fn settings(server: &LengthStrict) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("base_url".to_string(), server.base_url()),
        ("username".to_string(), USERNAME.to_string()),
        ("password".to_string(), PASSWORD.to_string()),
        ("provisioning".to_string(), "true".to_string()),
    ])
}

async fn live_harness(server: &LengthStrict) -> Harness {
    require_component();
    let opts = HarnessOptions {
        mode: HttpMode::Live,
        settings: settings(server),
        ..Default::default()
    };
    within("instantiate + configure", Harness::new(opts))
        .await
        .expect("harness starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn harness_live_validate_and_sync_against_a_server_that_refuses_chunked_bodies() {
    let server = LengthStrict::start();
    let mut harness = live_harness(&server).await;

    let validation = within("validate", harness.validate())
        .await
        .unwrap_or_else(|e| panic!("validate failed: {e}\nseen: {:?}", server.problems()));
    assert_eq!(validation.identity, USERNAME);
    assert!(
        validation.system.contains("3 users, 2 roles"),
        "{}",
        validation.system
    );

    let mut out = Vec::new();
    let stats = within("sync", harness.sync(&mut out, &NoProgress))
        .await
        .unwrap_or_else(|e| panic!("sync failed: {e}\nseen: {:?}", server.problems()));
    assert_eq!(stats.resources_by_type.get("user"), Some(&3), "{stats:?}");
    assert_eq!(stats.resources_by_type.get("role"), Some(&2), "{stats:?}");

    server.assert_signed_in_with_a_length();
    server.assert_every_body_had_its_length();
}

#[tokio::test(flavor = "multi_thread")]
async fn harness_live_delete_is_not_refused() {
    let server = LengthStrict::start();
    let mut harness = live_harness(&server).await;
    let action = ProvisionAction::DeleteAccount(ResourceRef {
        resource_type: "user".into(),
        id: DELETED.into(),
    });
    let outcome = within("provision", harness.provision(&action))
        .await
        .unwrap_or_else(|e| panic!("delete failed: {e}\nseen: {:?}", server.problems()));
    assert_eq!(outcome.status, OutcomeStatus::Done, "{}", outcome.message);
    assert_eq!(
        server
            .received("DELETE", &format!("{API}/users/{DELETED}"))
            .len(),
        1
    );
    server.assert_every_body_had_its_length();
}

/// How many times the CLI signs in. The resend this guards against came from a race between
/// the guest's next call on the body stream and hyper's task, which a transport with that
/// defect loses in only some runs; one run is short, so the test makes many.
const CLI_RUNS: usize = 60;

/// `wasmtime run -S http … airflow_connector.command.wasm COMMAND` (the connector composed with
/// the command adapter). The password stays off the command line (the transcript logs it):
/// `--env NAME` without a value passes it on from wasmtime's own environment.
fn run_cli(server: &LengthStrict, command: &str) -> Output {
    require_component();
    let component = host_harness::engine::default_component_path().with_extension("command.wasm");
    assert!(
        component.exists(),
        "{} is missing: run `make component` (make test does)",
        component.display()
    );
    let base_url = format!("AIRFLOW_BASE_URL={}", server.base_url());
    let username = format!("AIRFLOW_USERNAME={USERNAME}");
    let mut cmd = Command::new(common::wasmtime_cli());
    cmd.args(["run", "-S", "http", "--env", &base_url, "--env", &username])
        .args(["--env", "AIRFLOW_PASSWORD"])
        .env("AIRFLOW_PASSWORD", PASSWORD)
        .arg(&component)
        .arg(command);
    let output = common::run_logged(&mut cmd);
    for text in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(text).contains(PASSWORD),
            "the password leaked"
        );
    }
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn wasmtime_cli_validate_signs_in_once_with_a_body_of_known_length() {
    for run in 1..=CLI_RUNS {
        let server = LengthStrict::start();
        let output = run_cli(&server, "validate");
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "run {run}: wasmtime run validate failed\nstderr: {stderr}\nrefused: {:?}",
            server.problems()
        );
        assert!(stdout.contains(USERNAME), "{stdout}");
        assert!(stdout.contains("3 users, 2 roles"), "{stdout}");
        assert_eq!(
            server.received("POST", "/auth/token").len(),
            1,
            "run {run}: one sign-in, not resent: {:?}",
            server.requests()
        );
        server.assert_signed_in_with_a_length();
        server.assert_every_body_had_its_length();
    }
}

#[test]
fn wasmtime_cli_sync_signs_in_once_with_a_body_of_known_length() {
    let server = LengthStrict::start();
    let output = run_cli(&server, "sync");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "wasmtime run sync failed\nstderr: {stderr}\nrefused: {:?}",
        server.problems()
    );
    let lines = common::lines(&stdout);
    let resources = |kind: &str| {
        lines
            .iter()
            .filter(|l| l["type"] == "resource" && l["resource_type"] == kind)
            .count()
    };
    assert_eq!((resources("user"), resources("role")), (3, 2), "{stdout}");
    assert_eq!(
        server.received("POST", "/auth/token").len(),
        1,
        "{:?}",
        server.requests()
    );
    server.assert_signed_in_with_a_length();
    server.assert_every_body_had_its_length();
}
