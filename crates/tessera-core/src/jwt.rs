//! JWTs on request: compact JWS signed with Ed25519 (`alg: EdDSA`, RFC 8037), a `kid` naming the
//! key, and a JWKS (RFC 7517) document for verifiers outside Tessera.
//!
//! Encoding, signing and signature verification are the `jsonwebtoken` crate's, with its RustCrypto
//! backend only (ed25519-dalek underneath, the same implementation that holds the keys here).
//! Tessera's rules sit on top:
//!
//! * before the library sees the token: a size bound, the algorithm exactly `EdDSA` (so `none`,
//!   and HS256 keyed with the public key, are refused before any key is touched), no `crit`
//!   header, a `kid` to look the key up by (keys embedded in the header — `jwk`, `jku`, `x5u`,
//!   … — are never used), and a signature of the right length;
//! * the library: `Validation` pinned to `EdDSA` alone, the signature checked over the bytes as
//!   received, then `iss` must be Tessera's;
//! * after it: `exp` and `nbf` against the caller's injectable clock, with Tessera's leeway (none
//!   on `exp`, [`CLOCK_SKEW_SECS`] on `nbf`/`iat`) — the library's own time checks read the
//!   system clock and are switched off.
//!
//! No I/O happens here: the server looks keys up and still checks revocation in its store.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
// The forgery tests (`jwt/tests.rs`) sign with raw keys to build tokens the library never would.
#[cfg(test)]
use ed25519_dalek::Signer as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The only algorithm Tessera signs with or accepts.
pub const ALGORITHM: &str = "EdDSA";
/// The `iss` of every Tessera JWT.
pub const ISSUER: &str = "tessera";
/// Longest text treated as a JWT; anything longer is refused unread.
pub const MAX_LEN: usize = 8 * 1024;
/// Seconds a replica whose clock runs behind the issuer's still accepts `nbf`/`iat` from the
/// future. `exp` gets no leeway: expiry is enforced to the second.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The claims of a Tessera JWT. The store's row stays the authority on what the token may do;
/// these let a verifier without database access read the same facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Always [`ISSUER`].
    pub iss: String,
    /// The account the token acts for (a UUID), when it acts for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The token's public id (a UUID), as in the store.
    pub jti: String,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry, Unix seconds. Required: Tessera never issues a JWT that lives forever.
    pub exp: i64,
    /// Namespace prefix the token may touch, or `*`.
    pub namespace: String,
    /// Permissions the token holds; `*` means all.
    pub permissions: Vec<String>,
    /// Token kind, e.g. `api` or `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Use limit the token was issued with; the store counts the uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Session the token derives from (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a JWT was refused. For logs only: callers see just "inactive".
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url segments of JSON, too long, or claims of the wrong shape.
    #[error("malformed JWT")]
    Malformed,
    /// `alg` is not `EdDSA` (e.g. `none` or `HS256`), or a `crit` header demands an extension.
    #[error("JWT algorithm or header refused")]
    AlgorithmRefused,
    /// No `kid`, or not one of Tessera's keys.
    #[error("JWT signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("JWT signature invalid")]
    BadSignature,
    /// `iss` is not Tessera.
    #[error("JWT issuer is not tessera")]
    WrongIssuer,
    /// Past `exp`.
    #[error("JWT expired")]
    Expired,
    /// Before `nbf` (or issued in the future) beyond the allowed skew.
    #[error("JWT not yet valid")]
    NotYetValid,
    /// A signing key's bytes are not an Ed25519 key.
    #[error("not an Ed25519 key")]
    BadKey,
}

/// An Ed25519 private key with its `kid`. `Debug` never shows the key; the seed's memory is wiped
/// on drop (the PKCS#8 copy `jsonwebtoken` signs with is built per signature and dropped at once).
#[derive(Clone)]
pub struct JwtSigningKey {
    kid: String,
    key: SigningKey,
}

impl JwtSigningKey {
    /// A fresh random key named `kid`.
    pub fn generate(kid: impl Into<String>) -> JwtSigningKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        JwtSigningKey {
            kid: kid.into(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// From the 32-byte seed made by [`JwtSigningKey::seed`].
    pub fn from_seed(kid: impl Into<String>, seed: &[u8]) -> Result<JwtSigningKey, JwtError> {
        let seed: &[u8; 32] = seed.try_into().map_err(|_| JwtError::BadKey)?;
        Ok(JwtSigningKey {
            kid: kid.into(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The private seed, to be sealed before it is stored anywhere.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn public_key(&self) -> JwtPublicKey {
        JwtPublicKey {
            kid: self.kid.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `claims` into a compact JWT: `header.payload.signature`, header
    /// `{"typ":"JWT","alg":"EdDSA","kid":…}`.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        // The key is a valid Ed25519 key and the claims plain data, so neither step can fail; an
        // empty string would in any case never verify.
        let Ok(der) = self.key.to_pkcs8_der() else {
            return String::new();
        };
        let key = EncodingKey::from_ed_der(der.as_bytes());
        jsonwebtoken::encode(&header, claims, &key).unwrap_or_default()
    }
}

impl fmt::Debug for JwtSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtSigningKey({}, …)", self.kid)
    }
}

/// An Ed25519 public key with its `kid`.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtPublicKey {
    kid: String,
    key: VerifyingKey,
}

impl JwtPublicKey {
    /// From the 32 raw bytes of [`JwtPublicKey::to_bytes`].
    pub fn from_bytes(kid: impl Into<String>, bytes: &[u8]) -> Result<JwtPublicKey, JwtError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| JwtError::BadKey)?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| JwtError::BadKey)?;
        if key.is_weak() {
            return Err(JwtError::BadKey);
        }
        Ok(JwtPublicKey {
            kid: kid.into(),
            key,
        })
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key as a JWK (OKP, Ed25519, `use: sig`, `alg: EdDSA`).
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.key.to_bytes()),
            kid: self.kid.clone(),
            key_use: "sig".into(),
            alg: ALGORITHM.into(),
        }
    }
}

