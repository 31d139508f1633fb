//! `host-harness`: run a connector component against its live system, record a cassette, or
//! replay one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use host_harness::cassette::Cassette;
use host_harness::host_config::{self, HostConfig, HostFlags};
use host_harness::progress::StderrProgress;
use host_harness::scrub::Scrubber;
use host_harness::settings::{self, FlagSettings, SettingsInput};
use host_harness::{
    render, wit, ConnectorError, Harness, HarnessError, HarnessOptions, HttpMode, RunReport,
};

#[derive(Debug, Parser)]
#[command(name = "host-harness", version, about)]
#[command(
    after_help = "Connector: --component PATH, or --connector NAME for the workspace's \
target/wasm32-wasip2/release/NAME_connector.wasm; without either, the example connector \
`airflow` (target/wasm32-wasip2/release/airflow_connector.wasm).

Settings, later wins: cassette (replay) < --config < environment < flags. The environment \
variables are named after the connector's metadata (its name NAME and the settings it lists): \
NAME_SETTING, else BATON_NAME_SETTING, upper-case, `-` as `_` (for the example connector \
AIRFLOW_BASE_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD, ...; BATON_AIRFLOW_* accepted); \
BATON_PROVISIONING is accepted for `provisioning`. An empty variable counts as unset. \
`metadata` lists a connector's settings.

Sandbox: the connector may reach only base_url's scheme://host:port, plus origins allowed \
with --allow-origin, config `allowed_origins` (a list) or NAME_ALLOWED_ORIGINS (comma list). \
Limits (flag = config key with _; later wins: defaults < --config < flags): deadline 60s per \
connector call, connect_timeout 10s, first_byte_timeout 30s, between_bytes_timeout 30s, \
memory_limit_mib 256, max_body_mib 16 (replay included). A call that traps or runs past the \
deadline discards its instance; the next call starts a fresh, re-configured one.

HTTPS trusts the system's certificate store plus the CA files named with --ca-file, config \
`ca_file` (a path or a list) or NAME_CA_FILE (a path list, `:`-separated); a server that \
requires a client certificate gets --client-cert and --client-key (config `client_cert`, \
`client_key`; NAME_CLIENT_CERT, NAME_CLIENT_KEY). Verification cannot be turned off.

