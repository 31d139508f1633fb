//! Sync progress on stderr, only for syncs that take longer than a second.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sync_engine::sync::SyncStats;

/// The engine's observer; the harness's syncs take it `Sync`, so their futures stay `Send`.
pub use sync_engine::sync::{NoProgress, Progress};

/// A single redrawn line on a terminal; on anything else (a CI log, a file) a plain line at
/// most every few seconds, so logs stay readable.
pub struct StderrProgress {
    started: Instant,
    terminal: bool,
    state: Mutex<State>,
}

struct State {
    last: Option<Instant>,
    drawn: bool,
}

const QUIET_FOR: Duration = Duration::from_secs(1);
const TERMINAL_EVERY: Duration = Duration::from_millis(100);
const LOG_EVERY: Duration = Duration::from_secs(5);

impl StderrProgress {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            state: Mutex::new(State {
                last: None,
                drawn: false,
            }),
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

fn summary(stats: &SyncStats, elapsed: Duration) -> String {
    format!(
        "sync: {} resources, {} entitlements, {} grants, {} requests, {:.0} s",
        stats.resources,
        stats.entitlements,
        stats.grants,
        stats.requests,
        elapsed.as_secs_f64()
    )
}

impl Progress for StderrProgress {
    fn update(&self, stats: &SyncStats) {
        let now = Instant::now();
        let elapsed = now - self.started;
        if elapsed < QUIET_FOR {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let every = if self.terminal {
            TERMINAL_EVERY
        } else {
            LOG_EVERY
        };
        if state.last.is_some_and(|last| now - last < every) {
            return;
        }
        state.last = Some(now);
        let line = summary(stats, elapsed);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            // Carriage return + clear-line redraws in place.
            let _ = write!(err, "\r\x1b[2K{line}");
            state.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.drawn {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
                state.drawn = false;
            }
        }
    }
}
