//! What every host of `governance:connector` does around the contract's calls, written once:
//! the harness (native, wasmtime) and the command adapter (a component, `wasi:cli/run`) both
//! use it, so their outputs cannot drift apart.

pub mod env;
pub mod jsonl;
pub mod summary;
pub mod sync;
