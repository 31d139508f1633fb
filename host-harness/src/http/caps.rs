//! Per-request limits at the choke point: the host's timeouts cap the guest's own, and a
//! response body larger than the cap never reaches the guest whole. Each helper turns a hit
//! into an operator message naming the flag and config key that raise the limit.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use crate::limits::{secs, size, Limits};

/// `scheme://host[:port]/path?query` without any `user:password@`, for logs and messages.
pub fn display_url(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(host) = uri.host() {
        out.push_str(host);
    }
    if let Some(port) = uri.port_u16() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(uri.path_and_query().map_or("/", |pq| pq.as_str()));
    out
}

/// The timeouts a request runs with: the guest's own where it set a shorter one, else the
/// host's (wasmtime's defaults are ten minutes each).
pub fn effective_timeouts(options: Option<RequestOptions>, limits: &Limits) -> RequestOptions {
    let o = options.unwrap_or_default();
    let cap = |guest: Option<Duration>, host: Duration| Some(guest.map_or(host, |g| g.min(host)));
    RequestOptions {
        connect_timeout: cap(o.connect_timeout, limits.connect_timeout),
        first_byte_timeout: cap(o.first_byte_timeout, limits.first_byte_timeout),
        between_bytes_timeout: cap(o.between_bytes_timeout, limits.between_bytes_timeout),
    }
}

/// Which per-request timeout an error of `default_send_request` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    Connect,
    FirstByte,
    BetweenBytes,
}

impl TimeoutKind {
    /// Errors before the response head are connect or first-byte timeouts; while reading the
    /// body a read timeout is the between-bytes one.
    pub fn of(error: &HttpError, in_body: bool) -> Option<Self> {
        match error {
            HttpError::ConnectionTimeout => Some(Self::Connect),
            HttpError::ConnectionReadTimeout if in_body => Some(Self::BetweenBytes),
            HttpError::ConnectionReadTimeout => Some(Self::FirstByte),
            _ => None,
        }
    }

    pub fn message(self, request: &str, timeouts: &RequestOptions) -> String {
        let (what, after, flag, key) = match self {
            Self::Connect => (
                "no connection",
                timeouts.connect_timeout,
                "--connect-timeout",
                "connect_timeout",
            ),
            Self::FirstByte => (
                "no response",
                timeouts.first_byte_timeout,
                "--first-byte-timeout",
                "first_byte_timeout",
            ),
            Self::BetweenBytes => (
                "the response body stalled",
                timeouts.between_bytes_timeout,
                "--between-bytes-timeout",
                "between_bytes_timeout",
            ),
        };
        let after = after.map(secs).unwrap_or_else(|| "its timeout".into());
        format!(
            "request timeout: {request}: {what} within {after}; raise the limit with {flag} or \
             config `{key}`"
        )
    }
}

pub fn body_cap_message(request: &str, cap: u64, seen: Option<u64>) -> String {
    let seen = seen
        .map(|n| format!(" (it is {})", size(n)))
        .unwrap_or_default();
    format!(
        "response body too large: the response to {request} exceeds the cap of {}{seen}; \
         raise it with --max-body-mib or config `max_body_mib`",
        size(cap)
    )
}

/// The declared length of a response, when it declares one.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What went wrong with a response body, for the caller to log.
pub enum BodyFault {
    TooLarge,
    Timeout(TimeoutKind),
}

/// Wraps a response body so that it fails with `HttpResponseBodySize` once more than `cap`
/// bytes arrived; `on_fault` hears of that and of a between-bytes timeout.
pub fn capped<B>(body: B, cap: u64, on_fault: impl Fn(BodyFault) + Send + 'static) -> WasiBody
where
    B: http_body::Body<Data = Bytes, Error = HttpError> + Send + 'static,
{
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    Limited::new(body, limit)
        .map_err(move |e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                on_fault(BodyFault::TooLarge);
                return HttpError::HttpResponseBodySize(Some(cap));
            }
            match e.downcast::<HttpError>() {
                Ok(inner) => {
                    if let Some(kind) = TimeoutKind::of(&inner, true) {
                        on_fault(BodyFault::Timeout(kind));
                    }
                    *inner
                }
                Err(other) => HttpError::InternalError(Some(other.to_string())),
            }
        })
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::sync::{Arc, Mutex};

    #[test]
    fn urls_are_shown_without_credentials_but_with_the_query() {
        let uri: http::Uri = "http://admin:pw@h.example:8080/api/v2/users?limit=2"
            .parse()
            .unwrap();
        assert_eq!(
            display_url(&uri),
            "http://h.example:8080/api/v2/users?limit=2"
        );
    }

    #[test]
    fn host_timeouts_cap_the_guests() {
        let limits = Limits {
            connect_timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let o = effective_timeouts(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(10)),
                first_byte_timeout: Some(Duration::from_secs(1)),
                between_bytes_timeout: None,
            }),
            &limits,
        );
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(o.between_bytes_timeout, Some(limits.between_bytes_timeout));
        let msg = TimeoutKind::FirstByte.message("GET http://h/x", &o);
        assert_eq!(
            msg,
            "request timeout: GET http://h/x: no response within 1 s; raise the limit with \
             --first-byte-timeout or config `first_byte_timeout`"
        );
    }

    #[tokio::test]
    async fn a_body_over_the_cap_fails_with_the_wasi_http_error() {
        let faults = Arc::new(Mutex::new(0));
        let seen = faults.clone();
        let body = Full::new(Bytes::from(vec![b'x'; 100])).map_err(|never| match never {});
        let limited = capped(body, 10, move |f| {
            if matches!(f, BodyFault::TooLarge) {
                *seen.lock().unwrap() += 1;
            }
        });
        let err = limited.collect().await.err().unwrap();
        assert!(
            matches!(err, HttpError::HttpResponseBodySize(Some(10))),
            "{err}"
        );
        assert_eq!(*faults.lock().unwrap(), 1);

        let body = Full::new(Bytes::from_static(b"small")).map_err(|never| match never {});
        let ok = capped(body, 10, |_| {}).collect().await.unwrap();
        assert_eq!(ok.to_bytes(), "small");
    }
}
