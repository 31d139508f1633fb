//! The contract's operations over the Airflow client, free of generated bindings.

use crate::airflow::api::{Named, Permission, Role, User};
use crate::airflow::client::{Client, Page, PAGE_SIZE};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::mapping::{self, PERMISSION, ROLE, USER};
use crate::model::{
    EntitlementPage, GrantPage, ProvisionAction, ProvisionOutcome, ResourcePage, ResourceRef,
    Validation,
};
use crate::paging::{self, Order};
use crate::provision::Provisioner;

pub struct Connector<T: Transport> {
    client: Client<T>,
    config: Config,
    /// Pages whose listing had shifted since the page before, and the requests spent
    /// re-aligning them, for the operator's summary.
    shifted_pages: u32,
    realign_requests: u32,
}

impl<T: Transport> Connector<T> {
    pub fn new(transport: T, config: Config) -> Self {
        Connector {
            client: Client::new(transport, &config),
            config,
            shifted_pages: 0,
            realign_requests: 0,
        }
    }

    /// Facts for an operator's summary; no network call.
    pub fn session_info(&self) -> Vec<(String, String)> {
        let Some(g) = self.client.known_generation() else {
            return Vec::new();
        };
        let mut info = vec![("api".into(), g.describe().into())];
        if let Some(auth) = self.client.auth_summary() {
            info.push(("auth".into(), auth));
        }
        info.extend([
            (
                "discovery_requests".into(),
                self.client.detection_requests().to_string(),
            ),
            ("shifted_pages".into(), self.shifted_pages.to_string()),
            ("realign_requests".into(), self.realign_requests.to_string()),
        ]);
        info
    }

    /// The error of a failed operation, without any credential in its message.
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

    /// Signs in and reads one row of users and of roles, so missing read permissions show up
    /// here rather than halfway through a sync.
    fn validate_unscrubbed(&mut self) -> Result<Validation> {
        self.client.authenticate()?;
        let users = self.client.users_page(0, 1)?;
        let roles = self.client.roles_page(0, 1)?;
        let generation = self.client.generation()?;
        Ok(Validation {
            identity: self
                .client
                .identity()
                .unwrap_or("(the token's account)")
                .to_string(),
            system: format!(
                "{} at {}: {} users, {} roles",
                generation.describe(),
                self.config.base_url,
                users.total,
                roles.total
            ),
        })
    }

