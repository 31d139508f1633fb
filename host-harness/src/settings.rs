//! Connector settings, built in layers where a later layer wins:
//! cassette `settings` (replay only) < `--config FILE` < environment < flags.
//!
//! The environment variables read are named after the connector's metadata (its name and config
//! fields; [`sync_engine::env`] has the rules every host shares), e.g. `AIRFLOW_BASE_URL`, then
//! `BATON_AIRFLOW_BASE_URL`, for the `airflow` connector's `base_url`.
//!
//! Resolution is a pure function of its inputs (the environment is passed in as pairs) so the
//! precedence rules are unit-tested without touching the process environment.

use std::collections::{BTreeMap, BTreeSet};

use connector_sdk::model::Metadata;
use thiserror::Error;

use crate::bindings::wit;

/// The config file's keys that configure the harness itself (`host_config`), not the connector.
pub mod host_keys {
    pub const ALLOWED_ORIGINS: &str = "allowed_origins";
    pub const DEADLINE: &str = "deadline";
    pub const CONNECT_TIMEOUT: &str = "connect_timeout";
    pub const FIRST_BYTE_TIMEOUT: &str = "first_byte_timeout";
    pub const BETWEEN_BYTES_TIMEOUT: &str = "between_bytes_timeout";
    pub const MEMORY_LIMIT_MIB: &str = "memory_limit_mib";
    pub const MAX_BODY_MIB: &str = "max_body_mib";
    pub const CA_FILE: &str = "ca_file";
    pub const CLIENT_CERT: &str = "client_cert";
    pub const CLIENT_KEY: &str = "client_key";
    /// The Kerberos service principal for `host_auth=negotiate`, `SERVICE@HOST`.
    pub const KERBEROS_SPN: &str = "kerberos_spn";

    pub const HOST_KEYS: [&str; 11] = [
        ALLOWED_ORIGINS,
        DEADLINE,
        CONNECT_TIMEOUT,
        FIRST_BYTE_TIMEOUT,
        BETWEEN_BYTES_TIMEOUT,
        MEMORY_LIMIT_MIB,
        MAX_BODY_MIB,
        CA_FILE,
        CLIENT_CERT,
        CLIENT_KEY,
        KERBEROS_SPN,
    ];

    pub fn is_host_key(key: &str) -> bool {
        HOST_KEYS.contains(&key)
    }
}

/// The setting keys the harness itself knows about; any other key passes through untouched.
pub const BASE_URL: &str = "base_url";
pub const USERNAME: &str = "username";
pub const PASSWORD: &str = "password";
pub const PROVISIONING: &str = sync_engine::env::PROVISIONING;

/// The password used in replay when none is given: cassette bodies are scrubbed, so the
/// recorded login body carries this placeholder and any password matches it.
pub const REPLAY_PASSWORD: &str = "[REDACTED]";

