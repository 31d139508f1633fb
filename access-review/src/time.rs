//! Times in a sync: RFC 3339 with a zone (`2021-01-20T11:20:53.176Z`) or without one, which is
//! read as UTC (Airflow's `2026-12-03T14:24:59.217500`; its servers keep UTC by default).

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub fn parse(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: DateTime = s.replace(' ', "T").parse().ok()?;
    TimeZone::UTC.to_timestamp(dt).ok()
}

/// Whole days from `then` to `now` (0 if `then` is later).
pub fn days_between(then: Timestamp, now: Timestamp) -> i64 {
    let secs = now.as_second() - then.as_second();
    if secs <= 0 {
        0
    } else {
        secs / 86_400
    }
}

/// `2026-12-03 14:24 UTC`.
pub fn display(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-12-03`.
pub fn date(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

/// RFC 3339 in UTC, whole seconds: sorts as text.
pub fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn from_system(t: std::time::SystemTime) -> Option<Timestamp> {
    Timestamp::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoned_naive_and_date_only() {
        let z = parse("2021-01-20T11:20:53.176Z").unwrap();
        let n = parse("2021-01-20T11:20:53.176").unwrap();
        assert_eq!(z, n);
        assert_eq!(parse("2021-01-20 11:20:53.176"), Some(n));
        assert_eq!(
            parse("2021-01-20T12:20:53.176+01:00"),
            Some(z),
            "an offset is honoured"
        );
        assert_eq!(
            display(parse("2021-01-20").unwrap()),
            "2021-01-20 00:00 UTC"
        );
        assert_eq!(parse("yesterday"), None);
        assert_eq!(days_between(parse("2021-01-01").unwrap(), z), 19);
        assert_eq!(days_between(z, parse("2021-01-01").unwrap()), 0);
        assert_eq!(iso(z), "2021-01-20T11:20:53Z");
    }
}
