//! The boundary to the HTTP crate. Domain code speaks these plain types; `http_wasi.rs` is the
//! only module that knows which crate actually sends the bytes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// An answer without headers, as test transports and tests build them.
    pub fn with_body(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Retry-After` header; None when it is absent or blank.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        let value = self.header("retry-after")?.trim();
        if value.is_empty() {
            return None;
        }
        Some(match value.parse::<u64>() {
            Ok(seconds) => RetryAfter::Seconds(seconds),
            Err(_) => RetryAfter::NotSeconds,
        })
    }
}

/// What an answer's `Retry-After` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delta-seconds.
    Seconds(u64),
    /// The HTTP-date form (rare behind API gateways) or something unreadable. Not parsed: a
    /// connector decides how long that means, since turning a date into a wait would trust the
    /// two clocks to agree.
    NotSeconds,
}

impl RetryAfter {
    /// The delay in seconds, when the server gave one.
    pub fn seconds(self) -> Option<u64> {
        match self {
            RetryAfter::Seconds(s) => Some(s),
            RetryAfter::NotSeconds => None,
        }
    }
}

/// How the text of a transport failure that sending again cannot fix begins: the host refused
/// the server's TLS certificate (unknown issuer, expired, wrong host name) or the server
/// refused the TLS handshake (a client certificate missing or not trusted). The host tells its
/// operator which one and what setting fixes it.
pub const TLS_REFUSED: &str = "TLS refused: ";

/// How the text of a transport failure begins when the host, which authenticates the
/// connector's requests itself (`host_auth`), could not make its credentials (no Kerberos
/// ticket, say): the request was not sent, and only the operator can fix it. The rest of the
/// text is the host's explanation.
pub const HOST_AUTH_FAILED: &str = "host authentication failed: ";

/// Whether a transport failure (an `Err` of [`Transport::send`]) may go away on its own, so a
/// retry loop should try again.
pub fn is_retryable(transport_error: &str) -> bool {
    !(transport_error.starts_with(TLS_REFUSED) || transport_error.starts_with(HOST_AUTH_FAILED))
}

/// Sends one request. An `Err` is a transport failure (no HTTP response at all); its text must
/// not contain request headers.
pub trait Transport {
    fn send(&self, request: &Request) -> Result<Response, String>;

    /// Sends several requests at once and gives their outcomes in the same order. A transport
    /// that cannot overlap them sends them one after another, as here.
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, String>> {
        requests.iter().map(|r| self.send(r)).collect()
    }

    /// Waits before a verifying read. The only other effect the connector has on the world,
    /// so test transports can skip it.
    fn pause(&self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }

    /// Seconds since the Unix epoch, to renew a token before it expires.
    fn now_unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Time since an arbitrary fixed origin, never going back: a connector may size a wait by
    /// how long the server takes to answer (Airflow's verifying reads), so test transports
    /// replace it with a fake clock. An associated function rather than a method because code
    /// deep in a connector may reach the transport only through a client that does not hand it
    /// out; every transport of one type shares a clock, which is all a clock needs.
    fn monotonic_now() -> std::time::Duration
    where
        Self: Sized,
    {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_refusals_and_failed_host_authentication_are_not_retryable() {
        assert!(is_retryable("ConnectionRefused"));
        assert!(is_retryable("TlsProtocolError"));
        assert!(is_retryable(
            "InternalError(Some(\"replay: no recorded interaction\"))"
        ));
        assert!(!is_retryable(&format!("{TLS_REFUSED}the host refused")));
        assert!(!is_retryable(&format!("{HOST_AUTH_FAILED}run `kinit`")));
    }

    fn with_retry_after(value: Option<&str>) -> Response {
        let mut response = Response::with_body(429, "");
        response.headers = value
            .map(|v| vec![("Retry-After".to_string(), v.to_string())])
            .unwrap_or_default();
        response
    }

    #[test]
    fn retry_after_reads_delta_seconds_and_tells_other_forms_apart() {
        let read = |v| with_retry_after(v).retry_after();
        assert_eq!(read(None), None);
        assert_eq!(read(Some("  ")), None);
        assert_eq!(read(Some(" 7 ")), Some(RetryAfter::Seconds(7)));
        assert_eq!(
            read(Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            Some(RetryAfter::NotSeconds)
        );
        assert_eq!(read(Some("-1")), Some(RetryAfter::NotSeconds));
        assert_eq!(RetryAfter::Seconds(3).seconds(), Some(3));
        assert_eq!(RetryAfter::NotSeconds.seconds(), None);
    }
}
