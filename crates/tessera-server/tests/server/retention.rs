//! Issue 19: the revocation feed and the audit trail are pruned past their retention by the
//! sweeper, the feed always stays a gap-free suffix (its newest entry kept), and a watcher resuming
//! from a pruned sequence is told FAILED_PRECONDITION / RESYNC_REQUIRED with the oldest retained
//! sequence instead of silently missing revocations.

use crate::common::*;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tessera_server::sweeper::{self, Retention};
use tonic::Code;
use tonic_types::StatusExt;

use pb::revoke_request::Target;

async fn watch_first(
    server: &TestServer,
    token: &str,
    after_sequence: u64,
) -> Result<pb::WatchRevocationsResponse, tonic::Status> {
    let mut stream = server
        .client()
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("the stream answers at once");
    Ok(first?.expect("a revocation"))
}

async fn revoke_fresh(server: &TestServer, session: &str) -> String {
    let token = server
        .issue(
            session,
            pb::IssueTokenRequest {
                ttl: "10h".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        server
            .revoke(session, Target::TokenId(token.token_id.clone()))
            .await
            .unwrap(),
        1
    );
    token.token_id
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&server.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_feed_is_pruned_to_its_retention_and_a_stale_resume_must_resync() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let watcher = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                ttl: "10h".into(),
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .token;
    for _ in 0..4 {
        revoke_fresh(&server, &session).await;
    }
    let first = watch_first(&server, &watcher, 0).await.unwrap().sequence;
    server.clock.advance(time::Duration::hours(2));
    let kept = revoke_fresh(&server, &session).await;
    let audit_before = count(&server, "SELECT count(*) FROM audit_events").await;

    let retention = Retention {
        revocations: time::Duration::hours(1),
        audit: Some(time::Duration::hours(1)),
    };
    let report = sweeper::sweep(&server.authority, sweeper::BATCH, Some(&retention))
        .await
        .unwrap();
    assert_eq!(report.revocations, 4, "{report:?}");
    assert!(report.audit_events > 0, "{report:?}");
    assert_eq!(count(&server, "SELECT count(*) FROM revocations").await, 1);
    assert_eq!(
        count(&server, "SELECT count(*) FROM audit_events").await,
        audit_before - report.audit_events as i64
    );
    let oldest = count(&server, "SELECT min(sequence) FROM revocations").await as u64;

    // Resuming from before the retained suffix: refused at once, naming where it starts.
    let status = watch_first(&server, &watcher, first).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, "RESYNC_REQUIRED");
    assert_eq!(info.domain, "tessera");
    assert_eq!(info.metadata["oldest_sequence"], oldest.to_string());

    // From just before the oldest retained, or from 0, nothing is missing: the stream runs.
    for after in [oldest - 1, 0] {
        let revocation = watch_first(&server, &watcher, after).await.unwrap();
        assert_eq!(revocation.sequence, oldest);
        assert_eq!(revocation.token_id, kept);
    }

    // However old, the newest entry stays: the feed never forgets where it ended.
    server.clock.advance(time::Duration::days(30));
    let report = sweeper::sweep(&server.authority, sweeper::BATCH, Some(&retention))
        .await
        .unwrap();
    assert_eq!(report.revocations, 0, "{report:?}");
    assert_eq!(count(&server, "SELECT count(*) FROM revocations").await, 1);
}
