//! The library entry point: one connector instance in one store, with its HTTP choke point.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::wit;
use crate::bindings::{ConnectorWorld, ConnectorWorldPre};
use crate::cassette::Cassette;
use crate::contract_types as convert;
use crate::error::{ConnectorError, HarnessError};
use crate::guest_stderr::GuestStderr;
use crate::http::egress::{EgressPolicy, Origin};
use crate::http::host_auth::{HostAuth, HostAuthOptions};
use crate::http::{HttpFailure, HttpSetup, HttpState, Mark, Outbound, RunReport};
use crate::limits::{memory_message, LimitKind, Limits, MemoryLimiter};
use crate::progress::Progress;
use crate::scrub::Scrubber;
use crate::settings;
use crate::sync::SyncStats;
use connector_sdk::model;
use sync_engine::sync::Contract;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HttpMode {
    /// Requests go to the real server.
    #[default]
    Live,
    /// Requests go to the real server and are written, scrubbed, to `cassette` by `finish`.
    Record {
        cassette: PathBuf,
        /// Where the recording comes from; default `recorded live from <origin>`.
        source: Option<String>,
    },
    /// Requests are answered from `cassette`; nothing reaches the network.
    Replay { cassette: PathBuf },
}

#[derive(Debug, Clone)]
pub struct HarnessOptions {
    pub component: PathBuf,
    pub mode: HttpMode,
    /// Passed to `configure` as they are.
    pub settings: BTreeMap<String, String>,
    /// Origins (`scheme://host[:port]`) the connector may reach besides `base_url`'s.
    pub extra_allowed_origins: Vec<String>,
    /// Log each request (mode, method, URL, status, duration) on stderr.
    pub verbose: bool,
    /// Deadline, request timeouts, memory and response-body caps.
    pub limits: Limits,
    /// CA files and client certificate of live and recorded HTTPS (read only in those modes).
    pub tls: crate::http::tls::TlsSettings,
    /// The host's side of `host_auth` (the Kerberos SPN, or credentials of the caller's own);
    /// used only when the settings ask for host authentication.
    pub host_auth: HostAuthOptions,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        Self {
            component: crate::engine::default_component_path(),
            mode: HttpMode::Live,
            settings: BTreeMap::new(),
            extra_allowed_origins: Vec::new(),
            verbose: false,
            limits: Limits::default(),
            tls: Default::default(),
            host_auth: HostAuthOptions::default(),
        }
    }
}

impl HarnessOptions {
    /// Replay `cassette` with the settings it was recorded with (and the placeholder
    /// password), using the default component.
    pub fn replay(cassette: impl Into<PathBuf>) -> Result<Self, HarnessError> {
        let cassette = cassette.into();
        let recorded = Cassette::load_settings(&cassette)?;
        let settings = settings::resolve(&settings::SettingsInput {
            cassette: Some(recorded),
            replay: true,
            ..Default::default()
        })?;
        Ok(Self {
            mode: HttpMode::Replay { cassette },
            settings,
            ..Default::default()
        })
    }
}

/// How a run treats its settings once the connector's metadata has said which are secret:
/// the one place where the secret setting keys turn into what a cassette stores and what the
/// scrubbers replace.
#[derive(Debug, Clone)]
pub(crate) struct SecretHandling {
    /// The secret setting keys: the metadata's secret fields, plus the name-based net.
    pub(crate) keys: settings::SecretKeys,
    /// What a recorded cassette keeps as `settings`: every setting but the secret ones.
    pub(crate) recorded: BTreeMap<String, String>,
    /// Scrubs displayed text: guest stderr, error texts, verbose logs.
    pub(crate) display: Scrubber,
    /// Scrubs what is stored in (and matched against) cassettes.
    pub(crate) storage: Scrubber,
    /// Secret values too short, or too like another setting, to be replaced literally in
    /// stored data.
    pub(crate) skipped: usize,
}

