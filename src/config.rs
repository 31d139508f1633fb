//! Settings from `configure`: parsed once, every problem reported against the field to fix.

use crate::airflow::generation::Generation;
use crate::error::{Error, Result};
use connector_sdk::settings::{self, Settings, UrlWording};

/// How the connector proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username and password, used the way `login` says.
    Password {
        username: String,
        password: String,
        login: Login,
    },
    /// A bearer token the operator supplies; the connector never sees a password.
    Token {
        token: String,
        username: Option<String>,
    },
    /// The host authenticates every request to `base_url` itself (`host_auth`, e.g. Kerberos
    /// SPNEGO): the connector sends no credentials of its own.
    Host {
        scheme: String,
        /// The Airflow user the host's identity maps to, when the operator names it.
        username: Option<String>,
    },
}

/// What a username and password are turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The fastest the server offers: a JWT on FastAPI FAB, the session login where the
    /// server has the form login (Airflow 2, Airflow 3.0's Connexion FAB), HTTP Basic otherwise.
    Auto,
    /// Pinned to a JWT where the API has one, else HTTP Basic on every request.
    Direct,
    /// Pinned to the form login and its session cookie.
    Session,
}

/// Validated connector settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    pub base_url: String,
    pub credentials: Credentials,
    /// None: detect it.
    pub api_generation: Option<Generation>,
    pub provisioning: bool,
    /// Role every new account gets when the request names none (Airflow 3 rejects an empty list).
    pub default_role: String,
    /// Least pause between a role write and the read that verifies it, so a concurrent writer's
    /// stale write lands before the check; the pause grows with the measured round trip
    /// (`provision/verify.rs`, docs/provisioning.md, "Concurrent changes").
    pub verify_delay_ms: u64,
    /// Minimum milliseconds between two requests (0: no pacing).
    pub request_interval_ms: u64,
    /// Pages of a listing whose requests go out at once, within one `list-resources` call
    /// (1: one at a time).
    pub page_concurrency: usize,
    /// Whether `http://` to a host other than loopback was explicitly allowed.
    pub allow_insecure_http: bool,
}

// Hand-written so a stray `{:?}` can never print the password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("identity", &self.identity())
            .field("credentials", &"[REDACTED]")
            .field("api_generation", &self.api_generation)
            .field("provisioning", &self.provisioning)
            .field("default_role", &self.default_role)
            .field("verify_delay_ms", &self.verify_delay_ms)
            .field("request_interval_ms", &self.request_interval_ms)
            .field("page_concurrency", &self.page_concurrency)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

pub const BASE_URL: &str = "base_url";
pub const USERNAME: &str = "username";
pub const PASSWORD: &str = "password";
pub const PROVISIONING: &str = "provisioning";
pub const DEFAULT_ROLE: &str = "default_role";
pub const VERIFY_DELAY_MS: &str = "verify_delay_ms";
pub const API_GENERATION: &str = "api_generation";
pub const AUTH_MODE: &str = "auth_mode";
pub const TOKEN: &str = "token";
pub const REQUEST_INTERVAL_MS: &str = "request_interval_ms";
pub const PAGE_CONCURRENCY: &str = "page_concurrency";
pub const ALLOW_INSECURE_HTTP: &str = "allow_insecure_http";
pub const HOST_AUTH: &str = "host_auth";
const KNOWN: [&str; 13] = [
    BASE_URL,
    USERNAME,
    PASSWORD,
    PROVISIONING,
    DEFAULT_ROLE,
    VERIFY_DELAY_MS,
    API_GENERATION,
    AUTH_MODE,
    TOKEN,
    REQUEST_INTERVAL_MS,
    PAGE_CONCURRENCY,
    ALLOW_INSECURE_HTTP,
    HOST_AUTH,
];

