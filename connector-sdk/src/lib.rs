//! The guest SDK of `governance:connector`: the contract's records as plain Rust types
//! (`model`, `error`), the HTTP boundary (`http`), and — on `wasm32` only — the generated
//! bindings and export glue that turn a [`Connector`] into a component.
//!
//! A connector crate depends on this one and holds only its system's logic; it never sees
//! generated bindings, so all of it builds and is tested natively.

pub mod error;
pub mod http;
pub mod model;

#[cfg(all(target_arch = "wasm32", feature = "guest"))]
pub mod http_waki;
