//! Tokens for the "I have cleaned my computer" form.
//!
//! A token is the time it was made and an HMAC-SHA256 over that time and the
//! caller's address, under a random key made when the portal starts. No state
//! is kept: a token proves that this portal showed this form to this address
//! recently, so another site cannot make a visitor's browser press the button,
//! and a token copied to another connection is worthless. A restart changes
//! the key; the refusal page then carries a fresh form, so one more press works.

use std::net::IpAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a shown form stays valid: long enough to read the page and clean
/// a computer with it open, short enough that an old token is useless.
pub const TOKEN_LIFETIME_S: i64 = 6 * 3600;

/// Signs and checks form tokens.
#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf { key: <secret> }")
    }
}

/// Why a token was refused (for the log; the visitor sees one plain answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or not of our shape.
    Malformed,
    /// Made for another address or under another key.
    BadSignature,
    /// Older than [`TOKEN_LIFETIME_S`] or from the future.
    Expired,
}

impl Csrf {
    /// A signer with a fresh random key.
    pub fn random() -> std::io::Result<Csrf> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(std::io::Error::other)?;
        Ok(Csrf { key })
    }

    /// A signer with a known key (tests).
    pub fn with_key(key: [u8; 32]) -> Csrf {
        Csrf { key }
    }

    fn mac(&self, peer: IpAddr, issued: i64) -> Hmac<Sha256> {
        // A 32-byte key is always accepted by HMAC; the fallback is unreachable.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(b"cordon-portal self-release\0");
        mac.update(peer.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(&issued.to_be_bytes());
        mac
    }

    /// A token for `peer` at `now` (Unix seconds): `ISSUED.HEXMAC`.
    pub fn issue(&self, peer: IpAddr, now: i64) -> String {
        let tag = self.mac(peer, now).finalize().into_bytes();
        let mut out = format!("{now}.");
        for b in tag.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Checks a token from `peer` at `now`.
    pub fn verify(&self, token: &str, peer: IpAddr, now: i64) -> Result<(), Refusal> {
        let (issued, hex) = token.split_once('.').ok_or(Refusal::Malformed)?;
        let issued: i64 = issued.parse().map_err(|_| Refusal::Malformed)?;
        let tag = decode_hex(hex).ok_or(Refusal::Malformed)?;
        // Compare in constant time before looking at the clock, so timing
        // tells an attacker nothing about the key.
        self.mac(peer, issued)
            .verify_slice(&tag)
            .map_err(|_| Refusal::BadSignature)?;
        let age = now.saturating_sub(issued);
        if !(-60..=TOKEN_LIFETIME_S).contains(&age) {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_token_is_good_for_its_address_and_time() {
        let c = Csrf::with_key([7; 32]);
        let me: IpAddr = "100.64.1.7".parse().unwrap();
        let t = c.issue(me, NOW);
        assert_eq!(c.verify(&t, me, NOW + 60), Ok(()));
        let other: IpAddr = "100.64.1.8".parse().unwrap();
        assert_eq!(c.verify(&t, other, NOW), Err(Refusal::BadSignature));
        assert_eq!(
            c.verify(&t, me, NOW + TOKEN_LIFETIME_S + 1),
            Err(Refusal::Expired)
        );
        let another_key = Csrf::with_key([8; 32]);
        assert_eq!(another_key.verify(&t, me, NOW), Err(Refusal::BadSignature));
    }

    #[test]
    fn junk_tokens_are_refused() {
        let c = Csrf::random().unwrap();
        let me: IpAddr = "2001:db8::1".parse().unwrap();
        for junk in ["", ".", "x.y", "1.zz", "1.00", &"1.".repeat(40), "é.é"] {
            assert_eq!(c.verify(junk, me, NOW), Err(Refusal::Malformed), "{junk}");
        }
        // A forged time with the original MAC fails the signature.
        let t = c.issue(me, NOW);
        let forged = t.replacen(&NOW.to_string(), &(NOW + 5).to_string(), 1);
        assert_eq!(c.verify(&forged, me, NOW), Err(Refusal::BadSignature));
    }
}
