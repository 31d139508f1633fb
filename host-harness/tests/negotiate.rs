//! `host_auth=negotiate` against the machine's real GSSAPI library, without a KDC: what the
//! operator reads when there is no Kerberos ticket. (With a KDC, tickets, an unknown SPN and
//! the real Airflow: scripts/live_kerberos.sh.)
//!
//! One test in this file: it points the process's Kerberos environment at a private
//! configuration, which no other test may see half-changed.

use host_harness::http::host_auth::Credentials;
use host_harness::http::negotiate::Negotiate;

#[test]
fn without_a_ticket_the_message_says_to_run_kinit_and_names_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("krb5.conf");
    // A realm whose KDC is never contacted: without a ticket there is nothing to ask it.
    std::fs::write(
        &conf,
        "[libdefaults]\n  default_realm = NO-TICKET.TEST\n  dns_lookup_kdc = false\n\
         [realms]\n  NO-TICKET.TEST = {\n    kdc = 127.0.0.1:9\n  }\n",
    )
    .unwrap();
    std::env::set_var("KRB5_CONFIG", &conf);
    std::env::set_var(
        "KRB5CCNAME",
        format!("FILE:{}", dir.path().join("no-such-cache").display()),
    );

    let negotiate = match Negotiate::new(
        "airflow@airflow.example".into(),
        "--kerberos-spn".into(),
        Some("alice@NO-TICKET.TEST"),
    ) {
        Ok(n) => n,
        // A machine without Kerberos (`make test` needs none; CI installs it, .ci/run): what an
        // operator asking for `negotiate` there reads instead.
        Err(message) => {
            assert!(
                message.contains("cannot load the system's GSSAPI library libgssapi_krb5.so.2")
                    && message.contains("apt-get install libgssapi-krb5-2"),
                "{message}"
            );
            eprintln!("note: no GSSAPI library here; checked the message that says so instead");
            return;
        }
    };
    assert_eq!(negotiate.spn(), "airflow@airflow.example");
    let message = negotiate.authorization().unwrap_err();
    assert!(
        message.starts_with(
            "Kerberos (host_auth=negotiate): no Kerberos ticket to authenticate to \
             `airflow@airflow.example` with: run `kinit alice@NO-TICKET.TEST` first (or point \
             KRB5CCNAME at the credential cache that holds the ticket)"
        ),
        "{message}"
    );
    // The library's own words follow, naming the cache it looked for.
    assert!(message.contains("no-such-cache"), "{message}");
    assert!(!message.contains("Negotiate "), "{message}");
}
