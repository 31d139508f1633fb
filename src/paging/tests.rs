//! The paging guarantee, checked against an in-memory directory that changes between reads the
//! way a real one does: users ordered by a growing id (new ones at the end), roles by name.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

const PAGE: u64 = 100;

/// A listing the way Airflow serves it: sorted, paged by offset, with a cap on `limit`.
#[derive(Clone)]
struct Directory {
    order: Order,
    /// (sort key, name): the id for appended listings, the name itself otherwise.
    rows: Vec<(String, String)>,
    next_id: u64,
    cap: u64,
    /// Names that were deleted, or created, at any time during the listing.
    touched: BTreeSet<String>,
}

impl Directory {
    fn new(order: Order, n: usize) -> Self {
        let mut d = Directory {
            order,
            rows: Vec::new(),
            next_id: 0,
            cap: PAGE,
            touched: BTreeSet::new(),
        };
        for i in 0..n {
            d.add_quietly(&format!("u{i:05}"));
        }
        d
    }

    fn sort_key(&mut self, name: &str) -> String {
        match self.order {
            Order::Appended => {
                self.next_id += 1;
                format!("{:012}", self.next_id)
            }
            Order::Anywhere => name.to_string(),
        }
    }

    fn add_quietly(&mut self, name: &str) {
        let key = self.sort_key(name);
        self.rows.push((key, name.to_string()));
        self.rows.sort();
    }

    fn create(&mut self, name: &str) {
        self.touched.insert(name.to_string());
        self.add_quietly(name);
    }

    fn delete_at(&mut self, position: usize) {
        if position < self.rows.len() {
            let (_, name) = self.rows.remove(position);
            self.touched.insert(name);
        }
    }

    fn position(&self, name: &str) -> usize {
        self.rows.iter().position(|(_, n)| n == name).unwrap()
    }

    fn fetch(&self, offset: u64, limit: u64) -> Read<String> {
        let limit = limit.min(self.cap) as usize;
        Read {
            rows: self
                .rows
                .iter()
                .skip(offset as usize)
                .take(limit)
                .map(|(_, n)| n.clone())
                .collect(),
            total: self.rows.len() as u64,
        }
    }

    fn names(&self) -> BTreeSet<String> {
        self.rows.iter().map(|(_, n)| n.clone()).collect()
    }
}

/// What one listing did.
struct Run {
    result: Result<Vec<String>>,
    requests: u64,
    /// Calls whose reads went out at once.
    batches: u64,
    shifted: u32,
    /// Rows that existed from before the listing to after it.
    stable: BTreeSet<String>,
}

/// The server side of a listing: `change(read_number, dir)` runs before every read (0 = first).
/// Reads sent at once are served last first, the order that most strains the checks, and
/// every `refuse_every`-th of them (0: none) is refused, so it goes again one at a time.
struct Served<'a, F> {
    dir: &'a mut Directory,
    change: F,
    requests: u64,
    batches: u64,
    refuse_every: u64,
}

impl<F: FnMut(u64, &mut Directory)> Served<'_, F> {
    fn serve(&mut self, offset: u64, limit: u64) -> Read<String> {
        (self.change)(self.requests, self.dir);
        self.requests += 1;
        self.dir.fetch(offset, limit)
    }
}

impl<F: FnMut(u64, &mut Directory)> Source<String> for Served<'_, F> {
    fn read(&mut self, offset: u64, limit: u64) -> Result<Read<String>> {
        Ok(self.serve(offset, limit))
    }

    fn read_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<Read<String>>>> {
        self.batches += 1;
        let mut answers: Vec<Option<Read<String>>> = reads.iter().map(|_| None).collect();
        for (i, &(offset, limit)) in reads.iter().enumerate().rev() {
            let read = self.serve(offset, limit);
            let refused = self.refuse_every > 0 && self.requests.is_multiple_of(self.refuse_every);
            answers[i] = (!refused).then_some(read);
        }
        Ok(answers)
    }
}

/// Lists `dir` to the end one page at a time; `change(read_number, dir)` runs before every
/// read (0 = first).
fn list(dir: Directory, change: impl FnMut(u64, &mut Directory)) -> Run {
    list_in_flight(1, 0, dir, change)
}

