//! The connector against an in-memory fake of Airflow's FAB API (all three generations, and
//! Airflow 2's web form login in `session`).

mod page_concurrency;
mod session;

use super::*;
use crate::airflow::generation::Generation;
use crate::config::Credentials;
use crate::http::{Method, Request, Response};
use crate::model::ResourcePage;
use base64::Engine;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

const PASSWORD: &str = "pw-Secret-123";

/// Answers like Airflow 3.3: clamps `limit` to `max_limit`, lists users with their roles.
struct FakeAirflow {
    users: Vec<(String, Vec<String>)>,
    roles: Vec<String>,
    max_limit: usize,
    /// Statuses to answer (in order) before behaving normally, for API calls.
    script: RefCell<Vec<u16>>,
    /// Whole answers given (first first) to API calls before behaving normally.
    canned: RefCell<Vec<Response>>,
    log: Rc<RefCell<Vec<Request>>>,
    /// Which API this fake plays.
    generation: Generation,
    /// The fake's clock (Unix seconds) and the lifetime of the JWTs it issues.
    clock: Cell<u64>,
    token_ttl: u64,
    paused: Cell<std::time::Duration>,
    /// The size of every `send_all` batch, in order.
    batches: RefCell<Vec<usize>>,
    /// The web form login (Airflow 2's default API backend): whether the server has it, the
    /// cookies it accepts for the API, and how many login POSTs it took.
    form_login: FormLogin,
}

/// The fake's web form login, as Airflow 2.11.2 + FAB 1.5.4 behaves (see
/// shared/reference/airflow-auth-backends.md).
struct FormLogin {
    offered: bool,
    /// Cookie values the API accepts; clearing them ends every session.
    sessions: RefCell<Vec<String>>,
    /// The CSRF token and pre-login cookie of the last form served.
    form: RefCell<Option<(String, String)>>,
    posts: Cell<u32>,
    /// Login POSTs accepted before the rate limit answers 429.
    limit: u32,
}

impl FakeAirflow {
    fn new(users: usize, roles: usize) -> Self {
        let roles: Vec<String> = (0..roles).map(|i| format!("Role {i}")).collect();
        let users = (0..users)
            .map(|i| {
                let held = roles.iter().skip(i % 3).take(i % 3).cloned().collect();
                (format!("user{i}"), held)
            })
            .collect();
        FakeAirflow {
            users,
            roles,
            max_limit: 100,
            script: RefCell::new(Vec::new()),
            canned: RefCell::new(Vec::new()),
            log: Rc::new(RefCell::new(Vec::new())),
            generation: Generation::FabFastApi,
            clock: Cell::new(1_800_000_000),
            token_ttl: 86_400,
            paused: Cell::new(std::time::Duration::ZERO),
            batches: RefCell::new(Vec::new()),
            form_login: FormLogin {
                offered: true,
                sessions: RefCell::new(Vec::new()),
                form: RefCell::new(None),
                posts: Cell::new(0),
                limit: 5,
            },
        }
    }

    /// `GET`/`POST /login/`: the form with its CSRF token, then a 302 whose target tells
    /// success (`/home`) from failure (back to `/login/`), like Flask-AppBuilder.
    fn login_form(&self, request: &Request) -> std::result::Result<Response, String> {
        let login = &self.form_login;
        let html = |body: String, cookie: Option<String>| Response {
            status: 200,
            headers: std::iter::once(("content-type".to_string(), "text/html".to_string()))
                .chain(cookie.map(|c| {
                    (
                        "set-cookie".to_string(),
                        format!("session={c}; HttpOnly; Path=/"),
                    )
                }))
                .collect(),
            body: body.into_bytes(),
        };
        if !login.offered {
            return Ok(html(
                "<html><a href=\"/oauth\">Sign in with SSO</a></html>".into(),
                None,
            ));
        }
        let n = login.posts.get();
        if request.method == Method::Get {
            let (csrf, pre) = (format!("csrf-tok-{n}"), format!("anon-cookie-{n}"));
            *login.form.borrow_mut() = Some((csrf.clone(), pre.clone()));
            return Ok(html(
                format!(
                    r#"<form method="post"><input id="csrf_token" name="csrf_token" type="hidden" value="{csrf}">
                    <input id="username" name="username" type="text"><input id="password" name="password" type="password"></form>"#
                ),
                Some(pre),
            ));
        }
        login.posts.set(n + 1);
        if n >= login.limit {
            return Ok(Response::with_body(
                429,
                "<h1>Too Many Requests</h1><p>5 per 40 second</p>",
            ));
        }
        let body = String::from_utf8_lossy(request.body.as_deref().unwrap_or_default()).to_string();
        let cookie = header_of(request, "cookie").unwrap_or_default();
        let Some((csrf, pre)) = login.form.borrow().clone() else {
            return Ok(Response::with_body(
                400,
                "<p>The CSRF session token is missing.</p>",
            ));
        };
        if !body.contains(&format!("csrf_token={csrf}")) || !cookie.contains(&pre) {
            return Ok(Response::with_body(
                400,
                "<p>The CSRF token is missing.</p>",
            ));
        }
        let redirect = |to: &str, cookie: String| Response {
            status: 302,
            headers: vec![
                ("location".into(), to.into()),
                (
                    "set-cookie".into(),
                    format!("session={cookie}; HttpOnly; Path=/; SameSite=Lax"),
                ),
            ],
            body: Vec::new(),
        };
        let password = crate::airflow::login::form_value(PASSWORD);
        if body.contains("username=admin&") && body.ends_with(&format!("password={password}")) {
            let session = format!("sess-{n}.sig");
            login.sessions.borrow_mut().push(session.clone());
            Ok(redirect("/home", session))
        } else {
            Ok(redirect("/login/?next=/home", format!("anon-after-{n}")))
        }
    }

