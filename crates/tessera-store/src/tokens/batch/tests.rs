use std::sync::Arc;

use tessera_rules::token::TokenKind;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::PgPool;
use crate::{
    testing::TestDatabase,
    tokens::{insert, lookup, revoke, NewToken, RevokeTarget},
};

async fn store(
    pool: &PgPool,
    name: &str,
    now: OffsetDateTime,
    expires_in: Option<Duration>,
    max_uses: Option<u32>,
) -> TokenHash {
    let hash = TokenHash::of(name);
    let token = NewToken {
        id: Uuid::new_v4(),
        hash,
        kind: TokenKind::Api,
        subject: None,
        parent_id: None,
        session_id: None,
        namespace: "*".into(),
        permissions: vec!["introspect".into()],
        elevated: false,
        description: name.into(),
        issued_at: now,
        expires_at: expires_in.map(|d| now + d),
        max_uses,
    };
    let mut conn = pool.acquire().await.unwrap();
    insert(&mut conn, &token).await.unwrap();
    hash
}

fn key(hash: TokenHash, now: OffsetDateTime, consume: bool) -> LookupKey {
    LookupKey { hash, now, consume }
}

/// (uses left as answered, consumed) of one answer.
fn uses(record: &Option<TokenRecord>) -> Option<(Option<i32>, bool)> {
    record.as_ref().map(|r| (r.uses_remaining, r.consumed))
}

#[tokio::test]
async fn one_statement_answers_each_key_as_a_lone_read_would() -> anyhow::Result<()> {
    let db = TestDatabase::new(&crate::MIGRATOR).await?;
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)?;
    let unlimited = store(&db.pool, "unlimited", now, None, None).await;
    let two = store(&db.pool, "two-uses", now, None, Some(2)).await;
    let soon = store(
        &db.pool,
        "expires",
        now,
        Some(Duration::minutes(1)),
        Some(5),
    )
    .await;
    let revoked = store(&db.pool, "revoked", now, None, Some(5)).await;
    let mut tx = db.pool.begin().await?;
    revoke(&mut tx, &RevokeTarget::Hash(revoked), now).await?;
    tx.commit().await?;
    let later = now + Duration::minutes(2);

    let answers = lookup_many(
        &mut *db.pool.acquire().await?,
        &[
            key(unlimited, now, true),
            key(two, now, true),
            key(two, now, false),
            key(TokenHash::of("unknown"), now, true),
            // Expiry is judged at each key's own time.
            key(soon, now, true),
            key(soon, later, false),
            key(revoked, now, true),
        ],
    )
    .await?;
    assert_eq!(answers.len(), 7);
    assert_eq!(uses(&answers[0]), Some((None, false)));
    assert_eq!(uses(&answers[1]), Some((Some(1), true)));
    // The peek in the same statement sees the row as the statement found it.
    assert_eq!(uses(&answers[2]), Some((Some(2), false)));
    assert!(answers[3].is_none());
    assert_eq!(uses(&answers[4]), Some((Some(4), true)));
    assert_eq!(uses(&answers[5]), Some((Some(5), false)));
    assert_eq!(uses(&answers[6]), Some((Some(5), false)));
    assert!(answers[6].as_ref().unwrap().revoked_at.is_some());

    // An expired token is not consumed, whoever asks.
    let expired = lookup_many(
        &mut *db.pool.acquire().await?,
        &[key(soon, later, true), key(two, now, true)],
    )
    .await?;
    assert_eq!(uses(&expired[0]), Some((Some(4), false)));
    assert_eq!(uses(&expired[1]), Some((Some(0), true)));
    // Used up: nothing left to consume, and a lone read agrees.
    let used_up = lookup_many(
        &mut *db.pool.acquire().await?,
        &[key(two, now, true), key(unlimited, now, true)],
    )
    .await?;
    assert_eq!(uses(&used_up[0]), Some((Some(0), false)));
    let lone = lookup(&mut *db.pool.acquire().await?, &two, now, true).await?;
    assert_eq!(uses(&lone), Some((Some(0), false)));
    db.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn a_token_is_consumed_at_most_once_per_statement() -> anyhow::Result<()> {
    let db = TestDatabase::new(&crate::MIGRATOR).await?;
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)?;
    let three = store(&db.pool, "three", now, None, Some(3)).await;
    let refused = lookup_many(
        &mut *db.pool.acquire().await?,
        &[key(three, now, true), key(three, now, true)],
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    let left = lookup(&mut *db.pool.acquire().await?, &three, now, false).await?;
    assert_eq!(uses(&left), Some((Some(3), false)), "nothing was spent");
    db.cleanup().await?;
    Ok(())
}

