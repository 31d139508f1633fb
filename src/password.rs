//! Passwords for new accounts, from the host's random source (WASI `random` in the component).

use crate::error::{Error, Result};

const LENGTH: usize = 24;
const CLASSES: [&[u8]; 4] = [
    b"ABCDEFGHJKLMNPQRSTUVWXYZ",
    b"abcdefghijkmnopqrstuvwxyz",
    b"23456789",
    b"!#%+-.:=?@^_~",
];

/// A `LENGTH`-character password with at least one character of every class. `fill` supplies
/// random bytes; rejection sampling keeps every character equally likely.
pub fn generate(mut fill: impl FnMut(&mut [u8]) -> Result<()>) -> Result<String> {
    let alphabet: Vec<u8> = CLASSES.concat();
    // Largest multiple of the alphabet size that fits a byte: bytes above it would bias.
    let limit = (256 / alphabet.len() * alphabet.len()) as u16;
    for _ in 0..32 {
        let mut out = Vec::with_capacity(LENGTH);
        let mut buf = [0u8; 64];
        while out.len() < LENGTH {
            fill(&mut buf)?;
            for &b in &buf {
                if u16::from(b) < limit && out.len() < LENGTH {
                    if let Some(&c) = alphabet.get(usize::from(b) % alphabet.len()) {
                        out.push(c);
                    }
                }
            }
        }
        if CLASSES
            .iter()
            .all(|class| out.iter().any(|c| class.contains(c)))
        {
            return String::from_utf8(out)
                .map_err(|_| Error::Unavailable("generated password was not ASCII".into()));
        }
    }
    Err(Error::Unavailable(
        "the random source kept producing passwords without every character class".into(),
    ))
}

/// The system random source: WASI `random` in the component, the OS natively.
pub fn system_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Unavailable(format!("no random source: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_mix_every_class() {
        for _ in 0..200 {
            let p = generate(system_random).unwrap();
            assert_eq!(p.len(), LENGTH);
            for class in CLASSES {
                assert!(p.bytes().any(|c| class.contains(&c)), "{p}");
            }
        }
        assert_ne!(
            generate(system_random).unwrap(),
            generate(system_random).unwrap()
        );
    }

    #[test]
    fn a_broken_random_source_is_an_error_not_a_weak_password() {
        let constant = |buf: &mut [u8]| {
            buf.fill(0);
            Ok(())
        };
        assert!(generate(constant).is_err());
        let failing = |_: &mut [u8]| Err(Error::Unavailable("x".into()));
        assert!(generate(failing).is_err());
    }
}
