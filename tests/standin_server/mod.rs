//! A loopback stand-in of Airflow 3.3's FastAPI FAB API (`/auth/token`, and the users and roles
//! collections under `/auth/fab/v1`) serving an in-memory directory that a scenario changes
//! between the connector's reads. A real Airflow cannot be made to delete a row exactly between
//! two page reads, so the paging tests (tests/paging_shifts.rs) use this instead.
//!
//! It pages like Airflow: users in id order (a new user joins at the end), roles in name order
//! (a new role may land anywhere), `limit` capped at 100, an offset past the end answers an
//! empty list, `total_entries` is the count at the moment of the read. The HTTP/1.1 itself is
//! tests/loopback_http's (one request per connection, request bodies by content-length or
//! chunked).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};

#[path = "../loopback_http/mod.rs"]
mod loopback_http;

use loopback_http::{Request, Response, Server};

/// Airflow's `[api] maximum_page_limit` default: larger limits are clamped to it.
pub const MAX_LIMIT: usize = 100;

/// What `/auth/token` hands out. Opaque (no readable `exp`), so the connector never renews it.
pub const TOKEN: &str = "standin-opaque-access-token";

const API: &str = "/auth/fab/v1";

/// Roles of a small directory, as a seeded Airflow has them (tests/fixtures/directory.json).
pub const STANDARD_ROLES: [&str; 9] = [
    "Admin",
    "Auditor",
    "Contractor",
    "Data Engineer",
    "Op",
    "Public",
    "Sync Reader",
    "User",
    "Viewer",
];

const FIRST_NAMES: [&str; 8] = [
    "Anna", "Bob", "Carol", "Dana", "Elif", "Grace", "Hana", "Priya",
];
const LAST_NAMES: [&str; 8] = [
    "Rossi", "Okafor", "Danvers", "Evans", "Wang", "Berg", "Zak", "Castro",
];
const TEAMS: [&str; 5] = ["Analytics", "Finance", "Platform", "Research", "Sales"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Users,
    Roles,
}

#[derive(Debug, Clone)]
struct UserRow {
    username: String,
    first: &'static str,
    last: &'static str,
    roles: Vec<String>,
    /// Microseconds since 16:00:00 on the seeding day: distinct and growing, like an id.
    created_us: u64,
}

#[derive(Debug, Clone)]
struct RoleRow {
    name: String,
    /// (action, resource)
    actions: Vec<(&'static str, &'static str)>,
}

/// The directory the stand-in serves. Scenarios change it through these methods, which also
/// note every name created or deleted, so a test can tell the rows that existed for the whole
/// sync (the guarantee covers those) from the ones that did not.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// In id order.
    users: Vec<UserRow>,
    /// Always sorted by name.
    roles: Vec<RoleRow>,
    clock_us: u64,
    created: u64,
    touched_users: BTreeSet<String>,
    touched_roles: BTreeSet<String>,
}

impl Directory {
    /// `users` users (the first is `admin`) and `roles` roles: the nine standard ones, then
    /// team roles. Users hold roles in turn, so every role has members.
    pub fn new(users: usize, roles: usize) -> Self {
        let mut d = Directory::default();
        for name in STANDARD_ROLES.iter().take(roles) {
            d.insert_role(name);
        }
        for i in STANDARD_ROLES.len()..roles {
            let team = TEAMS[i % TEAMS.len()];
            d.insert_role(&format!("Team {team} {i:03}"));
        }
        let role_names: Vec<String> = d.roles.iter().map(|r| r.name.clone()).collect();
        for i in 0..users {
            let name = if i == 0 {
                "admin".to_string()
            } else {
                Self::username(i)
            };
            let roles = match role_names.len() {
                0 => Vec::new(),
                n => vec![role_names[i % n].clone()],
            };
            d.push_user(name, roles);
        }
        d
    }

