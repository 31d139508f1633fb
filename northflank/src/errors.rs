//! Turning an unsuccessful Northflank answer into a typed error with a short, secret-free
//! message.
//!
//! Northflank's errors are `{"error":{"status","message","id"?,"details"?}}`. It answers 401
//! both to a bad token (`{"error":{"status":401,"message":"Unauthorized"}}`) and to a valid
//! token whose role lacks the endpoint's permission (a message about permission, with
//! `details.requiredPermission`). The body tells them apart: a permission in the details or
//! the message is `permission-denied` naming the permission the endpoint needs; anything else
//! is `unauthenticated`. No source shows a 403, which is read as `permission-denied` too.

use crate::config::excerpt;
use crate::ratelimit;
use connector_sdk::error::Error;
use connector_sdk::http::Response;
use serde_json::Value;
use std::time::Duration;

/// What the server's `error` object says, in one line.
pub struct Detail {
    pub message: Option<String>,
    pub required_permission: Option<String>,
    /// The body was Northflank's JSON envelope (not a proxy's page).
    pub is_api: bool,
}

pub fn detail(response: &Response) -> Detail {
    let value = serde_json::from_slice::<Value>(&response.body).ok();
    let error = value.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(excerpt);
    let required_permission = error
        .and_then(|e| e.get("details"))
        .and_then(|d| d.get("requiredPermission"))
        .and_then(|p| match p {
            Value::String(s) => Some(excerpt(s)),
            Value::Array(items) => Some(excerpt(
                &items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            _ => None,
        });
    Detail {
        message,
        required_permission,
        is_api: error.is_some(),
    }
}

/// How the server's answer reads in a message.
fn said(response: &Response, d: &Detail) -> String {
    match (&d.message, d.is_api) {
        (Some(m), _) if !m.is_empty() => format!("`{m}`"),
        (_, true) => "an error without a message".into(),
        (_, false) => {
            let text = String::from_utf8_lossy(&response.body);
            let text = text.trim();
            if text.is_empty() {
                "an empty body".into()
            } else if text.starts_with('<') {
                "an HTML page".into()
            } else {
                format!("a non-JSON body starting `{}`", excerpt(text))
            }
        }
    }
}

/// Whether a 401 is about a missing permission rather than the token itself.
fn is_permission(d: &Detail) -> bool {
    d.required_permission.is_some()
        || d.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("permission"))
}

/// Maps a non-200 answer to `what` (e.g. "listing org members (GET /v1/org-members)"), which
/// needs the Northflank `permission`, onto the error taxonomy. `retry_after` is the time to the
/// rate-limit reset, when the answer said.
pub fn status_error(
    what: &str,
    permission: &str,
    response: &Response,
    retry_after: Option<Duration>,
) -> Error {
    let status = response.status;
    let d = detail(response);
    let server = said(response, &d);
    let message = format!("{what}: Northflank answered {status} with {server}");
    match status {
        401 if is_permission(&d) => permission_denied(&message, permission, &d),
        401 => Error::Unauthenticated(format!(
            "{message}: the API token was not accepted; check `api_token` (it may be mistyped, \
             revoked, or its role deleted)"
        )),
        403 => permission_denied(&message, permission, &d),
        404 if !d.is_api => Error::UpstreamProtocol(format!(
            "{message}: no Northflank API answers at this path; check that `base_url` is the \
             API's root, e.g. https://api.northflank.com"
        )),
        404 => Error::NotFound(message),
        400 | 422 => Error::InvalidArgument(message),
        409 => Error::Conflict(message),
        429 => Error::RateLimited {
            retry_after_ms: retry_after.map(ratelimit::millis),
            message: format!("{message}: the account's hourly request budget is spent"),
        },
        500 | 502 | 503 | 504 => Error::Unavailable(message),
        300..=399 => Error::UpstreamProtocol(format!(
            "{message}: redirects are not followed; set `base_url` to the API's final URL"
        )),
        _ => Error::UpstreamProtocol(message),
    }
}

fn permission_denied(message: &str, permission: &str, d: &Detail) -> Error {
    let id = d
        .required_permission
        .as_deref()
        .map(|p| format!(" (Northflank's id: `{p}`)"))
        .unwrap_or_default();
    Error::PermissionDenied(format!(
        "{message}: the API token's role lacks the Northflank permission `{permission}`{id}; \
         add it to the role the token was minted from"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response::with_body(status, body)
    }

    const WHAT: &str = "listing org members (GET /v1/org-members)";

    #[test]
    fn a_bad_token_and_a_missing_permission_are_told_apart_by_the_body() {
        let bad = status_error(
            WHAT,
            "P",
            &response(401, r#"{"error":{"status":401,"message":"Unauthorized"}}"#),
            None,
        );
        assert!(
            matches!(&bad, Error::Unauthenticated(m) if m.contains("`api_token`")),
            "{bad:?}"
        );
        let missing = status_error(
            WHAT,
            crate::api::MEMBERS_READ,
            &response(
                401,
                r#"{"error":{"status":401,"message":"Token does not have permission","details":{"requiredPermission":"org_members_read"}}}"#,
            ),
            None,
        );
        match missing {
            Error::PermissionDenied(m) => {
                assert!(m.contains("`Organisation > Admin > Members > Read`"), "{m}");
                assert!(m.contains("org_members_read"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Only a message about permission is still a permission.
        let worded = status_error(
            WHAT,
            "P",
            &response(
                401,
                r#"{"error":{"message":"API token lacks the required permission"}}"#,
            ),
            None,
        );
        assert!(matches!(worded, Error::PermissionDenied(_)));
        assert!(matches!(
            status_error(WHAT, "P", &response(403, "{}"), None),
            Error::PermissionDenied(_)
        ));
    }

    #[test]
    fn statuses_map_to_variants() {
        let api = r#"{"error":{"status":404,"message":"Role not found"}}"#;
        assert!(matches!(
            status_error(WHAT, "P", &response(404, api), None),
            Error::NotFound(_)
        ));
        assert!(matches!(
            status_error(WHAT, "P", &response(404, "<html>nginx</html>"), None),
            Error::UpstreamProtocol(m) if m.contains("`base_url`") && m.contains("HTML page")
        ));
        assert!(matches!(
            status_error(WHAT, "P", &response(405, "Method Not Allowed"), None),
            Error::UpstreamProtocol(m) if m.contains("`Method Not Allowed`")
        ));
        assert!(matches!(
            status_error(WHAT, "P", &response(400, "{}"), None),
            Error::InvalidArgument(_)
        ));
        assert!(matches!(
            status_error(WHAT, "P", &response(409, "{}"), None),
            Error::Conflict(_)
        ));
        assert!(matches!(
            status_error(WHAT, "P", &response(503, ""), None),
            Error::Unavailable(_)
        ));
        assert_eq!(
            status_error(WHAT, "P", &response(429, ""), Some(Duration::from_secs(90))),
            Error::RateLimited {
                retry_after_ms: Some(90_000),
                message: format!(
                    "{WHAT}: Northflank answered 429 with an empty body: the account's hourly \
                     request budget is spent"
                )
            }
        );
    }
}