/// Lists `dir` to the end with up to `in_flight` reads sent at once.
fn list_in_flight(
    in_flight: usize,
    refuse_every: u64,
    mut dir: Directory,
    change: impl FnMut(u64, &mut Directory),
) -> Run {
    let before = dir.names();
    let order = dir.order;
    let mut shifted = 0;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut server = Served {
        dir: &mut dir,
        change,
        requests: 0,
        batches: 0,
        refuse_every,
    };
    let result = loop {
        let cursor = match decode(token.as_deref()) {
            Ok(c) => c,
            Err(e) => break Err(e),
        };
        let page = read_ahead(
            "listing users",
            order,
            cursor.as_ref(),
            PAGE,
            in_flight,
            |n: &String| fingerprint(n),
            &mut server,
        );
        match page {
            Err(e) => break Err(e),
            Ok(page) => {
                shifted += u32::from(page.shifted);
                out.extend(page.rows);
                match page.next {
                    None => break Ok(out),
                    Some(next) => token = Some(encode(&next)),
                }
            }
        }
        assert!(server.requests < 100_000, "the listing never ends");
    };
    let (requests, batches) = (server.requests, server.batches);
    assert!(
        in_flight > 1 || batches == 0,
        "one page at a time sends no batch"
    );
    let after = dir.names();
    let stable = before
        .intersection(&after)
        .filter(|n| !dir.touched.contains(*n))
        .cloned()
        .collect();
    Run {
        result,
        requests,
        batches,
        shifted,
        stable,
    }
}

/// The guarantee: every stable row exactly once, no row twice.
fn assert_consistent(run: &Run, case: &str) -> Vec<String> {
    let rows = match &run.result {
        Ok(rows) => rows.clone(),
        Err(e) => panic!("{case}: expected a complete listing, got {e:?}"),
    };
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *count.entry(r).or_default() += 1;
    }
    let doubled: Vec<_> = count.iter().filter(|(_, &c)| c > 1).collect();
    assert!(doubled.is_empty(), "{case}: reported twice: {doubled:?}");
    let missing: Vec<_> = run
        .stable
        .iter()
        .filter(|s| !count.contains_key(s.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{case}: stable rows missing: {missing:?}"
    );
    rows
}

fn conflict(run: &Run) -> String {
    match &run.result {
        Err(Error::Conflict(m)) => m.clone(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Requests of a listing of `n` rows that nothing changes: the first page, then 99 new rows a
/// page until a page comes back short.
fn quiet_requests(n: u64) -> u64 {
    if n < PAGE {
        1
    } else {
        (n - PAGE) / (PAGE - 1) + 2
    }
}

#[test]
fn a_quiet_listing_reports_every_row_once_within_one_percent_of_plain_paging() {
    for order in [Order::Appended, Order::Anywhere] {
        for n in [0u64, 1, 99, 100, 101, 198, 199, 200, 271, 1000, 10_000] {
            let run = list(Directory::new(order, n as usize), |_, _| {});
            let rows = assert_consistent(&run, &format!("{order:?} {n}"));
            assert_eq!(rows.len() as u64, n);
            assert_eq!(run.requests, quiet_requests(n), "{order:?} {n}");
            assert_eq!(run.shifted, 0);
        }
    }
    // Against ⌈n/100⌉: equal at the sizes the recordings have, 1 % more at scale.
    assert_eq!(quiet_requests(271), 3);
    assert_eq!(quiet_requests(9_900), 100);
    assert_eq!(quiet_requests(100_000), 1011);
}

#[test]
fn a_deletion_before_the_boundary_is_healed() {
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 271), |read, d| {
            if read == 1 {
                d.delete_at(5);
            }
        });
        let rows = assert_consistent(&run, "deletion before the boundary");
        assert_eq!(rows.len(), 271, "the deleted row was read before it went");
        assert_eq!(run.shifted, 1);
        // One window read joined with the page: a single extra request.
        assert_eq!(run.requests, quiet_requests(271) + 1, "{order:?}");
    }
}

