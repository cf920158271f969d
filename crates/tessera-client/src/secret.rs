//! A secret (token or password) that cannot be printed by accident.

use std::sync::Arc;

use zeroize::Zeroizing;

/// A secret (token, password, TOTP seed) that never shows in `Debug` output and is wiped from
/// memory when the last clone is dropped.
///
/// ```
/// use tessera_client::Secret;
///
/// let token = Secret::new("tsr_svc_example".to_owned());
/// assert_eq!(format!("{token:?}"), "Secret(****)");
/// assert_eq!(token.expose(), "tsr_svc_example");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(Arc::new(Zeroizing::new(value)))
    }

    /// The secret itself, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}
