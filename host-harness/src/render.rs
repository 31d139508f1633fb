//! JSON renderings of the contract's answers for the CLI (metadata, validation, outcomes).
//! Metadata and validation are the engine's records (`sync_engine::jsonl`), which every
//! host prints alike.

use serde_json::{json, Value};
use sync_engine::jsonl::{Line, MetadataJson, ResourceTypeJson, ValidationJson};

use crate::bindings::wit;
use crate::contract_types as convert;

pub fn metadata(m: &wit::ConnectorInfo) -> Value {
    let m = convert::metadata(m.clone());
    serde_json::to_value(MetadataJson::new(&m)).unwrap_or(Value::Null)
}

pub fn resource_type(t: &wit::ResourceType) -> Value {
    let t = convert::resource_type(t.clone());
    serde_json::to_value(ResourceTypeJson::new(&t)).unwrap_or(Value::Null)
}

pub fn validation(v: &wit::Validation) -> Value {
    let v = convert::validation(v.clone());
    serde_json::to_value(ValidationJson::new(&v)).unwrap_or(Value::Null)
}

/// The outcome of a provisioning action. A generated credential is included: stdout is where
/// the operator receives it, once; the harness never logs it anywhere else.
pub fn outcome(o: &wit::ProvisionOutcome) -> Value {
    let status = match o.status {
        wit::OutcomeStatus::Done => "done",
        wit::OutcomeStatus::AlreadyDone => "already_done",
    };
    json!({
        "status": status,
        "message": o.message,
        "resource": o.resource.clone().map(|r| serde_json::to_value(Line::resource(&convert::resource(r))).unwrap_or(Value::Null)),
        "grant": o.grant.clone().map(|g| serde_json::to_value(Line::grant(&convert::grant(g))).unwrap_or(Value::Null)),
        "credential": o.credential.as_ref().map(|c| json!({"kind": c.kind, "value": c.value})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_shape() {
        let m = wit::ConnectorInfo {
            name: "airflow".into(),
            version: "0.1.0".into(),
            description: "d".into(),
            config_fields: vec![wit::ConfigField {
                name: "password".into(),
                description: "p".into(),
                required: true,
                secret: true,
                default_value: None,
            }],
            resource_types: vec![wit::ResourceType {
                id: "role".into(),
                display_name: "Role".into(),
                description: String::new(),
                traits: vec![wit::ResourceTrait::Role],
                capabilities: wit::Capabilities {
                    sync: true,
                    provision: false,
                    inline_entitlements: true,
                    inline_grants: false,
                    inline_resources: false,
                },
            }],
        };
        let v = metadata(&m);
        assert_eq!(v["config_fields"][0]["secret"], true);
        assert_eq!(v["config_fields"][0]["default_value"], Value::Null);
        assert_eq!(v["resource_types"][0]["traits"][0], "role");
        assert_eq!(
            v["resource_types"][0]["capabilities"]["inline_grants"],
            false
        );
    }

    #[test]
    fn outcome_shape() {
        let o = wit::ProvisionOutcome {
            status: wit::OutcomeStatus::AlreadyDone,
            message: "already a member".into(),
            resource: None,
            grant: Some(wit::Grant {
                id: "role:Admin:member:user:bob".into(),
                entitlement_id: "role:Admin:member".into(),
                principal: wit::ResourceRef {
                    resource_type: "user".into(),
                    id: "bob".into(),
                },
            }),
            credential: None,
        };
        let v = outcome(&o);
        assert_eq!(v["status"], "already_done");
        assert_eq!(v["grant"]["principal_id"], "bob");
        assert_eq!(v["resource"], Value::Null);
    }
}
