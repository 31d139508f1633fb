//! What the connector says about itself before it is configured.

use crate::config::{ALLOW_INSECURE_HTTP, API_TOKEN, BASE_URL, DEFAULT_BASE_URL, PROVISIONING};
use crate::mapping::{DIRECTORY_USER, GROUP, ROLE, USER};
use connector_sdk::model::{Capabilities, ConfigField, Metadata, ResourceTrait, ResourceType};

pub fn metadata() -> Metadata {
    Metadata {
        name: "northflank".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Northflank organisation members, org roles and directory groups: sync \
                      them and who holds each role and group, and grant or revoke explicit \
                      org-role membership"
            .into(),
        config_fields: config_fields(),
        resource_types: resource_types(),
    }
}

pub fn config_fields() -> Vec<ConfigField> {
    vec![
        ConfigField {
            name: API_TOKEN.into(),
            description: "Northflank API token, minted from an organisation role with \
                          `Organisation > Admin > Members > Read` and `Organisation > Admin > \
                          Roles > Read` (and `Roles > Manage` to provision)"
                .into(),
            required: true,
            secret: true,
            default_value: None,
        },
        ConfigField {
            name: BASE_URL.into(),
            description: "URL of the Northflank API, without `/v1`".into(),
            required: false,
            secret: false,
            default_value: Some(DEFAULT_BASE_URL.into()),
        },
        ConfigField {
            name: PROVISIONING.into(),
            description: "`true` lets `provision` change org-role membership; anything else \
                          refuses every change"
                .into(),
            required: false,
            secret: false,
            default_value: Some("false".into()),
        },
        ConfigField {
            name: ALLOW_INSECURE_HTTP.into(),
            description: "`true` allows an http:// `base_url` on a host other than loopback \
                          (127.0.0.0/8, ::1, localhost); otherwise such a URL is refused because \
                          the token would cross the network unencrypted"
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
            description: "A member of the Northflank organisation".into(),
            traits: vec![ResourceTrait::User],
            capabilities: Capabilities {
                sync: true,
                provision: false,
                // A member offers nothing to hold; its memberships are the roles' and groups'
                // grants.
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: false,
            },
        },
        ResourceType {
            id: ROLE.into(),
            display_name: "Org role".into(),
            description: "A Northflank organisation role; membership is `role:<id>:member`, \
                          held explicitly or through a linked directory group"
                .into(),
            traits: vec![ResourceTrait::Role],
            capabilities: Capabilities {
                sync: true,
                // grant and revoke of explicit membership
                provision: true,
                inline_entitlements: true,
                // Members are listed per role (paged), so the engine asks for them.
                inline_grants: false,
                inline_resources: false,
            },
        },
        ResourceType {
            id: GROUP.into(),
            display_name: "Directory group".into(),
            description: "A group synced from the identity provider (Directory Sync); \
                          membership is `group:<id>:member`"
                .into(),
            traits: vec![ResourceTrait::Group],
            capabilities: Capabilities {
                sync: true,
                // Membership is the identity provider's to change.
                provision: false,
                inline_entitlements: true,
                inline_grants: false,
                inline_resources: false,
            },
        },
        ResourceType {
            id: DIRECTORY_USER.into(),
            display_name: "Directory user without account".into(),
            description: "A directory group member with no Northflank account yet (its id is \
                          null); it appears only as the principal of group grants"
                .into(),
            traits: vec![ResourceTrait::User],
            capabilities: Capabilities {
                // Nothing lists these on their own: the groups' member listings name them.
                sync: false,
                provision: false,
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: false,
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_types_are_as_documented() {
        let m = metadata();
        assert_eq!(m.name, "northflank");
        let names: Vec<_> = m.config_fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "api_token",
                "base_url",
                "provisioning",
                "allow_insecure_http"
            ]
        );
        let secret: Vec<_> = m
            .config_fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(secret, ["api_token"]);
        let required: Vec<_> = m
            .config_fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(required, ["api_token"]);
        let types: Vec<_> = m
            .resource_types
            .iter()
            .map(|t| {
                (
                    t.id.as_str(),
                    t.capabilities.sync,
                    t.capabilities.inline_grants,
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                ("user", true, true),
                ("role", true, false),
                ("group", true, false),
                ("directory_user", false, true)
            ]
        );
    }
}
