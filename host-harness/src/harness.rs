//! The library entry point: one connector instance in one store, with its HTTP choke point.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::wit;
use crate::bindings::ConnectorWorld;
use crate::cassette::Cassette;
use crate::error::{ConnectorError, HarnessError};
use crate::http::egress::{EgressPolicy, Origin};
use crate::http::{HttpFailure, HttpSetup, HttpState, Mark, RunReport};
use crate::progress::Progress;
use crate::scrub::Scrubber;
use crate::settings;
use crate::sync::{SyncSource, SyncStats};

/// A guest that allocates without bound fails clearly instead of exhausting the machine.
const MEMORY_LIMIT: usize = 1 << 30;

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
    /// Log each request (method, URL, status, duration) on stderr.
    pub verbose: bool,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        Self {
            component: crate::engine::default_component_path(),
            mode: HttpMode::Live,
            settings: BTreeMap::new(),
            extra_allowed_origins: Vec::new(),
            verbose: false,
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

struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: crate::http::Hooks,
    limits: StoreLimits,
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

pub struct Harness {
    store: Store<HostState>,
    bindings: ConnectorWorld,
    http: Arc<HttpState>,
    settings: BTreeMap<String, String>,
    display: Scrubber,
    /// Set once the guest trapped: its instance is then in an unknown state.
    broken: Option<String>,
    warnings: Vec<String>,
}

impl Harness {
    /// Instantiate the component and `configure` it with the settings.
    pub async fn new(opts: HarnessOptions) -> Result<Self, HarnessError> {
        let mut harness = Self::instantiate(opts).await?;
        harness.configure().await?;
        Ok(harness)
    }

    /// Instantiate without configuring: `metadata` and `resource_types` work before
    /// `configure`.
    pub async fn instantiate(opts: HarnessOptions) -> Result<Self, HarnessError> {
        let HarnessOptions {
            component,
            mode,
            settings,
            extra_allowed_origins,
            verbose,
        } = opts;
        let mut warnings = Vec::new();
        let secrets = settings::secret_values(&settings);
        let display = Scrubber::for_display(&secrets);
        let plain_values: Vec<String> = settings::non_secret(&settings).into_values().collect();
        let (storage, skipped) = Scrubber::for_storage(&secrets, &plain_values);
        let base_url = settings.get(settings::BASE_URL).map(String::as_str);
        let policy =
            EgressPolicy::new(base_url, &extra_allowed_origins).map_err(HarnessError::Usage)?;

        let setup = match mode {
            HttpMode::Live => HttpSetup::Live,
            HttpMode::Record { cassette, source } => {
                if skipped > 0 {
                    warnings.push(format!(
                        "{skipped} secret setting value(s) are shorter than {} characters or equal \
                         to another setting; they are scrubbed from the cassette only where \
                         structure marks them (password/token fields, authorization headers)",
                        crate::scrub::MIN_LITERAL_SECRET_LEN
                    ));
                }
                let source = source.unwrap_or_else(|| {
                    let origin = base_url
                        .and_then(|u| Origin::parse(u).ok())
                        .map_or_else(|| "an unknown origin".to_string(), |o| o.to_string());
                    format!("recorded live from {origin}")
                });
                let recorded = Cassette::new(
                    source,
                    crate::cassette::now_rfc3339(),
                    settings::non_secret(&settings),
                );
                HttpSetup::Record {
                    path: cassette,
                    cassette: recorded,
                }
            }
            HttpMode::Replay { cassette } => {
                let recorded = Cassette::load_for_replay(&cassette)?;
                HttpSetup::Replay {
                    path: cassette,
                    cassette: recorded,
                }
            }
        };
        let http = HttpState::new(setup, policy, storage, display.clone(), verbose);

        let engine = crate::engine::engine();
        let component = crate::engine::load_component(&component)?;
        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(host)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(host)?;

        let wasi = WasiCtx::builder()
            .inherit_stderr()
            // Outgoing HTTP through the hooks is the only way out.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: crate::http::Hooks::new(http.clone()),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        let bindings = ConnectorWorld::instantiate_async(&mut store, &component, &linker)
            .await
            .map_err(|e| {
                HarnessError::Host(
                    anyhow::Error::from(e).context("cannot instantiate the component"),
                )
            })?;
        Ok(Self {
            store,
            bindings,
            http,
            settings,
            display,
            broken: None,
            warnings,
        })
    }

    /// Warnings an operator should see (e.g. about scrubbing limits while recording).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Scrubs secret setting values out of text before it is displayed.
    pub fn scrubber(&self) -> &Scrubber {
        &self.display
    }

    /// HTTP requests the connector has made so far (denied ones included).
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    /// Replay: recorded interactions not requested so far (`METHOD path?query`).
    pub fn unused_interactions(&self) -> Vec<String> {
        self.http.unused()
    }

    /// Every egress denial and replay mismatch so far.
    pub fn http_failures(&self) -> Vec<HttpFailure> {
        self.http.failures()
    }

    fn begin(&self) -> Result<Mark, HarnessError> {
        match &self.broken {
            Some(why) => Err(HarnessError::Host(anyhow::anyhow!(
                "the connector instance is unusable after an earlier failure: {why}"
            ))),
            None => Ok(self.http.mark()),
        }
    }

    /// Turns a call's outcome into the harness's answer. An egress denial or replay mismatch
    /// during the call wins over whatever the guest made of the failed request.
    fn end<T>(
        &mut self,
        what: &str,
        mark: Mark,
        result: wasmtime::Result<Result<T, wit::ConnectorError>>,
    ) -> Result<T, HarnessError> {
        if let Some(failure) = self.http.failure_since(mark) {
            return Err(match failure {
                HttpFailure::Denied(m) => HarnessError::EgressDenied(m),
                HttpFailure::Mismatch(m) => HarnessError::ReplayMismatch(m),
            });
        }
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ConnectorError::from_wit(e, &self.display).into()),
            Err(trap) => {
                let message = self
                    .display
                    .text(&format!("{:#}", anyhow::Error::from(trap)));
                self.broken = Some(format!("`{what}` trapped"));
                Err(HarnessError::Host(anyhow::anyhow!(
                    "the connector trapped in `{what}`: {message}"
                )))
            }
        }
    }

    pub async fn configure(&mut self) -> Result<(), HarnessError> {
        let mark = self.begin()?;
        let config: Vec<(String, String)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let r = self
            .bindings
            .governance_connector_connector()
            .call_configure(&mut self.store, &config)
            .await;
        self.end("configure", mark, r)
    }

    pub async fn metadata(&mut self) -> Result<wit::ConnectorInfo, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_metadata(&mut self.store)
            .await
            .map(Ok);
        self.end("metadata", mark, r)
    }

    pub async fn validate(&mut self) -> Result<wit::Validation, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_validate(&mut self.store)
            .await;
        self.end("validate", mark, r)
    }

    pub async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_resource_types(&mut self.store)
            .await;
        self.end("resource-types", mark, r)
    }

    pub async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<wit::ResourcePage, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_list_resources(&mut self.store, resource_type, page_token)
            .await;
        self.end("list-resources", mark, r)
    }

    pub async fn list_entitlements(
        &mut self,
        resource: &wit::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<wit::EntitlementPage, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_list_entitlements(&mut self.store, resource, page_token)
            .await;
        self.end("list-entitlements", mark, r)
    }

    pub async fn list_grants(
        &mut self,
        resource: &wit::ResourceRef,
        page_token: Option<&str>,
    ) -> Result<wit::GrantPage, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_list_grants(&mut self.store, resource, page_token)
            .await;
        self.end("list-grants", mark, r)
    }

    pub async fn provision(
        &mut self,
        action: &wit::ProvisionAction,
    ) -> Result<wit::ProvisionOutcome, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_provision(&mut self.store, action)
            .await;
        self.end("provision", mark, r)
    }

    /// A full sync as JSON Lines on `out` (see [`crate::sync`]).
    pub async fn sync(
        &mut self,
        out: &mut (dyn Write + Send),
        progress: &dyn Progress,
    ) -> Result<SyncStats, HarnessError> {
        let mut stats = crate::sync::run(self, out, progress).await?;
        stats.session = self.session_info().await?.into_iter().collect();
        Ok(stats)
    }

    /// What the connector learnt about the system (API flavour, discovery cost); no network.
    pub async fn session_info(&mut self) -> Result<Vec<(String, String)>, HarnessError> {
        let mark = self.begin()?;
        let r = self
            .bindings
            .governance_connector_connector()
            .call_session_info(&mut self.store)
            .await
            .map(Ok);
        self.end("session-info", mark, r)
    }

    /// Ends the run: writes the cassette (record) and reports unused interactions (replay).
    pub fn finish(self) -> Result<RunReport, HarnessError> {
        let Self { store, http, .. } = self;
        // The store holds the hooks' handle on the shared state; drop it first so nothing
        // can still be adding interactions while the cassette is written.
        drop(store);
        Ok(http.finish()?)
    }
}

fn host(e: wasmtime::Error) -> HarnessError {
    HarnessError::Host(e.into())
}

impl SyncSource for Harness {
    async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError> {
        Harness::resource_types(self).await
    }

    async fn list_resources(
        &mut self,
        resource_type: &str,
        token: Option<String>,
    ) -> Result<wit::ResourcePage, HarnessError> {
        Harness::list_resources(self, resource_type, token.as_deref()).await
    }

    async fn list_entitlements(
        &mut self,
        resource: &wit::ResourceRef,
        token: Option<String>,
    ) -> Result<wit::EntitlementPage, HarnessError> {
        Harness::list_entitlements(self, resource, token.as_deref()).await
    }

    async fn list_grants(
        &mut self,
        resource: &wit::ResourceRef,
        token: Option<String>,
    ) -> Result<wit::GrantPage, HarnessError> {
        Harness::list_grants(self, resource, token.as_deref()).await
    }

    fn requests(&self) -> u64 {
        Harness::requests(self)
    }
}
