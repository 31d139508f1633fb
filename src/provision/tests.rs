//! Provisioning against a stateful fake of Airflow 3's user API.

use super::*;
use crate::config::Config;
use crate::connector::Connector;
use crate::http::{Method, Request, Response};
use crate::model::ProvisionAction;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

thread_local! {
    /// The fake transport's monotonic clock: requests advance it by their latency and pauses by
    /// their length, so every wait and round trip below is exact and nothing sleeps. Each test
    /// runs on its own thread; only differences are ever read, so the origin does not matter.
    static CLOCK: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

fn now() -> Duration {
    CLOCK.with(Cell::get)
}

fn advance(by: Duration) {
    CLOCK.with(|c| c.set(c.get() + by));
}

/// Another writer that read before our next PATCH and writes its stale copy `after` it.
struct Competitor {
    after: Duration,
    write: Box<dyn Fn(&FakeUsers)>,
}

#[derive(Default)]
struct FakeUsers {
    /// username -> roles, in order.
    users: RefCell<BTreeMap<String, Vec<String>>>,
    /// role -> (action, resource) pairs.
    roles: RefCell<BTreeMap<String, Vec<(String, String)>>>,
    /// Another writer's stale role list, written right after our next N PATCHes.
    clobber: RefCell<Vec<Vec<String>>>,
    log: RefCell<Vec<(Method, String, Option<Value>)>>,
    pauses: Cell<u32>,
    /// Requests of these methods are carried out but their answers lost, in order.
    lose: RefCell<Vec<Method>>,
    /// Transient statuses answered (without acting) to the next API requests.
    busy: RefCell<Vec<u16>>,
    /// How long each request takes (fake time), unless `slow` names this one.
    latency: Cell<Duration>,
    /// The latencies of the next API requests, in order (sign-in excluded).
    slow: RefCell<VecDeque<Duration>>,
    /// Every pause, in order.
    waits: RefCell<Vec<Duration>>,
    /// Armed one per PATCH of ours, in order.
    competitors: RefCell<VecDeque<Competitor>>,
    /// Armed competitors' writes and when they land.
    landing: RefCell<Vec<(Duration, Competitor)>>,
    /// The next PATCHes of a user's roles fail with 500; `true`: after taking effect.
    failing_patches: RefCell<VecDeque<bool>>,
}

impl FakeUsers {
    fn new(users: &[(&str, &[&str])]) -> Self {
        let roles = ["Admin", "Op", "Viewer", "Public"]
            .into_iter()
            .map(|r| {
                let perms = if r == "Admin" {
                    vec![("can_edit".to_string(), "Users".to_string())]
                } else {
                    vec![]
                };
                (r.to_string(), perms)
            })
            .collect();
        FakeUsers {
            users: RefCell::new(
                users
                    .iter()
                    .map(|(u, r)| (u.to_string(), r.iter().map(|x| x.to_string()).collect()))
                    .collect(),
            ),
            roles: RefCell::new(roles),
            ..Default::default()
        }
    }

    fn roles_of(&self, user: &str) -> Vec<String> {
        self.users.borrow().get(user).cloned().unwrap_or_default()
    }

    fn writes(&self) -> Vec<(Method, String)> {
        self.log
            .borrow()
            .iter()
            .filter(|(m, _, _)| *m != Method::Get)
            .filter(|(_, p, _)| p != "/auth/token")
            .map(|(m, p, _)| (*m, p.clone()))
            .collect()
    }

    fn find(&self, name: &str) -> Option<String> {
        self.users
            .borrow()
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
    }

    fn user_json(&self, name: &str) -> Value {
        let roles: Vec<Value> = self
            .roles_of(name)
            .iter()
            .map(|r| json!({"name": r}))
            .collect();
        json!({"username": name, "email": format!("{name}@example.com"), "first_name": "F", "last_name": "L",
               "roles": roles, "active": true})
    }
}

fn answer(status: u16, body: Value) -> std::result::Result<Response, String> {
    Ok(Response {
        status,
        headers: vec![],
        body: if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        },
    })
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Transport for &FakeUsers {
    fn monotonic_now() -> Duration {
        now()
    }

    fn send(&self, request: &Request) -> std::result::Result<Response, String> {
        let api = !request.url.ends_with("/auth/token");
        let latency = match api {
            true => self.slow.borrow_mut().pop_front(),
            false => None,
        };
        // The server acts when the request arrives, after the whole latency: a competitor's
        // write due by then is already in place.
        advance(latency.unwrap_or(self.latency.get()));
        self.land_competitors();
        if api && !self.busy.borrow().is_empty() {
            let status = self.busy.borrow_mut().remove(0);
            self.log
                .borrow_mut()
                .push((request.method, "busy".into(), None));
            return answer(status, json!({"detail": "try later"}));
        }
        let result = self.handle(request);
        let lost = api && self.lose.borrow().first() == Some(&request.method);
        if lost {
            self.lose.borrow_mut().remove(0);
            return Err("connection reset by peer".into());
        }
        result
    }

    fn pause(&self, duration: Duration) {
        self.pauses.set(self.pauses.get() + 1);
        self.waits.borrow_mut().push(duration);
        advance(duration);
    }
}

impl FakeUsers {
    fn land_competitors(&self) {
        let due: Vec<Competitor> = {
            let mut landing = self.landing.borrow_mut();
            let (due, later) = landing.drain(..).partition(|(at, _)| *at <= now());
            *landing = later;
            due.into_iter().map(|(_, c)| c).collect()
        };
        for competitor in due {
            (competitor.write)(self);
        }
    }

    /// Called after each PATCH of ours took effect.
    fn arm_competitor(&self) {
        let next = self.competitors.borrow_mut().pop_front();
        if let Some(c) = next {
            self.landing.borrow_mut().push((now() + c.after, c));
            self.land_competitors();
        }
    }

    fn competitor(&self, after: Duration, write: impl Fn(&FakeUsers) + 'static) {
        self.competitors.borrow_mut().push_back(Competitor {
            after,
            write: Box::new(write),
        });
    }

    fn waits(&self) -> Vec<Duration> {
        self.waits.borrow().clone()
    }

    fn count(&self, method: Method, path: &str) -> usize {
        self.log
            .borrow()
            .iter()
            .filter(|(m, p, _)| *m == method && p == path)
            .count()
    }

    fn handle(&self, request: &Request) -> std::result::Result<Response, String> {
        let path = request
            .url
            .trim_start_matches("http://airflow.test")
            .to_string();
        let body: Option<Value> = request
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok());
        self.log
            .borrow_mut()
            .push((request.method, path.clone(), body.clone()));
        let route = path.split('?').next().unwrap_or("");
        if route == "/auth/token" {
            return answer(201, json!({"access_token": "t"}));
        }
        let not_found = |name: &str| {
            answer(
                404,
                json!({"detail": format!("The User with username `{name}` was not found")}),
            )
        };
        if let Some(name) = route.strip_prefix("/auth/fab/v1/roles/") {
            let name = decode(name);
            if request.method == Method::Patch {
                let actions: Vec<(String, String)> = body.unwrap_or_default()["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| {
                        Some((
                            a["action"]["name"].as_str()?.to_string(),
                            a["resource"]["name"].as_str()?.to_string(),
                        ))
                    })
                    .collect();
                let found = match self.roles.borrow_mut().get_mut(&name) {
                    Some(perms) => {
                        *perms = actions;
                        true
                    }
                    None => false,
                };
                if !found {
                    return answer(404, json!({"detail": "no such role"}));
                }
                self.arm_competitor();
                return answer(200, json!({"name": name}));
            }
            return match self.roles.borrow().get(&name) {
                Some(perms) => answer(
                    200,
                    json!({"name": name, "actions": perms.iter().map(|(a, r)| json!({"action": {"name": a}, "resource": {"name": r}})).collect::<Vec<_>>()}),
                ),
                None => answer(404, json!({"detail": "no such role"})),
            };
        }
        if route == "/auth/fab/v1/users" && request.method == Method::Post {
            let body = body.unwrap_or_default();
            let name = body["username"].as_str().unwrap_or_default().to_string();
            if self.find(&name).is_some() {
                return answer(
                    409,
                    json!({"detail": format!("Username `{name}` already exists. Use PATCH to update.")}),
                );
            }
            let roles: Vec<String> = body["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect();
            if let Some(bad) = roles.iter().find(|r| !self.roles.borrow().contains_key(*r)) {
                return answer(400, json!({"detail": format!("Unknown roles: '{bad}'")}));
            }
            self.users.borrow_mut().insert(name.clone(), roles);
            return answer(200, self.user_json(&name));
        }
        let Some(name) = route.strip_prefix("/auth/fab/v1/users/").map(decode) else {
            return answer(404, json!({"detail": "Not Found"}));
        };
        let Some(name) = self.find(&name) else {
            return not_found(&name);
        };
        match request.method {
            Method::Get => answer(200, self.user_json(&name)),
            Method::Delete => {
                self.users.borrow_mut().remove(&name);
                answer(204, Value::Null)
            }
            Method::Patch => {
                let failing = self.failing_patches.borrow_mut().pop_front();
                if failing == Some(false) {
                    return answer(
                        500,
                        json!({"detail": format!("Failed to update user `{name}`")}),
                    );
                }
                let roles: Vec<String> = body.unwrap_or_default()["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["name"].as_str().map(String::from))
                    .collect();
                if let Some(bad) = roles.iter().find(|r| !self.roles.borrow().contains_key(*r)) {
                    return answer(400, json!({"detail": format!("Unknown roles: '{bad}'")}));
                }
                self.users.borrow_mut().insert(name.clone(), roles);
                let response = self.user_json(&name);
                let stale = {
                    let mut c = self.clobber.borrow_mut();
                    if c.is_empty() {
                        None
                    } else {
                        Some(c.remove(0))
                    }
                };
                if let Some(stale) = stale {
                    self.users.borrow_mut().insert(name.clone(), stale);
                }
                self.arm_competitor();
                if failing == Some(true) {
                    return answer(
                        500,
                        json!({"detail": format!("Failed to update user `{name}`")}),
                    );
                }
                answer(200, response)
            }
            Method::Post => answer(405, Value::Null),
        }
    }
}

fn connector(fake: &FakeUsers, provisioning: bool) -> Connector<&FakeUsers> {
    connector_with_floor(fake, provisioning, 300)
}

fn connector_with_floor(
    fake: &FakeUsers,
    provisioning: bool,
    verify_delay_ms: u64,
) -> Connector<&FakeUsers> {
    Connector::new(
        fake,
        Config {
            base_url: "http://airflow.test".into(),
            credentials: crate::config::Credentials::Password {
                username: "admin".into(),
                password: "pw".into(),
                login: crate::config::Login::Direct,
            },
            api_generation: Some(crate::airflow::generation::Generation::FabFastApi),
            provisioning,
            default_role: "Public".into(),
            verify_delay_ms,
            request_interval_ms: 0,
            page_concurrency: 1,
            allow_insecure_http: false,
        },
    )
}

fn user(id: &str) -> ResourceRef {
    ResourceRef::new("user", id)
}

fn grant(role: &str, id: &str) -> ProvisionAction {
    ProvisionAction::Grant(format!("role:{role}:member"), user(id))
}

#[test]
fn the_gate_refuses_every_action_and_sends_nothing() {
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    let mut c = connector(&fake, false);
    for action in [
        grant("Op", "alice"),
        ProvisionAction::Revoke(RevokeTarget::GrantId(
            "role:Viewer:member:user:alice".into(),
        )),
        ProvisionAction::DeleteAccount(user("alice")),
    ] {
        let err = c.provision(&action).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
        assert!(
            err.to_string()
                .contains("set the `provisioning` setting to `true`"),
            "{err}"
        );
    }
    assert!(fake.log.borrow().is_empty());
}

#[test]
fn grant_adds_the_role_verifies_and_a_repeat_is_already_done_without_a_write() {
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(out.grant.unwrap().id, "role:Op:member:user:alice");
    assert_eq!(fake.roles_of("alice"), ["Viewer", "Op"]);
    assert_eq!(fake.pauses.get(), 1, "the verifying read waits first");
    assert_eq!(
        out.message,
        "granted role `Op` for `alice` (1 attempt, verified after 300 ms)"
    );
    let patch = fake
        .log
        .borrow()
        .iter()
        .find(|(m, _, _)| *m == Method::Patch)
        .cloned()
        .unwrap();
    assert_eq!(patch.1, "/auth/fab/v1/users/alice?update_mask=roles");
    assert_eq!(
        patch.2.unwrap(),
        json!({"roles": [{"name": "Viewer"}, {"name": "Op"}]})
    );

    let writes_before = fake.writes().len();
    let again = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    assert!(again.message.contains("already holds"), "{}", again.message);
    assert_eq!(
        fake.writes().len(),
        writes_before,
        "no PATCH for an already-held role"
    );
}

#[test]
fn a_concurrent_stale_write_is_detected_and_the_change_redone() {
    let fake = FakeUsers::new(&[("alice", &["Public"])]);
    // Another writer read ["Public"] before our PATCH and writes ["Public", "Viewer"] after it.
    fake.clobber
        .borrow_mut()
        .push(vec!["Public".into(), "Viewer".into()]);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert!(
        out.message.ends_with(
            "(after 2 attempts: a concurrent change replaced the role list; waits 300, 300 ms)"
        ),
        "{}",
        out.message
    );
    assert_eq!(
        fake.roles_of("alice"),
        ["Public", "Viewer", "Op"],
        "both writers' roles survive"
    );
}

#[test]
fn a_role_that_never_sticks_fails_after_a_bounded_number_of_attempts() {
    let fake = FakeUsers::new(&[("alice", &["Public"])]);
    for _ in 0..MAX_ATTEMPTS {
        fake.clobber.borrow_mut().push(vec!["Public".into()]);
    }
    let mut c = connector(&fake, true);
    let err = c.provision(&grant("Op", "alice")).unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert!(
        err.to_string().contains("did not stick after 5 attempts")
            && err
                .to_string()
                .ends_with("(waits 300, 300, 300, 300, 300 ms)"),
        "{err}"
    );
    let patches = fake
        .writes()
        .iter()
        .filter(|(m, _)| *m == Method::Patch)
        .count();
    assert_eq!(patches, MAX_ATTEMPTS as usize);
}

#[test]
fn revoke_by_grant_id_or_membership_and_repeat_is_already_done() {
    let fake = FakeUsers::new(&[("bob+ops", &["Op", "Viewer"])]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::Revoke(RevokeTarget::GrantId(
            "role:Op:member:user:bob+ops".into(),
        )))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(
        out.message,
        "revoked role `Op` for `bob+ops` (1 attempt, verified after 300 ms)"
    );
    assert_eq!(fake.roles_of("bob+ops"), ["Viewer"]);
    assert!(fake
        .log
        .borrow()
        .iter()
        .any(|(_, p, _)| p == "/auth/fab/v1/users/bob%2Bops?update_mask=roles"));
    let again = c
        .provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
            "role:Op:member".into(),
            user("bob+ops"),
        )))
        .unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    assert!(again.message.contains("does not hold"), "{}", again.message);
    // The last role can go too (Airflow accepts an empty list on PATCH).
    c.provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
        "role:Viewer:member".into(),
        user("bob+ops"),
    )))
    .unwrap();
    assert!(fake.roles_of("bob+ops").is_empty());
}