pub const DEFAULT_ROLE_VALUE: &str = "Public";
pub const VERIFY_DELAY_MS_VALUE: u64 = 300;
/// Beyond the API workers a server runs, pages in flight only queue there; the bound also
/// bounds what one call holds (a page each).
pub const MAX_PAGE_CONCURRENCY: usize = 8;
/// Longer pauses would only slow every write; a deployment that needs more has other problems.
const MAX_DELAY_MS: u64 = 10_000;

impl Config {
    /// The account the connector acts as, when it knows it.
    pub fn identity(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Password { username, .. } => Some(username),
            Credentials::Token { username, .. } | Credentials::Host { username, .. } => {
                username.as_deref()
            }
        }
    }

    pub fn parse(settings: &[(String, String)]) -> Result<Config> {
        let given = Settings::new(settings, &KNOWN)?;
        let base_url = parse_base_url(&given.required(
            BASE_URL,
            "the Airflow web server's URL, e.g. https://airflow.example.com",
        )?)?;
        let allow_insecure_http = given.flag(ALLOW_INSECURE_HTTP)?;
        // The password (or token, or JWT) would cross the network in the clear.
        settings::refuse_plain_http(
            &base_url,
            allow_insecure_http,
            BASE_URL,
            ALLOW_INSECURE_HTTP,
            "the credentials",
        )?;
        let credentials = credentials(&given)?;
        let api_generation = match given.get(API_GENERATION).map(str::trim) {
            None | Some("") | Some("auto") => None,
            Some(value) => Some(Generation::parse(value).ok_or_else(|| {
                Error::config(
                    API_GENERATION,
                    format!(
                        "must be `auto` or one of {}",
                        Generation::ALL
                            .map(|g| format!("`{}`", g.setting()))
                            .join(", ")
                    ),
                )
            })?),
        };
        let provisioning = given.flag(PROVISIONING)?;
        let default_role = match given.get(DEFAULT_ROLE).map(str::trim) {
            None | Some("") => DEFAULT_ROLE_VALUE.to_string(),
            Some(role) if role.contains('/') => {
                return Err(Error::config(
                    DEFAULT_ROLE,
                    "must not contain `/`: Airflow cannot address such a role",
                ))
            }
            Some(role) => role.to_string(),
        };
        let verify_delay_ms = milliseconds(
            given.get(VERIFY_DELAY_MS),
            VERIFY_DELAY_MS,
            VERIFY_DELAY_MS_VALUE,
        )?;
        let request_interval_ms =
            milliseconds(given.get(REQUEST_INTERVAL_MS), REQUEST_INTERVAL_MS, 0)?;
        let page_concurrency = match given.get(PAGE_CONCURRENCY).map(str::trim) {
            None | Some("") => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    Error::config(
                        PAGE_CONCURRENCY,
                        format!(
                            "must be a whole number from 1 (one page at a time) to \
                             {MAX_PAGE_CONCURRENCY}; more than the server's API workers only queue"
                        ),
                    )
                })?,
        };
        Ok(Config {
            base_url,
            credentials,
            api_generation,
            provisioning,
            default_role,
            verify_delay_ms,
            request_interval_ms,
            page_concurrency,
            allow_insecure_http,
        })
    }
}