    fn list_resources_unscrubbed(
        &mut self,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<ResourcePage> {
        match resource_type {
            USER => {
                let page = self.users(token)?;
                Ok(ResourcePage {
                    resources: page.rows.iter().map(mapping::user_resource).collect(),
                    entitlements: Vec::new(),
                    grants: page.rows.iter().flat_map(mapping::user_grants).collect(),
                    next_page_token: page.next.as_ref().map(paging::encode),
                })
            }
            ROLE => {
                let page = self.roles(token)?;
                let permissions = distinct_permissions(&page.rows);
                let mut resources: Vec<_> = page.rows.iter().map(mapping::role_resource).collect();
                resources.extend(permissions.iter().map(mapping::permission_resource));
                let mut entitlements: Vec<_> = page
                    .rows
                    .iter()
                    .map(|r| mapping::role_member_entitlement(&r.name))
                    .collect();
                entitlements.extend(permissions.iter().map(mapping::permission_entitlement));
                Ok(ResourcePage {
                    resources,
                    entitlements,
                    grants: page
                        .rows
                        .iter()
                        .flat_map(mapping::role_permission_grants)
                        .collect(),
                    next_page_token: page.next.as_ref().map(paging::encode),
                })
            }
            // A targeted listing: the permissions the roles of one page hold.
            PERMISSION => {
                let page = self.roles(token)?;
                let permissions = distinct_permissions(&page.rows);
                Ok(ResourcePage {
                    resources: permissions
                        .iter()
                        .map(mapping::permission_resource)
                        .collect(),
                    entitlements: permissions
                        .iter()
                        .map(mapping::permission_entitlement)
                        .collect(),
                    grants: Vec::new(),
                    next_page_token: page.next.as_ref().map(paging::encode),
                })
            }
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
        match resource.resource_type.as_str() {
            ROLE => {
                let role = self.client.role(&resource.id)?;
                Ok(EntitlementPage {
                    entitlements: vec![mapping::role_member_entitlement(&role.name)],
                    next_page_token: None,
                })
            }
            USER => Ok(EntitlementPage::default()),
            PERMISSION => Ok(EntitlementPage {
                entitlements: vec![
                    parse_permission(&resource.id).map(|p| mapping::permission_entitlement(&p))?
                ],
                next_page_token: None,
            }),
            other => Err(unknown_type(other)),
        }
    }

    /// Members of one role. Airflow lists members only on users, so this pages through the
    /// users; the first page also confirms the role exists.
    fn list_grants_unscrubbed(
        &mut self,
        resource: &ResourceRef,
        token: Option<&str>,
    ) -> Result<GrantPage> {
        match resource.resource_type.as_str() {
            ROLE => {
                if token.is_none() {
                    self.client.role(&resource.id)?;
                }
                let page = self.users(token)?;
                let next = page.next.as_ref().map(paging::encode);
                let grants = page
                    .rows
                    .iter()
                    .filter(|u| mapping::holds_role(u, &resource.id))
                    .flat_map(mapping::user_grants)
                    .filter(|g| {
                        g.entitlement_id == mapping::role_member_entitlement_id(&resource.id)
                    })
                    .collect();
                Ok(GrantPage {
                    grants,
                    next_page_token: next,
                })
            }
            USER => Ok(GrantPage::default()),
            other => Err(unknown_type(other)),
        }
    }

    /// One page of users (up to `page_concurrency` pages). Users are listed by id, so new ones
    /// join at the end; a row is the same user only with the same creation time (a re-created
    /// name is another account).
    fn users(&mut self, token: Option<&str>) -> Result<paging::Page<User>> {
        let cursor = paging::decode(token)?;
        let page = paging::read_ahead(
            "listing users",
            Order::Appended,
            cursor.as_ref(),
            PAGE_SIZE,
            self.config.page_concurrency,
            |u: &User| {
                paging::fingerprint_parts(&[&u.username, u.created_on.as_deref().unwrap_or("")])
            },
            &mut Users(&mut self.client),
        )?;
        self.count(&page);
        Ok(page)
    }

    /// One page of roles (up to `page_concurrency` pages), listed by name: a new role may sort
    /// anywhere.
    fn roles(&mut self, token: Option<&str>) -> Result<paging::Page<Role>> {
        let cursor = paging::decode(token)?;
        let page = paging::read_ahead(
            "listing roles",
            Order::Anywhere,
            cursor.as_ref(),
            PAGE_SIZE,
            self.config.page_concurrency,
            |r: &Role| paging::fingerprint(&r.name),
            &mut Roles(&mut self.client),
        )?;
        self.count(&page);
        Ok(page)
    }

    fn count<R>(&mut self, page: &paging::Page<R>) {
        self.shifted_pages = self.shifted_pages.saturating_add(u32::from(page.shifted));
        self.realign_requests = self.realign_requests.saturating_add(page.extra_reads);
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
        let mut p = Provisioner::new(&mut self.client, &self.config);
        match action {
            ProvisionAction::Grant(entitlement, principal) => p.grant(entitlement, principal),
            ProvisionAction::Revoke(target) => p.revoke(target),
            ProvisionAction::CreateAccount(request) => p.create_account(request),
            ProvisionAction::DeleteAccount(principal) => p.delete_account(principal),
            ProvisionAction::CreateResource(request) => p.create_role(request),
            ProvisionAction::DeleteResource(resource) => p.delete_role(resource),
        }
    }
}

/// The user listing's reads, one at a time or several at once.
struct Users<'a, T: Transport>(&'a mut Client<T>);

impl<T: Transport> paging::Source<User> for Users<'_, T> {
    fn read(&mut self, offset: u64, limit: u64) -> Result<paging::Read<User>> {
        self.0.users_page(offset, limit).map(Page::into_read)
    }

    fn read_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<paging::Read<User>>>> {
        let pages = self.0.users_pages_at_once(reads)?;
        Ok(pages.into_iter().map(|p| p.map(Page::into_read)).collect())
    }
}

struct Roles<'a, T: Transport>(&'a mut Client<T>);

impl<T: Transport> paging::Source<Role> for Roles<'_, T> {
    fn read(&mut self, offset: u64, limit: u64) -> Result<paging::Read<Role>> {
        self.0.roles_page(offset, limit).map(Page::into_read)
    }

    fn read_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<paging::Read<Role>>>> {
        let pages = self.0.roles_pages_at_once(reads)?;
        Ok(pages.into_iter().map(|p| p.map(Page::into_read)).collect())
    }
}

fn unknown_type(resource_type: &str) -> Error {
    Error::InvalidArgument(format!(
        "unknown resource type `{resource_type}`; this connector has `{USER}`, `{ROLE}` and `{PERMISSION}`"
    ))
}

/// The permissions the roles of one page hold, each once.
fn distinct_permissions(roles: &[Role]) -> Vec<Permission> {
    let mut out: Vec<Permission> = Vec::new();
    for p in roles.iter().flat_map(mapping::role_permissions) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// `can_read:DAGs` -> the permission; action names hold no `:`.
fn parse_permission(id: &str) -> Result<Permission> {
    let (action, resource) = id
        .split_once(':')
        .filter(|(a, r)| !a.is_empty() && !r.is_empty())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "permission `{id}` is not of the form `<action>:<resource>`, e.g. `can_read:DAGs`"
            ))
        })?;
    Ok(Permission {
        action: Named {
            name: action.to_string(),
        },
        resource: Named {
            name: resource.to_string(),
        },
    })
}

#[cfg(test)]
mod tests;
