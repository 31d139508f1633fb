//! Airflow users and roles as resources, entitlements and grants.

use crate::airflow::api::{Permission, Role, User};
use crate::model::{
    AccountStatus, Entitlement, EntitlementPurpose, Grant, Resource, ResourceRef, UserProfile,
};

pub const USER: &str = "user";
pub const ROLE: &str = "role";
pub const MEMBER: &str = "member";
pub const PERMISSION: &str = "permission";
pub const ASSIGNED: &str = "assigned";

/// The parts joined, in one allocation of the right size: ids are built for every user and
/// grant of every page, and `format!` formats part by part (profiled in BENCHMARKS.md).
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `can_read:DAGs`: action names hold no `:`, so the first one separates them.
pub fn permission_id(p: &Permission) -> String {
    concat(&[&p.action.name, ":", &p.resource.name])
}

pub fn permission_entitlement_id(permission_id: &str) -> String {
    concat(&[PERMISSION, ":", permission_id, ":", ASSIGNED])
}

pub fn permission_resource(p: &Permission) -> Resource {
    Resource {
        resource_type: PERMISSION.to_string(),
        id: permission_id(p),
        display_name: format!("{} on {}", p.action.name.replace('_', " "), p.resource.name),
        user: None,
        attributes: vec![
            ("action".to_string(), p.action.name.clone()),
            ("resource".to_string(), p.resource.name.clone()),
        ],
    }
}

pub fn permission_entitlement(p: &Permission) -> Entitlement {
    let id = permission_id(p);
    Entitlement {
        id: permission_entitlement_id(&id),
        resource: ResourceRef::new(PERMISSION, &id),
        slug: ASSIGNED.to_string(),
        display_name: format!(
            "Assigned: {} on {}",
            p.action.name.replace('_', " "),
            p.resource.name
        ),
        description: format!("A role holds `{}` on `{}`", p.action.name, p.resource.name),
        purpose: EntitlementPurpose::Permission,
        grantable_to: vec![ROLE.to_string()],
    }
}

/// The role's permissions, each once, in the server's order.
pub fn role_permissions(role: &Role) -> Vec<&Permission> {
    let mut out: Vec<&Permission> = Vec::new();
    for p in role.actions.iter().flatten() {
        if !out.iter().any(|q| q == &p) {
            out.push(p);
        }
    }
    out
}

pub fn role_permission_grants(role: &Role) -> Vec<Grant> {
    let principal = ResourceRef::new(ROLE, &role.name);
    role_permissions(role)
        .into_iter()
        .map(|p| {
            let entitlement_id = permission_entitlement_id(&permission_id(p));
            Grant {
                id: grant_id(&entitlement_id, &principal),
                entitlement_id,
                principal: principal.clone(),
            }
        })
        .collect()
}

pub fn role_member_entitlement_id(role: &str) -> String {
    concat(&[ROLE, ":", role, ":", MEMBER])
}

pub fn grant_id(entitlement_id: &str, principal: &ResourceRef) -> String {
    concat(&[
        entitlement_id,
        ":",
        &principal.resource_type,
        ":",
        &principal.id,
    ])
}

pub fn user_resource(user: &User) -> Resource {
    let first = user.first_name.as_deref().unwrap_or("").trim();
    let last = user.last_name.as_deref().unwrap_or("").trim();
    let display_name = match (first.is_empty(), last.is_empty()) {
        (true, true) => user.username.clone(),
        (false, true) => first.to_string(),
        (true, false) => last.to_string(),
        (false, false) => concat(&[first, " ", last]),
    };
    let status = match user.active {
        Some(true) => AccountStatus::Enabled,
        Some(false) => AccountStatus::Disabled,
        None => AccountStatus::Unknown,
    };
    let mut attributes = Vec::new();
    for (key, value) in [
        ("first_name", &user.first_name),
        ("last_name", &user.last_name),
        ("changed_on", &user.changed_on),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            attributes.push((key.to_string(), v.to_string()));
        }
    }
    Resource {
        resource_type: USER.to_string(),
        id: user.username.clone(),
        display_name,
        user: Some(UserProfile {
            login: user.username.clone(),
            email: user.email.clone().filter(|e| !e.is_empty()),
            status,
            last_login: user.last_login.clone(),
            login_count: user.login_count,
            fail_login_count: user.fail_login_count,
            created_at: user.created_on.clone(),
        }),
        attributes,
    }
}

/// The user's role memberships, each role once, in the server's order.
pub fn user_grants(user: &User) -> Vec<Grant> {
    let principal = ResourceRef::new(USER, &user.username);
    let mut seen: Vec<&str> = Vec::new();
    let mut grants = Vec::new();
    for role in user.roles.iter().flatten() {
        if seen.contains(&role.name.as_str()) {
            continue;
        }
        seen.push(&role.name);
        let entitlement_id = role_member_entitlement_id(&role.name);
        grants.push(Grant {
            id: grant_id(&entitlement_id, &principal),
            entitlement_id,
            principal: principal.clone(),
        });
    }
    grants
}