impl SecretHandling {
    /// Secret settings are those the metadata marks `secret` (plus, as a safety net, those
    /// whose key names a credential).
    pub(crate) fn new(settings: &BTreeMap<String, String>, info: &wit::ConnectorInfo) -> Self {
        let keys = settings::SecretKeys::from_metadata(info);
        let values = settings::secret_values(settings, &keys);
        let recorded = settings::non_secret(settings, &keys);
        let plain_values: Vec<String> = recorded.values().cloned().collect();
        let (storage, skipped) = Scrubber::for_storage(&values, &plain_values);
        Self {
            keys,
            display: Scrubber::for_display(&values),
            storage,
            skipped,
            recorded,
        }
    }

    /// Record mode: the operator's warning about secrets only scrubbed structurally.
    fn skipped_warning(&self) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "{} secret setting value(s) are shorter than {} characters or equal to another \
                 setting; they are scrubbed from the cassette only where structure marks them \
                 (password/token fields, authorization headers)",
                self.skipped,
                crate::scrub::MIN_LITERAL_SECRET_LEN
            )
        })
    }
}

/// The HTTP mode with everything settled that does not depend on the connector's metadata.
enum PendingHttp {
    Live,
    Record {
        path: PathBuf,
        source: String,
    },
    Replay {
        path: PathBuf,
        cassette: crate::http::replay_cassette::ReplayCassette,
    },
}

struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: crate::http::Hooks,
    limiter: MemoryLimiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// One instance of the component in its own store. Dropped as soon as it traps or runs past
/// the deadline: its state is then unknown, so it is never called again.
struct Instance {
    store: Store<HostState>,
    bindings: ConnectorWorld,
}

/// One connector, called export by export. Every call runs under the deadline; a call that
/// traps or times out discards the instance, and the next call transparently starts a fresh
/// one (configured again with the same settings if `configure` had succeeded).
pub struct Harness {
    /// `None` between a discarded instance and the next call.
    instance: Option<Instance>,
    pre: ConnectorWorldPre<HostState>,
    http: Arc<HttpState>,
    settings: BTreeMap<String, String>,
    /// Which settings are secret, from the connector's metadata.
    secret_keys: settings::SecretKeys,
    display: Scrubber,
    limits: Limits,
    stderr: GuestStderr,
    /// `configure` succeeded once: fresh instances are configured before use.
    configured: bool,
    /// Instances created so far (more than one after a discarded instance was replaced).
    instances: u64,
    warnings: Vec<String>,
}

/// One export call under the deadline: `$call` is built from the live instance's bindings
/// (`$b`) and store (`$s`).
macro_rules! guest_call {
    ($self:ident, $what:literal, |$b:ident, $s:ident| $call:expr) => {{
        let mark = $self.begin().await?;
        let deadline = $self.limits.deadline;
        let Instance {
            store: $s,
            bindings: $b,
        } = $self.live_instance()?;
        let result = tokio::time::timeout(deadline, $call).await;
        $self.end($what, mark, result)
    }};
}

type CallResult<T> =
    Result<wasmtime::Result<Result<T, wit::ConnectorError>>, tokio::time::error::Elapsed>;

/// The host's imports (WASI p2 and HTTP), built once per process: a sizeable part of a warm
/// start (BENCHMARKS.md), so the CLI builds it on another thread while it parses flags and maps
/// the component.
fn linker() -> Result<&'static Linker<HostState>, HarnessError> {
    static LINKER: OnceLock<Result<Linker<HostState>, String>> = OnceLock::new();
    LINKER
        .get_or_init(|| {
            let mut linker = Linker::<HostState>::new(crate::engine::engine());
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| e.to_string())?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                .map_err(|e| e.to_string())?;
            Ok(linker)
        })
        .as_ref()
        .map_err(|e| HarnessError::Host(anyhow::anyhow!("cannot set up the host's imports: {e}")))
}

impl Harness {
    /// Creates the process-wide engine, host linker and epoch thread ahead of the first
    /// harness; call it on another thread to overlap that work with the caller's own start-up.
    pub fn prepare() {
        // A failure is reported again, with context, by the harness that needs the linker.
        let _ = linker();
        crate::limits::ensure_epoch_ticker();
    }

