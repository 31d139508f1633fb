//! The component as a command (`wasi:cli/run`): `wasmtime run -S http --env … airflow_connector.wasm
//! sync | validate | metadata`. Settings come from environment variables, with the names
//! `host-harness` reads; the output is what `host-harness` prints for the same command.
//!
//! Everything here is plain Rust over `Connector` and domain types; `wit.rs` only hands in the
//! arguments, the environment, stdout and stderr.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cli_jsonl;
use crate::cli_sync::{summary, sync};
use crate::config::{Config, PROVISIONING};
use crate::connector::Connector;
use crate::error::{Error, Result};
use crate::http::{Request, Response, Transport};
use crate::metadata;

pub const USAGE: &str = "\
Apache Airflow connector (a governance:connector component) as a command.

usage: wasmtime run -S http --env AIRFLOW_BASE_URL=URL --env AIRFLOW_USERNAME=NAME \\
         --env AIRFLOW_PASSWORD=PASSWORD airflow_connector.wasm COMMAND

commands:
  sync       full sync as JSON Lines on stdout (resource types, resources, entitlements,
             grants), a summary on stderr
  validate   sign in and report the identity and the system, as JSON
  metadata   the connector's settings and resource types, as JSON (needs no settings)
  help       this text

settings (environment; the first name set wins):
  AIRFLOW_<SETTING> or BATON_AIRFLOW_<SETTING> for every setting `metadata` lists, e.g.
  AIRFLOW_BASE_URL, AIRFLOW_USERNAME, AIRFLOW_PASSWORD, AIRFLOW_AUTH_MODE, AIRFLOW_TOKEN;
  BATON_PROVISIONING is accepted for `provisioning`.

A single contract function runs with --invoke, e.g.
  wasmtime run -S http --env … --invoke 'list-resources(\"user\", none)' airflow_connector.wasm
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Sync,
    Validate,
    Metadata,
    Help,
}

/// `args` without the program name.
pub fn parse_args(args: &[String]) -> std::result::Result<Command, String> {
    let mut words = args.iter().map(String::as_str);
    let command = match words.next() {
        Some("sync") => Command::Sync,
        Some("validate") => Command::Validate,
        Some("metadata") => Command::Metadata,
        Some("help" | "--help" | "-h") => Command::Help,
        Some(other) => {
            return Err(format!(
                "unknown command `{other}`; expected sync, validate, metadata or help"
            ))
        }
        None => return Err("no command given; expected sync, validate, metadata or help".into()),
    };
    match words.next() {
        Some(extra) => Err(format!(
            "unexpected argument `{extra}`: settings come from the environment (--env NAME=VALUE)"
        )),
        None => Ok(command),
    }
}

/// The environment variables read for one setting, in order of precedence.
pub fn env_names(setting: &str) -> Vec<String> {
    let upper = setting.to_ascii_uppercase();
    let mut names = vec![format!("AIRFLOW_{upper}"), format!("BATON_AIRFLOW_{upper}")];
    if setting == PROVISIONING {
        names.push("BATON_PROVISIONING".into());
    }
    names
}

/// Settings found in the environment, with the variable each came from.
struct EnvSettings {
    pairs: Vec<(String, String)>,
    /// (setting, variable); a `Vec` rather than a map: a few entries, and one map type fewer
    /// compiled into the component.
    sources: Vec<(String, String)>,
}

/// The value of the environment variable `name`; the last one wins if it is there twice.
fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn read_env(env: &[(String, String)]) -> EnvSettings {
    let mut settings = EnvSettings {
        pairs: Vec::new(),
        sources: Vec::new(),
    };
    for field in metadata::config_fields() {
        let found = env_names(field.name)
            .into_iter()
            .find_map(|name| lookup(env, &name).map(|v| (name, v.to_string())));
        if let Some((name, value)) = found {
            let value = if field.name == PROVISIONING {
                normalise_bool(&value)
            } else {
                value
            };
            settings.pairs.push((field.name.to_string(), value));
            settings.sources.push((field.name.to_string(), name));
        }
    }
    settings
}

/// As `host-harness` reads `BATON_PROVISIONING`: `1`/`yes`/`on` mean `true`.
fn normalise_bool(value: &str) -> String {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => "true".into(),
        "0" | "false" | "no" | "off" | "" => "false".into(),
        _ => value.to_string(),
    }
}

