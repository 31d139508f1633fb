//! Sends one live request: wasmtime-wasi-http's `default_send_request` (48.0.8) with the
//! harness's TLS client in place of its fixed public roots, and HTTP/1.1 keep-alive. It follows
//! wasmtime's otherwise: hyper's client connection and the same three timeouts (connect, first
//! byte, between bytes). Differences: the TLS handshake counts against the connect timeout, so
//! a server that accepts the connection and never completes the handshake is a connect timeout
//! rather than a wait for the call's deadline; and a connection is kept in a [`Pool`] after its
//! response for the next request to the same origin, where wasmtime opens one per request (a
//! TCP, and for HTTPS a TLS, handshake per page of a sync).

use core::future::poll_fn;
use core::pin::{pin, Pin};
use core::task::{ready, Context, Poll};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Scheme;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions};

use super::tls::{find_rustls_error, refusal, Tls};

/// wasmtime's default for each timeout the caller leaves unset.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T> Stream for T where T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

/// Drives the connection while the response body is read; its error, if any, is the
/// transfer's.
pub type ConnectionTask = Pin<Box<dyn Future<Output = Result<(), HttpError>> + Send + 'static>>;

/// Why a request failed: the guest's error code and, for a TLS refusal, the operator's message.
#[derive(Debug)]
pub struct SendError {
    pub code: HttpError,
    pub tls_refusal: Option<String>,
}

impl From<HttpError> for SendError {
    fn from(code: HttpError) -> Self {
        Self {
            code,
            tls_refusal: None,
        }
    }
}

/// Turns an error met on an HTTPS connection into a refusal when it is one. A server that
/// refuses the client's certificate does so after the client finished its side of a TLS 1.3
/// handshake, so such alerts surface while the request is sent, inside hyper's error.
fn classify(
    error: &(dyn std::error::Error + 'static),
    origin: &str,
    tls: Option<&Tls>,
) -> Option<SendError> {
    let tls = tls?;
    let found = refusal(find_rustls_error(error)?, origin, tls.hints())?;
    Some(SendError {
        code: found.code,
        tls_refusal: Some(found.message),
    })
}

fn hyper_error(err: hyper::Error, origin: &str, tls: Option<&Tls>) -> SendError {
    if let Some(refused) = classify(&err, origin, tls) {
        return refused;
    }
    if err.is_timeout() {
        return HttpError::HttpResponseTimeout.into();
    }
    HttpError::from(err).into()
}

/// The response body, failing with `ConnectionReadTimeout` when no frame comes within the
/// between-bytes timeout.
pub struct IncomingBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.as_mut().incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(err))) => {
                let err = if err.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(err)
                };
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// A kept connection is reused only this soon after its last request began. Servers close idle
/// connections on their own schedule (uvicorn after 5 s, gunicorn after 2 s), and a request
/// written as the server closes fails; a sync's pages follow each other far more closely.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How long a request waits for a kept connection to finish its last response before opening
/// a new one.
const KEPT_READY_WAIT: Duration = Duration::from_millis(20);
/// Idle connections kept per origin; more are closed.
const MAX_IDLE_PER_ORIGIN: usize = 8;

/// HTTP/1.1 connections open after their response, by origin (scheme, host, port), for the
/// next request there. A connection the server closed, or answered with `Connection: close`,
/// is never reused.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Kept>>>,
}

struct Kept {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Pool {
    fn take(&self, origin: &str) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.get_mut(origin)?;
        kept.retain(|k| !k.sender.is_closed() && k.since.elapsed() < MAX_IDLE);
        // A ready one, else the latest, which may be finishing its last response.
        let at = kept
            .iter()
            .rposition(|k| k.sender.is_ready())
            .or_else(|| kept.len().checked_sub(1))?;
        Some(kept.swap_remove(at).sender)
    }

    fn keep(&self, origin: &str, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.entry(origin.to_string()).or_default();
        if kept.len() >= MAX_IDLE_PER_ORIGIN {
            kept.remove(0);
        }
        kept.push(Kept {
            sender,
            since: Instant::now(),
        });
    }
}

/// The request as it goes on the wire: the path only (the URI's scheme and authority go on the
/// wire only to a proxy, and hyper's client connection does not strip them). Built afresh for
/// each attempt, since hyper consumes it.
fn on_the_wire(head: &Request<()>, body: &Bytes) -> Result<Request<Full<Bytes>>, HttpError> {
    let path = head.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::builder()
        .method(head.method().clone())
        .version(head.version())
        .uri(path)
        .body(Full::new(body.clone()))
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    *req.headers_mut() = head.headers().clone();
    Ok(req)
}

/// Whether a request may be sent again after a kept connection failed under it: when it was
/// never written, or when sending it twice does no harm (RFC 9110, 9.2.2).
fn may_resend(method: &Method, written: bool) -> bool {
    !written
        || matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        )
}

