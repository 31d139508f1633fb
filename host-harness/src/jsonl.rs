//! The sync output: JSON Lines, one object per line, with fixed field names and order.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::bindings::wit;

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

pub fn trait_name(t: wit::ResourceTrait) -> &'static str {
    match t {
        wit::ResourceTrait::User => "user",
        wit::ResourceTrait::Role => "role",
        wit::ResourceTrait::Group => "group",
    }
}

pub fn status_name(s: wit::AccountStatus) -> &'static str {
    match s {
        wit::AccountStatus::Enabled => "enabled",
        wit::AccountStatus::Disabled => "disabled",
        wit::AccountStatus::Unknown => "unknown",
    }
}

pub fn purpose_name(p: wit::EntitlementPurpose) -> &'static str {
    match p {
        wit::EntitlementPurpose::Assignment => "assignment",
        wit::EntitlementPurpose::Permission => "permission",
    }
}

impl<'a> Line<'a> {
    pub fn resource_type(t: &'a wit::ResourceType) -> Self {
        Line::ResourceType {
            id: &t.id,
            display_name: &t.display_name,
            description: &t.description,
            traits: t.traits.iter().map(|t| trait_name(*t)).collect(),
        }
    }

    pub fn resource(r: &'a wit::Resource) -> Self {
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

    pub fn entitlement(e: &'a wit::Entitlement) -> Self {
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

    pub fn grant(g: &'a wit::Grant) -> Self {
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
    pub fn write_to<W: std::io::Write>(&self, mut out: W) -> std::io::Result<()> {
        serde_json::to_writer(&mut out, self).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rref(t: &str, id: &str) -> wit::ResourceRef {
        wit::ResourceRef {
            resource_type: t.into(),
            id: id.into(),
        }
    }

    #[test]
    fn resource_type_line() {
        let t = wit::ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            description: "An Airflow account".into(),
            traits: vec![wit::ResourceTrait::User],
            capabilities: wit::Capabilities {
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
        let r = wit::Resource {
            resource_type: "user".into(),
            id: "alice".into(),
            display_name: "Alice Smith".into(),
            user: Some(wit::UserProfile {
                login: "alice".into(),
                email: Some("a@x".into()),
                status: wit::AccountStatus::Enabled,
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
        let mut r = wit::Resource {
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
        let e = wit::Entitlement {
            id: "role:Admin:member".into(),
            resource: rref("role", "Admin"),
            slug: "member".into(),
            display_name: "Admin member".into(),
            description: "Member of Admin".into(),
            purpose: wit::EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
        };
        assert_eq!(
            Line::entitlement(&e).to_json(),
            r#"{"type":"entitlement","id":"role:Admin:member","resource_type":"role","resource_id":"Admin","slug":"member","display_name":"Admin member","description":"Member of Admin","purpose":"assignment","grantable_to":["user"]}"#
        );
        let g = wit::Grant {
            id: "role:Admin:member:user:alice".into(),
            entitlement_id: "role:Admin:member".into(),
            principal: rref("user", "alice"),
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
}
