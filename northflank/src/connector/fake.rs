//! An in-memory Northflank for the connector's tests, answering as the reference describes:
//! the `{"error":{…}}` envelope, 401 for a bad token and for a missing permission (told apart
//! by `details.requiredPermission`), cursor paging (default 50 rows, at most 100, no `cursor`
//! on the last page), an unpaginated directory-groups list, and `x-ratelimit-*` on every
//! answer. Its clock is per test thread: pauses advance it instead of sleeping.

use crate::api::{MEMBERS_READ, ROLES_MANAGE, ROLES_READ};
use connector_sdk::http::{Method, Request, Response, Transport};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

pub const TOKEN: &str = "nfTOKEN-eyJzZWNyZXQiOnRydWV9-0123456789";
pub const ORIGIN: &str = "http://nf.test";

thread_local! {
    static CLOCK: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

pub fn now() -> Duration {
    CLOCK.with(Cell::get)
}

#[derive(Clone)]
pub struct FakeMember {
    pub id: String,
    pub name: String,
    pub finalized: bool,
}

#[derive(Clone)]
pub struct FakeRole {
    pub id: String,
    pub name: String,
    pub restricted: bool,
    pub groups: Vec<String>,
    pub explicit: Vec<String>,
}

#[derive(Clone)]
pub struct FakeGroup {
    pub id: String,
    pub name: String,
    /// Member ids; None for a directory user without an account (named by `email`).
    pub members: Vec<(Option<String>, String)>,
}

pub struct FakeNorthflank {
    pub members: RefCell<Vec<FakeMember>>,
    pub roles: RefCell<Vec<FakeRole>>,
    pub groups: RefCell<Vec<FakeGroup>>,
    /// The permissions the token's role holds.
    pub permissions: RefCell<Vec<&'static str>>,
    pub log: RefCell<Vec<Request>>,
    /// Answers given (first first) before behaving normally.
    pub canned: RefCell<VecDeque<Result<Response, String>>>,
    /// The budget: limit, remaining, and when the window ends on the fake clock.
    pub limit: Cell<u64>,
    pub remaining: Cell<u64>,
    pub window_end: Cell<Duration>,
    /// Whether answers carry the rate-limit headers.
    pub rate_headers: Cell<bool>,
    /// Whether the `userIds` filter is honoured.
    pub honour_user_filter: Cell<bool>,
    /// The next write is applied but its answer is lost.
    pub lose_write_answer: Cell<bool>,
    /// Error messages quote the authorization header, as a careless server might.
    pub echo_token: Cell<bool>,
    pub paused: Cell<Duration>,
}

impl FakeNorthflank {
    /// `n` members (every 10th unfinalised), roles `admin` (restricted), `developer` (linked to
    /// group `eng`) and `viewer`, and groups `eng` (with a directory user without an account)
    /// and `ops`; `user-1` is both explicit and implicit in `developer`.
    pub fn seeded(n: usize) -> Self {
        let members: Vec<FakeMember> = (0..n)
            .map(|i| FakeMember {
                id: format!("user-{i}"),
                name: format!("User {i}"),
                finalized: i % 10 != 9,
            })
            .collect();
        let roles = vec![
            FakeRole {
                id: "admin".into(),
                name: "Admin".into(),
                restricted: true,
                groups: vec![],
                explicit: vec!["user-0".into()],
            },
            FakeRole {
                id: "developer".into(),
                name: "Developer".into(),
                restricted: false,
                groups: vec!["directory_group_ENG".into()],
                explicit: vec!["user-1".into(), "user-5".into()],
            },
            FakeRole {
                id: "viewer".into(),
                name: "Viewer".into(),
                restricted: false,
                groups: vec![],
                explicit: (0..n.min(150)).map(|i| format!("user-{i}")).collect(),
            },
        ];
        let groups = vec![
            FakeGroup {
                id: "directory_group_ENG".into(),
                name: "Engineering".into(),
                members: vec![
                    (Some("user-1".into()), "u1@example.com".into()),
                    (Some("user-2".into()), "u2@example.com".into()),
                    (None, "new.hire@example.com".into()),
                ],
            },
            FakeGroup {
                id: "directory_group_OPS".into(),
                name: "Operations".into(),
                members: vec![(Some("user-3".into()), "u3@example.com".into())],
            },
        ];
        CLOCK.with(|c| c.set(Duration::from_secs(1000)));
        FakeNorthflank {
            members: RefCell::new(members),
            roles: RefCell::new(roles),
            groups: RefCell::new(groups),
            permissions: RefCell::new(vec![MEMBERS_READ, ROLES_READ, ROLES_MANAGE]),
            log: RefCell::new(Vec::new()),
            canned: RefCell::new(VecDeque::new()),
            limit: Cell::new(1000),
            remaining: Cell::new(1000),
            window_end: Cell::new(Duration::from_secs(1000 + 3600)),
            rate_headers: Cell::new(true),
            honour_user_filter: Cell::new(true),
            lose_write_answer: Cell::new(false),
            echo_token: Cell::new(false),
            paused: Cell::new(Duration::ZERO),
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log
            .borrow()
            .iter()
            .map(|r| format!("{} {}", r.method.as_str(), r.url.trim_start_matches(ORIGIN)))
            .collect()
    }

    pub fn without(&self, permission: &str) -> &Self {
        self.permissions.borrow_mut().retain(|p| *p != permission);
        self
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![(
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )];
        if self.rate_headers.get() {
            let reset = self.window_end.get().saturating_sub(now()).as_secs();
            h.push(("x-ratelimit-limit".into(), self.limit.get().to_string()));
            h.push((
                "x-ratelimit-remaining".into(),
                self.remaining.get().to_string(),
            ));
            h.push(("x-ratelimit-reset".into(), reset.to_string()));
        }
        h
    }

    fn answer(&self, status: u16, body: Value) -> Result<Response, String> {
        Ok(Response {
            status,
            headers: self.headers(),
            body: body.to_string().into_bytes(),
        })
    }

    fn error(&self, status: u16, message: &str) -> Result<Response, String> {
        self.answer(
            status,
            json!({"error": {"status": status, "message": message}}),
        )
    }

    fn page(&self, rows: Vec<Value>, key: &str, query: &str) -> Result<Response, String> {
        let per_page = param(query, "per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let offset = match param(query, "cursor") {
            None => 0,
            Some(c) => match c.strip_prefix("c").and_then(|n| n.parse::<usize>().ok()) {
                Some(o) => o,
                None => return self.error(400, "Invalid cursor"),
            },
        };
        let end = (offset + per_page).min(rows.len());
        let data: Vec<Value> = rows.get(offset..end).unwrap_or_default().to_vec();
        let mut pagination = json!({"hasNextPage": end < rows.len(), "count": data.len()});
        if end < rows.len() {
            pagination["cursor"] = json!(format!("c{end}"));
        }
        self.answer(200, json!({"data": {key: data}, "pagination": pagination}))
    }

    fn member_json(&self, id: &str) -> Value {
        let members = self.members.borrow();
        let m = members.iter().find(|m| m.id == id);
        json!({
            "id": id,
            "name": m.map(|m| m.name.clone()),
            "emails": [{"address": format!("{id}@example.com"), "verified": true}],
            "joinedAt": "2026-01-20T11:19:53.175Z",
            "finalized": m.is_none_or(|m| m.finalized),
        })
    }

    fn role_json(r: &FakeRole) -> Value {
        json!({"id": r.id, "name": r.name, "description": format!("{} role", r.name),
               "restrictions": {"enabled": r.restricted,
                   "teams": if r.restricted { json!([{"teamId": "team-a"}]) } else { json!([]) }},
               "directoryGroups": r.groups, "createdAt": "2026-01-01T00:00:00.000Z",
               "updatedAt": "2026-01-02T00:00:00.000Z"})
    }

    /// Explicit rows, then implicit ones (members of linked groups), each sorted by id: a
    /// member both ways has two rows.
    fn role_members(&self, role: &FakeRole, query: &str) -> Vec<Value> {
        let mut explicit = role.explicit.clone();
        explicit.sort();
        let mut implicit: Vec<String> = self
            .groups
            .borrow()
            .iter()
            .filter(|g| role.groups.contains(&g.id))
            .flat_map(|g| g.members.iter().filter_map(|(id, _)| id.clone()))
            .collect();
        implicit.sort();
        implicit.dedup();
        let filter = param(query, "userIds").filter(|_| self.honour_user_filter.get());
        explicit
            .iter()
            .map(|id| (id, "explicit"))
            .chain(implicit.iter().map(|id| (id, "implicit")))
            .filter(|(id, _)| filter.as_deref().is_none_or(|f| f == id.as_str()))
            .map(|(id, kind)| {
                let mut v = self.member_json(id);
                v["type"] = json!(kind);
                v
            })
            .collect()
    }

    fn route(&self, request: &Request) -> Result<Response, String> {
        let path = request.url.strip_prefix(ORIGIN).ok_or("wrong origin")?;
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
        let need = |permission: &'static str| -> Option<Result<Response, String>> {
            (!self.permissions.borrow().contains(&permission)).then(|| {
                self.answer(
                    401,
                    json!({"error": {"status": 401,
                        "message": "Your API token does not have permission to access this resource",
                        "details": {"requiredPermission": permission.to_lowercase().replace(" > ", "_")}}}),
                )
            })
        };
        match (request.method, segments.as_slice()) {
            (Method::Get, ["v1", "org-members"]) => {
                if let Some(denied) = need(MEMBERS_READ) {
                    return denied;
                }
                let rows = self
                    .members
                    .borrow()
                    .iter()
                    .map(|m| self.member_json(&m.id))
                    .collect();
                self.page(rows, "members", query)
            }
            (Method::Get, ["v1", "org-roles"]) => {
                if let Some(denied) = need(ROLES_READ) {
                    return denied;
                }
                let rows = self.roles.borrow().iter().map(Self::role_json).collect();
                self.page(rows, "roles", query)
            }
            (Method::Get, ["v1", "org-roles", id]) => {
                if let Some(denied) = need(ROLES_READ) {
                    return denied;
                }
                match self.roles.borrow().iter().find(|r| r.id == *id) {
                    Some(r) => self.answer(200, json!({"data": Self::role_json(r)})),
                    None => self.error(404, "Role not found"),
                }
            }
            (Method::Get, ["v1", "org-roles", id, "members"]) => {
                if let Some(denied) = need(ROLES_READ) {
                    return denied;
                }
                let role = self.roles.borrow().iter().find(|r| r.id == *id).cloned();
                match role {
                    Some(r) => self.page(self.role_members(&r, query), "members", query),
                    None => self.error(404, "Role not found"),
                }
            }
            (Method::Post, ["v1", "org-roles", id, "members"]) => {
                if let Some(denied) = need(ROLES_MANAGE) {
                    return denied;
                }
                let body: Value =
                    serde_json::from_slice(request.body.as_deref().unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                let user = body["userId"].as_str().unwrap_or_default().to_string();
                if !self.members.borrow().iter().any(|m| m.id == user) {
                    return self.error(404, "User not found");
                }
                let mut roles = self.roles.borrow_mut();
                let Some(role) = roles.iter_mut().find(|r| r.id == *id) else {
                    return self.error(404, "Role not found");
                };
                if !role.explicit.contains(&user) {
                    role.explicit.push(user);
                }
                drop(roles);
                self.written()
            }
            (Method::Delete, ["v1", "org-roles", id, "members", user]) => {
                if let Some(denied) = need(ROLES_MANAGE) {
                    return denied;
                }
                let mut roles = self.roles.borrow_mut();
                let Some(role) = roles.iter_mut().find(|r| r.id == *id) else {
                    return self.error(404, "Role not found");
                };
                if !role.explicit.iter().any(|m| m == user) {
                    return self.error(404, "Member not found");
                }
                role.explicit.retain(|m| m != user);
                drop(roles);
                self.written()
            }
            (Method::Get, ["v1", "directory-groups"]) => {
                if let Some(denied) = need(ROLES_READ) {
                    return denied;
                }
                let groups: Vec<Value> = self.groups.borrow().iter().map(|g| json!({
                    "id": g.id, "name": g.name, "idpId": format!("idp-{}", g.name.to_lowercase()),
                    "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})).collect();
                self.answer(200, json!({"data": {"directoryGroups": groups}}))
            }
            (Method::Get, ["v1", "directory-groups", id, "members"]) => {
                if let Some(denied) = need(MEMBERS_READ) {
                    return denied;
                }
                let group = self.groups.borrow().iter().find(|g| g.id == *id).cloned();
                match group {
                    Some(g) => {
                        let rows = g.members.iter().map(|(id, email)| json!({
                            "id": id, "name": id.as_deref().map_or("Directory only".to_string(), |i| format!("Name {i}")),
                            "emails": [email]})).collect();
                        self.page(rows, "members", query)
                    }
                    None => self.error(404, "Directory group not found"),
                }
            }
            _ => self.error(404, "Not found. The requested route does not exist"),
        }
    }

    fn written(&self) -> Result<Response, String> {
        if self.lose_write_answer.replace(false) {
            return Err("connection reset".into());
        }
        self.answer(200, json!({"data": {}}))
    }
}

pub fn param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

impl Transport for &FakeNorthflank {
    fn send(&self, request: &Request) -> Result<Response, String> {
        self.log.borrow_mut().push(request.clone());
        if now() >= self.window_end.get() {
            self.remaining.set(self.limit.get());
            self.window_end.set(now() + Duration::from_secs(3600));
        }
        if let Some(canned) = self.canned.borrow_mut().pop_front() {
            return canned;
        }
        if self.remaining.get() == 0 {
            return self.error(429, "Too many requests");
        }
        self.remaining.set(self.remaining.get() - 1);
        let auth = request
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if auth != format!("Bearer {TOKEN}") {
            return self.error(401, "Unauthorized");
        }
        let answer = self.route(request)?;
        if self.echo_token.get() && answer.status != 200 {
            return self.error(
                answer.status,
                &format!("request with Authorization: {auth} refused; token {TOKEN}"),
            );
        }
        Ok(answer)
    }

    fn pause(&self, duration: Duration) {
        self.paused.set(self.paused.get() + duration);
        CLOCK.with(|c| c.set(c.get() + duration));
    }

    fn monotonic_now() -> Duration {
        now()
    }
}
