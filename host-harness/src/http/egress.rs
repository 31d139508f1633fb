//! Where the guest may connect: only the origin of the configured `base_url`, plus origins a
//! library caller adds explicitly. Empty allow-list = deny all.

use std::fmt;

/// `scheme://host:port`, with the default port made explicit so `http://h` and `http://h:80`
/// are the same origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        Self::of_uri(&uri).ok_or_else(|| format!("`{url}` is not an absolute http(s) URL"))
    }

    /// An origin as an operator writes it: `scheme://host[:port]`, nothing more (a path,
    /// query or credentials would suggest a finer rule than the policy enforces).
    pub fn parse_strict(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let uri: http::Uri = trimmed
            .parse()
            .map_err(|e| format!("`{text}` is not scheme://host[:port]: {e}"))?;
        let origin = Self::of_uri(&uri).ok_or_else(|| {
            format!("`{text}` is not scheme://host[:port] with scheme http or https")
        })?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(format!(
                "`{text}` contains credentials; give only scheme://host[:port]"
            ));
        }
        if let Some(pq) = uri.path_and_query() {
            if pq.as_str() != "/" && !pq.as_str().is_empty() {
                return Err(format!(
                    "`{text}` has a path or query (`{pq}`); give only scheme://host[:port]"
                ));
            }
        }
        Ok(origin)
    }

    pub fn of_uri(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Vec<Origin>,
    /// Why `base_url` contributed nothing, for the denial message.
    base_url_problem: Option<String>,
    /// The environment variable that allows further origins, named after the connector (known
    /// once its metadata is), for the denial message.
    origins_var: Option<String>,
}

impl EgressPolicy {
    /// `base_url` is the connector setting; `extra` are further allowed origins (URLs).
    pub fn new(base_url: Option<&str>, extra: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        match base_url.map(str::trim).filter(|s| !s.is_empty()) {
            Some(url) => match Origin::parse(url) {
                Ok(origin) => policy.allowed.push(origin),
                Err(e) => policy.base_url_problem = Some(e),
            },
            None => policy.base_url_problem = Some("`base_url` is not set".to_string()),
        }
        for url in extra {
            let origin =
                Origin::parse_strict(url).map_err(|e| format!("extra allowed origin: {e}"))?;
            policy.allowed.push(origin);
        }
        Ok(policy)
    }

    /// Names `var` (e.g. `AIRFLOW_ALLOWED_ORIGINS` for the `airflow` connector) in denial
    /// messages as the environment's way to allow an origin.
    pub fn with_origins_var(mut self, var: String) -> Self {
        self.origins_var = Some(var);
        self
    }

    pub fn allowed(&self) -> &[Origin] {
        &self.allowed
    }

    /// `Ok` when the request may go out; else the operator-facing denial message.
    pub fn check(&self, uri: &http::Uri) -> Result<Origin, String> {
        let Some(origin) = Origin::of_uri(uri) else {
            return Err(format!(
                "egress denied: `{uri}` has no http(s) origin the harness can check"
            ));
        };
        if self.allowed.contains(&origin) {
            return Ok(origin);
        }
        let allowed = if self.allowed.is_empty() {
            "none".to_string()
        } else {
            self.allowed
                .iter()
                .map(Origin::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let note = self
            .base_url_problem
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let var = self
            .origins_var
            .as_deref()
            .unwrap_or("NAME_ALLOWED_ORIGINS, NAME being the connector's");
        Err(format!(
            "egress denied: the connector tried to reach {origin} (allowed origins: {allowed}{note}); \
             to allow it, set `base_url` (--base-url) to a URL on {origin}, or allow the origin with \
             --allow-origin {origin} (config `allowed_origins`, env {var})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn default_ports_are_made_explicit() {
        let p = EgressPolicy::new(Some("http://airflow.local/"), &[]).unwrap();
        assert!(p
            .check(&uri("http://airflow.local:80/api/v2/users"))
            .is_ok());
        assert!(p.check(&uri("http://AIRFLOW.local/x")).is_ok());
        let p = EgressPolicy::new(Some("https://airflow.local:443"), &[]).unwrap();
        assert!(p.check(&uri("https://airflow.local/auth/token")).is_ok());
    }

    #[test]
    fn other_port_host_or_scheme_is_denied_with_a_helpful_message() {
        let p = EgressPolicy::new(Some("http://127.0.0.1:28080"), &[]).unwrap();
        assert!(p.check(&uri("http://127.0.0.1:28080/api")).is_ok());
        for bad in [
            "http://127.0.0.1:28081/api",
            "http://localhost:28080/api",
            "https://127.0.0.1:28080/api",
        ] {
            let msg = p.check(&uri(bad)).unwrap_err();
            let target = Origin::parse(bad).unwrap().to_string();
            assert!(msg.contains(&target), "{msg}");
            assert!(msg.contains("base_url"), "{msg}");
            assert!(msg.contains("http://127.0.0.1:28080"), "{msg}");
        }
    }

    #[test]
    fn the_denial_names_the_connectors_origins_variable() {
        let p = EgressPolicy::new(Some("http://a:1"), &[]).unwrap();
        let msg = p.check(&uri("http://b/x")).unwrap_err();
        assert!(msg.contains("env NAME_ALLOWED_ORIGINS"), "{msg}");
        let p = p.with_origins_var("NORTHFLANK_ALLOWED_ORIGINS".into());
        let msg = p.check(&uri("http://b/x")).unwrap_err();
        assert!(
            msg.contains("--allow-origin http://b:80 (config `allowed_origins`, env NORTHFLANK_ALLOWED_ORIGINS)"),
            "{msg}"
        );
    }

    #[test]
    fn extra_origins_are_allowed() {
        let p = EgressPolicy::new(Some("http://a:1"), &["https://b".to_string()]).unwrap();
        assert!(p.check(&uri("https://b:443/x")).is_ok());
        assert!(EgressPolicy::new(None, &["ftp://x".to_string()]).is_err());
    }

    #[test]
    fn allowed_origins_must_be_bare_origins() {
        assert_eq!(
            Origin::parse_strict("https://b.example/")
                .unwrap()
                .to_string(),
            "https://b.example:443"
        );
        for (bad, why) in [
            ("http://b/api", "path"),
            ("http://b?x=1", "query"),
            ("http://u:p@b", "credentials"),
            ("b.example:80", "scheme://host"),
            ("ftp://b", "http or https"),
        ] {
            let msg = Origin::parse_strict(bad).unwrap_err();
            assert!(msg.contains(why) && msg.contains(bad), "{bad}: {msg}");
        }
        let err = EgressPolicy::new(None, &["http://b/api".to_string()]).unwrap_err();
        assert!(err.starts_with("extra allowed origin: "), "{err}");
    }

    #[test]
    fn no_base_url_denies_everything_and_says_why() {
        let p = EgressPolicy::new(None, &[]).unwrap();
        let msg = p.check(&uri("http://a/x")).unwrap_err();
        assert!(
            msg.contains("allowed origins: none") && msg.contains("not set"),
            "{msg}"
        );
        let p = EgressPolicy::new(Some("not a url"), &[]).unwrap();
        assert!(p.check(&uri("http://a/x")).is_err());
    }
}