    fn username(i: usize) -> String {
        let first = FIRST_NAMES[i % FIRST_NAMES.len()].to_ascii_lowercase();
        let last = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()].to_ascii_lowercase();
        format!("{first}.{last}{i:04}")
    }

    fn push_user(&mut self, username: String, roles: Vec<String>) {
        // Seeding takes a little under a millisecond per user; every user gets its own time.
        self.clock_us += 837;
        let n = self.users.len();
        self.users.push(UserRow {
            username,
            first: FIRST_NAMES[n % FIRST_NAMES.len()],
            last: LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()],
            roles,
            created_us: self.clock_us,
        });
    }

    fn insert_role(&mut self, name: &str) {
        let n = self.roles.len();
        let mut actions = vec![("can_read", "DAGs"), ("can_read", "My Profile")];
        if n.is_multiple_of(3) {
            actions.push(("can_edit", "DAGs"));
        }
        let at = self.roles.partition_point(|r| r.name.as_str() < name);
        self.roles.insert(
            at,
            RoleRow {
                name: name.to_string(),
                actions,
            },
        );
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn usernames(&self) -> BTreeSet<String> {
        self.users.iter().map(|u| u.username.clone()).collect()
    }

    pub fn role_names(&self) -> BTreeSet<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }

    /// The username at `position` in the listing.
    pub fn user_at(&self, position: usize) -> String {
        self.users[position].username.clone()
    }

    /// The role name at `position` in the listing.
    pub fn role_at(&self, position: usize) -> String {
        self.roles[position].name.clone()
    }

    pub fn role_position(&self, name: &str) -> Option<usize> {
        self.roles.iter().position(|r| r.name == name)
    }

    /// Deletes the user at `position`; returns its name.
    pub fn delete_user_at(&mut self, position: usize) -> String {
        let gone = self.users.remove(position);
        self.touched_users.insert(gone.username.clone());
        gone.username
    }

    /// Creates a user; it joins the end of the listing, like a new id. Returns its name.
    pub fn create_user(&mut self) -> String {
        self.created += 1;
        let name = format!("new.hire{:03}", self.created);
        self.touched_users.insert(name.clone());
        self.push_user(name.clone(), vec!["Viewer".into()]);
        name
    }

    /// Deletes the role at `position`; returns its name.
    pub fn delete_role_at(&mut self, position: usize) -> String {
        let gone = self.roles.remove(position);
        self.touched_roles.insert(gone.name.clone());
        gone.name
    }

    /// Creates a role where its name sorts.
    pub fn create_role(&mut self, name: &str) {
        self.touched_roles.insert(name.to_string());
        self.insert_role(name);
    }

    /// Names created or deleted since the directory was built.
    pub fn touched(&self, collection: Collection) -> &BTreeSet<String> {
        match collection {
            Collection::Users => &self.touched_users,
            Collection::Roles => &self.touched_roles,
        }
    }

    fn user_json(u: &UserRow) -> Value {
        let created = timestamp(u.created_us);
        let changed = timestamp(u.created_us + 6);
        let admin = u.username == "admin";
        json!({
            "username": u.username,
            "email": format!("{}@example.com", u.username),
            "first_name": if admin { "Admin" } else { u.first },
            "last_name": if admin { "User" } else { u.last },
            "roles": u.roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
            "active": true,
            "last_login": if admin { Value::from(timestamp(90_000_000)) } else { Value::Null },
            "login_count": if admin { Value::from(41) } else { Value::Null },
            "fail_login_count": if admin { Value::from(0) } else { Value::Null },
            "created_on": created,
            "changed_on": changed,
        })
    }

    fn role_json(r: &RoleRow) -> Value {
        json!({
            "name": r.name,
            "actions": r.actions.iter().map(|(action, resource)| json!({
                "action": {"name": action},
                "resource": {"name": resource},
            })).collect::<Vec<_>>(),
        })
    }

    fn page(&self, collection: Collection, offset: usize, limit: usize) -> Value {
        let limit = limit.min(MAX_LIMIT);
        match collection {
            Collection::Users => json!({
                "users": self.users.iter().skip(offset).take(limit).map(Self::user_json).collect::<Vec<_>>(),
                "total_entries": self.users.len(),
            }),
            Collection::Roles => json!({
                "roles": self.roles.iter().skip(offset).take(limit).map(Self::role_json).collect::<Vec<_>>(),
                "total_entries": self.roles.len(),
            }),
        }
    }
}

/// `2026-11-22T16:00:00.000000` plus `us` microseconds, as FAB formats `created_on`.
fn timestamp(us: u64) -> String {
    let secs = us / 1_000_000;
    format!(
        "2026-11-22T{:02}:{:02}:{:02}.{:06}",
        16 + secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        us % 1_000_000
    )
}

/// One read of a collection, as the stand-in received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub collection: Collection,
    /// 1 for the first read of this collection, 2 for the second, …
    pub nth: usize,
    pub offset: usize,
    pub limit: usize,
}

