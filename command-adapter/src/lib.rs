//! A command (`wasi:cli/run`) for any `governance:connector` component, by composition: this
//! component imports the contract, and `make component` plugs a connector's exports into it
//! (with `http-counter` between the connector and the host's HTTP), giving one command
//! component for `wasmtime run`. The commands, the output and the environment's settings are
//! those of every other host: `sync_engine` writes them once for all.

pub mod command;

#[cfg(target_arch = "wasm32")]
mod component;