impl fmt::Debug for JwtPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JwtPublicKey({}, {})",
            self.kid,
            URL_SAFE_NO_PAD.encode(self.key.to_bytes())
        )
    }
}

/// One JSON Web Key (RFC 7517 / RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// Key id.
    pub kid: String,
    /// Intended use: `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Algorithm: `EdDSA`.
    pub alg: String,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The set of `keys`.
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a JwtPublicKey>) -> Jwks {
        Jwks {
            keys: keys.into_iter().map(JwtPublicKey::to_jwk).collect(),
        }
    }

    /// The document as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"keys":[]}"#.into())
    }
}

/// A fresh key id: the creation date and 64 random bits, e.g. `20261130-9f3ac1d2e4b5a6c7`.
pub fn new_kid(now: OffsetDateTime) -> String {
    let mut random = [0u8; 8];
    OsRng.fill_bytes(&mut random);
    format!(
        "{:04}{:02}{:02}-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        hex::encode(random)
    )
}

/// Whether `text` has the shape of a compact JWS with a JSON header: three base64url segments,
/// the first starting `eyJ` (`{"`). Such text is judged as a JWT and nothing else.
pub fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ")
        && text.bytes().filter(|&b| b == b'.').count() == 2
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A JWT whose header has been read and accepted, not yet verified.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    kid: String,
    text: &'a str,
}

/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

impl<'a> UnverifiedJwt<'a> {
    /// Splits `text` and vets its header: `alg` must be exactly `EdDSA`, `kid` a non-empty
    /// string, `typ` (when present) `JWT`, and no `crit`; the signature must be 64 bytes.
    pub fn parse(text: &'a str) -> Result<UnverifiedJwt<'a>, JwtError> {
        if text.len() > MAX_LEN || !looks_like_jwt(text) {
            return Err(JwtError::Malformed);
        }
        let (signing_input, signature) = text.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let (header, _) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|_| JwtError::Malformed)?;
        // The library would also refuse other algorithms, but only after choosing a verifier
        // for the one named; refusing here keeps `none` and HS256 away from any key.
        if header.get("alg").and_then(|v| v.as_str()) != Some(ALGORITHM)
            || header.contains_key("crit")
        {
            return Err(JwtError::AlgorithmRefused);
        }
        if let Some(typ) = header.get("typ") {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(JwtError::Malformed);
            }
        }
        let kid = match header.get("kid").and_then(|v| v.as_str()) {
            Some(kid) if !kid.is_empty() && kid.len() <= 128 => kid.to_owned(),
            _ => return Err(JwtError::UnknownKey),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::BadSignature)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(JwtError::BadSignature);
        }
        Ok(UnverifiedJwt { kid, text })
    }

    /// The key the token claims to be signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Checks the signature with `key` (which must carry the token's `kid`), then the issuer and
    /// the time bounds at `now`, and returns the claims.
    pub fn verify(self, key: &JwtPublicKey, now: OffsetDateTime) -> Result<Claims, JwtError> {
        if key.kid != self.kid {
            return Err(JwtError::UnknownKey);
        }
        let decoding = DecodingKey::from_ed_der(&key.key.to_bytes());
        let claims = jsonwebtoken::decode::<Claims>(self.text, &decoding, &validation())
            .map_err(|error| refusal(error.kind()))?
            .claims;
        let now = now.unix_timestamp();
        if now >= claims.exp {
            return Err(JwtError::Expired);
        }
        let not_before = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
        if now + CLOCK_SKEW_SECS < not_before {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

/// What `jsonwebtoken` checks: the signature with EdDSA and nothing else, and the issuer. Time is
/// checked by the caller against its own clock.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.algorithms = vec![Algorithm::EdDSA];
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation
}

/// The library's refusal in Tessera's terms.
fn refusal(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => JwtError::AlgorithmRefused,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidEddsaKey | ErrorKind::InvalidKeyFormat => JwtError::BadKey,
        _ => JwtError::Malformed,
    }
}

/// Parses and verifies `text` with the key that `keys` returns for its `kid`.
pub fn verify(
    text: &str,
    keys: impl FnOnce(&str) -> Option<JwtPublicKey>,
    now: OffsetDateTime,
) -> Result<Claims, JwtError> {
    let jwt = UnverifiedJwt::parse(text)?;
    let key = keys(jwt.kid()).ok_or(JwtError::UnknownKey)?;
    jwt.verify(&key, now)
}

#[cfg(test)]
mod tests;
