//! What `wasmtime run … sync | metadata | validate` prints, byte for byte what `host-harness`
//! prints for the same data: the sync's JSON Lines and the pretty JSON of metadata and
//! validation. Field names and order follow `host-harness/src/jsonl.rs` and `render.rs`;
//! `tests/wasmtime_cli.rs` compares the two outputs byte for byte.
//!
//! Only derived `Serialize` structs, never `serde_json::Value`: a `Value` map's key order
//! depends on a cargo feature (`preserve_order`) that the harness turns on and the
//! component's own build does not.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::model::{
    AccountStatus, ConfigField, Entitlement, EntitlementPurpose, Grant, Metadata, Resource,
    ResourceTrait, ResourceType, Validation,
};

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line<'a> {
    ResourceType {
        id: &'a str,
        display_name: &'a str,
        description: &'a str,
        traits: Vec<&'static str>,
    },
    Resource {
        resource_type: &'a str,
        id: &'a str,
        display_name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<User<'a>>,
        #[serde(skip_serializing_if = "Attributes::is_empty")]
        attributes: Attributes<'a>,
    },
    Entitlement {
        id: &'a str,
        resource_type: &'a str,
        resource_id: &'a str,
        slug: &'a str,
        display_name: &'a str,
        description: &'a str,
        purpose: &'static str,
        grantable_to: &'a [String],
    },
    Grant {
        id: &'a str,
        entitlement: &'a str,
        principal_type: &'a str,
        principal_id: &'a str,
    },
}

#[derive(Debug, Serialize)]
pub struct User<'a> {
    login: &'a str,
    email: Option<&'a str>,
    status: &'static str,
    last_login: Option<&'a str>,
    login_count: Option<u64>,
    fail_login_count: Option<u64>,
    created_at: Option<&'a str>,
}

/// Key/value pairs written as a JSON object, in the connector's order.
#[derive(Debug)]
pub struct Attributes<'a>(&'a [(String, String)]);

impl Attributes<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn trait_name(t: ResourceTrait) -> &'static str {
    match t {
        ResourceTrait::User => "user",
        ResourceTrait::Role => "role",
        ResourceTrait::Group => "group",
    }
}

fn status_name(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Enabled => "enabled",
        AccountStatus::Disabled => "disabled",
        AccountStatus::Unknown => "unknown",
    }
}

fn purpose_name(p: EntitlementPurpose) -> &'static str {
    match p {
        EntitlementPurpose::Assignment => "assignment",
        EntitlementPurpose::Permission => "permission",
    }
}

impl<'a> Line<'a> {
    pub fn resource_type(t: &'a ResourceType) -> Self {
        Line::ResourceType {
            id: t.id,
            display_name: t.display_name,
            description: t.description,
            traits: t.traits.iter().map(|t| trait_name(*t)).collect(),
        }
    }

    pub fn resource(r: &'a Resource) -> Self {
        Line::Resource {
            resource_type: &r.resource_type,
            id: &r.id,
            display_name: &r.display_name,
            user: r.user.as_ref().map(|u| User {
                login: &u.login,
                email: u.email.as_deref(),
                status: status_name(u.status),
                last_login: u.last_login.as_deref(),
                login_count: u.login_count,
                fail_login_count: u.fail_login_count,
                created_at: u.created_at.as_deref(),
            }),
            attributes: Attributes(&r.attributes),
        }
    }

    pub fn entitlement(e: &'a Entitlement) -> Self {
        Line::Entitlement {
            id: &e.id,
            resource_type: &e.resource.resource_type,
            resource_id: &e.resource.id,
            slug: &e.slug,
            display_name: &e.display_name,
            description: &e.description,
            purpose: purpose_name(e.purpose),
            grantable_to: &e.grantable_to,
        }
    }

    pub fn grant(g: &'a Grant) -> Self {
        Line::Grant {
            id: &g.id,
            entitlement: &g.entitlement_id,
            principal_type: &g.principal.resource_type,
            principal_id: &g.principal.id,
        }
    }

    /// The line as written, without the newline.
    pub fn to_json(&self) -> String {
        // Serialising these borrowed strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct MetadataJson<'a> {
    name: &'a str,
    version: &'a str,
    description: &'a str,
    config_fields: Vec<ConfigFieldJson<'a>>,
    resource_types: Vec<ResourceTypeJson<'a>>,
}

#[derive(Serialize)]
struct ConfigFieldJson<'a> {
    name: &'a str,
    description: &'a str,
    required: bool,
    secret: bool,
    default_value: Option<&'a str>,
}

#[derive(Serialize)]
struct ResourceTypeJson<'a> {
    id: &'a str,
    display_name: &'a str,
    description: &'a str,
    traits: Vec<&'static str>,
    capabilities: CapabilitiesJson,
}

#[derive(Serialize)]
struct CapabilitiesJson {
    sync: bool,
    provision: bool,
    inline_entitlements: bool,
    inline_grants: bool,
    inline_resources: bool,
}

#[derive(Serialize)]
struct ValidationJson<'a> {
    identity: &'a str,
    system: &'a str,
}

