//! Sends one live request: wasmtime-wasi-http's `default_send_request` (48.0.8) with the
//! harness's TLS client in place of its fixed public roots. The rest follows it: one HTTP/1.1
//! connection per request through hyper's client connection, and the same three timeouts
//! (connect, first byte, between bytes). One difference: the TLS handshake counts against the
//! connect timeout, so a server that accepts the connection and never completes the handshake
//! is a connect timeout rather than a wait for the call's deadline.

use core::future::poll_fn;
use core::pin::{pin, Pin};
use core::task::{ready, Context, Poll};
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body::Body;
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

/// Sends `req` with `options`' timeouts (wasmtime's ten minutes where unset). `tls` is needed
/// for an `https` URL only.
pub async fn send_request(
    tls: Option<&Tls>,
    mut req: Request<impl Body<Data = Bytes, Error = HttpError> + Send + 'static>,
    options: RequestOptions,
) -> Result<(Response<IncomingBody>, ConnectionTask), SendError> {
    let uri = req.uri();
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let authority = if authority.port().is_some() {
        authority.to_string()
    } else {
        let port = if use_tls { 443 } else { 80 };
        format!("{authority}:{port}")
    };
    let origin = format!("https://{authority}");
    let tls = if use_tls { tls } else { None };

    let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT);

    let connecting = async {
        let tcp = TcpStream::connect(&authority)
            .await
            .map_err(HttpError::Connect)?;
        if !use_tls {
            return Ok::<Box<dyn Stream>, SendError>(Box::new(tcp));
        }
        let Some(tls) = tls else {
            return Err(HttpError::InternalError(Some(
                "no TLS client is set up for this run".to_string(),
            ))
            .into());
        };
        let connector = tokio_rustls::TlsConnector::from(tls.config());
        match connector.connect(server_name(&authority)?, tcp).await {
            Ok(stream) => Ok(Box::new(stream) as Box<dyn Stream>),
            Err(e) => Err(classify(&e, &origin, Some(tls)).unwrap_or(HttpError::Tls(e).into())),
        }
    };
    let stream = match tokio::time::timeout(connect_timeout, connecting).await {
        Ok(stream) => stream?,
        Err(_) => return Err(HttpError::ConnectionTimeout.into()),
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)?
    .map_err(|e| hyper_error(e, &origin, tls))?;

    // The URI holds the scheme and authority, which go on the wire only to a proxy; hyper's
    // client connection does not strip them.
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let send = async {
        let res = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
            .await
            .map_err(|_| SendError::from(HttpError::ConnectionReadTimeout))?
            .map_err(|e| hyper_error(e, &origin, tls))?;
        // tokio panics on a zero interval; a nanosecond is as good as zero here.
        let between_bytes_timeout = between_bytes_timeout.max(Duration::from_nanos(1));
        let mut timeout = tokio::time::interval(between_bytes_timeout);
        timeout.reset();
        Ok::<_, SendError>(res.map(|incoming| IncomingBody { incoming, timeout }))
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Waits for the response while driving the connection's I/O.
    let res = poll_fn(|cx| match send.as_mut().poll(cx) {
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
    .await?;
    let task: ConnectionTask = Box::pin(async move {
        let Some(conn) = conn.take() else {
            return Ok(());
        };
        if let Err(err) = conn.await {
            if err.is_timeout() {
                return Err(HttpError::HttpResponseTimeout);
            }
            return Err(err.into());
        }
        Ok(())
    });
    Ok((res, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tls::{SettingPath, TlsSettings};
    use http_body_util::{BodyExt, Empty};
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
        let req = Request::get(url)
            .body(Empty::<Bytes>::new().map_err(|e| -> HttpError { match e {} }))
            .unwrap();
        let timeouts = RequestOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            first_byte_timeout: Some(Duration::from_secs(10)),
            between_bytes_timeout: Some(Duration::from_secs(10)),
        };
        let (res, io) = send_request(Some(tls), req, timeouts).await?;
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