Host authentication: a connector that declares the setting `host_auth` sends no credentials \
of its own when it is set (e.g. AIRFLOW_HOST_AUTH=negotiate or --set host_auth=negotiate); the \
harness then authenticates each request to base_url's origin itself. `negotiate`: Kerberos \
SPNEGO with the ticket `kinit` got (KRB5CCNAME), for the service --kerberos-spn (config \
`kerberos_spn`, NAME_KERBEROS_SPN), default NAME@<host of base_url>; needs the system's \
libgssapi_krb5.so.2, loaded only then. Replay makes no tokens."
)]
struct Cli {
    /// The connector component [default: the example connector,
    /// target/wasm32-wasip2/release/airflow_connector.wasm]
    #[arg(long, value_name = "PATH", global = true)]
    component: Option<PathBuf>,
    /// The connector built in this workspace as NAME_connector.wasm, e.g. `airflow`
    #[arg(long, value_name = "NAME", global = true, conflicts_with = "component", value_parser = parse_connector)]
    connector: Option<PathBuf>,
    /// JSON object of settings (string, number or boolean values)
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The system's API URL (setting base_url); its origin is the only one allowed
    #[arg(long, value_name = "URL", global = true)]
    base_url: Option<String>,
    /// Account the connector signs in as (setting username)
    #[arg(long, global = true)]
    username: Option<String>,
    /// Read the connector password from the first line of stdin
    #[arg(long)]
    password_stdin: bool,
    /// Any connector setting; repeatable
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
    /// Let the connector make changes (setting provisioning=true; env BATON_PROVISIONING)
    #[arg(long, global = true)]
    provisioning: bool,
    /// Run live and write the (scrubbed) exchanges to CASSETTE
    #[arg(
        long,
        value_name = "CASSETTE",
        global = true,
        conflicts_with = "replay"
    )]
    record: Option<PathBuf>,
    /// With --record: where the recording comes from, e.g. "real <system> 3.1 on 127.0.0.1"
    #[arg(long, value_name = "TEXT", global = true, requires = "record")]
    source: Option<String>,
    /// Answer every request from CASSETTE; no network
    #[arg(long, value_name = "CASSETTE", global = true)]
    replay: Option<PathBuf>,
    /// A further origin (scheme://host[:port]) the connector may reach besides base_url's;
    /// repeatable (config `allowed_origins`, env NAME_ALLOWED_ORIGINS for the connector NAME)
    #[arg(long, value_name = "ORIGIN", global = true)]
    allow_origin: Vec<String>,
    /// Wall-clock limit per connector call, e.g. 60s, 2m [default: 60s; config `deadline`]
    #[arg(long, value_name = "DURATION", global = true)]
    deadline: Option<String>,
    /// Cap on the time to connect to the server [default: 10s; config `connect_timeout`]
    #[arg(long, value_name = "DURATION", global = true)]
    connect_timeout: Option<String>,
    /// Cap on the wait for a response's first byte [default: 30s; config `first_byte_timeout`]
    #[arg(long, value_name = "DURATION", global = true)]
    first_byte_timeout: Option<String>,
    /// Cap on a pause inside a response body [default: 30s; config `between_bytes_timeout`]
    #[arg(long, value_name = "DURATION", global = true)]
    between_bytes_timeout: Option<String>,
    /// Linear memory the connector instance may use [default: 256; config `memory_limit_mib`]
    #[arg(long, value_name = "MIB", global = true)]
    memory_limit_mib: Option<String>,
    /// Largest response body passed to the connector, in every mode [default: 16; config `max_body_mib`]
    #[arg(long, value_name = "MIB", global = true)]
    max_body_mib: Option<String>,
    /// A PEM file of CA certificates trusted for HTTPS besides the system store; repeatable
    /// (config `ca_file`, env NAME_CA_FILE)
    #[arg(long, value_name = "PATH", global = true)]
    ca_file: Vec<PathBuf>,
    /// PEM certificate chain presented to an HTTPS server that requires one (mutual TLS;
    /// config `client_cert`, env NAME_CLIENT_CERT)
    #[arg(long, value_name = "PATH", global = true)]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert (config `client_key`, env NAME_CLIENT_KEY)
    #[arg(long, value_name = "PATH", global = true)]
    client_key: Option<PathBuf>,
    /// Kerberos service for host_auth=negotiate, SERVICE@HOST, e.g. airflow@airflow01.example.com
    /// [default: NAME@<host of base_url>; config `kerberos_spn`, env NAME_KERBEROS_SPN]
    #[arg(long, value_name = "SERVICE@HOST", global = true)]
    kerberos_spn: Option<String>,
    /// Log the limits, start-up timings and each HTTP request (mode, method, URL, status,
    /// duration) on stderr;
    /// never headers or credentials
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Keep precompiled components in DIR
    /// [default: $XDG_CACHE_HOME/connector-harness, else ~/.cache/connector-harness]
    #[arg(long, value_name = "DIR", global = true)]
    compile_cache: Option<PathBuf>,
    /// Compile the component on every run instead of using the precompiled cache
    #[arg(long, global = true, conflicts_with = "compile_cache")]
    no_compile_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Full sync as JSON Lines: resource types, resources, entitlements, grants
    Sync {
        /// Write to FILE (atomically, only on success) instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also write the sync statistics as JSON to FILE
        #[arg(long, value_name = "FILE")]
        stats_json: Option<PathBuf>,
    },
    /// The connector's metadata (config fields, resource types, capabilities) as JSON
    Metadata,
    /// Authenticate and report the identity and system
    Validate,
    /// Targeted look-up: the grants of the entitlements one resource offers, as JSON Lines
    Grants {
        /// TYPE:ID, e.g. role:Op
        #[arg(long, value_parser = parse_ref)]
        resource: wit::ResourceRef,
    },
    /// Make a change (requires --provisioning)
    Provision {
        #[command(subcommand)]
        action: ProvisionCommand,
    },
    /// What changed between two syncs: accounts, grants, role permissions, resources. Exit
    /// status 0 equal, 1 different, 2 unusable input. Runs no connector (docs/review.md)
    Diff(access_review::cli::DiffArgs),
    /// Access review of a sync: admin-equivalent accounts, stale and unused accounts, failed
    /// sign-ins, risky roles, drift; as HTML and CSV. Runs no connector (docs/review.md)
    Report(access_review::cli::ReportArgs),
}

