//! Whom live and recorded HTTPS requests trust, and what the operator is told when a server's
//! certificate is refused.
//!
//! Trust is the system's certificate store (as `update-ca-certificates` and its peers keep it;
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` point elsewhere, as for OpenSSL) plus every CA file the
//! operator names (`--ca-file`, config `ca_file`, env `NAME_CA_FILE`). The public roots bundled
//! with webpki are used only when the system store holds no certificate at all (a minimal
//! container), so a server with a public certificate stays reachable there, and an operator who
//! pruned the system store is not overruled by a bundled list. A client certificate and key
//! (`--client-cert`, `--client-key`) answer servers that require mutual TLS.
//!
//! There is no switch that turns verification off: every problem below has a fix that keeps
//! it on, and each message names it.
//!
//! A refused certificate is not transient, so it is reported as `TlsCertificateError` (or
//! `TlsAlertReceived` when the server refused the handshake) rather than wasmtime's catch-all
//! `TlsProtocolError`: connectors retry transport errors, and retrying cannot fix these.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use wasmtime_wasi_http::Error as HttpError;

/// A file named by a setting, with where the setting came from (`--ca-file`, an environment
/// variable, a config file key) so a problem with it names what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingPath {
    pub path: PathBuf,
    pub from: String,
}

impl SettingPath {
    pub fn new(path: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            from: from.into(),
        }
    }

    fn label(&self) -> String {
        format!("{} ({})", self.path.display(), self.from)
    }

    fn read(&self, what: &str) -> Result<Vec<u8>, String> {
        std::fs::read(&self.path)
            .map_err(|e| format!("cannot read the {what} {}: {e}", self.label()))
    }
}

/// The operator's TLS settings, unread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM files of CA certificates trusted besides the system store.
    pub ca_files: Vec<SettingPath>,
    /// PEM certificate chain (leaf first) presented to servers that ask for one.
    pub client_cert: Option<SettingPath>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<SettingPath>,
}

/// The TLS client of one harness: built once, shared by every request it sends.
pub struct Tls {
    config: Arc<ClientConfig>,
    hints: Hints,
}

/// What messages about refused certificates say the trust is and how to change it.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The connector's environment variable for CA files, e.g. `AIRFLOW_CA_FILE`.
    pub ca_var: String,
    /// The variables for the client certificate and key.
    pub client_vars: (String, String),
    /// What is trusted, e.g. "the system store (146 roots) and /tmp/ca.pem (--ca-file)".
    pub trusted: String,
    /// The client certificate presented, if any.
    pub client_cert: Option<String>,
}

impl Tls {
    /// Reads the system store and the operator's files. `connector` is the connector's
    /// metadata name: messages name its environment variables.
    pub fn load(settings: &TlsSettings, connector: &str) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        let (system_roots, _unusable) = roots.add_parsable_certificates(system.certs);
        let mut trusted = if system_roots == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            format!(
                "no system trust store was found, so the {} public roots bundled with the \
                 harness",
                webpki_roots::TLS_SERVER_ROOTS.len()
            )
        } else {
            format!("the system store ({system_roots} roots)")
        };
        for file in &settings.ca_files {
            let certs = pem_certificates(file, "CA file")?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    format!(
                        "the CA file {} holds a certificate that cannot be a trust anchor: {e}",
                        file.label()
                    )
                })?;
            }
            trusted.push_str(&format!(" and {}", file.label()));
        }

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots);
        let vars = (
            env_var(connector, "CLIENT_CERT"),
            env_var(connector, "CLIENT_KEY"),
        );
        let (config, client_cert) = match (&settings.client_cert, &settings.client_key) {
            (None, None) => (builder.with_no_client_auth(), None),
            (Some(cert), Some(key)) => {
                let chain = pem_certificates(cert, "client certificate")?;
                let der = PrivateKeyDer::from_pem_slice(&key.read("client key")?).map_err(|e| {
                    format!(
                        "the client key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
                        key.label()
                    )
                })?;
                let config = builder.with_client_auth_cert(chain, der).map_err(|e| {
                    format!(
                        "the client certificate {} and key {} cannot be used together: {e}",
                        cert.label(),
                        key.label()
                    )
                })?;
                (config, Some(cert.label()))
            }
            (Some(cert), None) => {
                return Err(format!(
                    "the client certificate {} needs its key: set --client-key (config \
                     `client_key`, env {})",
                    cert.label(),
                    vars.1
                ))
            }
            (None, Some(key)) => {
                return Err(format!(
                    "the client key {} needs its certificate: set --client-cert (config \
                     `client_cert`, env {})",
                    key.label(),
                    vars.0
                ))
            }
        };
        Ok(Self {
            config: Arc::new(config),
            hints: Hints {
                ca_var: env_var(connector, "CA_FILE"),
                client_vars: vars,
                trusted,
                client_cert,
            },
        })
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    pub fn hints(&self) -> &Hints {
        &self.hints
    }

    /// One line for `--verbose`: what is trusted and which client certificate is presented.
    pub fn describe(&self) -> String {
        let client = self
            .hints
            .client_cert
            .as_deref()
            .map_or_else(|| "none".to_string(), str::to_string);
        format!(
            "trusting {}; client certificate: {client}",
            self.hints.trusted
        )
    }
}

/// The variable `NAME_SUFFIX` of the connector `NAME`, by the rule of its other variables.
pub fn env_var(connector: &str, suffix: &str) -> String {
    format!("{}_{suffix}", sync_engine::env::env_word(connector))
}

fn pem_certificates(
    file: &SettingPath,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = file.read(what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the {what} {} is not valid PEM: {e}", file.label()))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block)",
            file.label()
        ));
    }
    Ok(certs)
}

/// A TLS problem a retry cannot fix: what the operator is told, and what the guest gets.
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub code: HttpError,
}

/// The rustls error somewhere in `error`'s chain. `io::Error` hides the error it wraps from
/// `source()`, so it is opened explicitly.
pub fn find_rustls_error<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        let inner = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
        error = inner?;
    }
}

/// The operator's message and the guest's error code for a certificate or handshake refusal
/// met talking to `origin` (`https://host:port`); `None` for other TLS errors, which stay
/// wasmtime's `TlsProtocolError` (a connection cut mid-handshake may well be transient).
pub fn refusal(error: &rustls::Error, origin: &str, hints: &Hints) -> Option<Refusal> {
    match error {
        rustls::Error::InvalidCertificate(cert) => Some(Refusal {
            message: certificate_message(cert, origin, hints),
            code: HttpError::TlsCertificateError,
        }),
        rustls::Error::AlertReceived(alert) => {
            let fix = alert_fix(*alert, hints)?;
            Some(Refusal {
                message: format!(
                    "TLS handshake refused by the server: {origin} ended the handshake with the \
                     alert `{alert:?}`; {fix}; retrying cannot fix this"
                ),
                code: HttpError::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
            })
        }
        _ => None,
    }
}

