//! Several pages of a listing requested at once (`page_concurrency`).

use super::*;

fn with_pages_at_once(n: usize) -> Config {
    Config {
        page_concurrency: n,
        ..config(PASSWORD)
    }
}

fn ids(pages: &[ResourcePage]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.resources.iter().map(|r| r.id.clone()))
        .collect()
}

fn offsets(fake: &FakeAirflow, collection: &str) -> Vec<usize> {
    fake.log
        .borrow()
        .iter()
        .filter(|r| r.url.contains(&format!("/{collection}?")))
        .map(|r| FakeAirflow::query(&r.url, "offset"))
        .collect()
}

#[test]
fn pages_at_once_give_the_same_sync_with_the_same_requests() {
    let one = FakeAirflow::new(1000, 250);
    let mut c = Connector::new(&one, config(PASSWORD));
    let (users, roles) = (full_pass(&mut c, "user"), full_pass(&mut c, "role"));
    assert!(
        one.batches.borrow().is_empty(),
        "1 sends one page at a time"
    );
    for n in [2, 4, 8] {
        let many = FakeAirflow::new(1000, 250);
        let mut c = Connector::new(&many, with_pages_at_once(n));
        let (users_n, roles_n) = (full_pass(&mut c, "user"), full_pass(&mut c, "role"));
        assert_eq!(ids(&users_n), ids(&users), "{n} at once: users");
        assert_eq!(ids(&roles_n), ids(&roles), "{n} at once: roles");
        let grants = |p: &[ResourcePage]| p.iter().map(|p| p.grants.len()).sum::<usize>();
        assert_eq!(grants(&users_n), grants(&users));
        assert_eq!(offsets(&many, "users"), offsets(&one, "users"), "{n}");
        assert_eq!(requests(&many), requests(&one), "{n}: no read past the end");
        // The first page of each listing goes alone, then up to `n` a call: 1000 users are
        // 11 pages, 250 roles 3.
        let batches = many.batches.borrow().clone();
        assert!(
            batches.iter().all(|&b| (2..=n).contains(&b)),
            "{n}: {batches:?}"
        );
        assert_eq!(
            batches.iter().sum::<usize>(),
            10 + 2 - (10 % n == 1) as usize
        );
        assert_eq!(
            users_n.len(),
            1 + 10usize.div_ceil(n),
            "{n}: calls for users"
        );
    }
}

#[test]
fn a_refused_page_in_a_batch_is_read_again_with_retries() {
    let fake = FakeAirflow::new(1000, 1);
    let mut c = Connector::new(&fake, with_pages_at_once(4));
    let first = c.list_resources("user", None).unwrap();
    // The batch's last request is answered 503: only that page goes again, on its own.
    fake.script.borrow_mut().push(503);
    let mut ids = ids(std::slice::from_ref(&first));
    let mut token = first.next_page_token;
    while let Some(t) = token {
        let page = c.list_resources("user", Some(&t)).unwrap();
        ids.extend(page.resources.iter().map(|r| r.id.clone()));
        token = page.next_page_token;
    }
    assert_eq!(ids.len(), 1000);
    let expected: Vec<String> = (0..1000).map(|i| format!("user{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        &offsets(&fake, "users")[..6],
        [0, 99, 198, 297, 396, 99],
        "the refused page (offset 99, answered first) goes again alone"
    );
}

#[test]
fn a_session_that_ends_under_batches_signs_in_again_each_time() {
    let fake = FakeAirflow::new(1500, 1).playing(Generation::Airflow2);
    let config = Config {
        credentials: Credentials::Password {
            username: "admin".into(),
            password: PASSWORD.into(),
            login: crate::config::Login::Session,
        },
        api_generation: Some(Generation::Airflow2),
        ..with_pages_at_once(4)
    };
    let mut c = Connector::new(&fake, config);
    let first = c.list_resources("user", None).unwrap();
    // The session ends; the roles page signs in again, and the new cookie is not proven yet.
    fake.form_login.sessions.borrow_mut().clear();
    c.list_resources("role", None).unwrap();
    assert_eq!(fake.form_login.posts.get(), 2);
    let mut token = first.next_page_token;
    let mut count = first.resources.len();
    let mut calls = 0;
    while let Some(t) = token {
        calls += 1;
        // The first batch is served on the new cookie, which proves it: so when the session
        // ends before the second, that is a new login, not a missing permission.
        if calls == 2 {
            fake.form_login.sessions.borrow_mut().clear();
        }
        let page = c.list_resources("user", Some(&t)).unwrap();
        count += page.resources.len();
        token = page.next_page_token;
    }
    assert_eq!(count, 1500);
    assert_eq!(fake.form_login.posts.get(), 3, "a new login after each end");
}

#[test]
fn pacing_reads_one_page_at_a_time() {
    let fake = FakeAirflow::new(500, 1);
    let config = Config {
        request_interval_ms: 10,
        ..with_pages_at_once(4)
    };
    let mut c = Connector::new(&fake, config);
    assert_eq!(ids(&full_pass(&mut c, "user")).len(), 500);
    assert!(
        fake.batches.borrow().is_empty(),
        "{:?}",
        fake.batches.borrow()
    );
}