#[test]
fn unknown_role_and_unknown_user_are_not_found() {
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    let mut c = connector(&fake, true);
    let err = c.provision(&grant("NoSuchRole", "alice")).unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ref m) if m.contains("Unknown roles")),
        "{err:?}"
    );
    assert_eq!(fake.roles_of("alice"), ["Viewer"]);
    let err = c.provision(&grant("Op", "nobody")).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[test]
fn names_with_a_slash_are_refused_before_any_request() {
    let fake = FakeUsers::new(&[]);
    let mut c = connector(&fake, true);
    for action in [
        grant("Op", "a/b"),
        grant("a/b", "alice"),
        ProvisionAction::DeleteAccount(user("a/b")),
        ProvisionAction::CreateAccount(account("x/y", None, &[])),
    ] {
        let err = c.provision(&action).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(ref m) if m.contains("contains `/`")),
            "{err:?}"
        );
    }
    assert!(fake.log.borrow().is_empty());
}

#[test]
fn the_connector_will_not_lock_itself_out() {
    let fake = FakeUsers::new(&[("admin", &["Admin", "Viewer"])]);
    let mut c = connector(&fake, true);
    let err = c
        .provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
            "role:Admin:member".into(),
            user("ADMIN"),
        )))
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("lock itself out")),
        "{err:?}"
    );
    assert_eq!(fake.roles_of("admin"), ["Admin", "Viewer"]);
    // Another role is fine to drop while Admin stays.
    c.provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
        "role:Viewer:member".into(),
        user("admin"),
    )))
    .unwrap();
    let err = c
        .provision(&ProvisionAction::DeleteAccount(user("Admin")))
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("signs in as")),
        "{err:?}"
    );
    assert!(fake.find("admin").is_some());
}

