//! Which permissions are dangerous, read from what a permission is called, so a custom role is
//! judged by what it can do and not by its name.
//!
//! A permission is split into an action and a target: a permission resource's `action` and
//! `resource` attributes (Airflow: `can_edit` on `Users`), else its id at the first `:`
//! (`can_edit:Users`), else its whole id is both (`org_admin_roles_manage`). Words are compared
//! case-insensitively, ignoring plural `s`.

/// How dangerous a permission is, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Danger {
    /// Creates, changes or deletes accounts, roles or permissions, or other people's
    /// passwords: whoever holds it can give themselves anything (admin-equivalent).
    AccessAdmin,
    /// Reads or changes the credentials the system uses to reach other systems.
    Secrets,
    /// Changes configuration or variables that running code trusts.
    Config,
}

impl Danger {
    pub fn label(self) -> &'static str {
        match self {
            Danger::AccessAdmin => "administers access",
            Danger::Secrets => "reads or changes stored credentials",
            Danger::Config => "changes configuration code relies on",
        }
    }
}

const WRITE_VERBS: [&str; 16] = [
    "create", "edit", "delete", "write", "update", "manage", "add", "remove", "post", "put",
    "patch", "modify", "set", "grant", "assign", "invite",
];
const ACCESS_TARGETS: [&str; 4] = ["user", "role", "permission", "password"];
const SECRET_TARGETS: [&str; 3] = ["connection", "secret", "credential"];
const CONFIG_TARGETS: [&str; 3] = ["variable", "configuration", "config"];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.len() > 2 => stem.to_string(),
                _ => w,
            }
        })
        .collect()
}

/// The danger of a permission given its action and target; `None` if harmless.
pub fn classify(action: &str, target: &str) -> Option<Danger> {
    let a = words(action);
    let t = words(target);
    // Menus only show a link; the page behind it has its own permission.
    if a.iter().any(|w| w == "menu") {
        return None;
    }
    // `My Password`, `My Profile`: a user's own account, not other people's.
    if t.first().is_some_and(|w| w == "my") {
        return None;
    }
    let writes = a.iter().any(|w| WRITE_VERBS.contains(&w.as_str()));
    let has = |set: &[&str]| t.iter().any(|w| set.contains(&w.as_str()));
    if writes && has(&ACCESS_TARGETS) {
        Some(Danger::AccessAdmin)
    } else if has(&SECRET_TARGETS) {
        Some(Danger::Secrets)
    } else if writes && has(&CONFIG_TARGETS) {
        Some(Danger::Config)
    } else {
        None
    }
}

/// Action and target of a permission from its resource's attributes or id.
pub fn split(id: &str, action: Option<&str>, target: Option<&str>) -> (String, String) {
    match (action, target) {
        (Some(a), Some(t)) => (a.to_string(), t.to_string()),
        _ => match id.split_once(':') {
            Some((a, t)) => (a.to_string(), t.to_string()),
            None => (id.to_string(), id.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airflow_permissions() {
        for (a, t, want) in [
            ("can_edit", "Users", Some(Danger::AccessAdmin)),
            ("can_create", "Roles", Some(Danger::AccessAdmin)),
            ("can_delete", "Users", Some(Danger::AccessAdmin)),
            ("can_edit", "Passwords", Some(Danger::AccessAdmin)),
            ("can_read", "Users", None),
            ("can_read", "User Stats Chart", None),
            ("menu_access", "List Users", None),
            ("can_edit", "My Password", None),
            ("can_edit", "My Profile", None),
            ("can_read", "Connections", Some(Danger::Secrets)),
            ("can_edit", "Connections", Some(Danger::Secrets)),
            ("menu_access", "Connections", None),
            ("can_edit", "Variables", Some(Danger::Config)),
            ("can_read", "Variables", None),
            ("can_edit", "DAGs", None),
            ("can_read", "Permissions", None),
        ] {
            assert_eq!(classify(a, t), want, "{a} on {t}");
        }
    }

    #[test]
    fn whole_word_permissions() {
        let (a, t) = split("org_admin_roles_manage", None, None);
        assert_eq!(classify(&a, &t), Some(Danger::AccessAdmin));
        let (a, t) = split("org_admin_roles_read", None, None);
        assert_eq!(
            classify(&a, &t),
            None,
            "`admin` names a scope, not a change"
        );
        let (a, t) = split("org_billing_read", None, None);
        assert_eq!(classify(&a, &t), None);
        assert_eq!(
            split("can_edit:DAG Runs", None, None),
            ("can_edit".into(), "DAG Runs".into())
        );
    }
}