#[test]
fn one_deletion_and_one_creation_that_leave_the_total_unchanged_lose_nobody() {
    // The case: without the overlap, `u00100` (first row of page two) was never read.
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 271), |read, d| {
            if read == 1 {
                d.delete_at(5);
                d.create("zz-new");
            }
        });
        let rows = assert_consistent(&run, "delete + create");
        assert!(rows.contains(&"u00100".to_string()));
    }
}

#[test]
fn an_insertion_before_the_boundary_is_not_reported_twice() {
    // Only roles can be inserted before the boundary (users join at the end).
    let run = list(Directory::new(Order::Anywhere, 271), |read, d| {
        if read == 1 {
            d.create("u00005a");
            d.create("u00050a");
        }
    });
    let rows = assert_consistent(&run, "insertion before the boundary");
    assert_eq!(
        rows.len(),
        271,
        "the new rows sort before where the listing stood"
    );
    assert_eq!(
        run.requests,
        quiet_requests(271),
        "found in the page itself"
    );
}

#[test]
fn insertions_at_the_end_appear_and_cost_nothing() {
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 271), |read, d| {
            if read == 1 {
                d.create("zz-late");
            }
        });
        let rows = assert_consistent(&run, "insertion at the end");
        assert!(rows.contains(&"zz-late".to_string()));
        assert_eq!(run.shifted, 0);
    }
}

#[test]
fn the_deleted_boundary_row_heals_for_users_and_is_a_conflict_for_roles() {
    let delete_boundary = |read: u64, d: &mut Directory| {
        if read == 1 {
            let p = d.position("u00099");
            d.delete_at(p);
        }
    };
    let users = list(Directory::new(Order::Appended, 271), delete_boundary);
    assert_consistent(&users, "users: boundary row deleted");
    assert_eq!(users.shifted, 1);
    // Several rows at the boundary, as a batch offboarding of users created together.
    let users = list(Directory::new(Order::Appended, 271), |read, d| {
        if read == 1 {
            for _ in 0..10 {
                d.delete_at(90);
            }
        }
    });
    assert_consistent(&users, "users: ten rows at the boundary deleted");
    // A role that sorts after the deleted one may have been created meanwhile, so the other
    // remembered rows cannot place the listing: it stops rather than guess.
    let roles = list(Directory::new(Order::Anywhere, 271), delete_boundary);
    assert!(conflict(&roles).contains("lost its place"));
}

#[test]
fn several_changes_between_two_pages_heal() {
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 450), |read, d| {
            if read == 2 {
                for p in [3, 40, 120, 150, 180] {
                    d.delete_at(p);
                }
                d.create("zz-1");
                d.create("zz-2");
            }
        });
        assert_consistent(&run, "several changes");
    }
}

#[test]
fn a_shift_beyond_the_search_is_a_conflict_not_a_gap() {
    let run = list(Directory::new(Order::Appended, 1000), |read, d| {
        if read == 1 {
            for _ in 0..(BACK_WINDOWS * 99 + 20) {
                d.delete_at(0);
            }
        }
    });
    assert!(
        conflict(&run).contains("lost its place"),
        "{:?}",
        run.result
    );
}

#[test]
fn a_directory_that_changes_more_than_the_overlap_before_every_page_ends_in_conflict() {
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 8000), |read, d| {
            if read > 0 {
                for _ in 0..=MAX_OVERLAP {
                    d.delete_at(0);
                }
            }
        });
        let m = conflict(&run);
        assert!(
            m.contains("changes faster than it can be read") || m.contains("lost its place"),
            "{m}"
        );
    }
}

#[test]
fn re_aligning_stops_when_the_listing_has_spent_its_allowance() {
    let mut d = Directory::new(Order::Appended, 1000);
    let first = read_users(None, |o, l| Ok(d.fetch(o, l))).unwrap();
    let spent = Cursor {
        pages: 10,
        heals: HEAL_ALLOWANCE + 5,
        ..first.next.unwrap()
    };
    d.delete_at(3);
    let page = read_users(Some(&spent), |o, l| Ok(d.fetch(o, l)));
    assert!(
        matches!(page, Err(Error::Conflict(ref m)) if m.contains("changes faster than it can be read")),
        "{page:?}"
    );
    // With allowance left, the same shift heals.
    let fresh = Cursor { heals: 0, ..spent };
    let page = read_users(Some(&fresh), |o, l| Ok(d.fetch(o, l))).unwrap();
    assert_eq!(page.rows.first().map(String::as_str), Some("u00100"));
    assert_eq!(page.extra_reads, 1);
}

