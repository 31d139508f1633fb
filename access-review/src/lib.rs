//! Access review from the JSON Lines any connector's sync writes: what changed between two
//! syncs (`host-harness diff`), and a report of who can administer access, stale and unused
//! accounts, failed sign-ins and risky roles (`host-harness report`), as one self-contained
//! HTML page and CSV files. No network: the sync is the only input.

pub mod cli;
pub mod diff;
pub mod error;
pub mod html;
pub mod perms;
pub mod records;
pub mod report;
pub mod review;
pub mod time;

pub use error::ReviewError;