/// The environment variables the connector described by `metadata` reads (settings and host
/// options, see [`sync_engine::env`]), as set in this process; unset, empty and non-UTF-8
/// ones are left out.
pub fn env_snapshot(metadata: &Metadata) -> Vec<(String, String)> {
    sync_engine::env::all_env_names(metadata)
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// A settings problem the operator must fix; the CLI exits with status 2 on these.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("config file {file}: {message}")]
    ConfigFile { file: String, message: String },
    #[error("config file {file}: key `{key}` must be a string, number or boolean, found {found}")]
    ConfigValue {
        file: String,
        key: String,
        found: &'static str,
    },
    #[error("{flag} expects key=value, got `{value}`")]
    MalformedFlag { flag: &'static str, value: String },
    /// A harness option (flag, config key or environment variable) with a bad value.
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

/// Settings given on the command line (or by a library caller in the same shape).
#[derive(Debug, Default, Clone)]
pub struct FlagSettings {
    pub base_url: Option<String>,
    pub username: Option<String>,
    /// Read from stdin by the CLI; never a plain flag, so it cannot leak through `ps`.
    pub password: Option<String>,
    /// Raw `key=value` strings from repeated `--set`.
    pub set: Vec<String>,
    pub provisioning: bool,
}

/// Every input to settings resolution.
#[derive(Debug, Default, Clone)]
pub struct SettingsInput {
    /// The cassette's recorded (non-secret) settings; only used in replay.
    pub cassette: Option<BTreeMap<String, String>>,
    /// `(file name for messages, file contents)` of `--config`.
    pub config_file: Option<(String, String)>,
    /// Environment variables as `(name, value)`; which are read, and under which names, the
    /// connector's metadata decides, so without `metadata` none is.
    pub env: Vec<(String, String)>,
    /// The connector's metadata (see [`crate::contract_types::metadata`]).
    pub metadata: Option<Metadata>,
    pub flags: FlagSettings,
    /// Replay mode: a missing password becomes [`REPLAY_PASSWORD`].
    pub replay: bool,
}

/// Merge the layers; later layers win.
pub fn resolve(input: &SettingsInput) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut out = BTreeMap::new();
    if input.replay {
        if let Some(cassette) = &input.cassette {
            out.extend(cassette.clone());
        }
    }
    if let Some((file, contents)) = &input.config_file {
        out.extend(parse_config_file(file, contents)?);
    }
    if let Some(metadata) = &input.metadata {
        let found = sync_engine::env::settings_from_env(&input.env, metadata);
        out.extend(sync_engine::env::pairs(&found));
    }
    let flags = &input.flags;
    for (key, value) in [
        (BASE_URL, &flags.base_url),
        (USERNAME, &flags.username),
        (PASSWORD, &flags.password),
    ] {
        if let Some(value) = value {
            out.insert(key.to_string(), value.clone());
        }
    }
    for raw in &flags.set {
        let (key, value) = parse_set(raw)?;
        out.insert(key, value);
    }
    if flags.provisioning {
        out.insert(PROVISIONING.to_string(), "true".to_string());
    }
    // Only for a connector that has a password setting: another connector (an API token, say)
    // would refuse an unknown `password`. Nor when the host authenticates (`host_auth`): the
    // connector then takes no password.
    let takes_password = input
        .metadata
        .as_ref()
        .is_none_or(|m| m.config_fields.iter().any(|f| f.name == PASSWORD))
        && crate::http::host_auth::requested(&out).is_none();
    if input.replay && takes_password && out.get(PASSWORD).is_none_or(|p| p.is_empty()) {
        out.insert(PASSWORD.to_string(), REPLAY_PASSWORD.to_string());
    }
    Ok(out)
}

/// Where the operator fixes the setting `field` the connector refused: the environment variable
/// its value came from, or, when no layer gave it, the ways to give it, with the variables named
/// after the connector. `None` when a flag, the config file or the cassette gave it (the operator
/// typed it there).
pub fn fix_hint(
    input: &SettingsInput,
    resolved: &BTreeMap<String, String>,
    field: &str,
) -> Option<String> {
    let metadata = input.metadata.as_ref()?;
    if !resolved.contains_key(field) {
        let ways = format!("give it with --set {field}=VALUE or in the --config file");
        // Only the fields the metadata lists are read from the environment.
        if !metadata.config_fields.iter().any(|f| f.name == field) {
            return Some(ways);
        }
        return Some(format!(
            "{ways}, or with environment variable {}",
            sync_engine::env::field_env_names(&metadata.name, field).join(" or ")
        ));
    }
    let flags = &input.flags;
    let named_flag = match field {
        BASE_URL => flags.base_url.is_some(),
        USERNAME => flags.username.is_some(),
        PASSWORD => flags.password.is_some(),
        PROVISIONING => flags.provisioning,
        _ => false,
    };
    let set_flag = flags
        .set
        .iter()
        .any(|raw| parse_set(raw).is_ok_and(|(key, _)| key == field));
    if named_flag || set_flag {
        return None;
    }
    sync_engine::env::settings_from_env(&input.env, metadata)
        .into_iter()
        .find(|s| s.key == field)
        .map(|s| format!("from environment variable {}", s.variable))
}

/// `--set key=value`; the value may itself contain `=`.
pub fn parse_set(raw: &str) -> Result<(String, String), SettingsError> {
    match raw.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(SettingsError::MalformedFlag {
            flag: "--set",
            value: raw.to_string(),
        }),
    }
}

