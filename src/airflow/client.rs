//! A small, synchronous client of Airflow's user/role API over any `Transport`, for all three
//! API generations. It finds out the generation once per instance, signs in where the API has
//! sign-in, renews the JWT before it expires (and once on a 401), and never loops.

use super::api::{
    Collection, NewUser, Permission, Role, RoleCollection, RoleName, Token, User, UserCollection,
};
use super::errors::{parse_body, redirect_error, status_error};
use super::generation::{self, Generation};
use super::jwt;
use super::login::{self, CookieJar};
use super::retry::{Backoff, Outcome, Verdict};
use crate::config::{Config, Credentials, Login};
use crate::error::{Error, Result};
use crate::http::{Method, Request, Response, Transport};
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Airflow clamps larger limits to `[api] maximum_page_limit` (100 by default).
pub const PAGE_SIZE: u64 = 100;

/// Everything but RFC 3986 unreserved characters is escaped, so `/`-free names with spaces,
/// `+`, `@`, `%`, `?`, `#` or non-ASCII letters address the right object.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// The two collections the connector writes to (`Collection` is the paging trait).
#[derive(Clone, Copy)]
enum Written {
    Users,
    Roles,
}

impl Written {
    fn path(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Roles => "roles",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Users => "user",
            Self::Roles => "role",
        }
    }

    /// The FAB resource whose permissions guard it.
    fn resource(self) -> &'static str {
        match self {
            Self::Users => "Users",
            Self::Roles => "Roles",
        }
    }
}

fn parse<D: DeserializeOwned>(what: &str, response: &Response) -> Result<D> {
    parse_body(what, response)
}

/// `what` followed by the request it made, e.g. `listing users (GET /api/v2/users)`. The query
/// is left out: it adds nothing a reader needs.
fn naming(what: &str, method: Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{what} ({} {path})", method.as_str())
}

/// The final answer to a request after its retries.
struct Answer {
    response: Response,
    /// Whether an earlier attempt got no usable answer: a write may then have happened already.
    retried: bool,
}

/// What `create_user` found.
pub enum Created {
    /// Airflow created the user and answered with it.
    New(User),
    /// The name or e-mail is taken (409).
    Taken(Error),
    /// An attempt's answer was lost (or refused as transient) and reading back found the user:
    /// it was probably created by that attempt, or by someone else meanwhile.
    FoundAfterRetry(User),
}

fn role_names(roles: &[String]) -> Vec<RoleName> {
    roles
        .iter()
        .map(|name| RoleName { name: name.clone() })
        .collect()
}

/// One page of a collection and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub offset: u64,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn into_read(self) -> crate::paging::Read<T> {
        crate::paging::Read {
            rows: self.items,
            total: self.total,
        }
    }
}

/// How requests carry credentials, decided once the generation is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// A JWT from `/auth/token` (FastAPI FAB).
    Jwt,
    /// HTTP Basic on every request.
    Basic,
    /// The cookie of the web form login.
    Session,
    /// The operator's static bearer token.
    Bearer,
    /// None: the host authenticates every request.
    Host,
}

/// The session of the form login, when the scheme is `Session`.
#[derive(Debug, Default)]
struct FormSession {
    cookies: CookieJar,
    /// The last login form's CSRF token, kept only to scrub messages.
    csrf_token: Option<String>,
    /// Whether a request succeeded with the current cookie: only then can a 401/403 mean that
    /// the session ended rather than that the account lacks a permission.
    proven: bool,
    logins: u32,
}

pub struct Client<T: Transport> {
    transport: T,
    base_url: String,
    credentials: Credentials,
    /// Configured, or detected once and kept for the instance.
    generation: Option<Generation>,
    /// Requests spent finding out the generation.
    detection_requests: u32,
    /// The JWT from password sign-in, and when to renew it (when its expiry is readable).
    jwt: Option<(String, Option<u64>)>,
    /// The generation was inferred from a successful sign-in and the first API call will
    /// confirm it: Airflow 3.0's FAB 2.x signs in too, but its Connexion API refuses the JWT.
    unconfirmed: bool,
    /// Minimum spacing between two requests, and when the last one left.
    request_interval: std::time::Duration,
    last_request: std::cell::Cell<Option<std::time::Instant>>,
    /// How credentials travel, and why, for the operator's summary.
    scheme: Option<(Scheme, &'static str)>,
    session: FormSession,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, config: &Config) -> Self {
        Client {
            transport,
            base_url: config.base_url.clone(),
            credentials: config.credentials.clone(),
            generation: config.api_generation,
            detection_requests: 0,
            jwt: None,
            unconfirmed: false,
            request_interval: std::time::Duration::from_millis(config.request_interval_ms),
            last_request: std::cell::Cell::new(None),
            scheme: None,
            session: FormSession::default(),
        }
    }

