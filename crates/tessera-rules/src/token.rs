//! The opaque token format and its hash.
//!
//! Grammar: `tsr_<kind>_<body><check>` where `<kind>` is one of `ses elv api svc sta mst`,
//! `<body>` is 43 base62 characters of randomness (256 bits) and `<check>` is the CRC-32 of
//! everything before it, written as 6 base62 characters. The checksum lets Tessera and secret
//! scanners recognise a typo or a random string without a database read; it is not a secret.

use std::{fmt, str::FromStr};

use rand::{rngs::OsRng, Rng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// The prefix every Tessera token starts with.
pub const PREFIX: &str = "tsr_";
/// Prefix of every master token. An operator-chosen one (`tessera token set`) has this prefix but
/// no checksum, so a checksum failure under this prefix is not a typo.
pub const MASTER_PREFIX: &str = "tsr_mst_";
/// Characters of randomness in a token.
pub const BODY_LEN: usize = 43;
/// Characters of checksum in a token.
pub const CHECK_LEN: usize = 6;
/// Total length of a Tessera token: `tsr_` + kind (3) + `_` + body + checksum.
pub const TOKEN_LEN: usize = PREFIX.len() + 4 + BODY_LEN + CHECK_LEN;
/// A regular expression matching Tessera tokens, for secret scanners.
pub const TOKEN_REGEX: &str = r"\btsr_(ses|elv|api|svc|sta|mst)_[0-9A-Za-z]{49}\b";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenKind {
    /// A login session.
    Session,
    /// A short-lived elevated child of a session (Unlock).
    Elevated,
    /// A bearer token issued by IssueToken.
    #[default]
    Api,
    /// A least-privileged token for a background service.
    Service,
    /// A token loaded from the static tokens file.
    Static,
    /// The master token.
    Master,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 6] = [
        TokenKind::Session,
        TokenKind::Elevated,
        TokenKind::Api,
        TokenKind::Service,
        TokenKind::Static,
        TokenKind::Master,
    ];

    /// The three letters in the token text.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "ses",
            TokenKind::Elevated => "elv",
            TokenKind::Api => "api",
            TokenKind::Service => "svc",
            TokenKind::Static => "sta",
            TokenKind::Master => "mst",
        }
    }

    /// The name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Elevated => "elevated",
            TokenKind::Api => "api",
            TokenKind::Service => "service",
            TokenKind::Static => "static",
            TokenKind::Master => "master",
        }
    }

    fn from_prefix(prefix: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.prefix() == prefix)
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown token kind name.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error(
    "unknown token kind {0:?} (expected one of session, elevated, api, service, static, master)"
)]
pub struct UnknownKind(pub String);

impl FromStr for TokenKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<TokenKind, UnknownKind> {
        TokenKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.chars().take(32).collect()))
    }
}

/// Why a string is not a well-formed Tessera token. Never carries the string itself.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum TokenFormatError {
    /// It does not start with `tsr_`: perhaps a static or foreign secret.
    #[error("not a Tessera token (no tsr_ prefix)")]
    NotTessera,
    /// The kind letters are not known.
    #[error("unknown token kind")]
    UnknownKind,
    /// Wrong length.
    #[error("wrong token length")]
    BadLength,
    /// A character outside base62.
    #[error("token contains a character outside [0-9A-Za-z]")]
    BadCharacter,
    /// The checksum does not match: a typo or a made-up token.
    #[error("token checksum does not match")]
    BadChecksum,
}

/// Checks the grammar and checksum of `text`, without any database read.
pub fn check_format(text: &str) -> Result<TokenKind, TokenFormatError> {
    let rest = text
        .strip_prefix(PREFIX)
        .ok_or(TokenFormatError::NotTessera)?;
    let (kind, tail) = rest
        .split_at_checked(3)
        .ok_or(TokenFormatError::BadLength)?;
    let kind = TokenKind::from_prefix(kind).ok_or(TokenFormatError::UnknownKind)?;
    if text.len() != TOKEN_LEN {
        return Err(TokenFormatError::BadLength);
    }
    let tail = tail
        .strip_prefix('_')
        .ok_or(TokenFormatError::BadCharacter)?;
    if !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenFormatError::BadCharacter);
    }
    let split = text.len() - CHECK_LEN;
    let expected = encode_check(crc32(&text.as_bytes()[..split]));
    if bool::from(expected.as_slice().ct_eq(&text.as_bytes()[split..])) {
        Ok(kind)
    } else {
        Err(TokenFormatError::BadChecksum)
    }
}

/// A token secret. Its `Debug` never shows the secret, and its memory is wiped on drop.
#[derive(Clone)]
pub struct TokenSecret(Zeroizing<String>);

