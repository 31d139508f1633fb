//! Pacing against Northflank's hourly request budget.
//!
//! Northflank allows an account 1000 requests an hour by default, counted from the first
//! request of the window, and says on every answer how many are left (`x-ratelimit-remaining`)
//! and in how many seconds the window resets (`x-ratelimit-reset`). The budget is the
//! account's, not the token's: deploy pipelines and people in the UI draw on it too. So:
//!
//! - while plenty is left, requests go at full speed;
//! - once what is left falls to [`LOW_WATER_PERCENT`] of the limit, each request waits so that
//!   the rest is spread evenly over the time to the reset (each wait at most [`MAX_PAUSE`]:
//!   a component call must not hang for minutes);
//! - the last [`reserve`] requests are never spent: the connector stops with `rate-limited`
//!   (retry after the reset) and leaves them to the account's other users.
//!
//! [`pace`] is a pure function of the last answer's headers and the clock, so it is tested
//! without a server.

use std::time::Duration;

/// Northflank's documented default, used when an answer carries no `x-ratelimit-limit`.
pub const DEFAULT_LIMIT: u64 = 1000;
/// Below this share of the limit the connector starts spreading its requests.
pub const LOW_WATER_PERCENT: u64 = 20;
/// The longest single wait before a request.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// What the last answer said about the budget, and when (on the transport's monotonic clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: Option<u64>,
    pub remaining: u64,
    /// Time from `seen_at` until the window resets.
    pub reset: Duration,
    pub seen_at: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Send now.
    Go,
    /// Wait this long, then send.
    Wait(Duration),
    /// Do not send: the budget (beyond the reserve) is spent until the window resets.
    Exhausted { retry_after: Duration },
}

/// Requests left to the account's other users: 1% of the limit, at least 5.
pub fn reserve(limit: u64) -> u64 {
    (limit / 100).max(5)
}

/// Reads the headers of one answer. Either header missing or unreadable: nothing is known, and
/// the previous budget is kept by the caller.
pub fn observe(
    limit: Option<&str>,
    remaining: Option<&str>,
    reset: Option<&str>,
    now: Duration,
) -> Option<Budget> {
    let remaining = remaining?.trim().parse::<u64>().ok()?;
    let reset = seconds(reset?)?;
    let limit = limit.and_then(|l| l.trim().parse::<u64>().ok());
    Some(Budget {
        limit,
        remaining,
        reset,
        seen_at: now,
    })
}

/// Whole or fractional seconds; negative or absurd values are unreadable.
fn seconds(value: &str) -> Option<Duration> {
    let s = value.trim().parse::<f64>().ok()?;
    (s.is_finite() && (0.0..=86_400.0).contains(&s)).then(|| Duration::from_secs_f64(s))
}

/// What to do before the next request, given the last budget seen and the time now.
pub fn pace(budget: Option<&Budget>, now: Duration) -> Pace {
    let Some(b) = budget else {
        return Pace::Go;
    };
    let since = now.saturating_sub(b.seen_at);
    let left = b.reset.saturating_sub(since);
    if left.is_zero() {
        // The window has reset since that answer: the budget is whole again.
        return Pace::Go;
    }
    let limit = b.limit.filter(|l| *l > 0).unwrap_or(DEFAULT_LIMIT);
    if b.remaining <= reserve(limit) {
        return Pace::Exhausted { retry_after: left };
    }
    if b.remaining.saturating_mul(100) > limit.saturating_mul(LOW_WATER_PERCENT) {
        return Pace::Go;
    }
    // Spread what may still be spent, as of that answer, over what was then left of the
    // window; the time since the answer counts towards the wait.
    let spendable = b.remaining - reserve(limit);
    let spacing = b
        .reset
        .checked_div(u32::try_from(spendable).unwrap_or(u32::MAX))
        .unwrap_or(b.reset)
        .min(MAX_PAUSE);
    let wait = spacing.saturating_sub(since);
    if wait.is_zero() {
        Pace::Go
    } else {
        Pace::Wait(wait)
    }
}

/// Milliseconds, saturating, for `retry-after` and the summary.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn budget(limit: Option<u64>, remaining: u64, reset_s: u64) -> Budget {
        Budget {
            limit,
            remaining,
            reset: S(reset_s),
            seen_at: S(100),
        }
    }

    #[test]
    fn nothing_known_or_plenty_left_goes_at_once() {
        assert_eq!(pace(None, S(0)), Pace::Go);
        assert_eq!(pace(Some(&budget(Some(1000), 999, 3600)), S(100)), Pace::Go);
        assert_eq!(pace(Some(&budget(Some(1000), 201, 3600)), S(100)), Pace::Go);
        // Without a limit header the documented default applies.
        assert_eq!(pace(Some(&budget(None, 201, 3600)), S(100)), Pace::Go);
    }

    #[test]
    fn a_low_budget_is_spread_over_the_time_to_the_reset() {
        // 110 spendable (120 - reserve 10) over 55 s: one request every 0.5 s.
        let b = budget(Some(1000), 120, 55);
        assert_eq!(
            pace(Some(&b), S(100)),
            Pace::Wait(Duration::from_millis(500))
        );
        // Time already passed since the answer counts towards the wait.
        assert_eq!(
            pace(Some(&b), S(100) + Duration::from_millis(200)),
            Pace::Wait(Duration::from_millis(300))
        );
        assert_eq!(pace(Some(&b), S(101)), Pace::Go);
        // A long window is capped per request.
        assert_eq!(
            pace(Some(&budget(Some(1000), 50, 3000)), S(100)),
            Pace::Wait(MAX_PAUSE)
        );
    }

    #[test]
    fn the_reserve_is_never_spent_and_retry_after_is_the_time_to_the_reset() {
        assert_eq!(reserve(1000), 10);
        assert_eq!(reserve(100), 5);
        assert_eq!(reserve(100_000), 1000);
        for remaining in [0, 1, 10] {
            assert_eq!(
                pace(Some(&budget(Some(1000), remaining, 600)), S(130)),
                Pace::Exhausted {
                    retry_after: S(570)
                }
            );
        }
        assert!(matches!(
            pace(Some(&budget(Some(1000), 11, 600)), S(100)),
            Pace::Wait(_)
        ));
    }

    #[test]
    fn a_window_that_has_reset_is_whole_again() {
        let b = budget(Some(1000), 0, 60);
        assert_eq!(pace(Some(&b), S(160)), Pace::Go);
        assert_eq!(pace(Some(&b), S(500)), Pace::Go);
    }

    #[test]
    fn headers_are_read_strictly() {
        let now = S(7);
        assert_eq!(
            observe(Some("1000"), Some("42"), Some("120"), now),
            Some(Budget {
                limit: Some(1000),
                remaining: 42,
                reset: S(120),
                seen_at: now
            })
        );
        assert_eq!(
            observe(None, Some("3"), Some("1.5"), now).map(|b| (b.limit, b.reset)),
            Some((None, Duration::from_millis(1500)))
        );
        assert_eq!(observe(Some("1000"), None, Some("1"), now), None);
        assert_eq!(observe(Some("1000"), Some("x"), Some("1"), now), None);
        assert_eq!(observe(Some("1000"), Some("1"), Some("-4"), now), None);
        assert_eq!(observe(Some("1000"), Some("1"), Some("NaN"), now), None);
    }
}
