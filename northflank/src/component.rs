//! The Northflank connector handed to the SDK, which exports it as `governance:connector`.

use crate::config::Config;
use crate::connector::Connector;
use crate::metadata;
use connector_sdk::error::Result;
use connector_sdk::http_wasi::WasiTransport;
use connector_sdk::model::{
    EntitlementPage, GrantPage, Metadata, ProvisionAction, ProvisionOutcome, ResourcePage,
    ResourceRef, ResourceType, Validation,
};

struct Northflank(Connector<WasiTransport>);

impl connector_sdk::Connector for Northflank {
    fn metadata() -> Metadata {
        metadata::metadata()
    }

    fn configure(settings: &[(String, String)]) -> Result<Self> {
        let config = Config::parse(settings)?;
        Ok(Northflank(Connector::new(WasiTransport, config)))
    }

    fn validate(&mut self) -> Result<Validation> {
        self.0.validate()
    }

    fn resource_types() -> Result<Vec<ResourceType>> {
        Ok(metadata::resource_types())
    }

    fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<ResourcePage> {
        self.0.list_resources(resource_type, page_token)
    }

    fn list_entitlements(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<EntitlementPage> {
        self.0.list_entitlements(resource, page_token)
    }

    fn list_grants(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<GrantPage> {
        self.0.list_grants(resource, page_token)
    }

    fn provision(&mut self, action: &ProvisionAction) -> Result<ProvisionOutcome> {
        self.0.provision(action)
    }

    fn session_info(&self) -> Vec<(String, String)> {
        self.0.session_info()
    }
}

connector_sdk::export_connector!(Northflank);
