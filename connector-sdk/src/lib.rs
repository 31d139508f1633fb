//! The guest SDK of `governance:connector`: the contract's records as plain Rust types
//! (`model`, `error`), the HTTP boundary (`http`), the rules every connector's settings follow
//! (`settings`), the one trait a connector implements ([`Connector`]), and — on `wasm32` with
//! the default `guest` feature — the generated bindings, the export glue and
//! [`export_connector!`], which turn a connector into a component.
//!
//! A connector crate depends on this one and holds only its system's logic; it never sees
//! generated bindings, so all of it builds and is tested natively. `README.md` shows the whole
//! of a new connector crate.

pub mod connector;
pub mod error;
pub mod http;
pub mod model;
pub mod settings;

pub use connector::Connector;

#[cfg(all(target_arch = "wasm32", feature = "guest"))]
pub mod http_wasi;

/// The generated bindings of `connector-world`. Only the glue and `export_connector!` use them.
#[cfg(all(target_arch = "wasm32", feature = "guest"))]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector-world",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "connector_sdk::bindings",
    });
}

#[cfg(all(target_arch = "wasm32", feature = "guest"))]
#[doc(hidden)]
pub mod glue;

/// Exports a type implementing [`Connector`] as the component's `governance:connector`
/// interface. Write it once, in the connector crate (a `cdylib`):
///
/// ```ignore
/// connector_sdk::export_connector!(MyConnector);
/// ```
///
/// Off `wasm32` (or without the `guest` feature) it exports nothing and only checks that the
/// type implements [`Connector`], so the crate also builds natively for its unit tests.
#[cfg(all(target_arch = "wasm32", feature = "guest"))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        const _: () = {
            // The generated export macro takes an identifier, not a type.
            type ConnectorSdkGlue = $crate::glue::Glue<$connector>;
    $crate::bindings::export!(ConnectorSdkGlue with_types_in $crate::bindings);
        };
    };
}

/// Exports a type implementing [`Connector`] as the component's `governance:connector`
/// interface (see the `wasm32` definition); here it only checks the type.
#[cfg(not(all(target_arch = "wasm32", feature = "guest")))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        const _: fn() = || {
            fn implements<C: $crate::Connector>() {}
            implements::<$connector>();
        };
    };
}
