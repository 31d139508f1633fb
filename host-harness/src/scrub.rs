//! Removing credentials from what the harness stores or prints.
//!
//! Two nets: structural (header names, JSON keys that hold credentials) and literal (every
//! occurrence of a secret setting's value). The structural net is what keeps cassettes
//! replayable; the literal one is the backstop for credentials echoed somewhere unexpected.

use serde_json::Value;

pub const REDACTED: &str = "[REDACTED]";

/// Request headers that carry credentials.
const SECRET_REQUEST_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];
/// Response headers that carry credentials.
const SECRET_RESPONSE_HEADERS: &[&str] = &["set-cookie"];

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

pub fn is_secret_response_header(name: &str) -> bool {
    SECRET_RESPONSE_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
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
        } else {
            self.text(value)
        }
    }

    /// A response header value as it may be stored.
    pub fn response_header(&self, name: &str, value: &str) -> String {
        if is_secret_response_header(name) {
            REDACTED.to_string()
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
        assert_eq!(s.request_header("cookie", "a=b"), REDACTED);
        assert_eq!(s.request_header("proxy-authorization", "x"), REDACTED);
        assert_eq!(
            s.request_header("accept", "application/json"),
            "application/json"
        );
        assert_eq!(s.request_header("x-echo", "s3cretpw"), REDACTED);
        assert_eq!(s.response_header("Set-Cookie", "session=1"), REDACTED);
        assert_eq!(
            s.response_header("content-type", "text/plain"),
            "text/plain"
        );
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
