//! What a host prints: the sync's JSON Lines (one object per line, fixed field names and
//! order) and the pretty JSON of metadata and validation.
//!
//! Only derived `Serialize` structs, never `serde_json::Value`: a `Value` map's key order
//! depends on a cargo feature (`preserve_order`) that one host may turn on and another not,
//! and the hosts' outputs must be byte-identical.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use connector_sdk::model::{
    AccountStatus, Capabilities, ConfigField, Entitlement, EntitlementPurpose, Grant, Metadata,
    Resource, ResourceTrait, ResourceType, Validation,
};

/// One line of the sync output.
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
    pub login: &'a str,
    pub email: Option<&'a str>,
    pub status: &'static str,
    pub last_login: Option<&'a str>,
    pub login_count: Option<u64>,
    pub fail_login_count: Option<u64>,
    pub created_at: Option<&'a str>,
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

pub fn trait_name(t: ResourceTrait) -> &'static str {
    match t {
        ResourceTrait::User => "user",
        ResourceTrait::Role => "role",
        ResourceTrait::Group => "group",
    }
}

pub fn status_name(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Enabled => "enabled",
        AccountStatus::Disabled => "disabled",
        AccountStatus::Unknown => "unknown",
    }
}

pub fn purpose_name(p: EntitlementPurpose) -> &'static str {
    match p {
        EntitlementPurpose::Assignment => "assignment",
        EntitlementPurpose::Permission => "permission",
    }
}

impl<'a> Line<'a> {
    pub fn resource_type(t: &'a ResourceType) -> Self {
        Line::ResourceType {
            id: &t.id,
            display_name: &t.display_name,
            description: &t.description,
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

    /// The line and its newline, serialised straight into `out` (no intermediate `String`).
    pub fn write_to<W: std::io::Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    }
}

/// The metadata as a host prints it (`metadata` command), field for field.
#[derive(Debug, Serialize)]
pub struct MetadataJson<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub description: &'a str,
    pub config_fields: Vec<ConfigFieldJson<'a>>,
    pub resource_types: Vec<ResourceTypeJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ConfigFieldJson<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub required: bool,
    pub secret: bool,
    pub default_value: Option<&'a str>,
}

/// A resource type with its capabilities (unlike its sync line, which has none).
#[derive(Debug, Serialize)]
pub struct ResourceTypeJson<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
    pub description: &'a str,
    pub traits: Vec<&'static str>,
    pub capabilities: CapabilitiesJson,
}

#[derive(Debug, Serialize)]
pub struct CapabilitiesJson {
    pub sync: bool,
    pub provision: bool,
    pub inline_entitlements: bool,
    pub inline_grants: bool,
    pub inline_resources: bool,
}

#[derive(Debug, Serialize)]
pub struct ValidationJson<'a> {
    pub identity: &'a str,
    pub system: &'a str,
}

impl<'a> MetadataJson<'a> {
    pub fn new(m: &'a Metadata) -> Self {
        MetadataJson {
            name: &m.name,
            version: &m.version,
            description: &m.description,
            config_fields: m.config_fields.iter().map(ConfigFieldJson::new).collect(),
            resource_types: m.resource_types.iter().map(ResourceTypeJson::new).collect(),
        }
    }
}

impl<'a> ConfigFieldJson<'a> {
    pub fn new(f: &'a ConfigField) -> Self {
        ConfigFieldJson {
            name: &f.name,
            description: &f.description,
            required: f.required,
            secret: f.secret,
            default_value: f.default_value.as_deref(),
        }
    }
}

impl<'a> ResourceTypeJson<'a> {
    pub fn new(t: &'a ResourceType) -> Self {
        ResourceTypeJson {
            id: &t.id,
            display_name: &t.display_name,
            description: &t.description,
            traits: t.traits.iter().map(|t| trait_name(*t)).collect(),
            capabilities: CapabilitiesJson::new(t.capabilities),
        }
    }
}

impl CapabilitiesJson {
    pub fn new(c: Capabilities) -> Self {
        CapabilitiesJson {
            sync: c.sync,
            provision: c.provision,
            inline_entitlements: c.inline_entitlements,
            inline_grants: c.inline_grants,
            inline_resources: c.inline_resources,
        }
    }
}

impl<'a> ValidationJson<'a> {
    pub fn new(v: &'a Validation) -> Self {
        ValidationJson {
            identity: &v.identity,
            system: &v.system,
        }
    }
}

/// The `metadata` command's output, without the final newline.
pub fn metadata_pretty(m: &Metadata) -> String {
    // Serialising borrowed strings and booleans cannot fail.
    serde_json::to_string_pretty(&MetadataJson::new(m)).unwrap_or_default()
}

/// The `validate` command's output, without the final newline.
pub fn validation_pretty(v: &Validation) -> String {
    serde_json::to_string_pretty(&ValidationJson::new(v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::model::{ResourceRef, UserProfile};

    fn caps() -> Capabilities {
        Capabilities {
            sync: true,
            provision: false,
            inline_entitlements: true,
            inline_grants: true,
            inline_resources: false,
        }
    }

    #[test]
    fn resource_type_line() {
        let t = ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            description: "An Airflow account".into(),
            traits: vec![ResourceTrait::User],
            capabilities: caps(),
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
    fn non_user_resource_omits_user_and_keeps_attribute_order() {
        let mut r = Resource {
            resource_type: "role".into(),
            id: "Admin".into(),
            display_name: "Admin".into(),
            user: None,
            attributes: vec![],
        };
        assert_eq!(
            Line::resource(&r).to_json(),
            r#"{"type":"resource","resource_type":"role","id":"Admin","display_name":"Admin"}"#
        );
        r.attributes = vec![("z".into(), "1".into()), ("a".into(), "2".into())];
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
        let mut written = Vec::new();
        Line::grant(&g).write_to(&mut written).unwrap();
        assert_eq!(
            written,
            format!("{}\n", Line::grant(&g).to_json()).into_bytes()
        );
        assert_eq!(
            Line::grant(&g).to_json(),
            r#"{"type":"grant","id":"role:Admin:member:user:alice","entitlement":"role:Admin:member","principal_type":"user","principal_id":"alice"}"#
        );
    }

    #[test]
    fn metadata_is_pretty_in_the_documented_key_order() {
        let m = Metadata {
            name: "airflow".into(),
            version: "0.1.0".into(),
            description: "d".into(),
            config_fields: vec![ConfigField {
                name: "password".into(),
                description: "p".into(),
                required: true,
                secret: true,
                default_value: None,
            }],
            resource_types: vec![ResourceType {
                id: "role".into(),
                display_name: "Role".into(),
                description: String::new(),
                traits: vec![ResourceTrait::Role],
                capabilities: caps(),
            }],
        };
        assert_eq!(
            metadata_pretty(&m),
            r#"{
  "name": "airflow",
  "version": "0.1.0",
  "description": "d",
  "config_fields": [
    {
      "name": "password",
      "description": "p",
      "required": true,
      "secret": true,
      "default_value": null
    }
  ],
  "resource_types": [
    {
      "id": "role",
      "display_name": "Role",
      "description": "",
      "traits": [
        "role"
      ],
      "capabilities": {
        "sync": true,
        "provision": false,
        "inline_entitlements": true,
        "inline_grants": true,
        "inline_resources": false
      }
    }
  ]
}"#
        );
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
