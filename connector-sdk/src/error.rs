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

impl Error {
    /// The same error with its message scrubbed: each of `secrets`, and anything shaped like a
    /// credential (`Bearer …`, `Basic …`, a JWT), becomes `[REDACTED]`. Server answers are
    /// quoted in messages, and a server may echo what it was sent.
    pub fn scrubbed(self, secrets: &[String]) -> Self {
        let s = |m: String| scrub(&m, secrets);
        match self {
            Error::InvalidConfig { field, message } => Error::InvalidConfig {
                field,
                message: s(message),
            },
            Error::InvalidArgument(m) => Error::InvalidArgument(s(m)),
            Error::Unauthenticated(m) => Error::Unauthenticated(s(m)),
            Error::PermissionDenied(m) => Error::PermissionDenied(s(m)),
            Error::NotFound(m) => Error::NotFound(s(m)),
            Error::Conflict(m) => Error::Conflict(s(m)),
            Error::RateLimited {
                retry_after_ms,
                message,
            } => Error::RateLimited {
                retry_after_ms,
                message: s(message),
            },
            Error::Unavailable(m) => Error::Unavailable(s(m)),
            Error::UpstreamProtocol(m) => Error::UpstreamProtocol(s(m)),
            Error::Unsupported(m) => Error::Unsupported(s(m)),
        }
    }
}

const REDACTED: &str = "[REDACTED]";
/// Shorter values are not replaced literally: a two-letter test password would garble every
/// message (the shapes below still catch real credentials).
const MIN_SECRET_LEN: usize = 4;

fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        out = out.replace(secret.as_str(), REDACTED);
    }
    let mut words: Vec<String> = Vec::new();
    let mut after_scheme = false;
    for word in out.split(' ') {
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        // A credential is long and not a plain lower-case word ("the bearer token to send").
        let opaque = bare.len() >= 8
            && bare
                .chars()
                .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || "=._-+/".contains(c));
        let credential = (after_scheme && opaque)
            || (bare.starts_with("eyJ") && bare.len() >= 20 && bare.contains('.'));
        after_scheme = ["bearer", "basic"].contains(&bare.to_ascii_lowercase().as_str());
        words.push(if credential {
            REDACTED.to_string()
        } else {
            word.to_string()
        });
    }
    words.join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_credential_shapes_are_scrubbed() {
        let e = Error::UpstreamProtocol(
            "echo: pw=hunter2-long; Authorization: Bearer abc.def.ghi; Basic YWRtaW46eA==; \
             token eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiIxIn0.sig; user bob"
                .into(),
        );
        let text = e.scrubbed(&["hunter2-long".into()]).to_string();
        for leaked in ["hunter2", "abc.def", "YWRtaW46", "eyJhbGci"] {
            assert!(!text.contains(leaked), "{text}");
        }
        assert!(text.contains("user bob"), "{text}");
        let plain = Error::InvalidArgument("set it to the bearer token to send".into());
        assert_eq!(plain.clone().scrubbed(&[]), plain);
        let e = Error::config("base_url", "xyzw").scrubbed(&["xyzw".into()]);
        assert_eq!(e, Error::config("base_url", "[REDACTED]"));
    }
}
