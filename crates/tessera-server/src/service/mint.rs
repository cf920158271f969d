//! Minting a token, the one step Login, Unlock and IssueToken share: its row and its audit event
//! are written in the transaction that checked the account or the parent, and committed together,
//! so a token never exists without its audit row, nor an audit row without its token.

use tessera_store::{
    tokens::{self as token_store, ChildInsert, NewToken},
    PgTransaction, StoreError,
};
use tracing::Instrument as _;

use super::{AuditEvent, Authority};
use crate::error::ApiError;

impl Authority {
    /// Stores `row` (a child of its `parent_id` when it has one: the parent must still be active
    /// and hold the uses asked for) and its audit `event`, then commits. A parent that went
    /// inactive while the call ran is refused as if it had been refused up front.
    pub(super) async fn store_minted(
        &self,
        mut tx: PgTransaction,
        row: &NewToken,
        event: AuditEvent,
    ) -> Result<(), ApiError> {
        let inserted = match row.parent_id {
            None => token_store::insert(&mut tx, row)
                .instrument(super::store_span("INSERT", "tokens::insert"))
                .await
                .map(|()| ChildInsert::Inserted)?,
            Some(_) => {
                token_store::insert_child(&mut tx, row, row.issued_at)
                    .instrument(super::store_span("INSERT", "tokens::insert_child"))
                    .await?
            }
        };
        match inserted {
            ChildInsert::Inserted => {}
            // Revoked, expired or used up since it authenticated this call (the view may even
            // come from the cache), or its session was revoked while a password was checked.
            ChildInsert::ParentInactive => return Err(ApiError::AuthFailed),
            ChildInsert::NotEnoughUses => {
                return Err(ApiError::PrivilegeExceeded(
                    "max_uses: the caller's token has fewer uses left than asked for".into(),
                ))
            }
        }
        self.audit(&mut tx, event).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
