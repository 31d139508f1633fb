//! Offset paging that stays true while the directory changes under it.
//!
//! Airflow pages by `offset` over a sorted listing (users by id, so new users join at the end;
//! roles by name, so a new role may land anywhere). Between two page reads, a deletion before the
//! boundary shifts every later row one place left, so a plain `offset += rows` skips a row, and an
//! insertion before it shows a row twice; `total_entries` cannot tell (one deletion and one
//! insertion leave it unchanged).
//!
//! So every page after the first starts one row early, on the last row already reported, and
//! checks that this row is still there (after a shift, more rows early: see [`MAX_OVERLAP`]). When it is not, the listing has shifted: the connector
//! looks for that row (or, for users, for any of the last rows it reported) in the page it just
//! read and, failing that, in up to [`BACK_WINDOWS`] windows just before it, and continues from
//! there. Because each read is a sorted, contiguous slice of the listing at the moment it is
//! read, the rows after a row already reported are exactly the rows not reported yet. Hence a
//! completed listing is a consistent fuzzy snapshot:
//! - every row that existed for the whole listing is reported exactly once;
//! - no row is reported twice; a row created or deleted meanwhile may or may not appear;
//! - a change of `total_entries` is not an error.
//!
//! When the connector cannot keep that promise within its bounds, the listing fails with
//! `conflict` rather than report a gap: the rows it would anchor on are all gone or moved
//! further than it searches, or the directory changed between more reads than
//! [`HEAL_ALLOWANCE`] + half the pages.
//!
//! The state travels in the page token, so memory stays bounded by a page (two while healing;
//! with [`read_ahead`], by the pages in flight):
//! `at:<next>:<page>:<overlap>:<pages>:<heals>:<repeated>:<first>:<anchors>:<total>`, numbers in
//! decimal and fingerprints in hex, anchors comma-separated, oldest first.
//!
//! [`read_ahead`] sends the reads of several pages at once, where a quiet listing would have
//! them, and then checks each against the one before it exactly as above, whichever the server
//! answered first: the argument needs each read to be a contiguous slice of the listing, not the
//! reads to be in time order. A shifted page is noticed the same way; from the first read that
//! is not where the plan put it, the call reads on one at a time and ends after that page.

use crate::error::{Error, Result};

const PREFIX: &str = "at:";

/// Rows remembered from the end of what was reported. Users anchor on any of them, so a
/// deletion of up to this many rows right at the boundary still heals.
pub const ANCHORS: usize = 16;

/// The most rows a read starts early after the listing shifted.
pub const MAX_OVERLAP: u64 = 25;

/// Windows of one page each searched before the read that did not line up.
pub const BACK_WINDOWS: u64 = 2;

/// Extra reads a listing may spend on finding its place, beyond half its pages, before it gives
/// up: healing never costs more than that.
pub const HEAL_ALLOWANCE: u32 = 8;

/// Where rows created during the listing may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Only at the end: users, ordered by their growing id. A row already reported that is still
    /// listed then never moves right, which lets any remembered row serve as the anchor.
    Appended,
    /// Anywhere: roles, ordered by name. Only the last row reported is a safe anchor.
    Anywhere,
}

/// Where a listing stands between two calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Offset just past the last row reported, as the listing stood when it was read.
    pub next: u64,
    /// Rows the server serves per page: the requested size, or less where the server caps it.
    pub page: u64,
    /// Pages read so far, and the extra reads spent finding where the listing stands.
    pub pages: u32,
    pub heals: u32,
    /// Rows before the end of the last read the next one starts at: 1 when the listing is quiet,
    /// more after it shifted (deletions keep coming while it is read), back to 1 as it calms.
    pub overlap: u64,
    /// The last read started on the same row as the read before it: a server that ignores
    /// `offset` does that every time, a role listing after 99 roles were added before it once.
    pub repeated: bool,
    /// Fingerprint of the first row of the last read, when it had more than one row: a server
    /// that ignores `offset` repeats it.
    pub first: Option<u64>,
    /// Fingerprints of the last rows reported (at most [`ANCHORS`]), oldest first, never empty.
    pub anchors: Vec<u64>,
    /// `total_entries` of the last read: reads sent at once ([`read_ahead`]) stop there.
    pub total: u64,
}

