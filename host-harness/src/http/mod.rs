//! The one choke point for the guest's outgoing HTTP: every request is counted, checked
//! against the egress policy, then sent live, recorded or replayed. Nothing else in the
//! harness gives the guest network access (WASI sockets stay denied). With host-provided
//! authentication (`host_auth`, [`host_auth`]) a live or recorded request to `base_url`'s
//! origin gets the host's credentials here, after the egress check and after the request was
//! written to the cassette.

pub mod caps;
pub mod egress;
pub mod gssapi;
pub mod host_auth;
pub mod negotiate;
pub mod player;
pub mod replay_cassette;
pub mod send;
pub mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::cassette::{Body, Cassette, Interaction, RecordedRequest, RecordedResponse};
use crate::limits::Limits;
use crate::scrub::Scrubber;
use caps::{body_cap_message, capped, content_length, display_url, effective_timeouts};
use caps::{BodyFault, TimeoutKind};
use egress::EgressPolicy;
use host_auth::HostAuth;
use player::{describe, IncomingRequest, Player};
use replay_cassette::{Answer, ReplayCassette};
use send::{send_request, SendError};
use tls::Tls;

/// Headers that describe one transfer rather than the exchange; never stored or replayed.
const TRANSFER_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "keep-alive",
];

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

enum Mode {
    Live,
    Record {
        path: PathBuf,
        cassette: Mutex<Cassette>,
    },
    Replay {
        path: PathBuf,
        player: Mutex<Player>,
    },
}

/// A request the harness refused, could not answer, or cut short. All but a timeout make the
/// harness operation that caused them fail with this message rather than with the guest's
/// secondary error; a timeout only explains a failure (the guest may retry and succeed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    Denied(String),
    Mismatch(String),
    BodyTooLarge(String),
    Timeout(String),
    /// The server's certificate was refused, or the server refused the TLS handshake: what it
    /// was and which setting fixes it.
    TlsRefused(String),
    /// The host could not make its credentials for `host_auth` (no Kerberos ticket, an SPN the
    /// KDC does not know, …): what went wrong and what fixes it. The request was not sent.
    HostAuth(String),
}

impl HttpFailure {
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m)
            | Self::Mismatch(m)
            | Self::BodyTooLarge(m)
            | Self::Timeout(m)
            | Self::TlsRefused(m)
            | Self::HostAuth(m) => m,
        }
    }

    /// Whether the operation fails with this whatever the guest made of it.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Timeout(_))
    }
}

#[derive(Debug, Default)]
struct Log {
    requests: u64,
    failures: Vec<HttpFailure>,
    /// Requests sent and not yet answered (`METHOD url`), so a deadline can say what it
    /// was waiting for.
    in_flight: Vec<(u64, String)>,
}

/// Removes its request from the in-flight list when the request ends or is abandoned.
struct InFlight<'a> {
    state: &'a HttpState,
    id: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.state.log)
            .in_flight
            .retain(|(id, _)| *id != self.id);
    }
}

/// Position in the failure log, to ask for failures that happened after it.
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// What the HTTP layer has to say at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub requests: u64,
    pub failures: Vec<HttpFailure>,
    /// Record mode: where the cassette was written and how many interactions it holds.
    pub cassette_written: Option<(PathBuf, usize)>,
    /// Replay mode: the cassette and its interactions never requested (`METHOD path?query`).
    pub replayed: Option<(PathBuf, Vec<String>)>,
}

/// Shared between the hooks living in the wasmtime store and the harness that queries them.
pub struct HttpState {
    policy: EgressPolicy,
    mode: Mode,
    /// Scrubs what is stored in (and matched against) cassettes.
    storage: Scrubber,
    /// Scrubs what is printed.
    display: Scrubber,
    verbose: bool,
    limits: Limits,
    /// The TLS client of live and recorded requests; replay and the metadata probe have none.
    tls: Option<Arc<Tls>>,
    /// Credentials the host attaches to live and recorded requests to `base_url`'s origin.
    host_auth: Option<Arc<HostAuth>>,
    /// Connections kept open between live and recorded requests.
    pool: send::Pool,
    log: Mutex<Log>,
}

