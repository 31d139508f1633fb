//! What existing roles may do: grant and revoke `permission:<action>:<resource>:assigned` to a
//! role. FastAPI FAB's role PATCH replaces the whole action set without concurrency control, so,
//! as for memberships, every change is a read-modify-write that a later read verifies, after
//! the same adaptive wait (`verify.rs`). The
//! Connexion-based APIs (Airflow 3.0 with FAB < 3.5, and Airflow 2) can only add.

use super::roles::{permission_of, BUILT_IN};
use super::session::Provisioner;
use super::verify::{ListEdit, Verified, MAX_ATTEMPTS};
use crate::airflow::api::{Permission, Role};
use crate::airflow::generation::Generation;
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::mapping::{self, PERMISSION, ROLE};
use crate::model::{Grant, OutcomeStatus, ProvisionOutcome, ResourceRef, RevokeTarget};

/// Resources whose permissions the connector itself needs: it never takes them from itself.
const OWN_NEEDS: [&str; 2] = ["Users", "Roles"];

/// Whether an entitlement id names a permission (the other kind is a role membership).
pub fn is_permission_entitlement(entitlement_id: &str) -> bool {
    entitlement_id.starts_with(&format!("{PERMISSION}:"))
}

/// `permission:<action>:<resource>:assigned:role:<role>` -> (entitlement id, role principal).
/// The separator is searched from the right: resource names may contain `:`, role names not.
fn parse_permission_grant_id(grant_id: &str) -> Result<(String, ResourceRef)> {
    let separator = format!(":{ROLE}:");
    grant_id
        .rsplit_once(&separator)
        .filter(|(entitlement, role)| !role.is_empty() && is_permission_entitlement(entitlement))
        .map(|(entitlement, role)| (entitlement.to_string(), ResourceRef::new(ROLE, role)))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "grant `{grant_id}` is not a permission grant; use \
                 `permission:<action>:<resource>:assigned:role:<role name>` as listed by sync"
            ))
        })
}

fn role_of(principal: &ResourceRef) -> Result<String> {
    if principal.resource_type != ROLE || principal.id.trim().is_empty() {
        return Err(Error::InvalidArgument(format!(
            "principal `{}:{}` is not a role; permissions are granted to `role:<role name>`",
            principal.resource_type, principal.id
        )));
    }
    crate::ids::addressable("role", &principal.id)?;
    if BUILT_IN.contains(&principal.id.as_str()) {
        return Err(Error::Conflict(format!(
            "`{}` is a built-in role; Airflow resets its permissions at start-up, so they are \
             not changed",
            principal.id
        )));
    }
    Ok(principal.id.clone())
}

fn holds(role: &Role, permission: &Permission) -> bool {
    mapping::role_permissions(role).contains(&permission)
}

fn outcome(
    status: OutcomeStatus,
    message: String,
    role: &Role,
    p: &Permission,
) -> ProvisionOutcome {
    let principal = ResourceRef::new(ROLE, &role.name);
    let entitlement_id = mapping::permission_entitlement_id(&mapping::permission_id(p));
    ProvisionOutcome {
        status,
        message,
        resource: Some(mapping::role_resource(role)),
        grant: Some(Grant {
            id: mapping::grant_id(&entitlement_id, &principal),
            entitlement_id,
            principal,
        }),
        credential: None,
    }
}

/// A permission added to or removed from a role's permission list.
struct RolePermission<'r> {
    name: &'r str,
    permission: &'r Permission,
    add: bool,
}

impl<T: Transport> ListEdit<T> for RolePermission<'_> {
    type State = Role;

    fn read(&self, p: &mut Provisioner<'_, T>) -> Result<Role> {
        p.client.role(self.name)
    }

    fn read_back(&self, p: &mut Provisioner<'_, T>, _: &Role) -> Result<Role> {
        p.client.role(self.name)
    }

    fn in_place(&self, role: &Role) -> bool {
        holds(role, self.permission) == self.add
    }

    fn write(&self, p: &mut Provisioner<'_, T>, role: &Role) -> Result<()> {
        let mut wanted: Vec<Permission> = mapping::role_permissions(role)
            .into_iter()
            .cloned()
            .collect();
        if self.add {
            wanted.push(self.permission.clone());
        } else {
            p.refuse_removal(self.name, self.permission)?;
            wanted.retain(|x| x != self.permission);
        }
        p.client.set_role_permissions(self.name, &wanted)
    }
}

