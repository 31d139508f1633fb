//! A loopback HTTP/1.1 server answering from a recorded cassette, for clients the harness
//! does not host (the plain `wasmtime` CLI). Matching is the harness's own replay
//! (`host_harness::http::player`); the HTTP/1.1 itself is tests/loopback_http's (one request per
//! connection, request bodies by content-length or chunked).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use host_harness::cassette::{Body, Cassette};
use host_harness::http::player::{IncomingRequest, Player};

#[path = "../loopback_http/mod.rs"]
mod loopback_http;

use loopback_http::{Request, Response, Server};

pub struct ReplayServer {
    server: Server,
    player: Arc<Mutex<Player>>,
    /// Requests the cassette could not answer, with the player's explanation.
    mismatches: Arc<Mutex<Vec<String>>>,
}

impl ReplayServer {
    /// Serves `cassette` on 127.0.0.1 (a free port). `secret` in a request body is replaced by
    /// the cassette's placeholder before matching, as the harness scrubs before it matches.
    pub fn start(cassette: &std::path::Path, secret: &str) -> Self {
        let loaded = Cassette::load(cassette).expect("cassette loads");
        let player = Arc::new(Mutex::new(Player::new(
            loaded,
            cassette.display().to_string(),
        )));
        let mismatches = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let (player, mismatches) = (player.clone(), mismatches.clone());
            let failed = mismatches.clone();
            let secret = secret.to_string();
            Server::start(
                move |addr, request| answer(request, addr, &player, &mismatches, &secret),
                move |error| failed.lock().unwrap().push(error),
            )
        };
        ReplayServer {
            server,
            player,
            mismatches,
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn mismatches(&self) -> Vec<String> {
        self.mismatches.lock().unwrap().clone()
    }

    pub fn unused(&self) -> Vec<String> {
        self.player.lock().unwrap().unused()
    }
}

fn answer(
    request: &Request,
    addr: SocketAddr,
    player: &Mutex<Player>,
    mismatches: &Mutex<Vec<String>>,
    secret: &str,
) -> Response {
    let text = String::from_utf8_lossy(&request.body).replace(secret, "[REDACTED]");
    let incoming = IncomingRequest {
        method: request.method.clone(),
        url: format!("http://{addr}{}", request.target),
        body: Body::from_bytes(text.as_bytes()),
    };
    let answer = player.lock().unwrap().take(&incoming);
    let (status, headers, body) = match answer {
        Ok(answer) => {
            let headers: Vec<(String, String)> = answer
                .headers
                .into_iter()
                .filter(|(k, _)| {
                    !["content-length", "transfer-encoding", "connection"].contains(&k.as_str())
                })
                .collect();
            (answer.status, headers, answer.body)
        }
        Err(message) => {
            mismatches.lock().unwrap().push(message.clone());
            (599, Vec::new(), message.into_bytes())
        }
    };
    Response {
        status,
        reason: "Replayed",
        headers,
        body,
    }
}
