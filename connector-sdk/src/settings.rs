//! Reading `configure` settings the way every connector should: unknown and repeated names
//! refused, booleans and base URLs parsed strictly, plain `http://` refused beyond loopback,
//! and every problem an [`Error::InvalidConfig`] naming the field to fix. The wording that
//! differs between systems (an example URL, which settings hold the secret) is a parameter;
//! the rules are not, so two connectors cannot drift apart on what they accept.

use crate::error::{Error, Result};

/// The settings of one `configure` call, checked against the names a connector accepts.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Settings<'a> {
    /// Refuses a name outside `known` (listing the accepted ones) and a name given twice, so a
    /// typo is never silently ignored and a value never silently wins over another.
    pub fn new(pairs: &'a [(String, String)], known: &[&str]) -> Result<Self> {
        for (i, (key, _)) in pairs.iter().enumerate() {
            if !known.contains(&key.as_str()) {
                return Err(Error::config(
                    key,
                    format!(
                        "unknown setting; accepted settings are {}",
                        known.join(", ")
                    ),
                ));
            }
            if pairs.iter().skip(i + 1).any(|(k, _)| k == key) {
                return Err(Error::config(key, "given more than once; give it once"));
            }
        }
        Ok(Settings { pairs })
    }

    /// The value as given, untrimmed.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A value that must be present and not blank. It is returned untrimmed: surrounding spaces
    /// may belong to a password. `what` completes "set it to …".
    pub fn required(&self, name: &str, what: &str) -> Result<String> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
            Some(_) => Err(Error::config(name, format!("is empty; set it to {what}"))),
            None => Err(Error::config(name, format!("is missing; set it to {what}"))),
        }
    }

    /// The boolean setting `name` (see [`flag`]).
    pub fn flag(&self, name: &str) -> Result<bool> {
        flag(self.get(name), name)
    }
}

/// A boolean setting: off unless `true` (or `1`, `yes`); absent or blank is off.
pub fn flag(value: Option<&str>, field: &str) -> Result<bool> {
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

/// The system-specific words of [`base_url`]'s messages.
#[derive(Debug, Clone, Copy)]
pub struct UrlWording<'w> {
    /// A URL that would be accepted, e.g. `https://airflow.example.com`.
    pub example: &'w str,
    /// The settings that take the credentials instead of the URL, e.g. "`api_token`".
    pub credential_settings: &'w str,
}

/// A base URL as [`base_url`] accepts it: `scheme://authority[/path]`, lower-case scheme, no
/// trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: String,
    path_start: usize,
}

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The path prefix, empty or starting with `/`, never ending with one.
    pub fn path(&self) -> &str {
        self.url.get(self.path_start..).unwrap_or("")
    }

    pub fn into_string(self) -> String {
        self.url
    }
}

/// Accepts `http(s)://host[:port][/path]` for the setting `field`; every refusal quotes the
/// value as given (a URL with credentials in it is refused before anything else could echo
/// them elsewhere).
pub fn base_url(raw: &str, field: &str, wording: UrlWording<'_>) -> Result<BaseUrl> {
    let bad = |why: &str| Error::config(field, format!("{why} (got `{}`)", excerpt(raw)));
    let url = raw.trim();
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        ("https", url.get(8..).unwrap_or(""))
    } else if lower.starts_with("http://") {
        ("http", url.get(7..).unwrap_or(""))
    } else {
        return Err(bad(&format!(
            "must start with http:// or https://, e.g. {}",
            wording.example
        )));
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
        return Err(bad(&format!(
            "must not contain credentials; set {} instead",
            wording.credential_settings
        )));
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
    let url = format!("{scheme}://{authority}{path}");
    Ok(BaseUrl {
        path_start: url.len().saturating_sub(path.len()),
        url,
    })
}

/// Plain `http://` would carry `secret` (e.g. "the API token") in the clear across the
/// network; only loopback, where nothing crosses a wire, is allowed without the operator
/// setting `allow_field`. The refusal is reported against `url_field`.
pub fn refuse_plain_http(
    url: &str,
    allowed: bool,
    url_field: &str,
    allow_field: &str,
    secret: &str,
) -> Result<()> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = split_host_port(authority).map_or("", |(h, _)| h);
    if allowed || is_loopback(host) {
        return Ok(());
    }
    Err(Error::config(
        url_field,
        format!(
            "uses plain http:// to `{}`, which would send {secret} unencrypted; use https://, \
             or set `{allow_field}` to `true` if the network path is trusted",
            excerpt(host)
        ),
    ))
}

/// 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` or `[v6][:port]`; None when the brackets or colons make no sense.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
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

/// Characters of input [`excerpt`] keeps.
pub const EXCERPT_CHARS: usize = 80;