/// The credentials `auth_mode` (and `host_auth`, set by a host that authenticates requests
/// itself) call for.
fn credentials(given: &Settings) -> Result<Credentials> {
    let optional = |key: &str| {
        given
            .get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let host_auth = optional(HOST_AUTH);
    let mode = optional(AUTH_MODE);
    if let Some(scheme) = host_auth {
        if !matches!(mode.as_deref(), None | Some("auto") | Some("host")) {
            return Err(Error::config(
                AUTH_MODE,
                format!(
                    "cannot be `{}` while `host_auth` is set: the host authenticates the \
                     requests; leave `auth_mode` unset (or `host`), or unset `host_auth`",
                    mode.unwrap_or_default()
                ),
            ));
        }
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::config(
                HOST_AUTH,
                "must name the host's scheme, e.g. `negotiate` (letters, digits, `-`, `_`)",
            ));
        }
        for unused in [PASSWORD, TOKEN] {
            if optional(unused).is_some() {
                return Err(Error::config(
                    unused,
                    "is not used when `host_auth` is set (the host authenticates every \
                     request); remove it",
                ));
            }
        }
        return Ok(Credentials::Host {
            scheme,
            username: optional(USERNAME),
        });
    }
    let password = |login| -> Result<Credentials> {
        Ok(Credentials::Password {
            username: given.required(USERNAME, "the Airflow account the connector signs in as")?,
            password: given.required(PASSWORD, "that account's password")?,
            login,
        })
    };
    match mode.as_deref() {
        None | Some("auto") => password(Login::Auto),
        Some("password") => password(Login::Direct),
        Some("session") => password(Login::Session),
        Some("token") => Ok(Credentials::Token {
            token: given.required(TOKEN, "the bearer token to send (auth_mode is `token`)")?,
            username: optional(USERNAME),
        }),
        Some("host") => Err(Error::config(
            HOST_AUTH,
            "is missing: `auth_mode` `host` means the host authenticates the requests, and the \
             host says how by setting `host_auth` (e.g. `negotiate` for Kerberos)",
        )),
        Some(_) => Err(Error::config(
            AUTH_MODE,
            "must be `auto` (username and password, the fastest way the server offers), \
             `password` (a JWT, else HTTP Basic), `session` (the web form login), `token` (a \
             bearer token) or `host` (the host authenticates)",
        )),
    }
}

/// A duration setting in whole milliseconds, bounded so a typo cannot stall the connector.
fn milliseconds(value: Option<&str>, field: &str, default: u64) -> Result<u64> {
    match value.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms <= MAX_DELAY_MS => Ok(ms),
            _ => Err(Error::config(
                field,
                format!("must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}"),
            )),
        },
    }
}

