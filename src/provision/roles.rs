//! Role lifecycle: create a role with its permissions, delete a role. Airflow reports false
//! successes here (Airflow 2 and Connexion answer `{}` to a create; a create of a taken name
//! with other permissions changes nothing), so every write is read back.

use super::session::Provisioner;
use crate::airflow::api::{Named, Permission, Role};
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::ids;
use crate::mapping::{self, PERMISSION, ROLE};
use crate::model::{OutcomeStatus, ProvisionOutcome, ResourceRef, ResourceRequest};
use std::collections::BTreeSet;

/// Roles Airflow recreates with their default permissions at every start: deleting or
/// redefining them would only appear to work.
pub(super) const BUILT_IN: [&str; 5] = ["Admin", "Op", "User", "Viewer", "Public"];

/// `permission:<action>:<resource>:assigned` -> the permission.
pub(super) fn permission_of(entitlement_id: &str) -> Result<Permission> {
    entitlement_id
        .strip_prefix(&format!("{PERMISSION}:"))
        .and_then(|rest| rest.strip_suffix(&format!(":{}", mapping::ASSIGNED)))
        .and_then(|id| id.split_once(':'))
        .filter(|(a, r)| !a.is_empty() && !r.is_empty())
        .map(|(a, r)| Permission {
            action: Named {
                name: a.to_string(),
            },
            resource: Named {
                name: r.to_string(),
            },
        })
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "entitlement `{entitlement_id}` is not a permission; a role is created with \
                 `permission:<action>:<resource>:assigned`, e.g. permission:can_read:DAGs:assigned"
            ))
        })
}

fn pairs(role: &Role) -> BTreeSet<String> {
    mapping::role_permissions(role)
        .into_iter()
        .map(mapping::permission_id)
        .collect()
}

fn role_name(resource_type: &str, id: &str) -> Result<String> {
    if resource_type != ROLE {
        return Err(Error::Unsupported(format!(
            "resources of type `{resource_type}` cannot be created or deleted; roles can \
             (accounts use create-account and delete-account)"
        )));
    }
    ids::addressable("role", id)?;
    if id.trim().is_empty() {
        return Err(Error::InvalidArgument("the role name is empty".into()));
    }
    Ok(id.to_string())
}

fn outcome(status: OutcomeStatus, message: String, role: Option<&Role>) -> ProvisionOutcome {
    ProvisionOutcome {
        status,
        message,
        resource: role.map(mapping::role_resource),
        grant: None,
        credential: None,
    }
}

impl<T: Transport> Provisioner<'_, T> {
    pub fn create_role(&mut self, request: &ResourceRequest) -> Result<ProvisionOutcome> {
        let name = role_name(&request.resource_type, &request.id)?;
        if BUILT_IN.contains(&name.as_str()) {
            return Err(Error::Conflict(format!(
                "`{name}` is a built-in role; Airflow recreates it with its default permissions at start-up"
            )));
        }
        let mut permissions: Vec<Permission> = Vec::new();
        for id in &request.entitlement_ids {
            let p = permission_of(id)?;
            if !permissions.contains(&p) {
                permissions.push(p);
            }
        }
        let wanted: BTreeSet<String> = permissions.iter().map(mapping::permission_id).collect();
        let created = self.client.create_role(&name, &permissions)?;
        let role = self.client.role(&name)?;
        let held = pairs(&role);
        match created {
            Ok(()) if held == wanted => Ok(outcome(
                OutcomeStatus::Done,
                format!("created role `{name}` with {} permissions", held.len()),
                Some(&role),
            )),
            Ok(()) => Err(Error::UpstreamProtocol(format!(
                "Airflow reported creating role `{name}` but it holds {} of the {} permissions \
                 asked for",
                held.intersection(&wanted).count(),
                wanted.len()
            ))),
            Err(_) if held == wanted => Ok(outcome(
                OutcomeStatus::AlreadyDone,
                format!("role `{name}` already exists with these permissions"),
                Some(&role),
            )),
            Err(_) => Err(Error::Conflict(format!(
                "role `{name}` already exists with other permissions ({} held, {} asked for, {} \
                 in common); it was left unchanged",
                held.len(),
                wanted.len(),
                held.intersection(&wanted).count()
            ))),
        }
    }

    pub fn delete_role(&mut self, resource: &ResourceRef) -> Result<ProvisionOutcome> {
        let name = role_name(&resource.resource_type, &resource.id)?;
        if BUILT_IN.contains(&name.as_str()) {
            return Err(Error::Conflict(format!(
                "`{name}` is a built-in role; Airflow recreates it at start-up, so it is not deleted"
            )));
        }
        // Airflow silently strips a deleted role from its members: never from the connector.
        if let Some(me) = self.client.identity().map(str::to_string) {
            if mapping::holds_role(&self.client.user(&me)?, &name) {
                return Err(Error::Conflict(format!(
                    "refusing to delete role `{name}`: the connector's own account `{me}` holds it"
                )));
            }
        }
        if !self.client.delete_role(&name)? {
            return Ok(outcome(
                OutcomeStatus::AlreadyDone,
                format!("role `{name}` was not found: already deleted"),
                None,
            ));
        }
        match self.client.role(&name) {
            Err(Error::NotFound(_)) => Ok(outcome(
                OutcomeStatus::Done,
                format!("deleted role `{name}`"),
                None,
            )),
            Ok(_) => Err(Error::UpstreamProtocol(format!(
                "Airflow reported deleting role `{name}` but it still exists"
            ))),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_entitlements_parse_and_others_are_refused() {
        let p = permission_of("permission:can_edit:DAG:etl:assigned").unwrap();
        assert_eq!(
            (p.action.name.as_str(), p.resource.name.as_str()),
            ("can_edit", "DAG:etl")
        );
        for bad in [
            "role:Op:member",
            "permission:can_read:assigned",
            "permission::DAGs:assigned",
        ] {
            assert!(
                matches!(permission_of(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_custom_roles_without_slashes_are_managed() {
        assert!(matches!(role_name("user", "x"), Err(Error::Unsupported(_))));
        assert!(matches!(
            role_name("role", "a/b"),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(role_name("role", "Data Engineer").unwrap(), "Data Engineer");
    }
}
