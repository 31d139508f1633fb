//! `host_auth=negotiate`: Kerberos through SPNEGO, `Authorization: Negotiate <base64 token>`
//! (RFC 4559), with the ticket the operator got from `kinit`.
//!
//! The token is made for a service principal written in the GSS host-based form
//! `service@host` (`--kerberos-spn`, config `kerberos_spn`, env `NAME_KERBEROS_SPN`), by
//! default `<connector name>@<host of base_url>`. A new security context, hence a new token,
//! is made for every request: servers keep a replay cache and refuse a token seen before.
//! When the library cannot make one, the message says what to fix (`kinit`, the SPN, the
//! clock), read from the Kerberos mechanism's own status codes.

use base64::Engine;

use super::gssapi::{self, GssError, Mech};
use super::host_auth::Credentials;

/// The Kerberos error codes (MIT krb5's `krb5.h`) a `Negotiate` client meets in practice.
mod krb5 {
    pub const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
    pub const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
    pub const KDC_ERR_CLIENT_REVOKED: i32 = -1765328366;
    pub const KDC_ERR_TGT_REVOKED: i32 = -1765328364;
    pub const AP_ERR_TKT_EXPIRED: i32 = -1765328352;
    pub const AP_ERR_SKEW: i32 = -1765328347;
    pub const CC_NOTFOUND: i32 = -1765328243;
    pub const CC_END: i32 = -1765328242;
    pub const NO_TKT_SUPPLIED: i32 = -1765328241;
    pub const REALM_UNKNOWN: i32 = -1765328230;
    pub const KDC_UNREACH: i32 = -1765328228;
    pub const KDCREP_SKEW: i32 = -1765328236;
    pub const FCC_NOFILE: i32 = -1765328189;
    pub const REALM_CANT_RESOLVE: i32 = -1765328164;
    pub const CONFIG_NODEFREALM: i32 = -1765328160;
}

/// What went wrong, as far as the operator's fix goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No credential cache, or none holding a ticket-granting ticket.
    NoTicket,
    /// The ticket in the cache has expired.
    TicketExpired,
    /// The KDC has no principal for the SPN.
    UnknownService,
    /// This machine's clock and the KDC's are too far apart.
    ClockSkew,
    /// No KDC could be reached, or the realm has none configured.
    KdcUnreachable,
    /// The KDC no longer accepts the client principal.
    ClientRevoked,
    Other,
}

/// Reads the problem from the Kerberos mechanism's minor code, else from the library's text
/// (which is all there is when the codes were remapped, or from another Kerberos).
pub fn classify(minor: u32, text: &str) -> Problem {
    // Kerberos codes are negative `long`s, carried in an unsigned 32-bit minor status.
    match minor as i32 {
        krb5::FCC_NOFILE | krb5::CC_NOTFOUND | krb5::CC_END | krb5::NO_TKT_SUPPLIED => {
            return Problem::NoTicket
        }
        krb5::AP_ERR_TKT_EXPIRED => return Problem::TicketExpired,
        krb5::KDC_ERR_S_PRINCIPAL_UNKNOWN => return Problem::UnknownService,
        krb5::AP_ERR_SKEW | krb5::KDCREP_SKEW => return Problem::ClockSkew,
        krb5::KDC_UNREACH
        | krb5::REALM_UNKNOWN
        | krb5::REALM_CANT_RESOLVE
        | krb5::CONFIG_NODEFREALM => return Problem::KdcUnreachable,
        krb5::KDC_ERR_C_PRINCIPAL_UNKNOWN
        | krb5::KDC_ERR_CLIENT_REVOKED
        | krb5::KDC_ERR_TGT_REVOKED => return Problem::ClientRevoked,
        _ => {}
    }
    let text = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["clock skew"]) {
        Problem::ClockSkew
    } else if has(&["expired"]) {
        Problem::TicketExpired
    } else if has(&["not found in kerberos database", "server not found"]) {
        Problem::UnknownService
    } else if has(&[
        "no credentials cache",
        "credentials cache file",
        "matching credential not found",
        "no kerberos credentials",
        "credentials were not supplied",
        "no credentials were supplied",
    ]) {
        Problem::NoTicket
    } else if has(&["cannot contact any kdc", "cannot find kdc", "default realm"]) {
        Problem::KdcUnreachable
    } else {
        Problem::Other
    }
}