fn parse_config_file(
    file: &str,
    contents: &str,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let value: serde_json::Value =
        serde_json::from_str(contents).map_err(|e| SettingsError::ConfigFile {
            file: file.to_string(),
            message: format!("not valid JSON: {e}"),
        })?;
    let serde_json::Value::Object(map) = value else {
        return Err(SettingsError::ConfigFile {
            file: file.to_string(),
            message: "expected a JSON object of settings".to_string(),
        });
    };
    map.into_iter()
        // Sandbox and limit keys configure the harness (see `host_config`), not the connector.
        .filter(|(key, _)| !host_keys::is_host_key(key))
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(SettingsError::ConfigValue {
                        file: file.to_string(),
                        key,
                        found: json_kind(&other),
                    })
                }
            };
            Ok((key, value))
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The keys of the settings the connector declares secret in its metadata (`config-field`
/// with `secret: true`), as the metadata spells them.
pub fn secret_keys(info: &wit::ConnectorInfo) -> BTreeSet<String> {
    info.config_fields
        .iter()
        .filter(|f| f.secret)
        .map(|f| f.name.clone())
        .collect()
}

/// Which settings hold credentials: such settings are never stored in a cassette, and their
/// values are scrubbed from everything the harness writes or prints.
///
/// The connector's metadata decides ([`secret_keys`]); a key that names a credential
/// ([`is_secret_key`]) counts as secret too, as a safety net for settings the metadata does not
/// declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretKeys {
    declared: BTreeSet<String>,
}

impl SecretKeys {
    /// The connector's secret fields, plus the name-based net.
    pub fn from_metadata(info: &wit::ConnectorInfo) -> Self {
        Self {
            declared: secret_keys(info),
        }
    }

    /// Only the name-based net: for messages printed before the connector's metadata is known
    /// (the guest has not been given the settings by then).
    pub fn by_name_only() -> Self {
        Self::default()
    }

    /// The keys the metadata declares secret.
    pub fn declared(&self) -> &BTreeSet<String> {
        &self.declared
    }

    /// Whether the setting `key` holds a credential. Declared keys match whatever their case,
    /// since over-protecting a setting costs nothing.
    pub fn contains(&self, key: &str) -> bool {
        is_secret_key(key) || self.declared.iter().any(|d| d.eq_ignore_ascii_case(key))
    }
}

/// The name-based safety net: a key containing `password`, `secret` or `token`.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
}

