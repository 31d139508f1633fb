//! Page tokens: Northflank's cursor, bound to the listing it came from.
//!
//! `nf1:<listing>:<seen>:<cursor>`: `listing` names what is being read (`members`, `roles`,
//! `role=<id>`, `group=<id>`), so a token passed back to another listing is refused rather
//! than read as a page of the wrong thing; `seen` counts the rows reported before it (it
//! numbers directory users without id, name or e-mail); `cursor` is Northflank's, verbatim.
//! The cursor comes last, so whatever it holds needs no escaping here.

use connector_sdk::error::{Error, Result};

const PREFIX: &str = "nf1:";
/// Longer cursors are not Northflank's: a token is refused rather than sent on.
const MAX_CURSOR: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub seen: u64,
    pub cursor: String,
}

pub fn encode(listing: &str, seen: u64, cursor: &str) -> String {
    format!("{PREFIX}{listing}:{seen}:{cursor}")
}

/// None (first page) is None; anything not issued by `encode` for this listing is refused.
pub fn decode(listing: &str, token: Option<&str>) -> Result<Option<Position>> {
    let Some(token) = token else {
        return Ok(None);
    };
    parse(listing, token).map(Some).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "page token `{}` was not issued by this connector for {}; pass back the \
             `next-page-token` of the previous page, or none for the first page",
            token.chars().take(40).collect::<String>(),
            describe(listing)
        ))
    })
}

fn parse(listing: &str, token: &str) -> Option<Position> {
    let rest = token
        .strip_prefix(PREFIX)?
        .strip_prefix(listing)?
        .strip_prefix(':')?;
    let (seen, cursor) = rest.split_once(':')?;
    let seen = seen.parse::<u64>().ok()?;
    let valid = !cursor.is_empty()
        && cursor.len() <= MAX_CURSOR
        && cursor.chars().all(|c| c.is_ascii_graphic());
    valid.then(|| Position {
        seen,
        cursor: cursor.to_string(),
    })
}

fn describe(listing: &str) -> String {
    match listing.split_once('=') {
        Some(("role", id)) => format!("the members of role `{id}`"),
        Some(("group", id)) => format!("the members of directory group `{id}`"),
        _ => format!("the {listing} listing"),
    }
}

pub const MEMBERS: &str = "members";
pub const ROLES: &str = "roles";

pub fn role_listing(role: &str) -> String {
    format!("role={role}")
}

pub fn group_listing(group: &str) -> String {
    format!("group={group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_with_any_cursor() {
        for cursor in ["abc", "eyJ0:x/y+z==", "a:b:c"] {
            let t = encode("role=dev", 200, cursor);
            assert_eq!(
                decode("role=dev", Some(&t)),
                Ok(Some(Position {
                    seen: 200,
                    cursor: cursor.into()
                }))
            );
        }
        assert_eq!(decode(MEMBERS, None), Ok(None));
    }

    #[test]
    fn garbage_and_other_listings_tokens_are_invalid_arguments() {
        let roles = encode(ROLES, 100, "c1");
        let role_a = encode(&role_listing("a"), 100, "c1");
        for (listing, token) in [
            (MEMBERS, "garbage"),
            (MEMBERS, "nf1:members:x:c"),
            (MEMBERS, "nf1:members:1:"),
            (MEMBERS, "nf1:members:1:has space"),
            (MEMBERS, roles.as_str()),
            ("role=ab", role_a.as_str()),
            ("role=b", role_a.as_str()),
        ] {
            match decode(listing, Some(token)) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("next-page-token"), "{m}"),
                other => panic!("{listing} {token}: {other:?}"),
            }
        }
        let long = encode(MEMBERS, 1, &"c".repeat(MAX_CURSOR + 1));
        assert!(decode(MEMBERS, Some(&long)).is_err());
    }
}