fn account(login: &str, password: Option<&str>, roles: &[&str]) -> crate::model::AccountRequest {
    crate::model::AccountRequest {
        login: login.into(),
        email: format!("{login}@example.com"),
        first_name: "New".into(),
        last_name: "Person".into(),
        entitlement_ids: roles.iter().map(|r| format!("role:{r}:member")).collect(),
        password: password.map(String::from),
    }
}

#[test]
fn create_sends_the_default_role_and_returns_a_generated_password_once() {
    let fake = FakeUsers::new(&[]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::CreateAccount(account("carol", None, &[])))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    let credential = out.credential.unwrap();
    assert_eq!(credential.kind, "password");
    assert!(credential.value.len() >= 20);
    assert!(!out.message.contains(&credential.value));
    assert_eq!(fake.roles_of("carol"), ["Public"]);
    let posted = fake
        .log
        .borrow()
        .iter()
        .find(|(m, p, _)| *m == Method::Post && p == "/auth/fab/v1/users")
        .and_then(|(_, _, b)| b.clone())
        .unwrap();
    assert_eq!(posted["password"], credential.value.as_str());
}

#[test]
fn create_with_roles_and_a_supplied_password_returns_no_credential() {
    let fake = FakeUsers::new(&[]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::CreateAccount(account(
            "dave",
            Some("Given-Pa55word!"),
            &["Op", "Viewer", "Op"],
        )))
        .unwrap();
    assert!(out.credential.is_none());
    assert_eq!(fake.roles_of("dave"), ["Op", "Viewer"]);
}