    fn playing(mut self, generation: Generation) -> Self {
        self.generation = generation;
        self
    }

    /// A JWT like Airflow's: `exp` in the payload, valid until then by the fake's clock.
    fn mint(&self) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"1","exp":{}}}"#,
            self.clock.get() + self.token_ttl
        ));
        format!("eyJhbGciOiJIUzUxMiJ9.{payload}.sig")
    }

    fn credentials_ok(&self, header: Option<&str>) -> bool {
        let Some(header) = header else { return false };
        if header == "Bearer static-operator-token" {
            return true;
        }
        match self.generation {
            Generation::FabFastApi => header
                .strip_prefix("Bearer ")
                .and_then(crate::airflow::jwt::expiry)
                .is_some_and(|exp| exp > self.clock.get()),
            _ => {
                let want =
                    base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
                header == format!("Basic {want}")
            }
        }
    }

    fn query(url: &str, key: &str) -> usize {
        url.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn user_json(&self, name: &str, roles: &[String]) -> serde_json::Value {
        json!({"username": name, "email": format!("{name}@example.com"), "first_name": "F",
               "last_name": "L", "active": true, "roles": roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
               "last_login": null, "login_count": null, "fail_login_count": null,
               "created_on": "2026-11-20T10:00:00.000001", "changed_on": "2026-11-20T10:00:00.000001"})
    }
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn respond(status: u16, body: serde_json::Value) -> std::result::Result<Response, String> {
    Ok(Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

impl Transport for &FakeAirflow {
    fn now_unix(&self) -> u64 {
        self.clock.get()
    }

    /// Pauses advance the fake clock instead of sleeping.
    fn pause(&self, duration: std::time::Duration) {
        self.paused.set(self.paused.get() + duration);
        self.clock.set(self.clock.get() + duration.as_secs());
    }

    fn send_all(&self, requests: &[Request]) -> Vec<std::result::Result<Response, String>> {
        self.batches.borrow_mut().push(requests.len());
        requests.iter().map(|r| self.send(r)).collect()
    }

    fn send(&self, request: &Request) -> std::result::Result<Response, String> {
        self.log.borrow_mut().push(request.clone());
        let path = request
            .url
            .strip_prefix("http://airflow.test")
            .ok_or("wrong origin")?;
        let route = path.split('?').next().unwrap_or("");
        // The detection probes, answered as the real servers answer them.
        let empty_body = request.body.as_deref() == Some(b"{}".as_slice());
        match (route, self.generation) {
            ("/auth/token", Generation::FabFastApi) if empty_body => {
                return respond(
                    400,
                    json!({"detail": "Username and password must be provided"}),
                )
            }
            ("/auth/token", Generation::FabConnexion) if empty_body => {
                return respond(
                    422,
                    json!({"detail": [{"type": "missing", "loc": ["body", "username"], "msg": "Field required"}]}),
                )
            }
            ("/auth/token", Generation::Airflow2) => {
                return respond(404, json!("<html>Airflow 404</html>"))
            }
            ("/api/v1/health", Generation::Airflow2) => {
                return respond(200, json!({"metadatabase": {}}))
            }
            ("/api/v1/health", _) => {
                return respond(
                    404,
                    json!({"error": "/api/v1 has been removed in Airflow 3"}),
                )
            }
            _ => {}
        }
        // Airflow 3.0's FAB 2.x signs in with a JWT too (its token route is FastAPI).
        if route == "/auth/token" && self.generation != Generation::Airflow2 {
            let body: serde_json::Value =
                serde_json::from_slice(request.body.as_deref().unwrap_or_default())
                    .map_err(|e| e.to_string())?;
            return if body["password"] == PASSWORD {
                respond(201, json!({"access_token": self.mint()}))
            } else {
                respond(401, json!({"detail": "Invalid credentials"}))
            };
        }
        if route == "/login/" && self.generation == Generation::Airflow2
            || route == "/auth/login/" && self.generation == Generation::FabConnexion
        {
            return self.login_form(request);
        }
        let auth = header_of(request, "authorization");
        let session = header_of(request, "cookie").is_some_and(|cookie| {
            self.form_login
                .sessions
                .borrow()
                .iter()
                .any(|s| cookie.contains(&format!("session={s}")))
        });
        if !session && !self.credentials_ok(auth) {
            return match self.generation {
                // Airflow 2 never answers 401.
                Generation::Airflow2 => respond(403, json!({"detail": "Not authenticated"})),
                Generation::FabConnexion => Ok(Response {
                    status: 401,
                    headers: vec![("content-type".into(), "application/problem+json".into())],
                    body: br#"{"detail":null,"status":401,"title":"Unauthorized"}"#.to_vec(),
                }),
                Generation::FabFastApi => respond(401, json!({"detail": "Not authenticated"})),
            };
        }
        if let Some(status) = self.script.borrow_mut().pop() {
            return respond(status, json!({"detail": "Token Expired"}));
        }
        if !self.canned.borrow().is_empty() {
            return Ok(self.canned.borrow_mut().remove(0));
        }
        let limit = FakeAirflow::query(path, "limit").min(self.max_limit);
        let offset = FakeAirflow::query(path, "offset");
        let route = route
            .strip_prefix(self.generation.prefix())
            .map(|rest| format!("/auth/fab/v1{rest}"))
            .unwrap_or_else(|| format!("/wrong-prefix{route}"));
        match route.as_str() {
            "/auth/fab/v1/users" => {
                let users: Vec<_> = self
                    .users
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|(u, r)| self.user_json(u, r))
                    .collect();
                respond(
                    200,
                    json!({"users": users, "total_entries": self.users.len()}),
                )
            }
            "/auth/fab/v1/roles" => {
                let roles: Vec<_> = self
                    .roles
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|r| json!({"name": r, "actions": []}))
                    .collect();
                respond(
                    200,
                    json!({"roles": roles, "total_entries": self.roles.len()}),
                )
            }
            r if r.starts_with("/auth/fab/v1/roles/") => {
                let r = r.to_string();
                let name = r
                    .trim_start_matches("/auth/fab/v1/roles/")
                    .replace("%20", " ");
                if self.roles.contains(&name) {
                    respond(200, json!({"name": name, "actions": []}))
                } else {
                    respond(
                        404,
                        json!({"detail": format!("Role with name '{name}' does not exist")}),
                    )
                }
            }
            _ => respond(404, json!({"detail": "Not Found"})),
        }
    }
}

fn config(password: &str) -> Config {
    Config {
        base_url: "http://airflow.test".into(),
        credentials: crate::config::Credentials::Password {
            username: "admin".into(),
            password: password.into(),
            login: crate::config::Login::Direct,
        },
        api_generation: Some(crate::airflow::generation::Generation::FabFastApi),
        provisioning: false,
        default_role: "Public".into(),
        verify_delay_ms: 0,
        request_interval_ms: 0,
        page_concurrency: 1,
        allow_insecure_http: false,
    }
}

fn full_pass(c: &mut Connector<&FakeAirflow>, resource_type: &str) -> Vec<ResourcePage> {
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = c.list_resources(resource_type, token.as_deref()).unwrap();
        token = page.next_page_token.clone();
        pages.push(page);
        if token.is_none() {
            return pages;
        }
    }
}

