//! The harness's own configuration (sandbox and limits), as opposed to the connector settings
//! passed to `configure`. Layers, later wins: defaults < `--config FILE` < environment < flags.
//! Its keys share the config file with the connector settings and are taken out before
//! `configure` sees them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http::egress::Origin;
use crate::http::tls::{env_var, SettingPath, TlsSettings};
use crate::limits::{Limits, MIB};
use crate::settings::SettingsError;

// The keys are declared beside the config-file reader, which sets them aside for this module.
pub use crate::settings::host_keys::*;

/// No limit may exceed a day: a larger value is a typo, not a policy.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// 4 GiB is all a 32-bit guest can address, so neither memory nor a body can use more.
const MAX_MEMORY_MIB: u64 = 4096;
const MAX_BODY_MIB_VALUE: u64 = MAX_MEMORY_MIB;

/// Harness options from the command line, unparsed so errors name the flag.
#[derive(Debug, Default, Clone)]
pub struct HostFlags {
    pub allow_origin: Vec<String>,
    pub deadline: Option<String>,
    pub connect_timeout: Option<String>,
    pub first_byte_timeout: Option<String>,
    pub between_bytes_timeout: Option<String>,
    pub memory_limit_mib: Option<String>,
    pub max_body_mib: Option<String>,
    pub ca_file: Vec<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub kerberos_spn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Validated `scheme://host[:port]` origins allowed besides `base_url`'s.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// Files named for HTTPS, unread: a live or recording harness reads them as it starts.
    pub tls: TlsSettings,
    /// The Kerberos service principal for `host_auth=negotiate`, checked as `SERVICE@HOST`.
    pub kerberos_spn: Option<String>,
}

/// The suffixes of the TLS variables: `NAME_CA_FILE` (a path list, separated as in `PATH`),
/// `NAME_CLIENT_CERT` and `NAME_CLIENT_KEY`.
const CA_FILE_SUFFIX: &str = "CA_FILE";
const CLIENT_CERT_SUFFIX: &str = "CLIENT_CERT";
const CLIENT_KEY_SUFFIX: &str = "CLIENT_KEY";
const TLS_SUFFIXES: [&str; 3] = [CA_FILE_SUFFIX, CLIENT_CERT_SUFFIX, CLIENT_KEY_SUFFIX];
/// `NAME_KERBEROS_SPN`.
const KERBEROS_SPN_SUFFIX: &str = "KERBEROS_SPN";

/// Snapshot of the environment variables [`resolve`] reads for the connector `connector` (its
/// metadata name): `NAME_ALLOWED_ORIGINS`, a comma list of extra allowed origins, the TLS
/// files `NAME_CA_FILE`, `NAME_CLIENT_CERT`, `NAME_CLIENT_KEY`, and `NAME_KERBEROS_SPN`.
pub fn env_snapshot(connector: &str) -> BTreeMap<String, String> {
    let name = sync_engine::env::allowed_origins_var(connector);
    let tls_names = TLS_SUFFIXES.map(|suffix| env_var(connector, suffix));
    let env: Vec<(String, String)> = std::iter::once(name)
        .chain(tls_names.iter().cloned())
        .chain(std::iter::once(env_var(connector, KERBEROS_SPN_SUFFIX)))
        .filter_map(|name| std::env::var(&name).ok().map(|value| (name, value)))
        .collect();
    // Through the shared rule, so an empty variable counts as unset here too.
    let mut out: BTreeMap<String, String> = sync_engine::env::allowed_origins(&env, connector)
        .into_iter()
        .collect();
    for name in tls_names
        .into_iter()
        .chain(std::iter::once(env_var(connector, KERBEROS_SPN_SUFFIX)))
    {
        if let Some(value) = sync_engine::env::lookup(&env, &name) {
            out.insert(name, value.to_string());
        }
    }
    out
}

/// Whether the environment variable `name` is `NAME_KERBEROS_SPN` for whichever connector
/// [`env_snapshot`] was taken for.
fn is_kerberos_spn_var(name: &str) -> bool {
    name.strip_suffix(KERBEROS_SPN_SUFFIX)
        .is_some_and(|prefix| prefix.ends_with('_') && prefix.len() > 1)
}