#[derive(Debug, Subcommand)]
enum ProvisionCommand {
    /// Give a principal an entitlement
    Grant {
        #[arg(long)]
        entitlement: String,
        /// TYPE:ID, e.g. user:alice
        #[arg(long, value_parser = parse_ref)]
        principal: wit::ResourceRef,
    },
    /// Revoke a grant, by id or by entitlement and principal
    Revoke(RevokeArgs),
    /// Create an account
    CreateAccount {
        #[arg(long)]
        login: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Role the account starts with (entitlement role:ROLE:member); repeatable
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the new account's password from stdin, on the line after the connector
        /// password if that is read from stdin too (else the connector generates one)
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an account
    DeleteAccount {
        /// TYPE:ID, e.g. user:alice
        #[arg(long, value_parser = parse_ref)]
        principal: wit::ResourceRef,
    },
    /// Create a role with its permissions
    CreateRole {
        #[arg(long)]
        name: String,
        /// ACTION:RESOURCE, e.g. can_read:DAGs (entitlement permission:ACTION:RESOURCE:assigned); repeatable
        #[arg(long = "permission", value_name = "ACTION:RESOURCE")]
        permissions: Vec<String>,
    },
    /// Delete a role
    DeleteRole {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
struct RevokeArgs {
    #[arg(long, conflicts_with_all = ["entitlement", "principal"])]
    grant: Option<String>,
    #[arg(long, requires = "principal")]
    entitlement: Option<String>,
    /// TYPE:ID, e.g. user:alice
    #[arg(long, value_parser = parse_ref, requires = "entitlement")]
    principal: Option<wit::ResourceRef>,
}

fn parse_connector(name: &str) -> Result<PathBuf, String> {
    host_harness::engine::component_path_for(name)
}

fn parse_ref(s: &str) -> Result<wit::ResourceRef, String> {
    match s.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(wit::ResourceRef {
            resource_type: t.to_string(),
            id: id.to_string(),
        }),
        _ => Err(format!("expected TYPE:ID (e.g. user:alice), got `{s}`")),
    }
}

/// A failed run: the message is printed once, scrubbed, on stderr.
struct Failure {
    code: u8,
    message: String,
}

impl From<HarnessError> for Failure {
    fn from(e: HarnessError) -> Self {
        Self {
            code: u8::try_from(e.exit_code()).unwrap_or(1),
            message: e.to_string(),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn runtime(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    // Reading sync files needs no engine, runtime or connector.
    match &cli.command {
        Command::Diff(args) => return ExitCode::from(access_review::cli::diff(args)),
        Command::Report(args) => return ExitCode::from(access_review::cli::report(args)),
        _ => {}
    }
    // Engine and host linker are built on another thread while settings are read.
    std::thread::spawn(Harness::prepare);
    // One thread: a run is one guest making one request at a time, and the only tasks
    // (each request's connection) have nothing to overlap with, since the response body is
    // read in full before the guest sees it. A multi-thread runtime would start a worker
    // per core before the first call, for nothing (the epoch ticker is its own thread).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Secrets are known only once settings resolve; until then nothing secret can be in a
    // message, so an empty scrubber is right.
    let mut scrubber = Scrubber::default();
    let result = rt.block_on(run(cli, &mut scrubber, started));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", scrubber.text(&f.message));
            ExitCode::from(f.code)
        }
    }
}

fn read_stdin_line(what: &str) -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(format!("cannot read {what} from stdin: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err(usage(format!(
            "{what} expected on stdin, got an empty line"
        )));
    }
    Ok(line)
}