fn config_field(f: &ConfigField) -> ConfigFieldJson<'_> {
    ConfigFieldJson {
        name: f.name,
        description: f.description,
        required: f.required,
        secret: f.secret,
        default_value: f.default_value,
    }
}

fn resource_type(t: &ResourceType) -> ResourceTypeJson<'_> {
    let c = t.capabilities;
    ResourceTypeJson {
        id: t.id,
        display_name: t.display_name,
        description: t.description,
        traits: t.traits.iter().map(|t| trait_name(*t)).collect(),
        capabilities: CapabilitiesJson {
            sync: c.sync,
            provision: c.provision,
            inline_entitlements: c.inline_entitlements,
            inline_grants: c.inline_grants,
            inline_resources: c.inline_resources,
        },
    }
}

/// `host-harness metadata`'s output, without the final newline.
pub fn metadata_pretty(m: &Metadata) -> String {
    let json = MetadataJson {
        name: m.name,
        version: m.version,
        description: m.description,
        config_fields: m.config_fields.iter().map(config_field).collect(),
        resource_types: m.resource_types.iter().map(resource_type).collect(),
    };
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// `host-harness validate`'s output, without the final newline.
pub fn validation_pretty(v: &Validation) -> String {
    let json = ValidationJson {
        identity: &v.identity,
        system: &v.system,
    };
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Capabilities, ResourceRef, UserProfile};

    // The expected strings are the ones `host-harness/src/jsonl.rs` asserts for the same data.

    #[test]
    fn resource_type_line() {
        let t = ResourceType {
            id: "user",
            display_name: "User",
            description: "An Airflow account",
            traits: vec![ResourceTrait::User],
            capabilities: Capabilities {
                sync: true,
                provision: false,
                inline_entitlements: true,
                inline_grants: true,
                inline_resources: false,
            },
        };
        assert_eq!(
            Line::resource_type(&t).to_json(),
            r#"{"type":"resource_type","id":"user","display_name":"User","description":"An Airflow account","traits":["user"]}"#
        );
    }

    #[test]
    fn user_resource_line_has_nulls_and_no_empty_attributes() {
        let r = Resource {
            resource_type: "user".into(),
            id: "alice".into(),
            display_name: "Alice Smith".into(),
            user: Some(UserProfile {
                login: "alice".into(),
                email: Some("a@x".into()),
                status: AccountStatus::Enabled,
                last_login: None,
                login_count: Some(3),
                fail_login_count: Some(0),
                created_at: Some("2026-01-01T00:00:00Z".into()),
            }),
            attributes: vec![],
        };
        assert_eq!(
            Line::resource(&r).to_json(),
            r#"{"type":"resource","resource_type":"user","id":"alice","display_name":"Alice Smith","user":{"login":"alice","email":"a@x","status":"enabled","last_login":null,"login_count":3,"fail_login_count":0,"created_at":"2026-01-01T00:00:00Z"}}"#
        );
    }

    #[test]
    fn attributes_keep_the_connectors_order() {
        let r = Resource {
            resource_type: "role".into(),
            id: "Admin".into(),
            display_name: "Admin".into(),
            user: None,
            attributes: vec![("z".into(), "1".into()), ("a".into(), "2".into())],
        };
        assert_eq!(
            Line::resource(&r).to_json(),
            r#"{"type":"resource","resource_type":"role","id":"Admin","display_name":"Admin","attributes":{"z":"1","a":"2"}}"#
        );
    }

    #[test]
    fn entitlement_and_grant_lines() {
        let e = Entitlement {
            id: "role:Admin:member".into(),
            resource: ResourceRef::new("role", "Admin"),
            slug: "member".into(),
            display_name: "Admin member".into(),
            description: "Member of Admin".into(),
            purpose: EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
        };
        assert_eq!(
            Line::entitlement(&e).to_json(),
            r#"{"type":"entitlement","id":"role:Admin:member","resource_type":"role","resource_id":"Admin","slug":"member","display_name":"Admin member","description":"Member of Admin","purpose":"assignment","grantable_to":["user"]}"#
        );
        let g = Grant {
            id: "role:Admin:member:user:alice".into(),
            entitlement_id: "role:Admin:member".into(),
            principal: ResourceRef::new("user", "alice"),
        };
        assert_eq!(
            Line::grant(&g).to_json(),
            r#"{"type":"grant","id":"role:Admin:member:user:alice","entitlement":"role:Admin:member","principal_type":"user","principal_id":"alice"}"#
        );
    }

    #[test]
    fn metadata_keeps_the_harness_key_order() {
        let text = metadata_pretty(&crate::metadata::metadata());
        let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
        assert!(at("name") < at("version") && at("version") < at("config_fields"));
        assert!(at("config_fields") < at("resource_types"));
        assert!(at("required") < at("secret") && at("secret") < at("default_value"));
        assert!(at("inline_grants") < at("inline_resources"));
        assert!(text.starts_with("{\n  \"name\": \"airflow\""), "{text}");
    }

    #[test]
    fn validation_is_pretty_identity_then_system() {
        let v = Validation {
            identity: "admin".into(),
            system: "FastAPI".into(),
        };
        assert_eq!(
            validation_pretty(&v),
            "{\n  \"identity\": \"admin\",\n  \"system\": \"FastAPI\"\n}"
        );
    }
}