/// The rustls name the server's certificate must carry, from a `host:port` authority (an
/// IPv6 host in brackets).
pub fn server_name(authority: &str) -> Result<ServerName<'static>, HttpError> {
    if let Ok(addr) = authority.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(addr.ip()));
    }
    let host = authority
        .split_once(':')
        .map_or(authority, |(host, _)| host);
    ServerName::try_from(host)
        .map(|name| name.to_owned())
        .map_err(HttpError::InvalidDnsNameError)
}

/// Sends `head` with `body` and `options`' timeouts (wasmtime's ten minutes where unset), on a
/// connection kept in `pool` when one is ready, else on a new one. `tls` is needed for an
/// `https` URL only. The connection runs on its own task, so the returned task has nothing
/// left to drive.
pub async fn send_request(
    tls: Option<&Tls>,
    pool: &Pool,
    head: &Request<()>,
    body: Bytes,
    options: RequestOptions,
) -> Result<(Response<IncomingBody>, ConnectionTask), SendError> {
    let uri = head.uri();
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let authority = if authority.port().is_some() {
        authority.to_string()
    } else {
        let port = if use_tls { 443 } else { 80 };
        format!("{authority}:{port}")
    };
    let origin = format!("{}://{authority}", if use_tls { "https" } else { "http" });
    let tls = match (use_tls, tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls),
        (true, None) => {
            return Err(HttpError::InternalError(Some(
                "no TLS client is set up for this run".to_string(),
            ))
            .into())
        }
    };
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let incoming = |res: Response<hyper::body::Incoming>| {
        // tokio panics on a zero interval; a nanosecond is as good as zero here.
        let mut timeout = tokio::time::interval(between_bytes_timeout.max(Duration::from_nanos(1)));
        timeout.reset();
        let task: ConnectionTask = Box::pin(async { Ok(()) });
        (res.map(|incoming| IncomingBody { incoming, timeout }), task)
    };

    let kept = match pool.take(&origin) {
        // The connection turns ready once its last response was read to the end, which is
        // usually done; one still busy after a moment is left to finish on its own.
        Some(mut sender) => match tokio::time::timeout(KEPT_READY_WAIT, sender.ready()).await {
            Ok(Ok(())) => Some(sender),
            _ => None,
        },
        None => None,
    };
    if let Some(mut sender) = kept {
        let sent = tokio::time::timeout(
            first_byte_timeout,
            sender.try_send_request(on_the_wire(head, &body)?),
        )
        .await
        .map_err(|_| SendError::from(HttpError::ConnectionReadTimeout))?;
        match sent {
            Ok(res) => {
                pool.keep(&origin, sender);
                return Ok(incoming(res));
            }
            Err(mut failed) => {
                // The server closed the kept connection under the request: on a new one below.
                let written = failed.take_message().is_none();
                if !may_resend(head.method(), written) {
                    return Err(hyper_error(failed.into_error(), &origin, tls));
                }
            }
        }
    }

    let (mut sender, conn) = connect(tls, &authority, &origin, &options).await?;
    let mut conn = Some(conn);
    let res = {
        let send = async {
            tokio::time::timeout(
                first_byte_timeout,
                sender.send_request(on_the_wire(head, &body)?),
            )
            .await
            .map_err(|_| SendError::from(HttpError::ConnectionReadTimeout))?
            .map_err(|e| hyper_error(e, &origin, tls))
        };
        let mut send = pin!(send);
        // Waits for the response while driving the connection's I/O here, so that an error of
        // the connection itself (a TLS alert after the handshake) is this request's, with its
        // cause.
        poll_fn(|cx| match send.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                let Some(fut) = conn.as_mut() else {
                    return Poll::Pending;
                };
                let res = ready!(Pin::new(fut).poll(cx));
                conn = None;
                match res {
                    // The connection ended cleanly; the response may be complete already.
                    Ok(()) => send.as_mut().poll(cx),
                    Err(err) => Poll::Ready(Err(hyper_error(err, &origin, tls))),
                }
            }
        })
        .await?
    };
    if let Some(conn) = conn {
        // Until the server closes it or the pool lets it go; a failure mid-body reaches the
        // body's reader through hyper.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        pool.keep(&origin, sender);
    }
    Ok(incoming(res))
}

type Connection = hyper::client::conn::http1::Connection<TokioIo<Box<dyn Stream>>, Full<Bytes>>;

