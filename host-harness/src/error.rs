//! Errors of harness operations.

use thiserror::Error;

use crate::bindings::wit;
use crate::scrub::Scrubber;

/// The contract's `connector-error`, as a Rust error that prints like
/// `unauthenticated: <message>` or `invalid config: field `base_url`: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectorError {
    #[error("invalid config: field `{field}`: {message}")]
    InvalidConfig { field: String, message: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited: {message}{}", retry_after_ms.map(|ms| format!(" (retry after {ms} ms)")).unwrap_or_default())]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("upstream protocol: {0}")]
    UpstreamProtocol(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ConnectorError {
    /// Converts the guest's error, scrubbing secrets from its message: the contract forbids
    /// them there, and the harness does not rely on every connector honouring that.
    pub(crate) fn from_wit(e: wit::ConnectorError, scrub: &Scrubber) -> Self {
        let s = |m: String| {
            crate::transcript::record("connector-error", &m);
            scrub.text(&m)
        };
        match e {
            wit::ConnectorError::InvalidConfig(c) => Self::InvalidConfig {
                field: s(c.field),
                message: s(c.message),
            },
            wit::ConnectorError::InvalidArgument(m) => Self::InvalidArgument(s(m)),
            wit::ConnectorError::Unauthenticated(m) => Self::Unauthenticated(s(m)),
            wit::ConnectorError::PermissionDenied(m) => Self::PermissionDenied(s(m)),
            wit::ConnectorError::NotFound(m) => Self::NotFound(s(m)),
            wit::ConnectorError::Conflict(m) => Self::Conflict(s(m)),
            wit::ConnectorError::RateLimited(r) => Self::RateLimited {
                retry_after_ms: r.retry_after_ms,
                message: s(r.message),
            },
            wit::ConnectorError::Unavailable(m) => Self::Unavailable(s(m)),
            wit::ConnectorError::UpstreamProtocol(m) => Self::UpstreamProtocol(s(m)),
            wit::ConnectorError::Unsupported(m) => Self::Unsupported(s(m)),
        }
    }

    /// Whether the operator should fix configuration or arguments rather than retry.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::InvalidConfig { .. } | Self::InvalidArgument(_))
    }
}

/// Why a harness operation failed.
#[derive(Debug, Error)]
pub enum HarnessError {
    /// The connector answered with an error.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The egress policy refused a request the connector made.
    #[error("{0}")]
    EgressDenied(String),
    /// Replay met a request the cassette does not hold.
    #[error("{0}")]
    ReplayMismatch(String),
    /// Settings or arguments the operator must fix.
    #[error("{0}")]
    Usage(String),
    /// A sandbox limit stopped the operation (deadline, request timeout, memory, body size);
    /// the message names the limit and the flag that raises it.
    #[error("{message}")]
    Limit {
        kind: crate::limits::LimitKind,
        message: String,
    },
    /// The host or the guest broke (a trap, a missing component, an I/O error).
    #[error("{0:#}")]
    Host(anyhow::Error),
}

impl From<anyhow::Error> for HarnessError {
    fn from(e: anyhow::Error) -> Self {
        Self::Host(e)
    }
}

impl From<crate::settings::SettingsError> for HarnessError {
    fn from(e: crate::settings::SettingsError) -> Self {
        Self::Usage(e.to_string())
    }
}

impl HarnessError {
    /// The CLI's exit status: 2 for what the operator must fix, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 2,
            Self::Connector(c) if c.is_usage() => 2,
            _ => 1,
        }
    }

    /// Which limit stopped the operation, when one did.
    pub fn limit(&self) -> Option<crate::limits::LimitKind> {
        match self {
            Self::Limit { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The connector's error, when that is what this is.
    pub fn connector(&self) -> Option<&ConnectorError> {
        match self {
            Self::Connector(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_errors_print_like_the_contract_names_them() {
        let e = ConnectorError::InvalidConfig {
            field: "base_url".into(),
            message: "must be http(s)".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid config: field `base_url`: must be http(s)"
        );
        assert_eq!(
            ConnectorError::Unauthenticated("bad credentials".into()).to_string(),
            "unauthenticated: bad credentials"
        );
        let e = ConnectorError::RateLimited {
            retry_after_ms: Some(1500),
            message: "slow down".into(),
        };
        assert_eq!(
            e.to_string(),
            "rate limited: slow down (retry after 1500 ms)"
        );
        assert_eq!(HarnessError::from(e).exit_code(), 1);
        let usage: HarnessError = ConnectorError::InvalidArgument("x".into()).into();
        assert_eq!(usage.exit_code(), 2);
    }

    #[test]
    fn guest_error_messages_never_carry_the_password() {
        let scrub = Scrubber::for_display(&["hunter2".to_string()]);
        let e = ConnectorError::from_wit(
            wit::ConnectorError::Unauthenticated("login as admin/hunter2 refused".into()),
            &scrub,
        );
        assert_eq!(
            e.to_string(),
            "unauthenticated: login as admin/[REDACTED] refused"
        );
        let e = ConnectorError::from_wit(
            wit::ConnectorError::InvalidConfig(wit::ConfigError {
                field: "password".into(),
                message: "hunter2 is too short".into(),
            }),
            &scrub,
        );
        assert!(!e.to_string().contains("hunter2"));
    }
}
