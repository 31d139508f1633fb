//! The contract's operations over the Northflank client, free of generated bindings.

use crate::api::{MembershipType, PER_PAGE};
use crate::client::Client;
use crate::config::{excerpt, Config};
use crate::mapping::{self, DIRECTORY_USER, GROUP, ROLE, USER};
use crate::paging::{self, MEMBERS, ROLES};
use connector_sdk::error::{Error, Result};
use connector_sdk::http::Transport;
use connector_sdk::model::{
    EntitlementPage, Grant, GrantPage, ProvisionAction, ProvisionOutcome, ResourcePage,
    ResourceRef, Validation,
};
use std::collections::HashMap;

mod provision;

/// Roles whose linked directory groups are remembered; beyond it the memory starts afresh
/// (a role is then read once more when its members are listed).
const REMEMBERED_ROLES: usize = 10_000;

pub struct Connector<T: Transport> {
    client: Client<T>,
    config: Config,
    /// The directory groups linked to each role seen on a roles page, so the grants of a role
    /// can name them without reading the role again.
    role_groups: HashMap<String, Vec<String>>,
    /// Directory group members without a Northflank account reported so far.
    directory_users: u64,
    /// Whether the token was seen to hold every read permission a sync needs (by `validate`,
    /// or by the first page of a sync, which checks them all before answering).
    permissions_checked: bool,
}

impl<T: Transport> Connector<T> {
    pub fn new(transport: T, config: Config) -> Self {
        Connector {
            client: Client::new(transport, &config),
            config,
            role_groups: HashMap::new(),
            directory_users: 0,
            permissions_checked: false,
        }
    }

    /// Facts for an operator's summary; no network call.
    pub fn session_info(&self) -> Vec<(String, String)> {
        let mut info = vec![
            ("requests".to_string(), self.client.requests().to_string()),
            (
                "paced_ms".to_string(),
                crate::ratelimit::millis(self.client.paced()).to_string(),
            ),
            (
                "directory_users_without_account".to_string(),
                self.directory_users.to_string(),
            ),
        ];
        if let Some(remaining) = self.client.remaining() {
            info.push(("rate_limit_remaining".to_string(), remaining.to_string()));
        }
        info
    }

    /// The error of a failed operation, without the token in its message.
    fn scrub<R>(&self, result: Result<R>) -> Result<R> {
        result.map_err(|e| e.scrubbed(&self.client.secrets()))
    }

    pub fn validate(&mut self) -> Result<Validation> {
        let r = self.validate_unscrubbed();
        self.scrub(r)
    }