#[test]
fn steady_deletions_before_every_read_widen_the_overlap_instead_of_costing_reads() {
    // A live churn of one deletion between any two reads: after the first shift the pages start
    // a few rows early, so the last row reported stays inside the next read.
    for order in [Order::Appended, Order::Anywhere] {
        let run = list(Directory::new(order, 3000), |read, d| {
            if read > 0 {
                d.delete_at(read as usize);
            }
        });
        assert_consistent(&run, "a deletion before every read");
        let quiet = quiet_requests(3000);
        assert!(
            run.requests <= quiet + quiet / 10 + 2,
            "{order:?}: {} requests, {quiet} when quiet",
            run.requests
        );
    }
}

#[test]
fn a_directory_that_changes_every_few_pages_completes() {
    // One offboarding per four pages (for example one a second at 50 ms a page) still completes.
    let run = list(Directory::new(Order::Appended, 5000), |read, d| {
        if read > 0 && read % 4 == 0 {
            d.delete_at(read as usize);
            d.create(&format!("zz-{read}"));
        }
    });
    assert_consistent(&run, "a change every four pages");
    assert!(run.shifted >= 10);
}

#[test]
fn a_server_that_caps_the_page_size_is_paged_at_its_size() {
    let mut d = Directory::new(Order::Appended, 271);
    d.cap = 50;
    let run = list(d.clone(), |_, _| {});
    assert_eq!(assert_consistent(&run, "cap 50").len(), 271);
    let run = list(d, |read, d| {
        if read == 2 {
            d.delete_at(3);
        }
    });
    assert_consistent(&run, "cap 50, shifted");
}

#[test]
fn a_server_that_serves_one_row_a_page_is_refused_rather_than_looped() {
    let mut d = Directory::new(Order::Appended, 5);
    d.cap = 1;
    let run = list(d, |_, _| {});
    assert!(
        matches!(run.result, Err(Error::UpstreamProtocol(ref m)) if m.contains("1 row per page although 5 exist")),
        "{:?}",
        run.result
    );
    assert_eq!(run.requests, 1);
    let mut one = Directory::new(Order::Appended, 1);
    one.cap = 1;
    assert_eq!(list(one, |_, _| {}).result.unwrap(), ["u00000"]);
    // An empty first page of a listing that has rows is a conflict, not a complete listing.
    let mut emptied = Directory::new(Order::Appended, 5);
    emptied.cap = 0;
    assert!(conflict(&list(emptied, |_, _| {})).contains("ended after 0 rows"));
}

