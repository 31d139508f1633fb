//! The native floor: what a plain Rust program spends on the same full sync — the same
//! requests to the same server, each answer parsed with serde_json into typed rows — with no
//! wasm and no component boundary; with `emit`, it also writes the sync's JSON Lines (the same
//! records, the same fields) as the harness does. The connector's sync is measured against it.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::directory::PAGE;

// Parsed as the connector parses them (every field it reads), so parsing costs the same work.
#[derive(Deserialize)]
#[allow(dead_code)]
struct User {
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    roles: Option<Vec<Named>>,
    active: Option<bool>,
    last_login: Option<String>,
    login_count: Option<u64>,
    fail_login_count: Option<u64>,
    created_on: Option<String>,
    changed_on: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Permission {
    action: Named,
    resource: Named,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Role {
    name: String,
    actions: Option<Vec<Permission>>,
}

/// `total_entries` is parsed, as the connector parses it, though a short page ends the listing.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Users {
    users: Vec<User>,
    total_entries: usize,
}

/// `total_entries` is parsed, as the connector parses it, though a short page ends the listing.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Roles {
    roles: Vec<Role>,
    total_entries: usize,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

pub struct NativeRun {
    pub elapsed: Duration,
    pub requests: usize,
    pub users: usize,
    pub roles: usize,
    /// JSON Lines written (0 without `emit`).
    pub lines: usize,
}

/// How the floor talks HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// A new TCP connection per request, as wasmtime-wasi-http's sender makes.
    PerRequest,
    /// One kept-alive connection for the whole sync.
    KeepAlive,
}

pub(crate) struct Http {
    port: u16,
    mode: Connections,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
    pub(crate) requests: usize,
}

pub(crate) type Error = Box<dyn std::error::Error>;

/// One HTTP answer, whatever its status.
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// Lower-case names, as `airflow_connector::http::Response` wants them.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Http {
    pub(crate) fn new(port: u16, mode: Connections) -> Self {
        Http {
            port,
            mode,
            conn: None,
            requests: 0,
        }
    }

    /// The floor's request: fails on a non-2xx answer, which the floor never expects.
    fn send(
        &mut self,
        method: &str,
        target: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut headers = vec![("accept", "application/json")];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        let reply = self.exchange(method, target, &headers, body)?;
        if !(200..300).contains(&reply.status) {
            return Err(format!("{method} {target} -> {}", reply.status).into());
        }
        Ok(reply.body)
    }

    /// Sends `headers` as given (plus host, and content-length when there is a body) and
    /// returns the answer of any status.
    pub(crate) fn exchange<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(N, V)],
        body: &[u8],
    ) -> Result<Reply, Error> {
        if self.mode == Connections::PerRequest || self.conn.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_nodelay(true)?;
            let reader = BufReader::new(stream.try_clone()?);
            self.conn = Some((stream, reader));
        }
        let Some((stream, reader)) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        self.requests += 1;
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\n",
            self.port
        );
        for (name, value) in headers {
            let _ = write!(head, "{}: {}\r\n", name.as_ref(), value.as_ref());
        }
        if !body.is_empty() {
            let _ = write!(head, "content-length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body);
        stream.write_all(&message)?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| format!("{method} {target}: no status line"))?
            .parse()?;
        let mut length = 0;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = value.parse()?;
                }
                headers.push((name, value.to_string()));
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// The records of the harness's JSON Lines, as plain structs (borrowed, written once).
#[derive(Serialize)]
struct UserLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    resource_type: &'static str,
    id: &'a str,
    display_name: String,
    user: Account<'a>,
    attributes: Attributes<'a>,
}

#[derive(Serialize)]
struct Account<'a> {
    login: &'a str,
    email: Option<&'a str>,
    status: &'static str,
    last_login: Option<&'a str>,
    login_count: Option<u64>,
    fail_login_count: Option<u64>,
    created_at: Option<&'a str>,
}

#[derive(Serialize)]
struct Attributes<'a> {
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    changed_on: Option<&'a str>,
}

