//! The least-privilege judgement of a service token (an edge's, a mesh's, a service's own), made
//! once for every side: the Rust client runs it for services and both edges at start, and the
//! server's admin-rights rule is the same function ([`crate::role::holds_admin_rights`]).

use thiserror::Error;

use crate::permission::{PermissionSet, INTROSPECT};
use crate::role::{holds_admin_rights, Role};

/// Why a service token is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceTokenProblem {
    /// Tessera says the token is not active, or refuses it as a caller.
    #[error("the service token is not active (bad, expired or revoked)")]
    Inactive,
    /// The token cannot call Introspect.
    #[error("the service token lacks the `introspect` permission")]
    LacksIntrospect,
    /// The token could do far more than a service needs.
    #[error("the service token holds admin rights; issue a service token with only `introspect`")]
    AdminRights,
    /// Tessera could not be asked.
    #[error("cannot check the service token with tessera: {0}")]
    Unreachable(String),
}

impl ServiceTokenProblem {
    /// Whether waiting could help (Tessera may still be starting).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// Judges what Introspect said about a service's own token: it must be active, hold
/// `introspect`, and must not hold admin rights (`admin` held, with an admin-class role or an
/// elevated token). Roles it does not know give no rights; permissions that do not read back
/// hold nothing.
pub fn judge_service_token<R: AsRef<str>, P: AsRef<str>>(
    active: bool,
    permissions: &[P],
    roles: &[R],
    elevated: bool,
) -> Result<(), ServiceTokenProblem> {
    if !active {
        return Err(ServiceTokenProblem::Inactive);
    }
    let held = PermissionSet::parse(permissions).unwrap_or_default();
    if !held.permits(INTROSPECT) {
        return Err(ServiceTokenProblem::LacksIntrospect);
    }
    let admin = holds_admin_rights(None, &held, elevated)
        || roles
            .iter()
            .filter_map(|role| role.as_ref().parse::<Role>().ok())
            .any(|role| holds_admin_rights(Some(role), &held, elevated));
    if admin {
        return Err(ServiceTokenProblem::AdminRights);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(
        permissions: &[&str],
        roles: &[&str],
        elevated: bool,
    ) -> Result<(), ServiceTokenProblem> {
        judge_service_token(true, permissions, roles, elevated)
    }

    #[test]
    fn a_plain_introspect_token_is_fine() {
        assert_eq!(judge(&["introspect"], &[], false), Ok(()));
        assert_eq!(judge(&["introspect", "admin"], &["user"], false), Ok(()));
        // `*` for a user-role token is not admin rights: the role cannot act as admin.
        assert_eq!(judge(&["*"], &["user"], false), Ok(()));
        // `*` without admin is not admin rights either, whatever the role.
        assert_eq!(judge(&["*", "-admin", "-issue"], &["admin"], false), Ok(()));
    }

    #[test]
    fn inactive_or_without_introspect_is_refused() {
        let none: [&str; 0] = [];
        assert_eq!(
            judge_service_token(false, &none, &none, false),
            Err(ServiceTokenProblem::Inactive)
        );
        assert_eq!(
            judge(&["issue"], &[], false),
            Err(ServiceTokenProblem::LacksIntrospect)
        );
        assert_eq!(
            judge(&["*", "-introspect"], &[], false),
            Err(ServiceTokenProblem::LacksIntrospect)
        );
    }

    #[test]
    fn admin_rights_are_refused() {
        for (permissions, roles, elevated) in [
            (&["*"][..], &["admin"][..], false),
            (&["introspect", "admin"][..], &["Owner"][..], false),
            (&["*"][..], &["user"][..], true),
            (&["*"][..], &["root"][..], false),
            (&["*"][..], &["superuser"][..], false),
            (&["*"][..], &[][..], true),
        ] {
            assert_eq!(
                judge(permissions, roles, elevated),
                Err(ServiceTokenProblem::AdminRights),
                "{permissions:?} {roles:?} {elevated}"
            );
        }
    }
}
