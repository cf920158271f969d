//! Account roles and who holds admin rights.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::permission::{PermissionSet, ADMIN};

/// An account's role. `admin`, `owner`, `superuser` and `root` are session-root: their sessions
/// may perform admin actions directly. A `user` gains admin rights only through Unlock.
///
/// Roles are ranked in the order declared (`user` lowest, `root` highest): no one grants a role
/// above their own or acts on an account that outranks them (see [`may_act_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account.
    User,
    /// An administrator.
    Admin,
    /// An owner.
    Owner,
    /// A superuser.
    Superuser,
    /// Root.
    Root,
}

/// An unknown role name.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("unknown role {0:?} (expected one of user, admin, owner, superuser, root)")]
pub struct RoleError(pub String);

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 5] = [
        Role::User,
        Role::Admin,
        Role::Owner,
        Role::Superuser,
        Role::Root,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Superuser => "superuser",
            Role::Root => "root",
        }
    }

    /// Whether the role's sessions may perform admin actions without Unlock.
    pub fn is_session_root(self) -> bool {
        !matches!(self, Role::User)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Role, RoleError> {
        let wanted = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| RoleError(s.chars().take(32).collect()))
    }
}

/// Whether a token may perform admin actions: it must hold the `admin` permission, and either be
/// elevated (Unlock) or act for a session-root account.
pub fn holds_admin_rights(role: Option<Role>, permissions: &PermissionSet, elevated: bool) -> bool {
    permissions.permits(ADMIN) && (elevated || role.is_some_and(Role::is_session_root))
}

/// Whether a caller acting with rank `caller` may give an account role `role`, or act on an
/// account holding it (change its role, password, second factor or enabled state): only up to
/// the caller's own rank.
pub fn may_act_on(caller: Role, role: Role) -> bool {
    role <= caller
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("god".parse::<Role>().is_err());
    }

    #[test]
    fn no_one_reaches_above_their_own_rank() {
        assert!(may_act_on(Role::Admin, Role::Admin));
        assert!(may_act_on(Role::Admin, Role::User));
        for above in [Role::Owner, Role::Superuser, Role::Root] {
            assert!(!may_act_on(Role::Admin, above), "{above}");
            assert!(may_act_on(Role::Root, above), "{above}");
        }
        assert!(!may_act_on(Role::User, Role::Admin));
    }

    #[test]
    fn admin_rights_need_the_permission_and_a_root_role_or_elevation() {
        let all = PermissionSet::all();
        let narrow = PermissionSet::only(["introspect"]);
        assert!(!holds_admin_rights(Some(Role::User), &all, false));
        assert!(holds_admin_rights(Some(Role::User), &all, true));
        assert!(holds_admin_rights(Some(Role::Admin), &all, false));
        assert!(!holds_admin_rights(Some(Role::Root), &narrow, true));
        assert!(!holds_admin_rights(None, &all, false));
    }
}
