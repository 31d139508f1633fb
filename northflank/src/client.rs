//! A small, synchronous client of Northflank's org endpoints over any `Transport`. Every
//! request goes through one place, which paces it against the hourly budget, counts it, reads
//! the budget headers of the answer, retries a lost or transient read, and types the failure.

use crate::api::{
    self, DirectoryGroup, DirectoryGroups, DirectoryMember, DirectoryMembers, Member, Members,
    Paged, Role, RoleMember, RoleMembers, Roles, Single, MEMBERS_READ, PER_PAGE, ROLES_MANAGE,
    ROLES_READ,
};
use crate::config::{excerpt, Config};
use crate::errors::status_error;
use crate::ratelimit::{self, Budget, Pace};
use connector_sdk::error::{Error, Result};
use connector_sdk::http::{Method, Request, Response, RetryAfter, Transport};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Everything but RFC 3986 unreserved characters is escaped, in path segments and query values
/// alike (an opaque cursor may hold `+`, `/` or `=`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// Attempts of one read, the first included; writes are sent once and verified by reading.
const READ_ATTEMPTS: u32 = 3;
/// The first pause before repeating a read; doubled each time.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// One page of a listing: its rows and the cursor of the next page (None on the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<R> {
    pub rows: Vec<R>,
    pub cursor: Option<String>,
}

pub struct Client<T: Transport> {
    transport: T,
    base_url: String,
    token: String,
    requests: u64,
    budget: Option<Budget>,
    paced: Duration,
}

/// `what` followed by the request, e.g. `listing org roles (GET /v1/org-roles)`; the query is
/// left out: it adds nothing a reader needs.
fn naming(what: &str, method: Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{what} ({} {path})", method.as_str())
}

