//! The web form login on Airflow 2 (`auth_mode` `auto` and `session`) and host-provided
//! authentication, against the fake's login form.

use super::*;
use crate::config::Login;

fn airflow2(password: &str, login: Login) -> Config {
    Config {
        credentials: Credentials::Password {
            username: "admin".into(),
            password: password.into(),
            login,
        },
        api_generation: None,
        ..config(password)
    }
}

fn auth_line(c: &Connector<&FakeAirflow>) -> String {
    c.session_info()
        .into_iter()
        .find(|(k, _)| k == "auth")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn logins(fake: &FakeAirflow) -> usize {
    routes(fake)
        .iter()
        .filter(|r| r.starts_with("POST /login/"))
        .count()
}

#[test]
fn auto_on_airflow2_logs_in_once_and_sends_only_the_cookie() {
    let fake = FakeAirflow::new(250, 2).playing(Generation::Airflow2);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    let pages = full_pass(&mut c, "user");
    assert_eq!(pages.iter().map(|p| p.resources.len()).sum::<usize>(), 250);
    assert_eq!(
        routes(&fake),
        [
            "POST /auth/token",
            "GET /api/v1/health",
            "GET /login/",
            "POST /login/",
            "GET /api/v1/users?limit=100&offset=0",
            // Each page after the first starts a row early, to notice a shifted listing.
            "GET /api/v1/users?limit=100&offset=99",
            "GET /api/v1/users?limit=100&offset=198",
        ]
    );
    let log = fake.log.borrow();
    let post = &log[3];
    assert_eq!(
        header_of(post, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header_of(post, "cookie"), Some("session=anon-cookie-0"));
    // Flask-WTF refuses a form POST over HTTPS without a same-origin Referer.
    assert_eq!(
        header_of(post, "referer"),
        Some("http://airflow.test/login/")
    );
    for page in &log[4..] {
        assert_eq!(header_of(page, "cookie"), Some("session=sess-0.sig"));
        assert_eq!(header_of(page, "authorization"), None, "no Basic beside it");
    }
    let auth = auth_line(&c);
    assert!(
        auth.contains("session cookie") && auth.contains("hashes the password"),
        "{auth}"
    );
}

#[test]
fn a_wrong_password_is_refused_by_the_redirect_target_after_one_login() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    let mut c = Connector::new(&fake, airflow2("Wr0ng-Secret-77", Login::Session));
    let err = c.validate().unwrap_err();
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("refused the login of `admin`") && text.contains("`password`"),
        "{text}"
    );
    assert!(!text.contains("Wr0ng-Secret-77") && !text.contains("csrf-tok"));
    assert_eq!(logins(&fake), 1);
}

/// Reads the first page of users, makes the server forget every session (expiry, restart with
/// a new secret key), then reads the second: the first user id it holds.
fn second_page_after_every_session_ends(
    fake: &FakeAirflow,
    c: &mut Connector<&FakeAirflow>,
) -> Option<String> {
    let first = c.list_resources("user", None).unwrap();
    fake.form_login.sessions.borrow_mut().clear();
    let token = first.next_page_token.unwrap();
    let second = c.list_resources("user", Some(&token)).unwrap();
    second.resources.first().map(|r| r.id.clone())
}

#[test]
fn an_ended_session_is_renewed_by_one_login_and_the_sync_goes_on() {
    let fake = FakeAirflow::new(250, 1).playing(Generation::Airflow2);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    assert_eq!(
        second_page_after_every_session_ends(&fake, &mut c).as_deref(),
        Some("user100")
    );
    assert_eq!(logins(&fake), 2);
    assert!(auth_line(&c).contains("2 login(s)"), "{}", auth_line(&c));
}

#[test]
fn a_403_to_a_fresh_session_is_a_missing_permission_and_costs_no_second_login() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    fake.script.borrow_mut().push(403);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    let err = c.list_resources("user", None).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(
        !err.to_string().contains("wrong credentials"),
        "the login proved the credentials: {err}"
    );
    assert_eq!(logins(&fake), 1);
}