#[test]
fn a_server_that_ignores_offset_is_a_protocol_error() {
    let d = Directory::new(Order::Appended, 300);
    let mut requests = 0;
    let mut token: Option<String> = None;
    let err = loop {
        let cursor = decode(token.as_deref()).unwrap();
        let page = read_users(cursor.as_ref(), |_, _| {
            requests += 1;
            Ok(d.fetch(0, PAGE))
        });
        match page {
            Ok(Page { next: Some(n), .. }) => token = Some(encode(&n)),
            Ok(_) => panic!("the listing ended as if complete"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, Error::UpstreamProtocol(ref m) if m.contains("does not honour `offset`")),
        "{err:?}"
    );
    assert_eq!(requests, 3, "the first page, and two that repeat it");
}

#[test]
fn ninety_nine_roles_added_before_the_first_page_read_are_not_mistaken_for_a_stuck_server() {
    // The next read then starts on the first row of the page before, as a server that ignores
    // `offset` would; the last row reported is still there, so the listing goes on.
    let run = list(Directory::new(Order::Anywhere, 250), |read, d| {
        if read == 1 {
            for i in 0..99 {
                d.create(&format!("a{i:02}"));
            }
        }
    });
    assert_consistent(&run, "99 roles before the boundary");
}

#[test]
fn a_page_that_ends_before_the_total_is_a_conflict() {
    let d = Directory::new(Order::Appended, 271);
    let first = read_users(None, |o, l| Ok(d.fetch(o, l))).unwrap();
    let short = read_users(first.next.as_ref(), |o, l| {
        let mut r = d.fetch(o, l);
        r.rows.truncate(10);
        Ok(r)
    });
    assert!(
        matches!(short, Err(Error::Conflict(ref m)) if m.contains("ended after 10 rows although total_entries is 271")),
        "{short:?}"
    );
}

/// One page of an appended listing of names, as the connector reads users.
fn read_users(
    cursor: Option<&Cursor>,
    mut fetch: impl FnMut(u64, u64) -> Result<Read<String>>,
) -> Result<Page<String>> {
    read(
        "listing users",
        Order::Appended,
        cursor,
        PAGE,
        &|n: &String| fingerprint(n),
        &mut fetch,
    )
}

/// xorshift64*: a fixed sequence per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[test]
fn random_churn_never_loses_or_doubles_a_stable_row() {
    let mut completed = 0;
    for seed in 1..=600u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let order = if seed % 2 == 0 {
            Order::Appended
        } else {
            Order::Anywhere
        };
        let n = 50 + rng.below(900) as usize;
        let mut created = 0;
        let run = list(Directory::new(order, n), |_, d| {
            // Some reads see nothing change, others several deletions and creations.
            for _ in 0..rng.below(4) {
                match rng.below(3) {
                    0 | 1 => {
                        let p = rng.below(d.rows.len() as u64) as usize;
                        d.delete_at(p);
                    }
                    _ => {
                        created += 1;
                        let name = format!("u{:05}x{created}", rng.below(n as u64));
                        d.create(&name);
                    }
                }
            }
        });
        match &run.result {
            Err(Error::Conflict(_)) => {}
            _ => {
                assert_consistent(&run, &format!("seed {seed}"));
                completed += 1;
            }
        }
    }
    // Most listings heal; a conflict is allowed only where the bounds are hit.
    assert!(completed > 300, "only {completed} of 600 completed");
}

#[test]
fn tokens_round_trip_and_foreign_ones_are_refused() {
    assert_eq!(decode(None).unwrap(), None);
    let c = Cursor {
        next: 199,
        page: 100,
        overlap: 3,
        pages: 2,
        heals: 1,
        repeated: true,
        first: Some(fingerprint("a")),
        anchors: vec![1, fingerprint("b"), u64::MAX],
        total: 271,
    };
    assert_eq!(decode(Some(&encode(&c))).unwrap(), Some(c.clone()));
    let no_first = Cursor { first: None, ..c };
    assert_eq!(decode(Some(&encode(&no_first))).unwrap(), Some(no_first));
    for t in [
        "",
        "300",
        "offset:100",
        "offset:100:total:271",
        "at:",
        "at:0:100:1:1:0:0::1:271",
        "at:100:1:1:1:0:0::1:271",
        "at:100:100:0:1:0:0::1:271",
        "at:100:100:26:1:0:0::1:271",
        "at:100:100:1:1:0:0:::271",
        "at:100:100:1:1:0:2::1:271",
        "at:100:100:1:1:0:0:zz:1:271",
        "at:100:100:1:1:0:0::1,zz:271",
        "at:100:100:1:1:0:0::1:271:extra",
        "at:100:100:1:1:0:0::1:-1",
        "at:100:100:1:1:0:0::1",
        "at:-1:100:1:1:0:0::1:271",
        "at:100:100:1:1:0::1:271",
    ] {
        assert!(
            matches!(decode(Some(t)), Err(Error::InvalidArgument(_))),
            "{t}"
        );
    }
    let too_many = vec!["1"; ANCHORS + 1].join(",");
    assert!(decode(Some(&format!("at:100:100:1:1:0:0::{too_many}:271"))).is_err());
    assert!(decode(Some("at:100:100:1:1:0:0::1:271")).unwrap().is_some());
}

