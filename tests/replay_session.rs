//! The session login (Airflow's web form, chosen by `auth_mode=auto` where the server has a
//! password form) replayed from real servers (`scripts/record.sh`): Airflow 2.11 on its default
//! API backend (`AIRFLOW_AUTH=default`) and Airflow 3.0 with FAB 2.x, whose Connexion API
//! refuses the JWT and takes Basic or the session (`record.sh session`). A sync and a
//! validation with one login and only the cookie after it, the same directory as the Basic
//! recordings, a wrong password told by the redirect, a session that ends mid-sync, the login
//! rate limit, and provisioning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: failing loudly is the point

mod common;

use common::*;
use host_harness::cassette::Cassette;
use host_harness::progress::NoProgress;
use host_harness::wit::{OutcomeStatus, ProvisionAction, ResourceRef, RevokeTarget};
use host_harness::{ConnectorError, Harness, HarnessError, HarnessOptions};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every series whose session login was recorded, with the path of its login form.
const SESSION_SERIES: [(&str, &str); 2] = [("2.11", "/login/"), ("3.0", "/auth/login/")];

/// The recording of a wrong password that reaches the login form. On 3.0 `auto` meets it
/// earlier, at the detection's JWT sign-in (see
/// `a_wrong_password_on_airflow_3_0_is_refused_at_the_jwt_sign_in_before_any_login`), so that
/// recording pins the form login.
fn wrong_password_at_the_form(series: &str) -> String {
    match series {
        "3.0" => format!("{}/bad-password-form.json", dir(series)),
        _ => format!("{}/bad-password.json", dir(series)),
    }
}

fn dir(series: &str) -> String {
    format!("airflow-{series}-session")
}

/// `METHOD path` of each recorded request, the request headers' names and the answer's status.
fn recorded(name: &str) -> Vec<(String, Vec<String>, u16)> {
    let cassette = Cassette::load(&cassette(name)).unwrap();
    cassette
        .interactions
        .iter()
        .map(|i| {
            let after_scheme = i.request.url.split_once("://").unwrap().1;
            let path = &after_scheme[after_scheme.find('/').unwrap()..];
            let names = i.request.headers.keys().map(|k| k.to_lowercase()).collect();
            (
                format!("{} {path}", i.request.method),
                names,
                i.response.status,
            )
        })
        .collect()
}

fn logins(name: &str, form: &str) -> usize {
    recorded(name)
        .iter()
        .filter(|(r, _, _)| *r == format!("POST {form}"))
        .count()
}

/// The sync's records without what differs between two servers seeded alike (timestamps and
/// sign-in counters).
fn directory(jsonl: &str) -> BTreeSet<String> {
    lines(jsonl)
        .into_iter()
        .map(|mut v| {
            if let Some(user) = v.get_mut("user").and_then(Value::as_object_mut) {
                for k in [
                    "last_login",
                    "login_count",
                    "fail_login_count",
                    "created_at",
                ] {
                    user.remove(k);
                }
            }
            if let Some(attributes) = v.get_mut("attributes").and_then(Value::as_object_mut) {
                attributes.remove("changed_on");
            }
            v.to_string()
        })
        .collect()
}

