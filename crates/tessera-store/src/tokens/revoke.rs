//! Revocation with cascade: the target, every token derived from it, the feed entries and the
//! notification, in the caller's transaction, with the tree locked so no child can slip in.

use sqlx::PgConnection;
use tessera_rules::token::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// What to revoke: the matching tokens and, through `parent_id`, everything derived from them.
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    /// The token with this hash.
    Hash(TokenHash),
    /// The token with this id.
    Id(Uuid),
    /// Every token of this session.
    Session(Uuid),
    /// Every token of this account.
    Subject(Uuid),
    /// Each of these tokens (a batch, at most 1000).
    Ids(Vec<Uuid>),
}

/// One token newly revoked, with its place in the revocation feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevokedToken {
    /// Feed sequence number.
    pub sequence: i64,
    /// Public id.
    pub token_id: Uuid,
    /// Hash bytes (32).
    pub token_hash: Vec<u8>,
}

/// Advisory lock that serialises writers of the revocation feed, so sequence numbers become visible
/// in commit order and a subscriber reading "everything after N" can never skip one.
///
/// Taken first, for the whole revocation. Taking it only after the tree walk (so writers queue for
/// the append and the commit alone) was tried: the bench's cross-replica lag with four concurrent
/// revokers went from p99 14 ms to 32–43 ms (p50 4.5 → 8–11 ms), so it stays here.
const FEED_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// Planner settings for the tree walk, local to the transaction (see [`tree_sql`]); the walk
/// restores `enable_seqscan` after itself and leaves JIT off, which no statement of a revocation
/// needs.
const WALK_SETTINGS: &str =
    "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)";

/// The statement that finds and locks the target's tree, one per kind of target.
///
/// Written so that every plan PostgreSQL may pick walks indexes, whatever the table's size and
/// whatever the planner guesses. sqlx prepares statements, and PostgreSQL switches a prepared
/// statement to a generic plan after five runs; the old single statement seeded the walk with
/// `hash = $1 OR id = $2 OR session_id = $3 OR subject = $4`, whose generic plan budgets for its
/// widest arm (every token of an account): thousands of seed rows, so it joined each level of the
/// recursion by hashing a sequential scan of all of `tokens`, and each Revoke cost time in
/// proportion to the table (0.9 ms became 425 ms at 320,000 rows, JIT compilation included). So:
///
/// * one seed column per statement, each with its index;
/// * the recursion looks children up through a `LATERAL` subquery (`OFFSET 0` keeps it from being
///   flattened into a join), which can only run as an index lookup of `tokens_parent_idx` per
///   row found, never as a hash join over the whole table;
/// * the rows are locked through `id = ANY(ARRAY(…))`, a primary-key lookup.
///
/// That is not enough on its own: the statistics see `parent_id` through its most common value,
/// and a session that issues tokens all day is the parent of thousands of rows, so the generic
/// plan expects thousands of children per token and scans the table for each (12 ms at 10,000
/// rows, for a leaf that has none), and its estimated cost is high enough to JIT-compile the
/// statement on every run (another 50–170 ms). [`WALK_SETTINGS`], for the walk only, rules both
/// out: a revocation touches a tree, never the table.
///
/// `generic_plans_of_the_tree_walk_stay_indexed` below holds every variant to that.
fn tree_sql(target: &RevokeTarget) -> &'static str {
    macro_rules! tree {
        ($seed:literal) => {
            concat!(
                "WITH RECURSIVE tree(id) AS (
                     SELECT id FROM tokens WHERE ",
                $seed,
                "
                     UNION
                     SELECT child.id FROM tree CROSS JOIN LATERAL (
                         SELECT t.id FROM tokens t WHERE t.parent_id = tree.id OFFSET 0) child
                 )
                 SELECT id FROM tokens WHERE id = ANY(ARRAY(SELECT id FROM tree))
                 ORDER BY id FOR UPDATE"
            )
        };
    }
    match target {
        RevokeTarget::Hash(_) => tree!("hash = $1"),
        RevokeTarget::Id(_) => tree!("id = $1"),
        RevokeTarget::Session(_) => tree!("session_id = $1"),
        RevokeTarget::Subject(_) => tree!("subject = $1"),
        RevokeTarget::Ids(_) => tree!("id = ANY($1)"),
    }
}

