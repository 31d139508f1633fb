//! The component's edges: `wasi:cli/run` hands the arguments, the environment and the standard
//! streams to `command::run`, and the imported contract is seen through `Contract` in the SDK's
//! plain types, converted here.

use std::io::Write;

use connector_sdk::error::Error;
use connector_sdk::model;

use sync_engine::sync;

use crate::command::{self, Contract};

wit_bindgen::generate!({
    world: "governance:command/command",
    path: ["../wit", "wit"],
    generate_all,
});

use governance::command::http_requests;
use governance::connector::connector as imported;
use governance::connector::types as t;

struct Component;
export!(Component);

impl exports::wasi::cli::run::Guest for Component {
    fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // A variable that is not UTF-8 cannot name a setting; it is left out, not mangled.
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let mut stderr = std::io::stderr().lock();
        let outcome = command::run(&args, &env, &mut Imported, &mut stdout, &mut stderr);
        // Whatever is still buffered belongs to the output; a failure to flush it is all that
        // can be said by then.
        let flushed = stdout.flush().is_ok();
        outcome
            .map_err(|_| ())
            .and_then(|()| flushed.then_some(()).ok_or(()))
    }
}

/// The connector the composition plugged into this component's imports.
struct Imported;

impl Contract for Imported {
    fn metadata(&mut self) -> model::Metadata {
        let m = imported::metadata();
        model::Metadata {
            name: m.name,
            version: m.version,
            description: m.description,
            config_fields: m
                .config_fields
                .into_iter()
                .map(|f| model::ConfigField {
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

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), Error> {
        imported::configure(settings).map_err(error)
    }

    fn validate(&mut self) -> Result<model::Validation, Error> {
        imported::validate()
            .map(|v| model::Validation {
                identity: v.identity,
                system: v.system,
            })
            .map_err(error)
    }
}

// The imports are synchronous calls: these futures are ready when first polled.
impl sync::Contract for Imported {
    type Error = Error;

    async fn resource_types(&mut self) -> Result<Vec<model::ResourceType>, Error> {
        imported::resource_types()
            .map(|types| types.into_iter().map(resource_type).collect())
            .map_err(error)
    }

    async fn list_resources(
        &mut self,
        resource_type: &str,
        token: Option<&str>,
    ) -> Result<model::ResourcePage, Error> {
        imported::list_resources(resource_type, token)
            .map(|p| model::ResourcePage {
                resources: p.resources.into_iter().map(resource).collect(),
                entitlements: p.entitlements.into_iter().map(entitlement).collect(),
                grants: p.grants.into_iter().map(grant).collect(),
                next_page_token: p.next_page_token,
            })
            .map_err(error)
    }

    async fn list_entitlements(
        &mut self,
        resource: &model::ResourceRef,
        token: Option<&str>,
    ) -> Result<model::EntitlementPage, Error> {
        imported::list_entitlements(&resource_ref_out(resource), token)
            .map(|p| model::EntitlementPage {
                entitlements: p.entitlements.into_iter().map(entitlement).collect(),
                next_page_token: p.next_page_token,
            })
            .map_err(error)
    }

    async fn list_grants(
        &mut self,
        resource: &model::ResourceRef,
        token: Option<&str>,
    ) -> Result<model::GrantPage, Error> {
        imported::list_grants(&resource_ref_out(resource), token)
            .map(|p| model::GrantPage {
                grants: p.grants.into_iter().map(grant).collect(),
                next_page_token: p.next_page_token,
            })
            .map_err(error)
    }

    async fn session_info(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(imported::session_info())
    }

    fn requests(&self) -> u64 {
        http_requests::count()
    }
}

fn resource_type(t: t::ResourceType) -> model::ResourceType {
    model::ResourceType {
        id: t.id,
        display_name: t.display_name,
        description: t.description,
        traits: t
            .traits
            .into_iter()
            .map(|t| match t {
                t::ResourceTrait::User => model::ResourceTrait::User,
                t::ResourceTrait::Role => model::ResourceTrait::Role,
                t::ResourceTrait::Group => model::ResourceTrait::Group,
            })
            .collect(),
        capabilities: model::Capabilities {
            sync: t.capabilities.sync,
            provision: t.capabilities.provision,
            inline_entitlements: t.capabilities.inline_entitlements,
            inline_grants: t.capabilities.inline_grants,
            inline_resources: t.capabilities.inline_resources,
        },
    }
}

fn resource_ref(r: t::ResourceRef) -> model::ResourceRef {
    model::ResourceRef {
        resource_type: r.resource_type,
        id: r.id,
    }
}

fn resource_ref_out(r: &model::ResourceRef) -> t::ResourceRef {
    t::ResourceRef {
        resource_type: r.resource_type.clone(),
        id: r.id.clone(),
    }
}

fn resource(r: t::Resource) -> model::Resource {
    model::Resource {
        resource_type: r.resource_type,
        id: r.id,
        display_name: r.display_name,
        user: r.user.map(|u| model::UserProfile {
            login: u.login,
            email: u.email,
            status: match u.status {
                t::AccountStatus::Enabled => model::AccountStatus::Enabled,
                t::AccountStatus::Disabled => model::AccountStatus::Disabled,
                t::AccountStatus::Unknown => model::AccountStatus::Unknown,
            },
            last_login: u.last_login,
            login_count: u.login_count,
            fail_login_count: u.fail_login_count,
            created_at: u.created_at,
        }),
        attributes: r.attributes,
    }
}

fn entitlement(e: t::Entitlement) -> model::Entitlement {
    model::Entitlement {
        id: e.id,
        resource: resource_ref(e.resource),
        slug: e.slug,
        display_name: e.display_name,
        description: e.description,
        purpose: match e.purpose {
            t::EntitlementPurpose::Assignment => model::EntitlementPurpose::Assignment,
            t::EntitlementPurpose::Permission => model::EntitlementPurpose::Permission,
        },
        grantable_to: e.grantable_to,
    }
}

fn grant(g: t::Grant) -> model::Grant {
    model::Grant {
        id: g.id,
        entitlement_id: g.entitlement_id,
        principal: resource_ref(g.principal),
    }
}

fn error(e: t::ConnectorError) -> Error {
    match e {
        t::ConnectorError::InvalidConfig(c) => Error::InvalidConfig {
            field: c.field,
            message: c.message,
        },
        t::ConnectorError::InvalidArgument(m) => Error::InvalidArgument(m),
        t::ConnectorError::Unauthenticated(m) => Error::Unauthenticated(m),
        t::ConnectorError::PermissionDenied(m) => Error::PermissionDenied(m),
        t::ConnectorError::NotFound(m) => Error::NotFound(m),
        t::ConnectorError::Conflict(m) => Error::Conflict(m),
        t::ConnectorError::RateLimited(r) => Error::RateLimited {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        },
        t::ConnectorError::Unavailable(m) => Error::Unavailable(m),
        t::ConnectorError::UpstreamProtocol(m) => Error::UpstreamProtocol(m),
        t::ConnectorError::Unsupported(m) => Error::Unsupported(m),
    }
}