/// How live and recorded requests leave the harness, besides the egress policy.
#[derive(Default)]
pub struct Outbound {
    /// Sends `https://` requests; without it they fail.
    pub tls: Option<Arc<Tls>>,
    /// `host_auth`: the host's credentials for `base_url`'s origin.
    pub host_auth: Option<Arc<HostAuth>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these structures half-updated in a way that matters more
    // than losing the run's report.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the HTTP layer is set up.
pub enum HttpSetup {
    Live,
    Record {
        path: PathBuf,
        cassette: Cassette,
    },
    Replay {
        path: PathBuf,
        cassette: ReplayCassette,
    },
}

impl HttpState {
    /// Without a TLS client: for replay, and for live runs that reach only `http://` origins.
    pub fn new(
        setup: HttpSetup,
        policy: EgressPolicy,
        storage: Scrubber,
        display: Scrubber,
        verbose: bool,
        limits: Limits,
    ) -> Arc<Self> {
        Self::with_outbound(
            setup,
            policy,
            storage,
            display,
            verbose,
            limits,
            Outbound::default(),
        )
    }

    /// `outbound` says how live and recorded requests are sent (TLS) and authenticated.
    pub fn with_outbound(
        setup: HttpSetup,
        policy: EgressPolicy,
        storage: Scrubber,
        display: Scrubber,
        verbose: bool,
        limits: Limits,
        outbound: Outbound,
    ) -> Arc<Self> {
        let mode = match setup {
            HttpSetup::Live => Mode::Live,
            HttpSetup::Record { path, cassette } => Mode::Record {
                path,
                cassette: Mutex::new(cassette),
            },
            HttpSetup::Replay { path, cassette } => {
                let name = path.display().to_string();
                Mode::Replay {
                    path,
                    player: Mutex::new(Player::from_replay(cassette, name)),
                }
            }
        };
        Arc::new(Self {
            policy,
            mode,
            storage,
            display,
            verbose,
            limits,
            tls: outbound.tls,
            host_auth: outbound.host_auth,
            pool: send::Pool::default(),
            log: Mutex::new(Log::default()),
        })
    }

    pub fn requests(&self) -> u64 {
        lock(&self.log).requests
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    pub fn mark(&self) -> Mark {
        Mark(lock(&self.log).failures.len())
    }

    /// The first denial, replay mismatch or oversized body after `mark`, if any.
    pub fn failure_since(&self, mark: Mark) -> Option<HttpFailure> {
        self.first_since(mark, HttpFailure::is_fatal)
    }

    /// The first request timeout after `mark`, if any.
    pub fn timeout_since(&self, mark: Mark) -> Option<HttpFailure> {
        self.first_since(mark, |f| !f.is_fatal())
    }

    fn first_since(&self, mark: Mark, pred: impl Fn(&HttpFailure) -> bool) -> Option<HttpFailure> {
        let log = lock(&self.log);
        log.failures.iter().skip(mark.0).find(|f| pred(f)).cloned()
    }

    /// The oldest request still waiting for its answer.
    pub fn waiting_for(&self) -> Option<String> {
        lock(&self.log)
            .in_flight
            .first()
            .map(|(_, line)| line.clone())
    }

    fn start(&self, line: &str) -> InFlight<'_> {
        let mut log = lock(&self.log);
        let id = log.requests;
        log.in_flight.push((id, line.to_string()));
        InFlight { state: self, id }
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Live => "live",
            Mode::Record { .. } => "record",
            Mode::Replay { .. } => "replay",
        }
    }

    pub fn failures(&self) -> Vec<HttpFailure> {
        lock(&self.log).failures.clone()
    }

    /// Replay: interactions not requested so far.
    pub fn unused(&self) -> Vec<String> {
        match &self.mode {
            Mode::Replay { player, .. } => lock(player).unused(),
            _ => Vec::new(),
        }
    }

    /// Ends the run: writes the cassette in record mode.
    pub fn finish(&self) -> anyhow::Result<RunReport> {
        let mut report = RunReport {
            requests: self.requests(),
            failures: self.failures(),
            ..Default::default()
        };
        match &self.mode {
            Mode::Live => {}
            Mode::Record { path, cassette } => {
                let mut cassette = lock(cassette);
                cassette.recorded_at = crate::cassette::now_rfc3339();
                cassette.save(path)?;
                report.cassette_written = Some((path.clone(), cassette.interactions.len()));
            }
            Mode::Replay { path, player } => {
                report.replayed = Some((path.clone(), lock(player).unused()));
            }
        }
        Ok(report)
    }

    fn fail(&self, failure: HttpFailure) {
        lock(&self.log).failures.push(failure);
    }

