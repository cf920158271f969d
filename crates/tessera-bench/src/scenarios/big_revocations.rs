//! Big revocations (issue 25): a tree of 100,000 descendants revoked in one call while other
//! tokens are introspected, and 1,000 token ids revoked in one call. Each Revoke returns only when
//! every follower (replica B here) acknowledged every token or its lease ran out.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::{Duration, Instant},
};

use tessera_core::clock::{Clock, SystemClock};

use tessera_proto::v1 as pb;
use tessera_rules::token::{TokenKind, TokenSecret};
use tessera_store::{
    tokens::{self, NewToken},
    PgPool,
};
use uuid::Uuid;

use super::{Bench, MAX_IN_FLIGHT};
use crate::{
    load::open_loop,
    report::{ms, GoalVerdict, Row},
};

/// Descendants of the tree revoked in one call (the smoke run's tree is smaller).
const TREE: usize = 100_000;
const SMOKE_TREE: usize = 2_000;
/// Ids revoked in one call.
const IDS: usize = 1_000;

/// Inserts a root API token and `size` descendants below it (ten levels of a chain of fans, as
/// derived tokens are), straight into the store; returns the root's id and the ids of its first
/// level.
async fn store_tree(pool: &PgPool, size: usize) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let root = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO tokens (id, hash, kind, namespace, permissions, issued_at, expires_at)
         VALUES ($1, sha256($1::text::bytea), 'api', '*', '{read}', now(), now() + interval '2h')",
    )
    .bind(root)
    .execute(pool)
    .await?;
    // Level by level: each level's tokens get ten children until `size` is reached.
    let mut level = vec![root];
    let mut first_level = Vec::new();
    let mut made = 0;
    while made < size {
        let want = (level.len() * 10).min(size - made);
        let ids: Vec<Uuid> = (0..want).map(|_| Uuid::new_v4()).collect();
        let parents: Vec<Uuid> = (0..want).map(|i| level[i / 10]).collect();
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, parent_id, namespace, permissions, issued_at,
                                 expires_at)
             SELECT id, sha256(id::text::bytea), 'api', parent, '*', '{read}', now(),
                    now() + interval '2h'
             FROM unnest($1::uuid[], $2::uuid[]) AS t(id, parent)",
        )
        .bind(&ids)
        .bind(&parents)
        .execute(pool)
        .await?;
        if first_level.is_empty() {
            first_level = ids.clone();
        }
        made += want;
        level = ids;
    }
    sqlx::query("ANALYZE tokens").execute(pool).await?;
    Ok((root, first_level))
}

