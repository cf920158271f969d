//! Issue 12, L1: WatchRevocations is for edges and replicas only, ends when its caller's token is
//! revoked, and is bounded per caller and per connection.

use std::time::Duration;

use crate::common::*;
use futures::StreamExt;
use tessera_proto::v1 as pb;
use tessera_rules::role::Role;
use tonic::{transport::Channel, Code, Streaming};

use pb::revoke_request::Target;

async fn service_token(server: &TestServer, role: Role) -> (String, pb::IssueTokenResponse) {
    let (_, session) = server.session(role).await;
    let token = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (session, token)
}

async fn watch(
    channel: &Channel,
    token: &str,
) -> Result<Streaming<pb::WatchRevocationsResponse>, tonic::Status> {
    pb::auth_service_client::AuthServiceClient::new(channel.clone())
        .watch_revocations(authed(
            pb::WatchRevocationsRequest {
                after_sequence: 0,
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn only_edge_tokens_may_read_the_feed() {
    let server = TestServer::start().await;
    let (user_session, user_service) = service_token(&server, Role::User).await;
    // A plain user session holds `*`, introspect included, but gets no feed...
    assert_reason(
        watch(&server.channel, &user_session).await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    // ...nor through a service token of its own.
    assert_reason(
        watch(&server.channel, &user_service.token).await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    let (admin_session, admin_service) = service_token(&server, Role::Admin).await;
    assert_reason(
        watch(&server.channel, &admin_session).await,
        Code::PermissionDenied,
        "AUTH_DENIED",
    );
    watch(&server.channel, &admin_service.token)
        .await
        .expect("an admin-issued service token with introspect watches");
}

#[tokio::test]
async fn the_stream_ends_when_its_callers_token_is_revoked() {
    let server = TestServer::start().await;
    let (session, service) = service_token(&server, Role::Admin).await;
    let mut stream = watch(&server.channel, &service.token).await.unwrap();
    // Revoking the session cascades to the service token derived from it.
    server
        .revoke(&session, Target::Token(session.clone()))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return Some(status),
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ended after its token was revoked");
    let status = ended.expect("ended with a status");
    assert_reason(Err::<(), _>(status), Code::Unauthenticated, "AUTH_FAILED");
}

#[tokio::test]
async fn the_stream_ends_when_its_callers_token_expires() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let short = server
        .issue(
            &session,
            pb::IssueTokenRequest {
                ttl: "1s".into(),
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut stream = watch(&server.channel, &short.token).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(15), stream.next())
        .await
        .expect("the stream ended once its token expired");
    let status = ended.expect("ended with a status").expect_err("no event");
    assert_reason(Err::<(), _>(status), Code::Unauthenticated, "AUTH_FAILED");
}

#[tokio::test]
async fn each_caller_holds_a_bounded_number_of_streams() {
    let server = TestServer::start_with(|s| tessera_server::settings::AuthSettings {
        watch_streams_per_caller: 3,
        ..s
    })
    .await;
    let (_, service) = service_token(&server, Role::Admin).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(watch(&server.channel, &service.token).await.unwrap());
    }
    assert_reason(
        watch(&server.channel, &service.token).await,
        Code::ResourceExhausted,
        "RESOURCE_EXHAUSTED",
    );
    // Another edge is not affected.
    let (_, other) = service_token(&server, Role::Admin).await;
    watch(&server.channel, &other.token).await.unwrap();
    // Closing one frees its slot (the server sees the cancel shortly after).
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match watch(&server.channel, &service.token).await {
            Ok(stream) => {
                open.push(stream);
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}

#[tokio::test]
async fn one_connection_holds_a_bounded_number_of_streams() {
    let server = TestServer::start_serving(
        |s| tessera_server::settings::AuthSettings {
            watch_streams_per_caller: 100,
            ..s
        },
        |s| tessera_server::settings::ServeSettings {
            max_concurrent_streams: 4,
            ..s
        },
    )
    .await;
    let (session, service) = service_token(&server, Role::Admin).await;
    let connection = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(watch(&connection, &service.token).await.unwrap());
    }
    // A fifth stream on that connection waits for a free one (HTTP/2 SETTINGS), while another
    // connection is served at once.
    let fifth = tokio::spawn({
        let connection = connection.clone();
        let token = service.token.clone();
        async move { watch(&connection, &token).await.map(drop) }
    });
    server.peek(&session, &session).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!fifth.is_finished(), "the fifth stream was served at once");
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(10), fifth)
        .await
        .expect("the fifth stream opened once one closed")
        .unwrap()
        .unwrap();
}
