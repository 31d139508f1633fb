//! The Airflow access connector as a WebAssembly component.
//!
//! Only this file and `http_waki.rs` touch the component model: they forward the WIT exports
//! to `connector::Connector` and convert records. Everything else builds and tests natively.

pub use connector_sdk::{error, http, model};

pub mod airflow;
pub mod config;
pub mod connector;
pub mod ids;
pub mod mapping;
pub mod metadata;
pub mod paging;
pub mod password;
pub mod provision;
pub mod provision_permissions;
pub mod provision_roles;
pub mod provision_verify;

#[cfg(target_arch = "wasm32")]
mod wit;
