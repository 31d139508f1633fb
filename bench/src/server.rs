//! A fast loopback server that answers like Airflow 3 with the FAB provider's FastAPI API:
//! `POST /auth/token` (201 with a JWT; 400 to the `{}` detection probe), and
//! `GET /auth/fab/v1/{users,roles}?limit=&offset=` paged with `total_entries`.
//! Pages of the size the connector asks for are rendered before the clock starts, so the
//! server's own cost is a lookup and a write.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::directory::{jwt, Directory, Kind, PAGE};

const WORKERS: usize = 4;

struct Site {
    directory: Directory,
    token: String,
    /// Pages of `PAGE` rows by (kind, offset).
    pages: HashMap<(&'static str, usize), Vec<u8>>,
    requests: AtomicU64,
}

pub struct Server {
    pub port: u16,
    site: Arc<Site>,
}

impl Server {
    pub fn start(users: usize, roles: usize) -> std::io::Result<Self> {
        let directory = Directory::new(users, roles);
        let mut pages = HashMap::new();
        for kind in [Kind::Users, Kind::Roles] {
            for offset in directory.offsets(kind) {
                let body = serde_json::to_vec(&directory.page(kind, offset, PAGE))?;
                pages.insert((kind.key(), offset), body);
            }
        }
        let site = Arc::new(Site {
            directory,
            token: jwt(),
            pages,
            requests: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::channel::<TcpStream>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WORKERS {
            let rx = rx.clone();
            let site = site.clone();
            std::thread::spawn(move || loop {
                let next = rx.lock().map(|r| r.recv());
                match next {
                    Ok(Ok(stream)) => {
                        // A broken connection only ends that connection.
                        let _ = serve_connection(&site, stream);
                    }
                    _ => return,
                }
            });
        }
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if tx.send(stream).is_err() {
                    return;
                }
            }
        });
        Ok(Self { port, site })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests answered so far: the harness's own count is checked against it.
    pub fn requests(&self) -> u64 {
        self.site.requests.load(Ordering::Relaxed)
    }
}

struct Request {
    method: String,
    target: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Reads one request; None at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.to_string());
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        authorization,
        body,
    }))
}

fn serve_connection(site: &Site, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        site.requests.fetch_add(1, Ordering::Relaxed);
        let (status, body) = answer(site, &request);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let mut message = Vec::with_capacity(head.len() + body.len());
        message.extend_from_slice(head.as_bytes());
        message.extend_from_slice(&body);
        writer.write_all(&message)?;
    }
    Ok(())
}

fn json(value: serde_json::Value) -> Cow<'static, [u8]> {
    Cow::Owned(value.to_string().into_bytes())
}

fn answer<'a>(site: &'a Site, request: &Request) -> (&'static str, Cow<'a, [u8]>) {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    if request.method == "POST" && path == "/auth/token" {
        let creds: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        if creds["username"].is_string() && creds["password"].is_string() {
            return (
                "201 Created",
                json(serde_json::json!({ "access_token": site.token })),
            );
        }
        return (
            "400 Bad Request",
            json(serde_json::json!({ "detail": "Username and password must be provided" })),
        );
    }
    let kind = match (request.method.as_str(), path) {
        ("GET", "/auth/fab/v1/users") => Kind::Users,
        ("GET", "/auth/fab/v1/roles") => Kind::Roles,
        _ => {
            return (
                "404 Not Found",
                json(serde_json::json!({ "detail": "Not Found" })),
            )
        }
    };
    if request.authorization.as_deref() != Some(&format!("Bearer {}", site.token)) {
        return (
            "401 Unauthorized",
            json(serde_json::json!({ "detail": "Not authenticated" })),
        );
    }
    let mut limit = PAGE;
    let mut offset = 0;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("limit", v)) => limit = v.parse().unwrap_or(PAGE),
            Some(("offset", v)) => offset = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    // Airflow clamps larger limits to its maximum page size.
    let limit = limit.min(PAGE);
    match site.pages.get(&(kind.key(), offset)) {
        Some(body) if limit == PAGE => ("200 OK", Cow::Borrowed(body)),
        _ => ("200 OK", json(site.directory.page(kind, offset, limit))),
    }
}
