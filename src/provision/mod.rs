//! Changes to Airflow: role grants and revokes, account creation and deletion.
//!
//! Airflow's role PATCH replaces the whole role list and has no concurrency control, so every
//! role change is a read-modify-write followed, after a wait sized by the measured round trip,
//! by a read that verifies the change stuck (`verify.rs`). A concurrent writer that read
//! before our write and wrote after it would silently drop our role; the verification sees that
//! and redoes the change.

mod permissions;
mod roles;
mod session;
mod verify;

use crate::airflow::api::{NewUser, RoleName, User};
use crate::airflow::client::Created;
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::model::{
    AccountRequest, Grant, OutcomeStatus, ProvisionOutcome, ResourceRef, RevokeTarget,
    SecretCredential,
};
use crate::{ids, mapping, password};
use permissions::is_permission_entitlement;
use verify::{ListEdit, Verified};

pub use session::Provisioner;
pub use verify::MAX_ATTEMPTS;

/// Holding this permission is what "administers users" means for the self-protection check.
const ADMIN_ACTION: (&str, &str) = ("can_edit", "Users");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Remove,
}

/// A role added to or removed from a user's role list.
struct Membership<'r> {
    role: &'r str,
    username: &'r str,
    change: Change,
}

impl<T: Transport> ListEdit<T> for Membership<'_> {
    type State = User;

    fn read(&self, p: &mut Provisioner<'_, T>) -> Result<User> {
        p.client.user(self.username)
    }

    /// By the name as Airflow spells it, which is the name the write used.
    fn read_back(&self, p: &mut Provisioner<'_, T>, written: &User) -> Result<User> {
        p.client.user(&written.username)
    }

    fn in_place(&self, user: &User) -> bool {
        mapping::holds_role(user, self.role) == (self.change == Change::Add)
    }

    fn write(&self, p: &mut Provisioner<'_, T>, user: &User) -> Result<()> {
        let mut roles = role_list(user);
        match self.change {
            Change::Add => roles.push(self.role.to_string()),
            Change::Remove => {
                roles.retain(|r| r != self.role);
                p.refuse_self_lockout(user, self.role, &roles)?;
            }
        }
        p.client.set_user_roles(user, &roles).map(|_| ())
    }
}

