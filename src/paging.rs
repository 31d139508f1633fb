//! Page tokens. Opaque to the host; here simply the offset of the next page.

use crate::error::{Error, Result};

const PREFIX: &str = "offset:";

pub fn encode(offset: u64) -> String {
    format!("{PREFIX}{offset}")
}

/// None (first page) is offset 0; anything not produced by `encode` is refused.
pub fn decode(token: Option<&str>) -> Result<u64> {
    let Some(token) = token else { return Ok(0) };
    token
        .strip_prefix(PREFIX)
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "page token `{}` was not issued by this connector; pass back the \
                 `next-page-token` of the previous page, or none for the first page",
                token.chars().take(40).collect::<String>()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_first_page() {
        assert_eq!(decode(None).unwrap(), 0);
        assert_eq!(decode(Some(&encode(300))).unwrap(), 300);
    }

    #[test]
    fn foreign_tokens_are_invalid_arguments() {
        for t in ["", "300", "offset:", "offset:-1", "offset:x", "cursor:3"] {
            assert!(
                matches!(decode(Some(t)), Err(Error::InvalidArgument(_))),
                "{t}"
            );
        }
    }
}