/// A new connection to `authority`, TLS set up for `https`, within the connect timeout.
async fn connect(
    tls: Option<&Tls>,
    authority: &str,
    origin: &str,
    options: &RequestOptions,
) -> Result<(SendRequest<Full<Bytes>>, Connection), SendError> {
    let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let connecting = async {
        let tcp = TcpStream::connect(authority)
            .await
            .map_err(HttpError::Connect)?;
        let Some(tls) = tls else {
            return Ok::<Box<dyn Stream>, SendError>(Box::new(tcp));
        };
        let connector = tokio_rustls::TlsConnector::from(tls.config());
        match connector.connect(server_name(authority)?, tcp).await {
            Ok(stream) => Ok(Box::new(stream) as Box<dyn Stream>),
            Err(e) => Err(classify(&e, origin, Some(tls)).unwrap_or(HttpError::Tls(e).into())),
        }
    };
    let stream = match tokio::time::timeout(connect_timeout, connecting).await {
        Ok(stream) => stream?,
        Err(_) => return Err(HttpError::ConnectionTimeout.into()),
    };
    tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)?
    .map_err(|e| hyper_error(e, origin, tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tls::{SettingPath, TlsSettings};
    use http_body_util::BodyExt;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("these tests make their certificates with the `openssl` command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

    /// A CA (`ca.pem`) and certificates it signed: `NAME.pem` with key `NAME.key` for each of
    /// `leaves` (name, subjectAltName, validity in days, extended key usage).
    fn pki(dir: &Path, leaves: &[(&str, &str, &str, &str)]) {
        let mut args = vec![
            "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        ];
        args.extend(EC);
        args.extend(["-days", "2", "-subj", "/CN=Harness Test CA"]);
        openssl(dir, &args);
        for (name, san, days, usage) in leaves {
            let ext = format!("{name}.ext");
            std::fs::write(
                dir.join(&ext),
                format!(
                    "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                     keyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
                ),
            )
            .unwrap();
            let (key, csr, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
            );
            let mut args = vec![
                "req",
                "-nodes",
                "-keyout",
                key.as_str(),
                "-out",
                csr.as_str(),
            ];
            args.extend(EC);
            args.extend(["-subj", "/CN=harness test"]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    csr.as_str(),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    pem.as_str(),
                    "-days",
                    days,
                    "-extfile",
                    ext.as_str(),
                ],
            );
        }
    }

    fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(path)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Serves `ok` over TLS with `name`'s certificate on a loopback port, to any number of
    /// connections; with `client_ca`, only to clients with a certificate from it.
    async fn tls_server(dir: &Path, name: &str, client_ca: Option<&Path>) -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(certs(ca));
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
        let config = builder
            .with_single_cert(certs(&dir.join(format!("{name}.pem"))), key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let reply =
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        port
    }

    fn tls(settings: TlsSettings) -> Tls {
        Tls::load(&settings, "airflow").unwrap()
    }

    fn trusting(dir: &Path) -> TlsSettings {
        TlsSettings {
            ca_files: vec![SettingPath::new(dir.join("ca.pem"), "--ca-file")],
            ..Default::default()
        }
    }

    async fn get(tls: &Tls, url: &str) -> Result<String, SendError> {
        fetch(Some(tls), &Pool::default(), url).await
    }

    async fn fetch(tls: Option<&Tls>, pool: &Pool, url: &str) -> Result<String, SendError> {
        let req = Request::get(url).body(()).unwrap();
        let timeouts = RequestOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            first_byte_timeout: Some(Duration::from_secs(10)),
            between_bytes_timeout: Some(Duration::from_secs(10)),
        };
        let (res, io) = send_request(tls, pool, &req, Bytes::new(), timeouts).await?;
        let io = tokio::spawn(io);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let _ = io.await;
        Ok(String::from_utf8(body.to_vec()).unwrap())
    }

    async fn refused(tls: &Tls, url: &str) -> (HttpError, String) {
        let err = get(tls, url).await.expect_err("the request went through");
        let message = err.tls_refusal.expect("no refusal message");
        (err.code, message)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn certificates_are_checked_against_the_system_store_and_the_ca_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(
            d,
            &[
                ("good", "DNS:localhost,IP:127.0.0.1", "2", "serverAuth"),
                ("other", "DNS:other.example", "2", "serverAuth"),
                ("expired", "DNS:localhost,IP:127.0.0.1", "-1", "serverAuth"),
            ],
        );
        let good = tls_server(d, "good", None).await;
        let with_ca = tls(trusting(d));
        let without = tls(TlsSettings::default());

        assert_eq!(
            get(&with_ca, &format!("https://127.0.0.1:{good}/x"))
                .await
                .unwrap(),
            "ok"
        );
        assert_eq!(
            get(&with_ca, &format!("https://localhost:{good}/x"))
                .await
                .unwrap(),
            "ok"
        );

        let (code, message) = refused(&without, &format!("https://127.0.0.1:{good}/x")).await;
        assert!(matches!(code, HttpError::TlsCertificateError), "{code}");
        assert!(
            message.starts_with(&format!(
                "TLS certificate not trusted: https://127.0.0.1:{good} presented"
            )) && message.contains("unknown issuer")
                && message.contains("--ca-file PATH (config `ca_file`, env AIRFLOW_CA_FILE)"),
            "{message}"
        );

        let other = tls_server(d, "other", None).await;
        let (code, message) = refused(&with_ca, &format!("https://127.0.0.1:{other}/")).await;
        assert!(matches!(code, HttpError::TlsCertificateError), "{code}");
        assert!(
            message.contains("wrong host")
                && message.contains("a certificate for other.example, not for 127.0.0.1"),
            "{message}"
        );

        let expired = tls_server(d, "expired", None).await;
        let (code, message) = refused(&with_ca, &format!("https://127.0.0.1:{expired}/")).await;
        assert!(matches!(code, HttpError::TlsCertificateError), "{code}");
        assert!(message.starts_with("TLS certificate expired:"), "{message}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_server_requiring_a_client_certificate_gets_the_configured_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(
            d,
            &[
                ("server", "DNS:localhost,IP:127.0.0.1", "2", "serverAuth"),
                ("client", "DNS:harness.test", "2", "clientAuth"),
            ],
        );
        let port = tls_server(d, "server", Some(&d.join("ca.pem"))).await;
        let url = format!("https://127.0.0.1:{port}/");

        let (code, message) = refused(&tls(trusting(d)), &url).await;
        assert!(
            matches!(code, HttpError::TlsAlertReceived { .. }),
            "{code}: {message}"
        );
        assert!(
            message.contains("client certificate") && message.contains("--client-cert"),
            "{message}"
        );

        let mutual = TlsSettings {
            client_cert: Some(SettingPath::new(d.join("client.pem"), "--client-cert")),
            client_key: Some(SettingPath::new(d.join("client.key"), "--client-key")),
            ..trusting(d)
        };
        assert_eq!(get(&tls(mutual), &url).await.unwrap(), "ok");

        let mismatched = TlsSettings {
            client_cert: Some(SettingPath::new(d.join("client.pem"), "--client-cert")),
            client_key: Some(SettingPath::new(d.join("server.key"), "--client-key")),
            ..trusting(d)
        };
        let Err(err) = Tls::load(&mismatched, "airflow") else {
            panic!("a key of another certificate was accepted")
        };
        assert!(err.contains("cannot be used together"), "{err}");
    }

    #[derive(Clone, Copy)]
    enum Ending {
        /// HTTP/1.1's default: the connection stays open.
        KeepAlive,
        /// `Connection: close` on every response, then closed.
        Announced,
        /// Closed after every response without a word, as a server whose keep-alive timeout
        /// is shorter than the client's.
        Silent,
    }

    /// A plain HTTP/1.1 server answering `ok` to every request; counts the connections.
    async fn counting_server(ending: Ending) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        seen.clear();
                        let close = matches!(ending, Ending::Announced);
                        let head = if close { "connection: close\r\n" } else { "" };
                        let answer =
                            format!("HTTP/1.1 200 OK\r\n{head}content-length: 2\r\n\r\nok");
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        if !matches!(ending, Ending::KeepAlive) {
                            return;
                        }
                    }
                });
            }
        });
        (port, connections)
    }

    async fn connections_for(ending: Ending, requests: usize) -> usize {
        let (port, connections) = counting_server(ending).await;
        let pool = Pool::default();
        for _ in 0..requests {
            let url = format!("http://127.0.0.1:{port}/api/v1/users");
            assert_eq!(fetch(None, &pool, &url).await.unwrap(), "ok");
        }
        connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_connection_serves_a_run_of_requests_when_the_server_keeps_it_open() {
        assert_eq!(connections_for(Ending::KeepAlive, 5).await, 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connection_the_server_closes_is_not_reused_and_no_request_fails() {
        assert_eq!(connections_for(Ending::Announced, 3).await, 3);
        assert_eq!(connections_for(Ending::Silent, 3).await, 3);
    }

    #[test]
    fn only_a_request_never_written_or_idempotent_is_sent_again() {
        assert!(may_resend(&Method::POST, false));
        assert!(!may_resend(&Method::POST, true));
        assert!(!may_resend(&Method::PATCH, true));
        assert!(may_resend(&Method::GET, true));
        assert!(may_resend(&Method::DELETE, true));
    }

    #[test]
    fn server_names_come_from_the_authority() {
        assert_eq!(
            server_name("airflow.internal:443").unwrap(),
            ServerName::try_from("airflow.internal").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1:8443").unwrap(),
            ServerName::from(std::net::Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            server_name("[::1]:443").unwrap(),
            ServerName::from(std::net::Ipv6Addr::LOCALHOST)
        );
        assert!(matches!(
            server_name("bad_name!:443"),
            Err(HttpError::InvalidDnsNameError(_))
        ));
    }
}
