//! Namespaces: which identifiers a token may touch.
//!
//! A namespace is one of three things, told apart by its last character:
//!
//! * `*`: every identifier;
//! * a **prefix**, ending in a separator (`.`, `/` or `:`): `deploy.` allows `deploy.daily` and
//!   `deploy.` itself, not `backup.x` and not `deploy`;
//! * an **exact name**, anything else: `deploy` allows `deploy` only (never `deployment.prod`,
//!   which a bare prefix used to let through).
//!
//! A `*` anywhere but alone is refused (`deploy.*` is not a glob; write `deploy.`). Names and
//! identifiers are compared byte for byte and never normalised; whitespace, control characters and
//! Unicode format characters (bidi controls, zero-width characters) are refused in both.

use std::fmt;

use thiserror::Error;

use crate::text;

/// The longest namespace or identifier accepted.
pub const MAX_LEN: usize = tessera_proto::bounds::NAMESPACE;

/// The characters that end a prefix namespace.
pub const SEPARATORS: [char; 3] = ['.', '/', ':'];

/// A token's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Every identifier.
    All,
    /// Identifiers starting with this prefix, which ends in a separator.
    Prefix(String),
    /// This one identifier.
    Exact(String),
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
    /// An invisible Unicode format character (Cf) inside.
    #[error("must not contain invisible Unicode format characters (bidi controls, zero-width characters)")]
    Format,
    /// `*` inside a longer namespace.
    #[error("* stands alone (every identifier); a prefix ends in . / or : instead, e.g. deploy.")]
    StarInside,
}

impl Namespace {
    /// Parses a namespace from a request: `*`, a prefix ending in `.`, `/` or `:`, or an exact
    /// name. `*` inside a longer namespace is refused.
    pub fn parse(text: &str) -> Result<Namespace, NameError> {
        if text != "*" && text.contains('*') {
            return Err(NameError::StarInside);
        }
        Namespace::from_stored(text)
    }

    /// Reads a namespace already stored. Like [`Namespace::parse`], except that a `*` inside is
    /// taken literally: rows written before the rule existed must still be readable, and a
    /// literal star only ever narrows.
    pub fn from_stored(text: &str) -> Result<Namespace, NameError> {
        if text == "*" {
            return Ok(Namespace::All);
        }
        validate_identifier(text)?;
        Ok(if text.ends_with(SEPARATORS) {
            Namespace::Prefix(text.to_owned())
        } else {
            Namespace::Exact(text.to_owned())
        })
    }

    /// The text form (`*`, the prefix or the name).
    pub fn as_str(&self) -> &str {
        match self {
            Namespace::All => "*",
            Namespace::Prefix(text) | Namespace::Exact(text) => text,
        }
    }

    /// Whether `identifier` lies in this namespace.
    pub fn allows(&self, identifier: &str) -> bool {
        match self {
            Namespace::All => true,
            Namespace::Prefix(prefix) => identifier.starts_with(prefix.as_str()),
            Namespace::Exact(name) => identifier == name,
        }
    }

