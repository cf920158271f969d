//! Fail closed: with PostgreSQL stopped, Introspect answers UNAVAILABLE (never active: true) and
//! health says NOT_SERVING; when PostgreSQL returns, both recover without restarting Tessera.

use std::time::Duration;

use crate::common::*;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tessera_store::embedded::{EmbeddedOptions, EmbeddedPostgres};
use tonic::Code;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

async fn health(server: &TestServer) -> ServingStatus {
    let mut client = HealthClient::new(server.channel.clone());
    let answer = client
        .check(HealthCheckRequest {
            service: "tessera.v1.AuthService".into(),
        })
        .await
        .expect("health answers even while the database is down")
        .into_inner();
    ServingStatus::try_from(answer.status).unwrap()
}

async fn wait_for<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn introspect_fails_closed_while_postgres_is_down_and_recovers() {
    let dir = tempfile::Builder::new()
        .prefix("tessera-outage-")
        .tempdir_in("/tmp")
        .unwrap();
    let options = EmbeddedOptions {
        data_dir: dir.path().to_path_buf(),
        bin_dir: None,
    };
    let postgres = EmbeddedPostgres::start(options.clone())
        .await
        .expect("embedded postgres");
    postgres.ensure_database("tessera").await.unwrap();
    let pool = tessera_store::connect_lazy(&postgres.database_url("tessera"), &Default::default())
        .unwrap();
    tessera_store::migrate(&pool).await.unwrap();
    let server = TestServer::start_on(pool, |s| s).await;

    let (_, session) = server.session(Role::User).await;
    let token = server
        .issue(&session, pb::IssueTokenRequest::default())
        .await
        .unwrap()
        .token;
    assert!(server.introspect(&session, &token).await.unwrap().active);
    wait_for("SERVING", || async {
        health(&server).await == ServingStatus::Serving
    })
    .await;

    postgres.shutdown().await.expect("stop postgres");
    // Until the outage is noticed answers may still come; once UNAVAILABLE is seen, no answer may
    // be active: true until the database is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match server.introspect(&session, &token).await {
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                break;
            }
            Ok(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "never failed closed"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        let status = server
            .introspect(&session, &token)
            .await
            .expect_err("still down");
        assert_eq!(status.code(), Code::Unavailable);
        use tonic_types::StatusExt;
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "UNAVAILABLE"
        );
    }
    wait_for("NOT_SERVING", || async {
        health(&server).await == ServingStatus::NotServing
    })
    .await;

    let postgres = EmbeddedPostgres::start(options)
        .await
        .expect("restart postgres");
    wait_for("SERVING again", || async {
        health(&server).await == ServingStatus::Serving
    })
    .await;
    wait_for("introspect again", || async {
        matches!(server.introspect(&session, &token).await, Ok(answer) if answer.active)
    })
    .await;
    drop(server);
    postgres.shutdown().await.unwrap();
}

/// Issue 32: during a failover a router may send a connection to a node still in recovery, whose
/// writes fail "read-only transaction" (SQLSTATE 25006). That is no primary answering: the store
/// says UNAVAILABLE (the call fails closed, retryable), never a database error (INTERNAL).
#[tokio::test]
async fn a_read_only_answer_is_unavailable_not_internal() {
    let db = tessera_store::testing::TestDatabase::new(&tessera_store::MIGRATOR)
        .await
        .expect("test database");
    let pool = tessera_store::connect_lazy(&db.url, &Default::default()).unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET default_transaction_read_only = on")
        .execute(&mut *conn)
        .await
        .unwrap();
    let refused = sqlx::query("DELETE FROM login_decoys WHERE slot = -1")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    let refused = tessera_store::StoreError::from(refused);
    assert!(
        matches!(refused, tessera_store::StoreError::Unavailable(_)),
        "{refused:?}"
    );
    // The connection leaves the pool once it is next checked out: it proves it reaches a primary
    // first, and this one (a primary in read-only mode) does, so it is kept and still works.
    drop(conn);
    tessera_store::ping(&pool)
        .await
        .expect("the pool still serves");
}
