//! Settings from `configure`: parsed once, every problem reported against the field to fix.

use connector_sdk::error::{Error, Result};
use connector_sdk::settings::{self, Settings, UrlWording};

/// The connector's messages quote input and server text as every connector does.
pub use connector_sdk::settings::excerpt;

pub const API_TOKEN: &str = "api_token";
pub const BASE_URL: &str = "base_url";
pub const PROVISIONING: &str = "provisioning";
pub const ALLOW_INSECURE_HTTP: &str = "allow_insecure_http";
const KNOWN: [&str; 4] = [API_TOKEN, BASE_URL, PROVISIONING, ALLOW_INSECURE_HTTP];

/// Northflank's public API; every path below it starts with `/v1/`.
pub const DEFAULT_BASE_URL: &str = "https://api.northflank.com";

/// Validated connector settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `scheme://host[:port][/prefix]`, no trailing slash and no `/v1`.
    pub base_url: String,
    pub api_token: String,
    pub provisioning: bool,
    pub allow_insecure_http: bool,
}

// Hand-written so a stray `{:?}` can never print the token.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("api_token", &"[REDACTED]")
            .field("provisioning", &self.provisioning)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl Config {
    pub fn parse(settings: &[(String, String)]) -> Result<Config> {
        let given = Settings::new(settings, &KNOWN)?;
        let api_token = given
            .required(
                API_TOKEN,
                "a Northflank API token minted from an organisation role with Members > Read \
                 and Roles > Read",
            )?
            .trim()
            .to_string();
        // The token goes into an HTTP header: a line break would split it.
        if api_token
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(Error::config(
                API_TOKEN,
                "contains spaces or control characters; paste the token alone",
            ));
        }
        let base_url = match given.get(BASE_URL).map(str::trim) {
            None | Some("") => DEFAULT_BASE_URL.to_string(),
            Some(raw) => parse_base_url(raw)?,
        };
        let allow_insecure_http = given.flag(ALLOW_INSECURE_HTTP)?;
        // Only loopback (the tests' stand-in server) is plain http:// without the setting.
        settings::refuse_plain_http(
            &base_url,
            allow_insecure_http,
            BASE_URL,
            ALLOW_INSECURE_HTTP,
            "the API token",
        )?;
        let provisioning = given.flag(PROVISIONING)?;
        Ok(Config {
            base_url,
            api_token,
            provisioning,
            allow_insecure_http,
        })
    }
}

/// Accepts `http(s)://host[:port][/path]`; returns it without a trailing slash. A trailing
/// `/v1` is refused: the connector adds it, and `…/v1/v1/…` would only ever answer 404.
fn parse_base_url(raw: &str) -> Result<String> {
    let wording = UrlWording {
        example: "https://api.northflank.com",
        credential_settings: "`api_token`",
    };
    let url = settings::base_url(raw, BASE_URL, wording)?;
    if url.path().to_ascii_lowercase().ends_with("/v1") {
        return Err(Error::config(
            BASE_URL,
            format!(
                "must not end in `/v1`: the connector adds it; use e.g. \
                 https://api.northflank.com (got `{}`)",
                excerpt(raw)
            ),
        ));
    }
    Ok(url.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "nf-TOKEN-abcdef123456";

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidConfig { field, .. } => field,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn only_the_token_is_required_and_the_base_url_defaults_to_northflank() {
        let c = Config::parse(&settings(&[("api_token", TOKEN)])).unwrap();
        assert_eq!(c.base_url, "https://api.northflank.com");
        assert_eq!(c.api_token, TOKEN);
        assert!(!c.provisioning && !c.allow_insecure_http);
        for s in [settings(&[]), settings(&[("api_token", " ")])] {
            let err = Config::parse(&s).unwrap_err();
            assert!(err.to_string().contains("Members > Read"), "{err}");
            assert_eq!(field_of(err), "api_token");
        }
    }

    #[test]
    fn base_url_is_normalised_and_bad_ones_are_named() {
        let parse =
            |url: &str| Config::parse(&settings(&[("api_token", TOKEN), ("base_url", url)]));
        assert_eq!(
            parse("http://127.0.0.1:8080/").unwrap().base_url,
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse("https://nf.example.com/api/").unwrap().base_url,
            "https://nf.example.com/api"
        );
        assert_eq!(parse("").unwrap().base_url, DEFAULT_BASE_URL);
        for (url, why) in [
            ("api.northflank.com", "must start with http"),
            ("https://api.northflank.com/v1", "`/v1`"),
            ("https://u:p@host", "credentials"),
            ("https://host:0", "invalid port"),
            ("https://host/?x", "query"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.to_string().contains(why), "{url}: {err}");
            assert_eq!(field_of(err), "base_url");
        }
    }

    #[test]
    fn plain_http_beyond_loopback_needs_the_explicit_setting() {
        let s = settings(&[("api_token", TOKEN), ("base_url", "http://10.0.0.5:8080")]);
        let err = Config::parse(&s).unwrap_err();
        assert!(err.to_string().contains("`allow_insecure_http`"), "{err}");
        assert_eq!(field_of(err), "base_url");
        let mut s = s;
        s.push(("allow_insecure_http".into(), "true".into()));
        assert!(Config::parse(&s).unwrap().allow_insecure_http);
        for url in ["http://localhost:1", "http://[::1]:2", "http://127.0.0.9"] {
            let s = settings(&[("api_token", TOKEN), ("base_url", url)]);
            assert!(Config::parse(&s).is_ok(), "{url}");
        }
    }

    #[test]
    fn unknown_duplicate_and_malformed_settings_are_named_without_the_token() {
        let s = settings(&[("api_token", TOKEN), ("token", "x")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "token");
        let s = settings(&[("api_token", TOKEN), ("api_token", TOKEN)]);
        let err = Config::parse(&s).unwrap_err();
        assert!(!err.to_string().contains(TOKEN));
        assert_eq!(field_of(err), "api_token");
        let s = settings(&[("api_token", "abc\r\nX-Evil: 1")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "api_token");
        let s = settings(&[("api_token", TOKEN), ("provisioning", "maybe")]);
        assert_eq!(field_of(Config::parse(&s).unwrap_err()), "provisioning");
        let s = settings(&[("api_token", TOKEN), ("provisioning", "TRUE")]);
        assert!(Config::parse(&s).unwrap().provisioning);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = Config::parse(&settings(&[("api_token", TOKEN)])).unwrap();
        assert!(!format!("{c:?}").contains(TOKEN));
    }
}
