//! The built component imports only WASI and exports the governance contract and nothing else
//! (the `wasi:cli/run` entry point is a separate adapter component, composed with it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use wasmtime::component::types::ComponentItem;

#[test]
fn the_component_imports_only_wasi_and_exports_only_the_contract() {
    common::require_component();
    let engine = host_harness::engine::engine();
    let component =
        host_harness::engine::load_component(&host_harness::engine::default_component_path())
            .unwrap();
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    assert!(!imports.is_empty());
    for name in &imports {
        assert!(name.starts_with("wasi:"), "non-WASI import {name}");
    }
    assert!(
        imports
            .iter()
            .any(|n| n.starts_with("wasi:http/outgoing-handler@")),
        "HTTP goes through the host: {imports:?}"
    );
    let exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(n, i)| (n.to_string(), i.ty))
        .collect();
    let mut names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "governance:connector/connector@0.1.0",
            "governance:connector/types@0.1.0",
        ]
    );
    let connector = exports
        .iter()
        .find(|(n, _)| n == "governance:connector/connector@0.1.0")
        .map(|(_, i)| i)
        .unwrap();
    let ComponentItem::ComponentInstance(instance) = connector else {
        panic!("the contract is an instance export");
    };
    let mut functions: Vec<String> = instance
        .exports(engine)
        .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    functions.sort();
    assert_eq!(
        functions,
        [
            "configure",
            "list-entitlements",
            "list-grants",
            "list-resources",
            "metadata",
            "provision",
            "resource-types",
            "session-info",
            "validate"
        ]
    );
}