/// Concurrent batches over the same limited-use tokens, each presenting them in its own order:
/// every use is spent exactly once, and no two batches deadlock (rows are locked in id order).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_spend_each_use_exactly_once() -> anyhow::Result<()> {
    let db = TestDatabase::new(&crate::MIGRATOR).await?;
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)?;
    let mut tokens = Vec::new();
    for i in 0..24u32 {
        // Uses 1, 2, 3, 1, 2, 3, ...: single-use and limited tokens alike.
        let uses = i % 3 + 1;
        tokens.push((
            store(&db.pool, &format!("t{i}"), now, None, Some(uses)).await,
            uses,
        ));
    }
    let tokens = Arc::new(tokens);
    let batches = 8;
    let rounds = 4;
    let mut tasks = Vec::new();
    for batch in 0..batches {
        let (pool, tokens) = (db.pool.clone(), Arc::clone(&tokens));
        tasks.push(tokio::spawn(async move {
            let mut accepted = vec![0u32; tokens.len()];
            for round in 0..rounds {
                // Rotated per batch and round, so batches name the same rows in different orders.
                let shift = (batch * 5 + round * 7) % tokens.len();
                let order: Vec<usize> = (0..tokens.len())
                    .map(|i| (i + shift) % tokens.len())
                    .collect();
                let keys: Vec<LookupKey> =
                    order.iter().map(|&i| key(tokens[i].0, now, true)).collect();
                let answers = lookup_many(&mut pool.acquire().await.expect("connection"), &keys)
                    .await
                    .expect("batch");
                for (&i, answer) in order.iter().zip(&answers) {
                    if answer.as_ref().expect("known token").consumed {
                        accepted[i] += 1;
                    }
                }
            }
            accepted
        }));
    }
    let mut accepted = vec![0u32; tokens.len()];
    for task in tasks {
        for (total, own) in accepted.iter_mut().zip(task.await?) {
            *total += own;
        }
    }
    // 8 batches × 4 rounds present each token 32 times: exactly its uses are accepted.
    let expected: Vec<u32> = tokens.iter().map(|(_, uses)| *uses).collect();
    assert_eq!(accepted, expected);
    db.cleanup().await?;
    Ok(())
}

/// The cold path's promise: a token without a use limit, or any token read without `consume`,
/// costs one plain read and no write, alone or batched. A pool whose sessions are read-only
/// proves it: those reads pass there, and only spending a use of a limited token needs a write.
#[tokio::test]
async fn only_spending_a_limited_use_writes() -> anyhow::Result<()> {
    let db = TestDatabase::new(&crate::MIGRATOR).await?;
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)?;
    let unlimited = store(&db.pool, "unlimited", now, None, None).await;
    let limited = store(&db.pool, "limited", now, None, Some(2)).await;
    let exhausted = store(&db.pool, "exhausted", now, None, Some(1)).await;
    assert!(
        lookup(&mut *db.pool.acquire().await?, &exhausted, now, true)
            .await?
            .is_some_and(|r| r.consumed)
    );
    let read_only = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, "SET default_transaction_read_only = on")
                    .await
                    .map(|_| ())
            })
        })
        .connect(&db.url)
        .await?;
    let lone = lookup(&mut *read_only.acquire().await?, &unlimited, now, true).await?;
    assert_eq!(uses(&lone), Some((None, false)));
    let peek = lookup(&mut *read_only.acquire().await?, &limited, now, false).await?;
    assert_eq!(uses(&peek), Some((Some(2), false)));
    // Nothing left to spend: answered from the read, no write attempted.
    let used_up = lookup(&mut *read_only.acquire().await?, &exhausted, now, true).await?;
    assert_eq!(uses(&used_up), Some((Some(0), false)));
    let batch = lookup_many(
        &mut *read_only.acquire().await?,
        &[
            key(unlimited, now, true),
            key(limited, now, false),
            key(exhausted, now, true),
            key(TokenHash::of("unknown"), now, true),
        ],
    )
    .await?;
    assert_eq!(uses(&batch[0]), Some((None, false)));
    assert_eq!(uses(&batch[1]), Some((Some(2), false)));
    assert_eq!(uses(&batch[2]), Some((Some(0), false)));
    assert!(batch[3].is_none());
    // Spending a use is the one write: refused on the read-only session, counted on a normal one.
    assert!(
        lookup(&mut *read_only.acquire().await?, &limited, now, true)
            .await
            .is_err()
    );
    assert!(
        lookup_many(&mut *read_only.acquire().await?, &[key(limited, now, true)])
            .await
            .is_err()
    );
    let spent = lookup(&mut *db.pool.acquire().await?, &limited, now, true).await?;
    assert_eq!(uses(&spent), Some((Some(1), true)));
    read_only.close().await;
    db.cleanup().await?;
    Ok(())
}