#[test]
fn creating_a_taken_name_in_any_case_is_already_done_with_the_existing_account() {
    let fake = FakeUsers::new(&[("Erin", &["Viewer"])]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::CreateAccount(account("erin", None, &[])))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::AlreadyDone);
    assert!(
        out.credential.is_none(),
        "no password for an account that was not created"
    );
    assert_eq!(out.resource.unwrap().id, "Erin");
    assert_eq!(fake.roles_of("Erin"), ["Viewer"], "left unchanged");
}

#[test]
fn empty_fields_are_refused_by_name() {
    let fake = FakeUsers::new(&[]);
    let mut c = connector(&fake, true);
    let mut request = account("frank", None, &[]);
    request.email = " ".into();
    let err = c
        .provision(&ProvisionAction::CreateAccount(request))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("`email` is empty")),
        "{err:?}"
    );
}

#[test]
fn delete_then_delete_again_is_already_done() {
    let fake = FakeUsers::new(&[("józef", &["Viewer"])]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::DeleteAccount(user("józef")))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert!(fake
        .log
        .borrow()
        .iter()
        .any(|(m, p, _)| *m == Method::Delete && p == "/auth/fab/v1/users/j%C3%B3zef"));
    let again = c
        .provision(&ProvisionAction::DeleteAccount(user("józef")))
        .unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    assert!(again.message.contains("already deleted"));
}