    /// Whether every identifier `other` allows is also allowed here (a child may narrow only).
    pub fn contains(&self, other: &Namespace) -> bool {
        match (self, other) {
            (Namespace::All, _) => true,
            (_, Namespace::All) => false,
            (Namespace::Prefix(mine), Namespace::Prefix(theirs) | Namespace::Exact(theirs)) => {
                theirs.starts_with(mine.as_str())
            }
            (Namespace::Exact(mine), Namespace::Exact(theirs)) => mine == theirs,
            (Namespace::Exact(_), Namespace::Prefix(_)) => false,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an identifier presented to CheckNamespace: non-empty, at most [`MAX_LEN`] bytes, no
/// whitespace or control characters (which could smuggle a second command into a line protocol)
/// and no Unicode format characters (which make different identifiers look the same).
pub fn validate_identifier(identifier: &str) -> Result<(), NameError> {
    if identifier.is_empty() {
        return Err(NameError::Empty);
    }
    if identifier.len() > MAX_LEN {
        return Err(NameError::TooLong);
    }
    // ASCII: whitespace and controls are exactly the bytes up to the space and DEL, and no
    // format character is ASCII (see `text::check`: the tables cost ~50 instructions a character).
    if identifier.is_ascii() {
        return match identifier
            .bytes()
            .any(|b| b == b' ' || text::is_ascii_control(b))
        {
            true => Err(NameError::BadCharacter),
            false => Ok(()),
        };
    }
    for c in identifier.chars() {
        if c.is_whitespace() || c.is_control() {
            return Err(NameError::BadCharacter);
        }
        if text::is_format(c) {
            return Err(NameError::Format);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path refuses exactly what the character loop refuses.
    #[test]
    fn ascii_identifiers_are_judged_as_by_the_unicode_tables() {
        for byte in 0u8..0x80 {
            let c = char::from(byte);
            let bad = c.is_whitespace() || c.is_control() || text::is_format(c);
            let identifier = format!("deploy.{c}x");
            assert_eq!(validate_identifier(&identifier).is_err(), bad, "{byte:#x}");
        }
        assert!(
            validate_identifier("deploy.\u{00A0}x").is_err(),
            "no-break space"
        );
        assert!(
            validate_identifier("deploy.\u{200B}x").is_err(),
            "zero-width space"
        );
        assert!(validate_identifier("déploy.x").is_ok());
    }

    #[test]
    fn prefix_rules_match_the_design() {
        let ns = Namespace::parse("deploy.").unwrap();
        assert!(ns.allows("deploy.daily"));
        assert!(ns.allows("deploy."));
        assert!(!ns.allows("deploy"));
        assert!(!ns.allows("backup.x"));
        assert!(Namespace::parse("*").unwrap().allows("anything"));
        for prefix in ["jobs/", "tenant:"] {
            assert!(matches!(Namespace::parse(prefix), Ok(Namespace::Prefix(_))));
        }
    }

    #[test]
    fn a_name_without_separator_is_exact() {
        let ns = Namespace::parse("deploy").unwrap();
        assert_eq!(ns, Namespace::Exact("deploy".into()));
        assert!(ns.allows("deploy"));
        assert!(!ns.allows("deployment.prod"));
        assert!(!ns.allows("deploy.daily"));
    }

    #[test]
    fn a_star_stands_alone() {
        for bad in ["deploy.*", "de*", "*.", "**"] {
            assert_eq!(Namespace::parse(bad), Err(NameError::StarInside), "{bad}");
        }
        assert_eq!(
            Namespace::from_stored("legacy*"),
            Ok(Namespace::Exact("legacy*".into()))
        );
    }

    #[test]
    fn containment_only_narrows() {
        let all = Namespace::All;
        let deploy = Namespace::parse("deploy.").unwrap();
        let daily = Namespace::parse("deploy.daily").unwrap();
        let daily_prefix = Namespace::parse("deploy.daily.").unwrap();
        assert!(all.contains(&deploy));
        assert!(deploy.contains(&daily));
        assert!(deploy.contains(&daily_prefix));
        assert!(deploy.contains(&deploy));
        assert!(daily.contains(&daily));
        assert!(!daily.contains(&deploy));
        assert!(!daily.contains(&daily_prefix));
        assert!(!deploy.contains(&all));
        assert!(!deploy.contains(&Namespace::parse("deploy").unwrap()));
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
        assert_eq!(Namespace::parse("deploy.\u{202E}x"), Err(NameError::Format));
        assert_eq!(validate_identifier("a\u{200D}b"), Err(NameError::Format));
        assert_eq!(validate_identifier("deploy.daily-1"), Ok(()));
        assert_eq!(validate_identifier("café"), Ok(()));
    }
}
