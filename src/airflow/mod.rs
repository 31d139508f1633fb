//! Airflow's FAB user/role API in its three generations (see `generation.rs`).

pub mod api;
pub mod client;
pub mod errors;
pub mod generation;
pub mod jwt;
pub mod login;
pub mod retry;
