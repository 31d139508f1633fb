//! The Airflow access connector as a WebAssembly component.
//!
//! Only this file and `http_waki.rs` touch the component model: they forward the WIT exports
//! to `connector::Connector` and convert records. Everything else builds and tests natively.

pub mod airflow;
pub mod cli;
pub mod cli_jsonl;
pub mod cli_sync;
pub mod config;
pub mod connector;
pub mod error;
pub mod http;
pub mod ids;
pub mod mapping;
pub mod metadata;
pub mod model;
pub mod paging;
pub mod password;
pub mod provision;
pub mod provision_permissions;
pub mod provision_roles;
pub mod provision_verify;

#[cfg(target_arch = "wasm32")]
mod http_waki;
#[cfg(target_arch = "wasm32")]
mod wit;