#[test]
fn a_session_refused_again_after_its_one_new_login_fails_instead_of_looping() {
    let fake = FakeAirflow::new(250, 1).playing(Generation::Airflow2);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    let first = c.list_resources("user", None).unwrap();
    // Both the old cookie and the new one are refused (the account lost its permission).
    fake.script.borrow_mut().extend([403, 403, 403]);
    let token = first.next_page_token.unwrap();
    let err = c.list_resources("user", Some(&token)).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert_eq!(logins(&fake), 2);
}

#[test]
fn the_login_rate_limit_is_reported_at_once_and_not_retried() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    fake.form_login.posts.set(5);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    let err = c.validate().unwrap_err();
    match &err {
        Error::RateLimited {
            retry_after_ms,
            message,
        } => {
            assert_eq!(*retry_after_ms, Some(40_000));
            assert!(message.contains("auth_rate_limit"), "{message}");
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    assert_eq!(
        logins(&fake),
        1,
        "every further POST counts against the limit"
    );
}

#[test]
fn without_a_password_form_auto_falls_back_to_basic_and_session_says_why_it_cannot() {
    let mut fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    fake.form_login.offered = false;
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    assert_eq!(c.list_resources("user", None).unwrap().resources.len(), 3);
    let last = fake.log.borrow().last().cloned().unwrap();
    assert!(header_of(&last, "authorization").is_some_and(|a| a.starts_with("Basic ")));
    assert!(
        auth_line(&c).contains("HTTP Basic (auto: the server has no password form"),
        "{}",
        auth_line(&c)
    );

    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    let err = c.validate().unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("`auth_mode`"), "{err}");
}

#[test]
fn pinned_password_keeps_basic_on_airflow2() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Direct));
    c.list_resources("user", None).unwrap();
    assert_eq!(logins(&fake), 0);
    assert!(auth_line(&c).starts_with("HTTP Basic (auth_mode `password`"));
}

#[test]
fn session_cannot_be_pinned_on_an_api_that_takes_only_a_jwt() {
    let fake = FakeAirflow::new(3, 1);
    let mut c = Connector::new(
        &fake,
        Config {
            api_generation: Some(Generation::FabFastApi),
            ..airflow2(PASSWORD, Login::Session)
        },
    );
    let err = c.validate().unwrap_err();
    assert_eq!(field_of(&err), "auth_mode");
}

#[test]
fn cookies_and_the_csrf_token_never_reach_an_error() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    // A proxy page that echoes the request it got, cookie included.
    fake.canned.borrow_mut().push(raw(
        500,
        &[],
        "upstream said: Cookie: session=sess-0.sig csrf_token=csrf-tok-0",
    ));
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    let text = c.list_resources("user", None).unwrap_err().to_string();
    assert!(
        !text.contains("sess-0.sig") && !text.contains("csrf-tok-0"),
        "{text}"
    );
}

#[test]
fn host_authentication_sends_no_credentials_and_explains_a_refusal() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::Airflow2);
    let mut c = Connector::new(
        &fake,
        Config {
            credentials: Credentials::Host {
                scheme: "negotiate".into(),
                username: Some("alice@EXAMPLE.COM".into()),
            },
            api_generation: None,
            ..config(PASSWORD)
        },
    );
    // The fake knows no Negotiate: like Airflow with no user named after the principal, it
    // treats the request as anonymous.
    let err = c.validate().unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("full principal") && text.contains("AUTH_ROLE_PUBLIC"),
        "{text}"
    );
    for request in fake.log.borrow().iter() {
        assert_eq!(header_of(request, "authorization"), None);
        assert_eq!(header_of(request, "cookie"), None);
    }
    assert_eq!(logins(&fake), 0);
    assert!(auth_line(&c).starts_with("provided by the host"));
}

fn field_of(err: &Error) -> &str {
    match err {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected invalid-config, got {other:?}"),
    }
}

