//! The one trait a connector implements. The export glue (`glue.rs`, wasm32 only) calls it for
//! every function of the WIT `connector` interface; this file holds what the glue decides
//! without the bindings, so it is tested natively.

use crate::error::{Error, Result};
use crate::model::{
    ConfigField, EntitlementPage, GrantPage, Metadata, ProvisionAction, ProvisionOutcome,
    ResourcePage, ResourceRef, ResourceType, Validation,
};

/// A connector to one system. `configure` makes the instance's value; every other method with
/// `self` runs on it. Errors are the contract's typed errors, and their messages must never
/// hold a secret (see [`Error::scrubbed`]).
pub trait Connector: Sized + 'static {
    /// What the connector says about itself; answered before `configure`.
    fn metadata() -> Metadata;

    /// Checks the settings (key/value pairs) and builds the connector. Unknown keys, missing
    /// required keys and malformed values fail with `invalid-config` naming the field. Makes no
    /// network call. A failed `configure` leaves an earlier configuration in force.
    fn configure(settings: &[(String, String)]) -> Result<Self>;

    /// Connects, authenticates and checks that the credentials may read what a sync reads.
    fn validate(&mut self) -> Result<Validation>;

    /// Answered before `configure`, like `metadata`, whose resource types it returns unless
    /// the connector overrides it.
    fn resource_types() -> Result<Vec<ResourceType>> {
        Ok(Self::metadata().resource_types)
    }

    fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<ResourcePage>;

    fn list_entitlements(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<EntitlementPage>;

    fn list_grants(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<GrantPage>;

    fn provision(&mut self, action: &ProvisionAction) -> Result<ProvisionOutcome>;

    /// Labelled facts for an operator's summary; no network call. Empty by default.
    fn session_info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The error of a call that needs a configured connector on an instance whose host has not
/// called `configure` (or whose `configure` failed). It names the first required field, the
/// first field if none is required, as `invalid-config` must name one.
pub fn not_configured(fields: &[ConfigField]) -> Error {
    let field = fields
        .iter()
        .find(|f| f.required)
        .or_else(|| fields.first())
        .map_or("", |f| f.name.as_str());
    Error::config(
        field,
        "the connector is not configured: call `configure` first",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, required: bool) -> ConfigField {
        ConfigField {
            name: name.into(),
            description: String::new(),
            required,
            secret: false,
            default_value: None,
        }
    }

    #[test]
    fn not_configured_names_the_first_required_field() {
        let fields = [
            field("region", false),
            field("tenant", true),
            field("key", true),
        ];
        assert_eq!(
            not_configured(&fields),
            Error::InvalidConfig {
                field: "tenant".into(),
                message: "the connector is not configured: call `configure` first".into(),
            }
        );
        let optional = [field("region", false), field("zone", false)];
        assert!(matches!(
            not_configured(&optional),
            Error::InvalidConfig { field, .. } if field == "region"
        ));
        assert!(matches!(
            not_configured(&[]),
            Error::InvalidConfig { field, .. } if field.is_empty()
        ));
    }

    /// A connector with only the required methods: the defaults answer from `metadata`.
    struct Minimal;

    impl Connector for Minimal {
        fn metadata() -> Metadata {
            Metadata {
                name: "minimal".into(),
                version: "0.0.0".into(),
                description: String::new(),
                config_fields: vec![field("url", true)],
                resource_types: vec![ResourceType {
                    id: "user".into(),
                    display_name: "User".into(),
                    description: String::new(),
                    traits: vec![crate::model::ResourceTrait::User],
                    capabilities: crate::model::Capabilities {
                        sync: true,
                        provision: false,
                        inline_entitlements: true,
                        inline_grants: true,
                        inline_resources: false,
                    },
                }],
            }
        }
        fn configure(_: &[(String, String)]) -> Result<Self> {
            Ok(Minimal)
        }
        fn validate(&mut self) -> Result<Validation> {
            Err(Error::Unsupported("validate".into()))
        }
        fn list_resources(&mut self, _: &str, _: Option<&str>) -> Result<ResourcePage> {
            Ok(ResourcePage::default())
        }
        fn list_entitlements(
            &mut self,
            _: &ResourceRef,
            _: Option<&str>,
        ) -> Result<EntitlementPage> {
            Ok(EntitlementPage::default())
        }
        fn list_grants(&mut self, _: &ResourceRef, _: Option<&str>) -> Result<GrantPage> {
            Ok(GrantPage::default())
        }
        fn provision(&mut self, _: &ProvisionAction) -> Result<ProvisionOutcome> {
            Err(Error::Unsupported("provisioning".into()))
        }
    }

    // Natively the macro only checks that the type implements the trait.
    crate::export_connector!(Minimal);

    #[test]
    fn defaults_answer_from_metadata() {
        let types = Minimal::resource_types();
        assert_eq!(types, Ok(Minimal::metadata().resource_types));
        assert_eq!(types.map(|t| t.len()), Ok(1));
        assert!(Minimal.session_info().is_empty());
    }
}
