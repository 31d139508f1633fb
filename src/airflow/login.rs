//! The web form login of Flask-AppBuilder (Airflow 2's default API backend is its session
//! cookie): reading the form's CSRF token, the cookies the server sets, and telling success from
//! failure by where the answer redirects. Pure functions over `Response`; the client sends.

use crate::http::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The path of the login form below `base_url`: Airflow 2's webserver, and the FAB provider's
/// views under `/auth` on Airflow 3.
pub const AIRFLOW2_LOGIN_PATH: &str = "/login/";
pub const FAB_AUTH_LOGIN_PATH: &str = "/auth/login/";

/// Flask-WTF names the hidden field after the token.
const CSRF_FIELD: &str = "csrf_token";

/// Everything but RFC 3986 unreserved characters is escaped in form values.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Cookies kept between requests, by name, in the order first set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
}

// Hand-written: the values are session secrets.
impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.cookies.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CookieJar").field("names", &names).finish()
    }
}

impl CookieJar {
    /// Takes every `Set-Cookie` of the answer; a cookie set again replaces the old value, and
    /// one set empty (or already expired) is dropped.
    pub fn absorb(&mut self, response: &Response) {
        for (name, value) in response
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| parse_set_cookie(v))
        {
            self.cookies.retain(|(n, _)| *n != name);
            if !value.is_empty() {
                self.cookies.push((name, value));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The `Cookie` header value, or None when there is nothing to send.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The cookie values, for scrubbing messages.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(|(_, v)| v.as_str())
    }
}

/// `name=value` of a `Set-Cookie` header; an expiry in the past (Flask's way of deleting a
/// cookie) reads as an empty value.
fn parse_set_cookie(header: &str) -> Option<(String, String)> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let deleted = parts.any(|attribute| {
        let attribute = attribute.trim().to_ascii_lowercase();
        attribute == "max-age=0" || attribute.starts_with("expires=thu, 01 jan 1970")
    });
    let value = if deleted { "" } else { value.trim() };
    Some((name.to_string(), value.to_string()))
}

/// The CSRF token of the login form: the `value` of the `<input>` named `csrf_token`.
pub fn csrf_token(html: &[u8]) -> Option<String> {
    let html = String::from_utf8_lossy(html);
    let mut rest = html.as_ref();
    while let Some(start) = rest.find("<input") {
        let tag_and_after = rest.get(start..)?;
        let end = tag_and_after.find('>')?;
        let tag = tag_and_after.get(..end)?;
        if attribute(tag, "name").as_deref() == Some(CSRF_FIELD) {
            return attribute(tag, "value").filter(|v| !v.is_empty());
        }
        rest = tag_and_after.get(end..)?;
    }
    None
}

/// A quoted attribute's value inside one tag (`name="v"` or `name='v'`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(found) = tag.get(from..)?.find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = tag
            .get(..at)?
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let after = tag.get(from..)?.trim_start();
        let Some(after_eq) = after.strip_prefix('=') else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let after_eq = after_eq.trim_start();
        let quote = after_eq.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let value = after_eq.get(1..)?;
        let close = value.find(quote)?;
        return value.get(..close).map(str::to_string);
    }
    None
}

/// Whether the login page offers a username/password form at all: OAuth, OpenID and
/// remote-user set-ups serve a page without one.
pub fn has_password_form(html: &[u8]) -> bool {
    let html = String::from_utf8_lossy(html).to_ascii_lowercase();
    html.contains("<form") && html.contains("type=\"password\"")
}

/// A value as the form body carries it.
pub fn form_value(value: &str) -> String {
    utf8_percent_encode(value, FORM_VALUE).to_string()
}

/// The form body of the login POST; without a token when the server's form has none (CSRF
/// protection turned off).
pub fn form_body(csrf_token: Option<&str>, username: &str, password: &str) -> String {
    let mut fields = Vec::new();
    if let Some(token) = csrf_token {
        fields.push((CSRF_FIELD, token));
    }
    fields.push(("username", username));
    fields.push(("password", password));
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the answer to the login POST means. Flask-AppBuilder redirects both ways; only the
/// target tells them apart.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Redirected away from the login page: signed in.
    SignedIn,
    /// Redirected back to the login page (or the form shown again): wrong username or password,
    /// or a disabled account.
    Refused,
    /// 400: the form's CSRF token or its cookie was not accepted.
    CsrfRejected,
    /// Anything else: the caller reports the status.
    Other,
}