pub fn holds_role(user: &User, role: &str) -> bool {
    user.roles.iter().flatten().any(|r| r.name == role)
}

pub fn role_resource(role: &Role) -> Resource {
    Resource {
        resource_type: ROLE.to_string(),
        id: role.name.clone(),
        display_name: role.name.clone(),
        user: None,
        attributes: Vec::new(),
    }
}

pub fn role_member_entitlement(role: &str) -> Entitlement {
    Entitlement {
        id: role_member_entitlement_id(role),
        resource: ResourceRef::new(ROLE, role),
        slug: MEMBER.to_string(),
        display_name: format!("{role} role member"),
        description: format!("Member of the Airflow role `{role}`"),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![USER.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airflow::api::RoleName;

    fn user(username: &str, first: &str, last: &str, roles: &[&str]) -> User {
        User {
            username: username.into(),
            email: Some(format!("{username}@example.com")),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            roles: Some(
                roles
                    .iter()
                    .map(|r| RoleName {
                        name: r.to_string(),
                    })
                    .collect(),
            ),
            active: Some(true),
            last_login: None,
            login_count: Some(3),
            fail_login_count: None,
            created_on: Some("2026-11-20T10:00:00.123456".into()),
            changed_on: None,
        }
    }

    #[test]
    fn display_name_is_first_last_or_username() {
        assert_eq!(
            user_resource(&user("zoë.müller", "Zoë", "Müller", &[])).display_name,
            "Zoë Müller"
        );
        assert_eq!(user_resource(&user("bob", "", "", &[])).display_name, "bob");
        assert_eq!(
            user_resource(&user("cher", "Cher", " ", &[])).display_name,
            "Cher"
        );
    }

    #[test]
    fn user_profile_carries_status_and_counters() {
        let mut u = user("anna maria", "Anna", "Maria", &["Op"]);
        u.active = Some(false);
        let r = user_resource(&u);
        assert_eq!(r.id, "anna maria");
        let p = r.user.unwrap();
        assert_eq!(p.login, "anna maria");
        assert_eq!(p.status, AccountStatus::Disabled);
        assert_eq!(p.login_count, Some(3));
        assert_eq!(p.fail_login_count, None);
        assert_eq!(p.created_at.as_deref(), Some("2026-11-20T10:00:00.123456"));
        u.active = None;
        assert_eq!(
            user_resource(&u).user.unwrap().status,
            AccountStatus::Unknown
        );
    }

    #[test]
    fn grants_follow_roles_once_each() {
        let grants = user_grants(&user("bob+ops", "B", "O", &["Op", "Data Engineer", "Op"]));
        let ids: Vec<_> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "role:Op:member:user:bob+ops",
                "role:Data Engineer:member:user:bob+ops"
            ]
        );
        assert_eq!(grants[1].entitlement_id, "role:Data Engineer:member");
        assert_eq!(grants[1].principal, ResourceRef::new("user", "bob+ops"));
        assert!(user_grants(&user("x", "", "", &[])).is_empty());
    }

    #[test]
    fn permissions_come_from_role_actions_once_each() {
        let p = |a: &str, r: &str| Permission {
            action: crate::airflow::api::Named { name: a.into() },
            resource: crate::airflow::api::Named { name: r.into() },
        };
        let role = Role {
            name: "Data Engineer".into(),
            actions: Some(vec![
                p("can_read", "DAGs"),
                p("can_edit", "DAG:etl"),
                p("can_read", "DAGs"),
            ]),
        };
        let res = permission_resource(&p("can_edit", "DAG:etl"));
        assert_eq!(res.id, "can_edit:DAG:etl");
        assert_eq!(res.display_name, "can edit on DAG:etl");
        let e = permission_entitlement(&p("can_read", "DAGs"));
        assert_eq!(e.id, "permission:can_read:DAGs:assigned");
        assert_eq!(e.grantable_to, ["role"]);
        assert_eq!(e.purpose, EntitlementPurpose::Permission);
        let grants: Vec<String> = role_permission_grants(&role)
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(
            grants,
            [
                "permission:can_read:DAGs:assigned:role:Data Engineer",
                "permission:can_edit:DAG:etl:assigned:role:Data Engineer"
            ]
        );
        let no_actions = Role {
            name: "X".into(),
            actions: None,
        };
        assert!(role_permission_grants(&no_actions).is_empty());
    }

    #[test]
    fn role_entitlement_shape() {
        let e = role_member_entitlement("Admin");
        assert_eq!(e.id, "role:Admin:member");
        assert_eq!(e.slug, "member");
        assert_eq!(e.resource, ResourceRef::new("role", "Admin"));
        assert_eq!(e.purpose, EntitlementPurpose::Assignment);
        assert_eq!(e.grantable_to, ["user"]);
    }
}