/// Accepts `http(s)://host[:port][/path]`; returns it without a trailing slash.
fn parse_base_url(raw: &str) -> Result<String> {
    let wording = UrlWording {
        example: "https://airflow.example.com",
        credential_settings: "`username` and `password`",
    };
    settings::base_url(raw, BASE_URL, wording).map(settings::BaseUrl::into_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok() -> Vec<(String, String)> {
        settings(&[
            ("base_url", "http://127.0.0.1:8080/"),
            ("username", "admin"),
            ("password", "pw"),
        ])
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidConfig { field, .. } => field,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn valid_settings_parse_and_trailing_slash_is_dropped() {
        let c = Config::parse(&ok()).unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.identity(), Some("admin"));
        assert_eq!(c.api_generation, None);
        assert!(!c.provisioning);
    }

    #[test]
    fn path_prefix_and_ipv6_are_kept() {
        for (url, want) in [
            (
                "https://example.com/airflow/",
                "https://example.com/airflow",
            ),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://127.8.9.10", "http://127.8.9.10"),
            ("HTTPS://Example.com", "https://Example.com"),
        ] {
            let mut s = ok();
            s[0].1 = url.to_string();
            assert_eq!(Config::parse(&s).unwrap().base_url, want);
        }
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for name in ["base_url", "username", "password"] {
            let s: Vec<_> = ok().into_iter().filter(|(k, _)| k != name).collect();
            let err = Config::parse(&s).unwrap_err();
            assert!(err.to_string().contains("is missing"), "{err}");
            assert_eq!(field_of(err), name);
        }
    }

    #[test]
    fn empty_value_is_named() {
        let mut s = ok();
        s[1].1 = "  ".into();
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "username");
    }

    #[test]
    fn bad_base_urls_are_rejected_with_the_reason() {
        for (url, why) in [
            ("airflow.example.com", "must start with http"),
            ("ftp://x", "must start with http"),
            ("http://", "no"),
            ("http://user:pw@host", "credentials"),
            ("http://host:99999", "invalid port"),
            ("http://host:abc", "invalid port"),
            ("http://host/?q=1", "query"),
            ("http://ho st", "spaces"),
        ] {
            let mut s = ok();
            s[0].1 = url.to_string();
            let err = Config::parse(&s).unwrap_err();
            assert!(err.to_string().contains(why), "{url}: {err}");
            assert_eq!(field_of(err), "base_url");
        }
    }

    #[test]
    fn a_rejected_url_never_echoes_a_password_setting() {
        let mut s = ok();
        s[0].1 = "http://admin:hunter2@host".into();
        let err = Config::parse(&s).unwrap_err().to_string();
        assert!(err.contains("credentials"));
        // The URL itself is user input and is echoed, so credentials embedded in it are the
        // operator's own mistake; the `password` setting is never echoed by any error.
        let mut s = ok();
        s[2].1 = "s3cret-value".into();
        s[0].1 = "nope".into();
        assert!(!Config::parse(&s)
            .unwrap_err()
            .to_string()
            .contains("s3cret"));
    }

    #[test]
    fn unknown_and_duplicate_keys_are_named() {
        let mut s = ok();
        s.push(("base-url".into(), "x".into()));
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "base-url");
        let mut s = ok();
        s.push(("username".into(), "other".into()));
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "username");
    }

    #[test]
    fn provisioning_flag_parses_strictly() {
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("", false),
        ] {
            let mut s = ok();
            s.push(("provisioning".into(), v.into()));
            assert_eq!(Config::parse(&s).unwrap().provisioning, want, "{v}");
        }
        let mut s = ok();
        s.push(("provisioning".into(), "maybe".into()));
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "provisioning");
    }

    #[test]
    fn write_settings_have_defaults_and_bounds() {
        let c = Config::parse(&ok()).unwrap();
        assert_eq!(c.default_role, "Public");
        assert_eq!(c.verify_delay_ms, 300);
        let mut s = ok();
        s.push(("default_role".into(), "Viewer".into()));
        s.push(("verify_delay_ms".into(), "0".into()));
        let c = Config::parse(&s).unwrap();
        assert_eq!((c.default_role.as_str(), c.verify_delay_ms), ("Viewer", 0));
        for bad in ["-1", "1.5", "99999999"] {
            let mut s = ok();
            s.push(("verify_delay_ms".into(), bad.into()));
            assert_eq!(
                field_of(Config::parse(&s).unwrap_err()),
                "verify_delay_ms",
                "{bad}"
            );
        }
        let mut s = ok();
        s.push(("default_role".into(), "a/b".into()));
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "default_role");
    }

    #[test]
    fn page_concurrency_defaults_to_one_page_at_a_time_and_is_bounded() {
        assert_eq!(Config::parse(&ok()).unwrap().page_concurrency, 1);
        for (given, want) in [("1", 1), (" 4 ", 4), ("8", 8), ("", 1)] {
            let mut s = ok();
            s.push(("page_concurrency".into(), given.into()));
            assert_eq!(Config::parse(&s).unwrap().page_concurrency, want, "{given}");
        }
        for bad in ["0", "9", "-1", "two", "1.5"] {
            let mut s = ok();
            s.push(("page_concurrency".into(), bad.into()));
            let err = Config::parse(&s).unwrap_err();
            assert!(err.to_string().contains("from 1"), "{bad}: {err}");
            assert_eq!(field_of(err), "page_concurrency", "{bad}");
        }
    }

    #[test]
    fn token_mode_needs_a_token_and_no_password() {
        let s = settings(&[
            ("base_url", "https://h"),
            ("auth_mode", "token"),
            ("token", "abc"),
        ]);
        let c = Config::parse(&s).unwrap();
        assert!(
            matches!(c.credentials, Credentials::Token { ref token, username: None } if token == "abc")
        );
        let s = settings(&[("base_url", "https://h"), ("auth_mode", "token")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "token");
        let s = settings(&[("base_url", "https://h"), ("auth_mode", "oauth")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "auth_mode");
    }

    #[test]
    fn auth_mode_picks_how_the_password_is_used() {
        for (mode, want) in [
            (None, Login::Auto),
            (Some("auto"), Login::Auto),
            (Some("password"), Login::Direct),
            (Some(" session "), Login::Session),
        ] {
            let mut s = ok();
            if let Some(mode) = mode {
                s.push(("auth_mode".into(), mode.into()));
            }
            match Config::parse(&s).unwrap().credentials {
                Credentials::Password { login, .. } => assert_eq!(login, want, "{mode:?}"),
                _ => panic!("{mode:?}: not password credentials"),
            }
        }
    }

    #[test]
    fn host_auth_needs_no_credentials_and_refuses_the_connectors_own() {
        let s = settings(&[("base_url", "https://h"), ("host_auth", "negotiate")]);
        let c = Config::parse(&s).unwrap();
        assert!(
            matches!(c.credentials, Credentials::Host { ref scheme, username: None } if scheme == "negotiate")
        );
        let s = settings(&[
            ("base_url", "https://h"),
            ("host_auth", "negotiate"),
            ("auth_mode", "host"),
            ("username", "alice@EXAMPLE.COM"),
        ]);
        assert_eq!(
            Config::parse(&s).unwrap().identity(),
            Some("alice@EXAMPLE.COM")
        );
        for (key, value, named) in [
            ("password", "pw", "password"),
            ("token", "t", "token"),
            ("auth_mode", "session", "auth_mode"),
        ] {
            let s = settings(&[
                ("base_url", "https://h"),
                ("host_auth", "negotiate"),
                (key, value),
            ]);
            assert_eq!(field_of(Config::parse(&s).unwrap_err()), named, "{key}");
        }
        let s = settings(&[("base_url", "https://h"), ("auth_mode", "host")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "host_auth");
        let s = settings(&[("base_url", "https://h"), ("host_auth", "neg otiate")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "host_auth");
    }

    #[test]
    fn api_generation_is_auto_or_a_known_name() {
        for (v, want) in [
            ("auto", None),
            ("airflow2", Some(Generation::Airflow2)),
            ("fab-connexion", Some(Generation::FabConnexion)),
        ] {
            let mut s = ok();
            s.push(("api_generation".into(), v.into()));
            assert_eq!(Config::parse(&s).unwrap().api_generation, want, "{v}");
        }
        let mut s = ok();
        s.push(("api_generation".into(), "3".into()));
        let err = Config::parse(&s).unwrap_err();
        assert!(err.to_string().contains("`fab-fastapi`"), "{err}");
        assert_eq!(field_of(err), "api_generation");
    }

    #[test]
    fn plain_http_beyond_loopback_needs_the_explicit_setting() {
        for url in [
            "http://airflow.example.com",
            "http://10.0.0.5:8080",
            "http://[fe80::1]",
            "http://128.0.0.1",
        ] {
            let mut s = ok();
            s[0].1 = url.to_string();
            let err = Config::parse(&s).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("`allow_insecure_http`") && text.contains("https://"),
                "{text}"
            );
            assert_eq!(field_of(err), "base_url");
            s.push(("allow_insecure_http".into(), "true".into()));
            let c = Config::parse(&s).unwrap();
            assert!(c.allow_insecure_http);
            assert_eq!(c.base_url, url);
        }
        let mut s = ok();
        s.push(("allow_insecure_http".into(), "perhaps".into()));
        assert_eq!(
            field_of(Config::parse(&s).unwrap_err()),
            "allow_insecure_http"
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let mut s = ok();
        s[2].1 = "hunter2".into();
        let dbg = format!("{:?}", Config::parse(&s).unwrap());
        assert!(!dbg.contains("hunter2"));
    }
}
