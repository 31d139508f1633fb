//! Connector settings from environment variables, named after the connector's own `metadata()`,
//! so that every host reads the same variables for the same connector and no host hard-codes a
//! system.
//!
//! # Names
//!
//! For a connector named `NAME` and a config field `FIELD`, the variables read are, in order of
//! precedence (the first one set wins):
//!
//! 1. `NAME_FIELD`, e.g. `AIRFLOW_BASE_URL`;
//! 2. `BATON_NAME_FIELD`, e.g. `BATON_AIRFLOW_BASE_URL` (the names baton-style connectors use);
//! 3. for the contract's `provisioning` setting only, `BATON_PROVISIONING`.
//!
//! `NAME` and `FIELD` are upper-cased and every character other than an ASCII letter or digit
//! (`-` in `my-system`, say) becomes `_`, since shells accept no other in a variable name.
//! Only the fields `metadata().config_fields` lists are read: an unknown variable is never
//! passed to `configure`.
//!
//! The host's own settings follow the same rule: `NAME_ALLOWED_ORIGINS` (a comma list).
//!
//! # Values
//!
//! - An empty variable counts as unset: it neither hides a later name nor overrides a setting
//!   from a lower layer (a config file), since `VAR=` is how shells and compose files usually
//!   spell "not given".
//! - Boolean fields accept the spellings environments use: `1`, `yes`, `on` (any case) mean
//!   `true`; `0`, `no`, `off` mean `false`; anything else reaches the connector as written, for
//!   its own message. A field is boolean when its default value is `true` or `false`, and
//!   `provisioning` always is.
//! - A variable given twice in the list (possible in a WASI environment) counts by its last
//!   occurrence, as in a shell.
//! - Which settings are secret is what `ConfigField::secret` says; a secret value never appears
//!   in `Debug` output.
//!
//! Everything here is a pure function of the environment pairs and the metadata, so hosts can
//! test their rules without touching a process environment.

use std::fmt;

use connector_sdk::model::{ConfigField, Metadata};

/// The prefix of the second name of every setting.
pub const ALIAS_PREFIX: &str = "BATON";
/// The contract's setting that unlocks `provision`; every host reads it the same way.
pub const PROVISIONING: &str = "provisioning";
/// The connector-independent name of [`PROVISIONING`], read last.
pub const PROVISIONING_VAR: &str = "BATON_PROVISIONING";
/// The host setting listing further origins the connector may reach, as `NAME_` + this.
pub const ALLOWED_ORIGINS_SUFFIX: &str = "ALLOWED_ORIGINS";

/// `name` as it appears in a variable name: upper case, `_` for anything but letters and
/// digits.
pub fn env_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The variables read for `field` of the connector `connector`, in order of precedence.
pub fn field_env_names(connector: &str, field: &str) -> Vec<String> {
    let (connector, word) = (env_word(connector), env_word(field));
    let mut names = vec![
        format!("{connector}_{word}"),
        format!("{ALIAS_PREFIX}_{connector}_{word}"),
    ];
    if field == PROVISIONING {
        names.push(PROVISIONING_VAR.to_string());
    }
    names
}

/// The variable listing further allowed origins for the connector `connector`, e.g.
/// `AIRFLOW_ALLOWED_ORIGINS`.
pub fn allowed_origins_var(connector: &str) -> String {
    format!("{}_{ALLOWED_ORIGINS_SUFFIX}", env_word(connector))
}

/// Every variable the rules here read for `metadata`: the settings' names, then the host's.
pub fn all_env_names(metadata: &Metadata) -> Vec<String> {
    let mut names: Vec<String> = metadata
        .config_fields
        .iter()
        .flat_map(|f| field_env_names(&metadata.name, &f.name))
        .collect();
    names.push(allowed_origins_var(&metadata.name));
    names
}

/// For a message about a missing or bad setting: `set environment variable A or B`.
pub fn how_to_set(connector: &str, field: &str) -> String {
    format!(
        "set environment variable {}",
        field_env_names(connector, field).join(" or ")
    )
}

