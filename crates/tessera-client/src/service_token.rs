//! The least-privilege judgement of a service token, for every Rust caller (the edges run it on
//! their own token at start). The rule itself is `tessera_rules::service_token`, the same one the
//! server's admin-rights check is made of.

use crate::types::Introspection;

pub use tessera_rules::service_token::ServiceTokenProblem;

/// Judges what Introspect said about a service's own token: it must be active, hold
/// `introspect`, and must not hold admin rights (`admin` held with an admin-class role, or an
/// elevated token).
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
    tessera_rules::service_token::judge_service_token(
        me.active,
        &me.permissions,
        &me.roles,
        me.elevated,
    )
}
