//! Namespaces: which identifiers a token may touch.
//!
//! `*` allows everything. Any other namespace is a prefix: `deploy.` allows `deploy.daily` and
//! `deploy.` itself, not `backup.x` and not `deploy`.

use std::fmt;

use thiserror::Error;

/// The longest namespace or identifier accepted.
pub const MAX_LEN: usize = 512;

/// A token's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Every identifier.
    All,
    /// Identifiers starting with this prefix.
    Prefix(String),
}

/// Why a namespace or identifier was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum NameError {
    /// Empty.
    #[error("must not be empty (use * for every identifier)")]
    Empty,
    /// Too long.
    #[error("is longer than {MAX_LEN} bytes")]
    TooLong,
    /// Whitespace or a control character inside.
    #[error("must not contain whitespace or control characters")]
    BadCharacter,
}

impl Namespace {
    /// Parses a namespace: `*`, or a non-empty prefix without whitespace or control characters.
    pub fn parse(text: &str) -> Result<Namespace, NameError> {
        if text == "*" {
            return Ok(Namespace::All);
        }
        validate_identifier(text)?;
        Ok(Namespace::Prefix(text.to_owned()))
    }

    /// The text form (`*` or the prefix).
    pub fn as_str(&self) -> &str {
        match self {
            Namespace::All => "*",
            Namespace::Prefix(prefix) => prefix,
        }
    }

    /// Whether `identifier` lies in this namespace.
    pub fn allows(&self, identifier: &str) -> bool {
        match self {
            Namespace::All => true,
            Namespace::Prefix(prefix) => identifier.starts_with(prefix.as_str()),
        }
    }

    /// Whether every identifier `other` allows is also allowed here (a child may narrow only).
    pub fn contains(&self, other: &Namespace) -> bool {
        match (self, other) {
            (Namespace::All, _) => true,
            (Namespace::Prefix(_), Namespace::All) => false,
            (Namespace::Prefix(mine), Namespace::Prefix(theirs)) => {
                theirs.starts_with(mine.as_str())
            }
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an identifier presented to CheckNamespace: non-empty, at most [`MAX_LEN`] bytes, no
/// whitespace or control characters (which could smuggle a second command into a line protocol).
pub fn validate_identifier(identifier: &str) -> Result<(), NameError> {
    if identifier.is_empty() {
        return Err(NameError::Empty);
    }
    if identifier.len() > MAX_LEN {
        return Err(NameError::TooLong);
    }
    if identifier
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(NameError::BadCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rules_match_the_design() {
        let ns = Namespace::parse("deploy.").unwrap();
        assert!(ns.allows("deploy.daily"));
        assert!(ns.allows("deploy."));
        assert!(!ns.allows("deploy"));
        assert!(!ns.allows("backup.x"));
        assert!(Namespace::parse("*").unwrap().allows("anything"));
    }

    #[test]
    fn containment_only_narrows() {
        let all = Namespace::All;
        let deploy = Namespace::parse("deploy.").unwrap();
        let daily = Namespace::parse("deploy.daily").unwrap();
        assert!(all.contains(&deploy));
        assert!(deploy.contains(&daily));
        assert!(deploy.contains(&deploy));
        assert!(!daily.contains(&deploy));
        assert!(!deploy.contains(&all));
        assert!(!deploy.contains(&Namespace::parse("backup.").unwrap()));
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(Namespace::parse(""), Err(NameError::Empty));
        assert_eq!(Namespace::parse("a b"), Err(NameError::BadCharacter));
        assert_eq!(
            validate_identifier("job\r\nSET x"),
            Err(NameError::BadCharacter)
        );
        assert_eq!(
            validate_identifier("tab\there"),
            Err(NameError::BadCharacter)
        );
        assert_eq!(validate_identifier("nul\0"), Err(NameError::BadCharacter));
        assert_eq!(
            validate_identifier(&"x".repeat(MAX_LEN + 1)),
            Err(NameError::TooLong)
        );
        assert_eq!(validate_identifier("deploy.daily-1"), Ok(()));
    }
}
