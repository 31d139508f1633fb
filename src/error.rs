//! The connector's one error type. It mirrors the WIT `connector-error` variant so the
//! domain code can fail precisely without depending on generated bindings.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidConfig {
        field: String,
        message: String,
    },
    InvalidArgument(String),
    Unauthenticated(String),
    PermissionDenied(String),
    NotFound(String),
    Conflict(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    Unavailable(String),
    UpstreamProtocol(String),
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn config(field: &str, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { field, message } => {
                write!(f, "invalid config: field `{field}`: {message}")
            }
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            Error::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}"),
            Error::RateLimited {
                retry_after_ms,
                message,
            } => match retry_after_ms {
                Some(ms) => write!(f, "rate limited (retry after {ms} ms): {message}"),
                None => write!(f, "rate limited: {message}"),
            },
            Error::Unavailable(m) => write!(f, "unavailable: {m}"),
            Error::UpstreamProtocol(m) => write!(f, "upstream protocol: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for Error {}