    /// The account the connector acts as, when known.
    pub fn identity(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Password { username, .. } => Some(username),
            Credentials::Token { username, .. } | Credentials::Host { username, .. } => {
                username.as_deref()
            }
        }
    }

    fn who(&self) -> String {
        match (self.identity(), &self.credentials) {
            (Some(u), _) => format!("the account `{u}`"),
            (None, Credentials::Host { .. }) => "the host's identity".into(),
            (None, _) => "the token's account".into(),
        }
    }

    /// How the requests were authenticated and why, once known: for the operator's summary.
    pub fn auth_summary(&self) -> Option<String> {
        let (scheme, why) = self.scheme?;
        let what = match scheme {
            Scheme::Jwt => "JWT from /auth/token",
            Scheme::Basic => "HTTP Basic",
            Scheme::Session => "session cookie of the form login",
            Scheme::Bearer => "bearer token",
            Scheme::Host => "provided by the host",
        };
        let logins = match scheme {
            Scheme::Session => format!(", {} login(s)", self.session.logins),
            _ => String::new(),
        };
        Some(format!("{what} ({why}{logins})"))
    }

    /// The generation if configured or already detected; never sends a request.
    pub fn known_generation(&self) -> Option<Generation> {
        self.generation
    }

    pub fn detection_requests(&self) -> u32 {
        self.detection_requests
    }

    /// The API generation: configured, or found once per instance. With a password, the
    /// sign-in itself tells: FastAPI FAB (FAB ≥ 3.5) answers it with a JWT, so a modern server
    /// costs no request beyond sign-in; see `detect_by_signing_in`. With a static token, or a
    /// password pinned to the form login (which has no use for a JWT), one unauthenticated
    /// probe (two for Airflow 2); see `generation::detect`.
    pub fn generation(&mut self) -> Result<Generation> {
        if let Some(g) = self.generation {
            return Ok(g);
        }
        if let Credentials::Password {
            username,
            password,
            login,
        } = &self.credentials
        {
            if *login == Login::Session {
                return self.detect_by_probing();
            }
            let (username, password) = (username.clone(), password.clone());
            return self.detect_by_signing_in(&username, &password);
        }
        self.detect_by_probing()
    }

    fn detect_by_probing(&mut self) -> Result<Generation> {
        // An empty body: no credentials are sent, and no login is attempted or counted.
        let token_probe = self.probe(Method::Post, "/auth/token", Some("{}".into()))?;
        let mut seen = format!("POST /auth/token {{}} -> {token_probe}");
        let v1_health = if generation::needs_v1_probe(token_probe) {
            let status = self.probe(Method::Get, "/api/v1/health", None)?;
            seen.push_str(&format!(", GET /api/v1/health -> {status}"));
            Some(status)
        } else {
            None
        };
        let found =
            generation::detect(token_probe, v1_health).ok_or_else(|| self.unrecognised(&seen))?;
        self.generation = Some(found);
        Ok(found)
    }

    /// Signs in at `/auth/token`. A JWT means Airflow 3 and, most likely, FastAPI FAB: the first
    /// API call confirms it (see `exchange`). No such endpoint (404) means Airflow 2, which
    /// `GET /api/v1/health` confirms.
    fn detect_by_signing_in(&mut self, username: &str, password: &str) -> Result<Generation> {
        match self.sign_in(username, password) {
            Ok(_) => {
                self.generation = Some(Generation::FabFastApi);
                self.unconfirmed = true;
                Ok(Generation::FabFastApi)
            }
            Err(SignIn::Missing) => {
                self.detection_requests += 1;
                let health = self.probe(Method::Get, "/api/v1/health", None)?;
                match generation::detect(404, Some(health)) {
                    Some(found) => {
                        self.generation = Some(found);
                        Ok(found)
                    }
                    None => Err(self.unrecognised(&format!(
                        "POST /auth/token -> 404, GET /api/v1/health -> {health}"
                    ))),
                }
            }
            Err(SignIn::Failed(e)) => Err(e),
        }
    }

    fn unrecognised(&self, seen: &str) -> Error {
        Error::Unsupported(format!(
            "{} does not answer like any supported Airflow API ({seen}); check `base_url`, \
             or set `api_generation` to one of fab-fastapi, fab-connexion, airflow2",
            self.base_url
        ))
    }

    fn probe(&mut self, method: Method, path: &str, body: Option<String>) -> Result<u16> {
        self.detection_requests += 1;
        let what = naming("finding out the Airflow API generation", method, path);
        let request = self.json_request(method, path, None, body);
        Ok(self.send(&request, &what)?.status)
    }

    fn path(&mut self, rest: &str) -> Result<String> {
        Ok(format!("{}{rest}", self.generation()?.prefix()))
    }

    pub fn users_page(&mut self, offset: u64, limit: u64) -> Result<Page<User>> {
        self.page::<UserCollection>("listing users", "users", offset, limit)
    }

    pub fn roles_page(&mut self, offset: u64, limit: u64) -> Result<Page<Role>> {
        self.page::<RoleCollection>("listing roles", "roles", offset, limit)
    }

    /// Several pages of users, their requests sent at once (see [`Client::pages_at_once`]).
    pub fn users_pages_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<Page<User>>>> {
        self.pages_at_once::<UserCollection>("listing users", "users", reads)
    }

    pub fn roles_pages_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<Page<Role>>>> {
        self.pages_at_once::<RoleCollection>("listing roles", "roles", reads)
    }

    pub fn role(&mut self, name: &str) -> Result<Role> {
        let path = self.path(&format!("/roles/{}", encode_segment(name)))?;
        self.get_json(&format!("reading role `{name}`"), &path)
    }

    pub fn user(&mut self, username: &str) -> Result<User> {
        let path = self.path(&format!("/users/{}", encode_segment(username)))?;
        self.get_json(&format!("reading user `{username}`"), &path)
    }

    fn page<C>(
        &mut self,
        what: &str,
        collection: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<C::Item>>
    where
        C: Collection + DeserializeOwned,
    {
        let path = self.path(&format!("/{collection}?limit={limit}&offset={offset}"))?;
        let (items, total) = self.get_json::<C>(what, &path)?.into_parts();
        Ok(Page {
            items,
            offset,
            total,
        })
    }

    /// Pages whose requests go out together, each answered `Some` only when it came back as a
    /// page: anything else (a refusal, a throttle, a transport failure, an unreadable body) is
    /// None, and the caller reads that page again through [`Client::users_page`], which
    /// retries, signs in again and says what went wrong. Under `request_interval_ms`, or while
    /// the first API call has still to confirm how credentials travel, every page is None:
    /// pacing and detection read one page at a time.
    fn pages_at_once<C>(
        &mut self,
        what: &str,
        collection: &str,
        reads: &[(u64, u64)],
    ) -> Result<Vec<Option<Page<C::Item>>>>
    where
        C: Collection + DeserializeOwned,
    {
        if !self.request_interval.is_zero() || self.unconfirmed || self.scheme.is_none() {
            return Ok(reads.iter().map(|_| None).collect());
        }
        let credential = self.credential()?;
        let mut requests = Vec::with_capacity(reads.len());
        for &(offset, limit) in reads {
            let path = self.path(&format!("/{collection}?limit={limit}&offset={offset}"))?;
            requests.push(self.json_request(Method::Get, &path, credential.clone(), None));
        }
        self.last_request.set(Some(std::time::Instant::now()));
        let answers = self.transport.send_all(&requests);
        let pages: Vec<Option<Page<C::Item>>> = reads
            .iter()
            .zip(answers)
            .map(|(&(offset, _), answer)| {
                let response = answer.ok().filter(|r| (200..=299).contains(&r.status))?;
                let (items, total) = parse::<C>(what, &response).ok()?.into_parts();
                Some(Page {
                    items,
                    offset,
                    total,
                })
            })
            .collect();
        // As `exchange` does: a page served to the cookie proves the session, so a refusal
        // later means it ended.
        if self.scheme.map(|(s, _)| s) == Some(Scheme::Session) && pages.iter().any(Option::is_some)
        {
            self.session.proven = true;
        }
        Ok(pages)
    }

    /// How credentials travel on this server: decided once, when the generation is known,
    /// from `auth_mode` (see `Login`). On Airflow 2 and on Airflow 3.0's Connexion API `auto`
    /// tries the form login first, since Basic makes Airflow hash the password on every request.
    fn scheme(&mut self) -> Result<Scheme> {
        if let Some((scheme, _)) = self.scheme {
            return Ok(scheme);
        }
        let generation = self.generation()?;
        let (scheme, why) = match (&self.credentials, generation) {
            (Credentials::Token { .. }, _) => (Scheme::Bearer, "auth_mode `token`"),
            (Credentials::Host { .. }, _) => (Scheme::Host, "`host_auth` is set"),
            (Credentials::Password { login, .. }, Generation::FabFastApi) => {
                if *login == Login::Session {
                    return Err(Error::config(
                        crate::config::AUTH_MODE,
                        "is `session`, but this server's FAB API (Airflow 3, FAB provider 3.3 or \
                         newer) accepts only a JWT: set `auth_mode` to `auto` or `password`",
                    ));
                }
                (Scheme::Jwt, "the only sign-in this API accepts")
            }
            (Credentials::Password { login, .. }, _) => match login {
                Login::Direct => (Scheme::Basic, "auth_mode `password`"),
                Login::Session => (Scheme::Session, "auth_mode `session`"),
                // Airflow 2, and Airflow 3.0's FAB 2.x (BENCHMARKS.md, "Basic vs the session
                // login"). On 3.0 the detection's JWT sign-in and its refused first call come
                // first; neither sends Basic.
                Login::Auto => {
                    let airflow2 = generation == Generation::Airflow2;
                    match (self.log_in()?, airflow2) {
                        (FormLogin::SignedIn, true) => (
                            Scheme::Session,
                            "auto: Airflow 2 hashes the password on every Basic request, a \
                             session costs one login",
                        ),
                        (FormLogin::SignedIn, false) => (
                            Scheme::Session,
                            "auto: this Airflow 3.0 FAB API refuses the JWT and hashes the \
                             password on every Basic request, a session costs one login",
                        ),
                        (FormLogin::NoForm, true) => (
                            Scheme::Basic,
                            "auto: the server has no password form at /login/",
                        ),
                        (FormLogin::NoForm, false) => (
                            Scheme::Basic,
                            "auto: the server has no password form at /auth/login/",
                        ),
                    }
                }
            },
        };
        self.scheme = Some((scheme, why));
        Ok(scheme)
    }

    /// The credential header for the next request, signing in or renewing first when needed.
    fn credential(&mut self) -> Result<Option<(&'static str, String)>> {
        let scheme = self.scheme()?;
        let (username, password) = match &self.credentials {
            Credentials::Token { token, .. } => {
                return Ok(Some(("authorization", format!("Bearer {token}"))))
            }
            Credentials::Host { .. } => return Ok(None),
            Credentials::Password {
                username, password, ..
            } => (username.clone(), password.clone()),
        };
        match scheme {
            Scheme::Basic => {
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Ok(Some(("authorization", format!("Basic {pair}"))))
            }
            Scheme::Session => {
                if self.session.cookies.is_empty() {
                    if let FormLogin::NoForm = self.log_in()? {
                        return Err(self.no_form());
                    }
                }
                Ok(self.session.cookies.header().map(|c| ("cookie", c)))
            }
            _ => {
                let now = self.transport.now_unix();
                let token = match &self.jwt {
                    Some((token, expiry)) if !jwt::needs_renewal(*expiry, now) => token.clone(),
                    _ => self
                        .sign_in(&username, &password)
                        .map_err(SignIn::into_error)?,
                };
                Ok(Some(("authorization", format!("Bearer {token}"))))
            }
        }
    }

    fn login_path(&self) -> &'static str {
        match self.generation {
            Some(Generation::Airflow2) | None => login::AIRFLOW2_LOGIN_PATH,
            Some(_) => login::FAB_AUTH_LOGIN_PATH,
        }
    }

    fn no_form(&self) -> Error {
        Error::Unsupported(format!(
            "{}{} has no username and password form (the server signs in through OAuth, OpenID \
             or a proxy): the session login cannot work; set `auth_mode` to `password` (HTTP \
             Basic, if the server enables it) or `token`",
            self.base_url,
            self.login_path()
        ))
    }

    /// The web form login: `GET` the form for its CSRF token and pre-login cookie, `POST` the
    /// credentials without following the redirect, keep the rotated cookie. Counted, because
    /// Airflow allows five logins in 40 seconds per client.
    fn log_in(&mut self) -> Result<FormLogin> {
        let Credentials::Password {
            username, password, ..
        } = &self.credentials
        else {
            return Ok(FormLogin::NoForm);
        };
        let (username, password) = (username.clone(), password.clone());
        let path = self.login_path();
        self.session = FormSession {
            logins: self.session.logins,
            ..FormSession::default()
        };
        let form = Request {
            method: Method::Get,
            url: format!("{}{path}", self.base_url),
            headers: vec![("accept".into(), "text/html".into())],
            body: None,
        };
        let what = format!("opening the login form (GET {path})");
        let page = self.send(&form, &what)?;
        if page.status == 404
            || ((200..=299).contains(&page.status) && !login::has_password_form(&page.body))
        {
            return Ok(FormLogin::NoForm);
        }
        if !(200..=299).contains(&page.status) {
            return Err(status_error(&what, &page));
        }
        self.session.cookies.absorb(&page);
        let csrf = login::csrf_token(&page.body);
        self.session.csrf_token.clone_from(&csrf);
        let mut headers = vec![
            ("accept".to_string(), "text/html".to_string()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        if let Some(cookie) = self.session.cookies.header() {
            headers.push(("cookie".into(), cookie));
        }
        // As a browser does: over HTTPS, Flask-WTF refuses a form POST without a same-origin
        // Referer.
        headers.push(("referer".into(), form.url.clone()));
        let post = Request {
            method: Method::Post,
            url: form.url.clone(),
            headers,
            body: Some(login::form_body(csrf.as_deref(), &username, &password).into_bytes()),
        };
        let what = format!("signing in with the login form (POST {path})");
        let answer = self.send_login(&post, &what)?;
        self.session.logins += 1;
        match login::verdict(&answer) {
            login::Verdict::SignedIn => {
                self.session.cookies.absorb(&answer);
                if self.session.cookies.is_empty() {
                    return Err(Error::UpstreamProtocol(format!(
                        "{what}: Airflow accepted the login but set no session cookie"
                    )));
                }
                Ok(FormLogin::SignedIn)
            }
            login::Verdict::Refused => Err(Error::Unauthenticated(format!(
                "{what}: Airflow refused the login of `{username}` (it answered {} back to \
                 the login form): check the `username` and `password` settings, and that the \
                 account is active",
                answer.status
            ))),
            login::Verdict::CsrfRejected => Err(Error::UpstreamProtocol(format!(
                "{what}: Airflow answered 400 with {}: the form's CSRF token, its cookie or the \
                 Referer was not accepted (a proxy in front of Airflow must pass cookies and the \
                 `Host` header through unchanged); set `auth_mode` to `password` to use HTTP Basic \
                 instead",
                super::errors::server_detail(&answer)
            ))),
            login::Verdict::Other if answer.status == 429 => Err(Error::RateLimited {
                retry_after_ms: super::errors::retry_after_ms(&answer).or(Some(40_000)),
                message: format!(
                    "{what}: Airflow answered 429: it allows few logins per client (by default 5 \
                     in 40 seconds, `[fab] auth_rate_limit`), and other clients or earlier runs \
                     used them; wait a minute and run again"
                ),
            }),
            login::Verdict::Other => Err(status_error(&what, &answer)),
        }
    }

    /// Sends the login POST: a lost connection or a 5xx is retried like any request, but a 429
    /// is final, since every further POST counts against the same login limit.
    fn send_login(&self, request: &Request, what: &str) -> Result<Response> {
        let mut backoff = Backoff::new();
        loop {
            let outcome = self.send_once(request);
            if let Ok(response) = &outcome {
                if response.status == 429 {
                    return Ok(response.clone());
                }
            }
            match backoff.judge(what, &self.unreachable(), &outcome) {
                Verdict::Final => {
                    return outcome.map_err(|e| {
                        Error::Unavailable(format!("{what}: {}: {e}", self.unreachable()))
                    })
                }
                Verdict::Again(pause) => self.transport.pause(pause),
                Verdict::GiveUp(e) => return Err(e),
            }
        }
    }

    /// Whether a 401 may be an expired JWT worth one renewal.
    fn renewable(&self) -> bool {
        self.jwt.is_some() && matches!(self.credentials, Credentials::Password { .. })
    }

    /// Exchanges the password for a JWT at /auth/token and keeps it.
    fn sign_in(&mut self, username: &str, password: &str) -> std::result::Result<String, SignIn> {
        let body = serde_json::json!({ "username": username, "password": password });
        let request = self.json_request(Method::Post, "/auth/token", None, Some(body.to_string()));
        let response = self.send(&request, "signing in (POST /auth/token)")?;
        match response.status {
            200..=299 => {}
            401 => {
                return Err(SignIn::Failed(Error::Unauthenticated(format!(
                    "Airflow rejected the credentials of `{username}`: check the `username` and `password` settings"
                ))))
            }
            404 if self.generation.is_none() => return Err(SignIn::Missing),
            404 => {
                return Err(SignIn::Failed(Error::Unsupported(format!(
                    "{} has no /auth/token endpoint, so it is not Airflow 3 with the FAB provider \
                     3.5 or newer; set `api_generation` to fab-connexion or airflow2, or to auto",
                    self.base_url
                ))))
            }
            _ => return Err(SignIn::Failed(status_error("signing in at /auth/token", &response))),
        }
        // The parse error is not shown: it could quote the token.
        let token: Token = serde_json::from_slice(&response.body).map_err(|_| {
            Error::UpstreamProtocol(format!(
                "signing in: Airflow answered {} without an `access_token` string",
                response.status
            ))
        })?;
        self.jwt = Some((
            token.access_token.clone(),
            jwt::renew_at(&token.access_token),
        ));
        Ok(token.access_token)
    }

    /// Checks that the credentials work, signing in where the API has sign-in.
    pub fn authenticate(&mut self) -> Result<()> {
        self.credential().map(|_| ())
    }

    /// Replaces the user's whole role list (`update_mask=roles`); returns the user as written.
    /// Connexion-based APIs validate the body against the whole user, so it carries the
    /// identity fields as read (the mask keeps them unchanged).
    pub fn set_user_roles(&mut self, user: &User, roles: &[String]) -> Result<User> {
        let username = &user.username;
        let what = format!("changing the roles of user `{username}`");
        let path = self.path(&format!(
            "/users/{}?update_mask=roles",
            encode_segment(username)
        ))?;
        let body = if self.generation()?.patch_needs_identity_fields() {
            serde_json::json!({
                "username": username,
                "email": user.email.clone().unwrap_or_default(),
                "first_name": user.first_name.clone().unwrap_or_default(),
                "last_name": user.last_name.clone().unwrap_or_default(),
                "roles": role_names(roles),
            })
        } else {
            serde_json::json!({ "roles": role_names(roles) })
        };
        // Retried like a read: it sets the whole list, so a repeat writes the same thing, and
        // the caller verifies the result by reading the user back.
        let what = naming(&what, Method::Patch, &path);
        let response = self
            .authorized(Method::Patch, &what, &path, Some(&body))?
            .response;
        if !(200..=299).contains(&response.status) {
            return Err(self.write_error(&what, &response, Written::Users));
        }
        parse(&what, &response)
    }

    /// Creates a user. A POST is not repeated blindly: before each retry the user is read
    /// back, since a lost answer may hide a success and a second POST would then answer 409.
    pub fn create_user(&mut self, user: &NewUser) -> Result<Created> {
        let path = self.path("/users")?;
        let what = naming(
            &format!("creating user `{}`", user.username),
            Method::Post,
            &path,
        );
        let body = serde_json::to_value(user).map_err(|e| {
            Error::InvalidArgument(format!("{what}: cannot encode the request: {e}"))
        })?;
        let mut backoff = Backoff::new();
        let response = loop {
            let outcome = self.exchange(Method::Post, &path, Some(&body))?;
            match backoff.judge(&what, &self.unreachable(), &outcome) {
                Verdict::Final => break self.answered(&what, outcome)?,
                Verdict::GiveUp(e) => return Err(e),
                Verdict::Again(pause) => {
                    self.transport.pause(pause);
                    match self.user(&user.username) {
                        Ok(found) => return Ok(Created::FoundAfterRetry(found)),
                        Err(Error::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        match response.status {
            200..=299 => parse(&what, &response).map(Created::New),
            409 => Ok(Created::Taken(status_error(&what, &response))),
            _ => Err(self.write_error(&what, &response, Written::Users)),
        }
    }

    /// Creates a role with its permissions; `Ok(Err(conflict))` when the name is taken. The
    /// answer is not used: Airflow 2 and Connexion answer `{}`, so callers read the role back.
    pub fn create_role(
        &mut self,
        name: &str,
        permissions: &[Permission],
    ) -> Result<std::result::Result<(), Error>> {
        let what = format!("creating role `{name}`");
        let body = serde_json::json!({ "name": name, "actions": action_list(permissions) });
        let path = self.path("/roles")?;
        let what = naming(&what, Method::Post, &path);
        // Retried: the caller reads the role back and compares its permissions, so a repeat
        // cannot make a wrong role look right.
        let answer = self.authorized(Method::Post, &what, &path, Some(&body))?;
        let response = answer.response;
        match response.status {
            200..=299 => Ok(Ok(())),
            // After a lost answer, the name is most likely taken by our own earlier attempt.
            409 if answer.retried => Ok(Ok(())),
            409 => Ok(Err(status_error(&what, &response))),
            _ => Err(self.write_error(&what, &response, Written::Roles)),
        }
    }

    /// Replaces the role's permissions (`update_mask=actions`). FastAPI FAB replaces the set;
    /// the Connexion APIs only add to it, so callers read the role back.
    pub fn set_role_permissions(&mut self, name: &str, permissions: &[Permission]) -> Result<()> {
        let what = format!("changing the permissions of role `{name}`");
        let path = self.path(&format!(
            "/roles/{}?update_mask=actions",
            encode_segment(name)
        ))?;
        let body = serde_json::json!({ "name": name, "actions": action_list(permissions) });
        // Retried like a read: it sets the whole list, and the caller reads the role back.
        let what = naming(&what, Method::Patch, &path);
        let response = self
            .authorized(Method::Patch, &what, &path, Some(&body))?
            .response;
        if !(200..=299).contains(&response.status) {
            return Err(self.write_error(&what, &response, Written::Roles));
        }
        Ok(())
    }

    /// Deletes a role; `Ok(false)` when there was no such role.
    pub fn delete_role(&mut self, name: &str) -> Result<bool> {
        self.delete(Written::Roles, name)
    }

    /// Deletes a user; `Ok(false)` when there was no such user.
    pub fn delete_user(&mut self, username: &str) -> Result<bool> {
        self.delete(Written::Users, username)
    }

    fn delete(&mut self, collection: Written, name: &str) -> Result<bool> {
        let what = format!("deleting {} `{name}`", collection.noun());
        let path = self.path(&format!("/{}/{}", collection.path(), encode_segment(name)))?;
        let what = naming(&what, Method::Delete, &path);
        // Retried: deleting twice deletes once.
        let answer = self.authorized(Method::Delete, &what, &path, None)?;
        let response = answer.response;
        match response.status {
            200..=299 => Ok(true),
            // After a lost answer, our own earlier attempt deleted it.
            404 if answer.retried => Ok(true),
            404 => Ok(false),
            _ => Err(self.write_error(&what, &response, collection)),
        }
    }

    fn get_json<D: DeserializeOwned>(&mut self, what: &str, path: &str) -> Result<D> {
        let what = &naming(what, Method::Get, path);
        let response = self.authorized(Method::Get, what, path, None)?.response;
        if !(200..=299).contains(&response.status) {
            return Err(self.api_error(what, &response, "can_read on Users and Roles"));
        }
        parse(what, &response)
    }

    /// Sends with credentials, retrying transient failures; only for requests that are safe
    /// to repeat (reads, and writes the caller verifies or that are idempotent).
    fn authorized(
        &mut self,
        method: Method,
        what: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut backoff = Backoff::new();
        loop {
            let outcome = self.exchange(method, path, body)?;
            match backoff.judge(what, &self.unreachable(), &outcome) {
                Verdict::Final => {
                    return Ok(Answer {
                        response: self.answered(what, outcome)?,
                        retried: backoff.attempts() > 1,
                    })
                }
                Verdict::Again(pause) => self.transport.pause(pause),
                Verdict::GiveUp(e) => return Err(e),
            }
        }
    }

    /// One attempt with credentials; a 401 on a signed-in JWT (expired early, or revoked)
    /// renews it once and sends again, never more.
    fn exchange(&mut self, method: Method, path: &str, body: Option<&Value>) -> Result<Outcome> {
        let renewable = self.renewable();
        let outcome = self.send_authorized_once(method, path, body)?;
        if let (true, Ok(response)) = (self.unconfirmed, &outcome) {
            self.unconfirmed = false;
            {
                if refuses_jwt_as_connexion(response) {
                    // Airflow 3.0 with FAB ≤ 3.1: its token route signs in, its Connexion API
                    // takes Basic or the form login's session. The sign-in and this call were
                    // spent finding that out.
                    self.generation = Some(Generation::FabConnexion);
                    self.jwt = None;
                    self.scheme = None;
                    self.detection_requests += 2;
                    let outcome = self.send_authorized_once(method, path, body)?;
                    // The session's first answer proves it, as below: a later refusal then
                    // means it ended.
                    if self.scheme.map(|(s, _)| s) == Some(Scheme::Session)
                        && matches!(&outcome, Ok(r) if (200..=299).contains(&r.status))
                    {
                        self.session.proven = true;
                    }
                    return Ok(outcome);
                }
            }
        }
        if renewable && matches!(&outcome, Ok(r) if r.status == 401) {
            self.jwt = None;
            return self.send_authorized_once(method, path, body);
        }
        if self.scheme.map(|(s, _)| s) == Some(Scheme::Session) {
            match &outcome {
                Ok(r) if (200..=299).contains(&r.status) => self.session.proven = true,
                // A cookie that worked and is now refused: the session ended (Airflow answers
                // 403 to an expired one). One login, one resend; the fresh cookie is unproven,
                // so a 403 to it is a missing permission and never another login.
                Ok(r) if matches!(r.status, 401 | 403) && self.session.proven => {
                    self.session.proven = false;
                    if let FormLogin::NoForm = self.log_in()? {
                        return Err(self.no_form());
                    }
                    return self.send_authorized_once(method, path, body);
                }
                _ => {}
            }
        }
        Ok(outcome)
    }

    fn send_authorized_once(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Outcome> {
        let credential = self.credential()?;
        let request = self.json_request(method, path, credential, body.map(Value::to_string));
        Ok(self.send_once(&request))
    }

    /// A request to `path` under the base URL that accepts JSON and, with a body, sends it.
    fn json_request(
        &self,
        method: Method,
        path: &str,
        credential: Option<(&'static str, String)>,
        body: Option<String>,
    ) -> Request {
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if let Some((name, value)) = credential {
            headers.push((name.into(), value));
        }
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        Request {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(String::into_bytes),
        }
    }

    /// Waits, through the transport (so tests need not).
    pub fn pause(&self, duration: std::time::Duration) {
        self.transport.pause(duration);
    }

    /// Sends a request without credentials, which is always safe to repeat, retrying
    /// transient failures.
    fn send(&self, request: &Request, what: &str) -> Result<Response> {
        let mut backoff = Backoff::new();
        loop {
            let outcome = self.send_once(request);
            match backoff.judge(what, &self.unreachable(), &outcome) {
                Verdict::Final => return self.answered(what, outcome),
                Verdict::Again(pause) => self.transport.pause(pause),
                Verdict::GiveUp(e) => return Err(e),
            }
        }
    }

    /// One attempt, paced.
    fn send_once(&self, request: &Request) -> Outcome {
        // Pacing protects a busy server (Basic auth hashes the password on every request).
        if let Some(last) = self.last_request.get() {
            let since = last.elapsed();
            if since < self.request_interval {
                self.transport.pause(self.request_interval - since);
            }
        }
        self.last_request.set(Some(std::time::Instant::now()));
        self.transport.send(request)
    }

    fn unreachable(&self) -> String {
        format!("cannot reach {}", self.base_url)
    }

    /// The response of a final outcome. A redirect is an error for every caller: following it
    /// would send credentials wherever it points.
    fn answered(&self, what: &str, outcome: Outcome) -> Result<Response> {
        let response = outcome
            .map_err(|e| Error::Unavailable(format!("{what}: {}: {e}", self.unreachable())))?;
        if (300..=399).contains(&response.status) {
            return Err(redirect_error(what, &response));
        }
        Ok(response)
    }

    /// Every credential value this client holds or derived, for scrubbing messages.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.credentials {
            Credentials::Password {
                username, password, ..
            } => {
                out.push(password.clone());
                out.push(login::form_value(password));
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}")),
                );
            }
            Credentials::Token { token, .. } => out.push(token.clone()),
            Credentials::Host { .. } => {}
        }
        if let Some((token, _)) = &self.jwt {
            out.push(token.clone());
        }
        out.extend(self.session.cookies.values().map(str::to_string));
        out.extend(self.session.csrf_token.clone());
        out.retain(|s| !s.is_empty());
        out
    }

    /// A failed write: a rejected role name is a missing role; other 400/422s are bad input.
    fn write_error(&self, what: &str, response: &Response, on: Written) -> Error {
        match status_error(what, response) {
            Error::UpstreamProtocol(m) if response.status == 400 && m.contains("Unknown roles") => {
                Error::NotFound(m)
            }
            Error::UpstreamProtocol(m) if matches!(response.status, 400 | 422) => {
                Error::InvalidArgument(m)
            }
            _ => self.api_error(
                what,
                response,
                &format!("can_create, can_edit and can_delete on {}", on.resource()),
            ),
        }
    }

    fn api_error(&self, what: &str, response: &Response, needs: &str) -> Error {
        let settings = match &self.credentials {
            Credentials::Password { .. } => "the `username` and `password` settings",
            Credentials::Token { .. } => "the `token` setting",
            Credentials::Host { scheme, .. } => {
                return self.host_auth_error(what, response, scheme, needs)
            }
        };
        // Only Basic leaves 403 ambiguous: a session exists only after a successful login.
        let airflow2 = self.generation == Some(Generation::Airflow2)
            && self.scheme.map(|(s, _)| s) != Some(Scheme::Session);
        match status_error(what, response) {
            // Airflow 2 answers 403 to wrong or missing credentials too.
            Error::PermissionDenied(m) if airflow2 => Error::Unauthenticated(format!(
                "{m} (Airflow 2 answers 403 both to wrong credentials and to missing permissions: \
                 check {settings}, and that {} has {needs})",
                self.who()
            )),
            Error::PermissionDenied(m) => {
                Error::PermissionDenied(format!("{m} ({} needs {needs})", self.who()))
            }
            Error::Unauthenticated(m) => Error::Unauthenticated(format!("{m} (check {settings})")),
            other => other,
        }
    }
}

impl<T: Transport> Client<T> {
    /// A refusal of a request the host authenticated: the usual causes are on the Airflow side.
    fn host_auth_error(&self, what: &str, response: &Response, scheme: &str, needs: &str) -> Error {
        let kerberos = if scheme == "negotiate" {
            "; with Kerberos the Airflow user must be named after the full principal (e.g. \
             `alice@EXAMPLE.COM`), and with the FAB provider's kerberos_auth backend the server \
             needs `AUTH_ROLE_PUBLIC = None` in webserver_config.py, or every request is anonymous"
        } else {
            ""
        };
        match status_error(what, response) {
            Error::Unauthenticated(m) => Error::Unauthenticated(format!(
                "{m} (Airflow did not accept the credentials the host attached for `host_auth` \
                 `{scheme}`{kerberos})"
            )),
            Error::PermissionDenied(m) => Error::PermissionDenied(format!(
                "{m} (the host authenticated the request with `{scheme}`: {} needs {needs}, or \
                 Airflow has no user for that identity and treats the request as anonymous{kerberos})",
                self.who()
            )),
            other => other,
        }
    }
}

/// What the form login found.
enum FormLogin {
    SignedIn,
    /// No username/password form (OAuth, OpenID, remote user): the caller falls back or says so.
    NoForm,
}

/// Why a sign-in gave no token.
enum SignIn {
    /// No `/auth/token` (404) while the generation is still unknown: not Airflow 3.
    Missing,
    Failed(Error),
}

impl SignIn {
    fn into_error(self) -> Error {
        match self {
            SignIn::Missing => Error::Unsupported(
                "the server has no /auth/token endpoint; set `api_generation`".into(),
            ),
            SignIn::Failed(e) => e,
        }
    }
}

impl From<Error> for SignIn {
    fn from(e: Error) -> Self {
        SignIn::Failed(e)
    }
}

/// A 401 in Connexion's problem+json to a fresh JWT: FastAPI FAB answers a JWT it cannot use
/// with its own `{"detail"}` JSON (measured on 3.0.6 + FAB 2.4.4 and 3.3.2 + FAB 3.10.2).
fn refuses_jwt_as_connexion(response: &Response) -> bool {
    response.status == 401
        && response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json"))
}

/// Permissions as the role bodies spell them.
fn action_list(permissions: &[Permission]) -> Vec<Value> {
    permissions
        .iter()
        .map(|p| {
            serde_json::json!({"action": {"name": p.action.name}, "resource": {"name": p.resource.name}})
        })
        .collect()
}
