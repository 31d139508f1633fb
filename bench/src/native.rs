//! The native floor: what a plain Rust program spends on the same full sync — the same
//! requests to the same server, each answer parsed with serde_json into typed rows — with no
//! wasm, no component boundary and no output. The connector's sync is measured against it.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::Deserialize;

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

/// Signs in, then pages through users and roles at the connector's offsets (each page from the
/// last row of the one before), parsing every page.
pub fn sync(port: u16, mode: Connections) -> Result<NativeRun, Error> {
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
        users += served - usize::from(at > 0 && served > 0);
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
        roles += served - usize::from(at > 0 && served > 0);
        if served < PAGE {
            break;
        }
        at += PAGE - 1;
    }
    Ok(NativeRun {
        elapsed: started.elapsed(),
        requests: http.requests,
        users,
        roles,
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
