//! The harness's side of a sync: the engine's loop spooling to files, and the engine's errors
//! as harness errors (the guest's calls as the engine's [`Contract`] are in `harness.rs`). The loop itself, its output and its stats are
//! `sync_engine`'s, shared with the command adapter.

use std::io::Write;

use sync_engine::sync::{Contract, Progress, SyncError};

use crate::error::HarnessError;

pub use sync_engine::sync::SyncStats;

/// A full sync of `contract` (the harness's guest) on `out`; entitlements and grants wait in
/// temporary files, so memory stays bounded by one page whatever the directory's size.
pub(crate) async fn run<C: Contract<Error = HarnessError>>(
    contract: &mut C,
    out: &mut (dyn Write + Send),
    progress: &(dyn Progress + Sync),
) -> Result<SyncStats, HarnessError> {
    sync_engine::sync::run(contract, out, sync_engine::sync::file_spool, progress)
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
