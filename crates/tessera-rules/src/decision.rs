//! The one admission decision: may a token, by what it reaches (its namespace and permissions),
//! touch these identifiers with this action?
//!
//! Two steps, so that a question is judged well-formed before anything is looked up:
//!
//! 1. [`Question::new`] checks the identifiers and the action exactly as Tessera does (count,
//!    length, characters, grammar) and names the field at fault otherwise ([`Malformed`]);
//! 2. [`Question::decide`] answers it for a token's namespace and permissions (its [`Reach`]):
//!    one verdict per identifier, and whether the action is held.
//!
//! The server's CheckNamespace, the HTTP edge's cached verdicts, the line edge's verdicts for
//! used-up tokens, and every later dialect call these two functions; a differential test holds
//! them to one answer over hostile inputs.

use thiserror::Error;

use tessera_proto::bounds;

use crate::namespace::{validate_identifier, NameError, Namespace};
use crate::permission::{validate_action, PermissionSet};

/// What a token reaches: its namespace and its permissions, fixed when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The identifiers it may touch.
    pub namespace: Namespace,
    /// What it may do to them.
    pub permissions: PermissionSet,
}

/// A stored namespace or permission list that does not read back (never written by Tessera).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("the token's stored namespace or permissions do not read back")]
pub struct Unreadable;

impl Reach {
    /// Reads a reach as Tessera reports it (Introspect's `namespace` and `permissions`).
    pub fn from_stored<S: AsRef<str>>(
        namespace: &str,
        permissions: &[S],
    ) -> Result<Reach, Unreadable> {
        Ok(Reach {
            namespace: Namespace::from_stored(namespace).map_err(|_| Unreadable)?,
            permissions: PermissionSet::parse(permissions).map_err(|_| Unreadable)?,
        })
    }
}

/// Why a question cannot be asked; Tessera answers INVALID_ARGUMENT naming [`Malformed::field`].
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Malformed {
    /// No identifier named.
    #[error("name at least one identifier")]
    NoIdentifiers,
    /// More identifiers than one call may ask about.
    #[error("at most {} identifiers per call", bounds::IDENTIFIERS)]
    TooManyIdentifiers,
    /// One identifier is not well-formed.
    #[error("identifier {index}: {error}")]
    Identifier {
        /// Its position in the question.
        index: usize,
        /// What is wrong with it.
        error: NameError,
    },
    /// The action is not exactly one permission name.
    #[error(
        "must be exactly one permission name (lowercase letters, digits and . _ : -, starting \
         with a letter): no *, no leading -, no whitespace"
    )]
    Action,
}

impl Malformed {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Malformed::Action => "action",
            _ => "identifiers",
        }
    }
}

/// A well-formed question: identifiers to touch and an action (empty: no action asked about).
#[derive(Debug, Clone, Copy)]
pub struct Question<'a, S> {
    identifiers: &'a [S],
    action: &'a str,
}

/// The answer to a question for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Per identifier, in the question's order: inside the token's namespace.
    pub inside: Vec<bool>,
    /// The action is held (true when none was asked about).
    pub action_held: bool,
}

impl Decision {
    /// Every identifier is inside the namespace and the action is held: admit.
    pub fn admits(&self) -> bool {
        self.action_held && self.inside.iter().all(|&inside| inside)
    }
}

impl<'a, S: AsRef<str>> Question<'a, S> {
    /// Checks a question exactly as Tessera does: 1 to [`bounds::IDENTIFIERS`] identifiers, each
    /// a valid identifier (non-empty, at most [`bounds::IDENTIFIER`] bytes, no whitespace,
    /// control or Unicode format characters), and an action that is empty or exactly one
    /// permission name (never `*`, `-name` or padded).
    pub fn new(identifiers: &'a [S], action: &'a str) -> Result<Self, Malformed> {
        if identifiers.is_empty() {
            return Err(Malformed::NoIdentifiers);
        }
        if identifiers.len() > bounds::IDENTIFIERS {
            return Err(Malformed::TooManyIdentifiers);
        }
        for (index, identifier) in identifiers.iter().enumerate() {
            validate_identifier(identifier.as_ref())
                .map_err(|error| Malformed::Identifier { index, error })?;
        }
        if !action.is_empty() {
            validate_action(action).map_err(|_| Malformed::Action)?;
        }
        Ok(Question {
            identifiers,
            action,
        })
    }

