//! Passwords: argon2id hashing and verification.

use std::fmt;

use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use thiserror::Error;
use zeroize::Zeroizing;

/// A password in memory: wiped on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(text: String) -> Password {
        Password(Zeroizing::new(text))
    }

    /// The text, for hashing or comparing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommendation: m = 19 MiB, t = 2, p = 1.
    fn default() -> Argon2Params {
        Argon2Params {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A hashing failure (bad parameters); never carries the password.
#[derive(Debug, Clone, Error)]
#[error("argon2: {0}")]
pub struct PasswordError(String);

/// Hashes and verifies passwords with argon2id.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    dummy: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.argon2.params())
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher with these parameters; refuses parameters argon2 rejects.
    pub fn new(params: Argon2Params) -> Result<PasswordHasher, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2
            .hash_password(b"tessera-dummy-password", &salt)
            .map_err(|e| PasswordError(e.to_string()))?
            .to_string();
        Ok(PasswordHasher { argon2, dummy })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError(e.to_string()))
    }

    /// Whether `password` matches the PHC string `phc`. The parameters stored in `phc` are used,
    /// so hashes made with older costs keep verifying. A malformed `phc` never matches.
    pub fn verify(&self, phc: &str, password: &Password) -> bool {
        match PasswordHash::new(phc) {
            Ok(hash) => self
                .argon2
                .verify_password(password.expose().as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the same work as [`PasswordHasher::verify`] against a hash nobody knows the password
    /// of, so an unknown account costs what a wrong password costs. Always false.
    pub fn verify_dummy(&self, password: &Password) -> bool {
        std::hint::black_box(self.verify(&self.dummy, password));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_verify_and_are_argon2id_with_fresh_salt() {
        let hasher = cheap();
        let password = Password::new("correct horse battery".into());
        let a = hasher.hash(&password).unwrap();
        let b = hasher.hash(&password).unwrap();
        assert!(a.starts_with("$argon2id$v=19$"));
        assert_ne!(a, b);
        assert!(hasher.verify(&a, &password));
        assert!(!hasher.verify(&a, &Password::new("correct horse batterY".into())));
        assert!(!hasher.verify("not a hash", &password));
        assert!(!hasher.verify_dummy(&password));
        assert!(!hasher.verify_dummy(&Password::new("tessera-dummy-password".into())));
    }

    #[test]
    fn default_params_are_owasp() {
        assert_eq!(Argon2Params::default().memory_kib, 19_456);
        assert!(PasswordHasher::new(Argon2Params {
            memory_kib: 1,
            iterations: 0,
            parallelism: 1
        })
        .is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2".into())),
            "Password(…)"
        );
    }
}
