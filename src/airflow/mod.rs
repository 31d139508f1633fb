//! Airflow's FAB user/role API (Airflow 3 with the FAB provider ≥ 3.5: JWT from `/auth/token`,
//! routes under `/auth/fab/v1`).

pub mod api;
pub mod client;
pub mod errors;