fn certificate_message(error: &CertificateError, origin: &str, hints: &Hints) -> String {
    let ca_fix = format!(
        "name the CA's certificate (PEM) with --ca-file PATH (config `ca_file`, env {}) or add \
         it to the system trust store; trusted now: {}",
        hints.ca_var, hints.trusted
    );
    let not_host = "--ca-file cannot fix a host name";
    let clock = "if this machine's clock is wrong, fix the clock";
    match error {
        CertificateError::UnknownIssuer => format!(
            "TLS certificate not trusted: {origin} presented a certificate from an unknown \
             issuer (a CA the harness does not trust); {ca_fix}"
        ),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = expected.to_str();
            let names = if presented.is_empty() {
                "no host name".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| presented_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "TLS certificate for the wrong host: {origin} presented a certificate for \
                 {names}, not for {expected}; set base_url to a host the certificate names, or \
                 have the certificate reissued for {expected} ({not_host})"
            )
        }
        CertificateError::NotValidForName => format!(
            "TLS certificate for the wrong host: the certificate {origin} presented does not \
             name that host; set base_url to a host the certificate names, or have the \
             certificate reissued ({not_host})"
        ),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "TLS certificate expired: {origin} presented a certificate that expired at {} (it is \
             now {}); the server needs a renewed certificate ({clock})",
            rfc3339(*not_after),
            rfc3339(*time)
        ),
        CertificateError::Expired => format!(
            "TLS certificate expired: {origin} presented an expired certificate; the server \
             needs a renewed certificate ({clock})"
        ),
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "TLS certificate not yet valid: {origin} presented a certificate valid only from {} \
             (it is now {}); {clock}, or have the server use a current certificate",
            rfc3339(*not_before),
            rfc3339(*time)
        ),
        CertificateError::NotValidYet => format!(
            "TLS certificate not yet valid: {origin} presented a certificate whose validity has \
             not begun; {clock}, or have the server use a current certificate"
        ),
        CertificateError::Revoked => format!(
            "TLS certificate revoked: {origin} presented a revoked certificate; the server needs \
             a new one"
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!(
                "TLS certificate not for a server: {origin} presented a certificate not issued \
                 for TLS servers ({error}); the server needs a server certificate"
            )
        }
        other => format!(
            "TLS certificate refused: {origin} presented a certificate the harness cannot \
             accept ({other}); if it comes from a private CA, {ca_fix}"
        ),
    }
}