fn permission_grant(permission: &str, role: &str) -> ProvisionAction {
    ProvisionAction::Grant(
        format!("permission:{permission}:assigned"),
        ResourceRef::new("role", role),
    )
}

fn perms_of(fake: &FakeUsers, role: &str) -> Vec<(String, String)> {
    fake.roles.borrow().get(role).cloned().unwrap_or_default()
}

#[test]
fn permissions_are_granted_to_and_revoked_from_custom_roles_with_verification() {
    let fake = FakeUsers::new(&[("svc", &["Admin"])]);
    fake.roles
        .borrow_mut()
        .insert("Auditor".into(), vec![("can_read".into(), "DAGs".into())]);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&permission_grant("can_edit:DAG:etl", "Auditor"))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(
        out.message,
        "granted `can_edit:DAG:etl` on role `Auditor` (1 attempt, verified after 300 ms)"
    );
    assert_eq!(
        out.grant.unwrap().id,
        "permission:can_edit:DAG:etl:assigned:role:Auditor"
    );
    assert_eq!(
        perms_of(&fake, "Auditor"),
        [
            ("can_read".to_string(), "DAGs".to_string()),
            ("can_edit".to_string(), "DAG:etl".to_string())
        ]
    );
    assert_eq!(
        fake.writes(),
        [(
            Method::Patch,
            "/auth/fab/v1/roles/Auditor?update_mask=actions".to_string()
        )]
    );
    let again = c
        .provision(&permission_grant("can_edit:DAG:etl", "Auditor"))
        .unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyDone);
    assert_eq!(fake.writes().len(), 1, "a repeat writes nothing");

    let revoke = ProvisionAction::Revoke(RevokeTarget::GrantId(
        "permission:can_read:DAGs:assigned:role:Auditor".into(),
    ));
    assert_eq!(c.provision(&revoke).unwrap().status, OutcomeStatus::Done);
    assert_eq!(
        perms_of(&fake, "Auditor"),
        [("can_edit".to_string(), "DAG:etl".to_string())]
    );
    assert_eq!(
        c.provision(&revoke).unwrap().status,
        OutcomeStatus::AlreadyDone
    );
    assert_eq!(fake.writes().len(), 2);
}

#[test]
fn permissions_of_built_in_roles_and_the_connectors_own_needs_are_not_changed() {
    let fake = FakeUsers::new(&[("admin", &["Admin", "Auditor"])]);
    fake.roles
        .borrow_mut()
        .insert("Auditor".into(), vec![("can_read".into(), "Users".into())]);
    let mut c = connector(&fake, true);
    let err = c
        .provision(&permission_grant("can_read:DAGs", "Viewer"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("built-in")),
        "{err:?}"
    );
    let err = c
        .provision(&permission_grant("can_read:DAGs", "user"))
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(_)),
        "an unknown role: {err:?}"
    );
    let err = c
        .provision(&ProvisionAction::Grant(
            "permission:can_read:DAGs:assigned".into(),
            user("svc"),
        ))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("not a role")),
        "{err:?}"
    );
    // The connector's account needs can_read on Users; Admin has only can_edit in this fake.
    let revoke = ProvisionAction::Revoke(RevokeTarget::Membership(
        "permission:can_read:Users:assigned".into(),
        ResourceRef::new("role", "Auditor"),
    ));
    let err = c.provision(&revoke).unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("own account")),
        "{err:?}"
    );
    assert!(fake.writes().is_empty(), "refusals write nothing");
}