fn requests(fake: &FakeAirflow) -> usize {
    fake.log.borrow().len()
}

#[test]
fn full_sync_costs_one_token_plus_a_request_per_page() {
    for (users, roles) in [(1, 5), (99, 5), (100, 7), (101, 100), (250, 101), (300, 3)] {
        let fake = FakeAirflow::new(users, roles);
        let mut c = Connector::new(&fake, config(PASSWORD));
        let user_pages = full_pass(&mut c, "user");
        let role_pages = full_pass(&mut c, "role");
        // Every page after the first starts on the last row of the one before (src/paging.rs).
        let pages = |n: usize| if n < 100 { 1 } else { (n - 100) / 99 + 2 };
        let want = 1 + pages(users) + pages(roles);
        assert_eq!(requests(&fake), want, "{users} users, {roles} roles");
        let resources: usize = user_pages.iter().map(|p| p.resources.len()).sum();
        assert_eq!(resources, users);
        let grants: usize = user_pages.iter().map(|p| p.grants.len()).sum();
        let held: usize = fake.users.iter().map(|(_, r)| r.len()).sum();
        assert_eq!(grants, held);
        let entitlements: usize = role_pages.iter().map(|p| p.entitlements.len()).sum();
        assert_eq!(entitlements, roles);
    }
}