impl Cursor {
    fn last(&self) -> u64 {
        self.anchors.last().copied().unwrap_or_default()
    }
}

pub fn encode(cursor: &Cursor) -> String {
    let anchors: Vec<String> = cursor.anchors.iter().map(|a| format!("{a:x}")).collect();
    format!(
        "{PREFIX}{}:{}:{}:{}:{}:{}:{}:{}:{}",
        cursor.next,
        cursor.page,
        cursor.overlap,
        cursor.pages,
        cursor.heals,
        u8::from(cursor.repeated),
        cursor.first.map(|f| format!("{f:x}")).unwrap_or_default(),
        anchors.join(","),
        cursor.total
    )
}

/// None (first page) is None; anything not produced by `encode` is refused.
pub fn decode(token: Option<&str>) -> Result<Option<Cursor>> {
    let Some(token) = token else {
        return Ok(None);
    };
    parse(token).map(Some).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "page token `{}` was not issued by this connector; pass back the \
             `next-page-token` of the previous page, or none for the first page",
            token.chars().take(40).collect::<String>()
        ))
    })
}

fn parse(token: &str) -> Option<Cursor> {
    let mut parts = token.strip_prefix(PREFIX)?.split(':');
    let mut number = || parts.next()?.parse::<u64>().ok();
    let (next, page, overlap) = (number()?, number()?, number()?);
    let (pages, heals) = (number()?, number()?);
    let repeated = match number()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let first = match parts.next()? {
        "" => None,
        hex => Some(u64::from_str_radix(hex, 16).ok()?),
    };
    let anchors = parts
        .next()?
        .split(',')
        .map(|a| u64::from_str_radix(a, 16).ok())
        .collect::<Option<Vec<u64>>>()?;
    let total = parts.next()?.parse::<u64>().ok()?;
    let valid = parts.next().is_none()
        && next >= 1
        && page >= 2
        && (1..=MAX_OVERLAP).contains(&overlap)
        && !anchors.is_empty()
        && anchors.len() <= ANCHORS;
    valid.then_some(Cursor {
        next,
        page,
        overlap,
        pages: u32::try_from(pages).ok()?,
        heals: u32::try_from(heals).ok()?,
        repeated,
        first,
        anchors,
        total,
    })
}

/// FNV-1a: stable across builds and platforms, which `DefaultHasher` does not promise.
pub fn fingerprint(key: &str) -> u64 {
    fingerprint_parts(&[key])
}