    pub fn list_resources(
        &mut self,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<ResourcePage> {
        let r = self.list_resources_unscrubbed(resource_type, token);
        self.scrub(r)
    }

    pub fn list_entitlements(
        &mut self,
        resource: &ResourceRef,
        token: Option<&str>,
    ) -> Result<EntitlementPage> {
        let r = self.list_entitlements_unscrubbed(resource, token);
        self.scrub(r)
    }

    pub fn list_grants(
        &mut self,
        resource: &ResourceRef,
        token: Option<&str>,
    ) -> Result<GrantPage> {
        let r = self.list_grants_unscrubbed(resource, token);
        self.scrub(r)
    }

    pub fn provision(&mut self, action: &ProvisionAction) -> Result<ProvisionOutcome> {
        let r = self.provision_unscrubbed(action);
        self.scrub(r)
    }

    fn validate_unscrubbed(&mut self) -> Result<Validation> {
        let groups = self.check_permissions()?;
        Ok(Validation {
            identity: "the API token's organisation role".to_string(),
            system: format!(
                "Northflank organisation at {}: members, org roles and {groups} directory \
                 group(s) readable",
                self.client.base_url()
            ),
        })
    }

    /// Reads one member, one role and the directory groups: a sync reads nothing else (group
    /// members need Members > Read, as the members do), so a token that passes here cannot
    /// fail a sync halfway for want of a permission. Every missing permission is named at once.
    /// Returns how many directory groups there are.
    fn check_permissions(&mut self) -> Result<usize> {
        let members = self.client.members_page(None, 1).map(|_| ());
        if let Err(e @ Error::Unauthenticated(_)) = members {
            return Err(e);
        }
        let roles = self.client.roles_page(None, 1).map(|_| ());
        let groups = self.client.directory_groups().map(|g| g.len());
        let mut denied = Vec::new();
        for outcome in [members, roles, groups.clone().map(|_| ())] {
            match outcome {
                Err(Error::PermissionDenied(m)) => denied.push(m),
                Err(other) => return Err(other),
                Ok(()) => {}
            }
        }
        if !denied.is_empty() {
            return Err(Error::PermissionDenied(denied.join("; ")));
        }
        self.permissions_checked = true;
        groups
    }

    fn list_resources_unscrubbed(
        &mut self,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<ResourcePage> {
        // The first page of a sync answers only once the token is known to read everything a
        // sync reads: a token missing a permission fails before any host has written a line,
        // rather than after the members ("fails to connect rather than syncing partial data").
        if token.is_none() && !self.permissions_checked {
            self.check_permissions()?;
        }
        match resource_type {
            USER => {
                let at = paging::decode(MEMBERS, token)?;
                let page = self
                    .client
                    .members_page(at.as_ref().map(|p| p.cursor.as_str()), PER_PAGE)?;
                let seen = at.map_or(0, |p| p.seen) + page.rows.len() as u64;
                Ok(ResourcePage {
                    resources: page.rows.iter().map(mapping::user_resource).collect(),
                    entitlements: Vec::new(),
                    grants: Vec::new(),
                    next_page_token: page.cursor.map(|c| paging::encode(MEMBERS, seen, &c)),
                })
            }
            ROLE => {
                let at = paging::decode(ROLES, token)?;
                let page = self
                    .client
                    .roles_page(at.as_ref().map(|p| p.cursor.as_str()), PER_PAGE)?;
                let seen = at.map_or(0, |p| p.seen) + page.rows.len() as u64;
                for role in &page.rows {
                    self.remember(&role.id, role.directory_groups.clone().unwrap_or_default());
                }
                Ok(ResourcePage {
                    resources: page.rows.iter().map(mapping::role_resource).collect(),
                    entitlements: page
                        .rows
                        .iter()
                        .map(|r| mapping::role_entitlement(&r.id, &r.name))
                        .collect(),
                    grants: Vec::new(),
                    next_page_token: page.cursor.map(|c| paging::encode(ROLES, seen, &c)),
                })
            }
            GROUP => {
                if token.is_some() {
                    return Err(Error::InvalidArgument(
                        "directory groups are listed in one page; there is no next page".into(),
                    ));
                }
                let groups = self.client.directory_groups()?;
                Ok(ResourcePage {
                    resources: groups.iter().map(mapping::group_resource).collect(),
                    entitlements: groups
                        .iter()
                        .map(|g| mapping::group_entitlement(&g.id, &mapping::group_name(g)))
                        .collect(),
                    grants: Vec::new(),
                    next_page_token: None,
                })
            }
            DIRECTORY_USER => Err(Error::Unsupported(format!(
                "`{DIRECTORY_USER}` is not listed on its own: directory users without a \
                 Northflank account appear as principals of the `{GROUP}` grants"
            ))),
            other => Err(unknown_type(other)),
        }
    }

    fn list_entitlements_unscrubbed(
        &mut self,
        resource: &ResourceRef,
        token: Option<&str>,
    ) -> Result<EntitlementPage> {
        if token.is_some() {
            return Err(Error::InvalidArgument(
                "entitlements of one resource fit one page; there is no next page".into(),
            ));
        }
        let entitlements = match resource.resource_type.as_str() {
            ROLE => {
                let role = self.client.role(&resource.id)?;
                self.remember(&role.id, role.directory_groups.clone().unwrap_or_default());
                vec![mapping::role_entitlement(&role.id, &role.name)]
            }
            GROUP => {
                let group = self
                    .client
                    .directory_groups()?
                    .into_iter()
                    .find(|g| g.id == resource.id)
                    .ok_or_else(|| no_such_group(&resource.id))?;
                vec![mapping::group_entitlement(
                    &group.id,
                    &mapping::group_name(&group),
                )]
            }
            USER | DIRECTORY_USER => Vec::new(),
            other => return Err(unknown_type(other)),
        };
        Ok(EntitlementPage {
            entitlements,
            next_page_token: None,
        })
    }

    fn list_grants_unscrubbed(
        &mut self,
        resource: &ResourceRef,
        token: Option<&str>,
    ) -> Result<GrantPage> {
        match resource.resource_type.as_str() {
            ROLE => self.role_grants(&resource.id, token),
            GROUP => self.group_grants(&resource.id, token),
            USER | DIRECTORY_USER => Ok(GrantPage::default()),
            other => Err(unknown_type(other)),
        }
    }

    /// One page of a role's members; each grant says whether it is explicit or implicit, and
    /// an implicit one names the directory groups linked to the role.
    fn role_grants(&mut self, role: &str, token: Option<&str>) -> Result<GrantPage> {
        let listing = paging::role_listing(role);
        let at = paging::decode(&listing, token)?;
        let via = self.linked_groups(role)?;
        let page =
            self.client
                .role_members_page(role, at.as_ref().map(|p| p.cursor.as_str()), None)?;
        let seen = at.map_or(0, |p| p.seen) + page.rows.len() as u64;
        let mut grants: Vec<Grant> = Vec::with_capacity(page.rows.len());
        for row in &page.rows {
            let grant = mapping::role_grant(role, &row.id, row.kind, &via);
            if !grants.iter().any(|g| g.id == grant.id) {
                grants.push(grant);
            }
        }
        Ok(GrantPage {
            grants,
            next_page_token: page.cursor.map(|c| paging::encode(&listing, seen, &c)),
        })
    }

    fn group_grants(&mut self, group: &str, token: Option<&str>) -> Result<GrantPage> {
        let listing = paging::group_listing(group);
        let at = paging::decode(&listing, token)?;
        let before = at.as_ref().map_or(0, |p| p.seen);
        let page = self
            .client
            .group_members_page(group, at.as_ref().map(|p| p.cursor.as_str()))?;
        let mut grants: Vec<Grant> = Vec::with_capacity(page.rows.len());
        for (i, member) in page.rows.iter().enumerate() {
            let grant = mapping::group_grant(group, member, before + i as u64);
            if grant.principal.resource_type == DIRECTORY_USER {
                self.directory_users = self.directory_users.saturating_add(1);
            }
            if !grants.iter().any(|g| g.id == grant.id) {
                grants.push(grant);
            }
        }
        let seen = before + page.rows.len() as u64;
        Ok(GrantPage {
            grants,
            next_page_token: page.cursor.map(|c| paging::encode(&listing, seen, &c)),
        })
    }

    /// The directory groups linked to a role: remembered from the roles listing, else read
    /// (which also tells a missing role, 404, from an empty one).
    fn linked_groups(&mut self, role: &str) -> Result<Vec<String>> {
        if let Some(groups) = self.role_groups.get(role) {
            return Ok(groups.clone());
        }
        let read = self.client.role(role)?;
        let groups = read.directory_groups.unwrap_or_default();
        self.remember(role, groups.clone());
        Ok(groups)
    }

    fn remember(&mut self, role: &str, groups: Vec<String>) {
        if self.role_groups.len() >= REMEMBERED_ROLES && !self.role_groups.contains_key(role) {
            self.role_groups.clear();
        }
        self.role_groups.insert(role.to_string(), groups);
    }

    /// Refused before any request unless the configuration enables provisioning.
    fn provision_unscrubbed(&mut self, action: &ProvisionAction) -> Result<ProvisionOutcome> {
        if !self.config.provisioning {
            return Err(Error::Unsupported(
                "provisioning is disabled: set the `provisioning` setting to `true` \
                 (harness: --provisioning) to allow changes"
                    .into(),
            ));
        }
        provision::run(self, action)
    }
}

fn unknown_type(resource_type: &str) -> Error {
    Error::InvalidArgument(format!(
        "unknown resource type `{}`; this connector has `{USER}`, `{ROLE}`, `{GROUP}` and \
         `{DIRECTORY_USER}`",
        excerpt(resource_type)
    ))
}

fn no_such_group(id: &str) -> Error {
    Error::NotFound(format!(
        "directory group `{}` is not among the organisation's directory groups",
        excerpt(id)
    ))
}

/// Whether a role listing row is the member in the given way.
fn holds(rows: &[crate::api::RoleMember], member: &str, kind: MembershipType) -> bool {
    rows.iter().any(|r| r.id == member && r.kind == kind)
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
