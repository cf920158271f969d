//! The tower layer in front of an example axum service and an example tonic service (the gRPC
//! health service, with an interceptor that reads the caller the layer put in the extensions),
//! both against a real Tessera.

use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tessera_client::layer::{Caller, TesseraAuthLayer};
use tessera_client::{Client, IssueToken, RetryPolicy, Secret};
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceExt;

use super::calls::dev;
use super::stub;

/// The example HTTP service: who am I, and jobs by identifier.
fn app(tessera: Client) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|Extension(caller): Extension<Caller>| async move {
                format!("{} {}", caller.username, caller.namespace)
            }),
        )
        .route(
            "/jobs/{id}",
            get(|Extension(caller): Extension<Caller>| async move { caller.token_id.clone() }),
        )
        .layer(TesseraAuthLayer::http(tessera).namespace_from(
            |parts| parts.uri.path().strip_prefix("/jobs/").map(str::to_owned),
            "",
        ))
}

async fn get_as(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_layer_protects_an_axum_service_and_a_tonic_service() -> anyhow::Result<()> {
    let dev = dev();
    let address = format!("http://{}", dev.ready.grpc_addr);
    let service = Client::builder()
        .address(address.clone())
        .token(Secret::new(dev.ready.service_token.clone()))
        .build()?;
    let admin = service.with_token(&dev.ready.admin_token)?;
    let deploy = admin
        .issue_token(IssueToken::new(Duration::from_secs(600)).namespace("deploy."))
        .await?;
    let deploy = deploy.token.expose();

    // axum, RFC 6750.
    let http = app(service.clone());
    let (status, challenge, _) = get_as(&http, "/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, r#"Bearer realm="tessera""#);
    let (status, challenge, _) = get_as(&http, "/whoami", Some("tsr_api_not_a_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let (status, _, body) = get_as(&http, "/whoami", Some(deploy)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{} deploy.", dev.ready.admin_username));
    let (status, _, _) = get_as(&http, "/jobs/deploy.daily", Some(deploy)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge, _) = get_as(&http, "/jobs/backup.nightly", Some(deploy)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );

    // Tessera unreachable: 503, nothing passes.
    let down = Client::builder()
        .address(format!("http://127.0.0.1:{}", stub::closed_port()))
        .token(Secret::new(dev.ready.service_token.clone()))
        .retry(RetryPolicy::never())
        .build()?;
    let (status, _, _) = get_as(&app(down), "/whoami", Some(deploy)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // tonic: the health service behind the layer, served on a loopback port.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let checked = tonic::service::interceptor::InterceptedService::new(
        health,
        |request: tonic::Request<()>| match request.extensions().get::<Caller>() {
            Some(caller) if caller.active => Ok(request),
            _ => Err(tonic::Status::internal(
                "the layer let a request through without a caller",
            )),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(TesseraAuthLayer::grpc(service.clone()).namespace_from(
                |parts| {
                    parts
                        .headers
                        .get("x-job")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                },
                "",
            ))
            .add_service(checked)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))?
        .connect()
        .await?;
    let check = |token: Option<&str>, job: Option<&str>| {
        let mut client = HealthClient::new(channel.clone());
        let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        if let Some(job) = job {
            request.metadata_mut().insert("x-job", job.parse().unwrap());
        }
        async move { client.check(request).await }
    };
    assert_eq!(
        check(None, None).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        check(Some("tsr_api_not_a_token"), None)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );
    assert!(check(Some(deploy), None).await.is_ok());
    assert!(check(Some(deploy), Some("deploy.daily")).await.is_ok());
    assert_eq!(
        check(Some(deploy), Some("backup.nightly"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    Ok(())
}