impl TokenSecret {
    /// Mints a fresh token of `kind` from the operating system's random source.
    pub fn generate(kind: TokenKind) -> TokenSecret {
        let mut text = String::with_capacity(TOKEN_LEN);
        text.push_str(PREFIX);
        text.push_str(kind.prefix());
        text.push('_');
        let mut rng = OsRng;
        for _ in 0..BODY_LEN {
            // 62 * 4 = 248: rejecting bytes at or above it keeps every character equally likely.
            let byte = loop {
                let b: u8 = rng.gen();
                if b < 248 {
                    break b;
                }
            };
            text.push(BASE62[usize::from(byte % 62)] as char);
        }
        let check = encode_check(crc32(text.as_bytes()));
        text.push_str(std::str::from_utf8(&check).unwrap_or_default());
        TokenSecret(Zeroizing::new(text))
    }

    /// Wraps a secret received from a client or a file, unchecked.
    pub fn from_string(text: String) -> TokenSecret {
        TokenSecret(Zeroizing::new(text))
    }

    /// The secret text; show it only to its owner, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash stored in place of the secret.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match check_format(&self.0) {
            Ok(kind) => write!(f, "TokenSecret(tsr_{}_…)", kind.prefix()),
            Err(_) => f.write_str("TokenSecret(…)"),
        }
    }
}

/// The SHA-256 of a token's text: the only form in which a token is stored or cached.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a secret.
    pub fn of(secret: &str) -> TokenHash {
        TokenHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From 32 raw bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<TokenHash> {
        bytes.try_into().ok().map(TokenHash)
    }

    /// Lowercase hex, as published on the revocation feed.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From 64 hex digits.
    pub fn from_hex(text: &str) -> Option<TokenHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(TokenHash(bytes))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

fn encode_check(mut value: u32) -> [u8; CHECK_LEN] {
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc = CRC32_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    !crc
}

/// CRC-32 (IEEE, reflected) of every byte value, so a token's check costs one lookup per byte
/// instead of eight shifts: every call checks two tokens (the caller's and the one asked about).
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut value = 0;
    while value < 256 {
        let mut crc = value as u32;
        let mut bit = 0;
        while bit < 8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            bit += 1;
        }
        table[value] = crc;
        value += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_crc32_table_agrees_with_the_bitwise_definition() {
        fn bitwise(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &byte in bytes {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    let mask = (crc & 1).wrapping_neg();
                    crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
                }
            }
            !crc
        }
        let every_byte: Vec<u8> = (0..=255).collect();
        assert_eq!(crc32(&every_byte), bitwise(&every_byte));
        for len in 0..64 {
            let slice = &every_byte[len..len * 3];
            assert_eq!(crc32(slice), bitwise(slice), "length {}", slice.len());
        }
    }

    #[test]
    fn generated_tokens_have_the_published_shape_and_pass_their_check() {
        for kind in TokenKind::ALL {
            let token = TokenSecret::generate(kind);
            let text = token.expose();
            assert_eq!(text.len(), TOKEN_LEN);
            assert!(text.starts_with(&format!("tsr_{}_", kind.prefix())));
            assert_eq!(check_format(text), Ok(kind));
        }
    }

    #[test]
    fn tokens_differ() {
        let a = TokenSecret::generate(TokenKind::Api);
        let b = TokenSecret::generate(TokenKind::Api);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let token = TokenSecret::generate(TokenKind::Service);
        let text = token.expose().to_owned();
        for i in 8..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert_eq!(
                check_format(&typo),
                Err(TokenFormatError::BadChecksum),
                "position {i}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_named() {
        let good = TokenSecret::generate(TokenKind::Api).expose().to_owned();
        assert_eq!(check_format("hunter2"), Err(TokenFormatError::NotTessera));
        assert_eq!(
            check_format(&good.replace("tsr_api", "tsr_xyz")),
            Err(TokenFormatError::UnknownKind)
        );
        assert_eq!(
            check_format(&good[..good.len() - 1]),
            Err(TokenFormatError::BadLength)
        );
        assert_eq!(check_format("tsr_a"), Err(TokenFormatError::BadLength));
        let mut bad = good.clone().into_bytes();
        bad[20] = b'-';
        assert_eq!(
            check_format(&String::from_utf8(bad).unwrap()),
            Err(TokenFormatError::BadCharacter)
        );
        assert_eq!(check_format("tsr_apié"), Err(TokenFormatError::BadLength));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = TokenSecret::generate(TokenKind::Session);
        let shown = format!("{token:?} {:?}", token.hash());
        assert!(!shown.contains(&token.expose()[8..]));
        assert!(shown.contains("tsr_ses_"));
    }

    #[test]
    fn hash_round_trips_through_hex_and_bytes() {
        let hash = TokenHash::of("tsr_api_x");
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(TokenHash::from_slice(hash.as_bytes()), Some(hash));
        assert_eq!(TokenHash::from_slice(&[0; 31]), None);
        assert_eq!(TokenHash::from_hex("zz"), None);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in TokenKind::ALL {
            assert_eq!(kind.as_str().parse::<TokenKind>(), Ok(kind));
        }
        assert!("root".parse::<TokenKind>().is_err());
    }
}