/// What fixes a handshake the server refused, for the alerts about certificates; `None` for
/// the others.
fn alert_fix(alert: AlertDescription, hints: &Hints) -> Option<String> {
    let (cert_var, key_var) = &hints.client_vars;
    let set = format!(
        "set --client-cert and --client-key (config `client_cert`, `client_key`; env \
         {cert_var}, {key_var})"
    );
    match alert {
        AlertDescription::CertificateRequired => Some(match &hints.client_cert {
            None => format!("it requires a client certificate (mutual TLS): {set}"),
            Some(cert) => format!("it did not get the client certificate {cert}"),
        }),
        AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateRevoked
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnknownCA
        | AlertDescription::AccessDenied => Some(match &hints.client_cert {
            None => format!("it may require a client certificate (mutual TLS): {set}"),
            Some(cert) => format!(
                "it refused the client certificate {cert}: present one from a CA the server \
                 trusts ({set})"
            ),
        }),
        _ => None,
    }
}

/// A name as webpki lists it (`DnsName("a.example")`, `IpAddress(10.0.0.1)`), as the
/// operator would write it in `base_url`.
fn presented_name(listed: &str) -> String {
    for (prefix, suffix) in [("DnsName(\"", "\")"), ("IpAddress(", ")")] {
        if let Some(name) = listed
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
        {
            return name.to_string();
        }
    }
    listed.to_string()
}

