//! Turning an unsuccessful Airflow answer into a typed error with a short, secret-free message.

use crate::error::Error;
use crate::http::{Response, RetryAfter};
use serde::de::DeserializeOwned;
use serde_json::Value;

const EXCERPT_CHARS: usize = 120;

/// What the server said, in one line: FastAPI's `detail` (string or validation list), a
/// problem+json `title`/`detail`, "an HTML page", or a short excerpt. Never the request's
/// `input` echoed in validation errors, which may hold a password.
pub fn server_detail(response: &Response) -> String {
    let body = String::from_utf8_lossy(&response.body);
    let trimmed = body.trim_start();
    if trimmed.is_empty() {
        return "an empty body".to_string();
    }
    if trimmed.starts_with('<') {
        let page = match html_title(trimmed) {
            Some(title) => format!("an HTML page titled `{}`", excerpt(&title)),
            None => "an HTML page".to_string(),
        };
        // Werkzeug's error pages give the reason in their first paragraph (Flask-WTF's
        // "The referrer header is missing." is the one an operator needs to see).
        return match html_element_text(trimmed, "p") {
            Some(reason) => format!("{page} saying `{}`", excerpt(&reason)),
            None => page,
        };
    }
    // `from_slice` as everywhere else: one serde_json reader compiled into the component.
    match serde_json::from_slice::<Value>(trimmed.as_bytes()) {
        Ok(value) => json_detail(&value).unwrap_or_else(|| "a JSON body without `detail`".into()),
        Err(_) => format!("a non-JSON body starting `{}`", excerpt(trimmed)),
    }
}

/// The `<title>` of an HTML page, which names the proxy or error page that answered.
fn html_title(html: &str) -> Option<String> {
    html_element_text(html, "title")
}

/// The text of the first `<tag>` element, whitespace collapsed, inner tags left out.
fn html_element_text(html: &str, tag: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{tag}");
    let mut from = 0;
    let start = loop {
        let at = lower.get(from..)?.find(&open)? + from;
        let next = lower.as_bytes().get(at + open.len()).copied();
        // `<p>` must not match `<pre>` or `<path>`.
        if matches!(next, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r')) {
            break at;
        }
        from = at + open.len();
    };
    let open_end = lower.get(start..)?.find('>')? + start + 1;
    let close = lower.get(open_end..)?.find(&format!("</{tag}"))? + open_end;
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.get(open_end..close)?.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words = text.split_whitespace().collect::<Vec<_>>();
    Some(words.join(" ")).filter(|t| !t.is_empty())
}

/// Whether the body is JSON: only then is it an answer of the API rather than of a proxy, a
/// login page or a web server in front of it.
pub fn is_json(response: &Response) -> bool {
    serde_json::from_slice::<Value>(&response.body).is_ok()
}

fn json_detail(value: &Value) -> Option<String> {
    match value.get("detail") {
        Some(Value::String(s)) => Some(excerpt(s)),
        Some(Value::Array(items)) => {
            let msgs: Vec<String> = items
                .iter()
                .filter_map(|item| {
                    let msg = item.get("msg")?.as_str()?;
                    let loc = item
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|parts| {
                            parts
                                .iter()
                                .map(|p| match p {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    Some(format!("{loc}: {msg}"))
                })
                .collect();
            Some(excerpt(&msgs.join("; ")))
        }
        _ => value.get("title").and_then(Value::as_str).map(excerpt),
    }
}

/// At most `EXCERPT_CHARS` characters of `s` on one line, control characters blanked.
pub fn excerpt(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS)
        .collect();
    if s.chars().count() > EXCERPT_CHARS {
        format!("{clean}…")
    } else {
        clean
    }
}

/// `application/json`, `application/problem+json` and the like, parameters ignored.
fn is_json_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.is_empty() || media == "application/json" || media.ends_with("+json")
}

/// The JSON of a successful answer as `D`, or `upstream-protocol` saying what was wrong with
/// it (content type, truncation, syntax, shape) and how it starts.
pub fn parse_body<D: DeserializeOwned>(what: &str, response: &Response) -> Result<D, Error> {
    // The checks and messages are not generic, so they are compiled once, not once per `D`.
    check_json_type(what, response)?;
    serde_json::from_slice(&response.body).map_err(|e| json_error(what, response, &e))
}

/// `upstream-protocol` when a successful answer is declared as something other than JSON.
fn check_json_type(what: &str, response: &Response) -> Result<(), Error> {
    let status = response.status;
    if let Some(content_type) = response.header("content-type") {
        if !is_json_type(content_type) {
            return Err(Error::UpstreamProtocol(format!(
                "{what}: Airflow answered {status} with content-type `{}` instead of JSON ({}); \
                 `base_url` may point at the web UI or a proxy rather than the API",
                excerpt(content_type),
                server_detail(response)
            )));
        }
    }
    Ok(())
}

/// What was wrong with a body that did not parse as the expected JSON, and how it starts.
/// Only here is the body turned into text: on success that would be a second pass over every
/// page (BENCHMARKS.md, "Effect of the optimisations").
fn json_error(what: &str, response: &Response, e: &serde_json::Error) -> Error {
    let status = response.status;
    let text = String::from_utf8_lossy(&response.body);
    let starts = format!("it starts `{}`", excerpt(text.trim_start()));
    let cause = match e.classify() {
        serde_json::error::Category::Eof => "a truncated JSON body".to_string(),
        serde_json::error::Category::Data => {
            format!("JSON of an unexpected shape ({})", excerpt(&e.to_string()))
        }
        _ if text.trim_start().starts_with('<') => server_detail(response),
        _ => "a body that is not valid JSON".to_string(),
    };
    Error::UpstreamProtocol(format!(
        "{what}: Airflow answered {status} with {cause}; {starts}"
    ))
}

/// Maps a non-2xx answer to `what` (e.g. "listing users") onto the error taxonomy.
pub fn status_error(what: &str, response: &Response) -> Error {
    let status = response.status;
    let detail = server_detail(response);
    let message = format!("{what}: Airflow answered {status} with {detail}");
    if (300..=399).contains(&status) {
        return redirect_error(what, response);
    }
    // A 404 that is not JSON comes from whatever sits at that address, not from the API: it
    // must never read as "no such user" (a delete would report success).
    if status == 404 && !is_json(response) {
        return Error::UpstreamProtocol(format!(
            "{message}: no Airflow API answers at this path; check that `base_url` is the API \
             server's root URL"
        ));
    }
    match status {
        401 => Error::Unauthenticated(message),
        403 => Error::PermissionDenied(message),
        404 => Error::NotFound(message),
        409 => Error::Conflict(message),
        429 => Error::RateLimited {
            retry_after_ms: retry_after_ms(response),
            message,
        },
        500 | 502 | 503 | 504 => Error::Unavailable(message),
        _ => Error::UpstreamProtocol(message),
    }
}

/// The transport does not follow redirects, and following one to another host would send
/// credentials there; the message names only the target's origin (its path or query may hold
/// tokens).
pub fn redirect_error(what: &str, response: &Response) -> Error {
    let target = response
        .header("location")
        .map(origin_of)
        .filter(|o| !o.is_empty())
        .map(|o| format!("`{o}`"))
        .unwrap_or_else(|| "an unnamed location".to_string());
    Error::UpstreamProtocol(format!(
        "{what}: Airflow answered {} redirecting to {target}; redirects are not followed: set \
         `base_url` to the final URL the API is served at (often https:// instead of http://, \
         or another host or path prefix)",
        response.status
    ))
}

/// `scheme://host[:port]` of an absolute URL; the path of a relative one is not shown.
fn origin_of(location: &str) -> String {
    let location = location.trim();
    match location.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Credentials in the authority are dropped.
            let host = authority.rsplit('@').next().unwrap_or("");
            excerpt(&format!("{scheme}://{host}"))
        }
        None => "the same host, another path".to_string(),
    }
}

