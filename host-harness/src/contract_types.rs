//! The guest's binding types (`wit::*`) moved into the contract's plain types
//! (`connector_sdk::model`), which the sync engine and the output records work with. Every
//! conversion takes the binding value by value and moves its strings: a page of a large
//! directory is converted without copying it.

use connector_sdk::model;

use crate::bindings::wit;

pub fn resource_trait(t: wit::ResourceTrait) -> model::ResourceTrait {
    match t {
        wit::ResourceTrait::User => model::ResourceTrait::User,
        wit::ResourceTrait::Role => model::ResourceTrait::Role,
        wit::ResourceTrait::Group => model::ResourceTrait::Group,
    }
}

pub fn capabilities(c: wit::Capabilities) -> model::Capabilities {
    model::Capabilities {
        sync: c.sync,
        provision: c.provision,
        inline_entitlements: c.inline_entitlements,
        inline_grants: c.inline_grants,
        inline_resources: c.inline_resources,
    }
}

pub fn resource_type(t: wit::ResourceType) -> model::ResourceType {
    model::ResourceType {
        id: t.id,
        display_name: t.display_name,
        description: t.description,
        traits: t.traits.into_iter().map(resource_trait).collect(),
        capabilities: capabilities(t.capabilities),
    }
}

pub fn config_field(f: wit::ConfigField) -> model::ConfigField {
    model::ConfigField {
        name: f.name,
        description: f.description,
        required: f.required,
        secret: f.secret,
        default_value: f.default_value,
    }
}

pub fn metadata(m: wit::ConnectorInfo) -> model::Metadata {
    model::Metadata {
        name: m.name,
        version: m.version,
        description: m.description,
        config_fields: m.config_fields.into_iter().map(config_field).collect(),
        resource_types: m.resource_types.into_iter().map(resource_type).collect(),
    }
}

pub fn validation(v: wit::Validation) -> model::Validation {
    model::Validation {
        identity: v.identity,
        system: v.system,
    }
}

pub fn account_status(s: wit::AccountStatus) -> model::AccountStatus {
    match s {
        wit::AccountStatus::Enabled => model::AccountStatus::Enabled,
        wit::AccountStatus::Disabled => model::AccountStatus::Disabled,
        wit::AccountStatus::Unknown => model::AccountStatus::Unknown,
    }
}

pub fn user_profile(u: wit::UserProfile) -> model::UserProfile {
    model::UserProfile {
        login: u.login,
        email: u.email,
        status: account_status(u.status),
        last_login: u.last_login,
        login_count: u.login_count,
        fail_login_count: u.fail_login_count,
        created_at: u.created_at,
    }
}

pub fn resource_ref(r: wit::ResourceRef) -> model::ResourceRef {
    model::ResourceRef {
        resource_type: r.resource_type,
        id: r.id,
    }
}

/// The other way, for a call's argument: the engine lends its reference, the call needs the
/// binding's.
pub fn wit_resource_ref(r: &model::ResourceRef) -> wit::ResourceRef {
    wit::ResourceRef {
        resource_type: r.resource_type.clone(),
        id: r.id.clone(),
    }
}

pub fn resource(r: wit::Resource) -> model::Resource {
    model::Resource {
        resource_type: r.resource_type,
        id: r.id,
        display_name: r.display_name,
        user: r.user.map(user_profile),
        attributes: r.attributes,
    }
}

pub fn entitlement_purpose(p: wit::EntitlementPurpose) -> model::EntitlementPurpose {
    match p {
        wit::EntitlementPurpose::Assignment => model::EntitlementPurpose::Assignment,
        wit::EntitlementPurpose::Permission => model::EntitlementPurpose::Permission,
    }
}

pub fn entitlement(e: wit::Entitlement) -> model::Entitlement {
    model::Entitlement {
        id: e.id,
        resource: resource_ref(e.resource),
        slug: e.slug,
        display_name: e.display_name,
        description: e.description,
        purpose: entitlement_purpose(e.purpose),
        grantable_to: e.grantable_to,
    }
}

pub fn grant(g: wit::Grant) -> model::Grant {
    model::Grant {
        id: g.id,
        entitlement_id: g.entitlement_id,
        principal: resource_ref(g.principal),
    }
}