fn rfc3339(t: UnixTime) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs());
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;

    fn hints() -> Hints {
        Hints {
            ca_var: "AIRFLOW_CA_FILE".into(),
            client_vars: ("AIRFLOW_CLIENT_CERT".into(), "AIRFLOW_CLIENT_KEY".into()),
            trusted: "the system store (3 roots)".into(),
            client_cert: None,
        }
    }

    fn refuse(e: CertificateError) -> Refusal {
        refusal(
            &rustls::Error::InvalidCertificate(e),
            "https://airflow.internal:8443",
            &hints(),
        )
        .unwrap()
    }

    #[test]
    fn unknown_issuer_names_the_ca_file_setting() {
        let r = refuse(CertificateError::UnknownIssuer);
        assert!(matches!(r.code, HttpError::TlsCertificateError));
        for part in [
            "TLS certificate not trusted: https://airflow.internal:8443",
            "unknown issuer",
            "--ca-file PATH (config `ca_file`, env AIRFLOW_CA_FILE)",
            "trusted now: the system store (3 roots)",
        ] {
            assert!(r.message.contains(part), "{part}: {}", r.message);
        }
    }

    #[test]
    fn wrong_host_names_both_hosts_and_not_the_ca_file() {
        let r = refuse(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("airflow.internal").unwrap().to_owned(),
            presented: vec![
                "DnsName(\"other.example\")".into(),
                "IpAddress(10.0.0.1)".into(),
            ],
        });
        assert!(matches!(r.code, HttpError::TlsCertificateError));
        assert!(
            r.message.starts_with("TLS certificate for the wrong host:")
                && r.message
                    .contains("a certificate for other.example, 10.0.0.1,")
                && r.message.contains("not for airflow.internal")
                && r.message.contains("set base_url")
                && r.message.contains("--ca-file cannot fix"),
            "{}",
            r.message
        );
        let r = refuse(CertificateError::NotValidForName);
        assert!(r.message.contains("wrong host"), "{}", r.message);
    }

    #[test]
    fn expiry_says_when() {
        let r = refuse(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
        });
        assert!(
            r.message.starts_with("TLS certificate expired:")
                && r.message.contains("expired at 2023-11-14T22:13:20Z")
                && r.message.contains("now 2027-01-15T08:00:00Z")
                && r.message.contains("renewed certificate"),
            "{}",
            r.message
        );
        assert!(refuse(CertificateError::Expired)
            .message
            .contains("expired"));
        let r = refuse(CertificateError::NotValidYet);
        assert!(r.message.contains("not yet valid"), "{}", r.message);
    }

    #[test]
    fn other_certificate_problems_are_refusals_too() {
        let r = refuse(CertificateError::BadSignature);
        assert!(matches!(r.code, HttpError::TlsCertificateError));
        assert!(
            r.message.starts_with("TLS certificate refused:"),
            "{}",
            r.message
        );
    }

    #[test]
    fn certificate_alerts_name_the_client_certificate_settings() {
        let r = refusal(
            &rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
            "https://h:1",
            &hints(),
        )
        .unwrap();
        assert!(
            matches!(
                r.code,
                HttpError::TlsAlertReceived {
                    alert_id: Some(116),
                    ..
                }
            ),
            "{:?}",
            r.code
        );
        assert!(
            r.message.contains("requires a client certificate")
                && r.message.contains("--client-cert and --client-key")
                && r.message.contains("AIRFLOW_CLIENT_KEY"),
            "{}",
            r.message
        );
        let with_cert = Hints {
            client_cert: Some("/c.pem (--client-cert)".into()),
            ..hints()
        };
        let r = refusal(
            &rustls::Error::AlertReceived(AlertDescription::UnknownCA),
            "https://h:1",
            &with_cert,
        )
        .unwrap();
        assert!(
            r.message
                .contains("refused the client certificate /c.pem (--client-cert)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn protocol_errors_are_left_to_wasmtime() {
        for e in [
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
            rustls::Error::DecryptError,
            rustls::Error::General("x".into()),
        ] {
            assert!(refusal(&e, "https://h:1", &hints()).is_none(), "{e}");
        }
    }

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        let inner = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner.clone());
        assert_eq!(find_rustls_error(&io), Some(&inner));
        let plain = std::io::Error::other("reset");
        assert_eq!(find_rustls_error(&plain), None);
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> SettingPath {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        SettingPath::new(path, "--ca-file")
    }

    #[test]
    fn unusable_files_are_named_with_their_setting() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                TlsSettings {
                    ca_files: vec![SettingPath::new(
                        dir.path().join("none.pem"),
                        "AIRFLOW_CA_FILE",
                    )],
                    ..Default::default()
                },
                "cannot read the CA file",
            ),
            (
                TlsSettings {
                    ca_files: vec![write(dir.path(), "empty.pem", "not a certificate\n")],
                    ..Default::default()
                },
                "holds no PEM certificate",
            ),
            (
                TlsSettings {
                    ca_files: vec![write(
                        dir.path(),
                        "bad.pem",
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                    )],
                    ..Default::default()
                },
                "cannot be a trust anchor",
            ),
            (
                TlsSettings {
                    client_cert: Some(SettingPath::new("/c.pem", "--client-cert")),
                    ..Default::default()
                },
                "needs its key: set --client-key (config `client_key`, env AIRFLOW_CLIENT_KEY)",
            ),
            (
                TlsSettings {
                    client_key: Some(SettingPath::new("/k.pem", "--client-key")),
                    ..Default::default()
                },
                "needs its certificate: set --client-cert",
            ),
        ];
        for (settings, expected) in cases {
            let Err(err) = Tls::load(&settings, "airflow") else {
                panic!("{settings:?} loaded")
            };
            assert!(err.contains(expected), "{expected}: {err}");
            if let Some(file) = settings.ca_files.first() {
                assert!(err.contains(&file.label()), "{err}");
            }
        }
    }

    #[test]
    fn without_settings_the_system_store_or_the_bundled_roots_are_trusted() {
        let tls = Tls::load(&TlsSettings::default(), "my-system").unwrap();
        assert_eq!(tls.hints().ca_var, "MY_SYSTEM_CA_FILE");
        assert!(
            tls.describe().starts_with("trusting the system store (")
                || tls.describe().contains("public roots bundled"),
            "{}",
            tls.describe()
        );
        assert!(tls.describe().ends_with("client certificate: none"));
    }
}