/// A host-based service name as GSSAPI takes it, `service@host`.
pub fn parse_spn(text: &str) -> Result<String, String> {
    let spn = text.trim();
    let example = "e.g. airflow@airflow01.example.com";
    if let Some((service, rest)) = spn.split_once('/') {
        let host = rest.split('@').next().unwrap_or(rest);
        return Err(format!(
            "`{spn}` is a Kerberos principal; give the service in the form SERVICE@HOST, \
             here `{service}@{host}` (the realm comes from krb5.conf)"
        ));
    }
    match spn.split_once('@') {
        Some((service, host))
            if !service.is_empty()
                && !host.is_empty()
                && !host.contains('@')
                && !spn.contains(char::is_whitespace) =>
        {
            Ok(spn.to_string())
        }
        _ => Err(format!("`{spn}` is not SERVICE@HOST ({example})")),
    }
}

/// The default SPN: the connector's name as the service, `base_url`'s host as the host.
pub fn default_spn(connector: &str, host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    format!("{connector}@{host}")
}

/// Tokens from the system's Kerberos, for one SPN.
pub struct Negotiate {
    spn: String,
    /// Where the SPN came from: the setting that changes it, for messages.
    spn_hint: String,
    /// `kinit …` as the message should show it.
    kinit: String,
    library: &'static gssapi::Gssapi,
}

impl Negotiate {
    /// Opens the system's GSSAPI library (the error says what to install). `spn_hint` names
    /// the settings that change the SPN; `principal` is the Kerberos principal the operator
    /// is expected to hold a ticket for, if the settings say.
    pub fn new(spn: String, spn_hint: String, principal: Option<&str>) -> Result<Self, String> {
        let library = gssapi::system()?;
        let kinit = match principal.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => format!("kinit {p}"),
            None => "kinit <principal>".to_string(),
        };
        Ok(Self {
            spn,
            spn_hint,
            kinit,
            library,
        })
    }

    pub fn spn(&self) -> &str {
        &self.spn
    }

    /// The operator's message for a token that could not be made. SPNEGO hides the Kerberos
    /// reason behind "no mechanism available", so the same request is made once more with the
    /// Kerberos mechanism alone, for its status codes only.
    fn explain(&self, spnego: &GssError) -> String {
        let krb5 = self.library.initial_token(&self.spn, Mech::Krb5).err();
        let (minor, text) = match &krb5 {
            Some(e) => (e.minor, e.text.clone()),
            None => (spnego.minor, spnego.text.clone()),
        };
        message(
            classify(minor, &text),
            &self.spn,
            &self.spn_hint,
            &self.kinit,
            &text,
        )
    }
}

/// What the operator reads: what went wrong, what fixes it, then the library's own words.
pub fn message(problem: Problem, spn: &str, spn_hint: &str, kinit: &str, detail: &str) -> String {
    let head = "Kerberos (host_auth=negotiate)";
    let fix = match problem {
        Problem::NoTicket => format!(
            "no Kerberos ticket to authenticate to `{spn}` with: run `{kinit}` first (or point \
             KRB5CCNAME at the credential cache that holds the ticket)"
        ),
        Problem::TicketExpired => format!(
            "the Kerberos ticket has expired: run `{kinit}` again (`kinit -R` renews a renewable \
             one)"
        ),
        Problem::UnknownService => format!(
            "the KDC knows no service principal for `{spn}`: set the server's service principal \
             with {spn_hint} in the form SERVICE@HOST (the server's principal SERVICE/HOST@REALM; \
             HOST is the server's fully qualified host name, which need not be base_url's host)"
        ),
        Problem::ClockSkew => "this machine's clock and the KDC's differ by more than Kerberos \
             allows (5 minutes unless krb5.conf says otherwise): correct the clock (NTP)"
            .to_string(),
        Problem::KdcUnreachable => "no KDC could be reached for the realm: check the realm's \
             `kdc` in krb5.conf (or the file KRB5_CONFIG names), `default_realm`, and that the KDC \
             is reachable from this machine"
            .to_string(),
        Problem::ClientRevoked => format!(
            "the KDC refused the principal in the credential cache (unknown, disabled or \
             revoked): run `{kinit}` as a principal the KDC accepts"
        ),
        Problem::Other => format!("cannot make a token for `{spn}`"),
    };
    if detail.is_empty() {
        format!("{head}: {fix}")
    } else {
        format!("{head}: {fix} [GSSAPI: {detail}]")
    }
}