pub fn resource_page(p: wit::ResourcePage) -> model::ResourcePage {
    model::ResourcePage {
        resources: p.resources.into_iter().map(resource).collect(),
        entitlements: p.entitlements.into_iter().map(entitlement).collect(),
        grants: p.grants.into_iter().map(grant).collect(),
        next_page_token: p.next_page_token,
    }
}

pub fn entitlement_page(p: wit::EntitlementPage) -> model::EntitlementPage {
    model::EntitlementPage {
        entitlements: p.entitlements.into_iter().map(entitlement).collect(),
        next_page_token: p.next_page_token,
    }
}

pub fn grant_page(p: wit::GrantPage) -> model::GrantPage {
    model::GrantPage {
        grants: p.grants.into_iter().map(grant).collect(),
        next_page_token: p.next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_every_field() {
        let page = wit::ResourcePage {
            resources: vec![wit::Resource {
                resource_type: "user".into(),
                id: "alice".into(),
                display_name: "Alice".into(),
                user: Some(wit::UserProfile {
                    login: "alice".into(),
                    email: Some("a@x".into()),
                    status: wit::AccountStatus::Disabled,
                    last_login: Some("2026-01-02".into()),
                    login_count: Some(3),
                    fail_login_count: None,
                    created_at: Some("2026-01-01".into()),
                }),
                attributes: vec![("k".into(), "v".into())],
            }],
            entitlements: vec![wit::Entitlement {
                id: "perm:read:assigned".into(),
                resource: wit::ResourceRef {
                    resource_type: "perm".into(),
                    id: "read".into(),
                },
                slug: "assigned".into(),
                display_name: "read".into(),
                description: "d".into(),
                purpose: wit::EntitlementPurpose::Permission,
                grantable_to: vec!["role".into()],
            }],
            grants: vec![wit::Grant {
                id: "g".into(),
                entitlement_id: "e".into(),
                principal: wit::ResourceRef {
                    resource_type: "user".into(),
                    id: "alice".into(),
                },
            }],
            next_page_token: Some("p2".into()),
        };
        let expected = model::ResourcePage {
            resources: vec![model::Resource {
                resource_type: "user".into(),
                id: "alice".into(),
                display_name: "Alice".into(),
                user: Some(model::UserProfile {
                    login: "alice".into(),
                    email: Some("a@x".into()),
                    status: model::AccountStatus::Disabled,
                    last_login: Some("2026-01-02".into()),
                    login_count: Some(3),
                    fail_login_count: None,
                    created_at: Some("2026-01-01".into()),
                }),
                attributes: vec![("k".into(), "v".into())],
            }],
            entitlements: vec![model::Entitlement {
                id: "perm:read:assigned".into(),
                resource: model::ResourceRef::new("perm", "read"),
                slug: "assigned".into(),
                display_name: "read".into(),
                description: "d".into(),
                purpose: model::EntitlementPurpose::Permission,
                grantable_to: vec!["role".into()],
            }],
            grants: vec![model::Grant {
                id: "g".into(),
                entitlement_id: "e".into(),
                principal: model::ResourceRef::new("user", "alice"),
            }],
            next_page_token: Some("p2".into()),
        };
        assert_eq!(resource_page(page), expected);
    }

    #[test]
    fn metadata_keeps_every_field() {
        let m = metadata(wit::ConnectorInfo {
            name: "n".into(),
            version: "v".into(),
            description: "d".into(),
            config_fields: vec![wit::ConfigField {
                name: "api_key".into(),
                description: "k".into(),
                required: false,
                secret: true,
                default_value: Some("x".into()),
            }],
            resource_types: vec![wit::ResourceType {
                id: "group".into(),
                display_name: "Group".into(),
                description: String::new(),
                traits: vec![wit::ResourceTrait::Group],
                capabilities: wit::Capabilities {
                    sync: false,
                    provision: true,
                    inline_entitlements: false,
                    inline_grants: true,
                    inline_resources: true,
                },
            }],
        });
        assert_eq!(m.config_fields[0].default_value.as_deref(), Some("x"));
        assert!(m.config_fields[0].secret && !m.config_fields[0].required);
        let t = &m.resource_types[0];
        assert_eq!(t.traits, [model::ResourceTrait::Group]);
        assert!(t.capabilities.provision && t.capabilities.inline_resources);
        assert!(!t.capabilities.sync && !t.capabilities.inline_entitlements);
    }
}