/// The value of the variable `name`, `None` when it is absent or empty. The last occurrence
/// counts when `name` is there twice.
pub fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether `field` takes `true`/`false`: the contract's `provisioning`, or a field whose default
/// says so.
pub fn is_boolean(field: &ConfigField) -> bool {
    field.name == PROVISIONING || matches!(field.default_value.as_deref(), Some("true" | "false"))
}

/// `1`/`yes`/`on` as `true`, `0`/`no`/`off` as `false` (any case, surrounding blanks ignored);
/// any other text unchanged, for the connector to reject with its own message.
pub fn normalise_bool(value: &str) -> String {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => "true".to_string(),
        "0" | "false" | "no" | "off" => "false".to_string(),
        _ => value.to_string(),
    }
}

/// One setting found in the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvSetting {
    /// The config field, as the metadata names it.
    pub key: String,
    /// As passed to `configure` (booleans normalised).
    pub value: String,
    /// The variable it came from, for messages that tell the operator what to fix.
    pub variable: String,
    /// The metadata marks the field secret.
    pub secret: bool,
}

impl fmt::Debug for EnvSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret {
            "[REDACTED]"
        } else {
            &self.value
        };
        f.debug_struct("EnvSetting")
            .field("key", &self.key)
            .field("value", &value)
            .field("variable", &self.variable)
            .field("secret", &self.secret)
            .finish()
    }
}

/// The settings of `metadata`'s connector found in `env`, in the metadata's field order.
pub fn settings_from_env(env: &[(String, String)], metadata: &Metadata) -> Vec<EnvSetting> {
    metadata
        .config_fields
        .iter()
        .filter_map(|field| {
            let (variable, raw) = field_env_names(&metadata.name, &field.name)
                .into_iter()
                .find_map(|name| lookup(env, &name).map(|value| (name, value)))?;
            let value = if is_boolean(field) {
                normalise_bool(raw)
            } else {
                raw.to_string()
            };
            Some(EnvSetting {
                key: field.name.clone(),
                value,
                variable,
                secret: field.secret,
            })
        })
        .collect()
}

/// `(key, value)` pairs of `settings`, as `configure` takes them.
pub fn pairs(settings: &[EnvSetting]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|s| (s.key.clone(), s.value.clone()))
        .collect()
}

/// Where the operator fixes the setting `key`: the variable it came from when the environment
/// gave it, else every variable that could.
pub fn source_of(settings: &[EnvSetting], connector: &str, key: &str) -> String {
    match settings.iter().find(|s| s.key == key) {
        Some(s) => format!("environment variable {}", s.variable),
        None => how_to_set(connector, key),
    }
}

/// The contract's setting by which a host takes on authentication (`host_auth`, documented at
/// `configure` in wit/types.wit).
pub const HOST_AUTH: &str = "host_auth";

/// For a host that authenticates no request itself: an error naming the variable when the
/// environment sets `host_auth`, since the connector would then send its requests with no
/// credentials at all. `host` names this host in the message.
pub fn refuse_host_auth(settings: &[EnvSetting], host: &str) -> Result<(), String> {
    match settings.iter().find(|s| s.key == HOST_AUTH) {
        Some(s) => Err(format!(
            "`{HOST_AUTH}` is `{}` (environment variable {}), which asks the host to \
             authenticate every request, and {host} does not: unset {} and give the connector \
             its own credentials, or run it in a host that provides `{}` (host-harness \
             provides `negotiate`, Kerberos)",
            s.value, s.variable, s.variable, s.value
        )),
        None => Ok(()),
    }
}