    /// Instantiate the component and `configure` it with the settings.
    pub async fn new(opts: HarnessOptions) -> Result<Self, HarnessError> {
        let mut harness = Self::instantiate(opts).await?;
        harness.configure().await?;
        Ok(harness)
    }

    /// Instantiate without configuring: `metadata` and `resource_types` work before
    /// `configure`.
    ///
    /// The connector's `metadata()` is called once here, before anything is recorded or the
    /// settings reach the guest: its secret config fields decide which settings a cassette
    /// leaves out and whose values are scrubbed (see [`SecretHandling`]).
    pub async fn instantiate(opts: HarnessOptions) -> Result<Self, HarnessError> {
        // Settled before the component is loaded, so a bad cassette is reported first.
        let (policy, pending) = Self::plan(&opts)?;
        let (harness, info) = Self::load(&opts.component, opts.limits.clone()).await?;
        harness.set_up_as(&info, opts, policy, pending)
    }

    /// An instance of `component` allowed no origin and given no settings, and the connector's
    /// metadata (`metadata` needs neither). A host that names its settings after the connector
    /// reads them now, then hands this same instance its options with [`Harness::set_up`]:
    /// one instantiation per run.
    pub async fn load(
        component: &std::path::Path,
        limits: Limits,
    ) -> Result<(Self, wit::ConnectorInfo), HarnessError> {
        let component = crate::engine::load_component(component)?;
        let pre = linker()?
            .instantiate_pre(&component)
            .and_then(ConnectorWorldPre::new)
            .map_err(|e| {
                HarnessError::Host(
                    anyhow::Error::from(e).context("cannot link the component to the host"),
                )
            })?;

        // Until the metadata is known the instance's HTTP goes to a probe that allows no
        // origin: `metadata` needs no network. Nothing the guest says can hold a setting yet,
        // as `configure` has not passed them.
        let probe = HttpState::new(
            HttpSetup::Live,
            EgressPolicy::default(),
            Scrubber::default(),
            Scrubber::default(),
            false,
            limits.clone(),
        );
        let mut harness = Self {
            instance: None,
            pre,
            http: probe,
            settings: BTreeMap::new(),
            secret_keys: settings::SecretKeys::by_name_only(),
            display: Scrubber::default(),
            limits,
            stderr: GuestStderr::new(),
            configured: false,
            instances: 0,
            warnings: Vec::new(),
        };
        harness.instance = Some(harness.fresh_instance().await?);
        let info = harness.metadata().await?;
        Ok((harness, info))
    }

    /// Gives an instance from [`Harness::load`] the run's options (`opts.component` is the
    /// one loaded); `info` is what `load` returned.
    pub fn set_up(
        self,
        info: &wit::ConnectorInfo,
        opts: HarnessOptions,
    ) -> Result<Self, HarnessError> {
        let (policy, pending) = Self::plan(&opts)?;
        self.set_up_as(info, opts, policy, pending)
    }

    /// The egress policy and the HTTP mode of `opts`, with the cassette read.
    fn plan(opts: &HarnessOptions) -> Result<(EgressPolicy, PendingHttp), HarnessError> {
        let base_url = opts.settings.get(settings::BASE_URL).map(String::as_str);
        let policy = EgressPolicy::new(base_url, &opts.extra_allowed_origins)
            .map_err(HarnessError::Usage)?;
        let pending = match &opts.mode {
            HttpMode::Live => PendingHttp::Live,
            HttpMode::Record { cassette, source } => PendingHttp::Record {
                path: cassette.clone(),
                source: source.clone().unwrap_or_else(|| {
                    let origin = base_url
                        .and_then(|u| Origin::parse(u).ok())
                        .map_or_else(|| "an unknown origin".to_string(), |o| o.to_string());
                    format!("recorded live from {origin}")
                }),
            },
            HttpMode::Replay { cassette } => PendingHttp::Replay {
                cassette: crate::http::replay_cassette::ReplayCassette::load(cassette)?,
                path: cassette.clone(),
            },
        };
        Ok((policy, pending))
    }