/// An elevated token holding `admin` (as an Unlock gives), straight into the store: what may
/// revoke tokens that are not its own. Returns its secret.
pub(super) async fn store_admin(pool: &PgPool) -> anyhow::Result<String> {
    let secret = TokenSecret::generate(TokenKind::Elevated);
    let now = SystemClock.now();
    let mut tx = pool.begin().await?;
    tokens::insert(
        &mut tx,
        &NewToken {
            id: Uuid::new_v4(),
            hash: secret.hash(),
            kind: TokenKind::Elevated,
            subject: None,
            parent_id: None,
            session_id: None,
            namespace: "*".into(),
            permissions: vec!["*".into()],
            elevated: true,
            description: "tessera-bench big revocations".into(),
            issued_at: now,
            expires_at: Some(now + time::Duration::hours(1)),
            max_uses: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(secret.expose().to_owned())
}

impl Bench {
    /// The 100,000-descendant tree and the 1,000-id call, with other tokens' Introspect p99 beside
    /// the tree's revocation against the same load without it.
    pub(super) async fn big_revocations(&mut self) -> anyhow::Result<()> {
        let size = if self.options.smoke { SMOKE_TREE } else { TREE };
        let (root, _) = store_tree(&self.admin, size).await?;
        let admin = store_admin(&self.admin).await?;
        let rate = self.open_rate() / 2.0;
        let phase = if self.options.smoke {
            self.options.phase
        } else {
            self.options.phase.max(Duration::from_secs(3))
        };
        // Baseline: the same open loop, nothing revoked.
        let quiet = open_loop(
            rate,
            phase,
            MAX_IN_FLIGHT,
            Arc::new(AtomicBool::new(false)),
            self.open_introspect(&self.on_a),
        )
        .await;
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(open_loop(
            rate,
            Duration::from_secs(120),
            MAX_IN_FLIGHT,
            Arc::clone(&stop),
            self.open_introspect(&self.on_a),
        ));
        let started = Instant::now();
        let tree = self
            .revoke_ids(&admin, vec![root.to_string()], "a big tree")
            .await;
        let tree_took = started.elapsed();
        // Keep the load on for as long as the baseline ran, so both windows are alike.
        tokio::time::sleep(phase.saturating_sub(tree_took)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let during = load.await?;
        let tree = tree?;
        anyhow::ensure!(
            tree.revoked_count as usize == size + 1,
            "the tree revoke revoked {}, expected {}",
            tree.revoked_count,
            size + 1
        );
        let (p99_quiet, p99_during) = (quiet.ok_quantile(0.99), during.ok_quantile(0.99));
        let ratio = p99_during.as_secs_f64() / p99_quiet.as_secs_f64().max(1e-9);
        self.rows.push(Row {
            scenario: format!(
                "Revoke of a tree of {size} descendants (until every follower acknowledged)"
            ),
            baseline: String::new(),
            target: ms(tree_took),
            result: format!(
                "everywhere: {}, lapsed: {}",
                tree.everywhere,
                tree.lapsed.len()
            ),
            goal: "≤ 2 s".into(),
            verdict: if tree_took <= Duration::from_secs(2) && tree.everywhere {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        self.rows.push(Row {
            scenario: "other tokens' cached Introspect p99 during the tree's revocation".into(),
            baseline: ms(p99_quiet),
            target: ms(p99_during),
            result: format!("{ratio:.2} ×"),
            goal: "≤ 2 ×".into(),
            verdict: if ratio <= 2.0 {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });

        let ids = super::store_tokens(&self.admin, IDS, TokenKind::Api).await?;
        let ids: Vec<String> =
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM tokens WHERE hash = ANY($1)")
                .bind(
                    ids.iter()
                        .map(|t| tessera_rules::token::TokenHash::of(t).as_bytes().to_vec())
                        .collect::<Vec<_>>(),
                )
                .fetch_all(&self.admin)
                .await?
                .into_iter()
                .map(|id| id.to_string())
                .collect();
        let started = Instant::now();
        let batch = self.revoke_ids(&admin, ids, "1,000 ids").await?;
        let batch_took = started.elapsed();
        self.rows.push(Row {
            scenario: format!("Revoke of {IDS} token ids in one call"),
            baseline: String::new(),
            target: ms(batch_took),
            result: format!(
                "{} revoked, everywhere: {}",
                batch.revoked_count, batch.everywhere
            ),
            goal: format!("{IDS} in one call"),
            verdict: if batch.revoked_count as usize == IDS && batch.everywhere {
                GoalVerdict::Met
            } else {
                GoalVerdict::Missed
            },
        });
        Ok(())
    }

    async fn revoke_ids(
        &self,
        admin: &str,
        ids: Vec<String>,
        reason: &str,
    ) -> anyhow::Result<pb::RevokeResponse> {
        let mut client = self.on_a.auth(0);
        let mut request = tonic::Request::new(pb::RevokeRequest {
            target: Some(pb::revoke_request::Target::TokenIds(pb::TokenIds { ids })),
            reason: reason.into(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {admin}").parse()?);
        request.set_timeout(Duration::from_secs(60));
        Ok(client.revoke(request).await?.into_inner())
    }
}
