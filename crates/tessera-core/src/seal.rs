//! Sealing secrets at rest (TOTP seeds) with a key from config, never from the database:
//! XChaCha20-Poly1305 with a random nonce stored in front of the ciphertext.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    XChaCha20Poly1305, XNonce,
};
use thiserror::Error;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// A 256-bit sealing key. `Debug` never shows it.
#[derive(Clone)]
pub struct SealingKey(Zeroizing<[u8; 32]>);

/// Why a key or a sealed value was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SealError {
    /// The key text is not base64 of 32 bytes.
    #[error("the key must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// Wrong key, or the value was altered.
    #[error("the sealed value does not open with this key")]
    Tampered,
}

impl SealingKey {
    /// A fresh random key.
    pub fn generate() -> SealingKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        SealingKey(bytes)
    }

    /// From base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<SealingKey, SealError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| SealError::BadKey)?,
        );
        let mut bytes = Zeroizing::new([0u8; 32]);
        if decoded.len() != 32 {
            return Err(SealError::BadKey);
        }
        bytes.copy_from_slice(&decoded);
        Ok(SealingKey(bytes))
    }

    /// Base64, for writing the key to a file of the operator's.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(*self.0)
    }

    /// Encrypts and authenticates `plain`.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a value made by [`SealingKey::seal`] with this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Tampered)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_detect_tampering() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"seed bytes");
        assert_eq!(key.open(&sealed).unwrap().as_slice(), b"seed bytes");
        assert_ne!(key.seal(b"seed bytes"), sealed, "nonces are fresh");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&altered), Err(SealError::Tampered));
        assert_eq!(
            SealingKey::generate().open(&sealed),
            Err(SealError::Tampered)
        );
        assert_eq!(key.open(&[1, 2]), Err(SealError::Tampered));
    }

    #[test]
    fn keys_round_trip_through_base64_and_bad_keys_are_refused() {
        let key = SealingKey::generate();
        let again = SealingKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.open(&key.seal(b"x")).unwrap().as_slice(), b"x");
        assert_eq!(
            SealingKey::from_base64("c2hvcnQ=").unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(
            SealingKey::from_base64("%%%").unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(format!("{key:?}"), "SealingKey(…)");
    }
}
