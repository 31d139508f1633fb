//! Parsing the ids the connector hands out back into Airflow names.

use crate::error::{Error, Result};
use crate::mapping::{MEMBER, ROLE, USER};
use crate::model::ResourceRef;

/// `role:<name>:member` -> `<name>`.
pub fn role_of_member_entitlement(entitlement_id: &str) -> Result<String> {
    entitlement_id
        .strip_prefix("role:")
        .and_then(|rest| rest.strip_suffix(&format!(":{MEMBER}")))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "entitlement `{entitlement_id}` is not a role membership; use `role:<role name>:member`"
            ))
        })
}

/// The username of a `user` principal.
pub fn username_of(principal: &ResourceRef) -> Result<String> {
    if principal.resource_type != USER || principal.id.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "principal `{}:{}` is not a user; roles are granted to `user:<username>`",
            principal.resource_type, principal.id
        )));
    }
    Ok(principal.id.clone())
}

/// `role:<name>:member:user:<username>` -> (role, user principal). The separator is searched
/// from the left, so a username may contain `:member:user:`; a role name may not.
pub fn parse_grant_id(grant_id: &str) -> Result<(String, ResourceRef)> {
    let separator = format!(":{MEMBER}:{USER}:");
    grant_id
        .strip_prefix(&format!("{ROLE}:"))
        .and_then(|rest| rest.split_once(&separator))
        .filter(|(role, user)| !role.is_empty() && !user.is_empty())
        .map(|(role, user)| (role.to_string(), ResourceRef::new(USER, user)))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "grant `{grant_id}` is not a role membership grant; use \
                 `role:<role name>:member:user:<username>` as listed by sync"
            ))
        })
}

/// Airflow can create names containing `/` but never read, change or delete them by path.
pub fn addressable(kind: &str, name: &str) -> Result<()> {
    if name.contains('/') {
        return Err(Error::InvalidArgument(format!(
            "{kind} `{name}` contains `/`: Airflow's API addresses {kind}s by name in the URL path \
             and cannot reach such a name, so the connector refuses it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements_parse_and_foreign_ids_are_refused() {
        assert_eq!(
            role_of_member_entitlement("role:Data Engineer:member").unwrap(),
            "Data Engineer"
        );
        assert_eq!(
            role_of_member_entitlement("role:a:b:member").unwrap(),
            "a:b"
        );
        for bad in [
            "role::member",
            "Op",
            "role:Op",
            "group:Op:member",
            "role:Op:admin",
        ] {
            assert!(
                matches!(
                    role_of_member_entitlement(bad),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn grant_ids_round_trip_with_sync_ids() {
        let principal = ResourceRef::new("user", "bob+ops@x.y");
        let id = crate::mapping::grant_id(
            &crate::mapping::role_member_entitlement_id("Data Engineer"),
            &principal,
        );
        assert_eq!(
            parse_grant_id(&id).unwrap(),
            ("Data Engineer".to_string(), principal)
        );
        let (role, user) = parse_grant_id("role:Op:member:user:odd:member:user:name").unwrap();
        assert_eq!(
            (role.as_str(), user.id.as_str()),
            ("Op", "odd:member:user:name")
        );
        for bad in [
            "role:Op:member",
            "role::member:user:x",
            "role:Op:member:user:",
            "x",
        ] {
            assert!(parse_grant_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_users_are_principals() {
        assert_eq!(
            username_of(&ResourceRef::new("user", "alice")).unwrap(),
            "alice"
        );
        assert!(username_of(&ResourceRef::new("role", "Op")).is_err());
        assert!(username_of(&ResourceRef::new("user", "")).is_err());
    }

    #[test]
    fn slashes_are_refused_with_the_reason() {
        let err = addressable("user", "a/b").unwrap_err().to_string();
        assert!(err.contains("cannot reach such a name"), "{err}");
        assert!(addressable("user", "a b+c@d.e").is_ok());
    }
}