#[test]
fn paging_advances_by_rows_received_when_the_server_clamps() {
    let mut fake = FakeAirflow::new(130, 1);
    fake.max_limit = 50;
    let mut c = Connector::new(&fake, config(PASSWORD));
    let pages = full_pass(&mut c, "user");
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p.resources.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(ids.len(), 130);
    assert_eq!(ids.first().map(String::as_str), Some("user0"));
    assert_eq!(ids.last().map(String::as_str), Some("user129"));
    let offsets: Vec<usize> = fake
        .log
        .borrow()
        .iter()
        .skip(1)
        .map(|r| FakeAirflow::query(&r.url, "offset"))
        .collect();
    assert_eq!(offsets, [0, 49, 98]);
}

#[test]
fn wrong_password_is_unauthenticated_and_never_echoed() {
    let fake = FakeAirflow::new(1, 1);
    let mut c = Connector::new(&fake, config("wrong-pw-XYZ"));
    let err = c.list_resources("user", None).unwrap_err();
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`username` and `password`"), "{text}");
    assert!(!text.contains("wrong-pw-XYZ"));
}

#[test]
fn an_expired_token_is_renewed_once() {
    let fake = FakeAirflow::new(3, 1);
    let mut c = Connector::new(&fake, config(PASSWORD));
    full_pass(&mut c, "user");
    fake.script.borrow_mut().push(401);
    let page = c.list_resources("role", None).unwrap();
    assert_eq!(page.resources.len(), 1);
    let routes: Vec<String> = fake
        .log
        .borrow()
        .iter()
        .map(|r| r.url.replace("http://airflow.test", ""))
        .collect();
    assert_eq!(
        routes,
        [
            "/auth/token",
            "/auth/fab/v1/users?limit=100&offset=0",
            "/auth/fab/v1/roles?limit=100&offset=0",
            "/auth/token",
            "/auth/fab/v1/roles?limit=100&offset=0"
        ]
    );
}

#[test]
fn a_second_401_after_renewal_fails_instead_of_looping() {
    let fake = FakeAirflow::new(3, 1);
    let mut c = Connector::new(&fake, config(PASSWORD));
    c.validate().unwrap();
    fake.script.borrow_mut().extend([401, 401]);
    let err = c.list_resources("user", None).unwrap_err();
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    assert_eq!(requests(&fake), 3 + 2 + 1);
}

#[test]
fn forbidden_names_the_missing_permission() {
    let fake = FakeAirflow::new(3, 1);
    fake.script.borrow_mut().push(403);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let err = c.list_resources("user", None).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)));
    assert!(
        err.to_string().contains("can_read on Users and Roles"),
        "{err}"
    );
}

#[test]
fn validate_reports_identity_and_counts() {
    let fake = FakeAirflow::new(42, 6);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let v = c.validate().unwrap();
    assert_eq!(v.identity, "admin");
    assert!(v.system.contains("42 users, 6 roles"), "{}", v.system);
}

