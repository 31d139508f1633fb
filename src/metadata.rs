//! What the connector says about itself before it is configured.

use crate::config::{
    ALLOW_INSECURE_HTTP, API_GENERATION, AUTH_MODE, BASE_URL, DEFAULT_ROLE, DEFAULT_ROLE_VALUE,
    HOST_AUTH, PAGE_CONCURRENCY, PASSWORD, PROVISIONING, REQUEST_INTERVAL_MS, TOKEN, USERNAME,
    VERIFY_DELAY_MS,
};
use crate::mapping::{PERMISSION, ROLE, USER};
use crate::model::{Capabilities, ConfigField, Metadata, ResourceTrait, ResourceType};

pub fn metadata() -> Metadata {
    Metadata {
        name: "airflow".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Apache Airflow users and roles (FAB auth manager): sync accounts, roles and \
                      role memberships"
            .into(),
        config_fields: config_fields(),
        resource_types: resource_types(),
    }
}

pub fn config_fields() -> Vec<ConfigField> {
    vec![
        ConfigField {
            name: BASE_URL.into(),
            description: "URL of the Airflow API server, e.g. https://airflow.example.com \
                          (a path prefix is kept when Airflow runs behind a proxy)"
                .into(),
            required: true,
            secret: false,
            default_value: None,
        },
        ConfigField {
            name: USERNAME.into(),
            description: "Airflow account the connector signs in as (required unless `auth_mode` \
                          is `token` or the host authenticates); needs can_read on Users and \
                          Roles (and can_create/can_edit/can_delete on Users to provision)"
                .into(),
            required: false,
            secret: false,
            default_value: None,
        },
        ConfigField {
            name: PASSWORD.into(),
            description: "Password of that account (required unless `auth_mode` is `token` or \
                          the host authenticates); see `auth_mode` for how it is used"
                .into(),
            required: false,
            secret: true,
            default_value: None,
        },
        ConfigField {
            name: PROVISIONING.into(),
            description:
                "`true` lets `provision` change Airflow; anything else refuses every change".into(),
            required: false,
            secret: false,
            default_value: Some("false".into()),
        },
        ConfigField {
            name: DEFAULT_ROLE.into(),
            description: "Role a new account gets when the request names none (Airflow 3 needs \
                          at least one); `Public` carries no permissions"
                .into(),
            required: false,
            secret: false,
            default_value: Some(DEFAULT_ROLE_VALUE.into()),
        },
        ConfigField {
            name: VERIFY_DELAY_MS.into(),
            description: "Least milliseconds to wait after a role or permission change before \
                          reading it back to verify it (catches a concurrent writer that replaced \
                          the list); the wait grows to 3 times the measured read-and-write round \
                          trip, up to 5000 ms or this value if larger"
                .into(),
            required: false,
            secret: false,
            default_value: Some("300".into()),
        },
        ConfigField {
            name: API_GENERATION.into(),
            description: "`auto` detects the API (one request; two on Airflow 2), or name it: \
                          `fab-fastapi` (Airflow 3, FAB ≥ 3.5), `fab-connexion` (Airflow 3.0, \
                          FAB ≤ 3.1), `airflow2` (/api/v1)"
                .into(),
            required: false,
            secret: false,
            default_value: Some("auto".into()),
        },
        ConfigField {
            name: AUTH_MODE.into(),
            description: "`auto`: username and password, the fastest way the server offers (a \
                          JWT on Airflow 3 with FAB 3.5 or newer, the web form login's session \
                          cookie on Airflow 2 and on Airflow 3.0's FAB 2.x, else HTTP Basic); \
                          `password`: a JWT where the API has one, else HTTP \
                          Basic on every request; `session`: the web form login; `token`: a \
                          static bearer token in `token`; `host`: the host authenticates (see \
                          `host_auth`)"
                .into(),
            required: false,
            secret: false,
            default_value: Some("auto".into()),
        },
        ConfigField {
            name: TOKEN.into(),
            description: "Bearer token sent when `auth_mode` is `token`".into(),
            required: false,
            secret: true,
            default_value: None,
        },
        ConfigField {
            name: HOST_AUTH.into(),
            description: "Set by a host that authenticates the connector's requests to \
                          `base_url` itself, to the scheme it applies: `negotiate` (Kerberos \
                          SPNEGO). The connector then sends no credentials of its own"
                .into(),
            required: false,
            secret: false,
            default_value: None,
        },
        ConfigField {
            name: REQUEST_INTERVAL_MS.into(),
            description: "Minimum milliseconds between two requests, to spare a busy server \
                          (on Basic-auth APIs every request hashes the password)"
                .into(),
            required: false,
            secret: false,
            default_value: Some("0".into()),
        },
        ConfigField {
            name: PAGE_CONCURRENCY.into(),
            description: "Pages of a listing requested at once (1 to 8), for a server with \
                          several API workers; 1 reads one page at a time. Ignored under \
                          `request_interval_ms`"
                .into(),
            required: false,
            secret: false,
            default_value: Some("1".into()),
        },
        ConfigField {
            name: ALLOW_INSECURE_HTTP.into(),
            description: "`true` allows an http:// `base_url` on a host other than loopback \
                          (127.0.0.0/8, ::1, localhost); otherwise such a URL is refused because \
                          credentials would cross the network unencrypted"
                .into(),
            required: false,
            secret: false,
            default_value: Some("false".into()),
        },
    ]
}

pub fn resource_types() -> Vec<ResourceType> {
    vec![
        ResourceType {
            id: USER.into(),
            display_name: "User".into(),
            description: "An Airflow account".into(),
            traits: vec![ResourceTrait::User],
            capabilities: Capabilities {
                sync: true,
                // create-account and delete-account
                provision: true,
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: false,
            },
        },
        ResourceType {
            id: ROLE.into(),
            display_name: "Role".into(),
            description: "An Airflow role; membership is the entitlement `role:<name>:member`"
                .into(),
            traits: vec![ResourceTrait::Role],
            capabilities: Capabilities {
                sync: true,
                // grant and revoke of `role:<name>:member`
                provision: true,
                // Role members are listed on the user pages, so every membership grant arrives
                // inline with the users; roles' own pages carry their entitlements.
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: false,
            },
        },
        ResourceType {
            id: PERMISSION.into(),
            display_name: "Permission".into(),
            description: "An action on an Airflow resource, e.g. `can_read:DAGs`; roles hold them \
                          through the entitlement `permission:<action>:<resource>:assigned`"
                .into(),
            traits: vec![],
            capabilities: Capabilities {
                sync: true,
                // grant and revoke of `permission:<id>:assigned` to custom roles
                provision: true,
                // Taken from the roles' own action lists, so every generation agrees and a
                // full sync costs no request for them.
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: true,
            },
        },
    ]
}