impl<T: Transport> Provisioner<'_, T> {
    pub fn grant(
        &mut self,
        entitlement_id: &str,
        principal: &ResourceRef,
    ) -> Result<ProvisionOutcome> {
        if is_permission_entitlement(entitlement_id) {
            return self.grant_permission(entitlement_id, principal);
        }
        let role = ids::role_of_member_entitlement(entitlement_id)?;
        let username = ids::username_of(principal)?;
        self.change_role(&role, &username, Change::Add)
    }

    pub fn revoke(&mut self, target: &RevokeTarget) -> Result<ProvisionOutcome> {
        let by_permission = match target {
            RevokeTarget::GrantId(id) => is_permission_entitlement(id),
            RevokeTarget::Membership(entitlement_id, _) => {
                is_permission_entitlement(entitlement_id)
            }
        };
        if by_permission {
            return self.revoke_permission(target);
        }
        let (role, principal) = match target {
            RevokeTarget::GrantId(id) => ids::parse_grant_id(id)?,
            RevokeTarget::Membership(entitlement_id, principal) => (
                ids::role_of_member_entitlement(entitlement_id)?,
                principal.clone(),
            ),
        };
        let username = ids::username_of(&principal)?;
        self.change_role(&role, &username, Change::Remove)
    }

    fn change_role(
        &mut self,
        role: &str,
        username: &str,
        change: Change,
    ) -> Result<ProvisionOutcome> {
        ids::addressable("role", role)?;
        ids::addressable("user", username)?;
        let (verb, done_msg, already_msg) = match change {
            Change::Add => ("granting", "granted", "already holds"),
            Change::Remove => ("revoking", "revoked", "does not hold"),
        };
        let edit = Membership {
            role,
            username,
            change,
        };
        match self.verified_change(&edit)? {
            Verified::AlreadyThere(user) => {
                let message = format!("`{}` {already_msg} role `{role}`", user.username);
                Ok(self.role_outcome(OutcomeStatus::AlreadyDone, message, role, &user, change))
            }
            Verified::Done(user, attempts) => {
                let message = format!(
                    "{done_msg} role `{role}` for `{}` {}",
                    user.username,
                    attempts.note("a concurrent change replaced the role list")
                );
                Ok(self.role_outcome(OutcomeStatus::Done, message, role, &user, change))
            }
            Verified::Lost(attempts) => Err(Error::Conflict(format!(
                "{verb} role `{role}` for `{username}` did not stick after {MAX_ATTEMPTS} \
                 attempts: another writer keeps replacing this user's roles; retry later (waits \
                 {})",
                attempts.waits()
            ))),
        }
    }

    fn role_outcome(
        &self,
        status: OutcomeStatus,
        message: String,
        role: &str,
        user: &User,
        change: Change,
    ) -> ProvisionOutcome {
        let principal = ResourceRef::new(mapping::USER, &user.username);
        let entitlement_id = mapping::role_member_entitlement_id(role);
        let grant = Grant {
            id: mapping::grant_id(&entitlement_id, &principal),
            entitlement_id,
            principal,
        };
        ProvisionOutcome {
            status,
            message,
            resource: Some(mapping::user_resource(user)),
            // A revoke reports the grant that no longer exists, so the caller can drop it.
            grant: Some(grant).filter(|_| change == Change::Add || status == OutcomeStatus::Done),
            credential: None,
        }
    }

    /// Names match case-insensitively, as Airflow matches them. In token mode without a
    /// `username` setting the connector does not know its own account and cannot protect it.
    fn is_self(&self, username: &str) -> bool {
        self.client
            .identity()
            .is_some_and(|me| me.eq_ignore_ascii_case(username))
    }

    /// The connector must keep a role that lets it administer users, or it locks itself out.
    fn refuse_self_lockout(&mut self, user: &User, role: &str, remaining: &[String]) -> Result<()> {
        if !self.is_self(&user.username) {
            return Ok(());
        }
        for name in remaining {
            if self
                .client
                .role(name)?
                .allows(ADMIN_ACTION.0, ADMIN_ACTION.1)
            {
                return Ok(());
            }
        }
        Err(Error::Conflict(format!(
            "refusing to revoke role `{role}` from `{}`: it is the connector's own account and no \
             other role it holds grants {} on {}; the connector would lock itself out",
            user.username, ADMIN_ACTION.0, ADMIN_ACTION.1
        )))
    }

    pub fn create_account(&mut self, request: &AccountRequest) -> Result<ProvisionOutcome> {
        for (field, value) in [
            ("login", &request.login),
            ("email", &request.email),
            ("first-name", &request.first_name),
            ("last-name", &request.last_name),
        ] {
            if value.trim().is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "create-account: `{field}` is empty; Airflow requires it"
                )));
            }
        }
        ids::addressable("user", &request.login)?;
        let mut roles: Vec<String> = Vec::new();
        for id in &request.entitlement_ids {
            let role = ids::role_of_member_entitlement(id)?;
            ids::addressable("role", &role)?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if roles.is_empty() {
            roles.push(self.config.default_role.clone());
        }
        let (password, generated) = match &request.password {
            Some(p) if p.is_empty() => {
                return Err(Error::InvalidArgument(
                    "create-account: the supplied password is empty; supply one or let the \
                     connector generate it"
                        .into(),
                ))
            }
            Some(p) => (p.clone(), false),
            None => (password::generate(password::system_random)?, true),
        };
        let new_user = NewUser {
            username: request.login.clone(),
            email: request.email.clone(),
            first_name: request.first_name.clone(),
            last_name: request.last_name.clone(),
            password: password.clone(),
            roles: roles
                .iter()
                .map(|name| RoleName { name: name.clone() })
                .collect(),
        };
        let conflict = match self.client.create_user(&new_user)? {
            Created::New(user) => return Ok(created(&user, generated, password, "")),
            // Our lost attempt created it if it carries the e-mail asked for; else it is
            // someone else's account and is left alone.
            Created::FoundAfterRetry(user)
                if user
                    .email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(&request.email)) =>
            {
                return Ok(created(
                    &user,
                    generated,
                    password,
                    " (the server's answer was lost; the account was found by reading it back)",
                ))
            }
            Created::FoundAfterRetry(user) => {
                return Ok(already_exists(&user));
            }
            Created::Taken(conflict) => conflict,
        };
        match self.client.user(&request.login) {
            // Usernames are unique case-insensitively: this is the account that holds it.
            Ok(existing) => Ok(already_exists(&existing)),
            // The name is free, so something else (the e-mail) is taken.
            Err(Error::NotFound(_)) => Err(conflict),
            Err(other) => Err(other),
        }
    }

    pub fn delete_account(&mut self, principal: &ResourceRef) -> Result<ProvisionOutcome> {
        let username = ids::username_of(principal)?;
        ids::addressable("user", &username)?;
        if self.is_self(&username) {
            return Err(Error::Conflict(format!(
                "refusing to delete `{username}`: it is the account the connector signs in as"
            )));
        }
        let (status, message) = if self.client.delete_user(&username)? {
            (OutcomeStatus::Done, format!("deleted account `{username}`"))
        } else {
            (
                OutcomeStatus::AlreadyDone,
                format!("account `{username}` was not found: already deleted"),
            )
        };
        Ok(ProvisionOutcome {
            status,
            message,
            resource: None,
            grant: None,
            credential: None,
        })
    }
}

fn created(user: &User, generated: bool, password: String, note: &str) -> ProvisionOutcome {
    ProvisionOutcome {
        status: OutcomeStatus::Done,
        message: format!(
            "created account `{}` with roles {}{note}",
            user.username,
            quoted(&role_list(user))
        ),
        resource: Some(mapping::user_resource(user)),
        grant: None,
        credential: generated.then(|| SecretCredential {
            kind: "password".into(),
            value: password,
        }),
    }
}

fn already_exists(existing: &User) -> ProvisionOutcome {
    ProvisionOutcome {
        status: OutcomeStatus::AlreadyDone,
        message: format!(
            "an account named `{}` already exists; it was left unchanged",
            existing.username
        ),
        resource: Some(mapping::user_resource(existing)),
        grant: None,
        credential: None,
    }
}

fn role_list(user: &User) -> Vec<String> {
    user.roles
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect()
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "(none)".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
