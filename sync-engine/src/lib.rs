//! What every host of `governance:connector` does around the contract's calls, written once:
//! the harness (native, wasmtime) and the command adapter (a component, `wasi:cli/run`) both
//! use it, so their outputs cannot drift apart.
//!
//! A host implements [`sync::Contract`] on its handle of the connector (its binding types
//! moved into `connector_sdk::model`'s), then:
//!
//! ```
//! use sync_engine::sync::{self, NoProgress};
//! # use connector_sdk::model::*;
//! # struct Connector;
//! # impl sync::Contract for Connector {
//! #     type Error = String;
//! #     async fn resource_types(&mut self) -> Result<Vec<ResourceType>, String> { Ok(vec![]) }
//! #     async fn list_resources(&mut self, _: &str, _: Option<&str>) -> Result<ResourcePage, String> { Ok(Default::default()) }
//! #     async fn list_entitlements(&mut self, _: &ResourceRef, _: Option<&str>) -> Result<EntitlementPage, String> { Ok(Default::default()) }
//! #     async fn list_grants(&mut self, _: &ResourceRef, _: Option<&str>) -> Result<GrantPage, String> { Ok(Default::default()) }
//! #     async fn session_info(&mut self) -> Result<Vec<(String, String)>, String> { Ok(vec![]) }
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut connector = Connector;
//! let mut out = Vec::new();
//! // A host whose calls never wait drives the loop with `block_on`; an async host awaits it.
//! let stats = sync_engine::block_on(sync::run(
//!     &mut connector,
//!     &mut out,
//!     sync::memory_spool, // or `sync::file_spool` (feature `file-spool`)
//!     &NoProgress,
//! ))??;
//! eprintln!("{}", sync_engine::summary::line(&stats));
//! # Ok(()) }
//! ```
//!
//! - [`jsonl`]: the output records ([`jsonl::Line`]) and the pretty metadata and validation
//!   ([`jsonl::metadata_pretty`], [`jsonl::validation_pretty`]).
//! - [`sync`]: the loop ([`sync::run`]), its page-token guard, spools, progress observer and
//!   [`sync::SyncStats`] (serialised as the harness's `--stats-json`).
//! - [`summary`]: the summary line printed after a sync.
//! - [`env`]: settings from the environment.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll, Waker};

pub mod env;
pub mod jsonl;
pub mod summary;
pub mod sync;

/// Runs `future` to completion if it completes in one poll, as every future does whose calls
/// never wait (a component calling its imports synchronously). Otherwise it gives up with
/// [`Pending`]: nothing would ever wake it, so polling again would spin for nothing.
pub fn block_on<F: Future>(future: F) -> Result<F::Output, Pending> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(Pending),
    }
}

/// A future given to [`block_on`] waited for something; only an async executor can run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending;

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the host's calls waited, which `block_on` cannot do; run it on an async executor",
        )
    }
}

impl std::error::Error for Pending {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_returns_a_ready_output_and_refuses_a_pending_one() {
        assert_eq!(block_on(async { 7 }), Ok(7));
        assert_eq!(block_on(std::future::pending::<()>()), Err(Pending));
    }
}
