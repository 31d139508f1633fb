//! Wire types of the FAB API, lenient where real servers leave fields null or out, strict where
//! the connector cannot work without a field (a user without a username is unusable).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct RoleName {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct User {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<RoleName>>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub last_login: Option<String>,
    #[serde(default)]
    pub login_count: Option<u64>,
    #[serde(default)]
    pub fail_login_count: Option<u64>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub changed_on: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Named {
    pub name: String,
}

/// One action on one resource, e.g. `can_edit` on `Users`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Permission {
    pub action: Named,
    pub resource: Named,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub actions: Option<Vec<Permission>>,
}

impl Role {
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.actions
            .iter()
            .flatten()
            .any(|p| p.action.name == action && p.resource.name == resource)
    }
}

/// The body of `POST /users`. Debug is hand-written so the password never reaches a log.
#[derive(Clone, serde::Serialize)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub roles: Vec<RoleName>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct UserCollection {
    pub users: Vec<User>,
    pub total_entries: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RoleCollection {
    pub roles: Vec<Role>,
    pub total_entries: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
}

/// One page of a collection, whatever the item type.
pub trait Collection {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, u64);
}

impl Collection for UserCollection {
    type Item = User;
    fn into_parts(self) -> (Vec<User>, u64) {
        (self.users, self.total_entries)
    }
}

impl Collection for RoleCollection {
    type Item = Role;
    fn into_parts(self) -> (Vec<Role>, u64) {
        (self.roles, self.total_entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_user_record_parses_including_nulls() {
        // Shape copied from a real Airflow 3.3 response.
        let body = r#"{"users":[{"active":true,"changed_on":"2026-11-20T10:00:00.123456",
            "created_on":"2026-11-20T10:00:00.123456","email":"a@example.com","fail_login_count":null,
            "first_name":"Ad","last_login":null,"last_name":"Min","login_count":null,
            "roles":[{"name":"Admin"}],"username":"admin"}],"total_entries":1}"#;
        let page: UserCollection = serde_json::from_str(body).unwrap();
        assert_eq!(page.total_entries, 1);
        let u = &page.users[0];
        assert_eq!(u.username, "admin");
        assert_eq!(u.login_count, None);
        assert_eq!(u.roles.as_ref().unwrap()[0].name, "Admin");
    }

    #[test]
    fn role_actions_parse_and_missing_total_fails() {
        let body = r#"{"roles":[{"name":"Op","actions":[{"action":{"name":"can_read"},"resource":{"name":"DAGs"}}]}],"total_entries":1}"#;
        let page: RoleCollection = serde_json::from_str(body).unwrap();
        assert_eq!(page.roles[0].name, "Op");
        assert!(page.roles[0].allows("can_read", "DAGs"));
        assert!(!page.roles[0].allows("can_edit", "DAGs"));
        assert!(serde_json::from_str::<RoleCollection>(r#"{"roles":[]}"#).is_err());
    }
}
