//! The export glue: the generated `Guest` trait implemented once, for any [`Connector`], and
//! the conversions between the plain records of `model` and the generated binding types.
//!
//! Everything here that does not need the connector's type is a plain function, so a
//! component holds one copy of it; only the thin forwarding in `impl Guest` is instantiated
//! for the connector.

use crate::bindings::exports::governance::connector::connector::Guest;
use crate::bindings::exports::governance::connector::types as t;
use crate::connector::{not_configured, Connector};
use crate::error::Error;
use crate::model;
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

/// The type `export_connector!` exports; never built, it only carries `C`.
pub struct Glue<C>(PhantomData<C>);

thread_local! {
    // The instance's connector, set by `configure`. `Any` because a static cannot be generic;
    // the only type ever stored is the exported connector's.
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the configured connector.
fn with<C: Connector, R>(
    f: impl FnOnce(&mut C) -> crate::error::Result<R>,
) -> Result<R, t::ConnectorError> {
    STATE.with(|state| {
        let mut state = state.try_borrow_mut().map_err(|_| reentered())?;
        match state.as_mut().and_then(|c| c.downcast_mut::<C>()) {
            Some(c) => f(c).map_err(error),
            None => Err(error(not_configured(&C::metadata().config_fields))),
        }
    })
}

/// The component model does not re-enter an instance; this is what a host that did would see.
fn reentered() -> t::ConnectorError {
    error(Error::Unavailable(
        "the connector was called again while a call was in progress".into(),
    ))
}

impl<C: Connector> Guest for Glue<C> {
    fn metadata() -> t::ConnectorInfo {
        connector_info(C::metadata())
    }

    fn configure(config: Vec<(String, String)>) -> Result<(), t::ConnectorError> {
        let connector = C::configure(&config).map_err(error)?;
        set_state(Box::new(connector))
    }

    fn validate() -> Result<t::Validation, t::ConnectorError> {
        with(C::validate).map(validation)
    }

    fn resource_types() -> Result<Vec<t::ResourceType>, t::ConnectorError> {
        C::resource_types()
            .map(|types| types.into_iter().map(resource_type).collect())
            .map_err(error)
    }

    fn list_resources(
        resource_type: String,
        page_token: Option<String>,
    ) -> Result<t::ResourcePage, t::ConnectorError> {
        with(|c: &mut C| c.list_resources(&resource_type, page_token.as_deref())).map(resource_page)
    }

    fn list_entitlements(
        resource: t::ResourceRef,
        page_token: Option<String>,
    ) -> Result<t::EntitlementPage, t::ConnectorError> {
        let resource = from_ref(resource);
        with(|c: &mut C| c.list_entitlements(&resource, page_token.as_deref()))
            .map(entitlement_page)
    }

    fn list_grants(
        resource: t::ResourceRef,
        page_token: Option<String>,
    ) -> Result<t::GrantPage, t::ConnectorError> {
        let resource = from_ref(resource);
        with(|c: &mut C| c.list_grants(&resource, page_token.as_deref())).map(grant_page)
    }

    fn provision(action: t::ProvisionAction) -> Result<t::ProvisionOutcome, t::ConnectorError> {
        let action = provision_action(action);
        with(|c: &mut C| c.provision(&action)).map(provision_outcome)
    }

    fn session_info() -> Vec<(String, String)> {
        STATE.with(|state| {
            state
                .try_borrow()
                .ok()
                .and_then(|s| s.as_ref()?.downcast_ref::<C>().map(C::session_info))
                .unwrap_or_default()
        })
    }
}

fn set_state(connector: Box<dyn Any>) -> Result<(), t::ConnectorError> {
    STATE.with(|state| {
        *state.try_borrow_mut().map_err(|_| reentered())? = Some(connector);
        Ok(())
    })
}

fn error(e: Error) -> t::ConnectorError {
    match e {
        Error::InvalidConfig { field, message } => {
            t::ConnectorError::InvalidConfig(t::ConfigError { field, message })
        }
        Error::InvalidArgument(m) => t::ConnectorError::InvalidArgument(m),
        Error::Unauthenticated(m) => t::ConnectorError::Unauthenticated(m),
        Error::PermissionDenied(m) => t::ConnectorError::PermissionDenied(m),
        Error::NotFound(m) => t::ConnectorError::NotFound(m),
        Error::Conflict(m) => t::ConnectorError::Conflict(m),
        Error::RateLimited {
            retry_after_ms,
            message,
        } => t::ConnectorError::RateLimited(t::RateLimit {
            retry_after_ms,
            message,
        }),
        Error::Unavailable(m) => t::ConnectorError::Unavailable(m),
        Error::UpstreamProtocol(m) => t::ConnectorError::UpstreamProtocol(m),
        Error::Unsupported(m) => t::ConnectorError::Unsupported(m),
    }
}

fn connector_info(m: model::Metadata) -> t::ConnectorInfo {
    t::ConnectorInfo {
        name: m.name,
        version: m.version,
        description: m.description,
        config_fields: m
            .config_fields
            .into_iter()
            .map(|f| t::ConfigField {
                name: f.name,
                description: f.description,
                required: f.required,
                secret: f.secret,
                default_value: f.default_value,
            })
            .collect(),
        resource_types: m.resource_types.into_iter().map(resource_type).collect(),
    }
}

fn validation(v: model::Validation) -> t::Validation {
    t::Validation {
        identity: v.identity,
        system: v.system,
    }
}

fn resource_type(r: model::ResourceType) -> t::ResourceType {
    t::ResourceType {
        id: r.id,
        display_name: r.display_name,
        description: r.description,
        traits: r
            .traits
            .into_iter()
            .map(|tr| match tr {
                model::ResourceTrait::User => t::ResourceTrait::User,
                model::ResourceTrait::Role => t::ResourceTrait::Role,
                model::ResourceTrait::Group => t::ResourceTrait::Group,
            })
            .collect(),
        capabilities: t::Capabilities {
            sync: r.capabilities.sync,
            provision: r.capabilities.provision,
            inline_entitlements: r.capabilities.inline_entitlements,
            inline_grants: r.capabilities.inline_grants,
            inline_resources: r.capabilities.inline_resources,
        },
    }
}

fn resource_page(p: model::ResourcePage) -> t::ResourcePage {
    t::ResourcePage {
        resources: p.resources.into_iter().map(resource).collect(),
        entitlements: p.entitlements.into_iter().map(entitlement).collect(),
        grants: p.grants.into_iter().map(grant).collect(),
        next_page_token: p.next_page_token,
    }
}

fn entitlement_page(p: model::EntitlementPage) -> t::EntitlementPage {
    t::EntitlementPage {
        entitlements: p.entitlements.into_iter().map(entitlement).collect(),
        next_page_token: p.next_page_token,
    }
}

fn grant_page(p: model::GrantPage) -> t::GrantPage {
    t::GrantPage {
        grants: p.grants.into_iter().map(grant).collect(),
        next_page_token: p.next_page_token,
    }
}

fn resource(r: model::Resource) -> t::Resource {
    t::Resource {
        resource_type: r.resource_type,
        id: r.id,
        display_name: r.display_name,
        user: r.user.map(|u| t::UserProfile {
            login: u.login,
            email: u.email,
            status: match u.status {
                model::AccountStatus::Enabled => t::AccountStatus::Enabled,
                model::AccountStatus::Disabled => t::AccountStatus::Disabled,
                model::AccountStatus::Unknown => t::AccountStatus::Unknown,
            },
            last_login: u.last_login,
            login_count: u.login_count,
            fail_login_count: u.fail_login_count,
            created_at: u.created_at,
        }),
        attributes: r.attributes,
    }
}

fn to_ref(r: model::ResourceRef) -> t::ResourceRef {
    t::ResourceRef {
        resource_type: r.resource_type,
        id: r.id,
    }
}

fn from_ref(r: t::ResourceRef) -> model::ResourceRef {
    model::ResourceRef {
        resource_type: r.resource_type,
        id: r.id,
    }
}

fn entitlement(e: model::Entitlement) -> t::Entitlement {
    t::Entitlement {
        id: e.id,
        resource: to_ref(e.resource),
        slug: e.slug,
        display_name: e.display_name,
        description: e.description,
        purpose: match e.purpose {
            model::EntitlementPurpose::Assignment => t::EntitlementPurpose::Assignment,
            model::EntitlementPurpose::Permission => t::EntitlementPurpose::Permission,
        },
        grantable_to: e.grantable_to,
    }
}

fn grant(g: model::Grant) -> t::Grant {
    t::Grant {
        id: g.id,
        entitlement_id: g.entitlement_id,
        principal: to_ref(g.principal),
    }
}

fn provision_outcome(o: model::ProvisionOutcome) -> t::ProvisionOutcome {
    t::ProvisionOutcome {
        status: match o.status {
            model::OutcomeStatus::Done => t::OutcomeStatus::Done,
            model::OutcomeStatus::AlreadyDone => t::OutcomeStatus::AlreadyDone,
        },
        message: o.message,
        resource: o.resource.map(resource),
        grant: o.grant.map(grant),
        credential: o.credential.map(|c| t::SecretCredential {
            kind: c.kind,
            value: c.value,
        }),
    }
}

fn provision_action(a: t::ProvisionAction) -> model::ProvisionAction {
    match a {
        t::ProvisionAction::Grant((entitlement, principal)) => {
            model::ProvisionAction::Grant(entitlement, from_ref(principal))
        }
        t::ProvisionAction::Revoke(t::RevokeTarget::GrantId(id)) => {
            model::ProvisionAction::Revoke(model::RevokeTarget::GrantId(id))
        }
        t::ProvisionAction::Revoke(t::RevokeTarget::Membership((entitlement, principal))) => {
            model::ProvisionAction::Revoke(model::RevokeTarget::Membership(
                entitlement,
                from_ref(principal),
            ))
        }
        t::ProvisionAction::CreateAccount(r) => {
            model::ProvisionAction::CreateAccount(model::AccountRequest {
                login: r.login,
                email: r.email,
                first_name: r.first_name,
                last_name: r.last_name,
                entitlement_ids: r.entitlement_ids,
                password: r.password,
            })
        }
        t::ProvisionAction::DeleteAccount(r) => model::ProvisionAction::DeleteAccount(from_ref(r)),
        t::ProvisionAction::CreateResource(r) => {
            model::ProvisionAction::CreateResource(model::ResourceRequest {
                resource_type: r.resource_type,
                id: r.id,
                entitlement_ids: r.entitlement_ids,
            })
        }
        t::ProvisionAction::DeleteResource(r) => {
            model::ProvisionAction::DeleteResource(from_ref(r))
        }
    }
}
