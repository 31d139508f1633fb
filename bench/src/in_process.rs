//! The Airflow connector driven in-process by the shared sync engine: the same loop, records
//! and JSON Lines as the harness, without wasm, the component model or a host in between.
//! `main.rs` and `bin/guest_native.rs` both include this file.

use airflow_connector::connector::Connector;
use airflow_connector::error::Error;
use airflow_connector::http::Transport;
use connector_sdk::model::{EntitlementPage, GrantPage, ResourcePage, ResourceRef, ResourceType};
use sync_engine::sync::{self, Contract, NoProgress, SyncStats};

pub struct InProcess<T: Transport>(pub Connector<T>);

impl<T: Transport> Contract for InProcess<T> {
    type Error = Error;

    async fn resource_types(&mut self) -> Result<Vec<ResourceType>, Error> {
        Ok(airflow_connector::metadata::resource_types())
    }
    async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<ResourcePage, Error> {
        self.0.list_resources(resource_type, page_token)
    }
    async fn list_entitlements(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<EntitlementPage, Error> {
        self.0.list_entitlements(resource, page_token)
    }
    async fn list_grants(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<GrantPage, Error> {
        self.0.list_grants(resource, page_token)
    }
    async fn session_info(&mut self) -> Result<Vec<(String, String)>, Error> {
        Ok(self.0.session_info())
    }
}

/// A full sync into `out`, spooled in memory as the command component does.
pub fn sync<T: Transport>(
    connector: Connector<T>,
    out: &mut impl std::io::Write,
) -> Result<SyncStats, String> {
    let mut contract = InProcess(connector);
    sync_engine::block_on(sync::run(
        &mut contract,
        out,
        sync::memory_spool,
        &NoProgress,
    ))
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}