fn paged_path(base: &str, cursor: Option<&str>, per_page: u32, extra: &[(&str, &str)]) -> String {
    let mut path = format!("{base}?per_page={per_page}");
    for (k, v) in extra {
        path.push_str(&format!("&{k}={}", encode(v)));
    }
    if let Some(c) = cursor {
        path.push_str(&format!("&cursor={}", encode(c)));
    }
    path
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, config: &Config) -> Self {
        Client {
            transport,
            base_url: config.base_url.clone(),
            token: config.api_token.clone(),
            requests: 0,
            budget: None,
            paced: Duration::ZERO,
        }
    }

    /// What no message may show.
    pub fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    pub fn paced(&self) -> Duration {
        self.paced
    }

    pub fn remaining(&self) -> Option<u64> {
        self.budget.map(|b| b.remaining)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn members_page(&mut self, cursor: Option<&str>, per_page: u32) -> Result<Page<Member>> {
        let path = paged_path("/v1/org-members", cursor, per_page, &[]);
        let page: Paged<Members> = self.get("listing org members", MEMBERS_READ, &path)?;
        Self::page(
            page.data.members,
            page.pagination,
            "listing org members",
            cursor,
        )
    }

    pub fn roles_page(&mut self, cursor: Option<&str>, per_page: u32) -> Result<Page<Role>> {
        let path = paged_path("/v1/org-roles", cursor, per_page, &[]);
        let page: Paged<Roles> = self.get("listing org roles", ROLES_READ, &path)?;
        Self::page(
            page.data.roles,
            page.pagination,
            "listing org roles",
            cursor,
        )
    }

    pub fn role(&mut self, role: &str) -> Result<Role> {
        let path = format!("/v1/org-roles/{}", encode(role));
        let what = format!("reading org role `{}`", excerpt(role));
        let single: Single<Role> = self.get(&what, ROLES_READ, &path)?;
        Ok(single.data)
    }

    /// Members of one role; `user` narrows the listing to one member (the server may ignore
    /// the filter, so callers still check each row's id).
    pub fn role_members_page(
        &mut self,
        role: &str,
        cursor: Option<&str>,
        user: Option<&str>,
    ) -> Result<Page<RoleMember>> {
        let base = format!("/v1/org-roles/{}/members", encode(role));
        let extra: Vec<(&str, &str)> = user.map(|u| ("userIds", u)).into_iter().collect();
        let path = paged_path(&base, cursor, PER_PAGE, &extra);
        let what = format!("listing the members of org role `{}`", excerpt(role));
        let page: Paged<RoleMembers> = self.get(&what, ROLES_READ, &path)?;
        Self::page(page.data.members, page.pagination, &what, cursor)
    }

    /// Not paginated: one request lists every group.
    pub fn directory_groups(&mut self) -> Result<Vec<DirectoryGroup>> {
        let single: Single<DirectoryGroups> = self.get(
            "listing directory groups",
            ROLES_READ,
            "/v1/directory-groups",
        )?;
        Ok(single.data.directory_groups)
    }

    pub fn group_members_page(
        &mut self,
        group: &str,
        cursor: Option<&str>,
    ) -> Result<Page<DirectoryMember>> {
        let base = format!("/v1/directory-groups/{}/members", encode(group));
        let path = paged_path(&base, cursor, PER_PAGE, &[]);
        let what = format!(
            "listing the members of directory group `{}`",
            excerpt(group)
        );
        let page: Paged<DirectoryMembers> = self.get(&what, MEMBERS_READ, &path)?;
        Self::page(page.data.members, page.pagination, &what, cursor)
    }

    pub fn add_role_member(&mut self, role: &str, user: &str) -> Result<()> {
        let path = format!("/v1/org-roles/{}/members", encode(role));
        let what = format!("adding `{user}` to org role `{role}`");
        let body = serde_json::json!({ "userId": user }).to_string();
        self.write(Method::Post, &what, &path, Some(body))
    }

    pub fn remove_role_member(&mut self, role: &str, user: &str) -> Result<()> {
        let path = format!("/v1/org-roles/{}/members/{}", encode(role), encode(user));
        let what = format!("removing `{user}` from org role `{role}`");
        self.write(Method::Delete, &what, &path, None)
    }

    /// A page without a cursor is the last. One that says there is more but gives no cursor,
    /// or hands back the cursor it was asked with, would lose rows or loop: refused.
    fn page<R>(
        rows: Vec<R>,
        pagination: Option<api::Pagination>,
        what: &str,
        asked: Option<&str>,
    ) -> Result<Page<R>> {
        let Some(p) = pagination else {
            return Err(Error::UpstreamProtocol(format!(
                "{what}: Northflank answered without `pagination`, so it cannot be told whether \
                 more rows follow"
            )));
        };
        let cursor = p.cursor.filter(|c| !c.is_empty());
        match &cursor {
            None if p.has_next_page => Err(Error::UpstreamProtocol(format!(
                "{what}: Northflank said another page follows but gave no cursor to read it"
            ))),
            Some(c) if Some(c.as_str()) == asked => Err(Error::UpstreamProtocol(format!(
                "{what}: Northflank answered the cursor it was given as the next one; \
                 reading on would loop"
            ))),
            _ => Ok(Page { rows, cursor }),
        }
    }

    fn get<D: DeserializeOwned>(&mut self, what: &str, permission: &str, path: &str) -> Result<D> {
        let what = naming(what, Method::Get, path);
        let response = self.send(Method::Get, &what, path, None, READ_ATTEMPTS)?;
        if response.status != 200 {
            return Err(self.failure(&what, permission, &response));
        }
        parse(&what, &response)
    }

    fn write(
        &mut self,
        method: Method,
        what: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<()> {
        let what = naming(what, method, path);
        let response = self.send(method, &what, path, body, 1)?;
        if !(200..=299).contains(&response.status) {
            return Err(self.failure(&what, ROLES_MANAGE, &response));
        }
        Ok(())
    }

    fn failure(&self, what: &str, permission: &str, response: &Response) -> Error {
        let retry_after = self
            .budget
            .map(|b| {
                b.reset
                    .saturating_sub(T::monotonic_now().saturating_sub(b.seen_at))
            })
            .filter(|d| !d.is_zero())
            .or_else(|| {
                // The HTTP-date form is not read: the budget headers are what Northflank sends.
                let seconds = response.retry_after().and_then(RetryAfter::seconds)?;
                Some(Duration::from_secs(seconds))
            });
        status_error(what, permission, response, retry_after)
    }

    /// Sends one request: paced first, repeated (reads only) after a lost connection or a
    /// transient 502/503/504, with the budget read from every answer.
    fn send(
        &mut self,
        method: Method,
        what: &str,
        path: &str,
        body: Option<String>,
        attempts: u32,
    ) -> Result<Response> {
        let request = Request {
            method,
            url: format!("{}{path}", self.base_url),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", self.token)),
                ("accept".into(), "application/json".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: body.map(String::into_bytes),
        };
        let mut pause = FIRST_RETRY_PAUSE;
        let mut attempt = 1;
        loop {
            self.wait_for_budget(what)?;
            self.requests += 1;
            let outcome = self.transport.send(&request);
            if let Ok(response) = &outcome {
                self.observe(response);
            }
            let transient = match &outcome {
                Ok(r) => matches!(r.status, 502..=504),
                Err(e) => connector_sdk::http::is_retryable(e),
            };
            if !transient || attempt >= attempts {
                return outcome.map_err(|e| {
                    Error::Unavailable(format!(
                        "{what}: cannot reach {}: {} (after {attempt} attempt{})",
                        self.base_url,
                        excerpt(&e),
                        if attempt == 1 { "" } else { "s" }
                    ))
                });
            }
            self.transport.pause(pause);
            pause = pause.saturating_mul(2);
            attempt += 1;
        }
    }

    /// Waits as the budget asks, or fails before sending once it is spent.
    fn wait_for_budget(&mut self, what: &str) -> Result<()> {
        match ratelimit::pace(self.budget.as_ref(), T::monotonic_now()) {
            Pace::Go => Ok(()),
            Pace::Wait(d) => {
                self.transport.pause(d);
                self.paced = self.paced.saturating_add(d);
                Ok(())
            }
            Pace::Exhausted { retry_after } => {
                let remaining = self.budget.map_or(0, |b| b.remaining);
                Err(Error::RateLimited {
                    retry_after_ms: Some(ratelimit::millis(retry_after)),
                    message: format!(
                        "{what}: not sent: {remaining} request(s) of the account's hourly \
                         Northflank budget are left, which the connector leaves to the \
                         account's other users; the budget resets in {} s",
                        retry_after.as_secs()
                    ),
                })
            }
        }
    }

    fn observe(&mut self, response: &Response) {
        if let Some(b) = ratelimit::observe(
            response.header("x-ratelimit-limit"),
            response.header("x-ratelimit-remaining"),
            response.header("x-ratelimit-reset"),
            T::monotonic_now(),
        ) {
            self.budget = Some(b);
        }
    }
}

/// A 200 answer as `D`; anything else a 200 can hold is `upstream-protocol`.
fn parse<D: DeserializeOwned>(what: &str, response: &Response) -> Result<D> {
    if let Some(ct) = response.header("content-type") {
        if !ct.to_ascii_lowercase().contains("json") {
            return Err(Error::UpstreamProtocol(format!(
                "{what}: Northflank answered 200 with content-type `{}` instead of JSON; \
                 `base_url` may point at something other than the API",
                excerpt(ct)
            )));
        }
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        let text = String::from_utf8_lossy(&response.body);
        let cause = match e.classify() {
            serde_json::error::Category::Eof => "a truncated JSON body".to_string(),
            serde_json::error::Category::Data => {
                format!("JSON of an unexpected shape ({})", excerpt(&e.to_string()))
            }
            _ => "a body that is not valid JSON".to_string(),
        };
        Error::UpstreamProtocol(format!(
            "{what}: Northflank answered 200 with {cause}; it starts `{}`",
            excerpt(text.trim_start())
        ))
    })
}