impl<T: Transport> Provisioner<'_, T> {
    pub fn grant_permission(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceRef,
    ) -> Result<ProvisionOutcome> {
        let permission = permission_of(entitlement_id)?;
        let role = role_of(principal)?;
        self.change_permission(&role, &permission, true)
    }

    pub fn revoke_permission(&mut self, target: &RevokeTarget) -> Result<ProvisionOutcome> {
        let (entitlement_id, principal) = match target {
            RevokeTarget::GrantId(id) => parse_permission_grant_id(id)?,
            RevokeTarget::Membership(e, p) => (e.clone(), p.clone()),
        };
        let permission = permission_of(&entitlement_id)?;
        let role = role_of(&principal)?;
        self.change_permission(&role, &permission, false)
    }

    fn change_permission(
        &mut self,
        name: &str,
        permission: &Permission,
        add: bool,
    ) -> Result<ProvisionOutcome> {
        let id = mapping::permission_id(permission);
        let (verb, done, already) = if add {
            ("granting", "granted", "already holds")
        } else {
            ("revoking", "revoked", "does not hold")
        };
        let edit = RolePermission {
            name,
            permission,
            add,
        };
        match self.verified_change(&edit)? {
            Verified::AlreadyThere(role) => Ok(outcome(
                OutcomeStatus::AlreadyDone,
                format!("role `{name}` {already} `{id}`"),
                &role,
                permission,
            )),
            Verified::Done(role, attempts) => Ok(outcome(
                OutcomeStatus::Done,
                format!(
                    "{done} `{id}` on role `{name}` {}",
                    attempts.note("a concurrent change replaced the role's permissions")
                ),
                &role,
                permission,
            )),
            Verified::Lost(attempts) => Err(Error::Conflict(format!(
                "{verb} `{id}` on role `{name}` did not stick after {MAX_ATTEMPTS} attempts: \
                 another writer keeps replacing this role's permissions; retry later (waits {})",
                attempts.waits()
            ))),
        }
    }

    fn cannot_remove(generation: Generation, name: &str, id: &str) -> Error {
        let server = match generation {
            Generation::Airflow2 => "Airflow 2",
            _ => "this Airflow (FAB provider < 3.5)",
        };
        Error::Unsupported(format!(
            "{server} cannot remove a permission from a role (its role PATCH only adds), so \
             `{id}` stays on role `{name}`; create a new role without it and move the members"
        ))
    }

    /// Refuses what would fail or lock the connector out, before any write.
    fn refuse_removal(&mut self, name: &str, permission: &Permission) -> Result<()> {
        let generation = self.client.generation()?;
        if !generation.role_patch_can_remove_permissions() {
            return Err(Self::cannot_remove(
                generation,
                name,
                &mapping::permission_id(permission),
            ));
        }
        if !OWN_NEEDS.contains(&permission.resource.name.as_str()) {
            return Ok(());
        }
        let Some(me) = self.client.identity().map(str::to_string) else {
            return Ok(());
        };
        let mine = self.client.user(&me)?;
        if !mapping::holds_role(&mine, name) {
            return Ok(());
        }
        for other in mine.roles.iter().flatten() {
            if other.name != name && holds(&self.client.role(&other.name)?, permission) {
                return Ok(());
            }
        }
        Err(Error::Conflict(format!(
            "refusing to revoke `{}` from role `{name}`: the connector's own account `{me}` \
             holds no other role with it and needs it to read or change {}",
            mapping::permission_id(permission),
            permission.resource.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_grant_ids_parse_from_the_right() {
        let (e, p) =
            parse_permission_grant_id("permission:can_edit:DAG:etl:assigned:role:Data Eng")
                .unwrap();
        assert_eq!(e, "permission:can_edit:DAG:etl:assigned");
        assert_eq!(p, ResourceRef::new(ROLE, "Data Eng"));
        assert!(parse_permission_grant_id("role:Op:member:user:alice").is_err());
        assert!(parse_permission_grant_id("permission:can_read:DAGs:assigned:role:").is_err());
    }

    #[test]
    fn only_custom_roles_take_permissions() {
        assert!(matches!(
            role_of(&ResourceRef::new("user", "alice")),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            role_of(&ResourceRef::new(ROLE, "Admin")),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            role_of(&ResourceRef::new(ROLE, "a/b")),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(
            role_of(&ResourceRef::new(ROLE, "Auditor")).unwrap(),
            "Auditor"
        );
    }
}