/// The fingerprint of several fields, each ended by a byte no field holds.
pub fn fingerprint_parts(parts: &[&str]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325, |h, part| {
        part.bytes()
            .chain(std::iter::once(0xff))
            .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// One answer of the server: rows from the requested offset, and its `total_entries`.
pub struct Read<R> {
    pub rows: Vec<R>,
    pub total: u64,
}

/// The rows to report from one call, and where the listing goes on (None after the last).
#[derive(Debug, PartialEq, Eq)]
pub struct Page<R> {
    pub rows: Vec<R>,
    pub next: Option<Cursor>,
    /// The listing had shifted since the previous page and was re-aligned.
    pub shifted: bool,
    /// Requests spent on re-aligning it, beyond the page itself.
    pub extra_reads: u32,
}

/// Where the reads of a listing's pages go, one at a time or several at once.
pub trait Source<R> {
    /// One read, with every retry the client has; its error ends the call.
    fn read(&mut self, offset: u64, limit: u64) -> Result<Read<R>>;

    /// Several reads sent at once, answered in the same order. None for a read that must go
    /// again through [`Source::read`] (a refusal, a throttle, a transport failure), which has
    /// the retries and the renewed sign-in.
    fn read_at_once(&mut self, reads: &[(u64, u64)]) -> Result<Vec<Option<Read<R>>>>;
}

/// Up to `in_flight` pages of a listing from one call, their reads sent at once (see the
/// module's note). The first call reads one page: it learns the page size the server serves.
#[allow(clippy::too_many_arguments)]
pub fn read_ahead<R>(
    what: &str,
    order: Order,
    cursor: Option<&Cursor>,
    page_size: u64,
    in_flight: usize,
    key: impl Fn(&R) -> u64,
    source: &mut impl Source<R>,
) -> Result<Page<R>> {
    let reads: Vec<(u64, u64)> = cursor
        .map(|c| plan(c, in_flight))
        .unwrap_or_default()
        .into_iter()
        .map(|at| (at, page_size))
        .collect();
    // A plan of one read is the plain path: that read alone, through `Source::read`.
    let at_once = reads.len() >= 2;
    let mut answers = if at_once {
        source.read_at_once(&reads)?
    } else {
        Vec::new()
    }
    .into_iter();
    let mut cursor = cursor.cloned();
    let mut out = Page {
        rows: Vec::new(),
        next: cursor.clone(),
        shifted: false,
        extra_reads: 0,
    };
    for i in 0..reads.len().max(1) {
        let planned = reads.get(i).copied().filter(|_| at_once);
        let mut answer = answers.next().flatten();
        let mut as_planned = planned.is_some();
        let mut fetch = |o: u64, l: u64| {
            if Some((o, l)) != planned {
                as_planned = false;
            }
            match answer.take() {
                Some(read) if as_planned => Ok(read),
                _ => source.read(o, l),
            }
        };
        let page = read(what, order, cursor.as_ref(), page_size, &key, &mut fetch);
        let page = match page {
            Ok(page) => page,
            // The pages before it stand; the next call reads this one again on its own and
            // reports what stops it there.
            Err(_) if i > 0 => return Ok(out),
            Err(e) => return Err(e),
        };
        out.rows.extend(page.rows);
        out.shifted |= page.shifted;
        out.extra_reads = out.extra_reads.saturating_add(page.extra_reads);
        out.next = page.next;
        cursor = out.next.clone();
        if cursor.is_none() || !as_planned {
            break;
        }
    }
    Ok(out)
}

/// Offsets of the next `in_flight` reads as a quiet listing would have them: each starts on the
/// last row of the one before (after a shift, the overlap shrinks a row a read, as [`read`]
/// shrinks it), none past the end the last read saw.
fn plan(cursor: &Cursor, in_flight: usize) -> Vec<u64> {
    let page = cursor.page;
    let mut next = cursor.next;
    let mut overlap = cursor.overlap.clamp(1, page - 1);
    let mut out = Vec::with_capacity(in_flight);
    while out.len() < in_flight {
        let at = next.saturating_sub(overlap);
        if !out.is_empty() && at >= cursor.total {
            break;
        }
        out.push(at);
        next = at.saturating_add(page);
        overlap = overlap.saturating_sub(1).max(1);
    }
    out
}

/// One page of a listing: reads at the cursor (one row early), checks the overlap, heals a
/// shift, and says where to go on. `fetch(offset, limit)` reads the server; `key` fingerprints a
/// row by what identifies it for good (a re-created user with the same name is another row).
pub fn read<R>(
    what: &str,
    order: Order,
    cursor: Option<&Cursor>,
    page_size: u64,
    key: &dyn Fn(&R) -> u64,
    fetch: &mut dyn FnMut(u64, u64) -> Result<Read<R>>,
) -> Result<Page<R>> {
    let Some(cursor) = cursor else {
        let first = fetch(0, page_size)?;
        let served = first.rows.len() as u64;
        // A server that caps `limit` below what was asked serves short pages throughout.
        let page = if served > 0 && served < page_size && served < first.total {
            served
        } else {
            page_size
        };
        if page < 2 {
            // Each page starts on a row already seen: one row a page would never advance.
            return Err(Error::UpstreamProtocol(format!(
                "{what}: the server serves 1 row per page although {} exist; paging \
                 needs at least 2 (raise Airflow's `[api] maximum_page_limit`)",
                first.total
            )));
        }
        let at = Frontier::of(0, page, &first, &key);
        let listing = Listing {
            what,
            key: &key,
            cursor: None,
            page,
        };
        return listing.conclude(0, at, first.rows, false);
    };
    let page = cursor.page;
    // Never as many rows early as a page holds: each page must bring at least one new row.
    let overlap = cursor.overlap.clamp(1, page - 1);
    let at = cursor.next.saturating_sub(overlap);
    // Where the last row reported sits in this read when nothing moved.
    let expected = cursor.next.saturating_sub(1) - at;
    let read = fetch(at, page_size)?;
    let mut here = Frontier::of(at, page, &read, &key);
    let listing = Listing {
        what,
        key: &key,
        cursor: Some(cursor),
        page,
    };
    if read.rows.get(index(expected)).map(&key) == Some(cursor.last()) {
        // Quiet: the overlap shrinks back a row at a time.
        here.overlap = overlap - 1;
        let rows = read.rows.into_iter().skip(index(expected) + 1).collect();
        return listing.conclude(cursor.heals, here, rows, false);
    }
    if let Some(from) = locate(order, &cursor.anchors, &read.rows, &key) {
        let repeated = cursor.first.is_some() && read.rows.first().map(&key) == cursor.first;
        if repeated && cursor.repeated {
            return Err(Error::UpstreamProtocol(format!(
                "{what}: the page at offset {at} starts with the same row as the two pages \
                 before it: the server does not honour `offset`, so paging would never advance"
            )));
        }
        here.repeated = repeated;
        here.overlap = widened(overlap, expected.abs_diff(from as u64 - 1));
        let rows = read.rows.into_iter().skip(from).collect();
        return listing.conclude(cursor.heals, here, rows, true);
    }
    let mut heals = cursor.heals;
    // The rows already reported moved left (deletions before them) or are gone: look just
    // before. Each window ends on the first row of the read after it so that, when nothing
    // moved between the two reads, the window and the page join into one contiguous slice.
    let mut end = at;
    for _ in 0..BACK_WINDOWS {
        if end == 0 {
            break;
        }
        let start = end.saturating_sub(page - 1);
        let limit = end - start + 1;
        heals = spend(what, cursor, heals)?;
        let window = fetch(start, limit)?;
        let Some(from) = locate(order, &cursor.anchors, &window.rows, &key) else {
            end = start;
            continue;
        };
        let joins = end == at
            && window.rows.len() as u64 == limit
            && !read.rows.is_empty()
            && window.rows.last().map(&key) == read.rows.first().map(&key);
        // Deletions before the listing's place keep coming while it is read: start the next
        // pages early enough that the last row reported stays inside them.
        let moved = (at + expected).saturating_sub(start + from as u64 - 1);
        if !joins {
            let mut there = Frontier::of(start, limit, &window, &key);
            there.overlap = widened(overlap, moved);
            let rows = window.rows.into_iter().skip(from).collect();
            return listing.conclude(heals, there, rows, true);
        }
        here.overlap = widened(overlap, moved);
        let mut rows: Vec<R> = window.rows.into_iter().skip(from).collect();
        rows.extend(read.rows.into_iter().skip(1));
        return listing.conclude(heals, here, rows, true);
    }
    Err(Error::Conflict(format!(
        "{what}: lost its place: the last rows it reported are no longer at offset {at} nor \
         within the {} rows before it (they were deleted, or more rows than that were deleted or \
         added before them between two page reads); continuing could skip rows, so the listing \
         stops; run the sync again",
        BACK_WINDOWS * (page - 1)
    )))
}

/// The overlap after the listing moved by `moved` rows between two reads: twice that, so the
/// same churn again stays inside the next read, within [`MAX_OVERLAP`].
fn widened(overlap: u64, moved: u64) -> u64 {
    overlap
        .max(moved.saturating_mul(2).saturating_add(1))
        .min(MAX_OVERLAP)
}

/// A row index within one read (at most a page).
fn index(i: u64) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

/// The read that fixes where the listing stands after this call.
struct Frontier {
    start: u64,
    /// Rows the read could hold: fewer served means the listing ended there.
    limit: u64,
    served: u64,
    first: Option<u64>,
    total: u64,
    repeated: bool,
    /// Rows the next read starts before the end of this one.
    overlap: u64,
}

impl Frontier {
    fn of<R>(start: u64, limit: u64, read: &Read<R>, key: &impl Fn(&R) -> u64) -> Self {
        Frontier {
            start,
            limit,
            served: read.rows.len() as u64,
            first: read.rows.first().map(key).filter(|_| read.rows.len() > 1),
            total: read.total,
            repeated: false,
            overlap: 1,
        }
    }
}

/// One more extra read, or a conflict when the listing has spent its allowance.
fn spend(what: &str, cursor: &Cursor, heals: u32) -> Result<u32> {
    let heals = heals.saturating_add(1);
    let allowed = HEAL_ALLOWANCE.saturating_add(cursor.pages / 2);
    if heals > allowed {
        return Err(Error::Conflict(format!(
            "{what}: the directory changed between too many page reads (after {} pages, \
             finding where the listing stands would take extra read {heals}; at most \
             {HEAL_ALLOWANCE} plus half the pages are allowed): it changes faster than it can be \
             read consistently; run the sync again when it is quieter",
            cursor.pages
        )));
    }
    Ok(heals)
}

/// Index in `rows` of the first row not reported yet, when `rows` shows where the listing
/// stands: just after the last row reported or, for appended listings, after the last of the
/// remembered rows it holds (any later one is gone: being older, it would come after).
fn locate<R>(order: Order, anchors: &[u64], rows: &[R], key: &impl Fn(&R) -> u64) -> Option<usize> {
    let last = anchors.last()?;
    if let Some(i) = rows.iter().position(|r| key(r) == *last) {
        return Some(i + 1);
    }
    match order {
        Order::Appended => rows
            .iter()
            .rposition(|r| anchors.contains(&key(r)))
            .map(|i| i + 1),
        Order::Anywhere => None,
    }
}

/// What one call knows of the listing it reads.
struct Listing<'a, K> {
    what: &'a str,
    key: &'a K,
    cursor: Option<&'a Cursor>,
    page: u64,
}

impl<K> Listing<'_, K> {
    /// The rows to report and the cursor after them.
    fn conclude<R>(&self, heals: u32, at: Frontier, rows: Vec<R>, shifted: bool) -> Result<Page<R>>
    where
        K: Fn(&R) -> u64,
    {
        let (what, key, cursor, page) = (self.what, self.key, self.cursor, self.page);
        let extra_reads = heals.saturating_sub(cursor.map_or(0, |c| c.heals));
        let end = at.start.saturating_add(at.served);
        if at.served < at.limit {
            if end < at.total {
                return Err(Error::Conflict(format!(
                "{what}: the page at offset {} ended after {} rows although total_entries is {}: \
                 the directory changed while the page was read, or the server's paging is \
                 inconsistent; the listing would be incomplete; run the sync again",
                at.start, at.served, at.total
            )));
            }
            return Ok(Page {
                rows,
                next: None,
                shifted,
                extra_reads,
            });
        }
        let mut anchors = cursor.map(|c| c.anchors.clone()).unwrap_or_default();
        // Only the last ANCHORS rows are kept, so only those are fingerprinted.
        anchors.extend(
            rows.iter()
                .skip(rows.len().saturating_sub(ANCHORS))
                .map(key),
        );
        let excess = anchors.len().saturating_sub(ANCHORS);
        anchors.drain(..excess);
        let next = Cursor {
            next: end,
            page,
            pages: cursor.map_or(0, |c| c.pages).saturating_add(1),
            heals,
            repeated: at.repeated,
            overlap: at.overlap.max(1),
            first: at.first,
            anchors,
            total: at.total,
        };
        Ok(Page {
            rows,
            next: Some(next),
            shifted,
            extra_reads,
        })
    }
}

#[cfg(test)]
mod tests;