fn read_config_file(cli: &Cli) -> Result<Option<(String, String)>, Failure> {
    match &cli.config {
        Some(path) => Ok(Some((
            path.display().to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read config file {}: {e}", path.display())))?,
        ))),
        None => Ok(None),
    }
}

/// `env` is what `host_config::env_snapshot` took for the connector (empty before its metadata
/// is known: the environment holds no limits).
fn resolve_host_config(
    cli: &Cli,
    config_file: Option<&(String, String)>,
    env: &BTreeMap<String, String>,
) -> Result<HostConfig, Failure> {
    let flags = HostFlags {
        allow_origin: cli.allow_origin.clone(),
        deadline: cli.deadline.clone(),
        connect_timeout: cli.connect_timeout.clone(),
        first_byte_timeout: cli.first_byte_timeout.clone(),
        between_bytes_timeout: cli.between_bytes_timeout.clone(),
        memory_limit_mib: cli.memory_limit_mib.clone(),
        max_body_mib: cli.max_body_mib.clone(),
        ca_file: cli.ca_file.clone(),
        client_cert: cli.client_cert.clone(),
        client_key: cli.client_key.clone(),
        kerberos_spn: cli.kerberos_spn.clone(),
    };
    host_config::resolve(
        config_file.map(|(f, c)| (f.as_str(), c.as_str())),
        env,
        &flags,
    )
    .map_err(|e| usage(e.to_string()))
}

/// The settings layers that do not depend on the connector: the cassette's and the password
/// from stdin, read before the component is loaded so their errors come first.
fn settings_input(
    cli: &Cli,
    config_file: Option<(String, String)>,
) -> Result<SettingsInput, Failure> {
    let cassette = match &cli.replay {
        Some(path) => Some(Cassette::load_settings(path).map_err(|e| usage(format!("{e:#}")))?),
        None => None,
    };
    let password = if cli.password_stdin {
        Some(read_stdin_line("password")?)
    } else {
        None
    };
    Ok(SettingsInput {
        cassette,
        config_file,
        env: Vec::new(),
        metadata: None,
        flags: FlagSettings {
            base_url: cli.base_url.clone(),
            username: cli.username.clone(),
            password,
            set: cli.set.clone(),
            provisioning: cli.provisioning,
        },
        replay: cli.replay.is_some(),
    })
}

