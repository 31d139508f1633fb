//! `Transport` over the host's `wasi:http/outgoing-handler` (WASI 0.2, through the `wasip2`
//! bindings).
//!
//! A request with a body declares its `content-length`, so no host sends it chunked (servers
//! such as Python's http.server read a chunked body as empty). Declaring it changes how the
//! host ends the body: wasmtime hands the body to hyper, and hyper, once it has sent the
//! declared number of bytes, drops its end of the body channel without waiting for
//! `outgoing-body.finish`. From then on the guest's `output-stream` reports `closed`: a
//! `flush` or `check-write` after the last write fails or not depending on whether hyper got
//! there first. waki 0.5.1 turned that `closed` into an error after the server had already
//! received the whole request, and the connector's retry sent the sign-in a second time. Here
//! a `closed` stream after every byte has been accepted is a delivered body; a body the host
//! stopped taking early is settled by the response: the server answered (before reading it
//! all), or the response future carries the host's error.

use crate::http::{Method, Request, Response, Transport, HOST_AUTH_FAILED, TLS_REFUSED};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingResponse, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

pub struct WasiTransport;

/// In nanoseconds, as `wasi:clocks` counts.
const CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;

/// How much of the response body one `blocking-read` asks for.
const READ_SIZE: u64 = 64 * 1024;

impl Transport for WasiTransport {
    fn send(&self, request: &Request) -> Result<Response, String> {
        start(request)?.finish()
    }

    /// Every request is handed to the host before the first response is awaited, so the host
    /// sends them at once (wasmtime starts each on its own task).
    fn send_all(&self, requests: &[Request]) -> Vec<Result<Response, String>> {
        let started: Vec<_> = requests.iter().map(start).collect();
        started
            .into_iter()
            .map(|pending| pending.and_then(Pending::finish))
            .collect()
    }
}

/// A request the host has taken and whose body is written; its response may still be coming.
struct Pending {
    future: FutureIncomingResponse,
    written: Result<(), BodyError>,
    finished: Result<(), ErrorCode>,
}

fn start(request: &Request) -> Result<Pending, String> {
    let target = Target::parse(&request.url)?;
    let body = request.body.as_deref();

    let outgoing = OutgoingRequest::new(headers(request)?);
    outgoing
        .set_method(&method(request.method))
        .map_err(|()| format!("the host refused the method {}", request.method.as_str()))?;
    outgoing
        .set_scheme(Some(&target.scheme))
        .map_err(|()| "the host refused the URL's scheme".to_string())?;
    outgoing
        .set_authority(Some(target.authority))
        .map_err(|()| "the host refused the URL's host and port".to_string())?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| "the host refused the URL's path".to_string())?;
    let outgoing_body = outgoing
        .body()
        .map_err(|()| "the host gave no request body to write".to_string())?;

    let options = RequestOptions::new();
    // A host that cannot bound the connect still sends the request; the connector's own
    // deadlines remain.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));

    let future = outgoing_handler::handle(outgoing, Some(options))
        .map_err(|e| format!("the host refused the request: {}", describe(&e)))?;

    let written = write_body(&outgoing_body, body.unwrap_or_default());
    // `finish` checks the bytes written against the declared length; when the host stopped
    // taking the body early it says so here, and the response below tells why.
    let finished = OutgoingBody::finish(outgoing_body, None);
    Ok(Pending {
        future,
        written,
        finished,
    })
}

impl Pending {
    fn finish(self) -> Result<Response, String> {
        match wait_for(&self.future) {
            Ok(response) => read_response(response),
            Err(e) => {
                let mut message = e;
                if let Err(body_error) = self.written {
                    message.push_str(&format!(" (writing the request body: {body_error})"));
                } else if let Err(code) = self.finished {
                    message.push_str(&format!(
                        " (finishing the request body: {})",
                        describe(&code)
                    ));
                }
                Err(message)
            }
        }
    }
}

fn method(method: Method) -> wasip2::http::types::Method {
    use wasip2::http::types::Method as Wasi;
    match method {
        Method::Get => Wasi::Get,
        Method::Post => Wasi::Post,
        Method::Patch => Wasi::Patch,
        Method::Delete => Wasi::Delete,
    }
}

/// The `content-length` a request goes out with: the size of its body, and `0` for a
/// body-less POST, PATCH or DELETE, which some servers refuse without one (as Python's
/// `requests` sends them). A body-less GET has neither header nor body.
fn content_length(request: &Request) -> Option<usize> {
    match (&request.body, request.method) {
        (Some(body), _) => Some(body.len()),
        (None, Method::Get) => None,
        (None, Method::Post | Method::Patch | Method::Delete) => Some(0),
    }
}