fn kerberos_spn(field: &str, value: &str) -> Result<String, SettingsError> {
    crate::http::negotiate::parse_spn(value).map_err(|e| field_error(field.to_string(), e))
}

/// Which TLS setting the variable `name` is, for whichever connector [`env_snapshot`] was
/// taken for.
fn tls_var(name: &str) -> Option<&'static str> {
    TLS_SUFFIXES.into_iter().find(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|prefix| prefix.ends_with('_') && prefix.len() > 1)
    })
}

/// Whether the environment variable `name` lists allowed origins: `NAME_ALLOWED_ORIGINS` for
/// whichever connector [`env_snapshot`] was taken for.
fn is_allowed_origins_var(name: &str) -> bool {
    name.strip_suffix(sync_engine::env::ALLOWED_ORIGINS_SUFFIX)
        .is_some_and(|prefix| prefix.ends_with('_'))
}

fn field_error(field: String, message: String) -> SettingsError {
    SettingsError::Field { field, message }
}

/// `config_file` is `(file name for messages, contents)`; `env` is what [`env_snapshot`] took
/// (errors name its variables).
pub fn resolve(
    config_file: Option<(&str, &str)>,
    env: &BTreeMap<String, String>,
    flags: &HostFlags,
) -> Result<HostConfig, SettingsError> {
    let mut out = HostConfig::default();
    if let Some((file, contents)) = config_file {
        apply_file(&mut out, file, contents)?;
    }
    for (name, list) in env.iter().filter(|(name, _)| is_allowed_origins_var(name)) {
        out.allowed_origins = origins(name, list.split(',').filter(|s| !s.trim().is_empty()))?;
    }
    if !flags.allow_origin.is_empty() {
        out.allowed_origins = origins("--allow-origin", flags.allow_origin.iter())?;
    }
    for (name, value) in env {
        let setting = |path: PathBuf| SettingPath::new(path, name.clone());
        match tls_var(name) {
            Some(CA_FILE_SUFFIX) => {
                out.tls.ca_files = std::env::split_paths(value)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(setting)
                    .collect();
            }
            Some(CLIENT_CERT_SUFFIX) => out.tls.client_cert = Some(setting(value.into())),
            Some(CLIENT_KEY_SUFFIX) => out.tls.client_key = Some(setting(value.into())),
            _ if is_kerberos_spn_var(name) => out.kerberos_spn = Some(kerberos_spn(name, value)?),
            _ => {}
        }
    }
    if let Some(spn) = &flags.kerberos_spn {
        out.kerberos_spn = Some(kerberos_spn("--kerberos-spn", spn)?);
    }
    if !flags.ca_file.is_empty() {
        out.tls.ca_files = flags
            .ca_file
            .iter()
            .map(|p| SettingPath::new(p, "--ca-file"))
            .collect();
    }
    if let Some(p) = &flags.client_cert {
        out.tls.client_cert = Some(SettingPath::new(p, "--client-cert"));
    }
    if let Some(p) = &flags.client_key {
        out.tls.client_key = Some(SettingPath::new(p, "--client-key"));
    }
    let l = &mut out.limits;
    for (flag, value, slot) in [
        ("--deadline", &flags.deadline, &mut l.deadline),
        (
            "--connect-timeout",
            &flags.connect_timeout,
            &mut l.connect_timeout,
        ),
        (
            "--first-byte-timeout",
            &flags.first_byte_timeout,
            &mut l.first_byte_timeout,
        ),
        (
            "--between-bytes-timeout",
            &flags.between_bytes_timeout,
            &mut l.between_bytes_timeout,
        ),
    ] {
        if let Some(v) = value {
            *slot = duration(flag, v)?;
        }
    }
    if let Some(v) = &flags.memory_limit_mib {
        l.memory_bytes = mib("--memory-limit-mib", v, MAX_MEMORY_MIB)?;
    }
    if let Some(v) = &flags.max_body_mib {
        l.max_body_bytes = mib("--max-body-mib", v, MAX_BODY_MIB_VALUE)?;
    }
    Ok(out)
}