/// Revokes the target and every token derived from it, appends each to the revocation feed and
/// notifies listeners, all inside the caller's transaction (commit makes it visible at once).
/// Tokens already revoked are left as they were and not counted.
pub async fn revoke(
    conn: &mut PgConnection,
    target: &RevokeTarget,
    now: OffsetDateTime,
) -> Result<Vec<RevokedToken>, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut *conn)
        .await?;
    // Lock the whole tree before revoking it. A child insert locks its parent row, so once every
    // row of the tree is locked no new child can join it; children whose insert won the lock
    // first have committed by the time the lock is granted, so reading the tree again finds them
    // (each statement reads afresh under READ COMMITTED). Repeat until a read adds nothing.
    let seqscan: String = sqlx::query_scalar("SELECT current_setting('enable_seqscan')")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(WALK_SETTINGS).execute(&mut *conn).await?;
    let mut tree: Vec<Uuid> = Vec::new();
    loop {
        let seed = sqlx::query_scalar(tree_sql(target));
        let seed = match target {
            RevokeTarget::Hash(hash) => seed.bind(hash.as_bytes().to_vec()),
            RevokeTarget::Id(id) | RevokeTarget::Session(id) | RevokeTarget::Subject(id) => {
                seed.bind(*id)
            }
            RevokeTarget::Ids(ids) => seed.bind(ids.clone()),
        };
        let locked: Vec<Uuid> = seed.fetch_all(&mut *conn).await?;
        if locked == tree {
            break;
        }
        tree = locked;
    }
    sqlx::query("SELECT set_config('enable_seqscan', $1, true)")
        .bind(&seqscan)
        .execute(&mut *conn)
        .await?;
    let revoked = sqlx::query_as::<_, RevokedToken>(
        "WITH revoked AS (
             UPDATE tokens SET revoked_at = $2
             WHERE id = ANY($1) AND revoked_at IS NULL
             RETURNING id, hash
         ),
         feed AS (
             INSERT INTO revocations (token_id, token_hash, revoked_at)
             SELECT id, hash, $2 FROM revoked ORDER BY id
             RETURNING sequence, token_id, token_hash
         )
         SELECT sequence, token_id, token_hash FROM feed ORDER BY sequence",
    )
    .bind(&tree)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(last) = revoked.last() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(crate::feed::CHANNEL)
            .bind(last.sequence.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    /// The plan PostgreSQL falls back to for a prepared statement after five runs is generic; each
    /// tree statement's must walk indexes on a table of any size and shape, never scan it, and
    /// never be JIT-compiled.
    #[tokio::test]
    #[allow(clippy::too_many_lines)] // one table, its plans, read as one story
    async fn generic_plans_of_the_tree_walk_stay_indexed() {
        let db = TestDatabase::new(&crate::MIGRATOR).await.unwrap();
        // 2,000 sessions with 10 children each, half of them revoked: a churned table.
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, session_id, namespace, permissions, issued_at,
                                 expires_at)
             SELECT id, sha256(id::text::bytea), 'session', id, '*', '{*}', now(),
                    now() + interval '1h'
             FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 2000)) s",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, parent_id, session_id, namespace, permissions,
                                 issued_at, expires_at, revoked_at)
             SELECT id, sha256(id::text::bytea), 'api', parent, parent, '*', '{read}', now(),
                    now() + interval '30s', CASE WHEN random() < 0.5 THEN now() END
             FROM (SELECT gen_random_uuid() AS id, p.id AS parent
                   FROM tokens p, generate_series(1, 10)) c",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        // And one session that issued 20,000 tokens: the parent every statistic is about.
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, parent_id, session_id, namespace, permissions,
                                 issued_at, expires_at)
             SELECT id, sha256(id::text::bytea), 'api', parent, parent, '*', '{read}', now(),
                    now() + interval '30s'
             FROM (SELECT gen_random_uuid() AS id, p.id AS parent
                   FROM (SELECT id FROM tokens WHERE kind = 'session' LIMIT 1) p,
                        generate_series(1, 20000)) c",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE tokens")
            .execute(&db.pool)
            .await
            .unwrap();
        // A leaf: a token without children, as most revoked tokens are.
        let (id, hash): (Uuid, Vec<u8>) = sqlx::query_as(
            "SELECT id, hash FROM tokens t WHERE kind = 'api'
               AND NOT EXISTS (SELECT 1 FROM tokens c WHERE c.parent_id = t.id) LIMIT 1",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let mut conn = db.pool.begin().await.unwrap();
        sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(WALK_SETTINGS)
            .execute(&mut *conn)
            .await
            .unwrap();
        let hash = TokenHash::from_slice(&hash).unwrap();
        for (name, target, argument) in [
            ("hash", RevokeTarget::Hash(hash), "bytea"),
            ("id", RevokeTarget::Id(id), "uuid"),
            ("session", RevokeTarget::Session(id), "uuid"),
            ("subject", RevokeTarget::Subject(id), "uuid"),
            ("ids", RevokeTarget::Ids(vec![id]), "uuid[]"),
        ] {
            sqlx::raw_sql(&format!(
                "PREPARE tree_{name}({argument}) AS {}",
                tree_sql(&target)
            ))
            .execute(&mut *conn)
            .await
            .unwrap();
            let value = match &target {
                RevokeTarget::Hash(h) => format!("'\\x{}'::bytea", h.to_hex()),
                RevokeTarget::Ids(_) => format!("ARRAY['{id}']::uuid[]"),
                _ => format!("'{id}'::uuid"),
            };
            let plan: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN EXECUTE tree_{name}({value})"))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            let plan = plan.join("\n");
            assert!(!plan.contains("Seq Scan"), "{name}:\n{plan}");
            assert!(!plan.contains("JIT"), "{name}:\n{plan}");
            assert!(plan.contains("tokens_parent_idx"), "{name}:\n{plan}");
        }
        conn.rollback().await.unwrap();
        db.cleanup().await.unwrap();
    }
}