/// A short rendering of input for error messages: at most [`EXCERPT_CHARS`] characters, then
/// `…`.
pub fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    if s.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDING: UrlWording<'static> = UrlWording {
        example: "https://x.example.com",
        credential_settings: "`token`",
    };

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refusal(err: Error) -> (String, String) {
        match err {
            Error::InvalidConfig { field, message } => (field, message),
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn unknown_and_repeated_names_are_refused_by_name() {
        let known = ["a", "b"];
        let p = pairs(&[("a", "1"), ("c", "2")]);
        assert_eq!(
            refusal(Settings::new(&p, &known).unwrap_err()),
            (
                "c".into(),
                "unknown setting; accepted settings are a, b".into()
            )
        );
        let p = pairs(&[("a", "1"), ("b", "2"), ("a", "1")]);
        assert_eq!(
            refusal(Settings::new(&p, &known).unwrap_err()),
            ("a".into(), "given more than once; give it once".into())
        );
    }

    #[test]
    fn required_values_are_kept_untrimmed_and_blank_ones_named() {
        let p = pairs(&[("a", " pw "), ("b", "  ")]);
        let s = Settings::new(&p, &["a", "b", "c"]).unwrap();
        assert_eq!(s.required("a", "x").unwrap(), " pw ");
        assert_eq!(
            refusal(s.required("b", "a secret").unwrap_err()),
            ("b".into(), "is empty; set it to a secret".into())
        );
        assert_eq!(
            refusal(s.required("c", "a secret").unwrap_err()),
            ("c".into(), "is missing; set it to a secret".into())
        );
        assert_eq!(s.get("c"), None);
    }

    #[test]
    fn flags_are_off_unless_clearly_on() {
        for off in [None, Some(""), Some(" false "), Some("0"), Some("NO")] {
            assert!(!flag(off, "f").unwrap(), "{off:?}");
        }
        for on in ["true", "TRUE", " 1 ", "yes"] {
            assert!(flag(Some(on), "f").unwrap(), "{on}");
        }
        assert_eq!(
            refusal(flag(Some("maybe"), "f").unwrap_err()),
            (
                "f".into(),
                "must be `true` or `false` (`f` is off unless `true`)".into()
            )
        );
    }

    #[test]
    fn base_urls_are_normalised() {
        for (raw, url, path) in [
            (" https://h.example/api/ ", "https://h.example/api", "/api"),
            ("HTTP://[::1]:8080", "http://[::1]:8080", ""),
            ("http://localhost:1//", "http://localhost:1", ""),
            ("https://v1", "https://v1", ""),
        ] {
            let b = base_url(raw, "u", WORDING).unwrap();
            assert_eq!((b.as_str(), b.path()), (url, path), "{raw}");
            assert_eq!(b.into_string(), url);
        }
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_reason_and_the_wording() {
        for (raw, why) in [
            (
                "x.example.com",
                "must start with http:// or https://, e.g. https://x.example.com",
            ),
            ("http://", "has no host"),
            ("http://[::1", "has no valid host"),
            ("http://a:b:c", "has no valid host"),
            (
                "http://u:p@h",
                "must not contain credentials; set `token` instead",
            ),
            ("http://h:0", "invalid port"),
            ("http://h:99999", "invalid port"),
            ("http://h/#x", "fragment"),
            ("http://h\tx", "spaces"),
        ] {
            let (field, message) = refusal(base_url(raw, "u", WORDING).unwrap_err());
            assert_eq!(field, "u");
            assert!(message.contains(why), "{raw}: {message}");
            assert!(
                message.ends_with(&format!("(got `{}`)", excerpt(raw))),
                "{message}"
            );
        }
    }

    #[test]
    fn plain_http_is_refused_beyond_loopback_unless_allowed() {
        for ok in [
            "https://example.com",
            "http://localhost",
            "http://127.9.9.9:1/p",
            "http://[::1]",
        ] {
            assert!(
                refuse_plain_http(ok, false, "u", "allow", "the key").is_ok(),
                "{ok}"
            );
        }
        assert!(refuse_plain_http("http://10.0.0.1", true, "u", "allow", "the key").is_ok());
        assert_eq!(
            refusal(
                refuse_plain_http("http://[fe80::1]:8/p", false, "u", "allow", "the key")
                    .unwrap_err()
            ),
            (
                "u".into(),
                "uses plain http:// to `fe80::1`, which would send the key unencrypted; use \
                 https://, or set `allow` to `true` if the network path is trusted"
                    .into()
            )
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.255.0.3", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["128.0.0.1", "localhost.example.com", "", "fe80::1", "[::1]"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn host_and_port_are_split() {
        assert_eq!(split_host_port("h"), Some(("h", None)));
        assert_eq!(split_host_port("h:8"), Some(("h", Some("8"))));
        assert_eq!(split_host_port("[::1]:8"), Some(("::1", Some("8"))));
        assert_eq!(split_host_port("[::1]"), Some(("::1", None)));
        assert_eq!(split_host_port("[::1]x"), None);
        assert_eq!(split_host_port("::1"), None);
    }

    #[test]
    fn excerpts_are_cut_by_characters() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_CHARS + 1);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            excerpt(&"é".repeat(EXCERPT_CHARS)).chars().count(),
            EXCERPT_CHARS
        );
    }
}
