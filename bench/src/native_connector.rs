//! The connector itself compiled natively, synced by the shared engine (`in_process.rs`) over a loopback
//! HTTP/1.1 transport with a new connection per request, as the component's host makes. Beside
//! the component's loopback sync it separates what wasm, the component model and the harness
//! cost from what the connector's own work (paging, mapping, JSON Lines) costs.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use airflow_connector::config::Config;
use airflow_connector::connector::Connector;
use airflow_connector::http::{Request, Response, Transport};

use crate::native::{Connections, Error, Http};

pub struct ConnectorRun {
    pub elapsed: Duration,
    pub requests: usize,
    pub resources: u64,
    pub grants: u64,
}

// `Transport::send` takes `&self`; the connection and the request count change per send.
struct Loopback(RefCell<Http>);

impl Transport for &Loopback {
    fn send(&self, request: &Request) -> Result<Response, String> {
        let target = target_of(&request.url)?;
        let mut http = self
            .0
            .try_borrow_mut()
            .map_err(|_| "a request sent while another was in flight".to_string())?;
        let body = request.body.as_deref().unwrap_or_default();
        let reply = http
            .exchange(request.method.as_str(), target, &request.headers, body)
            .map_err(|e| e.to_string())?;
        Ok(Response {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}

/// Path and query of an absolute `http://host:port/...` URL: the request target.
fn target_of(url: &str) -> Result<&str, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not a plain-HTTP URL: {url}"))?;
    Ok(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// The full sync the harness runs (`api_generation=fab-fastapi`, JSON Lines into a sink),
/// timed like the harness's sync clock: configure and construction are outside it.
pub fn connector_sync(port: u16) -> Result<ConnectorRun, Error> {
    let settings: Vec<(String, String)> = [
        ("base_url", format!("http://127.0.0.1:{port}")),
        ("username", "admin".to_string()),
        // The harness's password in measure.rs, so the sign-in request is the same bytes.
        ("password", "bench-password".to_string()),
        ("api_generation", "fab-fastapi".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::parse(&settings).map_err(|e| e.to_string())?;
    let transport = Loopback(RefCell::new(Http::new(port, Connections::PerRequest)));
    let connector = Connector::new(&transport, config);
    let started = Instant::now();
    let stats = crate::in_process::sync(connector, &mut std::io::sink())?;
    let elapsed = started.elapsed();
    let requests = transport.0.borrow().requests;
    Ok(ConnectorRun {
        elapsed,
        requests,
        resources: stats.resources,
        grants: stats.grants,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::directory::Directory;
    use crate::server::Server;

    #[test]
    fn the_native_connector_syncs_the_whole_directory_in_the_expected_requests() {
        let (users, roles) = (250, 5);
        let server = Server::start(users, roles).unwrap();
        let run = connector_sync(server.port).unwrap();
        let directory = Directory::new(users, roles);
        assert_eq!(run.requests, directory.expected_requests());
        assert_eq!(run.requests, 1 + 3 + 1);
        assert_eq!(server.requests(), run.requests as u64);

        // Users, roles and every distinct permission are resources; a user's roles and a role's
        // permissions are grants.
        let memberships: usize = (0..users)
            .map(|i| directory.user(i)["roles"].as_array().unwrap().len())
            .sum();
        let mut permissions = HashSet::new();
        let mut holdings = 0;
        for r in 0..roles {
            let role = directory.role(r);
            for p in role["actions"].as_array().unwrap() {
                permissions.insert((p["action"]["name"].clone(), p["resource"]["name"].clone()));
                holdings += 1;
            }
        }
        assert_eq!(run.resources as usize, users + roles + permissions.len());
        assert_eq!(run.grants as usize, memberships + holdings);
    }

    #[test]
    fn the_target_is_path_and_query() {
        assert_eq!(
            target_of("http://127.0.0.1:8080/auth/fab/v1/users?limit=100&offset=0"),
            Ok("/auth/fab/v1/users?limit=100&offset=0")
        );
        assert_eq!(target_of("http://127.0.0.1:8080"), Ok("/"));
        assert!(target_of("https://example.com/").is_err());
    }
}
