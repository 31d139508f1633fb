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
        Ok(command @ (Command::Validate | Command::Sync)) => {
            env::refuse_host_auth(&settings, "this command (`wasmtime run`)")
                .and_then(|()| execute(command, &metadata, &settings, contract, stdout, stderr))
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // failing loudly is the point
mod tests {
    use super::*;
    use connector_sdk::model::{
        Capabilities, ConfigField, EntitlementPage, GrantPage, Resource, ResourcePage, ResourceRef,
        ResourceType,
    };

    const SECRET: &str = "Fake-Secret-Value-9";

    fn field(name: &str, required: bool, secret: bool) -> ConfigField {
        ConfigField {
            name: name.into(),
            description: String::new(),
            required,
            secret,
            default_value: None,
        }
    }

    /// A connector named `my-system` with one resource type and two pages of resources; it
    /// echoes its API key in the failures it is told to produce, as a careless server might.
    #[derive(Default)]
    struct Fake {
        configured: Vec<(String, String)>,
        fail_listing: bool,
        calls: u64,
    }

    impl Fake {
        fn api_key(&self) -> String {
            self.configured
                .iter()
                .find(|(k, _)| k == "api_key")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        }
    }

    impl Contract for Fake {
        fn metadata(&mut self) -> Metadata {
            Metadata {
                name: "my-system".into(),
                version: "1.0.0".into(),
                description: "a fake".into(),
                config_fields: vec![
                    field("url", true, false),
                    field("api_key", true, true),
                    field("host_auth", false, false),
                ],
                resource_types: vec![],
            }
        }

        fn configure(&mut self, settings: &[(String, String)]) -> Result<(), Error> {
            for key in ["url", "api_key"] {
                if !settings.iter().any(|(k, _)| k == key) {
                    return Err(Error::config(key, "is missing"));
                }
            }
            self.configured = settings.to_vec();
            Ok(())
        }

        fn validate(&mut self) -> Result<Validation, Error> {
            Err(Error::Unauthenticated(format!(
                "the server refused key {}",
                self.api_key()
            )))
        }
    }

    impl sync::Contract for Fake {
        type Error = Error;

        async fn resource_types(&mut self) -> Result<Vec<ResourceType>, Error> {
            Ok(vec![ResourceType {
                id: "user".into(),
                display_name: "User".into(),
                description: String::new(),
                traits: vec![],
                capabilities: Capabilities {
                    sync: true,
                    provision: false,
                    inline_entitlements: true,
                    inline_grants: true,
                    inline_resources: false,
                },
            }])
        }

        async fn list_resources(
            &mut self,
            _resource_type: &str,
            token: Option<&str>,
        ) -> Result<ResourcePage, Error> {
            self.calls += 1;
            if self.fail_listing && token.is_some() {
                return Err(Error::Unavailable(format!("echo: {}", self.api_key())));
            }
            let id = if token.is_some() { "bob" } else { "alice" };
            Ok(ResourcePage {
                resources: vec![Resource {
                    resource_type: "user".into(),
                    id: id.into(),
                    display_name: id.into(),
                    user: None,
                    attributes: vec![],
                }],
                next_page_token: token.is_none().then(|| "p2".to_string()),
                ..ResourcePage::default()
            })
        }

        async fn list_entitlements(
            &mut self,
            _: &ResourceRef,
            _: Option<&str>,
        ) -> Result<EntitlementPage, Error> {
            Ok(EntitlementPage::default())
        }

        async fn list_grants(
            &mut self,
            _: &ResourceRef,
            _: Option<&str>,
        ) -> Result<GrantPage, Error> {
            Ok(GrantPage::default())
        }

        async fn session_info(&mut self) -> Result<Vec<(String, String)>, Error> {
            Ok(vec![("api".into(), "v2".into())])
        }

        fn requests(&self) -> u64 {
            self.calls
        }
    }

    struct Ran {
        ok: bool,
        stdout: String,
        stderr: String,
    }

    fn run_with(fake: &mut Fake, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let ok = run(&args, &env, fake, &mut stdout, &mut stderr).is_ok();
        Ran {
            ok,
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    const SETTINGS: &[(&str, &str)] = &[
        ("MY_SYSTEM_URL", "https://example.test"),
        ("BATON_MY_SYSTEM_API_KEY", SECRET),
    ];

    #[test]
    fn arguments_name_one_command() {
        assert_eq!(parse_args(&["sync".into()]), Ok(Command::Sync));
        assert_eq!(parse_args(&["-h".into()]), Ok(Command::Help));
        let err = parse_args(&[]).unwrap_err();
        assert!(err.starts_with("no command given"), "{err}");
        let err = parse_args(&["sync".into(), "--url=x".into()]).unwrap_err();
        assert!(err.contains("settings come from the environment"), "{err}");
    }

    #[test]
    fn usage_lists_the_connectors_settings_with_their_variables() {
        let ran = run_with(&mut Fake::default(), &["help"], &[]);
        assert!(ran.ok);
        assert!(
            ran.stdout.starts_with("my-system connector"),
            "{}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains(
                "  api_key (required, secret): MY_SYSTEM_API_KEY or BATON_MY_SYSTEM_API_KEY\n"
            ),
            "{}",
            ran.stdout
        );
    }

    #[test]
    fn a_missing_setting_names_the_variables_to_set() {
        let ran = run_with(
            &mut Fake::default(),
            &["sync"],
            &[("MY_SYSTEM_URL", "https://example.test")],
        );
        assert!(!ran.ok);
        assert_eq!(ran.stdout, "");
        assert_eq!(
            ran.stderr,
            "error: invalid config: field `api_key`: is missing (set environment variable \
             MY_SYSTEM_API_KEY or BATON_MY_SYSTEM_API_KEY)\n"
        );
    }

    #[test]
    fn host_authentication_is_refused_before_the_connector_is_configured() {
        let mut env = SETTINGS.to_vec();
        env.push(("MY_SYSTEM_HOST_AUTH", "negotiate"));
        for command in ["sync", "validate"] {
            let mut fake = Fake::default();
            let ran = run_with(&mut fake, &[command], &env);
            assert!(!ran.ok);
            assert!(
                ran.stderr.contains("`host_auth` is `negotiate`")
                    && ran.stderr.contains("unset MY_SYSTEM_HOST_AUTH"),
                "{}",
                ran.stderr
            );
            assert!(fake.configured.is_empty(), "configure must not run");
            assert_eq!(fake.calls, 0);
        }
        // Help and metadata still work: they send nothing.
        assert!(run_with(&mut Fake::default(), &["help"], &env).ok);
    }

    #[test]
    fn the_settings_reach_configure_under_their_field_names() {
        let mut fake = Fake::default();
        run_with(&mut fake, &["sync"], SETTINGS);
        assert_eq!(
            fake.configured,
            vec![
                ("url".to_string(), "https://example.test".to_string()),
                ("api_key".to_string(), SECRET.to_string()),
            ]
        );
    }

    #[test]
    fn a_secret_setting_never_appears_in_an_error() {
        let ran = run_with(&mut Fake::default(), &["validate"], SETTINGS);
        assert!(!ran.ok);
        assert_eq!(
            ran.stderr,
            "error: unauthenticated: the server refused key [REDACTED]\n"
        );

        let mut fake = Fake {
            fail_listing: true,
            ..Fake::default()
        };
        let ran = run_with(&mut fake, &["sync"], SETTINGS);
        assert!(!ran.ok);
        assert!(!ran.stderr.contains(SECRET), "{}", ran.stderr);
        assert!(
            ran.stderr
                .starts_with("error: sync failed: unavailable: echo: [REDACTED]\n"),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains("incomplete"), "{}", ran.stderr);
    }

    #[test]
    fn sync_writes_json_lines_and_the_summary() {
        let ran = run_with(&mut Fake::default(), &["sync"], SETTINGS);
        assert!(ran.ok, "{}", ran.stderr);
        let types: Vec<String> = ran
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
            .collect();
        assert_eq!(
            types,
            [r#""resource_type""#, r#""resource""#, r#""resource""#]
        );
        assert!(
            ran.stderr.starts_with(
                "sync complete: 1 resource types, 2 resources (user 2), 0 entitlements, 0 grants; \
                 2 HTTP requests;"
            ),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.ends_with("\n  api: v2\n"), "{}", ran.stderr);
    }
}
