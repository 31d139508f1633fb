//! When to send a request again: transient answers (429, 502, 503, 504) and lost connections
//! are retried with growing pauses, honouring `Retry-After`, bounded both in attempts and in
//! total waiting so a sync never hangs on a server that stays down.

use super::errors::status_error;
use crate::error::Error;
use crate::http::{Response, RetryAfter};
use std::time::Duration;

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 4;
/// Total waiting between attempts of one request. A `Retry-After` beyond what is left of it
/// ends the retries at once: waiting only to fail would hold the caller for nothing.
pub const WAIT_BUDGET: Duration = Duration::from_secs(30);
/// The first pause without `Retry-After`; doubled on each retry (0.5 s, 1 s, 2 s).
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// An HTTP-date `Retry-After` is not parsed; it is read as this long.
const DATE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the answer to one attempt was: a response, or a transport failure (its text).
pub type Outcome = std::result::Result<Response, String>;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Use this answer (a success or a non-transient error).
    Final,
    /// Pause this long, then send again.
    Again(Duration),
    /// Transient, but out of attempts or time.
    GiveUp(Error),
}

/// The retry state of one logical request.
#[derive(Debug, Default)]
pub struct Backoff {
    attempts: u32,
    waited: Duration,
}

pub fn is_transient(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `Retry-After` as a duration: delta-seconds, or a bounded default for the HTTP-date form.
pub fn retry_after(response: &Response) -> Option<Duration> {
    Some(match response.retry_after()? {
        RetryAfter::Seconds(seconds) => Duration::from_secs(seconds),
        RetryAfter::NotSeconds => DATE_RETRY_AFTER,
    })
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts judged so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Judges the answer to the attempt just made. `what` names the request in messages;
    /// `unreachable` is how a transport failure is described (e.g. "cannot reach <url>").
    pub fn judge(&mut self, what: &str, unreachable: &str, outcome: &Outcome) -> Verdict {
        self.attempts += 1;
        let (asked, give_up) = match outcome {
            Ok(r) if !is_transient(r.status) => return Verdict::Final,
            Ok(r) => (retry_after(r), status_error(what, r)),
            // A refused certificate stays refused: the operator has to change a setting.
            Err(e) if !crate::http::is_retryable(e) => {
                return Verdict::GiveUp(Error::Unavailable(format!("{what}: {unreachable}: {e}")))
            }
            Err(e) => (
                None,
                Error::Unavailable(format!("{what}: {unreachable}: {e}")),
            ),
        };
        let pause = asked.unwrap_or_else(|| {
            FIRST_PAUSE.saturating_mul(1 << self.attempts.saturating_sub(1).min(10))
        });
        let left = WAIT_BUDGET.saturating_sub(self.waited);
        if self.attempts >= MAX_ATTEMPTS || pause > left {
            let why = if pause > left && self.attempts < MAX_ATTEMPTS {
                format!(
                    "the server asked to wait {} s, beyond the {} s this connector waits",
                    pause.as_secs(),
                    WAIT_BUDGET.as_secs()
                )
            } else {
                format!(
                    "gave up after {} attempts over {:.1} s",
                    self.attempts,
                    self.waited.as_secs_f64()
                )
            };
            return Verdict::GiveUp(annotate(give_up, &why));
        }
        self.waited += pause;
        Verdict::Again(pause)
    }
}

fn annotate(error: Error, why: &str) -> Error {
    match error {
        Error::RateLimited {
            retry_after_ms,
            message,
        } => Error::RateLimited {
            retry_after_ms,
            message: format!("{message} ({why}; try again later)"),
        },
        Error::Unavailable(m) => Error::Unavailable(format!("{m} ({why})")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Outcome {
        Ok(Response {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_string(), v.to_string())])
                .unwrap_or_default(),
            body: br#"{"detail":"busy"}"#.to_vec(),
        })
    }

    #[test]
    fn success_and_permanent_errors_are_final_at_once() {
        for status in [200, 201, 204, 400, 401, 403, 404, 409, 422, 500] {
            let mut b = Backoff::new();
            assert_eq!(b.judge("x", "down", &answer(status, None)), Verdict::Final);
        }
    }

    #[test]
    fn transient_answers_back_off_then_give_up_after_max_attempts() {
        let mut b = Backoff::new();
        let mut pauses = Vec::new();
        loop {
            match b.judge("listing users", "down", &answer(503, None)) {
                Verdict::Again(d) => pauses.push(d.as_millis()),
                Verdict::GiveUp(e) => {
                    assert!(
                        matches!(e, Error::Unavailable(ref m)
                        if m.contains("listing users: Airflow answered 503")
                        && m.contains("gave up after 4 attempts over 3.5 s")),
                        "{e:?}"
                    );
                    break;
                }
                Verdict::Final => panic!("503 is transient"),
            }
        }
        assert_eq!(pauses, [500, 1000, 2000]);
    }

    #[test]
    fn retry_after_is_honoured_and_a_long_one_ends_at_once() {
        let mut b = Backoff::new();
        assert_eq!(
            b.judge("x", "down", &answer(429, Some("2"))),
            Verdict::Again(Duration::from_secs(2))
        );
        match b.judge("x", "down", &answer(429, Some("120"))) {
            Verdict::GiveUp(Error::RateLimited {
                retry_after_ms,
                message,
            }) => {
                assert_eq!(retry_after_ms, Some(120_000));
                assert!(message.contains("asked to wait 120 s"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let mut b = Backoff::new();
        assert_eq!(
            b.judge(
                "x",
                "down",
                &answer(503, Some("Wed, 21 Oct 2026 07:28:00 GMT"))
            ),
            Verdict::Again(DATE_RETRY_AFTER)
        );
    }

    #[test]
    fn transport_failures_are_retried_then_unavailable() {
        let mut b = Backoff::new();
        let lost: Outcome = Err("connection refused".into());
        for _ in 1..MAX_ATTEMPTS {
            assert!(matches!(
                b.judge("x", "cannot reach h", &lost),
                Verdict::Again(_)
            ));
        }
        assert_eq!(
            b.judge("x", "cannot reach h", &lost),
            Verdict::GiveUp(Error::Unavailable(
                "x: cannot reach h: connection refused (gave up after 4 attempts over 3.5 s)"
                    .into()
            ))
        );
        assert_eq!(b.attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn a_refused_tls_certificate_is_not_retried() {
        let mut b = Backoff::new();
        let refused: Outcome = Err(format!(
            "{}the host refused the server's certificate (TlsCertificateError)",
            crate::http::TLS_REFUSED
        ));
        let Verdict::GiveUp(Error::Unavailable(m)) = b.judge("x", "cannot reach h", &refused)
        else {
            panic!("a refused certificate was judged transient")
        };
        assert!(m.starts_with("x: cannot reach h: TLS refused: "), "{m}");
        assert!(!m.contains("gave up after"), "{m}");
        assert_eq!(b.attempts(), 1);
    }
}
