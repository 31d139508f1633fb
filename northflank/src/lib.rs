//! The Northflank access connector as a WebAssembly component: organisation members, org roles
//! and directory groups, and who holds each role and group.
//!
//! `connector` implements the contract's operations over the Northflank client; `component.rs`
//! hands it to the SDK (`connector-sdk`), whose glue exports it as `governance:connector`.
//! Only `component.rs` is wasm32-specific: everything else builds and is tested natively.

pub mod api;
pub mod client;
pub mod config;
pub mod connector;
pub mod errors;
pub mod mapping;
pub mod metadata;
pub mod paging;
pub mod ratelimit;

#[cfg(target_arch = "wasm32")]
mod component;
