//! A small, synchronous Airflow FAB API client over any `Transport`.
//!
//! It holds the JWT for the life of the instance and renews it once when a call answers 401
//! (an expired token), never in a loop.

use super::api::{
    Collection, NewUser, Role, RoleCollection, RoleName, Token, User, UserCollection,
};
use super::errors::status_error;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{Method, Request, Response, Transport};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Airflow clamps larger limits to `[api] maximum_page_limit` (100 by default).
pub const PAGE_SIZE: u64 = 100;

const FAB: &str = "/auth/fab/v1";

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

fn parse<D: DeserializeOwned>(what: &str, response: &Response) -> Result<D> {
    serde_json::from_slice(&response.body).map_err(|e| {
        Error::UpstreamProtocol(format!(
            "{what}: Airflow answered {} with JSON of an unexpected shape: {e}",
            response.status
        ))
    })
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
    /// The offset of the next page, advancing by the rows received (servers clamp `limit`
    /// silently), or None when this page was the last.
    pub fn next_offset(&self) -> Option<u64> {
        let next = self.offset.saturating_add(self.items.len() as u64);
        if self.items.is_empty() || next >= self.total {
            None
        } else {
            Some(next)
        }
    }
}

pub struct Client<T: Transport> {
    transport: T,
    base_url: String,
    username: String,
    password: String,
    token: Option<String>,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, config: &Config) -> Self {
        Client {
            transport,
            base_url: config.base_url.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
            token: None,
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn users_page(&mut self, offset: u64, limit: u64) -> Result<Page<User>> {
        self.page::<UserCollection>("listing users", "users", offset, limit)
    }

    pub fn roles_page(&mut self, offset: u64, limit: u64) -> Result<Page<Role>> {
        self.page::<RoleCollection>("listing roles", "roles", offset, limit)
    }

    pub fn role(&mut self, name: &str) -> Result<Role> {
        let path = format!("{FAB}/roles/{}", encode_segment(name));
        self.get_json(&format!("reading role `{name}`"), &path)
    }

    pub fn user(&mut self, username: &str) -> Result<User> {
        let path = format!("{FAB}/users/{}", encode_segment(username));
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
        let path = format!("{FAB}/{collection}?limit={limit}&offset={offset}");
        let (items, total) = self.get_json::<C>(what, &path)?.into_parts();
        Ok(Page {
            items,
            offset,
            total,
        })
    }

    /// Signs in and keeps the token. Called lazily by the first API call.
    pub fn authenticate(&mut self) -> Result<()> {
        let body = serde_json::json!({ "username": self.username, "password": self.password });
        let request = Request {
            method: Method::Post,
            url: format!("{}/auth/token", self.base_url),
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(body.to_string().into_bytes()),
        };
        let response = self.send(&request, "signing in")?;
        match response.status {
            200..=299 => {}
            401 => {
                return Err(Error::Unauthenticated(format!(
                    "Airflow rejected the credentials of `{}`: check the `username` and `password` settings",
                    self.username
                )))
            }
            404 => {
                return Err(Error::Unsupported(format!(
                    "{} has no /auth/token endpoint: this version supports Airflow 3 with the FAB \
                     provider 3.5 or newer; check `base_url` points at the Airflow API server",
                    self.base_url
                )))
            }
            _ => return Err(status_error("signing in at /auth/token", &response)),
        }
        // The parse error is not shown: it could quote the token.
        let token: Token = serde_json::from_slice(&response.body).map_err(|_| {
            Error::UpstreamProtocol(format!(
                "signing in: Airflow answered {} without an `access_token` string",
                response.status
            ))
        })?;
        self.token = Some(token.access_token);
        Ok(())
    }

    /// Replaces the user's whole role list (`update_mask=roles`); returns the user as written.
    pub fn set_user_roles(&mut self, username: &str, roles: &[String]) -> Result<User> {
        let what = format!("changing the roles of user `{username}`");
        let path = format!("{FAB}/users/{}?update_mask=roles", encode_segment(username));
        let body = serde_json::json!({ "roles": role_names(roles) });
        let response = self.authorized(Method::Patch, &what, &path, Some(&body))?;
        if !(200..=299).contains(&response.status) {
            return Err(self.write_error(&what, &response));
        }
        parse(&what, &response)
    }

    /// Creates a user; `Ok(Err(conflict))` when the name or e-mail is taken (409).
    pub fn create_user(&mut self, user: &NewUser) -> Result<std::result::Result<User, Error>> {
        let what = format!("creating user `{}`", user.username);
        let body = serde_json::to_value(user).map_err(|e| {
            Error::InvalidArgument(format!("{what}: cannot encode the request: {e}"))
        })?;
        let response =
            self.authorized(Method::Post, &what, &format!("{FAB}/users"), Some(&body))?;
        match response.status {
            200..=299 => parse(&what, &response).map(Ok),
            409 => Ok(Err(status_error(&what, &response))),
            _ => Err(self.write_error(&what, &response)),
        }
    }

    /// Deletes a user; `Ok(false)` when there was no such user.
    pub fn delete_user(&mut self, username: &str) -> Result<bool> {
        let what = format!("deleting user `{username}`");
        let path = format!("{FAB}/users/{}", encode_segment(username));
        let response = self.authorized(Method::Delete, &what, &path, None)?;
        match response.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.write_error(&what, &response)),
        }
    }

    fn get_json<D: DeserializeOwned>(&mut self, what: &str, path: &str) -> Result<D> {
        let response = self.authorized(Method::Get, what, path, None)?;
        if !(200..=299).contains(&response.status) {
            return Err(self.api_error(what, &response, "can_read on Users and Roles"));
        }
        parse(what, &response)
    }

    /// Sends with the bearer token; on a 401 renews the token once and retries.
    fn authorized(
        &mut self,
        method: Method,
        what: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        let had_token = self.token.is_some();
        let response = self.send_authorized(method, what, path, body)?;
        if response.status == 401 && had_token {
            self.token = None;
            return self.send_authorized(method, what, path, body);
        }
        Ok(response)
    }

    fn send_authorized(
        &mut self,
        method: Method,
        what: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        if self.token.is_none() {
            self.authenticate()?;
        }
        let token = self.token.as_deref().unwrap_or_default();
        let mut headers = vec![
            ("accept".to_string(), "application/json".to_string()),
            ("authorization".to_string(), format!("Bearer {token}")),
        ];
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let request = Request {
            method,
            url: format!("{}{path}", self.base_url),
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
        };
        self.send(&request, what)
    }

    /// Waits, through the transport (so tests need not).
    pub fn pause(&self, duration: std::time::Duration) {
        self.transport.pause(duration);
    }

    fn send(&self, request: &Request, what: &str) -> Result<Response> {
        self.transport
            .send(request)
            .map_err(|e| Error::Unavailable(format!("{what}: cannot reach {}: {e}", self.base_url)))
    }

    /// A failed write: a rejected role name is a missing role; other 400/422s are bad input.
    fn write_error(&self, what: &str, response: &Response) -> Error {
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
                "can_create, can_edit and can_delete on Users",
            ),
        }
    }

    fn api_error(&self, what: &str, response: &Response, needs: &str) -> Error {
        match status_error(what, response) {
            Error::PermissionDenied(m) => Error::PermissionDenied(format!(
                "{m} (the account `{}` needs {needs})",
                self.username
            )),
            Error::Unauthenticated(m) => Error::Unauthenticated(format!(
                "{m} (check the `username` and `password` settings)"
            )),
            other => other,
        }
    }
}