#[derive(Serialize)]
struct GrantLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    entitlement: String,
    principal_type: &'static str,
    principal_id: &'a str,
}

#[derive(Serialize)]
struct ResourceLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    resource_type: &'static str,
    id: &'a str,
    display_name: &'a str,
}

#[derive(Serialize)]
struct EntitlementLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    resource_type: &'static str,
    resource_id: &'a str,
    slug: &'static str,
    display_name: String,
    description: String,
    purpose: &'static str,
    grantable_to: [&'static str; 1],
}

fn line(out: &mut dyn Write, record: &impl Serialize) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn emit_users(out: &mut dyn Write, users: &[User]) -> Result<usize, Error> {
    let mut lines = 0;
    for u in users {
        let display_name = match (&u.first_name, &u.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            _ => u.username.clone(),
        };
        line(
            out,
            &UserLine {
                kind: "resource",
                resource_type: "user",
                id: &u.username,
                display_name,
                user: Account {
                    login: &u.username,
                    email: u.email.as_deref(),
                    status: if u.active == Some(false) {
                        "disabled"
                    } else {
                        "enabled"
                    },
                    last_login: u.last_login.as_deref(),
                    login_count: u.login_count,
                    fail_login_count: u.fail_login_count,
                    created_at: u.created_on.as_deref(),
                },
                attributes: Attributes {
                    first_name: u.first_name.as_deref(),
                    last_name: u.last_name.as_deref(),
                    changed_on: u.changed_on.as_deref(),
                },
            },
        )?;
        lines += 1;
        for role in u.roles.iter().flatten() {
            let entitlement = format!("role:{}:member", role.name);
            line(
                out,
                &GrantLine {
                    kind: "grant",
                    id: format!("{entitlement}:user:{}", u.username),
                    entitlement,
                    principal_type: "user",
                    principal_id: &u.username,
                },
            )?;
            lines += 1;
        }
    }
    Ok(lines)
}

fn emit_roles(
    out: &mut dyn Write,
    roles: &[Role],
    seen: &mut std::collections::HashSet<String>,
) -> Result<usize, Error> {
    let mut lines = 0;
    for r in roles {
        line(
            out,
            &ResourceLine {
                kind: "resource",
                resource_type: "role",
                id: &r.name,
                display_name: &r.name,
            },
        )?;
        line(
            out,
            &EntitlementLine {
                kind: "entitlement",
                id: format!("role:{}:member", r.name),
                resource_type: "role",
                resource_id: &r.name,
                slug: "member",
                display_name: format!("{} role member", r.name),
                description: format!("Member of the Airflow role `{}`", r.name),
                purpose: "assignment",
                grantable_to: ["user"],
            },
        )?;
        lines += 2;
        for p in r.actions.iter().flatten() {
            let id = format!("{}:{}", p.action.name, p.resource.name);
            if seen.insert(id.clone()) {
                let display_name =
                    format!("{} on {}", p.action.name.replace('_', " "), p.resource.name);
                line(
                    out,
                    &ResourceLine {
                        kind: "resource",
                        resource_type: "permission",
                        id: &id,
                        display_name: &display_name,
                    },
                )?;
                line(
                    out,
                    &EntitlementLine {
                        kind: "entitlement",
                        id: format!("permission:{id}:assigned"),
                        resource_type: "permission",
                        resource_id: &id,
                        slug: "assigned",
                        display_name: format!("Assigned: {display_name}"),
                        description: format!(
                            "A role holds `{}` on `{}`",
                            p.action.name, p.resource.name
                        ),
                        purpose: "permission",
                        grantable_to: ["role"],
                    },
                )?;
                lines += 2;
            }
            let entitlement = format!("permission:{id}:assigned");
            line(
                out,
                &GrantLine {
                    kind: "grant",
                    id: format!("{entitlement}:role:{}", r.name),
                    entitlement,
                    principal_type: "role",
                    principal_id: &r.name,
                },
            )?;
            lines += 1;
        }
    }
    Ok(lines)
}

