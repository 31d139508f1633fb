//! A synthetic Airflow user directory (users, ~50 roles with permissions) and its pages as
//! Airflow 3's FAB FastAPI API renders them (shape copied from the real 3.3 cassettes).

use serde_json::{json, Value};

/// Airflow's `[api] maximum_page_limit` default; the connector asks for pages of this size.
pub const PAGE: usize = 100;

const ACTIONS: [&str; 4] = ["can_read", "can_edit", "can_create", "can_delete"];
const RESOURCES: [&str; 24] = [
    "DAGs",
    "DAG Runs",
    "Task Instances",
    "Connections",
    "Variables",
    "Pools",
    "XComs",
    "Audit Logs",
    "Jobs",
    "Plugins",
    "Providers",
    "Configurations",
    "Users",
    "Roles",
    "Permissions",
    "Website",
    "Assets",
    "Backfills",
    "Task Logs",
    "DAG Code",
    "DAG Warnings",
    "Import Errors",
    "Cluster Activity",
    "Docs",
];

pub struct Directory {
    pub users: usize,
    pub roles: usize,
}

impl Directory {
    pub fn new(users: usize, roles: usize) -> Self {
        Self { users, roles }
    }

    pub fn role_name(r: usize) -> String {
        format!("Team Role {r:02}")
    }

    /// One to three roles per user, spread over all roles.
    fn user_roles(&self, i: usize) -> Vec<usize> {
        let mut roles = vec![i % self.roles];
        if i.is_multiple_of(3) {
            roles.push((i * 7 + 3) % self.roles);
        }
        if i.is_multiple_of(5) {
            roles.push((i * 11 + 5) % self.roles);
        }
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    pub fn user(&self, i: usize) -> Value {
        let roles: Vec<Value> = self
            .user_roles(i)
            .into_iter()
            .map(|r| json!({ "name": Self::role_name(r) }))
            .collect();
        let logged_in = !i.is_multiple_of(4);
        json!({
            "username": format!("user{i:06}"),
            "email": format!("user{i:06}@example.com"),
            "first_name": format!("First{i}"),
            "last_name": format!("Last{i}"),
            "roles": roles,
            "active": !i.is_multiple_of(50),
            "last_login": if logged_in { json!("2026-11-22T18:11:54.331485") } else { Value::Null },
            "login_count": if logged_in { json!(i % 500) } else { Value::Null },
            "fail_login_count": if logged_in { json!(0) } else { Value::Null },
            "created_on": "2026-11-22T16:29:41.855560",
            "changed_on": "2026-11-22T16:29:41.855567",
        })
    }

    /// 8 to 31 permissions per role.
    pub fn role(&self, r: usize) -> Value {
        let mut actions: Vec<(usize, usize)> = (0..8 + r % 24)
            .map(|j| (j % ACTIONS.len(), (r + j * 5) % RESOURCES.len()))
            .collect();
        actions.sort_unstable();
        actions.dedup();
        let actions: Vec<Value> = actions
            .into_iter()
            .filter_map(|(a, res)| {
                Some(json!({
                    "action": { "name": ACTIONS.get(a)? },
                    "resource": { "name": RESOURCES.get(res)? },
                }))
            })
            .collect();
        json!({ "name": Self::role_name(r), "actions": actions })
    }

    pub fn total(&self, kind: Kind) -> usize {
        match kind {
            Kind::Users => self.users,
            Kind::Roles => self.roles,
        }
    }

    /// `{"users": [...], "total_entries": N}` (or roles) for one `limit`/`offset`.
    pub fn page(&self, kind: Kind, offset: usize, limit: usize) -> Value {
        let end = offset.saturating_add(limit).min(self.total(kind));
        let items: Vec<Value> = (offset.min(end)..end)
            .map(|i| match kind {
                Kind::Users => self.user(i),
                Kind::Roles => self.role(i),
            })
            .collect();
        json!({ kind.key(): items, "total_entries": self.total(kind) })
    }

    /// Requests of a full sync with the API generation configured: sign-in, then every page.
    pub fn expected_requests(&self) -> usize {
        1 + self.offsets(Kind::Users).len() + self.offsets(Kind::Roles).len()
    }

    /// The offsets the connector reads a quiet listing at: 0, then each page from the last row
    /// of the one before, until a page comes back short (src/paging.rs).
    pub fn offsets(&self, kind: Kind) -> Vec<usize> {
        let total = self.total(kind);
        let mut offsets = vec![0];
        let mut end = PAGE.min(total);
        while end - offsets.last().copied().unwrap_or(0) == PAGE {
            offsets.push(end - 1);
            end = (end - 1 + PAGE).min(total);
        }
        offsets
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Users,
    Roles,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Roles => "roles",
        }
    }
}

/// A JWT (unsigned: the connector only reads `exp`) valid for ten years.
pub fn jwt() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = format!(
        r#"{{"sub":"1","iat":{now},"exp":{}}}"#,
        now + 10 * 365 * 86400
    );
    format!(
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.{}.c3ludGhldGlj",
        base64url(claims.as_bytes())
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * k)) & 63;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_the_directory_and_requests_follow() {
        let d = Directory::new(250, 50);
        assert_eq!(
            d.page(Kind::Users, 200, 100)["users"]
                .as_array()
                .unwrap()
                .len(),
            50
        );
        assert_eq!(
            d.page(Kind::Users, 300, 100)["users"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(d.page(Kind::Roles, 0, 100)["total_entries"], 50);
        assert_eq!(d.offsets(Kind::Users), [0, 99, 198]);
        assert_eq!(d.offsets(Kind::Roles), [0]);
        assert_eq!(Directory::new(200, 100).offsets(Kind::Users), [0, 99, 198]);
        assert_eq!(Directory::new(100_000, 1).offsets(Kind::Users).len(), 1011);
        assert_eq!(d.expected_requests(), 1 + 3 + 1);
        let role = d.role(7);
        assert!(role["actions"].as_array().unwrap().len() >= 8);
    }

    #[test]
    fn jwt_payload_decodes() {
        assert_eq!(base64url(b"{\"a\":1}"), "eyJhIjoxfQ");
        assert_eq!(jwt().split('.').count(), 3);
    }
}