/// The settings worth recording in a cassette: everything but secrets.
pub fn non_secret(
    settings: &BTreeMap<String, String>,
    secret: &SecretKeys,
) -> BTreeMap<String, String> {
    settings
        .iter()
        .filter(|(k, _)| !secret.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The values of secret settings (non-empty, not the replay placeholder).
pub fn secret_values(settings: &BTreeMap<String, String>, secret: &SecretKeys) -> Vec<String> {
    settings
        .iter()
        .filter(|(k, v)| secret.contains(k) && !v.is_empty() && v.as_str() != REPLAY_PASSWORD)
        .map(|(_, v)| v.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The settings the Airflow component declares that these tests use.
    fn airflow() -> Option<Metadata> {
        let mut info = info(&[
            ("base_url", false),
            ("username", false),
            ("password", true),
            ("provisioning", false),
        ]);
        info.name = "airflow".into();
        for field in &mut info.config_fields {
            if field.name == PROVISIONING {
                field.default_value = Some("false".into());
            }
        }
        Some(crate::contract_types::metadata(info))
    }

    #[test]
    fn later_layers_win() {
        let input = SettingsInput {
            cassette: Some(map(&[
                ("base_url", "http://cassette"),
                ("username", "cassette-user"),
                ("page_size", "10"),
            ])),
            config_file: Some((
                "c.json".into(),
                r#"{"base_url":"http://file","username":"file-user","verify":true,"page_size":50}"#
                    .into(),
            )),
            env: env(&[("AIRFLOW_USERNAME", "env-user")]),
            metadata: airflow(),
            flags: FlagSettings {
                base_url: Some("http://flag".into()),
                ..Default::default()
            },
            replay: true,
        };
        let out = resolve(&input).unwrap();
        assert_eq!(out["base_url"], "http://flag");
        assert_eq!(out["username"], "env-user");
        assert_eq!(out["page_size"], "50");
        assert_eq!(out["verify"], "true");
        assert_eq!(out["password"], REPLAY_PASSWORD);
    }

    #[test]
    fn cassette_settings_only_apply_in_replay() {
        let input = SettingsInput {
            cassette: Some(map(&[("base_url", "http://cassette")])),
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn airflow_env_var_beats_baton_alias() {
        let input = SettingsInput {
            env: env(&[
                ("AIRFLOW_BASE_URL", "http://a"),
                ("BATON_AIRFLOW_BASE_URL", "http://b"),
                ("BATON_AIRFLOW_PASSWORD", "pw-from-alias"),
            ]),
            metadata: airflow(),
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert_eq!(out["base_url"], "http://a");
        assert_eq!(out["password"], "pw-from-alias");
    }

    #[test]
    fn env_names_come_from_the_connector_metadata() {
        let mut northflank = info(&[("api_token", true), ("team", false), ("region", false)]);
        northflank.name = "northflank".into();
        let input = SettingsInput {
            config_file: Some(("c.json".into(), r#"{"team":"file","region":"eu"}"#.into())),
            env: env(&[
                ("BATON_NORTHFLANK_API_TOKEN", "nf-0123456789"),
                ("NORTHFLANK_TEAM", "env"),
                // Empty counts as unset: the config file's value stays.
                ("NORTHFLANK_REGION", ""),
                // Not this connector's names, and not a declared field.
                ("AIRFLOW_BASE_URL", "http://a"),
                ("NORTHFLANK_BASE_URL", "http://undeclared"),
            ]),
            metadata: Some(crate::contract_types::metadata(northflank.clone())),
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert_eq!(
            out,
            map(&[
                ("api_token", "nf-0123456789"),
                ("region", "eu"),
                ("team", "env")
            ])
        );
        // The metadata marks api_token secret: it stays out of cassettes and is scrubbed.
        let secret = SecretKeys::from_metadata(&northflank);
        assert_eq!(
            non_secret(&out, &secret),
            map(&[("region", "eu"), ("team", "env")])
        );
        assert_eq!(secret_values(&out, &secret), ["nf-0123456789"]);
    }

    #[test]
    fn a_refused_setting_names_where_to_fix_it() {
        let mut input = SettingsInput {
            config_file: Some(("c.json".into(), r#"{"username":"file"}"#.into())),
            env: env(&[
                ("BATON_AIRFLOW_BASE_URL", "ftp://x"),
                ("AIRFLOW_USERNAME", "e"),
            ]),
            metadata: airflow(),
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert_eq!(
            fix_hint(&input, &out, "base_url").as_deref(),
            Some("from environment variable BATON_AIRFLOW_BASE_URL")
        );
        assert_eq!(
            fix_hint(&input, &out, "password").as_deref(),
            Some(
                "give it with --set password=VALUE or in the --config file, or with environment \
                 variable AIRFLOW_PASSWORD or BATON_AIRFLOW_PASSWORD"
            )
        );
        // A field the metadata does not list is not read from the environment.
        assert_eq!(
            fix_hint(&input, &out, "undeclared").as_deref(),
            Some("give it with --set undeclared=VALUE or in the --config file")
        );
        // The environment beat the config file for username.
        assert_eq!(
            fix_hint(&input, &out, "username").as_deref(),
            Some("from environment variable AIRFLOW_USERNAME")
        );
        // A flag wins over the environment: the operator typed it, no hint.
        input.flags.set = vec!["base_url=http://flag".into()];
        input.flags.username = Some("flag".into());
        let out = resolve(&input).unwrap();
        assert_eq!(fix_hint(&input, &out, "base_url"), None);
        assert_eq!(fix_hint(&input, &out, "username"), None);
        // Without metadata nothing is known about the environment.
        input.metadata = None;
        assert_eq!(fix_hint(&input, &BTreeMap::new(), "password"), None);
    }

    #[test]
    fn without_metadata_the_environment_is_not_read() {
        let input = SettingsInput {
            env: env(&[
                ("AIRFLOW_BASE_URL", "http://a"),
                ("BATON_PROVISIONING", "1"),
            ]),
            ..Default::default()
        };
        assert!(resolve(&input).unwrap().is_empty());
    }

    #[test]
    fn set_flags_win_over_named_flags_and_keep_equals_in_value() {
        let input = SettingsInput {
            flags: FlagSettings {
                username: Some("named".into()),
                set: vec!["username=set".into(), "filter=a=b".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert_eq!(out["username"], "set");
        assert_eq!(out["filter"], "a=b");
    }

    #[test]
    fn malformed_set_names_the_flag() {
        for raw in ["novalue", "=x", ""] {
            let input = SettingsInput {
                flags: FlagSettings {
                    set: vec![raw.into()],
                    ..Default::default()
                },
                ..Default::default()
            };
            let err = resolve(&input).unwrap_err();
            assert!(
                err.to_string().starts_with("--set expects key=value"),
                "{err}"
            );
        }
    }

    #[test]
    fn config_file_rejects_nested_values_naming_key_and_file() {
        let input = SettingsInput {
            config_file: Some(("conf.json".into(), r#"{"base_url":{"x":1}}"#.into())),
            ..Default::default()
        };
        let err = resolve(&input).unwrap_err().to_string();
        assert!(
            err.contains("conf.json") && err.contains("`base_url`"),
            "{err}"
        );
        assert!(err.contains("an object"), "{err}");

        let input = SettingsInput {
            config_file: Some(("conf.json".into(), "[1]".into())),
            ..Default::default()
        };
        assert!(resolve(&input)
            .unwrap_err()
            .to_string()
            .contains("JSON object"));

        let input = SettingsInput {
            config_file: Some(("conf.json".into(), "{".into())),
            ..Default::default()
        };
        assert!(resolve(&input)
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn provisioning_from_flag_or_env() {
        let mut input = SettingsInput {
            env: env(&[("BATON_PROVISIONING", "1")]),
            metadata: airflow(),
            ..Default::default()
        };
        assert_eq!(resolve(&input).unwrap()["provisioning"], "true");
        input.env = env(&[("AIRFLOW_PROVISIONING", "yes"), ("BATON_PROVISIONING", "0")]);
        assert_eq!(resolve(&input).unwrap()["provisioning"], "true");
        input.env.clear();
        input.flags.provisioning = true;
        assert_eq!(resolve(&input).unwrap()["provisioning"], "true");
    }

    #[test]
    fn explicit_password_is_kept_in_replay() {
        let input = SettingsInput {
            flags: FlagSettings {
                password: Some("given".into()),
                ..Default::default()
            },
            replay: true,
            ..Default::default()
        };
        assert_eq!(resolve(&input).unwrap()["password"], "given");
    }

    #[test]
    fn replay_adds_the_password_placeholder_only_for_a_connector_with_a_password() {
        let mut input = SettingsInput {
            replay: true,
            metadata: airflow(),
            ..Default::default()
        };
        assert_eq!(resolve(&input).unwrap()[PASSWORD], REPLAY_PASSWORD);
        let mut token_only = info(&[("api_token", true), ("base_url", false)]);
        token_only.name = "northflank".into();
        input.metadata = Some(crate::contract_types::metadata(token_only));
        assert!(!resolve(&input).unwrap().contains_key(PASSWORD));
    }

    #[test]
    fn replay_of_a_host_authenticated_recording_gets_no_password() {
        let input = SettingsInput {
            cassette: Some(map(&[("base_url", "http://h"), ("host_auth", "negotiate")])),
            replay: true,
            metadata: airflow(),
            ..Default::default()
        };
        let out = resolve(&input).unwrap();
        assert!(!out.contains_key(PASSWORD), "{out:?}");
        assert_eq!(out["host_auth"], "negotiate");
    }

    /// Connector metadata with these `(name, secret)` config fields.
    fn info(fields: &[(&str, bool)]) -> wit::ConnectorInfo {
        wit::ConnectorInfo {
            name: "synthetic".into(),
            version: "0.0.1".into(),
            description: String::new(),
            config_fields: fields
                .iter()
                .map(|(name, secret)| wit::ConfigField {
                    name: name.to_string(),
                    description: String::new(),
                    required: false,
                    secret: *secret,
                    default_value: None,
                })
                .collect(),
            resource_types: Vec::new(),
        }
    }

    #[test]
    fn secret_keys_are_the_fields_the_metadata_marks_secret() {
        let metadata = info(&[
            ("base_url", false),
            ("api_key", true),
            ("client_assertion", true),
            ("username", false),
        ]);
        let expected: BTreeSet<String> = ["api_key", "client_assertion"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(secret_keys(&metadata), expected);
        assert_eq!(SecretKeys::from_metadata(&metadata).declared(), &expected);
        assert!(secret_keys(&info(&[("base_url", false)])).is_empty());
    }

    #[test]
    fn a_secret_field_not_named_like_a_password_is_secret_because_the_metadata_says_so() {
        let s = map(&[
            ("api_key", "ak-Live-0123456789"),
            ("base_url", "http://h"),
            ("username", "admin"),
        ]);
        // By name alone `api_key` is an ordinary setting...
        assert!(!is_secret_key("api_key"));
        assert_eq!(non_secret(&s, &SecretKeys::by_name_only()), s);
        assert!(secret_values(&s, &SecretKeys::by_name_only()).is_empty());
        // ...the metadata is what makes it secret, whatever the case the operator typed.
        let secret = SecretKeys::from_metadata(&info(&[("api_key", true), ("base_url", false)]));
        assert!(secret.contains("api_key") && secret.contains("API_KEY"));
        assert_eq!(
            non_secret(&s, &secret),
            map(&[("base_url", "http://h"), ("username", "admin")])
        );
        assert_eq!(
            secret_values(&s, &secret),
            vec!["ak-Live-0123456789".to_string()]
        );
    }

    #[test]
    fn names_that_say_credential_stay_secret_as_a_safety_net() {
        let s = map(&[
            ("password", "pw"),
            ("api_token", "tok"),
            ("client_secret", ""),
            ("username", "admin"),
        ]);
        // Metadata that declares none of them secret does not make them plain.
        let secret = SecretKeys::from_metadata(&info(&[("password", false), ("username", false)]));
        for secret in [SecretKeys::by_name_only(), secret] {
            assert_eq!(non_secret(&s, &secret), map(&[("username", "admin")]));
            let mut values = secret_values(&s, &secret);
            values.sort();
            assert_eq!(values, vec!["pw".to_string(), "tok".to_string()]);
        }
        // The replay placeholder is no secret to scrub.
        let replay = map(&[("password", REPLAY_PASSWORD)]);
        assert!(secret_values(&replay, &SecretKeys::by_name_only()).is_empty());
    }
}