    fn set_up_as(
        mut self,
        info: &wit::ConnectorInfo,
        opts: HarnessOptions,
        policy: EgressPolicy,
        pending: PendingHttp,
    ) -> Result<Self, HarnessError> {
        let HarnessOptions {
            settings,
            verbose,
            limits,
            tls,
            host_auth,
            ..
        } = opts;
        if let Some(instance) = self.instance.as_mut() {
            let data = instance.store.data_mut();
            data.limiter = data.limiter.with_limit(limits.memory_bytes);
        }
        self.limits = limits;
        self.settings = settings;
        let mut harness = self;
        let secrets = SecretHandling::new(&harness.settings, info);
        // Read once the connector is known, as its messages name the connector's variables;
        // only where a request can need it: reading the system store costs more than the rest
        // of a warm start, and egress admits no https origin but those allowed. Files the
        // operator named are read (and their errors reported) whatever the origins.
        let https = policy.allowed().iter().any(|o| o.scheme == "https");
        let tls = match pending {
            PendingHttp::Replay { .. } => None,
            PendingHttp::Live | PendingHttp::Record { .. }
                if https || tls != crate::http::tls::TlsSettings::default() =>
            {
                Some(Arc::new(
                    crate::http::tls::Tls::load(&tls, &info.name).map_err(HarnessError::Usage)?,
                ))
            }
            PendingHttp::Live | PendingHttp::Record { .. } => None,
        };
        // Checked against the metadata, which says whether the connector can leave signing in
        // to the host; replay makes no credentials (the cassette answers).
        let host_auth = HostAuth::resolve(
            &harness.settings,
            info,
            &host_auth,
            !matches!(pending, PendingHttp::Replay { .. }),
        )
        .map_err(HarnessError::Usage)?
        .map(Arc::new);
        if verbose {
            if let Some(tls) = &tls {
                eprintln!("tls: {}", tls.describe());
            }
            if let Some(auth) = &host_auth {
                eprintln!("host auth: {}", auth.describe());
            }
        }
        let setup = match pending {
            PendingHttp::Live => HttpSetup::Live,
            PendingHttp::Record { path, source } => {
                if let Some(warning) = secrets.skipped_warning() {
                    harness.warnings.push(warning);
                }
                HttpSetup::Record {
                    path,
                    cassette: Cassette::new(
                        source,
                        crate::cassette::now_rfc3339(),
                        secrets.recorded.clone(),
                    ),
                }
            }
            PendingHttp::Replay { path, cassette } => HttpSetup::Replay { path, cassette },
        };
        let http = HttpState::with_outbound(
            setup,
            policy.with_origins_var(sync_engine::env::allowed_origins_var(&info.name)),
            secrets.storage,
            secrets.display.clone(),
            verbose,
            harness.limits.clone(),
            Outbound { tls, host_auth },
        );
        harness.display = secrets.display;
        harness.secret_keys = secrets.keys;
        harness.attach(http);
        Ok(harness)
    }

    /// Routes the HTTP of this harness, and of its live instance, through `http`.
    fn attach(&mut self, http: Arc<HttpState>) {
        if let Some(instance) = self.instance.as_mut() {
            instance.store.data_mut().hooks = crate::http::Hooks::new(http.clone());
        }
        self.http = http;
    }

