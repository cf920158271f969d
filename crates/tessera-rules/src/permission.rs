//! Permissions a token holds.
//!
//! Tessera itself knows three: `introspect` (may ask Introspect and CheckNamespace), `issue` (may
//! mint child tokens) and `admin` (may act on other accounts, given an admin role or elevation).
//! Other names (for example `read`, `write`, `jobs.run`) are carried for the services behind
//! Tessera and checked through CheckNamespace's `action`. `*` means every permission.
//!
//! `*` may be narrowed by exclusions written `-name`: `["*", "-admin", "-issue"]` holds every
//! permission but `admin` and `issue`. That is what a derived token gets by default from a `*`
//! parent (least privilege: admin and issue must be asked for by name). An exclusion without `*`
//! means nothing and is refused.

use std::collections::BTreeSet;
use std::fmt;

use thiserror::Error;

/// May call Introspect and CheckNamespace.
pub const INTROSPECT: &str = "introspect";
/// May issue child tokens.
pub const ISSUE: &str = "issue";
/// May perform admin actions (with an admin role or an elevated token).
pub const ADMIN: &str = "admin";
/// Every permission.
pub const ALL: &str = "*";

const MAX_NAME: usize = tessera_proto::bounds::PERMISSION;

/// A set of permissions: some names, or all of them but some excluded names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionSet {
    all: bool,
    /// With `all`: the names excluded; without: the names held.
    names: Names,
}

/// Sorted, distinct, well-formed permission names, kept in one allocation and separated by a
/// newline (which no well-formed name contains). A replica caches one set per active token: a
/// `BTreeSet<String>` of two names took about 350 bytes, this takes one small string.
#[derive(Clone, PartialEq, Eq, Default)]
struct Names(Box<str>);

impl Names {
    const SEPARATOR: char = '\n';

    /// From names already sorted and distinct.
    fn from_sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Names {
        let mut text = String::new();
        for name in names {
            debug_assert!(well_formed(name), "{name:?}");
            if !text.is_empty() {
                text.push(Names::SEPARATOR);
            }
            text.push_str(name);
        }
        Names(text.into_boxed_str())
    }

    fn from_set(set: &BTreeSet<String>) -> Names {
        Names::from_sorted(set.iter().map(String::as_str))
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0
            .split(Names::SEPARATOR)
            .filter(|name| !name.is_empty())
    }

