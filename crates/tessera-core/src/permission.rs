//! Permissions a token holds.
//!
//! Tessera itself knows three: `introspect` (may ask Introspect and CheckNamespace), `issue` (may
//! mint child tokens) and `admin` (may act on other accounts, given an admin role or elevation).
//! Other names (for example `read`, `write`, `jobs.run`) are carried for the services behind
//! Tessera and checked through CheckNamespace's `action`. `*` means every permission.

use std::collections::BTreeSet;

use thiserror::Error;

/// May call Introspect and CheckNamespace.
pub const INTROSPECT: &str = "introspect";
/// May issue child tokens.
pub const ISSUE: &str = "issue";
/// May perform admin actions (with an admin role or an elevated token).
pub const ADMIN: &str = "admin";
/// Every permission.
pub const ALL: &str = "*";

const MAX_NAME: usize = 64;

/// A set of permissions, or all of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionSet {
    all: bool,
    names: BTreeSet<String>,
}

/// Why a permission name was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("permission {0:?} is not a valid name (lowercase letters, digits and . _ : -, starting with a letter; or *)")]
pub struct PermissionError(pub String);

impl PermissionSet {
    /// Every permission (`*`).
    pub fn all() -> PermissionSet {
        PermissionSet {
            all: true,
            names: BTreeSet::new(),
        }
    }

    /// Exactly these permissions.
    pub fn only<I, S>(names: I) -> PermissionSet
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PermissionSet {
            all: false,
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Parses names; `*` anywhere makes the set all permissions.
    pub fn parse<I, S>(names: I) -> Result<PermissionSet, PermissionError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = PermissionSet::default();
        for name in names {
            let name = name.as_ref().trim();
            if name == ALL {
                set.all = true;
                continue;
            }
            let mut chars = name.chars();
            let well_formed = name.len() <= MAX_NAME
                && chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(c));
            if !well_formed {
                return Err(PermissionError(name.chars().take(MAX_NAME).collect()));
            }
            set.names.insert(name.to_owned());
        }
        if set.all {
            set.names.clear();
        }
        Ok(set)
    }

    /// Whether `permission` is held.
    pub fn permits(&self, permission: &str) -> bool {
        self.all || self.names.contains(permission)
    }

    /// Whether this is every permission.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }

    /// Whether everything held here is held by `other` too.
    pub fn is_subset_of(&self, other: &PermissionSet) -> bool {
        other.all || (!self.all && self.names.is_subset(&other.names))
    }

    /// The names, sorted; `["*"]` for all.
    pub fn to_vec(&self) -> Vec<String> {
        if self.all {
            vec![ALL.to_owned()]
        } else {
            self.names.iter().cloned().collect()
        }
    }

    /// The names held, sorted (empty for all: use [`PermissionSet::is_all`]).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_permit() {
        let set = PermissionSet::parse(["introspect", "read"]).unwrap();
        assert!(set.permits(INTROSPECT));
        assert!(!set.permits(ADMIN));
        assert_eq!(set.to_vec(), vec!["introspect", "read"]);
        let all = PermissionSet::parse(["read", "*"]).unwrap();
        assert!(all.is_all() && all.permits(ADMIN));
        assert_eq!(all.to_vec(), vec!["*"]);
    }

    #[test]
    fn subsets() {
        let all = PermissionSet::all();
        let some = PermissionSet::only(["introspect", "issue"]);
        let one = PermissionSet::only(["introspect"]);
        assert!(one.is_subset_of(&some) && some.is_subset_of(&all) && all.is_subset_of(&all));
        assert!(!some.is_subset_of(&one));
        assert!(!all.is_subset_of(&some));
        assert!(PermissionSet::default().is_subset_of(&one));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "Admin", "1x", "a b", "rm;rf", "é"] {
            assert!(PermissionSet::parse([bad]).is_err(), "{bad:?}");
        }
        assert!(PermissionSet::parse(["x".repeat(65)]).is_err());
    }
}