    /// Answers the question for a token with this namespace and these permissions.
    pub fn decide(&self, namespace: &Namespace, permissions: &PermissionSet) -> Decision {
        Decision {
            inside: self
                .identifiers
                .iter()
                .map(|identifier| namespace.allows(identifier.as_ref()))
                .collect(),
            action_held: self.action.is_empty() || permissions.permits(self.action),
        }
    }
}

/// One identifier and an action, asked of a token's reach in one step (the edges' common case):
/// `Ok(admit)` or why Tessera would refuse the question.
pub fn decide_one(reach: &Reach, identifier: &str, action: &str) -> Result<bool, Malformed> {
    let identifiers = [identifier];
    Ok(Question::new(&identifiers, action)?
        .decide(&reach.namespace, &reach.permissions)
        .admits())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(namespace: &str, permissions: &[&str]) -> Reach {
        Reach::from_stored(namespace, permissions).expect("reach")
    }

    #[test]
    fn a_question_is_decided_by_namespace_and_action() {
        let deploy = reach("deploy.", &["read"]);
        assert_eq!(decide_one(&deploy, "deploy.a", ""), Ok(true));
        assert_eq!(decide_one(&deploy, "deploy.a", "read"), Ok(true));
        assert_eq!(decide_one(&deploy, "deploy.a", "write"), Ok(false));
        assert_eq!(decide_one(&deploy, "deploy", ""), Ok(false));
        assert_eq!(decide_one(&deploy, "backup.a", "read"), Ok(false));
        assert_eq!(decide_one(&deploy, "*", ""), Ok(false));
        assert_eq!(decide_one(&reach("*", &["read"]), "*", ""), Ok(true));
        let all_but_write = reach("*", &["*", "-write"]);
        assert_eq!(decide_one(&all_but_write, "any.thing", "read"), Ok(true));
        assert_eq!(decide_one(&all_but_write, "any.thing", "write"), Ok(false));
        let ids = ["deploy.a", "backup.b"];
        let decision = Question::new(&ids, "read")
            .unwrap()
            .decide(&deploy.namespace, &deploy.permissions);
        assert_eq!(decision.inside, vec![true, false]);
        assert!(decision.action_held && !decision.admits());
    }

    #[test]
    fn malformed_questions_name_their_field() {
        let deploy = reach("deploy.", &["read"]);
        for (identifier, action, field) in [
            ("", "", "identifiers"),
            ("deploy.a b", "", "identifiers"),
            ("deploy.\u{7f}", "", "identifiers"),
            ("deploy.\u{200b}x", "", "identifiers"),
            ("deploy.a", "re ad", "action"),
            ("deploy.a", "écrire", "action"),
            ("deploy.a", " read", "action"),
            ("deploy.a", "read ", "action"),
            ("deploy.a", "*", "action"),
            ("deploy.a", "-read", "action"),
        ] {
            let refused = decide_one(&deploy, identifier, action).unwrap_err();
            assert_eq!(refused.field(), field, "{identifier:?} {action:?}");
        }
        let long = format!("deploy.{}", "a".repeat(bounds::IDENTIFIER));
        assert!(decide_one(&deploy, &long, "").is_err());
        let long_action = "a".repeat(bounds::PERMISSION + 1);
        assert_eq!(
            decide_one(&deploy, "deploy.a", &long_action),
            Err(Malformed::Action)
        );
        let none: [&str; 0] = [];
        assert_eq!(
            Question::new(&none, "").unwrap_err(),
            Malformed::NoIdentifiers
        );
        let many = vec!["deploy.a"; bounds::IDENTIFIERS + 1];
        assert_eq!(
            Question::new(&many, "").unwrap_err(),
            Malformed::TooManyIdentifiers
        );
    }
}
