//! Removing credentials from what the harness stores or prints.
//!
//! Two nets: structural (header names, cookie values, JSON keys, form fields and hidden HTML
//! inputs that hold credentials) and literal (every occurrence of a secret setting's value). The
//! structural net is what keeps cassettes replayable — a redacted cookie keeps its name and
//! attributes, a redacted form field its key — and catches the secrets a session makes on the
//! way (cookies, CSRF tokens), which no setting names; the literal one is the backstop for
//! credentials echoed somewhere unexpected.

use serde_json::Value;

pub const REDACTED: &str = "[REDACTED]";

/// Request headers that carry credentials whole.
const SECRET_REQUEST_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// Whether a JSON object key names a credential.
pub fn is_secret_json_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(
        key.as_str(),
        "password" | "access_token" | "refresh_token" | "token" | "secret"
    ) || key.ends_with("_password")
        || key.ends_with("_token")
}

pub fn is_secret_request_header(name: &str) -> bool {
    SECRET_REQUEST_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// `Cookie: a=1; b=2` with every value redacted, names kept.
fn cookie_pairs(value: &str) -> String {
    value
        .split(';')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{}={REDACTED}", name.trim()),
            None => REDACTED.to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Set-Cookie: name=value; attributes` with the value redacted and the name and attributes
/// kept, so a replayed login still sets the cookie a client then sends.
fn set_cookie(value: &str) -> String {
    let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
    let Some((name, _)) = pair.split_once('=') else {
        return REDACTED.to_string();
    };
    if attributes.is_empty() {
        format!("{}={REDACTED}", name.trim())
    } else {
        format!("{}={REDACTED};{attributes}", name.trim())
    }
}

/// `WWW-Authenticate: Negotiate <token>` (a server's mutual-authentication token): the scheme
/// is kept, a token after it is not.
fn challenge(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim();
    let opaque = !token.is_empty() && !token.contains('=') || token.ends_with('=');
    (scheme.eq_ignore_ascii_case("negotiate") && opaque).then(|| format!("{scheme} {REDACTED}"))
}

/// A body that reads as `application/x-www-form-urlencoded`: `key=value` pairs joined by `&`,
/// nothing else.
fn is_form(text: &str) -> bool {
    !text.is_empty()
        && text.split('&').all(|pair| {
            pair.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.%[]".contains(&b))
                    && !v.bytes().any(|b| b.is_ascii_whitespace())
            })
        })
}

/// The form with the values of credential fields (`password`, `csrf_token`, ...) redacted.
fn form_fields(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if is_secret_json_key(key) && !value.is_empty() => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The `value` of every `<input>` whose `name` is a credential field (a login form's CSRF
/// token) redacted, and every other occurrence of such a value in the page too: Airflow 2's
/// login page repeats its CSRF token in an inline script (`var csrfToken = '…'`).
fn html_inputs(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut values = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        let Some(len) = rest.get(start..).and_then(|t| t.find('>')) else {
            break;
        };
        let (before, tag, after) = (
            &rest[..start],
            &rest[start..start + len],
            &rest[start + len..],
        );
        out.push_str(before);
        match secret_input_value(tag) {
            Some((at, value)) => {
                out.push_str(&tag[..at]);
                out.push_str(REDACTED);
                out.push_str(&tag[at + value.len()..]);
                values.push(value);
            }
            None => out.push_str(tag),
        }
        rest = after;
    }
    out.push_str(rest);
    // Short values would erase unrelated text; a CSRF token is long.
    values.retain(|v| v.len() >= MIN_LITERAL_SECRET_LEN);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        if out.contains(value) {
            out = out.replace(value, REDACTED);
        }
    }
    out
}

/// Where the `value` of a credential `<input>` starts in `tag`, and the value.
fn secret_input_value(tag: &str) -> Option<(usize, &str)> {
    let secret = quoted_attribute(tag, "name").is_some_and(|(_, n)| is_secret_json_key(n));
    quoted_attribute(tag, "value").filter(|(_, value)| secret && !value.is_empty())
}

/// Where a quoted attribute's value starts in `tag`, and the value.
fn quoted_attribute<'a>(tag: &'a str, name: &str) -> Option<(usize, &'a str)> {
    let mut from = 0;
    while let Some(found) = tag.get(from..)?.find(name) {
        let at = from + found;
        from = at + name.len();
        let word_start = tag[..at].ends_with(|c: char| c.is_whitespace());
        let after = &tag[from..];
        let Some(eq) = after.strip_prefix('=') else {
            continue;
        };
        let Some(quote) = eq.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            continue;
        };
        if !word_start {
            continue;
        }
        let value_start = from + 2;
        let len = tag[value_start..].find(quote)?;
        return Some((value_start, &tag[value_start..value_start + len]));
    }
    None
}

/// Shortest secret value replaced literally in stored data. A shorter one (a test instance's
/// `admin` password, say) would also erase every user, role or URL that happens to contain it
/// and make the cassette useless; the structural net still catches it where it belongs.
pub const MIN_LITERAL_SECRET_LEN: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a secret containing another is replaced whole.
    literals: Vec<String>,
}

impl Scrubber {
    /// A scrubber for displayed text: every non-empty secret is replaced, however short,
    /// because over-redacting a message costs nothing.
    pub fn for_display(secrets: &[String]) -> Self {
        Self::with_literals(secrets.iter().filter(|s| !s.is_empty()).cloned())
    }

    /// A scrubber for stored data (cassettes). Secrets shorter than [`MIN_LITERAL_SECRET_LEN`]
    /// or equal to a non-secret setting value (a password equal to the user name) are only
    /// caught structurally; they are returned as `skipped` so the caller can warn.
    pub fn for_storage(secrets: &[String], non_secret_values: &[String]) -> (Self, usize) {
        let (kept, skipped): (Vec<&String>, Vec<&String>) =
            secrets.iter().filter(|s| !s.is_empty()).partition(|s| {
                s.chars().count() >= MIN_LITERAL_SECRET_LEN && !non_secret_values.contains(s)
            });
        (
            Self::with_literals(kept.into_iter().cloned()),
            skipped.len(),
        )
    }

    fn with_literals(secrets: impl Iterator<Item = String>) -> Self {
        let mut literals: Vec<String> = secrets.filter(|s| s != REDACTED).collect();
        literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        literals.dedup();
        Self { literals }
    }

    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.literals {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// A stored text body: credential fields of a form and of HTML inputs, then the literals.
    pub fn body_text(&self, s: &str) -> String {
        let structural = if is_form(s.trim()) {
            form_fields(s)
        } else if s.contains("<input") {
            html_inputs(s)
        } else {
            s.to_string()
        };
        self.text(&structural)
    }

    /// Scrub a JSON value in place: credential keys anywhere in the tree and secret literals
    /// in every string (keys included).
    pub fn json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let scrubbed = self.text(s);
                if scrubbed != *s {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                let renamed: Vec<String> = map
                    .keys()
                    .filter(|k| self.text(k) != **k)
                    .cloned()
                    .collect();
                for key in renamed {
                    if let Some(v) = map.remove(&key) {
                        map.insert(self.text(&key), v);
                    }
                }
                for (key, v) in map.iter_mut() {
                    // A null or empty credential field holds nothing to hide; keeping it
                    // keeps the replayed shape faithful.
                    let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                    if is_secret_json_key(key) && !empty {
                        *v = Value::String(REDACTED.to_string());
                    } else {
                        self.json(v);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A request header value as it may be stored.
    pub fn request_header(&self, name: &str, value: &str) -> String {
        if is_secret_request_header(name) {
            REDACTED.to_string()
        } else if name.eq_ignore_ascii_case("cookie") {
            cookie_pairs(value)
        } else {
            self.text(value)
        }
    }

    /// A response header value as it may be stored.
    pub fn response_header(&self, name: &str, value: &str) -> String {
        if name.eq_ignore_ascii_case("set-cookie") {
            set_cookie(value)
        } else if name.eq_ignore_ascii_case("www-authenticate") {
            challenge(value).unwrap_or_else(|| self.text(value))
        } else {
            self.text(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keys_are_redacted_recursively() {
        let s = Scrubber::default();
        let mut v = json!({
            "username": "admin",
            "Password": "hunter22",
            "nested": [{"access_token": "abc", "refresh_token": "def", "db_password": "x",
                        "csrf_token": "y", "Token": 5, "secret": {"a": 1}, "tokens": "kept"}],
            "password_hint": "kept",
            "empty_token": null,
        });
        s.json(&mut v);
        assert_eq!(
            v,
            json!({
                "username": "admin",
                "Password": REDACTED,
                "nested": [{"access_token": REDACTED, "refresh_token": REDACTED,
                            "db_password": REDACTED, "csrf_token": REDACTED, "Token": REDACTED,
                            "secret": REDACTED, "tokens": "kept"}],
                "password_hint": "kept",
                "empty_token": null,
            })
        );
    }

    #[test]
    fn secret_literals_are_replaced_everywhere() {
        let s = Scrubber::for_display(&["s3cretpw".to_string(), "s3cretpw-long".to_string()]);
        assert_eq!(
            s.text("https://h/x?p=s3cretpw-long&q=s3cretpw"),
            "https://h/x?p=[REDACTED]&q=[REDACTED]"
        );
        let mut v = json!({"note": "echo s3cretpw", "s3cretpw": 1, "list": ["s3cretpw"]});
        s.json(&mut v);
        assert_eq!(
            v,
            json!({"note": "echo [REDACTED]", "[REDACTED]": 1, "list": ["[REDACTED]"]})
        );
    }

    #[test]
    fn headers_holding_credentials_are_redacted() {
        let s = Scrubber::for_display(&["s3cretpw".to_string()]);
        assert_eq!(s.request_header("Authorization", "Bearer x"), REDACTED);
        assert_eq!(
            s.request_header("cookie", "session=abc.sig; theme=x"),
            "session=[REDACTED]; theme=[REDACTED]"
        );
        assert_eq!(s.request_header("proxy-authorization", "x"), REDACTED);
        assert_eq!(
            s.request_header("accept", "application/json"),
            "application/json"
        );
        assert_eq!(s.request_header("x-echo", "s3cretpw"), REDACTED);
        assert_eq!(
            s.response_header(
                "Set-Cookie",
                "session=c1a4.7MQy; Expires=Sat, 02 Jan 2027 10:00:00 GMT; HttpOnly; Path=/"
            ),
            "session=[REDACTED]; Expires=Sat, 02 Jan 2027 10:00:00 GMT; HttpOnly; Path=/"
        );
        assert_eq!(s.response_header("set-cookie", "garbage"), REDACTED);
        assert_eq!(
            s.response_header("WWW-Authenticate", "Negotiate oYG2MIGzoAMKAQ=="),
            "Negotiate [REDACTED]"
        );
        assert_eq!(
            s.response_header("www-authenticate", "Basic realm=\"Airflow\""),
            "Basic realm=\"Airflow\""
        );
        assert_eq!(
            s.response_header("www-authenticate", "Negotiate"),
            "Negotiate"
        );
        assert_eq!(
            s.response_header("content-type", "text/plain"),
            "text/plain"
        );
    }

    #[test]
    fn login_forms_keep_their_shape_without_the_credentials() {
        let s = Scrubber::default();
        assert_eq!(
            s.body_text("csrf_token=ImUx.Zw-9&username=admin&password=p%26w"),
            "csrf_token=[REDACTED]&username=admin&password=[REDACTED]"
        );
        // Empty fields stay empty, and prose is not a form.
        assert_eq!(s.body_text("csrf_token=&a=1"), "csrf_token=&a=1");
        assert_eq!(s.body_text("token=x and more"), "token=x and more");
        let html = r#"<form><input id="csrf_token" name="csrf_token" type="hidden" value="ImUxZWVj.oRa47">
            <input id="username" name="username" type="text" value="admin">
            <input name='api_token' value='t0k3n'><input data-name="password" value="kept"></form>"#;
        let scrubbed = s.body_text(html);
        assert_eq!(
            scrubbed,
            html.replace("ImUxZWVj.oRa47", REDACTED)
                .replace("t0k3n", REDACTED)
        );
    }

    #[test]
    fn a_csrf_token_repeated_in_an_inline_script_is_redacted_there_too() {
        // Airflow 2.11.2's login page, abridged.
        let html = r#"<script>var csrfToken = 'IjQ2ZjE.aWh3.Xy-z9';</script>
            <form><input id="csrf_token" name="csrf_token" type="hidden" value="IjQ2ZjE.aWh3.Xy-z9"></form>"#;
        let scrubbed = Scrubber::default().body_text(html);
        assert!(!scrubbed.contains("IjQ2ZjE"), "{scrubbed}");
        assert_eq!(scrubbed, html.replace("IjQ2ZjE.aWh3.Xy-z9", REDACTED));
    }

    #[test]
    fn storage_scrubber_skips_short_or_colliding_secrets() {
        let (s, skipped) = Scrubber::for_storage(
            &[
                "admin".to_string(),
                "longenough".to_string(),
                "useruser".to_string(),
            ],
            &["useruser".to_string()],
        );
        assert_eq!(skipped, 2);
        assert_eq!(
            s.text("admin useruser longenough"),
            "admin useruser [REDACTED]"
        );
    }
}