#[test]
fn a_create_whose_answer_was_lost_is_read_back_not_posted_twice() {
    let fake = FakeUsers::new(&[]);
    fake.lose.borrow_mut().push(Method::Post);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::CreateAccount(account("gina", None, &[])))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert!(
        out.message.contains("found by reading it back"),
        "{}",
        out.message
    );
    assert!(
        out.credential.is_some(),
        "the password we set is the account's"
    );
    assert_eq!(
        fake.writes(),
        [(Method::Post, "/auth/fab/v1/users".to_string())]
    );
}

#[test]
fn a_create_refused_as_busy_is_retried_after_checking_the_name_is_still_free() {
    let fake = FakeUsers::new(&[]);
    fake.busy.borrow_mut().push(503);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::CreateAccount(account("hugo", None, &[])))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert!(!out.message.contains("reading it back"), "{}", out.message);
    let routes: Vec<String> = fake
        .log
        .borrow()
        .iter()
        .map(|(m, p, _)| format!("{} {p}", m.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            "POST /auth/token",
            "POST busy",
            "GET /auth/fab/v1/users/hugo",
            "POST /auth/fab/v1/users"
        ]
    );
}

#[test]
fn a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_nothing() {
    let fake = FakeUsers::new(&[("ivan", &["Viewer"])]);
    fake.lose.borrow_mut().push(Method::Delete);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::DeleteAccount(user("ivan")))
        .unwrap();
    assert_eq!(out.status, OutcomeStatus::Done, "{}", out.message);
    assert_eq!(fake.writes().len(), 2, "the DELETE was sent again");
}

#[test]
fn a_grant_survives_a_busy_server_and_is_verified() {
    let fake = FakeUsers::new(&[("judy", &["Viewer"])]);
    let mut c = connector(&fake, true);
    c.provision(&ProvisionAction::DeleteAccount(user("nobody")))
        .unwrap();
    fake.busy.borrow_mut().extend([429, 502]);
    let out = c.provision(&grant("Op", "judy")).unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(fake.roles_of("judy"), ["Viewer", "Op"]);
}

#[test]
fn a_server_that_stays_busy_ends_unavailable_naming_the_attempts() {
    let fake = FakeUsers::new(&[("kim", &["Viewer"])]);
    fake.busy.borrow_mut().extend([503; 10]);
    let mut c = connector(&fake, true);
    let err = c.provision(&grant("Op", "kim")).unwrap_err();
    assert!(
        matches!(err, Error::Unavailable(ref m) if m.contains("gave up after 4 attempts") && m.contains("GET /auth/fab/v1/users/kim")),
        "{err:?}"
    );
    assert_eq!(fake.roles_of("kim"), ["Viewer"]);
}

// ---- the wait before the verifying read adapts to the measured round trip (verify.rs)

fn public_viewer(fake: &FakeUsers) {
    fake.users
        .borrow_mut()
        .insert("alice".into(), vec!["Public".into(), "Viewer".into()]);
}

#[test]
fn the_verify_wait_grows_with_the_measured_round_trip_between_the_floor_and_the_cap() {
    // Per-request latency -> the wait: 3 x (read + write), at least the 300 ms floor, at most
    // the 5 s cap. The sign-in takes as long as any request but is not part of the round trip.
    for (latency_ms, wait_ms) in [(0, 300), (40, 300), (100, 600), (400, 2400), (2000, 5000)] {
        let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
        fake.latency.set(latency_ms * MS);
        let mut c = connector(&fake, true);
        let out = c.provision(&grant("Op", "alice")).unwrap();
        assert_eq!(fake.waits(), [wait_ms * MS], "latency {latency_ms} ms");
        assert_eq!(
            out.message,
            format!("granted role `Op` for `alice` (1 attempt, verified after {wait_ms} ms)")
        );
        assert_eq!(
            fake.count(Method::Get, "/auth/fab/v1/users/alice"),
            2,
            "one read, one read back: the server kept its speed"
        );
        assert_eq!(fake.roles_of("alice"), ["Viewer", "Op"]);
    }
}

