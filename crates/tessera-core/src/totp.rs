//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits.
//!
//! The primitives — the HOTP truncation, base32 and the `otpauth://` URI — are the `totp-rs`
//! crate's. Tessera's rules sit on top: one step of clock skew either way, every candidate step
//! compared in constant time (so timing does not tell which matched), and each accepted step
//! usable once (the caller records the step [`TotpSecret::verify`] returns and passes it back).
//! Seeds are sealed at rest by [`crate::seal`] with a key from config, never by this module.

use std::fmt;

use rand::{rngs::OsRng, RngCore};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
const SEED_LEN: usize = 20;

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

    /// The generator for this seed, with an account label for the URI; `totp-rs`'s `zeroize`
    /// feature wipes its copy of the seed when it is dropped. `new_unchecked` because
    /// seeds enrolled before this crate was used may be shorter than `totp-rs`'s 128-bit minimum
    /// for new ones; new seeds are 160 bits.
    fn generator(&self, issuer: Option<&str>, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP_SECONDS.unsigned_abs(),
            self.0.to_vec(),
            issuer.map(str::to_owned),
            account.to_owned(),
        )
    }

    /// The seed in unpadded base32, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        self.generator(None, "").get_secret_base32()
    }

    /// From base32 (case and padding ignored); `None` if not base32 or empty.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let text = Zeroizing::new(text.trim().trim_end_matches('=').to_ascii_uppercase());
        let bytes = Secret::Encoded(text.to_string()).to_bytes().ok()?;
        (!bytes.is_empty()).then(|| TotpSecret::from_bytes(bytes))
    }

    /// The `otpauth://` URI an authenticator app scans (issuer and account percent-encoded; SHA1,
    /// 6 digits and 30 seconds are the URI format's defaults, so `totp-rs` leaves them out).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.generator(Some(issuer), account).get_url()
    }

    /// The step `at` falls in.
    pub fn step_of(at: OffsetDateTime) -> i64 {
        at.unix_timestamp().div_euclid(STEP_SECONDS)
    }

    /// The code for `step` (steps before 1970 have none and give an empty string, which no code
    /// matches).
    pub fn code_at(&self, step: i64) -> String {
        let Some(seconds) = u64::try_from(step)
            .ok()
            .and_then(|s| s.checked_mul(STEP_SECONDS.unsigned_abs()))
        else {
            return String::new();
        };
        self.generator(None, "").generate(seconds)
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