pub fn verdict(response: &Response) -> Verdict {
    match response.status {
        301..=303 | 307 | 308 => match response.header("location") {
            Some(location) if !location.contains("/login") => Verdict::SignedIn,
            _ => Verdict::Refused,
        },
        200 => Verdict::Refused,
        400 => Verdict::CsrfRejected,
        _ => Verdict::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form as Airflow 2.11.2 + FAB 1.5.4 serves it (attribute order `id, name, type,
    /// value`), trimmed.
    const FORM: &str = r#"<form class="form" action="" method="post" name="login">
      <input id="csrf_token" name="csrf_token" type="hidden" value="ImUxZWVj.aBc-_9">
      <input class="form-control" id="username" name="username" required type="text" value="">
      <input class="form-control" id="password" name="password" required type="password" value="">
    </form>"#;

    fn answer(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn the_csrf_token_is_read_from_its_input_in_any_attribute_order() {
        assert_eq!(
            csrf_token(FORM.as_bytes()).as_deref(),
            Some("ImUxZWVj.aBc-_9")
        );
        let reordered = r#"<input value='tok' type="hidden" name="csrf_token" id="csrf_token"/>"#;
        assert_eq!(csrf_token(reordered.as_bytes()).as_deref(), Some("tok"));
        // `data-name` is not `name`, and an input without the field has no token.
        let decoy = r#"<input data-name="csrf_token" value="no"><input name="user" value="x">"#;
        assert_eq!(csrf_token(decoy.as_bytes()), None);
        assert_eq!(csrf_token(b"<html>no form</html>"), None);
        assert_eq!(csrf_token(br#"<input name="csrf_token" value="">"#), None);
        assert_eq!(
            csrf_token(br#"<input name="csrf_token" value="unterminated"#),
            None
        );
    }

    #[test]
    fn a_page_without_a_password_field_has_no_form_login() {
        assert!(has_password_form(FORM.as_bytes()));
        assert!(!has_password_form(
            b"<html><a href=\"/oauth-authorized/google\">Sign in with Google</a></html>"
        ));
    }

    #[test]
    fn the_form_body_escapes_every_value() {
        assert_eq!(
            form_body(Some("a.b-c"), "alice@EXAMPLE.COM", "p&w=d +%"),
            "csrf_token=a.b-c&username=alice%40EXAMPLE.COM&password=p%26w%3Dd%20%2B%25"
        );
        assert_eq!(form_body(None, "u", "p"), "username=u&password=p");
    }

    #[test]
    fn the_redirect_target_tells_success_from_refusal() {
        let to = |l| answer(302, &[("location", l)]);
        assert_eq!(verdict(&to("/home")), Verdict::SignedIn);
        assert_eq!(verdict(&to("http://h/airflow/home")), Verdict::SignedIn);
        assert_eq!(verdict(&to("/login/?next=/home")), Verdict::Refused);
        assert_eq!(verdict(&to("/auth/login/?next=x")), Verdict::Refused);
        assert_eq!(verdict(&answer(302, &[])), Verdict::Refused);
        assert_eq!(verdict(&answer(200, &[])), Verdict::Refused);
        assert_eq!(verdict(&answer(400, &[])), Verdict::CsrfRejected);
        assert_eq!(verdict(&answer(429, &[])), Verdict::Other);
    }

    #[test]
    fn the_jar_keeps_the_latest_value_of_each_cookie_and_drops_deleted_ones() {
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        jar.absorb(&answer(
            200,
            &[(
                "set-cookie",
                "session=pre; Expires=Sat, 02 Jan 2027 10:00:00 GMT; HttpOnly; Path=/",
            )],
        ));
        jar.absorb(&answer(
            302,
            &[
                (
                    "Set-Cookie",
                    "session=post.sig; HttpOnly; Path=/; SameSite=Lax",
                ),
                ("set-cookie", "other=1"),
                ("content-type", "text/html"),
            ],
        ));
        assert_eq!(jar.header().as_deref(), Some("session=post.sig; other=1"));
        jar.absorb(&answer(
            200,
            &[("set-cookie", "other=gone; Max-Age=0; Path=/")],
        ));
        assert_eq!(jar.header().as_deref(), Some("session=post.sig"));
        assert_eq!(jar.values().collect::<Vec<_>>(), ["post.sig"]);
        assert!(!format!("{jar:?}").contains("post.sig"));
    }
}