/// `Retry-After` in milliseconds; the HTTP-date form is reported as unknown.
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let seconds = response.retry_after().and_then(RetryAfter::seconds)?;
    Some(seconds.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response::with_body(status, body)
    }

    #[test]
    fn fastapi_detail_string_is_quoted() {
        let e = status_error(
            "x",
            &response(
                404,
                r#"{"detail":"The User with username 'bob' was not found"}"#,
            ),
        );
        assert_eq!(
            e,
            Error::NotFound(
                "x: Airflow answered 404 with The User with username 'bob' was not found".into()
            )
        );
    }

    #[test]
    fn validation_list_keeps_loc_and_msg_but_never_input() {
        let body = r#"{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":{"username":"a","password":"hunter2"}}]}"#;
        let e = status_error("signing in", &response(422, body));
        let text = e.to_string();
        assert!(text.contains("body.password: Field required"), "{text}");
        assert!(!text.contains("hunter2"));
        assert!(matches!(e, Error::UpstreamProtocol(_)));
    }

    #[test]
    fn html_and_garbage_bodies_are_summarised() {
        assert!(
            status_error("x", &response(404, "<!DOCTYPE html><html>..."))
                .to_string()
                .contains("an HTML page")
        );
        assert!(status_error("x", &response(500, "Internal Server Error"))
            .to_string()
            .contains("non-JSON body starting `Internal Server Error`"));
        assert!(status_error("x", &response(502, ""))
            .to_string()
            .contains("empty body"));
    }

    #[test]
    fn an_error_page_gives_its_reason_from_the_first_paragraph() {
        // Flask-WTF's CSRF failure as Werkzeug renders it on Airflow 2.11.2.
        let page = "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n\
                    <h1>Bad Request</h1>\n<p>The referrer header is missing.</p>\n";
        assert_eq!(
            server_detail(&response(400, page)),
            "an HTML page titled `400 Bad Request` saying `The referrer header is missing.`"
        );
        // `<pre>` is not a paragraph; inner tags are dropped.
        let page = "<title>Oops</title><pre>trace</pre><p>Try <b>again</b>\n later</p>";
        assert_eq!(
            server_detail(&response(500, page)),
            "an HTML page titled `Oops` saying `Try again later`"
        );
    }

    #[test]
    fn statuses_map_to_variants() {
        assert!(matches!(
            status_error("x", &response(401, "{}")),
            Error::Unauthenticated(_)
        ));
        assert!(matches!(
            status_error("x", &response(403, "{}")),
            Error::PermissionDenied(_)
        ));
        assert!(matches!(
            status_error("x", &response(409, "{}")),
            Error::Conflict(_)
        ));
        assert!(matches!(
            status_error("x", &response(503, "{}")),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            status_error("x", &response(418, "{}")),
            Error::UpstreamProtocol(_)
        ));
    }

    #[test]
    fn retry_after_seconds_are_carried() {
        let mut r = response(429, "");
        r.headers.push(("retry-after".into(), "7".into()));
        assert_eq!(
            status_error("x", &r),
            Error::RateLimited {
                retry_after_ms: Some(7000),
                message: "x: Airflow answered 429 with an empty body".into()
            }
        );
    }

    #[test]
    fn long_details_are_cut() {
        let long = format!(r#"{{"detail":"{}"}}"#, "a".repeat(500));
        assert!(server_detail(&response(400, &long)).chars().count() <= EXCERPT_CHARS + 1);
    }
}
