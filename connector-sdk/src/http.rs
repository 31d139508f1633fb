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
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request. An `Err` is a transport failure (no HTTP response at all); its text must
/// not contain request headers.
pub trait Transport {
    fn send(&self, request: &Request) -> Result<Response, String>;

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