    /// A new store and instance, under the memory limit and the deadline.
    async fn fresh_instance(&mut self) -> Result<Instance, HarnessError> {
        let wasi = WasiCtx::builder()
            .stderr(self.stderr.clone())
            // Outgoing HTTP through the hooks is the only way out.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: crate::http::Hooks::new(self.http.clone()),
            limiter: MemoryLimiter::new(self.limits.memory_bytes),
        };
        let mut store = Store::new(crate::engine::engine(), state);
        store.limiter(|s| &mut s.limiter);
        crate::limits::yield_on_epoch(&mut store);
        self.instances += 1;
        let result =
            tokio::time::timeout(self.limits.deadline, self.pre.instantiate_async(&mut store))
                .await;
        match result {
            Ok(Ok(bindings)) => Ok(Instance { store, bindings }),
            Ok(Err(e)) => {
                if let Some(desired) = store.data().limiter.exceeded {
                    return Err(HarnessError::Limit {
                        kind: LimitKind::Memory,
                        message: format!(
                            "cannot instantiate the component: {}",
                            memory_message(self.limits.memory_bytes, Some(desired))
                        ),
                    });
                }
                Err(HarnessError::Host(
                    anyhow::Error::from(e).context("cannot instantiate the component"),
                ))
            }
            Err(_) => Err(HarnessError::Limit {
                kind: LimitKind::Deadline,
                message: format!(
                    "deadline exceeded: instantiating the component took longer than {}; raise \
                     it with --deadline or config `deadline`",
                    crate::limits::secs(self.limits.deadline)
                ),
            }),
        }
    }

    /// The largest linear memory the live instance has been granted, in bytes (`None` until
    /// it grows past its initial size).
    pub fn guest_memory_peak(&self) -> Option<u64> {
        let instance = self.instance.as_ref()?;
        instance.store.data().limiter.peak.map(|p| p as u64)
    }

    /// Warnings an operator should see (e.g. about scrubbing limits while recording).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Which settings this harness treats as secret: those the connector's metadata marks
    /// `secret` (read when the harness started), plus keys named like credentials.
    pub fn secret_keys(&self) -> &settings::SecretKeys {
        &self.secret_keys
    }

    /// Scrubs secret setting values out of text before it is displayed.
    pub fn scrubber(&self) -> &Scrubber {
        &self.display
    }

    /// The limits this harness enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The egress policy at the choke point.
    pub fn egress(&self) -> &EgressPolicy {
        self.http.policy()
    }

    /// Instances created so far: 1, plus one for every discarded instance that was replaced.
    pub fn instances(&self) -> u64 {
        self.instances
    }

    /// The last lines the guest wrote to stderr (captured, never printed as they come).
    pub fn guest_stderr(&self) -> Vec<String> {
        self.stderr.tail(crate::guest_stderr::TAIL_LINES)
    }

    /// HTTP requests the connector has made so far (denied ones included).
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    /// Replay: recorded interactions not requested so far (`METHOD path?query`).
    pub fn unused_interactions(&self) -> Vec<String> {
        self.http.unused()
    }

    /// Every egress denial, replay mismatch, oversized body and request timeout so far.
    pub fn http_failures(&self) -> Vec<HttpFailure> {
        self.http.failures()
    }

    /// Makes sure a usable instance exists (replacing a discarded one, configured again when
    /// the discarded one was) and marks the failure log.
    async fn begin(&mut self) -> Result<Mark, HarnessError> {
        if self.instance.is_none() {
            self.instance = Some(self.fresh_instance().await?);
            if self.configured {
                let mark = self.http.mark();
                self.configure_call(mark).await.map_err(|e| {
                    HarnessError::Host(anyhow::anyhow!(
                        "configuring a fresh instance after a discarded one failed: {e}"
                    ))
                })?;
            }
        }
        Ok(self.http.mark())
    }

    fn live_instance(&mut self) -> Result<&mut Instance, HarnessError> {
        self.instance
            .as_mut()
            .ok_or_else(|| HarnessError::Host(anyhow::anyhow!("no connector instance")))
    }

    /// Drops the instance; returns the guest's last stderr lines for the error message.
    fn discard(&mut self) -> String {
        self.instance = None;
        self.stderr.context(&self.display)
    }

    /// Turns a call's outcome into the harness's answer. An egress denial, replay mismatch,
    /// oversized body, refused TLS certificate or failed host authentication during the call
    /// wins over whatever the guest made of the failed request; a request timeout explains a
    /// failed call.
    fn end<T>(&mut self, what: &str, mark: Mark, result: CallResult<T>) -> Result<T, HarnessError> {
        let http_failure = self.http.failure_since(mark).map(|failure| match failure {
            HttpFailure::Denied(m) => HarnessError::EgressDenied(m),
            HttpFailure::Mismatch(m) => HarnessError::ReplayMismatch(m),
            HttpFailure::BodyTooLarge(m) => HarnessError::Limit {
                kind: LimitKind::ResponseBody,
                message: m,
            },
            HttpFailure::Timeout(m) => HarnessError::Limit {
                kind: LimitKind::RequestTimeout,
                message: m,
            },
            HttpFailure::TlsRefused(m) | HttpFailure::HostAuth(m) => HarnessError::Usage(m),
        });
        const DISCARDED: &str = "the instance was discarded; the next call starts a fresh one";
        let outcome = match result {
            Err(_elapsed) => {
                let waiting = self
                    .http
                    .waiting_for()
                    .map(|line| format!(" (waiting for {line})"))
                    .unwrap_or_default();
                let stderr = self.discard();
                return Err(http_failure.unwrap_or_else(|| HarnessError::Limit {
                    kind: LimitKind::Deadline,
                    message: format!(
                        "deadline exceeded: `{what}` did not finish within {}{waiting}; raise it \
                         with --deadline or config `deadline`; {DISCARDED}{stderr}",
                        crate::limits::secs(self.limits.deadline)
                    ),
                }));
            }
            Ok(Err(trap)) => {
                let memory = self
                    .instance
                    .as_ref()
                    .and_then(|i| i.store.data().limiter.exceeded);
                let stderr = self.discard();
                if let Some(e) = http_failure {
                    return Err(e);
                }
                if let Some(desired) = memory {
                    return Err(HarnessError::Limit {
                        kind: LimitKind::Memory,
                        message: format!(
                            "{} in `{what}`; {DISCARDED}{stderr}",
                            memory_message(self.limits.memory_bytes, Some(desired))
                        ),
                    });
                }
                let message = self
                    .display
                    .text(&format!("{:#}", anyhow::Error::from(trap)));
                return Err(HarnessError::Host(anyhow::anyhow!(
                    "the connector trapped in `{what}`: {message}; {DISCARDED}{stderr}"
                )));
            }
            Ok(Ok(outcome)) => outcome,
        };
        if let Some(e) = http_failure {
            return Err(e);
        }
        match outcome {
            Ok(value) => Ok(value),
            Err(e) => {
                let connector = ConnectorError::from_wit(e, &self.display);
                match self.http.timeout_since(mark) {
                    Some(timeout) => Err(HarnessError::Limit {
                        kind: LimitKind::RequestTimeout,
                        message: format!(
                            "{}; the connector reported: {connector}",
                            timeout.message()
                        ),
                    }),
                    None => Err(connector.into()),
                }
            }
        }
    }

    pub async fn configure(&mut self) -> Result<(), HarnessError> {
        if self.instance.is_none() {
            // Configured just below; `begin` would configure it a second time.
            self.instance = Some(self.fresh_instance().await?);
        }
        let mark = self.http.mark();
        self.configure_call(mark).await?;
        self.configured = true;
        Ok(())
    }

    async fn configure_call(&mut self, mark: Mark) -> Result<(), HarnessError> {
        let config: Vec<(String, String)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let deadline = self.limits.deadline;
        let Instance { store, bindings } = self.live_instance()?;
        let r = tokio::time::timeout(
            deadline,
            bindings
                .governance_connector_connector()
                .call_configure(store, &config),
        )
        .await;
        self.end("configure", mark, r)
    }

    pub async fn metadata(&mut self) -> Result<wit::ConnectorInfo, HarnessError> {
        guest_call!(self, "metadata", |b, s| async {
            b.governance_connector_connector()
                .call_metadata(s)
                .await
                .map(Ok)
        })
    }

    pub async fn validate(&mut self) -> Result<wit::Validation, HarnessError> {
        guest_call!(self, "validate", |b, s| b
            .governance_connector_connector()
            .call_validate(s))
    }

    pub async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError> {
        guest_call!(self, "resource-types", |b, s| b
            .governance_connector_connector()
            .call_resource_types(s))
    }

    pub async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<wit::ResourcePage, HarnessError> {
        guest_call!(self, "list-resources", |b, s| b
            .governance_connector_connector()
            .call_list_resources(s, resource_type, page_token))
    }

    pub async fn list_entitlements(
        &mut self,
        resource: &wit::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<wit::EntitlementPage, HarnessError> {
        guest_call!(self, "list-entitlements", |b, s| b
            .governance_connector_connector()
            .call_list_entitlements(s, resource, page_token))
    }

    pub async fn list_grants(
        &mut self,
        resource: &wit::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<wit::GrantPage, HarnessError> {
        guest_call!(self, "list-grants", |b, s| b
            .governance_connector_connector()
            .call_list_grants(s, resource, page_token))
    }

    pub async fn provision(
        &mut self,
        action: &wit::ProvisionAction,
    ) -> Result<wit::ProvisionOutcome, HarnessError> {
        guest_call!(self, "provision", |b, s| b
            .governance_connector_connector()
            .call_provision(s, action))
    }

    /// A full sync as JSON Lines on `out` (see [`sync_engine::sync::run`]); the stats
    /// include the connector's session info.
    pub async fn sync(
        &mut self,
        out: &mut (dyn Write + Send),
        progress: &(dyn Progress + Sync),
    ) -> Result<SyncStats, HarnessError> {
        crate::sync::run(self, out, progress).await
    }

    /// What the connector learnt about the system (API flavour, discovery cost); no network.
    pub async fn session_info(&mut self) -> Result<Vec<(String, String)>, HarnessError> {
        guest_call!(self, "session-info", |b, s| async {
            b.governance_connector_connector()
                .call_session_info(s)
                .await
                .map(Ok)
        })
    }

    /// Ends the run: writes the cassette (record) and reports unused interactions (replay).
    pub fn finish(self) -> Result<RunReport, HarnessError> {
        let Self { instance, http, .. } = self;
        // The store holds the hooks' handle on the shared state; drop it first so nothing
        // can still be adding interactions while the cassette is written.
        drop(instance);
        Ok(http.finish()?)
    }
}

/// The guest's calls as the sync engine sees them: binding types moved into the SDK's model.
impl Contract for Harness {
    type Error = HarnessError;

    async fn resource_types(&mut self) -> Result<Vec<model::ResourceType>, HarnessError> {
        let types = Harness::resource_types(self).await?;
        Ok(types.into_iter().map(convert::resource_type).collect())
    }

    async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<model::ResourcePage, HarnessError> {
        let page = Harness::list_resources(self, resource_type, page_token).await?;
        Ok(convert::resource_page(page))
    }

    async fn list_entitlements(
        &mut self,
        resource: &model::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<model::EntitlementPage, HarnessError> {
        let resource = convert::wit_resource_ref(resource);
        let page = Harness::list_entitlements(self, &resource, page_token).await?;
        Ok(convert::entitlement_page(page))
    }

    async fn list_grants(
        &mut self,
        resource: &model::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<model::GrantPage, HarnessError> {
        let resource = convert::wit_resource_ref(resource);
        let page = Harness::list_grants(self, &resource, page_token).await?;
        Ok(convert::grant_page(page))
    }

    async fn session_info(&mut self) -> Result<Vec<(String, String)>, HarnessError> {
        Harness::session_info(self).await
    }

    fn requests(&self) -> u64 {
        Harness::requests(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Interaction, RecordedRequest, RecordedResponse};
    use crate::scrub::REDACTED;

    /// A credential whose key says nothing of being one.
    const API_KEY: &str = "ak-Live-7f3c9e21d4";

    fn settings() -> BTreeMap<String, String> {
        [
            ("base_url", "http://127.0.0.1:8080"),
            ("username", "svc-sync"),
            ("api_key", API_KEY),
            ("provisioning", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn field(name: &str, secret: bool) -> wit::ConfigField {
        wit::ConfigField {
            name: name.to_string(),
            description: String::new(),
            required: false,
            secret,
            default_value: None,
        }
    }

    /// Metadata of a connector that authenticates with an API key.
    fn metadata(api_key_secret: bool) -> wit::ConnectorInfo {
        wit::ConnectorInfo {
            name: "api-key-connector".into(),
            version: "0.1.0".into(),
            description: String::new(),
            config_fields: vec![
                field("base_url", false),
                field("username", false),
                field("api_key", api_key_secret),
                field("provisioning", false),
            ],
            resource_types: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_secret_the_metadata_declares_is_kept_out_of_cassettes_and_output() {
        use tokio::io::AsyncWriteExt;

        let secrets = SecretHandling::new(&settings(), &metadata(true));

        // The cassette's settings leave it out...
        assert!(
            !secrets.recorded.contains_key("api_key"),
            "{:?}",
            secrets.recorded.keys()
        );
        assert_eq!(secrets.recorded["username"], "svc-sync");
        assert_eq!(secrets.skipped, 0);
        // ...and every place its value lands in a recording is scrubbed: URL, header, body.
        let mut cassette = Cassette::new(
            "test".into(),
            "2025-01-01T00:00:00Z".into(),
            secrets.recorded.clone(),
        );
        let mut body = serde_json::json!({"echo": format!("key {API_KEY}"), "api_key": API_KEY});
        secrets.storage.json(&mut body);
        cassette.interactions.push(Interaction {
            request: RecordedRequest {
                method: "GET".into(),
                url: secrets
                    .storage
                    .text(&format!("http://127.0.0.1:8080/users?key={API_KEY}")),
                headers: [(
                    "x-api-key".to_string(),
                    secrets.storage.request_header("x-api-key", API_KEY),
                )]
                .into(),
                body: Body::default(),
            },
            response: RecordedResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: Body {
                    json: Some(body),
                    text: None,
                },
            },
        });
        let stored = serde_json::to_string(&cassette).unwrap();
        assert!(!stored.contains(API_KEY), "{stored}");
        assert!(stored.contains(REDACTED), "{stored}");

        // Guest stderr, the guest's error texts and log lines are scrubbed for display.
        let stderr = GuestStderr::new();
        let mut writer = stderr.clone();
        writer
            .write_all(format!("calling with key {API_KEY}\n").as_bytes())
            .await
            .unwrap();
        let context = stderr.context(&secrets.display);
        assert!(
            context.ends_with("calling with key [REDACTED]"),
            "{context}"
        );
        // The scrubber `end` hands the guest's error texts and trap messages to (not
        // `ConnectorError::from_wit` itself here: it copies the raw text to the test transcript).
        assert_eq!(
            secrets
                .display
                .text(&format!("unauthenticated: key {API_KEY} refused")),
            "unauthenticated: key [REDACTED] refused"
        );
        assert_eq!(
            secrets.display.text(&format!("GET /users?key={API_KEY}")),
            "GET /users?key=[REDACTED]"
        );
    }

    #[test]
    fn the_metadata_not_the_key_name_makes_api_key_secret() {
        // Metadata that does not mark `api_key` secret leaves it an ordinary setting: its name
        // alone would not have protected it.
        let plain = SecretHandling::new(&settings(), &metadata(false));
        assert_eq!(plain.recorded, settings());
        assert_eq!(plain.display.text(API_KEY), API_KEY);
        assert_eq!(plain.storage.text(API_KEY), API_KEY);

        let secret = SecretHandling::new(&settings(), &metadata(true));
        assert_eq!(secret.display.text(API_KEY), REDACTED);
        assert_eq!(secret.storage.text(API_KEY), REDACTED);
    }

    #[test]
    fn password_named_settings_stay_secret_whatever_the_metadata_says() {
        let mut settings = settings();
        settings.insert("password".into(), "Pa55word-xyz".into());
        settings.insert("token".into(), "tok".into());
        let secrets = SecretHandling::new(&settings, &metadata(false));
        assert!(!secrets.recorded.contains_key("password"));
        assert!(!secrets.recorded.contains_key("token"));
        assert_eq!(secrets.storage.text("Pa55word-xyz"), REDACTED);
        // Too short to replace literally in stored data; the operator is warned.
        assert_eq!(secrets.skipped, 1);
        assert!(secrets
            .skipped_warning()
            .is_some_and(|w| w.starts_with("1 secret")));
        assert_eq!(secrets.display.text("tok"), REDACTED);
    }
}