#[test]
fn the_configured_floor_holds_even_above_the_cap() {
    for (floor_ms, latency_ms, wait_ms) in
        [(0, 0, 0), (0, 10, 60), (1000, 100, 1000), (8000, 0, 8000)]
    {
        let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
        fake.latency.set(latency_ms * MS);
        let mut c = connector_with_floor(&fake, true, floor_ms);
        c.provision(&grant("Op", "alice")).unwrap();
        assert_eq!(fake.waits(), [wait_ms * MS], "floor {floor_ms} ms");
    }
}

#[test]
fn a_competitor_slower_than_the_floor_is_caught_because_the_wait_scales() {
    // Read and write take 200 ms each, so the wait is 1200 ms. The competitor read before our
    // write and writes its stale list 1000 ms after it: a fixed 300 ms wait would have read
    // back before that write and reported a grant that is then lost.
    let fake = FakeUsers::new(&[("alice", &["Public"])]);
    fake.latency.set(200 * MS);
    fake.competitor(1000 * MS, public_viewer);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(
        out.message,
        "granted role `Op` for `alice` (after 2 attempts: a concurrent change replaced the role \
         list; waits 1200, 1200 ms)"
    );
    assert_eq!(fake.waits(), [1200 * MS, 1200 * MS]);
    assert_eq!(fake.roles_of("alice"), ["Public", "Viewer", "Op"]);
}

#[test]
fn a_read_back_that_shows_the_server_slowing_down_is_followed_by_another() {
    // 50 ms requests give a 300 ms wait; then the read back takes 400 ms, so a read and a write
    // now take 800 ms and the wait must reach 2400 ms since our write: a second read back comes
    // 1700 ms after the first answered, and sees the competitor's write that landed at 1500 ms.
    let fake = FakeUsers::new(&[("alice", &["Public"])]);
    fake.latency.set(50 * MS);
    fake.slow.borrow_mut().extend([50 * MS, 50 * MS, 400 * MS]);
    fake.competitor(1500 * MS, public_viewer);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(fake.waits(), [300 * MS, 1700 * MS, 300 * MS]);
    assert_eq!(
        out.message,
        "granted role `Op` for `alice` (after 2 attempts: a concurrent change replaced the role \
         list; waits 300+1700, 300 ms)"
    );
    assert_eq!(fake.roles_of("alice"), ["Public", "Viewer", "Op"]);
}

#[test]
fn a_read_back_somewhat_slower_than_the_measured_round_trip_suggests_is_not_repeated() {
    // Read and write 100 ms each: a 600 ms wait. A read back of 190 ms means a 380 ms round
    // trip now, under twice the 200 ms measured: the wait still covers 1.5 times that.
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    fake.latency.set(100 * MS);
    fake.slow
        .borrow_mut()
        .extend([100 * MS, 100 * MS, 190 * MS]);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(fake.waits(), [600 * MS]);
    assert_eq!(fake.count(Method::Get, "/auth/fab/v1/users/alice"), 2);
    assert!(
        out.message.ends_with("(1 attempt, verified after 600 ms)"),
        "{}",
        out.message
    );
    // At twice the measured round trip, it is read again.
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    fake.latency.set(100 * MS);
    fake.slow
        .borrow_mut()
        .extend([100 * MS, 100 * MS, 200 * MS]);
    let mut c = connector(&fake, true);
    c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(fake.waits(), [600 * MS, 400 * MS]);
}

#[test]
fn read_backs_per_attempt_are_bounded_while_the_server_keeps_slowing_down() {
    let fake = FakeUsers::new(&[("alice", &["Public"])]);
    fake.latency.set(10 * MS);
    // Read, write, then read backs ever slower.
    fake.slow
        .borrow_mut()
        .extend([10, 10, 100, 400, 1600, 6400].map(|ms| ms * MS));
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    // 300 (floor); 600 since the write minus the 400 ms gone; 2400 minus the 1000 ms gone.
    assert_eq!(fake.waits(), [300 * MS, 200 * MS, 1400 * MS]);
    assert_eq!(
        fake.count(Method::Get, "/auth/fab/v1/users/alice"),
        1 + verify::MAX_VERIFY_READS
    );
    assert_eq!(
        out.message,
        "granted role `Op` for `alice` (1 attempt, verified after 300+200+1400 ms)"
    );
}

