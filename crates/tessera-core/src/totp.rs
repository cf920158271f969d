//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, one step of
//! clock skew either way, and each accepted step usable once.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, RngCore};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
const SEED_LEN: usize = 20;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP seed. `Debug` never shows it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A fresh 160-bit seed.
    pub fn generate() -> TotpSecret {
        let mut seed = Zeroizing::new(vec![0u8; SEED_LEN]);
        OsRng.fill_bytes(&mut seed);
        TotpSecret(seed)
    }

    /// From raw seed bytes (as unsealed from the database).
    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(Zeroizing::new(bytes))
    }

    /// The raw seed, for sealing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The seed in unpadded base32, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        let mut out = String::new();
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &byte in self.0.iter() {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// From base32 (case and padding ignored); `None` if not base32 or empty.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.trim().trim_end_matches('=').bytes() {
            let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())? as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        (!out.is_empty()).then(|| TotpSecret::from_bytes(out))
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            percent(issuer),
            percent(account),
            self.to_base32(),
            percent(issuer),
        )
    }

    /// The step `at` falls in.
    pub fn step_of(at: OffsetDateTime) -> i64 {
        at.unix_timestamp().div_euclid(STEP_SECONDS)
    }

    /// The code for `step`.
    pub fn code_at(&self, step: i64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let value = u32::from_be_bytes([
            digest[offset],
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]) & 0x7fff_ffff;
        format!(
            "{:0width$}",
            value % 10u32.pow(DIGITS as u32),
            width = DIGITS
        )
    }

    /// Checks `code` at `now`, allowing one step of skew either way, and only steps newer than
    /// `last_step` (a code is accepted once). Returns the matching step to record.
    pub fn verify(&self, code: &str, now: OffsetDateTime, last_step: Option<i64>) -> Option<i64> {
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = TotpSecret::step_of(now);
        let mut found = None;
        // Compare against every candidate, so timing does not tell which step matched.
        for step in [current - 1, current, current + 1] {
            let matches = bool::from(self.code_at(step).as_bytes().ct_eq(code.as_bytes()));
            if matches && last_step.is_none_or(|last| step > last) {
                found = Some(step);
            }
        }
        found
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn matches_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B gives 8 digits; the last six are the 6-digit codes.
        let secret = rfc_secret();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(
                secret.code_at(TotpSecret::step_of(at(time))),
                code,
                "t={time}"
            );
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_never_a_step_twice() {
        let secret = TotpSecret::generate();
        let now = at(1_800_000_000);
        let step = TotpSecret::step_of(now);
        assert_eq!(
            secret.verify(&secret.code_at(step - 1), now, None),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code_at(step + 1), now, None),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&secret.code_at(step - 2), now, None), None);
        assert_eq!(secret.verify(&secret.code_at(step), now, Some(step)), None);
        assert_eq!(
            secret.verify(&secret.code_at(step), now, Some(step - 1)),
            Some(step)
        );
        assert_eq!(secret.verify("12345", now, None), None);
        assert_eq!(secret.verify("abcdef", now, None), None);
    }

    #[test]
    fn base32_round_trips_and_uri_names_issuer_and_account() {
        let secret = rfc_secret();
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = TotpSecret::from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").unwrap();
        assert_eq!(back.as_bytes(), secret.as_bytes());
        assert!(TotpSecret::from_base32("1!").is_none());
        let uri = secret.otpauth_uri("Tessera", "alice@example.com");
        assert!(uri.starts_with("otpauth://totp/Tessera:alice%40example.com?secret=GEZDGNBV"));
        assert_eq!(format!("{secret:?}"), "TotpSecret(…)");
    }
}
