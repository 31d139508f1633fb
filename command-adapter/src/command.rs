//! The commands, over any connector: the arguments and the environment in, JSON on stdout,
//! the summary and errors on stderr. Plain Rust over [`Contract`], so it is tested natively
//! with a fake connector; `component.rs` plugs in the imported one.

use std::io::Write;

use connector_sdk::error::Error;
use connector_sdk::model::{Metadata, Validation};
use sync_engine::env::{self, EnvSetting};
use sync_engine::sync::{self, NoProgress, SyncError};
use sync_engine::{jsonl, summary};

/// The connector as the commands see it: the sync's calls (`sync_engine::sync::Contract`, whose
/// `requests` is the host-side count), plus the calls around a sync. Every call is synchronous
/// in a component, so the sync's futures complete at once under `sync_engine::block_on`.
pub trait Contract: sync::Contract<Error = Error> {
    fn metadata(&mut self) -> Metadata;
    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), Error>;
    fn validate(&mut self) -> Result<Validation, Error>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Sync,
    Validate,
    Metadata,
    Help,
}

const COMMANDS: &str = "sync, validate, metadata or help";

/// `args` without the program name.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut words = args.iter().map(String::as_str);
    let command = match words.next() {
        Some("sync") => Command::Sync,
        Some("validate") => Command::Validate,
        Some("metadata") => Command::Metadata,
        Some("help" | "--help" | "-h") => Command::Help,
        Some(other) => return Err(format!("unknown command `{other}`; expected {COMMANDS}")),
        None => return Err(format!("no command given; expected {COMMANDS}")),
    };
    match words.next() {
        Some(extra) => Err(format!(
            "unexpected argument `{extra}`: settings come from the environment (--env NAME=VALUE)"
        )),
        None => Ok(command),
    }
}

/// The usage text, with the settings of the connector this command was composed with.
pub fn usage(metadata: &Metadata) -> String {
    let mut text = format!(
        "{name} connector (a governance:connector component) as a command.

usage: wasmtime run -S http --env VARIABLE=VALUE ... COMPONENT.wasm COMMAND

commands:
  sync       full sync as JSON Lines on stdout (resource types, resources, entitlements,
             grants), a summary on stderr
  validate   connect, authenticate and report the identity and the system, as JSON
  metadata   the connector's settings and resource types, as JSON (needs no settings)
  help       this text

settings (environment variables; the first one set wins, an empty one counts as unset):
",
        name = metadata.name
    );
    for field in &metadata.config_fields {
        let mut notes = Vec::new();
        if field.required {
            notes.push("required".to_string());
        }
        if field.secret {
            notes.push("secret".to_string());
        }
        if let Some(default) = &field.default_value {
            notes.push(format!("default {default}"));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        text.push_str(&format!(
            "  {}{notes}: {}\n",
            field.name,
            env::field_env_names(&metadata.name, &field.name).join(" or ")
        ));
    }
    text
}

/// A failed command whose message is already on stderr; `wasmtime run` exits with status 1.
#[derive(Debug, PartialEq, Eq)]
pub struct Reported;

/// Runs one command. `args` excludes the program name; `env` is the whole environment. Every
/// failure is printed as `error: …` on stderr.
pub fn run(
    args: &[String],
    env: &[(String, String)],
    contract: &mut impl Contract,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Reported> {
    let metadata = contract.metadata();
    let settings = env::settings_from_env(env, &metadata);
    let outcome = match parse_args(args) {
        Ok(command) => execute(command, &metadata, &settings, contract, stdout, stderr),
        Err(message) => Err(format!("{message}\n\n{}", usage(&metadata))),
    };
    outcome.map_err(|message| {
        // Nothing more can be reported if stderr itself fails.
        let _ = writeln!(stderr, "error: {}", message.trim_end());
        Reported
    })
}

fn execute(
    command: Command,
    metadata: &Metadata,
    settings: &[EnvSetting],
    contract: &mut impl Contract,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), String> {
    let print = |out: &mut dyn Write, text: &str| {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    };
    let shown = |e: Error| scrubbed(e, settings).to_string();
    match command {
        Command::Help => print(stdout, usage(metadata).trim_end()),
        Command::Metadata => print(stdout, &jsonl::metadata_pretty(metadata)),
        Command::Validate => {
            configure(contract, metadata, settings).map_err(shown)?;
            let validation: Validation = contract.validate().map_err(shown)?;
            print(stdout, &jsonl::validation_pretty(&validation))
        }
        Command::Sync => {
            configure(contract, metadata, settings).map_err(shown)?;
            let outcome =
                sync_engine::block_on(sync::run(contract, stdout, sync::memory_spool, &NoProgress))
                    .map_err(|pending| pending.to_string())?;
            let stats = outcome.map_err(|e| {
                let e = match e {
                    SyncError::Contract(e) => shown(e),
                    other => other.to_string(),
                };
                format!("sync failed: {e}\nthe output on stdout is incomplete")
            })?;
            writeln!(stderr, "{}", summary::line(&stats))
                .map_err(|e| format!("cannot write to stderr: {e}"))
        }
    }
}

/// `configure` with the settings found in the environment; a config error names the variable
/// to fix (never its value).
fn configure(
    contract: &mut impl Contract,
    metadata: &Metadata,
    settings: &[EnvSetting],
) -> Result<(), Error> {
    contract
        .configure(&env::pairs(settings))
        .map_err(|e| match e {
            Error::InvalidConfig { field, message } => {
                let source = env::source_of(settings, &metadata.name, &field);
                Error::InvalidConfig {
                    message: format!("{message} ({source})"),
                    field,
                }
            }
            other => other,
        })
}

/// `e` without the values of the settings the metadata marks secret, nor anything shaped like
/// a credential: a connector quotes server answers, and a server may echo what it was sent.
fn scrubbed(e: Error, settings: &[EnvSetting]) -> Error {
    let secrets: Vec<String> = settings
        .iter()
        .filter(|s| s.secret)
        .map(|s| s.value.clone())
        .collect();
    e.scrubbed(&secrets)
}