#[test]
fn auto_on_airflow_3_0_logs_in_at_the_fab_form_after_the_jwt_is_refused() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::FabConnexion);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    assert_eq!(c.list_resources("user", None).unwrap().resources.len(), 3);
    assert_eq!(
        routes(&fake),
        [
            "POST /auth/token",
            "GET /auth/fab/v1/users?limit=100&offset=0",
            "GET /auth/login/",
            "POST /auth/login/",
            "GET /auth/fab/v1/users?limit=100&offset=0",
        ]
    );
    // Only the two sign-ins hash the password: the refused call carries the JWT, never Basic.
    let log = fake.log.borrow();
    assert!(header_of(&log[1], "authorization").is_some_and(|a| a.starts_with("Bearer ")));
    for request in log.iter() {
        assert!(
            !header_of(request, "authorization").is_some_and(|a| a.starts_with("Basic ")),
            "{} {}",
            request.method.as_str(),
            request.url
        );
    }
    assert_eq!(
        header_of(&log[3], "referer"),
        Some("http://airflow.test/auth/login/")
    );
    assert_eq!(header_of(&log[4], "cookie"), Some("session=sess-0.sig"));
    let auth = auth_line(&c);
    assert!(
        auth.starts_with("session cookie")
            && auth.contains("Airflow 3.0 FAB API refuses the JWT")
            && auth.contains("1 login(s)"),
        "{auth}"
    );
    drop(log);
    // The sign-in and the refused call found the generation (check_sync.py counts them so).
    let discovery = c
        .session_info()
        .into_iter()
        .find(|(k, _)| k == "discovery_requests")
        .map(|(_, v)| v);
    assert_eq!(discovery.as_deref(), Some("2"));
}

#[test]
fn auto_on_airflow_3_0_without_a_password_form_sends_basic() {
    let mut fake = FakeAirflow::new(3, 1).playing(Generation::FabConnexion);
    fake.form_login.offered = false;
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    assert_eq!(c.list_resources("user", None).unwrap().resources.len(), 3);
    assert_eq!(
        routes(&fake),
        [
            "POST /auth/token",
            "GET /auth/fab/v1/users?limit=100&offset=0",
            "GET /auth/login/",
            "GET /auth/fab/v1/users?limit=100&offset=0",
        ]
    );
    let last = fake.log.borrow().last().cloned().unwrap();
    assert!(header_of(&last, "authorization").is_some_and(|a| a.starts_with("Basic ")));
    assert!(
        auth_line(&c).contains("HTTP Basic (auto: the server has no password form at /auth/login/"),
        "{}",
        auth_line(&c)
    );
}

#[test]
fn session_pinned_on_airflow_3_0_finds_the_api_without_sending_the_password() {
    let fake = FakeAirflow::new(3, 1).playing(Generation::FabConnexion);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Session));
    assert_eq!(c.list_resources("user", None).unwrap().resources.len(), 3);
    assert_eq!(
        routes(&fake),
        [
            "POST /auth/token",
            "GET /auth/login/",
            "POST /auth/login/",
            "GET /auth/fab/v1/users?limit=100&offset=0",
        ]
    );
    // The credential-free probe: the form login has no use for a JWT.
    assert_eq!(fake.log.borrow()[0].body.as_deref(), Some(b"{}".as_slice()));
    let auth = auth_line(&c);
    assert!(
        auth.starts_with("session cookie of the form login (auth_mode `session`"),
        "{auth}"
    );
}

#[test]
fn on_airflow_3_0_an_ended_session_is_renewed_by_one_login_after_auto_chose_it() {
    let fake = FakeAirflow::new(250, 1).playing(Generation::FabConnexion);
    let mut c = Connector::new(&fake, airflow2(PASSWORD, Login::Auto));
    // The first page is the call that refused the JWT and then came through the new session.
    assert_eq!(
        second_page_after_every_session_ends(&fake, &mut c).as_deref(),
        Some("user100")
    );
    let posts = routes(&fake)
        .iter()
        .filter(|r| r.starts_with("POST /auth/login/"))
        .count();
    assert_eq!(posts, 2);
    assert!(auth_line(&c).contains("2 login(s)"), "{}", auth_line(&c));
}
