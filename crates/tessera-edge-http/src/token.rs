//! A presented token and the syntax every token must have, wherever it came from (header, cookie,
//! query parameter). It sits below [`crate::credentials`] and [`crate::cookie`], which both read
//! tokens.

use std::sync::Arc;

use zeroize::Zeroizing;

use tessera_proto::bounds;

/// A token presented by a client; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<Zeroizing<String>>);

impl Token {
    /// Wraps a token.
    pub fn new(value: String) -> Self {
        Self(Arc::new(Zeroizing::new(value)))
    }

    /// The token itself, for the call that sends it to Tessera.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(****)")
    }
}

/// Checks that `token` could be a token: 1 to [`bounds::TOKEN`] (the contract's bound) visible ASCII characters, none of
/// them a quote, backslash, comma or semicolon (which no token has and headers and cookies give
/// meaning to).
pub fn check_token_syntax(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("empty token");
    }
    if token.len() > bounds::TOKEN {
        return Err("token too long");
    }
    if token.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err("token contains spaces");
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b',' | b';'))
    {
        return Err("token contains characters no token has");
    }
    Ok(())
}
