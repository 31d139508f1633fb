//! The one-line summary a host prints on stderr after a sync (plus indented lines for the API
//! the connector detected and how it authenticated, and one if the directory changed while it
//! was read).

use crate::sync::SyncStats;

/// E.g. `sync complete: 3 resource types, 385 resources (permission 105, role 9, user 271),
/// 114 entitlements, 644 grants; 12 HTTP requests (2 to detect the API); 0.41 s` and, when the
/// connector reported them, `\n  api: …`, `\n  auth: …` and
/// `\n  the directory changed during the sync: …`.
pub fn line(stats: &SyncStats) -> String {
    let by_type = stats
        .resources_by_type
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let session = |key: &str| stats.session.get(key).map(String::as_str);
    let discovery = match session("discovery_requests") {
        Some("0") | None => String::new(),
        Some(n) => format!(" ({n} to detect the API)"),
    };
    let api = session("api")
        .map(|a| format!("\n  api: {a}"))
        .unwrap_or_default();
    let auth = session("auth")
        .map(|a| format!("\n  auth: {a}"))
        .unwrap_or_default();
    let shifted = match (session("shifted_pages"), session("realign_requests")) {
        (Some(pages), Some(extra)) if pages != "0" => format!(
            "\n  the directory changed during the sync: {pages} pages re-aligned ({extra} extra requests)"
        ),
        _ => String::new(),
    };
    format!(
        "sync complete: {} resource types, {} resources ({by_type}), {} entitlements, {} grants; \
         {} HTTP requests{discovery}; {:.2} s{api}{auth}{shifted}",
        stats.resource_types,
        stats.resources,
        stats.entitlements,
        stats.grants,
        stats.requests,
        stats.elapsed_ms as f64 / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> SyncStats {
        let mut s = SyncStats {
            resources: 3,
            entitlements: 1,
            grants: 2,
            requests: 7,
            elapsed_ms: 1234,
            resource_types: 2,
            ..SyncStats::default()
        };
        s.resources_by_type.insert("user".into(), 2);
        s.resources_by_type.insert("role".into(), 1);
        s
    }

    #[test]
    fn plain_summary() {
        assert_eq!(
            line(&stats()),
            "sync complete: 2 resource types, 3 resources (role 1, user 2), 1 entitlements, \
             2 grants; 7 HTTP requests; 1.23 s"
        );
    }

    #[test]
    fn session_facts_extend_the_summary() {
        let mut s = stats();
        for (k, v) in [
            ("discovery_requests", "2"),
            ("api", "Airflow 3 (FastAPI)"),
            (
                "auth",
                "session cookie of the form login (auto: faster than Basic, 1 login(s))",
            ),
            ("shifted_pages", "1"),
            ("realign_requests", "1"),
        ] {
            s.session.insert(k.into(), v.into());
        }
        assert_eq!(
            line(&s),
            "sync complete: 2 resource types, 3 resources (role 1, user 2), 1 entitlements, \
             2 grants; 7 HTTP requests (2 to detect the API); 1.23 s\n  api: Airflow 3 (FastAPI)\n  \
             auth: session cookie of the form login (auto: faster than Basic, 1 login(s))\n  \
             the directory changed during the sync: 1 pages re-aligned (1 extra requests)"
        );
        s.session.insert("discovery_requests".into(), "0".into());
        s.session.insert("shifted_pages".into(), "0".into());
        assert!(!line(&s).contains("to detect"));
        assert!(!line(&s).contains("changed during"));
    }
}
