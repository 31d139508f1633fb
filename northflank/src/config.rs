//! Settings from `configure`: parsed once, every problem reported against the field to fix.

use connector_sdk::error::{Error, Result};

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
        for (i, (key, _)) in settings.iter().enumerate() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(Error::config(
                    key,
                    format!(
                        "unknown setting; accepted settings are {}",
                        KNOWN.join(", ")
                    ),
                ));
            }
            if settings.iter().skip(i + 1).any(|(k, _)| k == key) {
                return Err(Error::config(key, "given more than once; give it once"));
            }
        }
        let get = |name: &str| {
            settings
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let what = "a Northflank API token minted from an organisation role with \
                    Members > Read and Roles > Read";
        let api_token = match get(API_TOKEN).map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            Some(_) => {
                return Err(Error::config(
                    API_TOKEN,
                    format!("is empty; set it to {what}"),
                ))
            }
            None => {
                return Err(Error::config(
                    API_TOKEN,
                    format!("is missing; set it to {what}"),
                ))
            }
        };
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
        let base_url = match get(BASE_URL).map(str::trim) {
            None | Some("") => DEFAULT_BASE_URL.to_string(),
            Some(raw) => parse_base_url(raw)?,
        };
        let allow_insecure_http = flag(get(ALLOW_INSECURE_HTTP), ALLOW_INSECURE_HTTP)?;
        refuse_plain_http(&base_url, allow_insecure_http)?;
        let provisioning = flag(get(PROVISIONING), PROVISIONING)?;
        Ok(Config {
            base_url,
            api_token,
            provisioning,
            allow_insecure_http,
        })
    }
}

/// A boolean setting: off unless `true` (or `1`, `yes`).
fn flag(value: Option<&str>, field: &str) -> Result<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v.is_empty() || v == "false" || v == "0" || v == "no" => Ok(false),
        Some(v) if v == "true" || v == "1" || v == "yes" => Ok(true),
        Some(_) => Err(Error::config(
            field,
            format!("must be `true` or `false` (`{field}` is off unless `true`)"),
        )),
    }
}

/// Plain `http://` would carry the API token in the clear; only loopback, where nothing crosses
/// a wire (the tests' stand-in server), is allowed without the operator saying so.
fn refuse_plain_http(base_url: &str, allowed: bool) -> Result<()> {
    let Some(rest) = base_url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = split_host_port(authority).map_or("", |(h, _)| h);
    if allowed || is_loopback(host) {
        return Ok(());
    }
    Err(Error::config(
        BASE_URL,
        format!(
            "uses plain http:// to `{}`, which would send the API token unencrypted; use \
             https://, or set `{ALLOW_INSECURE_HTTP}` to `true` if the network path is trusted",
            excerpt(host)
        ),
    ))
}

/// 127.0.0.0/8, ::1 and `localhost`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Accepts `http(s)://host[:port][/path]`; returns it without a trailing slash. A trailing
/// `/v1` is refused: the connector adds it, and `…/v1/v1/…` would only ever answer 404.
fn parse_base_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::config(BASE_URL, format!("{why} (got `{}`)", excerpt(raw)));
    let url = raw.trim();
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        ("https", url.get(8..).unwrap_or(""))
    } else if lower.starts_with("http://") {
        ("http", url.get(7..).unwrap_or(""))
    } else {
        return Err(bad(
            "must start with http:// or https://, e.g. https://api.northflank.com",
        ));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces"));
    }
    if url.contains('?') || url.contains('#') {
        return Err(bad("must not contain a query (`?`) or fragment (`#`)"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("must not contain credentials; set `api_token` instead"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| bad("has no valid host"))?;
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(bad("has an invalid port; use a number from 1 to 65535")),
        }
    }
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let path = path.trim_end_matches('/');
    if path.to_ascii_lowercase().ends_with("/v1") {
        return Err(bad(
            "must not end in `/v1`: the connector adds it; use e.g. https://api.northflank.com",
        ));
    }
    Ok(format!("{scheme}://{authority}{path}"))
}

fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let host = v6.get(..end)?;
        let after = v6.get(end + 1..)?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

/// A short, printable rendering of user input for error messages.
pub fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
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
