//! Host-provided authentication: a connector that can leave signing in to its host declares a
//! config field named `host_auth` in `metadata()`. Given `host_auth=<scheme>` in `configure`,
//! it sends no credentials of its own, and the host attaches the scheme's credentials to the
//! connector's requests to the origin of its `base_url`: that origin only, after the egress
//! check, freshly for every request (wit/types.wit, `configure`).
//!
//! Schemes this host knows: `negotiate` (Kerberos SPNEGO, [`super::negotiate`]). A scheme it
//! does not know is refused before the connector is configured, as is `host_auth` for a
//! connector that does not declare it (it would still send its own credentials).
//!
//! Replay makes no credentials: the cassette answers, so a recording made with host
//! authentication replays on a machine without Kerberos.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::egress::Origin;
use super::negotiate::{self, Negotiate};
use crate::bindings::wit;

/// The setting's name, in `metadata()` and in `configure`.
pub const SETTING: &str = "host_auth";

/// A way for the host to authenticate the connector's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Negotiate <token>` (RFC 4559) with the host's Kerberos ticket.
    Negotiate,
}

impl Scheme {
    pub const ALL: [Scheme; 1] = [Scheme::Negotiate];

    /// The value of `host_auth` that asks for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Negotiate => "negotiate",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == value)
    }
}

/// Where a scheme's credentials come from: the system's Kerberos for `negotiate`, something
/// else for a test or an embedder that brings its own.
pub trait Credentials: Send + Sync {
    /// The `Authorization` header value for one request, made anew on every call; an error is
    /// the operator's message, naming what to fix.
    fn authorization(&self) -> Result<String, String>;

    /// One line for `--verbose`: what is sent, never a credential.
    fn describe(&self) -> String;
}

/// The host's side of `host_auth`, as the operator configured it.
#[derive(Clone, Default)]
pub struct HostAuthOptions {
    /// The service principal for `negotiate`, `SERVICE@HOST` (checked by
    /// [`negotiate::parse_spn`]); default `<connector name>@<host of base_url>`.
    pub kerberos_spn: Option<String>,
    /// Replaces the scheme's own credentials (the system's Kerberos for `negotiate`).
    pub credentials: Option<Arc<dyn Credentials>>,
}

impl fmt::Debug for HostAuthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostAuthOptions")
            .field("kerberos_spn", &self.kerberos_spn)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|c| c.describe()),
            )
            .finish()
    }
}

/// Host authentication in force for one run.
pub struct HostAuth {
    scheme: Scheme,
    origin: Origin,
    credentials: Arc<dyn Credentials>,
}

