//! A loopback HTTP/1.1 server answering from a recorded cassette, for clients the harness
//! does not host (the plain `wasmtime` CLI). Matching is the harness's own replay
//! (`host_harness::http::player`); one connection per request (`connection: close`), request
//! bodies by content-length or chunked, as wasmtime's HTTP client sends them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use host_harness::cassette::{Body, Cassette};
use host_harness::http::player::{IncomingRequest, Player};

pub struct ReplayServer {
    pub addr: SocketAddr,
    player: Arc<Mutex<Player>>,
    /// Requests the cassette could not answer, with the player's explanation.
    mismatches: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let mismatches = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (player, mismatches, stop) = (player.clone(), mismatches.clone(), stop.clone());
            let secret = secret.to_string();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Err(e) = serve(stream, addr, &player, &mismatches, &secret) {
                        mismatches
                            .lock()
                            .unwrap()
                            .push(format!("connection error: {e}"));
                    }
                }
            })
        };
        ReplayServer {
            addr,
            player,
            mismatches,
            stop,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn mismatches(&self) -> Vec<String> {
        self.mismatches.lock().unwrap().clone()
    }

    pub fn unused(&self) -> Vec<String> {
        self.player.lock().unwrap().unused()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Parsed {
    method: String,
    target: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Parsed> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            chunk.truncate(size);
            body.extend(chunk);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Parsed {
        method,
        target,
        body,
    })
}

fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    player: &Mutex<Player>,
    mismatches: &Mutex<Vec<String>>,
    secret: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let request = read_request(&mut reader)?;
    if request.method.is_empty() {
        return Ok(()); // the wake-up connection of Drop, or a client that gave up
    }
    let text = String::from_utf8_lossy(&request.body).replace(secret, "[REDACTED]");
    let incoming = IncomingRequest {
        method: request.method,
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
    let mut response = format!("HTTP/1.1 {status} Replayed\r\n");
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = stream;
    stream.write_all(response.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}