/// Signs in, then pages through users and roles at the connector's offsets (each page from the
/// last row of the one before), parsing every page.
pub fn sync(port: u16, mode: Connections) -> Result<NativeRun, Error> {
    sync_into(port, mode, None)
}

/// [`sync`], writing the sync's JSON Lines to `emit` when given; `lines` counts them.
pub fn sync_into(
    port: u16,
    mode: Connections,
    mut emit: Option<&mut dyn Write>,
) -> Result<NativeRun, Error> {
    let mut seen = std::collections::HashSet::new();
    let mut lines = 0;
    let started = Instant::now();
    let mut http = Http::new(port, mode);
    let token: Token = serde_json::from_slice(&http.send(
        "POST",
        "/auth/token",
        None,
        br#"{"username":"admin","password":"admin"}"#,
    )?)?;
    let auth = format!("Bearer {}", token.access_token);
    let (mut users, mut at) = (0, 0);
    loop {
        let target = format!("/auth/fab/v1/users?limit={PAGE}&offset={at}");
        let page: Users = serde_json::from_slice(&http.send("GET", &target, Some(&auth), &[])?)?;
        let served = page.users.len();
        let overlap = usize::from(at > 0 && served > 0);
        users += served - overlap;
        if let Some(out) = emit.as_deref_mut() {
            lines += emit_users(out, page.users.get(overlap..).unwrap_or_default())?;
        }
        if served < PAGE {
            break;
        }
        at += PAGE - 1;
    }
    let (mut roles, mut at) = (0, 0);
    loop {
        let target = format!("/auth/fab/v1/roles?limit={PAGE}&offset={at}");
        let page: Roles = serde_json::from_slice(&http.send("GET", &target, Some(&auth), &[])?)?;
        let served = page.roles.len();
        let overlap = usize::from(at > 0 && served > 0);
        roles += served - overlap;
        if let Some(out) = emit.as_deref_mut() {
            lines += emit_roles(
                out,
                page.roles.get(overlap..).unwrap_or_default(),
                &mut seen,
            )?;
        }
        if served < PAGE {
            break;
        }
        at += PAGE - 1;
    }
    if let Some(out) = emit {
        out.flush()?;
    }
    Ok(NativeRun {
        elapsed: started.elapsed(),
        requests: http.requests,
        users,
        roles,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;
    use crate::server::Server;

    #[test]
    fn the_floor_reads_the_whole_directory_in_the_expected_requests() {
        let server = Server::start(250, 50).unwrap();
        for mode in [Connections::PerRequest, Connections::KeepAlive] {
            let run = sync(server.port, mode).unwrap();
            assert_eq!((run.users, run.roles), (250, 50));
            assert_eq!(run.requests, Directory::new(250, 50).expected_requests());
        }
        assert_eq!(server.requests(), 2 * 5);
    }

    #[test]
    fn with_emit_every_user_role_and_grant_is_one_json_line() {
        let server = Server::start(250, 50).unwrap();
        let mut out = Vec::new();
        let run = sync_into(server.port, Connections::KeepAlive, Some(&mut out)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), run.lines);
        let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(count(r#""resource_type":"user","id""#), 250);
        assert_eq!(count(r#""resource_type":"role","id""#), 50);
        assert!(
            count(r#""type":"grant""#) > 250,
            "{}",
            count(r#""type":"grant""#)
        );
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }

    #[test]
    fn the_server_answers_the_detection_probe_and_refuses_without_a_token() {
        let server = Server::start(10, 2).unwrap();
        let mut http = Http::new(server.port, Connections::PerRequest);
        let probe = http.send("POST", "/auth/token", None, b"{}").unwrap_err();
        assert!(probe.to_string().contains("400"), "{probe}");
        let anonymous = http
            .send("GET", "/auth/fab/v1/users?limit=100&offset=0", None, &[])
            .unwrap_err();
        assert!(anonymous.to_string().contains("401"), "{anonymous}");
    }
}