    /// Counting and the egress check happen before any mode-specific code: a bypass here would
    /// let recording or replay reach an origin the policy refuses.
    fn admit(&self, uri: &http::Uri) -> Result<(), HttpError> {
        lock(&self.log).requests += 1;
        match self.policy.check(uri) {
            Ok(_) => Ok(()),
            Err(message) => {
                if self.verbose {
                    eprintln!("http: {} {}", self.mode_name(), self.display.text(&message));
                }
                self.fail(HttpFailure::Denied(message));
                Err(HttpError::HttpRequestDenied)
            }
        }
    }

    async fn dispatch(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> SendResult {
        let started = Instant::now();
        let line = self.display.text(&format!(
            "{} {}",
            request.method(),
            display_url(request.uri())
        ));
        let timeouts = effective_timeouts(options, &self.limits);
        let _in_flight = self.start(&line);
        let result = match &self.mode {
            Mode::Live => self.clone().live(request, timeouts, &line).await,
            Mode::Record { .. } => self.record(request, timeouts, &line).await,
            Mode::Replay { .. } => self.replay(request, &line).await,
        };
        if let Err(e) = &result {
            if let Some(kind) = TimeoutKind::of(e, false) {
                self.fail(HttpFailure::Timeout(kind.message(&line, &timeouts)));
            }
        }
        if self.verbose {
            let outcome = match &result {
                Ok((res, _)) => res.status().as_u16().to_string(),
                Err(e) => format!("error: {e}"),
            };
            eprintln!(
                "http: {} {line} -> {outcome} ({} ms)",
                self.mode_name(),
                started.elapsed().as_millis()
            );
        }
        result
    }

    /// Refuses a response whose declared length is over the cap before reading any of it.
    fn check_declared_length(
        &self,
        headers: &http::HeaderMap,
        line: &str,
    ) -> Result<(), HttpError> {
        match content_length(headers) {
            Some(n) if n > self.limits.max_body_bytes => Err(self.body_too_large(line, Some(n))),
            _ => Ok(()),
        }
    }

    fn body_too_large(&self, line: &str, seen: Option<u64>) -> HttpError {
        let cap = self.limits.max_body_bytes;
        self.fail(HttpFailure::BodyTooLarge(body_cap_message(line, cap, seen)));
        HttpError::HttpResponseBodySize(Some(cap))
    }

    /// The body wrapped in the cap, reporting what goes wrong while it streams.
    fn capped_body<B>(self: &Arc<Self>, body: B, line: &str, timeouts: &RequestOptions) -> WasiBody
    where
        B: http_body::Body<Data = Bytes, Error = HttpError> + Send + 'static,
    {
        let state = self.clone();
        let line = line.to_string();
        let timeouts = *timeouts;
        capped(body, self.limits.max_body_bytes, move |fault| match fault {
            BodyFault::TooLarge => {
                state.body_too_large(&line, None);
            }
            BodyFault::Timeout(kind) => {
                state.fail(HttpFailure::Timeout(kind.message(&line, &timeouts)));
            }
        })
    }

    /// Sends a live request through the harness's TLS client; a refused certificate is
    /// logged for the operator before the guest hears of it.
    async fn send(
        &self,
        head: &http::Request<()>,
        body: Bytes,
        timeouts: RequestOptions,
    ) -> Result<(http::Response<send::IncomingBody>, send::ConnectionTask), HttpError> {
        send_request(self.tls.as_deref(), &self.pool, head, body, timeouts)
            .await
            .map_err(|SendError { code, tls_refusal }| {
                if let Some(message) = tls_refusal {
                    self.fail(HttpFailure::TlsRefused(message));
                }
                code
            })
    }

    /// Attaches the host's credentials (`host_auth`) to a request for `base_url`'s origin, made
    /// afresh for this request. The host's header replaces any the connector set. When they
    /// cannot be made the request is not sent: the guest gets a failure its transport reads as
    /// final (`connector_sdk::http::HOST_AUTH_FAILED`), and the operation fails with the
    /// message naming the fix.
    async fn authenticate(&self, parts: &mut http::request::Parts) -> Result<(), HttpError> {
        let Some(auth) = &self.host_auth else {
            return Ok(());
        };
        if !auth.applies_to(&parts.uri) {
            return Ok(());
        }
        let refused = |message: String| {
            self.fail(HttpFailure::HostAuth(message.clone()));
            HttpError::InternalError(Some(format!(
                "{}{message}",
                connector_sdk::http::HOST_AUTH_FAILED
            )))
        };
        let value = auth.authorization().await.map_err(refused)?;
        let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
            refused("host authentication made a header value that is not valid HTTP".into())
        })?;
        value.set_sensitive(true);
        parts.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }

    async fn live(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        timeouts: RequestOptions,
        line: &str,
    ) -> SendResult {
        // Buffered so the request goes out with a content-length, exactly as in record mode:
        // the guest streams its body, which hyper would otherwise send chunked, and some
        // servers (Python's http.server, for one) read a chunked body as empty. Request
        // bodies are small.
        let (mut parts, body) = request.into_parts();
        let bytes = body.collect().await?.to_bytes();
        self.authenticate(&mut parts).await?;
        let head = http::Request::from_parts(parts, ());
        let (response, io) = self.send(&head, bytes, timeouts).await?;
        self.check_declared_length(response.headers(), line)?;
        let response = response.map(|b| self.capped_body(b, line, &timeouts));
        Ok((response, Box::new(io)))
    }

    async fn record(
        self: &Arc<Self>,
        request: http::Request<WasiBody>,
        timeouts: RequestOptions,
        line: &str,
    ) -> SendResult {
        let (mut parts, body) = request.into_parts();
        // The guest writes the body after the request has started; this waits for all of it.
        let req_bytes = body.collect().await?.to_bytes();
        let recorded_request = RecordedRequest {
            method: parts.method.to_string(),
            url: self.storage.text(&parts.uri.to_string()),
            headers: stored_headers(&parts.headers, |n, v| self.storage.request_header(n, v)),
            body: self.stored_body(&req_bytes),
        };
        // After the request is stored: the cassette holds what the connector sent, never the
        // host's credentials.
        self.authenticate(&mut parts).await?;
        let head = http::Request::from_parts(parts, ());
        let (response, io) = self.send(&head, req_bytes, timeouts).await?;
        self.check_declared_length(response.headers(), line)?;
        // The connection future must keep running while the body is read.
        let io = tokio::spawn(io);
        let (parts, body) = response.into_parts();
        let res_bytes = self
            .capped_body(body, line, &timeouts)
            .collect()
            .await?
            .to_bytes();
        let recorded_response = RecordedResponse {
            status: parts.status.as_u16(),
            headers: stored_headers(&parts.headers, |n, v| self.storage.response_header(n, v)),
            body: self.stored_body(&res_bytes),
        };
        if let Mode::Record { cassette, .. } = &self.mode {
            lock(cassette).interactions.push(Interaction {
                request: recorded_request,
                response: recorded_response,
            });
        }
        let io: IoFuture = Box::new(async move {
            match io.await {
                Ok(result) => result,
                Err(e) => Err(HttpError::InternalError(Some(e.to_string()))),
            }
        });
        Ok((http::Response::from_parts(parts, full(res_bytes)), io))
    }

    async fn replay(&self, request: http::Request<WasiBody>, line: &str) -> SendResult {
        let (parts, body) = request.into_parts();
        // The guest writes the body after the request has started; this waits for all of it.
        let bytes = body.collect().await?.to_bytes();
        let incoming = IncomingRequest {
            method: parts.method.to_string(),
            url: self.storage.text(&parts.uri.to_string()),
            body: self.stored_body(&bytes),
        };
        let Mode::Replay { player, .. } = &self.mode else {
            return Err(HttpError::InternalError(Some("not replaying".into())));
        };
        let taken = lock(player).take(&incoming);
        match taken {
            Ok(answer) => {
                let size = answer.body.len() as u64;
                if size > self.limits.max_body_bytes {
                    return Err(self.body_too_large(line, Some(size)));
                }
                Ok((replayed_response(answer)?, Box::new(async { Ok(()) })))
            }
            Err(message) => {
                self.fail(HttpFailure::Mismatch(self.display.text(&message)));
                Err(HttpError::InternalError(Some(format!(
                    "replay: no recorded interaction for {}",
                    self.display
                        .text(&describe(&incoming.method, &incoming.url))
                ))))
            }
        }
    }

    fn stored_body(&self, bytes: &[u8]) -> Body {
        let mut body = Body::from_bytes(bytes);
        if let Some(json) = body.json.as_mut() {
            self.storage.json(json);
        }
        if let Some(text) = body.text.as_mut() {
            *text = self.storage.body_text(text);
        }
        body
    }
}

fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn is_transfer_header(name: &str) -> bool {
    TRANSFER_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

fn stored_headers(
    headers: &http::HeaderMap,
    scrub: impl Fn(&str, &str) -> String,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        if is_transfer_header(&name) {
            continue;
        }
        let value = scrub(&name, &String::from_utf8_lossy(value.as_bytes()));
        out.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// The recorded response as the guest will see it: content-length recomputed (the recorded
/// one may describe a body before scrubbing or hand edits).
pub fn replayed_response(answer: Answer) -> Result<http::Response<WasiBody>, HttpError> {
    let mut builder = http::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        if !is_transfer_header(name) {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    builder
        .header(http::header::CONTENT_LENGTH, answer.body.len())
        .body(full(Bytes::from(answer.body)))
        .map_err(|e| HttpError::InternalError(Some(format!("replay: bad recorded response: {e}"))))
}

/// The hooks object living in the wasmtime store; everything it knows is in the shared state.
pub struct Hooks {
    state: Arc<HttpState>,
}

impl Hooks {
    pub fn new(state: Arc<HttpState>) -> Self {
        Self { state }
    }
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if let Err(e) = self.state.admit(request.uri()) {
            return Box::new(async move { Err(e) });
        }
        let state = self.state.clone();
        Box::new(state.dispatch(request, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::Interaction;
    use std::collections::BTreeMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PASSWORD: &str = "s3cret-password";

    fn state(setup: HttpSetup, base_url: &str) -> Arc<HttpState> {
        let secrets = vec![PASSWORD.to_string()];
        let (storage, _) = Scrubber::for_storage(&secrets, &[]);
        HttpState::new(
            setup,
            EgressPolicy::new(Some(base_url), &[]).unwrap(),
            storage,
            Scrubber::for_display(&secrets),
            false,
            Limits::default(),
        )
    }

    fn request(method: &str, url: &str, body: WasiBody) -> http::Request<WasiBody> {
        http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .header("authorization", format!("Basic {PASSWORD}"))
            .body(body)
            .unwrap()
    }

    fn empty() -> WasiBody {
        full(Bytes::new())
    }

    async fn send(state: &Arc<HttpState>, req: http::Request<WasiBody>) -> SendResult {
        let mut hooks = Hooks::new(state.clone());
        let fut = hooks.send_request(req, None, Box::new(async { Ok(()) }));
        Box::into_pin(fut).await
    }

    async fn body_text(res: http::Response<WasiBody>) -> String {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn login_cassette() -> Cassette {
        let mut c = Cassette::new("test".into(), "t".into(), BTreeMap::new());
        c.interactions.push(Interaction {
            request: RecordedRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:28080/auth/token".into(),
                headers: BTreeMap::new(),
                body: Body::from_bytes(br#"{"username":"admin","password":"[REDACTED]"}"#),
            },
            response: RecordedResponse {
                status: 201,
                headers: [
                    ("content-type".to_string(), "application/json".to_string()),
                    ("content-length".to_string(), "9999".to_string()),
                ]
                .into(),
                body: Body::from_bytes(br#"{ "access_token": "[REDACTED]" }"#),
            },
        });
        c
    }

    fn replay_state() -> Arc<HttpState> {
        login_replay(&[PASSWORD.to_string()], false, Limits::default())
    }

    /// Replays `login_cassette()` with these secrets scrubbed and these limits.
    fn login_replay(secrets: &[String], verbose: bool, limits: Limits) -> Arc<HttpState> {
        let (storage, _) = Scrubber::for_storage(secrets, &[]);
        HttpState::new(
            HttpSetup::Replay {
                path: "login.json".into(),
                cassette: ReplayCassette::from_cassette(login_cassette()),
            },
            EgressPolicy::new(Some("http://127.0.0.1:28080"), &[]).unwrap(),
            storage,
            Scrubber::for_display(secrets),
            verbose,
            limits,
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replay_waits_for_a_body_written_after_the_request_started() {
        let state = replay_state();
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, HttpError>::new(4);
        let req = request(
            "POST",
            "http://127.0.0.1:28080/auth/token",
            body.boxed_unsync(),
        );
        let pending = tokio::spawn({
            let state = state.clone();
            async move { send(&state, req).await }
        });
        // The guest's HTTP crate writes the body only after `handle` returned.
        tokio::task::yield_now().await;
        tx.send_data(Bytes::from(format!(r#"{{"password":"{PASSWORD}","#)))
            .await
            .unwrap();
        tx.send_data(Bytes::from_static(br#""username":"admin"}"#))
            .await
            .unwrap();
        drop(tx);
        let (res, _io) = pending.await.unwrap().unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["content-length"], "29");
        assert_eq!(body_text(res).await, r#"{"access_token":"[REDACTED]"}"#);
        assert!(state.unused().is_empty());
        assert_eq!(state.requests(), 1);
        assert!(state.failures().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replay_mismatch_fails_the_request_and_is_recorded() {
        let state = replay_state();
        let mark = state.mark();
        let err = send(
            &state,
            request(
                "GET",
                "http://127.0.0.1:28080/api/v2/users?limit=100",
                empty(),
            ),
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(err, HttpError::InternalError(Some(ref m)) if m.contains("GET /api/v2/users?limit=100"))
        );
        let Some(HttpFailure::Mismatch(msg)) = state.failure_since(mark) else {
            panic!("no mismatch recorded")
        };
        assert!(msg.contains("closest: POST /auth/token"), "{msg}");
        assert_eq!(state.unused(), ["POST /auth/token"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn egress_is_checked_before_any_mode() {
        let state = replay_state();
        for url in [
            "http://127.0.0.1:28081/auth/token",
            "https://127.0.0.1:28080/auth/token",
            "http://example.com/auth/token",
        ] {
            let err = send(&state, request("POST", url, empty()))
                .await
                .err()
                .unwrap();
            assert!(matches!(err, HttpError::HttpRequestDenied), "{err}");
        }
        assert_eq!(state.requests(), 3);
        let failures = state.failures();
        assert_eq!(failures.len(), 3);
        assert!(
            matches!(&failures[2], HttpFailure::Denied(m) if m.contains("http://example.com:80"))
        );
        // Denied requests consumed nothing from the cassette.
        assert_eq!(state.unused(), ["POST /auth/token"]);
    }

    /// Serves one request with a fixed response, returning what it received.
    async fn one_shot_server(
        response_body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            let reply = format!(
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nset-cookie: session=abc\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{response_body}",
                response_body.len()
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
            sock.shutdown().await.unwrap();
            String::from_utf8(buf).unwrap()
        });
        (base, task)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn record_returns_the_real_response_and_stores_it_scrubbed() {
        let (base, server) =
            one_shot_server(r#"{"access_token":"eyJ.real.token","echo":"s3cret-password"}"#).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        let state = state(
            HttpSetup::Record {
                path: path.clone(),
                cassette: Cassette::new("src".into(), "t".into(), BTreeMap::new()),
            },
            &base,
        );
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, HttpError>::new(4);
        let req = request(
            "POST",
            &format!("{base}/auth/token?b=2&a=1"),
            body.boxed_unsync(),
        );
        let pending = tokio::spawn({
            let state = state.clone();
            async move { send(&state, req).await }
        });
        tokio::task::yield_now().await;
        tx.send_data(Bytes::from(format!(
            r#"{{"username":"admin","password":"{PASSWORD}"}}"#
        )))
        .await
        .unwrap();
        drop(tx);
        let (res, _io) = pending.await.unwrap().unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(
            body_text(res).await,
            r#"{"access_token":"eyJ.real.token","echo":"s3cret-password"}"#
        );
        let received = server.await.unwrap();
        assert!(
            received.ends_with(&format!(r#""password":"{PASSWORD}"}}"#)),
            "{received}"
        );

        let report = state.finish().unwrap();
        assert_eq!(report.cassette_written, Some((path.clone(), 1)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("eyJ.real.token"), "{text}");
        let c = Cassette::load(&path).unwrap();
        let i = &c.interactions[0];
        assert_eq!(i.request.url, format!("{base}/auth/token?b=2&a=1"));
        assert_eq!(i.request.headers["authorization"], "[REDACTED]");
        assert!(!i.request.headers.contains_key("host"));
        assert_eq!(
            i.request.body.json.as_ref().unwrap()["password"],
            "[REDACTED]"
        );
        assert_eq!(i.response.headers["set-cookie"], "session=[REDACTED]");
        assert!(!i.response.headers.contains_key("content-length"));
        assert_eq!(i.response.body.json.as_ref().unwrap()["echo"], "[REDACTED]");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn mismatch_messages_never_show_a_short_password() {
        // Too short for literal scrubbing of stored data, so only display scrubbing hides it.
        let secrets = vec!["pw42".to_string()];
        let (_, skipped) = Scrubber::for_storage(&secrets, &[]);
        assert_eq!(skipped, 1);
        let state = login_replay(&secrets, true, Limits::default());
        let err = send(
            &state,
            request(
                "POST",
                "http://127.0.0.1:28080/auth/token?user=pw42",
                full(Bytes::from_static(b"password=pw42")),
            ),
        )
        .await
        .err()
        .unwrap();
        assert!(!err.to_string().contains("pw42"), "{err}");
        let failures = state.failures();
        let msg = failures[0].message();
        assert!(
            msg.contains("user=[REDACTED]") && msg.contains("password=[REDACTED]"),
            "{msg}"
        );
        assert!(!msg.contains("pw42"), "{msg}");
    }

    #[test]
    fn replayed_json_gets_a_content_type_when_the_cassette_has_none() {
        let mut c = Cassette::new("t".into(), "t".into(), BTreeMap::new());
        c.interactions.push(Interaction {
            request: RecordedRequest {
                method: "GET".into(),
                url: "http://h/".into(),
                headers: BTreeMap::new(),
                body: Body::default(),
            },
            response: RecordedResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: Body::from_bytes(b"[1]"),
            },
        });
        let answer = ReplayCassette::from_cassette(c).answer(0).unwrap();
        let res = replayed_response(answer).unwrap();
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["content-length"], "3");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replay_refuses_a_recorded_body_over_the_cap() {
        let state = login_replay(
            &[PASSWORD.to_string()],
            false,
            Limits {
                max_body_bytes: 8,
                ..Limits::default()
            },
        );
        let mark = state.mark();
        let req = request(
            "POST",
            "http://127.0.0.1:28080/auth/token",
            full(Bytes::from(format!(
                r#"{{"password":"{PASSWORD}","username":"admin"}}"#
            ))),
        );
        let err = send(&state, req).await.err().unwrap();
        assert!(
            matches!(err, HttpError::HttpResponseBodySize(Some(8))),
            "{err}"
        );
        let Some(HttpFailure::BodyTooLarge(msg)) = state.failure_since(mark) else {
            panic!("no body failure recorded: {:?}", state.failures())
        };
        assert!(
            msg.contains("POST http://127.0.0.1:28080/auth/token exceeds the cap of 8 bytes")
                && msg.contains("--max-body-mib"),
            "{msg}"
        );
    }

    /// Host credentials that count their tokens, so each request's can be told apart.
    struct CountingCredentials {
        made: std::sync::atomic::AtomicUsize,
        fail: bool,
    }

    impl host_auth::Credentials for CountingCredentials {
        fn authorization(&self) -> Result<String, String> {
            let n = self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if self.fail {
                return Err(
                    "Kerberos (host_auth=negotiate): no Kerberos ticket: run `kinit`".into(),
                );
            }
            Ok(format!("Negotiate dG9rZW4t{n}"))
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    fn host_auth_for(base: &str, fail: bool) -> (Arc<CountingCredentials>, Arc<HostAuth>) {
        let credentials = Arc::new(CountingCredentials {
            made: Default::default(),
            fail,
        });
        let settings: BTreeMap<String, String> = [
            ("base_url".to_string(), format!("{base}/sub")),
            ("host_auth".to_string(), "negotiate".to_string()),
        ]
        .into();
        let info = crate::bindings::wit::ConnectorInfo {
            name: "airflow".into(),
            version: "0".into(),
            description: String::new(),
            config_fields: ["base_url", "host_auth"]
                .into_iter()
                .map(|name| crate::bindings::wit::ConfigField {
                    name: name.into(),
                    description: String::new(),
                    required: false,
                    secret: false,
                    default_value: None,
                })
                .collect(),
            resource_types: Vec::new(),
        };
        let options = host_auth::HostAuthOptions {
            credentials: Some(credentials.clone()),
            ..Default::default()
        };
        let auth = HostAuth::resolve(&settings, &info, &options, true)
            .unwrap()
            .unwrap();
        (credentials, Arc::new(auth))
    }

    /// Answers every request `200 {}` on its own connection; returns the request heads, with
    /// header names lower-cased, as they arrive.
    async fn capture_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let head = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        break text[..end].to_string();
                    }
                    if n == 0 {
                        break text;
                    }
                };
                let head = head
                    .lines()
                    .map(|l| match l.split_once(':') {
                        Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
                        None => l.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                seen.lock().unwrap().push(head);
                let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: 2\r\nconnection: close\r\n\r\n{}";
                sock.write_all(reply.as_bytes()).await.unwrap();
                sock.shutdown().await.unwrap();
            }
        });
        (base, heads)
    }

    fn plain_request(method: &str, url: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .method(method)
            .uri(url)
            .body(empty())
            .unwrap()
    }

    fn authorization_of(head: &str) -> Option<&str> {
        head.lines()
            .find_map(|l| l.strip_prefix("authorization:"))
            .map(str::trim)
    }

    fn with_host_auth(
        setup: HttpSetup,
        base: &str,
        extra: &str,
        auth: Arc<HostAuth>,
    ) -> Arc<HttpState> {
        HttpState::with_outbound(
            setup,
            EgressPolicy::new(Some(base), &[extra.to_string()]).unwrap(),
            Scrubber::default(),
            Scrubber::default(),
            false,
            Limits::default(),
            Outbound {
                tls: None,
                host_auth: Some(auth),
            },
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn host_credentials_go_fresh_on_each_request_to_base_urls_origin_only() {
        let (base, heads) = capture_server().await;
        let (other, other_heads) = capture_server().await;
        let (credentials, auth) = host_auth_for(&base, false);
        let state = with_host_auth(HttpSetup::Live, &base, &other, auth);
        for url in [
            format!("{base}/sub/api/v1/users"),
            format!("{other}/elsewhere"),
            format!("{base}/sub/api/v1/roles"),
        ] {
            let (res, _io) = send(&state, plain_request("GET", &url)).await.unwrap();
            assert_eq!(res.status(), 200);
        }
        // The connector's own header is replaced, not joined.
        let mut req = plain_request("DELETE", &format!("{base}/sub/api/v1/users/x"));
        req.headers_mut()
            .insert("authorization", "Basic c2VjcmV0".parse().unwrap());
        let (_res, _io) = send(&state, req).await.unwrap();

        let heads = heads.lock().unwrap().clone();
        let sent: Vec<Option<&str>> = heads.iter().map(|h| authorization_of(h)).collect();
        assert_eq!(
            sent,
            [
                Some("Negotiate dG9rZW4t1"),
                Some("Negotiate dG9rZW4t2"),
                Some("Negotiate dG9rZW4t3")
            ],
            "{heads:?}"
        );
        // Another allowed origin gets nothing from the host, and costs no token.
        let other_heads = other_heads.lock().unwrap().clone();
        assert_eq!(other_heads.len(), 1);
        assert_eq!(authorization_of(&other_heads[0]), None, "{other_heads:?}");
        assert_eq!(
            credentials.made.load(std::sync::atomic::Ordering::SeqCst),
            3
        );
        assert!(state.failures().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_recording_holds_what_the_connector_sent_never_the_hosts_credentials() {
        let (base, heads) = capture_server().await;
        let (_, auth) = host_auth_for(&base, false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.json");
        let state = with_host_auth(
            HttpSetup::Record {
                path: path.clone(),
                cassette: Cassette::new("src".into(), "t".into(), BTreeMap::new()),
            },
            &base,
            "http://127.0.0.1:1",
            auth,
        );
        let (_res, _io) = send(
            &state,
            plain_request("GET", &format!("{base}/sub/api/v1/users")),
        )
        .await
        .unwrap();
        assert_eq!(
            authorization_of(&heads.lock().unwrap()[0]),
            Some("Negotiate dG9rZW4t1")
        );
        state.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("dG9rZW4t"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("negotiate"), "{text}");
        let c = Cassette::load(&path).unwrap();
        assert!(!c.interactions[0]
            .request
            .headers
            .contains_key("authorization"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn credentials_the_host_cannot_make_fail_the_request_once_without_sending_it() {
        let (base, heads) = capture_server().await;
        let (credentials, auth) = host_auth_for(&base, true);
        let state = with_host_auth(HttpSetup::Live, &base, "http://127.0.0.1:1", auth);
        let mark = state.mark();
        let err = send(
            &state,
            plain_request("GET", &format!("{base}/sub/api/v1/users")),
        )
        .await
        .err()
        .unwrap();
        // The guest's transport reads this as final: no retry.
        let HttpError::InternalError(Some(text)) = &err else {
            panic!("{err:?}")
        };
        assert!(
            text.starts_with(connector_sdk::http::HOST_AUTH_FAILED) && text.contains("run `kinit`"),
            "{text}"
        );
        assert!(!connector_sdk::http::is_retryable(text));
        let Some(HttpFailure::HostAuth(message)) = state.failure_since(mark) else {
            panic!("{:?}", state.failures())
        };
        assert!(message.contains("run `kinit`"), "{message}");
        assert!(HttpFailure::HostAuth(message).is_fatal());
        assert!(
            heads.lock().unwrap().is_empty(),
            "nothing may reach the server"
        );
        assert_eq!(
            credentials.made.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    }
}