fn auth_line(session: &std::collections::BTreeMap<String, String>) -> &str {
    session.get("auth").map(String::as_str).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_logs_in_once_and_then_sends_only_the_cookie() {
    for (series, form) in SESSION_SERIES {
        let name = format!("{}/sync.json", dir(series));
        let run = replay_sync(&name).await;
        assert!(run.unused.is_empty(), "{series}: unused {:?}", run.unused);
        let auth = auth_line(&run.stats.session);
        assert!(
            auth.starts_with("session cookie of the form login (auto:")
                && auth.ends_with("1 login(s))"),
            "{series}: {auth}"
        );
        assert_eq!(logins(&name, form), 1, "{series}");
        let requests = recorded(&name);
        let login_at = requests
            .iter()
            .position(|(r, _, _)| *r == format!("POST {form}"))
            .unwrap();
        for (request, headers, _) in &requests[login_at + 1..] {
            assert!(
                headers.contains(&"cookie".to_string())
                    && !headers.contains(&"authorization".to_string()),
                "{series}: {request} must carry the cookie and no Basic: {headers:?}"
            );
        }
        // The same directory as the Basic recording of a server seeded from the same fixture.
        let basic =
            std::fs::read_to_string(golden(&format!("airflow-{series}/sync.jsonl"))).unwrap();
        let (session, basic) = (directory(&run.output), directory(&basic));
        assert!(session.len() > 1000, "{series}: {} records", session.len());
        let only_session: Vec<_> = session.difference(&basic).take(3).collect();
        let only_basic: Vec<_> = basic.difference(&session).take(3).collect();
        assert!(
            only_session.is_empty() && only_basic.is_empty(),
            "{series}: only in the session sync {only_session:?}, only in the Basic one {only_basic:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_and_the_least_privilege_sync_work_through_the_session() {
    for (series, form) in SESSION_SERIES {
        let name = format!("{}/validate.json", dir(series));
        let mut h = replay(&name).await.unwrap();
        let v = within("validate", h.validate()).await.unwrap();
        assert_eq!(v.identity, "admin", "{series}");
        assert!(
            v.system.contains("271 users, 9 roles"),
            "{series}: {}",
            v.system
        );
        assert_eq!(logins(&name, form), 1, "{series}");
        assert!(h.unused_interactions().is_empty(), "{series}");

        let lp = replay_sync(&format!("{}/sync-least-privilege.json", dir(series))).await;
        assert!(lp.unused.is_empty(), "{series}: unused {:?}", lp.unused);
        assert_eq!(
            lp.stats.resources_by_type.get("user"),
            Some(&271),
            "{series}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_told_by_the_redirect_after_one_login() {
    for (series, form) in SESSION_SERIES {
        let name = wrong_password_at_the_form(series);
        let mut h = replay(&name).await.unwrap();
        match within("validate", h.validate()).await {
            Err(HarnessError::Connector(ConnectorError::Unauthenticated(m))) => {
                assert!(
                    m.contains("refused the login of `admin`")
                        && m.contains("back to the login form")
                        && m.contains("`username` and `password`"),
                    "{series}: {m}"
                );
                assert!(!m.contains(REPLAY_TEST_PASSWORD), "{series}");
            }
            other => panic!("{series}: expected unauthenticated, got {other:?}"),
        }
        assert_eq!(logins(&name, form), 1, "{series}: no second try");
        assert!(h.unused_interactions().is_empty(), "{series}");
    }
}

/// Under `auto` the detection signs in at `/auth/token` first, and Airflow 3.0's token route
/// refuses a wrong password with 401: the error comes before the form login, so it spends
/// none of the login rate limit's allowance.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_on_airflow_3_0_is_refused_at_the_jwt_sign_in_before_any_login() {
    let name = format!("{}/bad-password.json", dir("3.0"));
    let mut h = replay(&name).await.unwrap();
    match within("validate", h.validate()).await {
        Err(HarnessError::Connector(ConnectorError::Unauthenticated(m))) => {
            assert!(
                m.contains("rejected the credentials of `admin`")
                    && m.contains("`username` and `password`"),
                "{m}"
            );
        }
        other => panic!("expected unauthenticated, got {other:?}"),
    }
    let requests = recorded(&name);
    assert_eq!(
        requests
            .iter()
            .map(|(r, _, s)| (r.as_str(), *s))
            .collect::<Vec<_>>(),
        [("POST /auth/token", 401)]
    );
    assert!(h.unused_interactions().is_empty());
}

/// On Airflow 3.0 the detection's JWT sign-in and its refused first call come before the login
/// (counted as detection), and the summary gives that refusal and Basic's cost as the reason.
#[tokio::test(flavor = "multi_thread")]
async fn on_airflow_3_0_auto_reaches_the_form_after_one_refused_jwt_call() {
    let name = format!("{}/sync.json", dir("3.0"));
    let run = replay_sync(&name).await;
    assert!(run.unused.is_empty(), "unused {:?}", run.unused);
    let requests = recorded(&name);
    let head: Vec<_> = requests
        .iter()
        .take(4)
        .map(|(r, _, s)| (r.as_str(), *s))
        .collect();
    assert_eq!(
        head,
        [
            ("POST /auth/token", 201),
            ("GET /auth/fab/v1/users?limit=100&offset=0", 401),
            ("GET /auth/login/", 200),
            ("POST /auth/login/", 302),
        ]
    );
    assert_eq!(
        run.stats
            .session
            .get("discovery_requests")
            .map(String::as_str),
        Some("2")
    );
    let auth = auth_line(&run.stats.session);
    assert!(
        auth.contains("Airflow 3.0 FAB API refuses the JWT") && auth.contains("Basic"),
        "{auth}"
    );
    // Detection 2 + login 2 + three pages of users + one of roles.
    assert_eq!(run.stats.requests, 8);
}

/// Recorded with requests 10 s apart on a copy of the server: on 2.11 one whose sessions end
/// 25 s after the login, on 3.0 (where every call moves a session's end) with the admin's
/// sessions deleted after the first page. Airflow refuses the cookie mid-sync (403 on 2.11, 401
/// on 3.0); one new login, and the sync is the same as without the interruption.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_ends_mid_sync_costs_one_new_login_and_the_sync_completes() {
    for (series, form) in SESSION_SERIES {
        let name = format!("{}/session-expired.json", dir(series));
        // The server's refusal of the ended session, the new login, the same request again.
        let requests = recorded(&name);
        let paths: Vec<(&str, u16)> = requests.iter().map(|(r, _, s)| (r.as_str(), *s)).collect();
        // After the first login: on 3.0 the detection's refused JWT call comes before it.
        let (get_form, post_form) = (format!("GET {form}"), format!("POST {form}"));
        let login_at = paths.iter().position(|(r, _)| *r == post_form).unwrap();
        let refused = login_at
            + paths[login_at..]
                .iter()
                .position(|(r, s)| r.starts_with("GET ") && (*s == 401 || *s == 403))
                .unwrap_or_else(|| panic!("{series}: no refusal in {paths:?}"));
        assert_eq!(
            paths[refused + 1..refused + 4]
                .iter()
                .map(|(r, _)| *r)
                .collect::<Vec<_>>(),
            [get_form.as_str(), post_form.as_str(), paths[refused].0],
            "{series}"
        );
        // Recorded with requests 10 s apart; replay need not wait.
        let mut opts = HarnessOptions::replay(cassette(&name)).unwrap();
        opts.settings
            .insert("password".into(), REPLAY_TEST_PASSWORD.into());
        opts.settings
            .insert("request_interval_ms".into(), "0".into());
        let mut h = within("start", Harness::new(opts)).await.unwrap();
        let mut out = Vec::new();
        let stats = within("sync", h.sync(&mut out, &NoProgress))
            .await
            .unwrap_or_else(|e| panic!("{series}: {e}"));
        assert!(h.unused_interactions().is_empty(), "{series}");
        assert_eq!(logins(&name, form), 2, "{series}");
        assert!(
            auth_line(&stats.session).ends_with("2 login(s))"),
            "{series}: {}",
            auth_line(&stats.session)
        );
        let whole = replay_sync(&format!("{}/sync.json", dir(series))).await;
        assert_eq!(
            directory(&String::from_utf8(out).unwrap()),
            directory(&whole.output),
            "{series}: the renewed session must list the same directory"
        );
    }
}

/// Recorded after using up Airflow's login allowance (5 in 40 s): the 429 is final at once,
/// since every further login would count against the same limit. Replayed as recorded, by a
/// sync: on 3.0 its first API call (the one that refuses the JWT) comes before the login.
#[tokio::test(flavor = "multi_thread")]
async fn the_login_rate_limit_is_final_and_says_why() {
    for (series, form) in SESSION_SERIES {
        let name = format!("{}/login-rate-limited.json", dir(series));
        let mut h = replay(&name).await.unwrap();
        let mut out = Vec::new();
        match within("sync", h.sync(&mut out, &NoProgress)).await {
            Err(HarnessError::Connector(ConnectorError::RateLimited {
                retry_after_ms,
                message,
            })) => {
                assert!(
                    message.contains("429") && message.contains("5 in 40 seconds"),
                    "{series}: {message}"
                );
                assert!(retry_after_ms.is_some_and(|ms| ms >= 1000), "{series}");
            }
            other => panic!("{series}: expected rate-limited, got {other:?}"),
        }
        assert_eq!(logins(&name, form), 1, "{series}: not retried");
        assert!(h.unused_interactions().is_empty(), "{series}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_and_a_revoke_through_the_session() {
    let user = ResourceRef {
        resource_type: "user".into(),
        id: "rec.alice".into(),
    };
    for (series, form) in SESSION_SERIES {
        for (name, action) in [
            (
                "grant",
                ProvisionAction::Grant(("role:Op:member".into(), user.clone())),
            ),
            (
                "revoke",
                ProvisionAction::Revoke(RevokeTarget::GrantId(
                    "role:Op:member:user:rec.alice".into(),
                )),
            ),
        ] {
            let file = format!("{}/provision/{name}.json", dir(series));
            let mut h = replay(&file).await.unwrap();
            let outcome = within(name, h.provision(&action))
                .await
                .unwrap_or_else(|e| panic!("{series} {name}: {e}"));
            assert_eq!(
                outcome.status,
                OutcomeStatus::Done,
                "{series} {name}: {}",
                outcome.message
            );
            assert_eq!(logins(&file, form), 1, "{series} {name}");
            assert!(h.unused_interactions().is_empty(), "{series} {name}");
        }
    }
}