    fn contains(&self, name: &str) -> bool {
        self.iter().any(|held| held == name)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_subset(&self, other: &Names) -> bool {
        self.iter().all(|name| other.contains(name))
    }

    fn is_disjoint(&self, other: &Names) -> bool {
        !self.iter().any(|name| other.contains(name))
    }

    fn to_set(&self) -> BTreeSet<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The prefix of an exclusion in the text form (`-admin`).
pub const EXCLUDE: char = '-';

fn well_formed(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(c))
}

/// Checks an action asked about (CheckNamespace's `action`, an edge rule's action): exactly one
/// permission name as a token holds it. Not `*`, not an exclusion (`-run`) and never padded with
/// whitespace: [`PermissionSet::parse`] trims what it is given, so `" run"` would otherwise be
/// read as a name no exclusion names, and `*` as "held" by any `*` token.
pub fn validate_action(action: &str) -> Result<(), PermissionError> {
    if well_formed(action) {
        Ok(())
    } else {
        Err(PermissionError(action.chars().take(MAX_NAME).collect()))
    }
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
            names: Names::default(),
        }
    }

    /// Exactly these permissions. A name that is not well formed is left out: no such name is
    /// ever permitted (see [`PermissionSet::permits`]).
    pub fn only<I, S>(names: I) -> PermissionSet
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: BTreeSet<String> = names
            .into_iter()
            .map(Into::into)
            .filter(|name| well_formed(name))
            .collect();
        PermissionSet {
            all: false,
            names: Names::from_set(&names),
        }
    }

    /// Parses names; `*` anywhere makes the set all permissions, less any `-name` exclusions.
    /// A name both held and excluded is excluded.
    pub fn parse<I, S>(names: I) -> Result<PermissionSet, PermissionError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all = false;
        let mut held = BTreeSet::new();
        let mut excluded = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name == ALL {
                all = true;
                continue;
            }
            let (target, bare) = match name.strip_prefix(EXCLUDE) {
                Some(bare) => (&mut excluded, bare),
                None => (&mut held, name),
            };
            if !well_formed(bare) {
                return Err(PermissionError(name.chars().take(MAX_NAME).collect()));
            }
            target.insert(bare.to_owned());
        }
        if !excluded.is_empty() && !all {
            let first = excluded.into_iter().next().unwrap_or_default();
            return Err(PermissionError(format!("{EXCLUDE}{first}")));
        }
        Ok(PermissionSet {
            all,
            names: Names::from_set(if all { &excluded } else { &held }),
        })
    }

    /// Whether `permission` is held: only a well-formed name ever is (see [`validate_action`]).
    pub fn permits(&self, permission: &str) -> bool {
        if !well_formed(permission) {
            return false;
        }
        if self.all {
            !self.names.contains(permission)
        } else {
            self.names.contains(permission)
        }
    }

    /// Whether this is every permission, without exclusions.
    pub fn is_all(&self) -> bool {
        self.all && self.names.is_empty()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }

    /// Whether everything held here is held by `other` too.
    pub fn is_subset_of(&self, other: &PermissionSet) -> bool {
        match (self.all, other.all) {
            // Every name other excludes must be excluded here as well.
            (true, true) => other.names.is_subset(&self.names),
            (false, true) => self.names.is_disjoint(&other.names),
            (true, false) => false,
            (false, false) => self.names.is_subset(&other.names),
        }
    }

    /// This set without `names` (the least-privilege default for a derived token).
    pub fn without(&self, names: &[&str]) -> PermissionSet {
        let mut set = self.names.to_set();
        for name in names.iter().filter(|name| well_formed(name)) {
            if self.all {
                set.insert((*name).to_owned());
            } else {
                set.remove(*name);
            }
        }
        PermissionSet {
            all: self.all,
            names: Names::from_set(&set),
        }
    }

    /// The text form, sorted: the names; or `*` followed by each `-exclusion`.
    pub fn to_vec(&self) -> Vec<String> {
        if self.all {
            std::iter::once(ALL.to_owned())
                .chain(self.names.iter().map(|name| format!("{EXCLUDE}{name}")))
                .collect()
        } else {
            self.names.iter().map(str::to_owned).collect()
        }
    }

    /// The names held, sorted (empty when the set is `*`, with or without exclusions: use
    /// [`PermissionSet::permits`] for those).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter(|_| !self.all)
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
    fn only_a_well_formed_name_is_permitted_or_accepted_as_an_action() {
        let all_but_run = PermissionSet::parse(["*", "-run"]).unwrap();
        assert!(all_but_run.permits("read"));
        for dodge in [" run", "run ", "run\u{a0}", "\trun", "*", "-run", "", "Run"] {
            assert!(!all_but_run.permits(dodge), "{dodge:?}");
            assert!(validate_action(dodge).is_err(), "{dodge:?}");
        }
        assert!(!PermissionSet::parse(["read"]).unwrap().permits("*"));
        assert_eq!(validate_action("jobs.run"), Ok(()));
    }

    #[test]
    fn exclusions_narrow_all() {
        let set = PermissionSet::parse(["*", "-admin", "-issue"]).unwrap();
        assert!(set.permits(INTROSPECT) && set.permits("read"));
        assert!(!set.permits(ADMIN) && !set.permits(ISSUE));
        assert!(!set.is_all());
        assert_eq!(set.to_vec(), vec!["*", "-admin", "-issue"]);
        assert_eq!(PermissionSet::parse(set.to_vec()).unwrap(), set);
        assert_eq!(PermissionSet::all().without(&[ADMIN, ISSUE]), set);
        assert_eq!(
            PermissionSet::only(["read", "admin"]).without(&[ADMIN, ISSUE]),
            PermissionSet::only(["read"])
        );
        assert!(
            PermissionSet::parse(["-admin"]).is_err(),
            "an exclusion needs *"
        );
        assert!(PermissionSet::parse(["*", "-Admin"]).is_err());

        let all = PermissionSet::all();
        let one = PermissionSet::only(["read"]);
        assert!(set.is_subset_of(&all) && !all.is_subset_of(&set));
        assert!(one.is_subset_of(&set));
        assert!(!PermissionSet::only(["admin"]).is_subset_of(&set));
        assert!(PermissionSet::parse(["*", "-admin", "-issue", "-read"])
            .unwrap()
            .is_subset_of(&set));
        assert!(!PermissionSet::parse(["*", "-admin"])
            .unwrap()
            .is_subset_of(&set));
        assert!(!set.is_subset_of(&one));
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
