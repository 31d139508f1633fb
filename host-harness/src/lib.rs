//! A wasmtime host for connector components (`governance:connector/connector-world`):
//! loads a component, serves its outgoing HTTP through one choke point (egress policy, then
//! live, record or replay), and drives metadata, validate, sync and provision.
//!
//! ```no_run
//! # async fn demo() -> Result<(), host_harness::HarnessError> {
//! use host_harness::{Harness, HarnessOptions, progress::NoProgress};
//! let mut h = Harness::new(HarnessOptions::replay("tests/cassettes/sync.json")?).await?;
//! let mut out = Vec::new();
//! let stats = h.sync(&mut out, &NoProgress).await?;
//! let report = h.finish()?;
//! # Ok(()) }
//! ```

pub mod bindings;
pub mod cassette;
pub mod contract_types;
pub mod engine;
pub mod error;
pub mod guest_stderr;
pub mod harness;
pub mod host_config;
pub mod http;
pub mod limits;
pub mod progress;
pub mod render;
pub mod scrub;
pub mod settings;
pub mod sync;
pub mod transcript;

pub use bindings::wit;
pub use error::{ConnectorError, HarnessError};
pub use harness::{Harness, HarnessOptions, HttpMode};
pub use http::{HttpFailure, RunReport};
pub use limits::{LimitKind, Limits};
pub use sync::SyncStats;