/// Sets up the precompiled-component cache; without a usable one the run still works, it
/// only compiles the component (a warning says why).
fn use_compile_cache(cli: &Cli) {
    if cli.no_compile_cache {
        return;
    }
    let Some(dir) = cli
        .compile_cache
        .clone()
        .or_else(host_harness::engine::default_cache_dir)
    else {
        return;
    };
    match host_harness::engine::DiskCache::open(dir) {
        Ok(cache) => host_harness::engine::set_disk_cache(Some(cache)),
        Err(e) => eprintln!("warning: not caching the compiled component: {e:#}"),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(cli: Cli, scrubber: &mut Scrubber, started: Instant) -> Result<(), Failure> {
    use_compile_cache(&cli);
    let config_file = read_config_file(&cli)?;
    // Checked now so a bad flag or file is reported before the component loads; the
    // environment's part is added once the connector has named its variables.
    let limits = resolve_host_config(&cli, config_file.as_ref(), &BTreeMap::new())?.limits;
    let mut input = settings_input(&cli, config_file.clone())?;
    let component = cli
        .connector
        .clone()
        .or_else(|| cli.component.clone())
        .unwrap_or_else(host_harness::engine::default_component_path);

    // Engine and component are made here, ahead of the harness (which then finds them in
    // memory), to time them; a failure is reported by the harness below.
    let creating = Instant::now();
    host_harness::engine::engine();
    let engine_ms = ms(creating.elapsed());
    if let Ok((_, report)) = host_harness::engine::load_component_traced(&component) {
        if cli.verbose {
            eprintln!("startup: engine created in {engine_ms:.2} ms; {report}");
        }
    }
    // The environment variables the settings come from are named after the connector, so its
    // metadata is read first, from the instance the run then uses.
    let instantiating = Instant::now();
    let (loaded, info) = Harness::load(&component, limits).await?;
    if cli.verbose {
        eprintln!(
            "startup: instantiated and metadata of `{}` read in {:.2} ms",
            info.name,
            ms(instantiating.elapsed())
        );
    }
    let host = resolve_host_config(
        &cli,
        config_file.as_ref(),
        &host_config::env_snapshot(&info.name),
    )?;
    let metadata = host_harness::contract_types::metadata(info.clone());
    input.env = settings::env_snapshot(&metadata);
    input.metadata = Some(metadata);
    let settings = settings::resolve(&input).map_err(|e| usage(e.to_string()))?;
    // Kept for the hint on a setting the connector refuses.
    let resolved = settings.clone();
    // The metadata says which settings are secret; from here on messages are scrubbed of them.
    *scrubber = Scrubber::for_display(&settings::secret_values(
        &settings,
        &settings::SecretKeys::from_metadata(&info),
    ));
    let mode = match (&cli.record, &cli.replay) {
        (Some(cassette), _) => HttpMode::Record {
            cassette: cassette.clone(),
            source: cli.source.clone(),
        },
        (None, Some(cassette)) => HttpMode::Replay {
            cassette: cassette.clone(),
        },
        (None, None) => HttpMode::Live,
    };
    let opts = HarnessOptions {
        component,
        mode,
        settings,
        extra_allowed_origins: host.allowed_origins,
        verbose: cli.verbose,
        limits: host.limits,
        tls: host.tls,
        host_auth: host_harness::http::host_auth::HostAuthOptions {
            kerberos_spn: host.kerberos_spn,
            credentials: None,
        },
    };
    if cli.verbose {
        eprintln!("limits: {}", opts.limits.describe());
    }
    let verbose = cli.verbose;
    // Metadata is callable before configure, so it works with incomplete settings.
    let mut harness = match cli.command {
        Command::Metadata => {
            let harness = loaded.set_up(&info, opts)?;
            // From here on messages are scrubbed of every secret the metadata declares.
            *scrubber = harness.scrubber().clone();
            harness
        }
        _ => {
            let setting_up = Instant::now();
            let mut harness = loaded.set_up(&info, opts)?;
            *scrubber = harness.scrubber().clone();
            print_warnings(&harness);
            let configuring = Instant::now();
            if let Err(e) = harness.configure().await {
                let hint = match &e {
                    HarnessError::Connector(ConnectorError::InvalidConfig { field, .. }) => {
                        settings::fix_hint(&input, &resolved, field)
                    }
                    _ => None,
                };
                let mut failure = Failure::from(e);
                if let Some(hint) = hint {
                    failure.message = format!("{} ({hint})", failure.message);
                }
                return finish(harness, Err(failure));
            }
            if verbose {
                eprintln!(
                    "startup: set up in {:.2} ms, configured in {:.2} ms; first call returned \
                     {:.2} ms after start",
                    ms(configuring - setting_up),
                    ms(configuring.elapsed()),
                    ms(started.elapsed())
                );
            }
            harness
        }
    };
    let result = match cli.command {
        Command::Metadata => harness
            .metadata()
            .await
            .map_err(Failure::from)
            .and_then(|m| print_json(&render::metadata(&m))),
        Command::Validate => harness
            .validate()
            .await
            .map_err(Failure::from)
            .and_then(|v| print_json(&render::validation(&v))),
        Command::Sync { out, stats_json } => {
            let synced = sync(&mut harness, out.as_deref(), stats_json.as_deref()).await;
            if verbose {
                if let Some(peak) = harness.guest_memory_peak() {
                    eprintln!(
                        "memory: the connector's linear memory grew to {:.1} MiB at most",
                        peak as f64 / (1024.0 * 1024.0)
                    );
                }
            }
            synced
        }
        Command::Grants { resource } => grants(&mut harness, &resource).await,
        Command::Provision { action } => match provision_action(action) {
            Ok(action) => harness
                .provision(&action)
                .await
                .map_err(Failure::from)
                .and_then(|o| print_json(&render::outcome(&o))),
            Err(f) => Err(f),
        },
        // Answered in main() before any connector is loaded.
        Command::Diff(_) | Command::Report(_) => Ok(()),
    };
    finish(harness, result)
}

fn print_warnings(harness: &Harness) {
    for w in harness.warnings() {
        eprintln!("warning: {w}");
    }
}

/// Ends the run whatever its outcome: a failed run is still worth its cassette (recording an
/// error scenario is a normal use of record mode).
fn finish(harness: Harness, result: Result<(), Failure>) -> Result<(), Failure> {
    let scrubber = harness.scrubber().clone();
    let report = harness.finish();
    match &report {
        Ok(report) => print_report(report),
        Err(e) => eprintln!("error: {}", scrubber.text(&e.to_string())),
    }
    result?;
    report.map(|_| ()).map_err(Failure::from)
}

fn print_report(report: &RunReport) {
    if let Some((path, n)) = &report.cassette_written {
        eprintln!("cassette written: {} ({n} interactions)", path.display());
    }
    if let Some((path, unused)) = &report.replayed {
        if unused.is_empty() {
            eprintln!("replay: every interaction in {} was used", path.display());
        } else {
            eprintln!(
                "replay: {} unused interaction(s) in {}:",
                unused.len(),
                path.display()
            );
            for u in unused {
                eprintln!("  {u}");
            }
        }
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| runtime(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| runtime(format!("cannot write to stdout: {e}")))
}

fn provision_action(cmd: ProvisionCommand) -> Result<wit::ProvisionAction, Failure> {
    Ok(match cmd {
        ProvisionCommand::Grant {
            entitlement,
            principal,
        } => wit::ProvisionAction::Grant((entitlement, principal)),
        ProvisionCommand::Revoke(args) => match args {
            RevokeArgs {
                grant: Some(id), ..
            } => wit::ProvisionAction::Revoke(wit::RevokeTarget::GrantId(id)),
            RevokeArgs {
                entitlement: Some(e),
                principal: Some(p),
                ..
            } => wit::ProvisionAction::Revoke(wit::RevokeTarget::Membership((e, p))),
            _ => {
                return Err(usage(
                    "revoke needs --grant ID, or --entitlement E with --principal TYPE:ID",
                ))
            }
        },
        ProvisionCommand::CreateAccount {
            login,
            email,
            first_name,
            last_name,
            roles,
            password_stdin,
        } => wit::ProvisionAction::CreateAccount(wit::AccountRequest {
            login,
            email,
            first_name,
            last_name,
            entitlement_ids: roles.iter().map(|r| format!("role:{r}:member")).collect(),
            password: if password_stdin {
                Some(read_stdin_line("account password")?)
            } else {
                None
            },
        }),
        ProvisionCommand::DeleteAccount { principal } => {
            wit::ProvisionAction::DeleteAccount(principal)
        }
        ProvisionCommand::CreateRole { name, permissions } => {
            wit::ProvisionAction::CreateResource(wit::ResourceRequest {
                resource_type: "role".into(),
                id: name,
                entitlement_ids: permissions
                    .iter()
                    .map(|p| format!("permission:{p}:assigned"))
                    .collect(),
            })
        }
        ProvisionCommand::DeleteRole { name } => {
            wit::ProvisionAction::DeleteResource(wit::ResourceRef {
                resource_type: "role".into(),
                id: name,
            })
        }
    })
}

/// Pages `list-grants` for one resource and prints each grant as a JSON line.
async fn grants(harness: &mut Harness, resource: &wit::ResourceRef) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let mut guard = sync_engine::sync::TokenGuard::new(format!(
        "grants of {}:{}",
        resource.resource_type, resource.id
    ));
    let mut token: Option<String> = None;
    loop {
        let page = harness.list_grants(resource, token.as_deref()).await?;
        for grant in page.grants {
            let grant = host_harness::contract_types::grant(grant);
            sync_engine::jsonl::Line::grant(&grant)
                .write_to(&mut out)
                .map_err(|e| runtime(format!("writing to stdout: {e}")))?;
        }
        token = guard
            .next(page.next_page_token)
            .map_err(|e| runtime(e.to_string()))?;
        if token.is_none() {
            return Ok(());
        }
    }
}

async fn sync(
    harness: &mut Harness,
    out: Option<&Path>,
    stats_json: Option<&Path>,
) -> Result<(), Failure> {
    let progress = StderrProgress::new();
    let stats = match out {
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            // Written beside the target and renamed on success, so FILE is either the
            // complete output or untouched.
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| usage(format!("cannot create a file in {}: {e}", dir.display())))?;
            let mut writer = BufWriter::new(tmp);
            let stats = harness.sync(&mut writer, &progress).await.map_err(|e| {
                incomplete(e, &format!("nothing was written to {}", path.display()))
            })?;
            let tmp = writer
                .into_inner()
                .map_err(|e| runtime(format!("cannot write {}: {}", path.display(), e.error())))?;
            tmp.persist(path)
                .map_err(|e| runtime(format!("cannot write {}: {}", path.display(), e.error)))?;
            stats
        }
        None => {
            let mut writer = BufWriter::new(std::io::stdout());
            let stats = harness
                .sync(&mut writer, &progress)
                .await
                .map_err(|e| incomplete(e, "the output on stdout is incomplete"))?;
            writer
                .flush()
                .map_err(|e| runtime(format!("cannot write to stdout: {e}")))?;
            stats
        }
    };
    eprintln!("{}", sync_engine::summary::line(&stats));
    if let Some(path) = stats_json {
        let mut text = serde_json::to_string(&stats).map_err(|e| runtime(e.to_string()))?;
        text.push('\n');
        std::fs::write(path, text)
            .map_err(|e| runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn incomplete(e: HarnessError, what: &str) -> Failure {
    let mut f = Failure::from(e);
    f.message = format!("sync failed: {}\n{what}", f.message);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn record_and_replay_are_exclusive() {
        let r = Cli::try_parse_from(["h", "--record", "a", "--replay", "b", "metadata"]);
        assert!(r.is_err());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["h", "sync", "--replay", "c.json", "--set", "a=b"]).unwrap();
        assert_eq!(cli.replay.as_deref(), Some(Path::new("c.json")));
        assert_eq!(cli.set, ["a=b"]);
    }

    #[test]
    fn no_plain_password_flag() {
        assert!(Cli::try_parse_from(["h", "--password", "x", "validate"]).is_err());
    }

    #[test]
    fn provision_arguments_parse() {
        let cli = Cli::try_parse_from([
            "h",
            "provision",
            "revoke",
            "--entitlement",
            "role:Admin:member",
            "--principal",
            "user:alice",
        ])
        .unwrap();
        let Command::Provision { action } = cli.command else {
            panic!()
        };
        match provision_action(action).ok().unwrap() {
            wit::ProvisionAction::Revoke(wit::RevokeTarget::Membership((e, p))) => {
                assert_eq!(e, "role:Admin:member");
                assert_eq!((p.resource_type.as_str(), p.id.as_str()), ("user", "alice"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["h", "provision", "revoke"]).is_err());
        assert!(Cli::try_parse_from([
            "h",
            "provision",
            "revoke",
            "--grant",
            "g",
            "--entitlement",
            "e"
        ])
        .is_err());
        assert!(
            Cli::try_parse_from(["h", "provision", "delete-account", "--principal", "alice"])
                .is_err()
        );
    }
}
