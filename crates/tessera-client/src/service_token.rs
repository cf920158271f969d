//! The least-privilege judgement of a service token, made once for every Rust caller (the edges
//! run it on their own token at start).

use crate::types::Introspection;

/// The roles whose tokens may act as admin (with the `admin` permission); `user` may not.
pub const ADMIN_ROLES: [&str; 4] = ["admin", "owner", "superuser", "root"];

/// Why a service token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
/// `introspect`, and must not hold admin rights. Admin rights (the server's contract) = permits
/// `admin` (or `*` without `-admin`) and an admin-class role, or an elevated token.
///
/// ```
/// use tessera_client::{judge_service_token, Introspection, ServiceTokenProblem};
///
/// let mut me = Introspection::default();
/// me.active = true;
/// me.permissions = vec!["introspect".into()];
/// assert_eq!(judge_service_token(&me), Ok(()));
/// me.permissions = vec!["*".into()];
/// me.roles = vec!["admin".into()];
/// assert_eq!(judge_service_token(&me), Err(ServiceTokenProblem::AdminRights));
/// ```
pub fn judge_service_token(me: &Introspection) -> Result<(), ServiceTokenProblem> {
    if !me.active {
        return Err(ServiceTokenProblem::Inactive);
    }
    if !me.permits("introspect") {
        return Err(ServiceTokenProblem::LacksIntrospect);
    }
    let admin_role = me
        .roles
        .iter()
        .any(|role| ADMIN_ROLES.iter().any(|a| role.eq_ignore_ascii_case(a)));
    if me.permits("admin") && (admin_role || me.elevated) {
        return Err(ServiceTokenProblem::AdminRights);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(permissions: &[&str], roles: &[&str], elevated: bool) -> Introspection {
        Introspection {
            active: true,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            elevated,
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_introspect_token_is_fine() {
        assert_eq!(
            judge_service_token(&me(&["introspect"], &[], false)),
            Ok(())
        );
        assert_eq!(
            judge_service_token(&me(&["introspect", "admin"], &["user"], false)),
            Ok(())
        );
        // `*` for a user-role token is not admin rights: the role cannot act as admin.
        assert_eq!(judge_service_token(&me(&["*"], &["user"], false)), Ok(()));
        // `*` without admin is not admin rights either, whatever the role.
        assert_eq!(
            judge_service_token(&me(&["*", "-admin", "-issue"], &["admin"], false)),
            Ok(())
        );
    }

    #[test]
    fn inactive_or_without_introspect_is_refused() {
        assert_eq!(
            judge_service_token(&Introspection::default()),
            Err(ServiceTokenProblem::Inactive)
        );
        assert_eq!(
            judge_service_token(&me(&["issue"], &[], false)),
            Err(ServiceTokenProblem::LacksIntrospect)
        );
        assert_eq!(
            judge_service_token(&me(&["*", "-introspect"], &[], false)),
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
                judge_service_token(&me(permissions, roles, elevated)),
                Err(ServiceTokenProblem::AdminRights),
                "{permissions:?} {roles:?} {elevated}"
            );
        }
    }
}
