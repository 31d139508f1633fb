//! The verified read-modify-write behind every change to a list Airflow replaces whole: a
//! user's roles and a role's permissions. Airflow's PATCH has no concurrency control, so a
//! change is read, modified and written, then read back after a wait; when a concurrent
//! writer's stale list has replaced ours, the change is redone (at most `MAX_ATTEMPTS` times).
//!
//! # How long to wait before reading back, and why that covers a competitor
//!
//! Our change is lost unnoticed only when a competitor read the list before our write landed
//! and writes its stale copy after our verifying read. Such a write lands at most the
//! competitor's read-to-write gap after ours, because its read came before our write; so a
//! verifying read sent that long after our write was answered sees it, and we redo the change.
//!
//! The competitor's gap cannot be known, but ours can be measured: from sending our read to
//! receiving the answer to our write, on the same server, under the same load, at the same
//! moment. A competitor doing the same read-modify-write takes about as long, so the wait is
//! `ROUND_TRIP_FACTOR` times our own round trip: it covers a competitor up to that many times
//! slower than us. It is never shorter than `verify_delay_ms` (the operator's floor, for
//! writers known to be slower) and never longer than `MAX_WAIT` (unless the floor is): beyond
//! that, waiting only delays every change while a stalled writer is not caught anyway.
//!
//! One read back is enough while the server keeps its speed. When it slows down during the
//! wait, a competitor's write that is in flight then slows down with it and can land after a
//! first read back that looked fine. The read back measures that: it is a fresh sample of how
//! long one request takes now, and a read-modify-write is a read and a write, so twice its
//! duration is the current round trip. When that is at least `SLOWED_DOWN` times the round trip
//! the wait was sized by, and `ROUND_TRIP_FACTOR` times it exceeds the time our read back
//! waited for, the change is read once more when that much time has passed since our write (at
//! most `MAX_VERIFY_READS` reads, and never past `MAX_WAIT`). Below that threshold the wait
//! already covers a competitor `ROUND_TRIP_FACTOR / SLOWED_DOWN` (1.5) times slower than the
//! server is now; the threshold keeps the ordinary spread of request times (a read taking
//! longer than half a read and a write, measured about every other time on a loaded server)
//! from costing a loaded server one more read.
//!
//! A write Airflow answers with a server error is read back the same way (Airflow answers 500
//! when concurrent updates collide), and redone when it did not take effect.
//!
//! What this does not catch (docs/provisioning.md, "Concurrent changes"): a competitor slower than the bound
//! (a stalled process, a write retried after back-offs), and one that does not verify at all,
//! such as an edit in the Airflow UI after our last read back.

use super::session::Provisioner;
use crate::error::{Error, Result};
use crate::http::Transport;
use std::time::Duration;

/// Read-modify-write rounds before giving up on a list that keeps changing under us.
pub const MAX_ATTEMPTS: u32 = 5;

/// How many times slower than our own read-modify-write a competitor may be and still be seen.
pub const ROUND_TRIP_FACTOR: u32 = 3;

/// Upper bound of the wait before a read back (a larger `verify_delay_ms` raises it).
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Reads back per attempt: the first, and more only while the server keeps slowing down.
pub const MAX_VERIFY_READS: usize = 3;

/// How many times longer than the measured round trip a read back must suggest it has become
/// before the change is read again.
pub const SLOWED_DOWN: u32 = 2;

/// The wait that covers a competitor up to `ROUND_TRIP_FACTOR` times slower than `round_trip`,
/// within `[floor, max(MAX_WAIT, floor)]`, in whole milliseconds so the outcome reports exactly
/// what was waited.
pub fn wait_for(round_trip: Duration, floor: Duration) -> Duration {
    let scaled = round_trip.saturating_mul(ROUND_TRIP_FACTOR);
    whole_ms(scaled).clamp(floor, MAX_WAIT.max(floor))
}

/// Rounded up: a wait must never fall short of what it covers.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
}

/// One list change, as the verified read-modify-write needs it.
pub(super) trait ListEdit<T: Transport> {
    /// The object holding the list, as read.
    type State;