#[test]
fn list_grants_of_a_role_pages_users_and_filters_members() {
    let fake = FakeAirflow::new(250, 3);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let role = ResourceRef::new("role", "Role 1");
    let mut token = None;
    let mut members = Vec::new();
    loop {
        let page = c.list_grants(&role, token.as_deref()).unwrap();
        members.extend(page.grants.into_iter().map(|g| g.principal.id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    let want: Vec<String> = fake
        .users
        .iter()
        .filter(|(_, r)| r.iter().any(|x| x == "Role 1"))
        .map(|(u, _)| u.clone())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(members, want);
    let urls: Vec<String> = fake.log.borrow().iter().map(|r| r.url.clone()).collect();
    assert!(
        urls.contains(&"http://airflow.test/auth/fab/v1/roles/Role%201".to_string()),
        "{urls:?}"
    );
}

#[test]
fn unknown_role_and_unknown_type_are_typed() {
    let fake = FakeAirflow::new(1, 1);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let err = c
        .list_entitlements(&ResourceRef::new("role", "Nope"), None)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = c.list_resources("group", None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    let err = c.list_resources("user", Some("garbage")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
}

#[test]
fn names_are_percent_encoded_in_paths() {
    assert_eq!(
        crate::airflow::client::encode_segment("anna maria+ops@x.y/é?#%"),
        "anna%20maria%2Bops%40x.y%2F%C3%A9%3F%23%25"
    );
}

#[test]
fn provisioning_is_refused_while_disabled_and_sends_nothing() {
    let fake = FakeAirflow::new(1, 1);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let action = ProvisionAction::DeleteAccount(ResourceRef::new("user", "user0"));
    let err = c.provision(&action).unwrap_err();
    assert!(
        err.to_string()
            .contains("set the `provisioning` setting to `true`"),
        "{err}"
    );
    assert_eq!(requests(&fake), 0);
}

#[test]
fn unreachable_server_is_unavailable() {
    struct Down(Cell<u32>, Cell<std::time::Duration>);
    impl Transport for &Down {
        fn send(&self, _: &Request) -> std::result::Result<Response, String> {
            self.0.set(self.0.get() + 1);
            Err("connection refused".into())
        }
        fn pause(&self, d: std::time::Duration) {
            self.1.set(self.1.get() + d);
        }
    }
    let down = Down(Cell::new(0), Cell::new(std::time::Duration::ZERO));
    let mut c = Connector::new(&down, config(PASSWORD));
    let err = c.list_resources("role", None).unwrap_err();
    assert_eq!(
        err,
        Error::Unavailable(
            "signing in (POST /auth/token): cannot reach http://airflow.test: connection \
             refused (gave up after 4 attempts over 3.5 s)"
                .into()
        )
    );
    assert_eq!(down.0.get(), 4, "bounded attempts");
    assert_eq!(down.1.get(), std::time::Duration::from_millis(3500));
    let _ = Method::Get;
}

fn auto_config() -> Config {
    Config {
        api_generation: None,
        ..config(PASSWORD)
    }
}

fn routes(fake: &FakeAirflow) -> Vec<String> {
    fake.log
        .borrow()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method.as_str(),
                r.url.replace("http://airflow.test", "")
            )
        })
        .collect()
}

#[test]
fn the_sign_in_tells_a_modern_server_and_older_ones_spend_two_requests() {
    // FastAPI FAB: sign-in, then the pages. Airflow 3.0: a sign-in whose JWT the Connexion API
    // refuses, then Basic. Airflow 2: a sign-in that finds no /auth/token, then the health check.
    for (generation, detection, first) in [
        (Generation::FabFastApi, 0, "POST /auth/token"),
        (Generation::FabConnexion, 2, "POST /auth/token"),
        (Generation::Airflow2, 2, "POST /auth/token"),
    ] {
        let fake = FakeAirflow::new(250, 5).playing(generation);
        let mut c = Connector::new(&fake, auto_config());
        full_pass(&mut c, "user");
        full_pass(&mut c, "role");
        let sign_in = usize::from(generation == Generation::FabFastApi);
        let log = routes(&fake);
        assert_eq!(
            requests(&fake),
            detection + sign_in + 3 + 1,
            "{generation:?}: {log:?}"
        );
        assert_eq!(log[0], first);
        assert!(fake.log.borrow()[0]
            .body
            .as_deref()
            .is_some_and(|b| b != b"{}"));
        let info = c.session_info();
        assert!(
            info.contains(&("discovery_requests".into(), detection.to_string())),
            "{info:?}"
        );
        let v = c.validate().unwrap();
        assert!(v.system.starts_with(generation.describe()), "{}", v.system);
    }
}

#[test]
fn a_static_token_is_probed_without_credentials() {
    for (generation, probes) in [
        (Generation::FabFastApi, 1),
        (Generation::FabConnexion, 1),
        (Generation::Airflow2, 2),
    ] {
        let fake = FakeAirflow::new(3, 1).playing(generation);
        let mut c = Connector::new(
            &fake,
            Config {
                credentials: Credentials::Token {
                    token: "static-operator-token".into(),
                    username: None,
                },
                ..auto_config()
            },
        );
        c.list_resources("user", None).unwrap();
        assert_eq!(requests(&fake), probes + 1, "{generation:?}");
        assert_eq!(fake.log.borrow()[0].body.as_deref(), Some(b"{}".as_slice()));
    }
}

#[test]
fn a_server_that_is_not_airflow_is_unsupported_and_names_what_was_seen() {
    struct NotAirflow;
    impl Transport for NotAirflow {
        fn send(&self, _: &Request) -> std::result::Result<Response, String> {
            respond(404, json!({}))
        }
    }
    let mut c = Connector::new(NotAirflow, auto_config());
    let err = c.list_resources("user", None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(
        text.contains("POST /auth/token -> 404, GET /api/v1/health -> 404"),
        "{text}"
    );
    assert!(text.contains("`api_generation`"), "{text}");
}

#[test]
fn basic_generations_send_basic_credentials_under_their_prefix() {
    for generation in [Generation::Airflow2, Generation::FabConnexion] {
        let fake = FakeAirflow::new(3, 2).playing(generation);
        let mut c = Connector::new(
            &fake,
            Config {
                api_generation: Some(generation),
                ..config(PASSWORD)
            },
        );
        let page = c.list_resources("user", None).unwrap();
        assert_eq!(page.resources.len(), 3);
        assert_eq!(
            routes(&fake),
            [format!(
                "GET {}/users?limit=100&offset=0",
                generation.prefix()
            )],
            "no sign-in request: Basic credentials go with each call"
        );
    }
}

#[test]
fn airflow2_403_is_reported_as_a_credential_problem() {
    let fake = FakeAirflow::new(3, 2).playing(Generation::Airflow2);
    let mut c = Connector::new(
        &fake,
        Config {
            api_generation: Some(Generation::Airflow2),
            ..config("Wr0ng-Secret-77")
        },
    );
    let err = c.list_resources("user", None).unwrap_err();
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Airflow 2 answers 403 both to wrong credentials"),
        "{text}"
    );
    assert!(!text.contains("Wr0ng-Secret-77"));
}

#[test]
fn the_jwt_is_renewed_before_it_expires_without_a_401() {
    let mut fake = FakeAirflow::new(250, 2);
    fake.token_ttl = 60;
    let mut c = Connector::new(&fake, config(PASSWORD));
    let first = c.list_resources("user", None).unwrap();
    // 45 s later the token has 15 s left: inside the renewal margin.
    fake.clock.set(fake.clock.get() + 45);
    c.list_resources("user", first.next_page_token.as_deref())
        .unwrap();
    let r = routes(&fake);
    assert_eq!(
        r.iter().filter(|x| x.ends_with("/auth/token")).count(),
        2,
        "{r:?}"
    );
    assert_eq!(r.len(), 4, "renewal, not a 401 and a retry: {r:?}");
}

#[test]
fn token_mode_sends_the_operators_token_and_never_signs_in() {
    let fake = FakeAirflow::new(3, 2);
    let config = Config {
        credentials: Credentials::Token {
            token: "static-operator-token".into(),
            username: None,
        },
        ..config(PASSWORD)
    };
    let mut c = Connector::new(&fake, config);
    c.list_resources("role", None).unwrap();
    assert_eq!(routes(&fake), ["GET /auth/fab/v1/roles?limit=100&offset=0"]);
    let v = c.validate().unwrap();
    assert_eq!(v.identity, "(the token's account)");
}

#[test]
fn a_rejected_static_token_names_the_token_setting_and_is_not_retried() {
    let fake = FakeAirflow::new(3, 2);
    let config = Config {
        credentials: Credentials::Token {
            token: "revoked-token".into(),
            username: None,
        },
        ..config(PASSWORD)
    };
    let mut c = Connector::new(&fake, config);
    let err = c.list_resources("role", None).unwrap_err();
    assert!(
        matches!(err, Error::Unauthenticated(ref m) if m.contains("`token` setting")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("revoked-token"));
    assert_eq!(requests(&fake), 1);
}

#[test]
fn requests_are_paced_and_a_slow_sync_outlives_short_tokens_by_renewing_them() {
    let mut fake = FakeAirflow::new(250, 2);
    fake.token_ttl = 5;
    let config = Config {
        request_interval_ms: 3000,
        ..config(PASSWORD)
    };
    let mut c = Connector::new(&fake, config);
    let pages = full_pass(&mut c, "user");
    assert_eq!(pages.iter().map(|p| p.resources.len()).sum::<usize>(), 250);
    let r = routes(&fake);
    // Every request but the first waited ~3 s; 5-second tokens were renewed on the way.
    assert!(
        fake.paused.get() >= std::time::Duration::from_secs(2 * (r.len() as u64 - 1)),
        "{r:?}"
    );
    assert!(
        r.iter().filter(|x| x.ends_with("/auth/token")).count() >= 2,
        "{r:?}"
    );
}

fn raw(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    Response {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

fn users_body(names: std::ops::Range<usize>, total: usize) -> String {
    let users: Vec<_> = names
        .map(|i| json!({"username": format!("user{i}"), "roles": []}))
        .collect();
    json!({"users": users, "total_entries": total}).to_string()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn rate_limits_and_outages_are_waited_out_through_the_transport() {
    let fake = FakeAirflow::new(3, 1);
    fake.canned.borrow_mut().extend([
        raw(
            429,
            &[JSON, ("retry-after", "7")],
            r#"{"detail":"slow down"}"#,
        ),
        raw(
            503,
            &[("content-type", "text/html")],
            "<html><title>503 Service Unavailable</title></html>",
        ),
    ]);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let page = c.list_resources("user", None).unwrap();
    assert_eq!(page.resources.len(), 3);
    // Retry-After: 7 s, then the back-off of a second retry (1 s).
    assert_eq!(fake.paused.get(), std::time::Duration::from_secs(8));
    assert_eq!(requests(&fake), 1 + 3);
}

#[test]
fn a_retry_after_beyond_the_budget_gives_up_at_once_with_the_hint() {
    let fake = FakeAirflow::new(3, 1);
    fake.canned.borrow_mut().push(raw(
        429,
        &[JSON, ("retry-after", "3600")],
        r#"{"detail":"quota"}"#,
    ));
    let mut c = Connector::new(&fake, config(PASSWORD));
    match c.list_resources("user", None).unwrap_err() {
        Error::RateLimited {
            retry_after_ms,
            message,
        } => {
            assert_eq!(retry_after_ms, Some(3_600_000));
            assert!(message.contains("GET /auth/fab/v1/users"), "{message}");
            assert!(message.contains("asked to wait 3600 s"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.paused.get(), std::time::Duration::ZERO);
}

#[test]
fn a_server_that_stays_unavailable_ends_after_bounded_attempts() {
    let fake = FakeAirflow::new(3, 1);
    fake.canned
        .borrow_mut()
        .extend((0..10).map(|_| raw(504, &[], "")));
    let mut c = Connector::new(&fake, config(PASSWORD));
    let err = c.list_resources("role", None).unwrap_err();
    assert!(
        matches!(err, Error::Unavailable(ref m) if m.contains("answered 504") && m.contains("gave up after 4 attempts")),
        "{err:?}"
    );
    assert_eq!(requests(&fake), 1 + 4);
}

fn listing_error(fake: &FakeAirflow) -> Error {
    let mut c = Connector::new(fake, config(PASSWORD));
    let mut token = None;
    loop {
        match c.list_resources("user", token.as_deref()) {
            Ok(page) => match page.next_page_token {
                Some(t) => token = Some(t),
                None => panic!("the listing ended as if complete"),
            },
            Err(e) => return e,
        }
    }
}

#[test]
fn a_server_that_ignores_offset_is_stopped_on_the_third_page() {
    let fake = FakeAirflow::new(0, 1);
    fake.canned
        .borrow_mut()
        .extend((0..5).map(|_| raw(200, &[JSON], &users_body(0..100, 1000))));
    let err = listing_error(&fake);
    assert!(
        matches!(err, Error::UpstreamProtocol(ref m) if m.contains("does not honour `offset`")),
        "{err:?}"
    );
    assert_eq!(requests(&fake), 1 + 3);
}

#[test]
fn a_total_that_changes_between_pages_is_not_an_error() {
    let fake = FakeAirflow::new(0, 1);
    fake.canned.borrow_mut().extend([
        raw(200, &[JSON], &users_body(0..100, 150)),
        raw(200, &[JSON], &users_body(99..152, 152)),
    ]);
    let pages = full_pass(&mut Connector::new(&fake, config(PASSWORD)), "user");
    let ids: Vec<_> = pages.iter().flat_map(|p| &p.resources).collect();
    assert_eq!(ids.len(), 152);
    assert_eq!(ids.last().map(|r| r.id.as_str()), Some("user151"));
}

#[test]
fn a_page_that_ends_before_the_total_is_reached_is_a_conflict() {
    let fake = FakeAirflow::new(0, 1);
    fake.canned.borrow_mut().extend([
        raw(200, &[JSON], &users_body(0..100, 150)),
        raw(200, &[JSON], &users_body(99..120, 150)),
    ]);
    let err = listing_error(&fake);
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("ended after 21 rows although total_entries is 150")),
        "{err:?}"
    );
}

#[test]
fn a_shifted_listing_heals_through_the_connector_and_the_summary_counts_it() {
    // Page two is read after `user5` was deleted: it starts one row late, and the window before
    // it finds `user99`, so `user100` is not lost.
    let fake = FakeAirflow::new(0, 1);
    let without_5 = |r: std::ops::Range<usize>| {
        let users: Vec<_> = r
            .filter(|i| *i != 5)
            .map(|i| json!({"username": format!("user{i}"), "roles": []}))
            .collect();
        json!({"users": users, "total_entries": 149}).to_string()
    };
    fake.canned.borrow_mut().extend([
        raw(200, &[JSON], &users_body(0..100, 150)),
        raw(200, &[JSON], &without_5(100..150)),
        raw(200, &[JSON], &without_5(0..101)),
    ]);
    let mut c = Connector::new(&fake, config(PASSWORD));
    let pages = full_pass(&mut c, "user");
    let ids: Vec<_> = pages
        .iter()
        .flat_map(|p| &p.resources)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids.len(), 150);
    assert!(ids.contains(&"user100"));
    let info = c.session_info();
    assert!(
        info.contains(&("shifted_pages".into(), "1".into())),
        "{info:?}"
    );
    assert!(
        info.contains(&("realign_requests".into(), "1".into())),
        "{info:?}"
    );
}

#[test]
fn unusable_bodies_are_upstream_protocol_errors_naming_request_status_and_excerpt() {
    for (response, want) in [
        (raw(200, &[JSON], r#"{"users":[{"username":"a""#), "a truncated JSON body"),
        (raw(200, &[JSON], "{users: nope}"), "a body that is not valid JSON"),
        (
            raw(200, &[("content-type", "text/html; charset=utf-8")], "<html><head><title>Sign In - Airflow</title>"),
            "content-type `text/html; charset=utf-8` instead of JSON (an HTML page titled `Sign In - Airflow`)",
        ),
        (raw(200, &[JSON], r#"{"users":[],"total_entries":"many"}"#), "JSON of an unexpected shape (invalid type: string \"many\", expected u64"),
        (raw(200, &[JSON], r#"{"users":[{"email":"x"}],"total_entries":1}"#), "missing field `username`"),
        (raw(404, &[("content-type", "text/html")], "<html><title>404 Not Found</title></html>"), "no Airflow API answers at this path"),
    ] {
        let fake = FakeAirflow::new(1, 1);
        fake.canned.borrow_mut().push(response);
        let mut c = Connector::new(&fake, config(PASSWORD));
        let err = c.list_resources("user", None).unwrap_err();
        let Error::UpstreamProtocol(m) = &err else { panic!("{err:?}") };
        assert!(m.contains("listing users (GET /auth/fab/v1/users)"), "{m}");
        assert!(m.contains(want), "{want}: {m}");
        assert!(!m.contains("limit="), "{m}");
    }
}

#[test]
fn a_redirect_names_only_the_target_origin_and_is_not_followed() {
    let fake = FakeAirflow::new(1, 1);
    fake.canned.borrow_mut().push(raw(
        302,
        &[(
            "location",
            "https://sso.example.com/login?next=/x&token=abc",
        )],
        "",
    ));
    let mut c = Connector::new(&fake, config(PASSWORD));
    let err = c.list_resources("user", None).unwrap_err();
    let Error::UpstreamProtocol(m) = &err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains("redirecting to `https://sso.example.com`"),
        "{m}"
    );
    assert!(m.contains("redirects are not followed"), "{m}");
    assert!(!m.contains("token=abc"), "{m}");
    assert_eq!(requests(&fake), 2);
}

#[test]
fn a_server_echoing_credentials_never_gets_them_into_an_error() {
    let fake = FakeAirflow::new(1, 1);
    let echo = format!(
        r#"{{"detail":"bad request from admin with {PASSWORD} and Bearer eyJhbGciOiJIUzUxMiJ9.e30.sig"}}"#
    );
    fake.canned.borrow_mut().push(raw(400, &[JSON], &echo));
    let mut c = Connector::new(&fake, config(PASSWORD));
    let text = c.list_resources("user", None).unwrap_err().to_string();
    assert!(text.contains("bad request from admin"), "{text}");
    assert!(
        !text.contains(PASSWORD) && !text.contains("eyJhbGci"),
        "{text}"
    );
}