fn apply_file(out: &mut HostConfig, file: &str, contents: &str) -> Result<(), SettingsError> {
    // A malformed file is reported by the connector-settings parser with the same name.
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(contents)
    else {
        return Ok(());
    };
    let field = |key: &str| format!("config file {file}: `{key}`");
    for (key, value) in &map {
        let name = field(key);
        match key.as_str() {
            ALLOWED_ORIGINS => {
                out.allowed_origins = match value {
                    serde_json::Value::Array(items) => {
                        let mut texts = Vec::new();
                        for item in items {
                            match item.as_str() {
                                Some(s) => texts.push(s.to_string()),
                                None => {
                                    return Err(field_error(
                                        name,
                                        format!("expected a list of origin strings, found {item}"),
                                    ))
                                }
                            }
                        }
                        origins(&name, texts.iter())?
                    }
                    serde_json::Value::String(s) => {
                        origins(&name, s.split(',').filter(|s| !s.trim().is_empty()))?
                    }
                    other => {
                        let hint = "expected a list of origins like [\"https://host:443\"]";
                        return Err(field_error(name, format!("{hint}, found {other}")));
                    }
                };
            }
            DEADLINE | CONNECT_TIMEOUT | FIRST_BYTE_TIMEOUT | BETWEEN_BYTES_TIMEOUT => {
                let d = match value {
                    serde_json::Value::String(s) => duration(&name, s)?,
                    serde_json::Value::Number(n) => match n.as_f64() {
                        Some(secs) if secs > 0.0 && secs <= MAX_DURATION.as_secs_f64() => {
                            Duration::from_secs_f64(secs)
                        }
                        _ => return Err(field_error(name, duration_hint(&n.to_string()))),
                    },
                    other => return Err(field_error(name, duration_hint(&other.to_string()))),
                };
                let l = &mut out.limits;
                *match key.as_str() {
                    DEADLINE => &mut l.deadline,
                    CONNECT_TIMEOUT => &mut l.connect_timeout,
                    FIRST_BYTE_TIMEOUT => &mut l.first_byte_timeout,
                    _ => &mut l.between_bytes_timeout,
                } = d;
            }
            MEMORY_LIMIT_MIB | MAX_BODY_MIB => {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    other => other.to_string(),
                };
                if key == MEMORY_LIMIT_MIB {
                    out.limits.memory_bytes = mib(&name, &text, MAX_MEMORY_MIB)?;
                } else {
                    out.limits.max_body_bytes = mib(&name, &text, MAX_BODY_MIB_VALUE)?;
                }
            }
            CA_FILE => {
                let paths = match value {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|item| item.as_str().ok_or(item))
                        .collect::<Result<_, _>>()
                        .map_err(|item| {
                            field_error(
                                name.clone(),
                                format!("expected a list of file paths, found {item}"),
                            )
                        })?,
                    other => {
                        return Err(field_error(
                            name,
                            format!("expected a file path or a list of them, found {other}"),
                        ))
                    }
                };
                out.tls.ca_files = paths
                    .into_iter()
                    .map(|p| SettingPath::new(beside(file, p), name.clone()))
                    .collect();
            }
            CLIENT_CERT | CLIENT_KEY => {
                let serde_json::Value::String(path) = value else {
                    return Err(field_error(
                        name,
                        format!("expected a file path, found {value}"),
                    ));
                };
                let path = Some(SettingPath::new(beside(file, path), name));
                if key == CLIENT_CERT {
                    out.tls.client_cert = path;
                } else {
                    out.tls.client_key = path;
                }
            }
            KERBEROS_SPN => {
                let serde_json::Value::String(spn) = value else {
                    return Err(field_error(
                        name,
                        format!("expected SERVICE@HOST as a string, found {value}"),
                    ));
                };
                out.kerberos_spn = Some(kerberos_spn(&name, spn)?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A path from the config file `file`: a relative one is taken from the file's directory, so
/// the file and its certificates can move together.
fn beside(file: &str, path: &str) -> PathBuf {
    let path = Path::new(path);
    match Path::new(file).parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn origins<'a>(
    field: &str,
    items: impl Iterator<Item = impl AsRef<str> + 'a>,
) -> Result<Vec<String>, SettingsError> {
    items
        .map(|item| {
            Origin::parse_strict(item.as_ref().trim())
                .map(|o| o.to_string())
                .map_err(|e| field_error(field.to_string(), e))
        })
        .collect()
}

fn duration_hint(found: &str) -> String {
    format!(
        "expected a duration such as \"60s\", \"2m\" or \"500ms\" (or a number of seconds) \
         between 1 ms and 24 h, got `{found}`"
    )
}

fn duration(field: &str, text: &str) -> Result<Duration, SettingsError> {
    let t = text.trim();
    // A bare number means seconds, as in the config file.
    let parsed = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(t).ok(),
    };
    match parsed {
        Some(d) if d >= Duration::from_millis(1) && d <= MAX_DURATION => Ok(d),
        _ => Err(field_error(field.to_string(), duration_hint(text))),
    }
}

fn mib(field: &str, text: &str, max: u64) -> Result<u64, SettingsError> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n * MIB),
        _ => Err(field_error(
            field.to_string(),
            format!("expected a whole number of MiB between 1 and {max}, got `{text}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &str) -> Result<HostConfig, SettingsError> {
        resolve(
            Some(("c.json", contents)),
            &BTreeMap::new(),
            &HostFlags::default(),
        )
    }

    #[test]
    fn defaults_without_input() {
        let c = resolve(None, &BTreeMap::new(), &HostFlags::default()).unwrap();
        assert_eq!(c, HostConfig::default());
        assert_eq!(c.limits.deadline, Duration::from_secs(60));
        assert_eq!(c.limits.max_body_bytes, 16 * MIB);
    }

    #[test]
    fn config_file_env_and_flags_layer_with_later_winning() {
        let contents = r#"{"base_url":"http://a","allowed_origins":["https://b.example"],
            "deadline":"90s","connect_timeout":5,"memory_limit_mib":64,"max_body_mib":"2"}"#;
        let c = file(contents).unwrap();
        assert_eq!(c.allowed_origins, ["https://b.example:443"]);
        assert_eq!(c.limits.deadline, Duration::from_secs(90));
        assert_eq!(c.limits.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.memory_bytes, 64 * MIB);
        assert_eq!(c.limits.max_body_bytes, 2 * MIB);

        let env: BTreeMap<String, String> = [(
            "AIRFLOW_ALLOWED_ORIGINS".to_string(),
            "http://c:8080, http://d".to_string(),
        )]
        .into();
        let c = resolve(Some(("c.json", contents)), &env, &HostFlags::default()).unwrap();
        assert_eq!(c.allowed_origins, ["http://c:8080", "http://d:80"]);

        let flags = HostFlags {
            allow_origin: vec!["http://e:1".into()],
            deadline: Some("2m".into()),
            first_byte_timeout: Some("1.5".into()),
            ..Default::default()
        };
        let c = resolve(Some(("c.json", contents)), &env, &flags).unwrap();
        assert_eq!(c.allowed_origins, ["http://e:1"]);
        assert_eq!(c.limits.deadline, Duration::from_secs(120));
        assert_eq!(c.limits.first_byte_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn bad_values_name_the_field_and_the_fix() {
        let cases = [
            (
                r#"{"allowed_origins":["http://b/api"]}"#,
                "config file c.json: `allowed_origins`: `http://b/api` has a path",
            ),
            (
                r#"{"allowed_origins":[1]}"#,
                "config file c.json: `allowed_origins`: expected a list of origin strings",
            ),
            (
                r#"{"deadline":"soon"}"#,
                "config file c.json: `deadline`: expected a duration such as \"60s\"",
            ),
            (r#"{"deadline":0}"#, "`deadline`: expected a duration"),
            (
                r#"{"memory_limit_mib":0.5}"#,
                "config file c.json: `memory_limit_mib`: expected a whole number of MiB",
            ),
            (
                r#"{"max_body_mib":true}"#,
                "`max_body_mib`: expected a whole",
            ),
        ];
        for (contents, expected) in cases {
            let err = file(contents).unwrap_err().to_string();
            assert!(err.contains(expected), "{contents}: {err}");
        }
        let env: BTreeMap<String, String> = [(
            "NORTHFLANK_ALLOWED_ORIGINS".to_string(),
            "http://ok,ftp://x".to_string(),
        )]
        .into();
        let err = resolve(None, &env, &HostFlags::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("NORTHFLANK_ALLOWED_ORIGINS: `ftp://x`"),
            "{err}"
        );
        let flags = HostFlags {
            memory_limit_mib: Some("99999".into()),
            ..Default::default()
        };
        let err = resolve(None, &BTreeMap::new(), &flags)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--memory-limit-mib: expected"), "{err}");
        let flags = HostFlags {
            deadline: Some("-1s".into()),
            ..Default::default()
        };
        let err = resolve(None, &BTreeMap::new(), &flags)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--deadline: expected a duration"), "{err}");
    }

    #[test]
    fn allowed_origins_variable_is_named_after_the_connector() {
        assert!(is_allowed_origins_var("AIRFLOW_ALLOWED_ORIGINS"));
        assert!(is_allowed_origins_var("MY_SYSTEM_ALLOWED_ORIGINS"));
        assert!(!is_allowed_origins_var("ALLOWED_ORIGINS"));
        assert!(!is_allowed_origins_var("AIRFLOW_BASE_URL"));
        // Only the connector's own variable is taken from the process environment.
        assert!(env_snapshot("no-such-connector-anywhere").is_empty());
    }

    #[test]
    fn tls_files_layer_like_the_other_settings() {
        let contents = r#"{"ca_file":["ca.pem","/etc/pki/other.pem"],
            "client_cert":"certs/me.pem","client_key":"/keys/me.key"}"#;
        let c = resolve(
            Some(("/conf/c.json", contents)),
            &BTreeMap::new(),
            &HostFlags::default(),
        )
        .unwrap();
        let from = "config file /conf/c.json: `ca_file`";
        assert_eq!(
            c.tls.ca_files,
            [
                SettingPath::new("/conf/ca.pem", from),
                SettingPath::new("/etc/pki/other.pem", from)
            ]
        );
        assert_eq!(
            c.tls.client_cert,
            Some(SettingPath::new(
                "/conf/certs/me.pem",
                "config file /conf/c.json: `client_cert`"
            ))
        );
        assert_eq!(
            c.tls.client_key.as_ref().map(|p| p.path.clone()),
            Some("/keys/me.key".into())
        );
        // A single path is a list of one.
        let c = file(r#"{"ca_file":"ca.pem"}"#).unwrap();
        assert_eq!(c.tls.ca_files[0].path, PathBuf::from("ca.pem"));

        let env: BTreeMap<String, String> = [
            ("AIRFLOW_CA_FILE".to_string(), "/a.pem:/b.pem".to_string()),
            ("AIRFLOW_CLIENT_KEY".to_string(), "/env.key".to_string()),
        ]
        .into();
        let c = resolve(
            Some(("/conf/c.json", contents)),
            &env,
            &HostFlags::default(),
        )
        .unwrap();
        assert_eq!(
            c.tls.ca_files,
            [
                SettingPath::new("/a.pem", "AIRFLOW_CA_FILE"),
                SettingPath::new("/b.pem", "AIRFLOW_CA_FILE")
            ]
        );
        assert_eq!(
            c.tls.client_cert.unwrap().path,
            PathBuf::from("/conf/certs/me.pem")
        );
        assert_eq!(
            c.tls.client_key,
            Some(SettingPath::new("/env.key", "AIRFLOW_CLIENT_KEY"))
        );

        let flags = HostFlags {
            ca_file: vec!["/f1.pem".into(), "/f2.pem".into()],
            client_cert: Some("/flag.pem".into()),
            ..Default::default()
        };
        let c = resolve(Some(("/conf/c.json", contents)), &env, &flags).unwrap();
        assert_eq!(
            c.tls.ca_files,
            [
                SettingPath::new("/f1.pem", "--ca-file"),
                SettingPath::new("/f2.pem", "--ca-file")
            ]
        );
        assert_eq!(
            c.tls.client_cert,
            Some(SettingPath::new("/flag.pem", "--client-cert"))
        );
        assert_eq!(
            c.tls.client_key,
            Some(SettingPath::new("/env.key", "AIRFLOW_CLIENT_KEY"))
        );
    }

    #[test]
    fn bad_tls_values_name_the_key() {
        for (contents, expected) in [
            (
                r#"{"ca_file":[1]}"#,
                "config file c.json: `ca_file`: expected a list of file paths, found 1",
            ),
            (
                r#"{"ca_file":true}"#,
                "`ca_file`: expected a file path or a list of them",
            ),
            (
                r#"{"client_key":["k"]}"#,
                "config file c.json: `client_key`: expected a file path",
            ),
        ] {
            let err = file(contents).unwrap_err().to_string();
            assert!(err.contains(expected), "{contents}: {err}");
        }
    }

    #[test]
    fn tls_variables_are_named_after_the_connector() {
        assert_eq!(tls_var("AIRFLOW_CA_FILE"), Some(CA_FILE_SUFFIX));
        assert_eq!(tls_var("MY_SYSTEM_CLIENT_CERT"), Some(CLIENT_CERT_SUFFIX));
        assert_eq!(tls_var("AIRFLOW_CLIENT_KEY"), Some(CLIENT_KEY_SUFFIX));
        assert_eq!(tls_var("CA_FILE"), None);
        assert_eq!(tls_var("_CA_FILE"), None);
        assert_eq!(tls_var("AIRFLOW_ALLOWED_ORIGINS"), None);
        assert_eq!(env_var("my-system", CA_FILE_SUFFIX), "MY_SYSTEM_CA_FILE");
    }

    #[test]
    fn the_kerberos_spn_layers_like_the_other_settings_and_is_checked() {
        let c = file(r#"{"kerberos_spn":"airflow@file.example"}"#).unwrap();
        assert_eq!(c.kerberos_spn.as_deref(), Some("airflow@file.example"));
        let env: BTreeMap<String, String> = [(
            "AIRFLOW_KERBEROS_SPN".to_string(),
            "airflow@env.example".to_string(),
        )]
        .into();
        let contents = r#"{"kerberos_spn":"airflow@file.example"}"#;
        let c = resolve(Some(("c.json", contents)), &env, &HostFlags::default()).unwrap();
        assert_eq!(c.kerberos_spn.as_deref(), Some("airflow@env.example"));
        let flags = HostFlags {
            kerberos_spn: Some("airflow@flag.example".into()),
            ..Default::default()
        };
        let c = resolve(Some(("c.json", contents)), &env, &flags).unwrap();
        assert_eq!(c.kerberos_spn.as_deref(), Some("airflow@flag.example"));

        let err = file(r#"{"kerberos_spn":"airflow/vm@REALM"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "config file c.json: `kerberos_spn`: `airflow/vm@REALM` is a Kerberos principal"
            ) && err.contains("`airflow@vm`"),
            "{err}"
        );
        let err = file(r#"{"kerberos_spn":["a@b"]}"#).unwrap_err().to_string();
        assert!(err.contains("expected SERVICE@HOST as a string"), "{err}");
        let env: BTreeMap<String, String> =
            [("AIRFLOW_KERBEROS_SPN".to_string(), "airflow".to_string())].into();
        let err = resolve(None, &env, &HostFlags::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("AIRFLOW_KERBEROS_SPN: `airflow` is not SERVICE@HOST"),
            "{err}"
        );
        let flags = HostFlags {
            kerberos_spn: Some("@vm".into()),
            ..Default::default()
        };
        let err = resolve(None, &BTreeMap::new(), &flags)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--kerberos-spn: `@vm`"), "{err}");
        assert!(!is_kerberos_spn_var("KERBEROS_SPN"));
        assert!(!is_kerberos_spn_var("_KERBEROS_SPN"));
    }

    #[test]
    fn host_keys_are_not_connector_settings() {
        let input = crate::settings::SettingsInput {
            config_file: Some((
                "c.json".into(),
                r#"{"base_url":"http://a","allowed_origins":["http://b"],"deadline":"5s",
                    "ca_file":"ca.pem","client_cert":"c.pem","client_key":"k.pem",
                    "kerberos_spn":"airflow@h"}"#
                    .into(),
            )),
            ..Default::default()
        };
        let settings = crate::settings::resolve(&input).unwrap();
        assert_eq!(settings.keys().collect::<Vec<_>>(), ["base_url"]);
    }
}
