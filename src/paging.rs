//! Page tokens, and the guards that stop a listing whose pages do not add up.
//!
//! A token is opaque to the host: `offset:N`, then what the previous pages promised —
//! `:total:T` (the `total_entries` of the first page) and `:first:H` (a hash of the previous
//! page's first row). A bare `offset:N` (from an older build) is still accepted.

use crate::error::{Error, Result};

const PREFIX: &str = "offset:";

/// Where the next page starts, and what the pages before it said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub offset: u64,
    /// `total_entries` as the first page reported it.
    pub total: Option<u64>,
    /// Hash of the previous page's first row: a server that ignores `offset` repeats it.
    pub first: Option<u64>,
}

pub fn encode(cursor: &Cursor) -> String {
    let mut token = format!("{PREFIX}{}", cursor.offset);
    if let Some(total) = cursor.total {
        token.push_str(&format!(":total:{total}"));
    }
    if let Some(first) = cursor.first {
        token.push_str(&format!(":first:{first:016x}"));
    }
    token
}

/// None (first page) is offset 0; anything not produced by `encode` is refused.
pub fn decode(token: Option<&str>) -> Result<Cursor> {
    let Some(token) = token else {
        return Ok(Cursor::default());
    };
    parse(token).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "page token `{}` was not issued by this connector; pass back the \
             `next-page-token` of the previous page, or none for the first page",
            token.chars().take(40).collect::<String>()
        ))
    })
}

fn parse(token: &str) -> Option<Cursor> {
    let mut parts = token.strip_prefix(PREFIX)?.split(':');
    let mut cursor = Cursor {
        offset: parts.next()?.parse().ok()?,
        ..Cursor::default()
    };
    while let Some(key) = parts.next() {
        let value = parts.next()?;
        match key {
            "total" if cursor.total.is_none() => cursor.total = Some(value.parse().ok()?),
            "first" if cursor.first.is_none() => {
                cursor.first = Some(u64::from_str_radix(value, 16).ok()?)
            }
            _ => return None,
        }
    }
    Some(cursor)
}

/// FNV-1a: stable across builds and platforms, which `DefaultHasher` does not promise.
pub fn fingerprint(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks a page fetched at `cursor` against what earlier pages promised and returns the
/// cursor of the next page, or None after the last. `what` names the listing; `first_key` is
/// the page's first row's identity. Every refusal means the rows cannot be trusted to be
/// complete and unique, so the listing stops rather than report them as a full sync.
pub fn next(
    what: &str,
    cursor: &Cursor,
    rows: usize,
    total: u64,
    first_key: Option<&str>,
) -> Result<Option<Cursor>> {
    let offset = cursor.offset;
    if let Some(promised) = cursor.total {
        if promised != total {
            return Err(Error::Conflict(format!(
                "{what}: the directory changed during the sync (total_entries was {promised} on \
                 the first page and is {total} at offset {offset}); run the sync again"
            )));
        }
    }
    let first = first_key.map(fingerprint);
    if cursor.first.is_some() && cursor.first == first {
        return Err(Error::UpstreamProtocol(format!(
            "{what}: the page at offset {offset} starts with the same row as the previous page: \
             the server does not honour `offset`, so paging would never advance"
        )));
    }
    let end = offset.saturating_add(rows as u64);
    if end > total {
        return Err(Error::UpstreamProtocol(format!(
            "{what}: the page at offset {offset} has {rows} rows, more than the {total} \
             total_entries allow; the server's paging is inconsistent"
        )));
    }
    if rows == 0 {
        if offset < total {
            return Err(Error::UpstreamProtocol(format!(
                "{what}: the page at offset {offset} is empty although total_entries is {total}; \
                 the listing would be incomplete"
            )));
        }
        return Ok(None);
    }
    if end >= total {
        return Ok(None);
    }
    Ok(Some(Cursor {
        offset: end,
        total: Some(total),
        first,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64, total: Option<u64>, first: Option<&str>) -> Cursor {
        Cursor {
            offset,
            total,
            first: first.map(fingerprint),
        }
    }

    #[test]
    fn round_trip_and_first_page() {
        assert_eq!(decode(None).unwrap(), Cursor::default());
        for c in [at(300, None, None), at(100, Some(271), Some("user0"))] {
            assert_eq!(decode(Some(&encode(&c))).unwrap(), c);
        }
        assert_eq!(decode(Some("offset:100")).unwrap(), at(100, None, None));
    }

    #[test]
    fn foreign_tokens_are_invalid_arguments() {
        for t in [
            "",
            "300",
            "offset:",
            "offset:-1",
            "offset:x",
            "cursor:3",
            "offset:1:total",
            "offset:1:total:x",
            "offset:1:total:2:total:3",
            "offset:1:first:zz",
            "offset:1:other:2",
        ] {
            assert!(
                matches!(decode(Some(t)), Err(Error::InvalidArgument(_))),
                "{t}"
            );
        }
    }

    #[test]
    fn pages_advance_by_rows_received_and_stop_at_the_total() {
        let c = next("x", &Cursor::default(), 100, 271, Some("a")).unwrap();
        assert_eq!(c, Some(at(100, Some(271), Some("a"))));
        let c = next("x", &c.unwrap(), 100, 271, Some("b"))
            .unwrap()
            .unwrap();
        assert_eq!(c.offset, 200);
        assert_eq!(next("x", &c, 71, 271, Some("c")).unwrap(), None);
        assert_eq!(next("x", &Cursor::default(), 0, 0, None).unwrap(), None);
    }

    #[test]
    fn a_changed_total_is_a_conflict() {
        let err = next(
            "listing users",
            &at(100, Some(271), Some("a")),
            100,
            272,
            Some("b"),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("271") && m.contains("272") && m.contains("run the sync again")),
            "{err:?}"
        );
    }

    #[test]
    fn a_repeated_page_an_empty_page_and_too_many_rows_are_protocol_errors() {
        let repeated = next("x", &at(100, Some(300), Some("a")), 100, 300, Some("a"));
        assert!(
            matches!(repeated, Err(Error::UpstreamProtocol(ref m)) if m.contains("does not honour `offset`")),
            "{repeated:?}"
        );
        let empty = next("x", &at(100, Some(300), Some("a")), 0, 300, None);
        assert!(
            matches!(empty, Err(Error::UpstreamProtocol(ref m)) if m.contains("empty")),
            "{empty:?}"
        );
        let over = next("x", &at(200, Some(250), Some("a")), 100, 250, Some("b"));
        assert!(
            matches!(over, Err(Error::UpstreamProtocol(ref m)) if m.contains("more than")),
            "{over:?}"
        );
    }
}
