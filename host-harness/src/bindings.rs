//! Host-side bindings of the `connector-world` contract. Exports are called asynchronously:
//! the guest's outgoing HTTP is served by async host code on the same tokio runtime.

wasmtime::component::bindgen!({
    world: "connector-world",
    path: "../wit",
    exports: { default: async },
});

/// The contract's data types, under one stable name whatever the world's shape.
pub use self::exports::governance::connector::types as wit;