/// Called before each collection read is answered: the scenario changes the directory here.
pub type Scenario = Box<dyn FnMut(&mut Directory, &Read) + Send>;

/// A scenario that leaves the directory alone.
pub fn quiet() -> Scenario {
    Box::new(|_, _| {})
}

/// A scenario that runs `change` once, just before the `nth` read of `collection`.
pub fn before(
    collection: Collection,
    nth: usize,
    change: impl FnMut(&mut Directory) + Send + 'static,
) -> Scenario {
    let mut change = change;
    Box::new(move |d, read| {
        if read.collection == collection && read.nth == nth {
            change(d);
        }
    })
}

struct State {
    directory: Directory,
    scenario: Scenario,
    reads: Vec<Read>,
    sign_ins: usize,
    /// Requests a real Airflow would have refused or that the connector should not send.
    problems: Vec<String>,
}

pub struct StandIn {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    /// Serves `directory`, changed by `scenario`, on 127.0.0.1 (a free port). Sign-in accepts
    /// `username` with `password` only.
    pub fn start(directory: Directory, scenario: Scenario, username: &str, password: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            directory,
            scenario,
            reads: Vec::new(),
            sign_ins: 0,
            problems: Vec::new(),
        }));
        let server = {
            let (state, failed) = (state.clone(), state.clone());
            let credentials = (username.to_string(), password.to_string());
            Server::start(
                move |_, request| respond(request, &state, &credentials),
                move |error| lock(&failed).problems.push(error),
            )
        };
        StandIn { server, state }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Every read of `collection` so far, as (offset, limit) in the order received.
    pub fn reads(&self, collection: Collection) -> Vec<(usize, usize)> {
        lock(&self.state)
            .reads
            .iter()
            .filter(|r| r.collection == collection)
            .map(|r| (r.offset, r.limit))
            .collect()
    }

    pub fn sign_ins(&self) -> usize {
        lock(&self.state).sign_ins
    }

    pub fn problems(&self) -> Vec<String> {
        lock(&self.state).problems.clone()
    }

    /// The directory as it stands now.
    pub fn directory(&self) -> Directory {
        lock(&self.state).directory.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A failed assertion in a scenario poisons the lock; the test fails on that panic anyway.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn respond(request: &Request, state: &Mutex<State>, credentials: &(String, String)) -> Response {
    let (status, body) = answer(request, &mut lock(state), credentials);
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    Response {
        status,
        reason,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("server".into(), "standin".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

fn answer(request: &Request, state: &mut State, credentials: &(String, String)) -> (u16, Value) {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let what = format!("{} {}", request.method, request.target);
    if request.method == "POST" && path == "/auth/token" {
        return sign_in(&request.body, state, credentials);
    }
    let collection = match (request.method.as_str(), path.strip_prefix(API)) {
        ("GET", Some("/users")) => Collection::Users,
        ("GET", Some("/roles")) => Collection::Roles,
        _ => {
            state.problems.push(format!("unexpected request {what}"));
            return (404, json!({"detail": "Not Found"}));
        }
    };
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        state
            .problems
            .push(format!("{what} without the signed-in bearer token"));
        return (401, json!({"detail": "Not authenticated"}));
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let (Some(offset), Some(limit)) = (param("offset"), param("limit")) else {
        state
            .problems
            .push(format!("{what} without a numeric offset and limit"));
        return (400, json!({"detail": "offset and limit are expected"}));
    };
    let read = Read {
        collection,
        nth: state
            .reads
            .iter()
            .filter(|r| r.collection == collection)
            .count()
            + 1,
        offset,
        limit,
    };
    state.reads.push(read);
    (state.scenario)(&mut state.directory, &read);
    (200, state.directory.page(collection, offset, limit))
}

fn sign_in(
    body: &[u8],
    state: &mut State,
    (username, password): &(String, String),
) -> (u16, Value) {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (body["username"].as_str(), body["password"].as_str()) {
        (Some(u), Some(p)) if u == username && p == password => {
            state.sign_ins += 1;
            (201, json!({"access_token": TOKEN}))
        }
        (Some(_), Some(_)) => {
            state.problems.push("sign-in with wrong credentials".into());
            (401, json!({"detail": "Invalid credentials"}))
        }
        _ => {
            state
                .problems
                .push("sign-in without username and password".into());
            (
                400,
                json!({"detail": "Username and password must be provided"}),
            )
        }
    }
}