#[test]
fn a_permission_change_replaced_by_a_slow_competitor_is_redone_after_an_adaptive_wait() {
    let fake = FakeUsers::new(&[("svc", &["Admin"])]);
    fake.roles
        .borrow_mut()
        .insert("Auditor".into(), vec![("can_read".into(), "DAGs".into())]);
    fake.latency.set(150 * MS);
    // Read before our write: it has only can_read on DAGs, and adds can_read on Variables.
    fake.competitor(700 * MS, |f: &FakeUsers| {
        f.roles.borrow_mut().insert(
            "Auditor".into(),
            vec![
                ("can_read".into(), "DAGs".into()),
                ("can_read".into(), "Variables".into()),
            ],
        );
    });
    let mut c = connector(&fake, true);
    let out = c
        .provision(&permission_grant("can_edit:DAG:etl", "Auditor"))
        .unwrap();
    assert_eq!(
        out.message,
        "granted `can_edit:DAG:etl` on role `Auditor` (after 2 attempts: a concurrent change \
         replaced the role's permissions; waits 900, 900 ms)"
    );
    assert_eq!(fake.waits(), [900 * MS, 900 * MS]);
    assert_eq!(
        perms_of(&fake, "Auditor"),
        [
            ("can_read".to_string(), "DAGs".to_string()),
            ("can_read".to_string(), "Variables".to_string()),
            ("can_edit".to_string(), "DAG:etl".to_string())
        ]
    );
    assert_eq!(
        fake.count(
            Method::Patch,
            "/auth/fab/v1/roles/Auditor?update_mask=actions"
        ),
        2
    );
}

#[test]
fn a_permission_that_never_sticks_reports_every_wait() {
    let fake = FakeUsers::new(&[("svc", &["Admin"])]);
    fake.roles
        .borrow_mut()
        .insert("Auditor".into(), vec![("can_read".into(), "DAGs".into())]);
    fake.latency.set(100 * MS);
    for _ in 0..MAX_ATTEMPTS {
        fake.competitor(Duration::ZERO, |f: &FakeUsers| {
            f.roles
                .borrow_mut()
                .insert("Auditor".into(), vec![("can_read".into(), "DAGs".into())]);
        });
    }
    let mut c = connector(&fake, true);
    let err = c
        .provision(&permission_grant("can_edit:DAG:etl", "Auditor"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("did not stick after 5 attempts")
            && m.ends_with("(waits 600, 600, 600, 600, 600 ms)")),
        "{err:?}"
    );
}

// ---- a write Airflow answers with a server error is read back, then redone if it did not stick

#[test]
fn a_write_airflow_failed_without_effect_is_read_back_and_redone() {
    // As Airflow 3.3 answers a PATCH that collided with a concurrent one and was rolled back.
    let fake = FakeUsers::new(&[("alice", &["Viewer", "Op"])]);
    fake.failing_patches.borrow_mut().push_back(false);
    let mut c = connector(&fake, true);
    let out = c
        .provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
            "role:Op:member".into(),
            user("alice"),
        )))
        .unwrap();
    assert_eq!(
        out.message,
        "revoked role `Op` for `alice` (after 2 attempts: a concurrent change replaced the role \
         list; waits 300, 300 ms; 1 write failed, read back)"
    );
    assert_eq!(fake.roles_of("alice"), ["Viewer"]);
    assert_eq!(
        fake.count(Method::Patch, "/auth/fab/v1/users/alice?update_mask=roles"),
        2
    );
}

#[test]
fn a_write_airflow_failed_after_taking_effect_is_done_once_read_back() {
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    fake.failing_patches.borrow_mut().push_back(true);
    let mut c = connector(&fake, true);
    let out = c.provision(&grant("Op", "alice")).unwrap();
    assert_eq!(out.status, OutcomeStatus::Done);
    assert_eq!(
        out.message,
        "granted role `Op` for `alice` (1 attempt, verified after 300 ms; 1 write failed, read \
         back)"
    );
    assert_eq!(fake.waits(), [300 * MS], "read back after the same wait");
    assert_eq!(
        fake.count(Method::Patch, "/auth/fab/v1/users/alice?update_mask=roles"),
        1
    );
}

#[test]
fn writes_airflow_keeps_failing_end_with_its_error_after_bounded_attempts() {
    let fake = FakeUsers::new(&[("alice", &["Viewer"])]);
    fake.failing_patches
        .borrow_mut()
        .extend([false; MAX_ATTEMPTS as usize]);
    let mut c = connector(&fake, true);
    let err = c.provision(&grant("Op", "alice")).unwrap_err();
    assert!(
        matches!(err, Error::Unavailable(ref m) if m.contains("Failed to update user")),
        "{err:?}"
    );
    assert_eq!(
        fake.count(Method::Patch, "/auth/fab/v1/users/alice?update_mask=roles"),
        MAX_ATTEMPTS as usize
    );
    assert_eq!(fake.roles_of("alice"), ["Viewer"]);
}
