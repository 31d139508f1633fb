//! The command: argument parsing, settings from the environment, the sync's order and
//! de-duplication, and what each command prints.

use super::*;
use crate::cli_sync::{SyncSource, SyncStats};
use crate::model::{
    Capabilities, Entitlement, EntitlementPage, EntitlementPurpose, Grant, GrantPage, Resource,
    ResourcePage, ResourceRef, ResourceTrait, ResourceType,
};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn commands_parse_and_anything_else_is_refused() {
    assert_eq!(parse_args(&args(&["sync"])), Ok(Command::Sync));
    assert_eq!(parse_args(&args(&["validate"])), Ok(Command::Validate));
    assert_eq!(parse_args(&args(&["metadata"])), Ok(Command::Metadata));
    assert_eq!(parse_args(&args(&["--help"])), Ok(Command::Help));
    assert!(parse_args(&args(&[])).unwrap_err().contains("no command"));
    assert!(parse_args(&args(&["syncc"]))
        .unwrap_err()
        .contains("unknown command `syncc`"));
    let extra = parse_args(&args(&["sync", "--base-url", "x"])).unwrap_err();
    assert!(
        extra.contains("`--base-url`") && extra.contains("--env"),
        "{extra}"
    );
}

#[test]
fn settings_come_from_the_harness_variable_names() {
    let config = config_from_env(&env(&[
        ("AIRFLOW_BASE_URL", "http://127.0.0.1:8080"),
        ("BATON_AIRFLOW_BASE_URL", "http://ignored:1"),
        ("BATON_AIRFLOW_USERNAME", "admin"),
        ("AIRFLOW_PASSWORD", "pw-Secret-1"),
        ("BATON_PROVISIONING", "on"),
        ("PATH", "/bin"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(config.base_url, "http://127.0.0.1:8080");
    assert_eq!(config.identity(), Some("admin"));
    assert!(config.provisioning);
}

#[test]
fn every_other_setting_has_an_airflow_variable() {
    let config = config_from_env(&env(&[
        ("AIRFLOW_BASE_URL", "http://127.0.0.1:8080"),
        ("AIRFLOW_AUTH_MODE", "token"),
        ("AIRFLOW_TOKEN", "tok-123"),
        ("AIRFLOW_REQUEST_INTERVAL_MS", "5"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(config.request_interval_ms, 5);
    assert_eq!(config.identity(), None);
}

#[test]
fn no_setting_in_the_environment_leaves_the_instance_unconfigured() {
    assert!(config_from_env(&env(&[("HOME", "/root")]))
        .unwrap()
        .is_none());
}

#[test]
fn errors_name_the_variable_and_never_the_secret() {
    let err = config_from_env(&env(&[
        ("AIRFLOW_BASE_URL", "http://127.0.0.1:8080"),
        ("AIRFLOW_PASSWORD", "pw-Secret-1"),
    ]))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`username`") && text.contains("AIRFLOW_USERNAME or BATON_AIRFLOW_USERNAME"),
        "{text}"
    );

    let err = config_from_env(&env(&[
        ("BATON_AIRFLOW_BASE_URL", "ftp://x"),
        ("AIRFLOW_USERNAME", "admin"),
        ("AIRFLOW_PASSWORD", "pw-Secret-1"),
    ]))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("environment variable BATON_AIRFLOW_BASE_URL"),
        "{text}"
    );
    assert!(!text.contains("pw-Secret-1"), "{text}");
    assert!(matches!(err, Error::InvalidConfig { field, .. } if field == "base_url"));
}

fn caps(inline_resources: bool) -> Capabilities {
    Capabilities {
        sync: true,
        provision: false,
        inline_entitlements: true,
        inline_grants: true,
        inline_resources,
    }
}

fn rtype(id: &'static str, c: Capabilities) -> ResourceType {
    ResourceType {
        id,
        display_name: id,
        description: "",
        traits: vec![ResourceTrait::Role],
        capabilities: c,
    }
}

fn resource(t: &str, id: &str) -> Resource {
    Resource {
        resource_type: t.into(),
        id: id.into(),
        display_name: id.into(),
        user: None,
        attributes: vec![],
    }
}

fn entitlement(t: &str, id: &str) -> Entitlement {
    Entitlement {
        id: format!("{t}:{id}:member"),
        resource: ResourceRef::new(t, id),
        slug: "member".into(),
        display_name: id.into(),
        description: String::new(),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec!["user".into()],
    }
}

fn grant(role: &str, user: &str) -> Grant {
    Grant {
        id: format!("role:{role}:member:user:{user}"),
        entitlement_id: format!("role:{role}:member"),
        principal: ResourceRef::new("user", user),
    }
}

/// Roles in two pages, each carrying the same inline permission; a `group` type whose
/// entitlements and grants must be listed per resource; a type that is not synced.
struct Fake {
    calls: Vec<String>,
    /// The token the role page `p2` hands back: `None` ends the listing.
    after_p2: Option<&'static str>,
}

impl SyncSource for Fake {
    fn resource_types(&mut self) -> Vec<ResourceType> {
        let mut group = caps(false);
        group.inline_entitlements = false;
        group.inline_grants = false;
        let mut hidden = caps(false);
        hidden.sync = false;
        vec![
            rtype("role", caps(false)),
            rtype("perm", caps(true)),
            rtype("group", group),
            rtype("hidden", hidden),
        ]
    }
    fn list_resources(&mut self, t: &str, token: Option<&str>) -> Result<ResourcePage> {
        self.calls.push(format!("resources {t} {token:?}"));
        let page = |role: &str, next: Option<&str>| ResourcePage {
            resources: vec![resource("role", role), resource("perm", "read")],
            entitlements: vec![entitlement("role", role), entitlement("perm", "read")],
            grants: vec![grant(role, "alice")],
            next_page_token: next.map(str::to_string),
        };
        Ok(match (t, token) {
            ("role", None) => page("Admin", Some("p2")),
            ("role", Some("p2")) => page("Op", self.after_p2),
            ("role", Some("p3")) => page("Viewer", Some("p2")),
            ("group", None) => ResourcePage {
                resources: vec![resource("group", "g1")],
                ..ResourcePage::default()
            },
            other => panic!("unexpected {other:?}"),
        })
    }
    fn list_entitlements(
        &mut self,
        r: &ResourceRef,
        token: Option<&str>,
    ) -> Result<EntitlementPage> {
        self.calls.push(format!("entitlements {} {token:?}", r.id));
        Ok(EntitlementPage {
            entitlements: vec![entitlement(&r.resource_type, &r.id)],
            next_page_token: None,
        })
    }
    fn list_grants(&mut self, r: &ResourceRef, token: Option<&str>) -> Result<GrantPage> {
        self.calls.push(format!("grants {} {token:?}", r.id));
        Ok(match token {
            None => GrantPage {
                grants: vec![grant(&r.id, "bob")],
                next_page_token: Some("g2".into()),
            },
            Some(_) => GrantPage {
                grants: vec![grant(&r.id, "carol")],
                next_page_token: None,
            },
        })
    }
}

fn line_ids(out: &[u8]) -> Vec<String> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn sync_orders_lines_like_the_harness_and_writes_inline_resources_once() {
    let mut fake = Fake {
        calls: vec![],
        after_p2: None,
    };
    let mut out = Vec::new();
    let stats = sync(&mut fake, &mut out).unwrap();
    assert_eq!(
        line_ids(&out),
        [
            "resource_type role",
            "resource_type perm",
            "resource_type group",
            "resource_type hidden",
            "resource Admin",
            "resource read",
            "resource Op",
            "resource g1",
            "entitlement role:Admin:member",
            "entitlement perm:read:member",
            "entitlement role:Op:member",
            "entitlement group:g1:member",
            "grant role:Admin:member:user:alice",
            "grant role:Op:member:user:alice",
            "grant role:g1:member:user:bob",
            "grant role:g1:member:user:carol",
        ]
    );
    assert_eq!(
        fake.calls,
        [
            "resources role None",
            "resources role Some(\"p2\")",
            "resources group None",
            "entitlements g1 None",
            "grants g1 None",
            "grants g1 Some(\"g2\")",
        ]
    );
    assert_eq!(stats.resources, 4);
    assert_eq!(stats.resources_by_type["perm"], 1);
    assert_eq!((stats.entitlements, stats.grants), (4, 4));
}

#[test]
fn a_repeated_page_token_stops_the_sync() {
    let mut fake = Fake {
        calls: vec![],
        after_p2: Some("p2"),
    };
    let err = sync(&mut fake, &mut Vec::new()).unwrap_err().to_string();
    assert!(
        err.contains("page token `p2` twice while listing resources of type `role`"),
        "{err}"
    );
}

/// p2 → p3 → p2: no token repeats immediately, but paging on would never end.
#[test]
fn a_page_token_cycle_stops_the_sync() {
    let mut fake = Fake {
        calls: vec![],
        after_p2: Some("p3"),
    };
    let err = sync(&mut fake, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(&err, crate::cli_sync::SyncError::RepeatedToken { token, what }
            if token == "p2" && what == "resources of type `role`"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("page token `p2` twice while listing resources of type `role`"),
        "{err}"
    );
    assert_eq!(
        fake.calls,
        [
            "resources role None",
            "resources role Some(\"p2\")",
            "resources role Some(\"p3\")",
        ],
        "the cycle ends before `p2` is asked for again"
    );
}

#[test]
fn summary_reads_like_the_harness() {
    let stats = SyncStats {
        resource_types: 3,
        resources: 5,
        entitlements: 4,
        grants: 2,
        resources_by_type: [("role".to_string(), 2), ("user".to_string(), 3)].into(),
    };
    let session = vec![
        ("api".to_string(), "FastAPI".to_string()),
        ("discovery_requests".to_string(), "1".to_string()),
    ];
    assert_eq!(
        summary(&stats, 7, Duration::from_millis(1250), &session),
        "sync complete: 3 resource types, 5 resources (role 2, user 3), 4 entitlements, \
         2 grants; 7 HTTP requests (1 to detect the API); 1.25 s\n  api: FastAPI"
    );
}

/// Fails every request: the commands below must not need the network.
struct Offline;

impl Transport for Offline {
    fn send(&self, _: &Request) -> std::result::Result<Response, String> {
        Err("offline".into())
    }
}

fn run_command(words: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ok = run(&args(words), &env(vars), Offline, &mut out, &mut err).is_ok();
    (
        ok,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn metadata_needs_no_settings_and_prints_pretty_json() {
    let (ok, out, err) = run_command(&["metadata"], &[]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "airflow");
    assert!(out.ends_with("}\n"));
    assert_eq!(err, "");
}

#[test]
fn help_goes_to_stdout_and_a_bad_command_fails_with_usage_on_stderr() {
    let (ok, out, _) = run_command(&["--help"], &[]);
    assert!(ok && out.starts_with("Apache Airflow connector"), "{out}");
    let (ok, out, err) = run_command(&["snyc"], &[]);
    assert!(!ok);
    assert_eq!(out, "");
    assert!(
        err.starts_with("error: unknown command `snyc`") && err.contains("usage: wasmtime run"),
        "{err}"
    );
}

#[test]
fn sync_without_settings_says_how_to_pass_them() {
    let (ok, out, err) = run_command(&["sync"], &[]);
    assert!(!ok);
    assert_eq!(out, "");
    assert!(err.contains("--env AIRFLOW_BASE_URL="), "{err}");
}

#[test]
fn a_failed_sync_reports_the_connector_error_without_the_password() {
    let (ok, _, err) = run_command(
        &["sync"],
        &[
            ("AIRFLOW_BASE_URL", "http://127.0.0.1:9"),
            ("AIRFLOW_USERNAME", "admin"),
            ("AIRFLOW_PASSWORD", "pw-Secret-1"),
        ],
    );
    assert!(!ok);
    assert!(err.starts_with("error: sync failed: "), "{err}");
    assert!(
        err.contains("offline") && err.contains("incomplete"),
        "{err}"
    );
    assert!(!err.contains("pw-Secret-1"), "{err}");
}

#[test]
fn counting_forwards_and_counts() {
    let (transport, count) = Counting::new(Offline);
    let request = Request {
        method: crate::http::Method::Get,
        url: "http://x/".into(),
        headers: vec![],
        body: None,
    };
    assert!(transport.send(&request).is_err());
    assert!(transport.send(&request).is_err());
    assert_eq!(count.get(), 2);
}