/// The connector's settings from the environment; `None` when no setting is there at all (the
/// instance is then left for the host to `configure`). A setting error names the variable to
/// fix, never its value.
pub fn config_from_env(env: &[(String, String)]) -> Result<Option<Config>> {
    let settings = read_env(env);
    if settings.pairs.is_empty() {
        return Ok(None);
    }
    Config::parse(&settings.pairs)
        .map(Some)
        .map_err(|e| match e {
            Error::InvalidConfig { field, message } => {
                let source = settings
                    .sources
                    .iter()
                    .find(|(setting, _)| *setting == field);
                let variable = match source.map(|(_, name)| name) {
                    Some(name) => format!("environment variable {name}"),
                    None => format!(
                        "set environment variable {}",
                        env_names(&field).join(" or ")
                    ),
                };
                Error::InvalidConfig {
                    message: format!("{message} ({variable})"),
                    field,
                }
            }
            other => other,
        })
}

fn require_config(env: &[(String, String)]) -> Result<Config> {
    config_from_env(env)?.ok_or_else(|| {
        Error::config(
            crate::config::BASE_URL,
            "no settings in the environment; pass them with --env, e.g. \
             --env AIRFLOW_BASE_URL=… --env AIRFLOW_USERNAME=… --env AIRFLOW_PASSWORD=…",
        )
    })
}

/// Counts the requests the connector sends, for the summary.
pub struct Counting<T> {
    inner: T,
    count: Rc<Cell<u64>>,
}

impl<T: Transport> Counting<T> {
    pub fn new(inner: T) -> (Self, Rc<Cell<u64>>) {
        let count = Rc::new(Cell::new(0));
        (
            Counting {
                inner,
                count: count.clone(),
            },
            count,
        )
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn send(&self, request: &Request) -> std::result::Result<Response, String> {
        self.count.set(self.count.get() + 1);
        self.inner.send(request)
    }
    fn pause(&self, duration: Duration) {
        self.inner.pause(duration)
    }
    fn now_unix(&self) -> u64 {
        self.inner.now_unix()
    }
    fn monotonic_now() -> Duration {
        T::monotonic_now()
    }
}

/// A failed command whose message is already on stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct Reported;

/// Runs one command. `args` excludes the program name; `env` is the whole environment.
/// Every failure is printed as `error: …` on stderr and returned as `Err`, which `wasmtime
/// run` turns into exit status 1.
pub fn run<T: Transport>(
    args: &[String],
    env: &[(String, String)],
    transport: T,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::result::Result<(), Reported> {
    let outcome = match parse_args(args) {
        Ok(command) => execute(command, env, transport, stdout, stderr),
        Err(message) => Err(format!("{message}\n\n{USAGE}")),
    };
    outcome.map_err(|message| {
        // Nothing more can be reported if stderr itself fails.
        let _ = writeln!(stderr, "error: {message}");
        Reported
    })
}

fn execute<T: Transport>(
    command: Command,
    env: &[(String, String)],
    transport: T,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> std::result::Result<(), String> {
    let print = |out: &mut dyn Write, text: &str| {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    };
    match command {
        Command::Help => print(stdout, USAGE.trim_end()),
        Command::Metadata => print(stdout, &cli_jsonl::metadata_pretty(&metadata::metadata())),
        Command::Validate => {
            let config = require_config(env).map_err(|e| e.to_string())?;
            // Counted like a sync although the count is unused: one connector type for every
            // command (and the contract's, see `wit.rs`) keeps the component smaller.
            let (transport, _) = Counting::new(transport);
            let validation = Connector::new(transport, config)
                .validate()
                .map_err(|e| e.to_string())?;
            print(stdout, &cli_jsonl::validation_pretty(&validation))
        }
        Command::Sync => {
            let config = require_config(env).map_err(|e| e.to_string())?;
            let (transport, requests) = Counting::new(transport);
            let mut connector = Connector::new(transport, config);
            let started = Instant::now();
            let stats = sync(&mut connector, stdout)
                .map_err(|e| format!("sync failed: {e}\nthe output on stdout is incomplete"))?;
            let line = summary(
                &stats,
                requests.get(),
                started.elapsed(),
                &connector.session_info(),
            );
            writeln!(stderr, "{line}").map_err(|e| format!("cannot write to stderr: {e}"))
        }
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