/// The request's headers with its `content-length`. A caller's own `content-length` is
/// dropped: the framing follows the bytes this module writes. Errors name the header, never
/// its value (it may be a credential).
fn headers(request: &Request) -> Result<Fields, String> {
    let fields = Fields::new();
    let length = content_length(request).map(|n| ("content-length", n.to_string()));
    let own = request
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.as_str(), value.clone()));
    for (name, value) in own.chain(length) {
        fields.append(name, value.as_bytes()).map_err(|e| match e {
            HeaderError::InvalidSyntax => format!("invalid header `{name}`"),
            HeaderError::Forbidden => format!("the host forbids the header `{name}`"),
            HeaderError::Immutable => format!("the host refused the header `{name}`"),
        })?;
    }
    Ok(fields)
}

/// What went wrong with the request body, when the host did not take all of it.
type BodyError = String;

/// Writes `bytes` as the host allows (`check-write`, then `write`), then flushes. `Ok` when
/// every byte was accepted, even if the host closed the stream after the last one (see the
/// module's note).
fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), BodyError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| "the host gave no body stream".to_string())?;
    let result = write_all(&stream, bytes);
    // The stream is a child of the body: it goes before `finish` consumes the body.
    drop(stream);
    result
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), BodyError> {
    let pollable = stream.subscribe();
    let mut rest = bytes;
    while !rest.is_empty() {
        let permit = match stream.check_write() {
            Ok(0) => {
                pollable.block();
                continue;
            }
            Ok(permit) => permit,
            Err(e) => return Err(stopped(e, bytes.len() - rest.len())),
        };
        let take = usize::try_from(permit).map_or(rest.len(), |p| p.min(rest.len()));
        let Some((chunk, tail)) = rest.split_at_checked(take) else {
            return Err("the body stream's write permit was out of range".to_string());
        };
        stream
            .write(chunk)
            .map_err(|e| stopped(e, bytes.len() - rest.len()))?;
        rest = tail;
    }
    // Every byte is with the host. Waiting for the flush lets a host that buffers send it; a
    // `closed` stream here is the host having ended the body at its declared length.
    match stream.flush() {
        Ok(()) | Err(StreamError::Closed) => {}
        Err(StreamError::LastOperationFailed(e)) => return Err(io_error(&e)),
    }
    pollable.block();
    match stream.check_write() {
        Ok(_) | Err(StreamError::Closed) => Ok(()),
        Err(StreamError::LastOperationFailed(e)) => Err(io_error(&e)),
    }
}

/// Why the host took only `sent` bytes of the body.
fn stopped(e: StreamError, sent: usize) -> BodyError {
    match e {
        StreamError::Closed => format!("the host closed the body after {sent} bytes"),
        StreamError::LastOperationFailed(e) => {
            format!("failed after {sent} bytes: {}", io_error(&e))
        }
    }
}

fn io_error(e: &wasip2::io::error::Error) -> String {
    match wasip2::http::types::http_error_code(e) {
        Some(code) => describe(&code),
        None => e.to_debug_string(),
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::TlsCertificateError => {
            format!("{TLS_REFUSED}the host refused the server's certificate (TlsCertificateError)")
        }
        ErrorCode::TlsAlertReceived(alert) => format!(
            "{TLS_REFUSED}the server refused the TLS handshake (TlsAlertReceived: {})",
            alert.alert_message.as_deref().unwrap_or("no alert name")
        ),
        // The host's own words: what to fix (it holds no credential).
        ErrorCode::InternalError(Some(message)) if message.starts_with(HOST_AUTH_FAILED) => {
            message.clone()
        }
        other => format!("{other:?}"),
    }
}

fn wait_for(future: &FutureIncomingResponse) -> Result<IncomingResponse, String> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(describe(&code)),
            Some(Err(())) => return Err("the response was already taken".to_string()),
            None => future.subscribe().block(),
        }
    }
}

fn read_response(response: IncomingResponse) -> Result<Response, String> {
    let status = response.status();
    let headers = {
        let fields = response.headers();
        let entries = fields.entries();
        drop(fields);
        entries
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&value).into_owned(),
                )
            })
            .collect()
    };
    let incoming = response
        .consume()
        .map_err(|()| "the response body was already taken".to_string())?;
    let stream = incoming
        .stream()
        .map_err(|()| "the response body stream was already taken".to_string())?;
    let body = read_all(&stream).map_err(|e| format!("reading the body: {e}"))?;
    // Children before parents: the stream, then the body, then the response.
    drop(stream);
    drop(incoming);
    drop(response);
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_all(stream: &InputStream) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_SIZE) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => return Err(io_error(&e)),
        }
    }
}

/// The parts of an absolute `http(s)://host[:port]/path?query` URL that `wasi:http` takes
/// separately. Errors do not repeat the URL: it may carry credentials.
struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_with_query: String,
}

impl<'a> Target<'a> {
    fn parse(url: &'a str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "the URL has no scheme (http:// or https://)".to_string())?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_string()),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest
            .split_at_checked(end)
            .ok_or_else(|| "the URL could not be split".to_string())?;
        if authority.is_empty() {
            return Err("the URL has no host".to_string());
        }
        let path_with_query = if path_with_query.starts_with('/') {
            path_with_query.to_string()
        } else {
            format!("/{path_with_query}")
        };
        Ok(Target {
            scheme,
            authority,
            path_with_query,
        })
    }
}
