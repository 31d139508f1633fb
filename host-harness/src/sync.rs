//! The harness's side of a sync: the guest's calls as the engine's [`Contract`], and the
//! engine's errors as harness errors. The loop itself, its output and its stats are
//! `sync_engine`'s, shared with the command adapter.

use std::io::Write;

use connector_sdk::model;
use sync_engine::sync::{Contract, Progress, SyncError};

use crate::contract_types as convert;
use crate::error::HarnessError;
use crate::harness::Harness;

pub use sync_engine::sync::SyncStats;

impl Contract for Harness {
    type Error = HarnessError;

    async fn resource_types(&mut self) -> Result<Vec<model::ResourceType>, HarnessError> {
        let types = Harness::resource_types(self).await?;
        Ok(types.into_iter().map(convert::resource_type).collect())
    }

    async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<model::ResourcePage, HarnessError> {
        let page = Harness::list_resources(self, resource_type, page_token).await?;
        Ok(convert::resource_page(page))
    }

    async fn list_entitlements(
        &mut self,
        resource: &model::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<model::EntitlementPage, HarnessError> {
        let resource = convert::wit_resource_ref(resource);
        let page = Harness::list_entitlements(self, &resource, page_token).await?;
        Ok(convert::entitlement_page(page))
    }

    async fn list_grants(
        &mut self,
        resource: &model::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<model::GrantPage, HarnessError> {
        let resource = convert::wit_resource_ref(resource);
        let page = Harness::list_grants(self, &resource, page_token).await?;
        Ok(convert::grant_page(page))
    }

    async fn session_info(&mut self) -> Result<Vec<(String, String)>, HarnessError> {
        Harness::session_info(self).await
    }

    fn requests(&self) -> u64 {
        Harness::requests(self)
    }
}

/// A full sync of `harness` on `out`; entitlements and grants wait in temporary files, so
/// memory stays bounded by one page whatever the directory's size.
pub(crate) async fn run(
    harness: &mut Harness,
    out: &mut (dyn Write + Send),
    progress: &(dyn Progress + Sync),
) -> Result<SyncStats, HarnessError> {
    sync_engine::sync::run(harness, out, sync_engine::sync::file_spool, progress)
        .await
        .map_err(harness_error)
}

/// A connector's error stays itself (its exit code depends on it); the engine's own failures
/// are the host's.
fn harness_error(e: SyncError<HarnessError>) -> HarnessError {
    match e {
        SyncError::Contract(e) => e,
        other => HarnessError::Host(anyhow::anyhow!("{other}")),
    }
}