impl Credentials for Negotiate {
    fn authorization(&self) -> Result<String, String> {
        match self.library.initial_token(&self.spn, Mech::Spnego) {
            Ok(token) => Ok(format!(
                "Negotiate {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            )),
            Err(e) => Err(self.explain(&e)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "negotiate: Kerberos SPNEGO for the service `{}` with the default credential cache",
            self.spn
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn krb5_codes_name_the_problem() {
        let code = |c: i32| c as u32;
        for (minor, problem) in [
            (code(krb5::FCC_NOFILE), Problem::NoTicket),
            (code(krb5::CC_NOTFOUND), Problem::NoTicket),
            (code(krb5::AP_ERR_TKT_EXPIRED), Problem::TicketExpired),
            (
                code(krb5::KDC_ERR_S_PRINCIPAL_UNKNOWN),
                Problem::UnknownService,
            ),
            (code(krb5::AP_ERR_SKEW), Problem::ClockSkew),
            (code(krb5::KDC_UNREACH), Problem::KdcUnreachable),
            (
                code(krb5::KDC_ERR_C_PRINCIPAL_UNKNOWN),
                Problem::ClientRevoked,
            ),
        ] {
            assert_eq!(classify(minor, ""), problem, "{minor}");
        }
    }

    #[test]
    fn without_a_known_code_the_text_names_the_problem() {
        for (text, problem) in [
            (
                "Unspecified GSS failure; No credentials cache found (filename: /tmp/krb5cc_0)",
                Problem::NoTicket,
            ),
            (
                "Server airflow/nosuchhost@AUTHLAB.TEST not found in Kerberos database",
                Problem::UnknownService,
            ),
            ("Clock skew too great", Problem::ClockSkew),
            ("Ticket expired", Problem::TicketExpired),
            (
                "Cannot contact any KDC for realm 'AUTHLAB.TEST'",
                Problem::KdcUnreachable,
            ),
            ("SPNEGO cannot find mechanisms to negotiate", Problem::Other),
        ] {
            assert_eq!(classify(100_001, text), problem, "{text}");
        }
    }

    #[test]
    fn messages_name_the_fix_and_keep_the_library_words() {
        let hint = "--kerberos-spn (config `kerberos_spn`, env AIRFLOW_KERBEROS_SPN)";
        let m = message(
            Problem::NoTicket,
            "airflow@vm",
            hint,
            "kinit alice@AUTHLAB.TEST",
            "No credentials cache found",
        );
        assert_eq!(
            m,
            "Kerberos (host_auth=negotiate): no Kerberos ticket to authenticate to `airflow@vm` \
             with: run `kinit alice@AUTHLAB.TEST` first (or point KRB5CCNAME at the credential \
             cache that holds the ticket) [GSSAPI: No credentials cache found]"
        );
        let m = message(
            Problem::UnknownService,
            "airflow@127.0.0.1",
            hint,
            "kinit <principal>",
            "",
        );
        assert!(
            m.contains("no service principal for `airflow@127.0.0.1`")
                && m.contains("--kerberos-spn")
                && m.contains("AIRFLOW_KERBEROS_SPN"),
            "{m}"
        );
        assert!(!m.contains("[GSSAPI"), "{m}");
        let m = message(
            Problem::ClockSkew,
            "s@h",
            hint,
            "kinit x",
            "Clock skew too great",
        );
        assert!(m.contains("clock") && m.contains("NTP"), "{m}");
        let m = message(Problem::TicketExpired, "s@h", hint, "kinit x", "");
        assert!(m.contains("expired: run `kinit x` again"), "{m}");
    }

    #[test]
    fn spns_are_service_at_host() {
        assert_eq!(parse_spn(" airflow@vm ").unwrap(), "airflow@vm");
        assert_eq!(
            parse_spn("HTTP@airflow01.corp.example").unwrap(),
            "HTTP@airflow01.corp.example"
        );
        let e = parse_spn("airflow/vm@AUTHLAB.TEST").unwrap_err();
        assert!(e.contains("here `airflow@vm`"), "{e}");
        for bad in ["airflow", "@vm", "airflow@", "a@b@c", "air flow@vm"] {
            let e = parse_spn(bad).unwrap_err();
            assert!(e.contains("is not SERVICE@HOST"), "{bad}: {e}");
        }
        assert_eq!(default_spn("airflow", "vm"), "airflow@vm");
        assert_eq!(default_spn("airflow", "[::1]"), "airflow@::1");
    }
}
