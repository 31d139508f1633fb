//! The Airflow access connector as a WebAssembly component.
//!
//! `connector` implements the contract's operations over the Airflow client; `component.rs`
//! hands it to the SDK (`connector-sdk`), whose glue exports it as `governance:connector`.
//! Only `component.rs` is wasm32-specific: everything else builds and is tested natively.

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

#[cfg(target_arch = "wasm32")]
mod component;