impl fmt::Debug for HostAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `host_auth` as the settings give it, when they give it: an empty value counts as unset,
/// like an empty environment variable.
pub fn requested(settings: &BTreeMap<String, String>) -> Option<&str> {
    settings
        .get(SETTING)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

impl HostAuth {
    /// What `host_auth` in `settings` asks of this host, checked against the connector's
    /// metadata. `None` when it is unset, and in replay (`make_credentials` false), where the
    /// cassette answers; an error names the setting and what to change.
    pub fn resolve(
        settings: &BTreeMap<String, String>,
        info: &wit::ConnectorInfo,
        options: &HostAuthOptions,
        make_credentials: bool,
    ) -> Result<Option<Self>, String> {
        let Some(value) = requested(settings) else {
            return Ok(None);
        };
        let env = sync_engine::env::field_env_names(&info.name, SETTING).join(" or ");
        let from = format!("setting `{SETTING}` (--set {SETTING}=…, config file, or {env})");
        let Some(scheme) = Scheme::parse(value) else {
            let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
            return Err(format!(
                "{from}: this host does not provide the authentication scheme `{value}`; it \
                 provides: {} (Kerberos SPNEGO)",
                known.join(", ")
            ));
        };
        if !info.config_fields.iter().any(|f| f.name == SETTING) {
            return Err(format!(
                "{from}: the connector `{}` does not declare `{SETTING}`, so it cannot leave \
                 authentication to the host and would still sign in itself; remove `{SETTING}` \
                 and give the connector its own credentials",
                info.name
            ));
        }
        let base_url = settings
            .get(crate::settings::BASE_URL)
            .map(String::as_str)
            .unwrap_or("");
        let origin = Origin::parse(base_url).map_err(|e| {
            format!(
                "{from}: the host authenticates requests to base_url's origin, but base_url is \
                 not usable: {e}"
            )
        })?;
        if !make_credentials {
            return Ok(None);
        }
        let credentials = match (&options.credentials, scheme) {
            (Some(given), _) => given.clone(),
            (None, Scheme::Negotiate) => {
                let spn = match &options.kerberos_spn {
                    Some(spn) => {
                        negotiate::parse_spn(spn).map_err(|e| format!("--kerberos-spn: {e}"))?
                    }
                    None => negotiate::default_spn(&info.name, &origin.host),
                };
                let hint = format!(
                    "--kerberos-spn (config `kerberos_spn`, env {})",
                    crate::http::tls::env_var(&info.name, "KERBEROS_SPN")
                );
                let principal = settings.get(crate::settings::USERNAME).map(String::as_str);
                Arc::new(Negotiate::new(spn, hint, principal)?) as Arc<dyn Credentials>
            }
        };
        Ok(Some(Self {
            scheme,
            origin,
            credentials,
        }))
    }

    /// The one origin whose requests are authenticated.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether a request to `uri` gets the credentials: only one to `base_url`'s origin.
    pub fn applies_to(&self, uri: &http::Uri) -> bool {
        Origin::of_uri(uri).is_some_and(|o| o == self.origin)
    }

    /// A fresh `Authorization` value. The library may wait on the KDC, so it runs off the
    /// async thread.
    pub async fn authorization(&self) -> Result<String, String> {
        let credentials = self.credentials.clone();
        tokio::task::spawn_blocking(move || credentials.authorization())
            .await
            .unwrap_or_else(|e| Err(format!("host authentication stopped: {e}")))
    }

    /// For `--verbose`; never a credential.
    pub fn describe(&self) -> String {
        format!(
            "host_auth={} for {} ({})",
            self.scheme.name(),
            self.origin,
            self.credentials.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Credentials for Fixed {
        fn authorization(&self) -> Result<String, String> {
            Ok("Negotiate dGVzdA==".into())
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
    }

    fn info(fields: &[&str]) -> wit::ConnectorInfo {
        wit::ConnectorInfo {
            name: "airflow".into(),
            version: "0".into(),
            description: String::new(),
            config_fields: fields
                .iter()
                .map(|name| wit::ConfigField {
                    name: name.to_string(),
                    description: String::new(),
                    required: false,
                    secret: false,
                    default_value: None,
                })
                .collect(),
            resource_types: Vec::new(),
        }
    }

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fixed() -> HostAuthOptions {
        HostAuthOptions {
            credentials: Some(Arc::new(Fixed)),
            ..Default::default()
        }
    }

    #[test]
    fn unset_or_empty_means_no_host_authentication() {
        let info = info(&["base_url", "host_auth"]);
        for s in [
            settings(&[("base_url", "http://h")]),
            settings(&[("base_url", "http://h"), ("host_auth", " ")]),
        ] {
            assert!(HostAuth::resolve(&s, &info, &fixed(), true)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn an_unknown_scheme_is_refused_naming_the_known_ones() {
        let s = settings(&[("base_url", "http://h"), ("host_auth", "gcp-identity")]);
        let e =
            HostAuth::resolve(&s, &info(&["base_url", "host_auth"]), &fixed(), true).unwrap_err();
        let from = "setting `host_auth` (--set host_auth=…, config file, or AIRFLOW_HOST_AUTH or \
                    BATON_AIRFLOW_HOST_AUTH)";
        assert!(
            e.starts_with(from)
                && e.contains("does not provide the authentication scheme `gcp-identity`")
                && e.contains("provides: negotiate"),
            "{e}"
        );
    }

    #[test]
    fn a_connector_that_does_not_declare_host_auth_is_refused() {
        let s = settings(&[("base_url", "http://h"), ("host_auth", "negotiate")]);
        // Refused in replay too: the operator's settings are wrong whatever the mode.
        for make in [true, false] {
            let e = HostAuth::resolve(&s, &info(&["base_url", "password"]), &fixed(), make)
                .unwrap_err();
            assert!(
                e.contains("the connector `airflow` does not declare `host_auth`"),
                "{e}"
            );
        }
    }

    #[test]
    fn credentials_go_to_base_urls_origin_only() {
        let s = settings(&[
            ("base_url", "http://airflow.example:8080/sub/path"),
            ("host_auth", "negotiate"),
        ]);
        let auth = HostAuth::resolve(&s, &info(&["base_url", "host_auth"]), &fixed(), true)
            .unwrap()
            .unwrap();
        assert_eq!(auth.scheme(), Scheme::Negotiate);
        let yes = |u: &str| auth.applies_to(&u.parse().unwrap());
        assert!(yes("http://airflow.example:8080/api/v1/users"));
        assert!(yes("http://AIRFLOW.example:8080/other"));
        assert!(!yes("http://airflow.example:8081/api/v1/users"));
        assert!(!yes("https://airflow.example:8080/api/v1/users"));
        assert!(!yes("http://other.example:8080/api/v1/users"));
        assert_eq!(
            auth.describe(),
            "host_auth=negotiate for http://airflow.example:8080 (fixed)"
        );
    }

    #[test]
    fn replay_makes_no_credentials() {
        let s = settings(&[("base_url", "http://h"), ("host_auth", "negotiate")]);
        // No credentials given: live, this would open the system's Kerberos.
        let none = HostAuth::resolve(
            &s,
            &info(&["base_url", "host_auth"]),
            &HostAuthOptions::default(),
            false,
        )
        .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn a_bad_spn_or_base_url_names_the_setting() {
        let info = info(&["base_url", "host_auth"]);
        let s = settings(&[("base_url", "http://h"), ("host_auth", "negotiate")]);
        let options = HostAuthOptions {
            kerberos_spn: Some("airflow/vm@REALM".into()),
            ..Default::default()
        };
        let e = HostAuth::resolve(&s, &info, &options, true).unwrap_err();
        assert!(e.starts_with("--kerberos-spn: `airflow/vm@REALM`"), "{e}");
        let s = settings(&[("host_auth", "negotiate")]);
        let e = HostAuth::resolve(&s, &info, &fixed(), true).unwrap_err();
        assert!(e.contains("base_url is not usable"), "{e}");
    }
}
