//! Reading a JWT's expiry, to renew the token before Airflow refuses it. The signature is not
//! checked: the token is Airflow's to verify, the connector only schedules its renewal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The `exp` claim (seconds since the epoch), or None when the token is not a readable JWT
/// (an opaque static token, say): such a token is simply used until Airflow refuses it.
pub fn expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

/// Renew this long before `exp`, so a request never leaves with a token that expires in flight.
pub const RENEW_MARGIN_SECS: u64 = 30;

pub fn needs_renewal(expiry: Option<u64>, now: u64) -> bool {
    expiry.is_some_and(|exp| now.saturating_add(RENEW_MARGIN_SECS) >= exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!(
            "eyJhbGciOiJIUzUxMiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn reads_exp_from_a_jwt_and_nothing_from_other_tokens() {
        assert_eq!(
            expiry(&token(r#"{"sub":"1","exp":1795368000,"iat":1795281600}"#)),
            Some(1795368000)
        );
        assert_eq!(expiry(&token(r#"{"sub":"1"}"#)), None);
        for opaque in ["", "static-api-token", "a.b.c", "a.!!!.c", "[REDACTED]"] {
            assert_eq!(expiry(opaque), None, "{opaque}");
        }
    }

    #[test]
    fn renewal_starts_a_margin_before_expiry_and_never_for_unknown_expiry() {
        assert!(!needs_renewal(Some(1000), 1000 - RENEW_MARGIN_SECS - 1));
        assert!(needs_renewal(Some(1000), 1000 - RENEW_MARGIN_SECS));
        assert!(needs_renewal(Some(1000), 5000));
        assert!(!needs_renewal(None, u64::MAX));
    }
}
