//! Who may grant what: the role hierarchy every admin write is held to. Admin rights alone let a
//! token act on accounts; its rank ([`TokenView::rank`]) bounds which ones: no role above the
//! caller's may be given, and no account that outranks the caller may be changed (its role,
//! password, second factor or enabled state), the caller's own included.

use tessera_rules::role::{may_act_on, Role};
use tessera_store::users::UserSummary;

use crate::error::ApiError;
use crate::service::view::TokenView;

/// Refuses giving `role` to an account unless the caller's rank reaches it.
pub(super) fn require_may_give(caller: &TokenView, role: Role) -> Result<(), ApiError> {
    let rank = rank_of(caller)?;
    if may_act_on(rank, role) {
        return Ok(());
    }
    Err(ApiError::PrivilegeExceeded(format!(
        "giving the {role} role needs the {role} role or higher; this token acts as {rank}: \
         ask an account of that rank"
    )))
}

/// Refuses acting on `account` unless the caller's rank reaches the account's role.
pub(super) fn require_may_change(
    caller: &TokenView,
    account: &UserSummary,
) -> Result<(), ApiError> {
    let rank = rank_of(caller)?;
    let role: Role = account
        .role
        .parse()
        .map_err(|_| ApiError::Internal(format!("account {} has an unknown role", account.id)))?;
    if may_act_on(rank, role) {
        return Ok(());
    }
    Err(ApiError::PrivilegeExceeded(format!(
        "account {:?} has the {role} role, which outranks this token's {rank}: ask an account \
         of that rank",
        account.username
    )))
}

fn rank_of(caller: &TokenView) -> Result<Role, ApiError> {
    caller.rank().ok_or_else(|| {
        ApiError::ElevationRequired(
            "this needs an admin role or an elevated token (Unlock) holding the admin permission \
             for every namespace (*)"
                .into(),
        )
    })
}