    fn read(&self, p: &mut Provisioner<'_, T>) -> Result<Self::State>;

    /// Reads the object again after writing `written` (the state the write was based on).
    fn read_back(&self, p: &mut Provisioner<'_, T>, written: &Self::State) -> Result<Self::State>;

    /// Whether the change is in place.
    fn in_place(&self, state: &Self::State) -> bool;

    /// Writes `state`'s list with the change applied (refusing it first if it must be).
    fn write(&self, p: &mut Provisioner<'_, T>, state: &Self::State) -> Result<()>;
}

/// One read-modify-write round.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The wait before each read back; none when the first read found the change in place.
    pub waits: Vec<Duration>,
    /// Whether Airflow answered the write with a server error.
    pub write_failed: bool,
}

/// Every attempt of one change: what the outcome reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attempts(pub Vec<Attempt>);

impl Attempts {
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Per attempt, the waits before its read backs joined by `+`: `300, 610+200, 900 ms`.
    pub fn waits(&self) -> String {
        let per_attempt: Vec<String> = self
            .0
            .iter()
            .filter(|a| !a.waits.is_empty())
            .map(|a| {
                a.waits
                    .iter()
                    .map(|w| w.as_millis().to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect();
        format!("{} ms", per_attempt.join(", "))
    }

    /// How a done change got there: `(1 attempt, verified after 420 ms)`, or `(after 3
    /// attempts: <why>; waits 300, 610, 900 ms)` when a concurrent write replaced the list.
    /// Writes Airflow failed are counted after the waits: `…; 1 write failed, read back)`.
    pub fn note(&self, why: &str) -> String {
        let failed = match self.0.iter().filter(|a| a.write_failed).count() {
            0 => String::new(),
            1 => "; 1 write failed, read back".to_string(),
            n => format!("; {n} writes failed, read back"),
        };
        match self.count() {
            1 => format!("(1 attempt, verified after {}{failed})", self.waits()),
            n => format!(
                "(after {n} attempts: {why}; waits {}{failed})",
                self.waits()
            ),
        }
    }
}

/// What a verified change came to.
pub(super) enum Verified<S> {
    /// The first read found the change in place; nothing was written.
    AlreadyThere(S),
    /// The change is in place, as last read.
    Done(S, Attempts),
    /// Every attempt's change was replaced by another writer (or its write failed, and the
    /// last one's did not).
    Lost(Attempts),
}

impl<T: Transport> Provisioner<'_, T> {
    pub(super) fn verified_change<E: ListEdit<T>>(
        &mut self,
        edit: &E,
    ) -> Result<Verified<E::State>> {
        // Signing in first (where the API signs in) keeps it out of the measured round trip: it
        // hashes a password, the slowest request there is, and is no part of a competitor's
        // read-to-write gap. The first read would have sent it anyway.
        self.client.authenticate()?;
        let floor = Duration::from_millis(self.config.verify_delay_ms);
        let mut attempts = Attempts::default();
        let mut failure = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let read_sent = T::monotonic_now();
            let state = edit.read(self)?;
            if edit.in_place(&state) {
                if attempt == 1 {
                    return Ok(Verified::AlreadyThere(state));
                }
                // Another writer made it so (or kept our change); this very read verifies it.
                attempts.0.push(Attempt::default());
                return Ok(Verified::Done(state, attempts));
            }
            // Airflow answers 500 when a concurrent update deleted a row this one meant to
            // delete ("DELETE statement on table 'ab_user_role' expected to delete 1 row(s);
            // Only 0 were matched"), measured with concurrent revokes. It rolls back then, but
            // a server error does not prove that, so the write is read back like one that
            // happened: done if it did, redone if not.
            failure = match edit.write(self, &state) {
                Ok(()) => None,
                Err(e @ Error::Unavailable(_)) => Some(e),
                Err(e) => return Err(e),
            };
            let written = T::monotonic_now();
            let round_trip = written.saturating_sub(read_sent);
            let (after, waits) = self.read_back(edit, &state, written, round_trip, floor)?;
            attempts.0.push(Attempt {
                waits,
                write_failed: failure.is_some(),
            });
            if let Some(after) = after {
                return Ok(Verified::Done(after, attempts));
            }
        }
        // A failed last write says more than "did not stick".
        match failure {
            Some(e) => Err(e),
            None => Ok(Verified::Lost(attempts)),
        }
    }

    /// Reads back until the time since our write covers what the measured round trips say a
    /// competitor can take (module docs); `None` when the change is gone. Returns the waits.
    fn read_back<E: ListEdit<T>>(
        &mut self,
        edit: &E,
        state: &E::State,
        written: Duration,
        round_trip: Duration,
        floor: Duration,
    ) -> Result<(Option<E::State>, Vec<Duration>)> {
        let mut round_trip = round_trip;
        let mut now = written;
        let mut waits = Vec::new();
        loop {
            let due = written.saturating_add(wait_for(round_trip, floor));
            let wait = whole_ms(due.saturating_sub(now));
            self.client.pause(wait);
            waits.push(wait);
            let sent = T::monotonic_now();
            let after = edit.read_back(self, state)?;
            if !edit.in_place(&after) {
                return Ok((None, waits));
            }
            now = T::monotonic_now();
            // A read and a write take about twice this read.
            let current = now.saturating_sub(sent).saturating_mul(2);
            let covered = sent.saturating_sub(written);
            if current < round_trip.saturating_mul(SLOWED_DOWN)
                || wait_for(current, floor) <= covered
                || waits.len() >= MAX_VERIFY_READS
            {
                return Ok((Some(after), waits));
            }
            round_trip = current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_wait_is_the_scaled_round_trip_within_the_floor_and_the_cap() {
        let floor = 300 * MS;
        assert_eq!(wait_for(Duration::ZERO, floor), floor);
        assert_eq!(wait_for(99 * MS, floor), floor);
        assert_eq!(wait_for(140 * MS, floor), 420 * MS);
        assert_eq!(wait_for(1000 * MS, floor), 3000 * MS);
        assert_eq!(wait_for(Duration::from_secs(60), floor), MAX_WAIT);
        assert_eq!(wait_for(Duration::MAX, floor), MAX_WAIT);
        // A floor above the cap is the operator's explicit choice and wins.
        assert_eq!(wait_for(Duration::ZERO, 8000 * MS), 8000 * MS);
        assert_eq!(wait_for(Duration::from_secs(60), 8000 * MS), 8000 * MS);
        // Rounded up to whole milliseconds, never down.
        assert_eq!(wait_for(Duration::from_micros(1), Duration::ZERO), MS);
        assert_eq!(
            wait_for(Duration::from_micros(333_400), Duration::ZERO),
            1001 * MS
        );
    }

    #[test]
    fn the_setting_describes_the_bounds_in_force() {
        let fields = crate::metadata::config_fields();
        let field = fields
            .iter()
            .find(|f| f.name == crate::config::VERIFY_DELAY_MS)
            .unwrap();
        let factor = format!("grows to {ROUND_TRIP_FACTOR} times");
        let cap = format!("up to {} ms", MAX_WAIT.as_millis());
        assert!(
            field.description.contains(&factor) && field.description.contains(&cap),
            "{}",
            field.description
        );
    }

    fn attempts(per_attempt: &[&[u64]]) -> Attempts {
        Attempts(
            per_attempt
                .iter()
                .map(|waits| Attempt {
                    waits: waits.iter().map(|ms| Duration::from_millis(*ms)).collect(),
                    write_failed: false,
                })
                .collect(),
        )
    }

    #[test]
    fn attempts_report_every_wait_in_order() {
        assert_eq!(
            attempts(&[&[420]]).note("x"),
            "(1 attempt, verified after 420 ms)"
        );
        assert_eq!(
            attempts(&[&[300, 1700]]).note("x"),
            "(1 attempt, verified after 300+1700 ms)"
        );
        assert_eq!(
            attempts(&[&[300], &[610, 200], &[900]])
                .note("a concurrent change replaced the role list"),
            "(after 3 attempts: a concurrent change replaced the role list; waits 300, \
             610+200, 900 ms)"
        );
        // An attempt whose first read found the change in place waited for nothing.
        assert_eq!(
            attempts(&[&[300], &[]]).note("y"),
            "(after 2 attempts: y; waits 300 ms)"
        );
        let mut failed = attempts(&[&[300], &[450]]);
        if let Some(first) = failed.0.first_mut() {
            first.write_failed = true;
        }
        assert_eq!(
            failed.note("z"),
            "(after 2 attempts: z; waits 300, 450 ms; 1 write failed, read back)"
        );
    }
}