/// The host's allowed-origins list from the environment: `(variable, comma list)`, when set.
pub fn allowed_origins(env: &[(String, String)], connector: &str) -> Option<(String, String)> {
    let name = allowed_origins_var(connector);
    let value = lookup(env, &name)?.to_string();
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, secret: bool, default: Option<&str>) -> ConfigField {
        ConfigField {
            name: name.into(),
            description: String::new(),
            required: false,
            secret,
            default_value: default.map(String::from),
        }
    }

    fn metadata(name: &str, fields: Vec<ConfigField>) -> Metadata {
        Metadata {
            name: name.into(),
            version: "0.0.1".into(),
            description: String::new(),
            config_fields: fields,
            resource_types: Vec::new(),
        }
    }

    fn airflow() -> Metadata {
        metadata(
            "airflow",
            vec![
                field("base_url", false, None),
                field("username", false, None),
                field("password", true, None),
                field("provisioning", false, Some("false")),
                field("allow_insecure_http", false, Some("false")),
                field("request_interval_ms", false, Some("0")),
            ],
        )
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn found(settings: &[EnvSetting]) -> Vec<(&str, &str, &str)> {
        settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str(), s.variable.as_str()))
            .collect()
    }

    #[test]
    fn names_come_from_the_connector_and_field_names() {
        assert_eq!(
            field_env_names("airflow", "base_url"),
            ["AIRFLOW_BASE_URL", "BATON_AIRFLOW_BASE_URL"]
        );
        assert_eq!(
            field_env_names("northflank", "api_token"),
            ["NORTHFLANK_API_TOKEN", "BATON_NORTHFLANK_API_TOKEN"]
        );
        assert_eq!(
            field_env_names("my-system", "client-id"),
            ["MY_SYSTEM_CLIENT_ID", "BATON_MY_SYSTEM_CLIENT_ID"]
        );
        assert_eq!(
            field_env_names("airflow", "provisioning"),
            [
                "AIRFLOW_PROVISIONING",
                "BATON_AIRFLOW_PROVISIONING",
                "BATON_PROVISIONING"
            ]
        );
        assert_eq!(allowed_origins_var("airflow"), "AIRFLOW_ALLOWED_ORIGINS");
        assert_eq!(
            allowed_origins_var("my.system"),
            "MY_SYSTEM_ALLOWED_ORIGINS"
        );
    }

    #[test]
    fn the_connector_name_first_then_the_baton_alias() {
        let settings = settings_from_env(
            &env(&[
                ("BATON_AIRFLOW_BASE_URL", "http://b"),
                ("AIRFLOW_BASE_URL", "http://a"),
                ("BATON_AIRFLOW_USERNAME", "from-alias"),
            ]),
            &airflow(),
        );
        assert_eq!(
            found(&settings),
            [
                ("base_url", "http://a", "AIRFLOW_BASE_URL"),
                ("username", "from-alias", "BATON_AIRFLOW_USERNAME"),
            ]
        );
    }

    #[test]
    fn a_second_connector_gets_its_own_names_and_secrecy() {
        let northflank = metadata(
            "northflank",
            vec![field("api_token", true, None), field("team", false, None)],
        );
        let e = env(&[
            ("BATON_NORTHFLANK_API_TOKEN", "nf-secret-0123456789"),
            ("NORTHFLANK_TEAM", "ops"),
            // Another connector's names are not this one's.
            ("AIRFLOW_BASE_URL", "http://a"),
            ("NORTHFLANK_BASE_URL", "http://undeclared"),
        ]);
        let settings = settings_from_env(&e, &northflank);
        assert_eq!(
            found(&settings),
            [
                (
                    "api_token",
                    "nf-secret-0123456789",
                    "BATON_NORTHFLANK_API_TOKEN"
                ),
                ("team", "ops", "NORTHFLANK_TEAM"),
            ]
        );
        assert_eq!(
            settings.iter().map(|s| s.secret).collect::<Vec<_>>(),
            [true, false]
        );
        let shown = format!("{settings:?}");
        assert!(!shown.contains("nf-secret"), "{shown}");
        assert!(shown.contains("ops"), "{shown}");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let settings = settings_from_env(
            &env(&[
                ("AIRFLOW_BASE_URL", ""),
                ("BATON_AIRFLOW_BASE_URL", "http://b"),
                ("AIRFLOW_USERNAME", ""),
                ("BATON_PROVISIONING", ""),
            ]),
            &airflow(),
        );
        assert_eq!(
            found(&settings),
            [("base_url", "http://b", "BATON_AIRFLOW_BASE_URL")]
        );
        assert_eq!(
            allowed_origins(&env(&[("AIRFLOW_ALLOWED_ORIGINS", "")]), "airflow"),
            None
        );
    }

    #[test]
    fn the_last_occurrence_of_a_repeated_variable_counts() {
        let e = env(&[
            ("AIRFLOW_USERNAME", "first"),
            ("AIRFLOW_USERNAME", "second"),
        ]);
        assert_eq!(lookup(&e, "AIRFLOW_USERNAME"), Some("second"));
        assert_eq!(lookup(&e, "AIRFLOW_PASSWORD"), None);
    }

    #[test]
    fn boolean_fields_accept_environment_spellings() {
        for (raw, expected) in [
            ("1", "true"),
            ("YES", "true"),
            (" on ", "true"),
            ("True", "true"),
            ("0", "false"),
            ("no", "false"),
            ("OFF", "false"),
            ("maybe", "maybe"),
        ] {
            let settings = settings_from_env(
                &env(&[
                    ("BATON_PROVISIONING", raw),
                    ("AIRFLOW_ALLOW_INSECURE_HTTP", raw),
                    ("AIRFLOW_REQUEST_INTERVAL_MS", raw),
                ]),
                &airflow(),
            );
            assert_eq!(
                found(&settings),
                [
                    ("provisioning", expected, "BATON_PROVISIONING"),
                    (
                        "allow_insecure_http",
                        expected,
                        "AIRFLOW_ALLOW_INSECURE_HTTP"
                    ),
                    // Not boolean: its default is a number.
                    ("request_interval_ms", raw, "AIRFLOW_REQUEST_INTERVAL_MS"),
                ],
                "{raw}"
            );
        }
        // The connector's own name for provisioning wins over the generic one.
        let settings = settings_from_env(
            &env(&[("BATON_PROVISIONING", "1"), ("AIRFLOW_PROVISIONING", "no")]),
            &airflow(),
        );
        assert_eq!(
            found(&settings),
            [("provisioning", "false", "AIRFLOW_PROVISIONING")]
        );
    }

    #[test]
    fn only_declared_fields_are_read() {
        let settings = settings_from_env(
            &env(&[("AIRFLOW_TOKEN", "t"), ("AIRFLOW_SOMETHING", "x")]),
            &airflow(),
        );
        assert!(settings.is_empty(), "{settings:?}");
        let names = all_env_names(&airflow());
        assert!(names.contains(&"BATON_AIRFLOW_PASSWORD".to_string()));
        assert_eq!(
            names.last().map(String::as_str),
            Some("AIRFLOW_ALLOWED_ORIGINS")
        );
    }

    #[test]
    fn messages_name_the_variable_to_fix() {
        let settings =
            settings_from_env(&env(&[("BATON_AIRFLOW_BASE_URL", "not a url")]), &airflow());
        assert_eq!(
            source_of(&settings, "airflow", "base_url"),
            "environment variable BATON_AIRFLOW_BASE_URL"
        );
        assert_eq!(
            source_of(&settings, "airflow", "password"),
            "set environment variable AIRFLOW_PASSWORD or BATON_AIRFLOW_PASSWORD"
        );
        assert_eq!(
            pairs(&settings),
            [("base_url".to_string(), "not a url".to_string())]
        );
    }

    #[test]
    fn allowed_origins_are_named_after_the_connector() {
        let e = env(&[
            ("AIRFLOW_ALLOWED_ORIGINS", "http://a:1,http://b"),
            ("NORTHFLANK_ALLOWED_ORIGINS", "https://n"),
        ]);
        assert_eq!(
            allowed_origins(&e, "northflank"),
            Some((
                "NORTHFLANK_ALLOWED_ORIGINS".to_string(),
                "https://n".to_string()
            ))
        );
        assert_eq!(allowed_origins(&e, "other"), None);
    }
}