#[test]
fn fingerprints_separate_their_fields() {
    assert_ne!(
        fingerprint_parts(&["ab", "c"]),
        fingerprint_parts(&["a", "bc"])
    );
    assert_eq!(fingerprint("x"), fingerprint_parts(&["x"]));
}

#[test]
fn pages_read_at_once_report_a_quiet_listing_with_the_same_requests() {
    for order in [Order::Appended, Order::Anywhere] {
        for in_flight in [2usize, 4, 8] {
            for n in [0u64, 99, 100, 101, 199, 200, 271, 1000, 9_900] {
                let case = format!("{order:?} {n} rows, {in_flight} in flight");
                let run =
                    list_in_flight(in_flight, 0, Directory::new(order, n as usize), |_, _| {});
                let rows = assert_consistent(&run, &case);
                let expected: Vec<String> = Directory::new(order, n as usize)
                    .rows
                    .into_iter()
                    .map(|(_, name)| name)
                    .collect();
                assert_eq!(rows, expected, "{case}: in order");
                // No read past the end the last page saw, so no more requests than one at a
                // time; the first page goes alone, then `in_flight` pages a call.
                assert_eq!(run.requests, quiet_requests(n), "{case}");
                // A call whose plan holds a single read sends it alone.
                let (after_first, k) = (quiet_requests(n) - 1, in_flight as u64);
                let batches = after_first / k + u64::from(after_first % k >= 2);
                assert_eq!(run.batches, batches, "{case}");
            }
        }
    }
}

#[test]
fn a_shift_between_reads_sent_at_once_is_noticed_and_healed() {
    // The four reads after the first page (offsets 99, 198, 297, 396) are served last first,
    // so a deletion at row 150 before the `at`-th of them is seen by the reads at lower
    // offsets and not by those above: two neighbouring reads disagree, whichever `at` is.
    // (Before the first of them, every read sees it and nothing shifts between them.)
    for order in [Order::Appended, Order::Anywhere] {
        for at in 2..=4u64 {
            let run = list_in_flight(4, 0, Directory::new(order, 1000), |read, d| {
                if read == at {
                    d.delete_at(150);
                }
            });
            let case = format!("{order:?}, deletion before read {at}");
            let rows = assert_consistent(&run, &case);
            assert!(rows.len() >= 999, "{case}: {} rows", rows.len());
            assert!(run.shifted >= 1, "{case}: the shift went unnoticed");
        }
    }
}

#[test]
fn a_refused_read_of_a_batch_goes_again_on_its_own() {
    for refuse_every in [2u64, 3] {
        let run = list_in_flight(
            4,
            refuse_every,
            Directory::new(Order::Appended, 1000),
            |_, _| {},
        );
        let rows = assert_consistent(&run, "refused reads");
        assert_eq!(rows.len(), 1000);
        assert!(
            run.requests > quiet_requests(1000),
            "the refused reads were not sent again"
        );
    }
}

#[test]
fn random_churn_with_reads_sent_at_once_never_loses_or_doubles_a_stable_row() {
    let mut completed = 0;
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let order = if seed % 2 == 0 {
            Order::Appended
        } else {
            Order::Anywhere
        };
        let in_flight = [2usize, 3, 4, 8][(seed % 4) as usize];
        let refuse_every = [0u64, 0, 5, 7][(seed / 4 % 4) as usize];
        let n = 50 + rng.below(900) as usize;
        let mut created = 0;
        let run = list_in_flight(in_flight, refuse_every, Directory::new(order, n), |_, d| {
            for _ in 0..rng.below(4) {
                match rng.below(3) {
                    0 | 1 => {
                        let p = rng.below(d.rows.len() as u64) as usize;
                        d.delete_at(p);
                    }
                    _ => {
                        created += 1;
                        let name = format!("u{:05}x{created}", rng.below(n as u64));
                        d.create(&name);
                    }
                }
            }
        });
        match &run.result {
            Err(Error::Conflict(_)) => {}
            _ => {
                assert_consistent(&run, &format!("seed {seed}, {in_flight} in flight"));
                completed += 1;
            }
        }
    }
    assert!(completed > 200, "only {completed} of 400 completed");
}
