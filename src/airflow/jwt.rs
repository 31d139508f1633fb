//! Reading a JWT's expiry, to renew the token before Airflow refuses it. The signature is not
//! checked: the token is Airflow's to verify, the connector only schedules its renewal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

fn claim(token: &str, name: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_u64()
}

/// The `exp` claim (seconds since the epoch), or None when the token is not a readable JWT
/// (an opaque static token, say): such a token is simply used until Airflow refuses it.
pub fn expiry(token: &str) -> Option<u64> {
    claim(token, "exp")
}

/// Renew at most this long before `exp`, so a request never leaves with a token that expires
/// in flight.
pub const RENEW_MARGIN_SECS: u64 = 30;

/// When to renew: `RENEW_MARGIN_SECS` before `exp`, or a fifth of the lifetime (`exp - iat`)
/// for short-lived tokens, so a 5-second token is not renewed before every request. None: no
/// readable expiry, never renew ahead.
pub fn renew_at(token: &str) -> Option<u64> {
    let exp = expiry(token)?;
    let margin = match claim(token, "iat") {
        Some(iat) if iat < exp => RENEW_MARGIN_SECS.min((exp - iat) / 5),
        _ => RENEW_MARGIN_SECS,
    };
    Some(exp.saturating_sub(margin))
}

pub fn needs_renewal(renew_at: Option<u64>, now: u64) -> bool {
    renew_at.is_some_and(|at| now >= at)
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
    fn renewal_starts_a_margin_before_expiry_scaled_to_short_lifetimes() {
        let day = token(r#"{"iat":1000,"exp":87400}"#);
        assert_eq!(renew_at(&day), Some(87400 - RENEW_MARGIN_SECS));
        let five_seconds = token(r#"{"iat":1000,"exp":1005}"#);
        assert_eq!(renew_at(&five_seconds), Some(1004));
        let no_iat = token(r#"{"exp":5000}"#);
        assert_eq!(renew_at(&no_iat), Some(5000 - RENEW_MARGIN_SECS));
        assert_eq!(renew_at("opaque"), None);
        assert!(!needs_renewal(Some(1004), 1003));
        assert!(needs_renewal(Some(1004), 1004));
        assert!(!needs_renewal(None, u64::MAX));
    }
}
