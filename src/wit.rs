//! WIT glue: the exported functions forward to `Connector`; records convert both ways.
//! `wasi:cli/run` forwards to `cli::run`.

use crate::cli::Counting;
use crate::config::Config;
use crate::connector::Connector;
use crate::error::Error;
use crate::{cli, metadata, model};
use connector_sdk::http_waki::WakiTransport;
use std::cell::RefCell;

wit_bindgen::generate!({ world: "connector-command", path: "wit" });

use exports::governance::connector::connector::Guest;
use exports::governance::connector::types as t;

struct Component;
export!(Component);

thread_local! {
    // One connector per instance, set by `configure`.
    static STATE: RefCell<Option<WitConnector>> = const { RefCell::new(None) };
}

/// The contract's connector has the transport type of the `wasi:cli/run` commands,
/// `Counting<WakiTransport>` (its count unused here), so the connector and client code is
/// compiled once for both entry points instead of twice (18 KB of the component).
type WitConnector = Connector<Counting<WakiTransport>>;

fn new_connector(config: Config) -> WitConnector {
    Connector::new(Counting::new(WakiTransport).0, config)
}

fn with_connector<R>(
    f: impl FnOnce(&mut WitConnector) -> Result<R, Error>,
) -> Result<R, t::ConnectorError> {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        f(configured(&mut state)?).map_err(error)
    })
}

/// The instance's connector. Not generic, unlike `with_connector`, so it is compiled once.
fn configured(state: &mut Option<WitConnector>) -> Result<&mut WitConnector, t::ConnectorError> {
    if state.is_none() {
        // `wasmtime run --invoke` makes a fresh instance per call: with settings in the
        // environment it configures itself. A host passes none, so nothing changes there.
        if let Some(config) = cli::config_from_env(&env_vars()).map_err(error)? {
            *state = Some(new_connector(config));
        }
    }
    state.as_mut().ok_or_else(|| {
        error(Error::config(
            crate::config::BASE_URL,
            "the connector is not configured: call `configure` with base_url, username and password first",
        ))
    })
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

impl exports::wasi::cli::run::Guest for Component {
    fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let mut stderr = std::io::stderr().lock();
        cli::run(&args, &env_vars(), WakiTransport, &mut stdout, &mut stderr).map_err(|_| ())
    }
}

impl Guest for Component {
    fn metadata() -> t::ConnectorInfo {
        let m = metadata::metadata();
        t::ConnectorInfo {
            name: m.name.into(),
            version: m.version.into(),
            description: m.description.into(),
            config_fields: m
                .config_fields
                .into_iter()
                .map(|f| t::ConfigField {
                    name: f.name.into(),
                    description: f.description.into(),
                    required: f.required,
                    secret: f.secret,
                    default_value: f.default_value.map(Into::into),
                })
                .collect(),
            resource_types: m.resource_types.into_iter().map(resource_type).collect(),
        }
    }

    fn configure(config: Vec<(String, String)>) -> Result<(), t::ConnectorError> {
        let config = Config::parse(&config).map_err(error)?;
        STATE.with(|state| *state.borrow_mut() = Some(new_connector(config)));
        Ok(())
    }

    fn validate() -> Result<t::Validation, t::ConnectorError> {
        with_connector(|c| c.validate()).map(|v| t::Validation {
            identity: v.identity,
            system: v.system,
        })
    }

    fn resource_types() -> Result<Vec<t::ResourceType>, t::ConnectorError> {
        Ok(metadata::resource_types()
            .into_iter()
            .map(resource_type)
            .collect())
    }

    fn list_resources(
        resource_type: String,
        page_token: Option<String>,
    ) -> Result<t::ResourcePage, t::ConnectorError> {
        with_connector(|c| c.list_resources(&resource_type, page_token.as_deref())).map(|p| {
            t::ResourcePage {
                resources: p.resources.into_iter().map(resource).collect(),
                entitlements: p.entitlements.into_iter().map(entitlement).collect(),
                grants: p.grants.into_iter().map(grant).collect(),
                next_page_token: p.next_page_token,
            }
        })
    }

    fn list_entitlements(
        resource: t::ResourceRef,
        page_token: Option<String>,
    ) -> Result<t::EntitlementPage, t::ConnectorError> {
        with_connector(|c| c.list_entitlements(&from_ref(resource), page_token.as_deref())).map(
            |p| t::EntitlementPage {
                entitlements: p.entitlements.into_iter().map(entitlement).collect(),
                next_page_token: p.next_page_token,
            },
        )
    }

    fn list_grants(
        resource: t::ResourceRef,
        page_token: Option<String>,
    ) -> Result<t::GrantPage, t::ConnectorError> {
        with_connector(|c| c.list_grants(&from_ref(resource), page_token.as_deref())).map(|p| {
            t::GrantPage {
                grants: p.grants.into_iter().map(grant).collect(),
                next_page_token: p.next_page_token,
            }
        })
    }

    fn session_info() -> Vec<(String, String)> {
        STATE.with(|state| {
            state
                .borrow()
                .as_ref()
                .map(|c| c.session_info())
                .unwrap_or_default()
        })
    }

    fn provision(action: t::ProvisionAction) -> Result<t::ProvisionOutcome, t::ConnectorError> {
        let action = provision_action(action);
        with_connector(|c| c.provision(&action)).map(|o| t::ProvisionOutcome {
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
        })
    }
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

fn resource_type(r: model::ResourceType) -> t::ResourceType {
    t::ResourceType {
        id: r.id.into(),
        display_name: r.display_name.into(),
        description: r.description.into(),
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
