//! The Northflank access connector as a WebAssembly component: organisation members, org roles
//! and directory groups, and who holds each role and group.
//!
//! `connector` implements the contract's operations over the Northflank client; `component.rs`
//! hands it to the SDK (`connector-sdk`), whose glue exports it as `governance:connector`.
//! Only `component.rs` is wasm32-specific: everything else builds and is tested natively.
//!
//! What a full sync costs, in requests (each listing reads at least one page):
//! `3 + ⌈members/100⌉ + ⌈roles/100⌉ + 1 + Σ_role ⌈rows/100⌉ + Σ_group ⌈members/100⌉`, where
//! the 3 are the permission check the first page makes (one member, one role, the directory
//! groups: a token missing a permission fails before anything is reported; none if `validate`
//! already passed on the same instance), and a role's rows count a member who holds it both
//! explicitly and through a group twice (the directory-groups list is one request; a role's
//! linked groups come with the roles listing, so no role is read on its own). `validate`
//! costs 3. A grant or revoke costs a read of the
//! member's rows in the role (one request with the `userIds` filter), the write, and a
//! verifying read; refusing an implicit revoke also reads the role, the linked groups'
//! members and the group list, to name the groups.
//!
//! Rate limit: see `ratelimit.rs` (pace below 20% of the hourly budget, keep a reserve, and
//! `rate-limited` with the time to the reset as `retry-after`).

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
