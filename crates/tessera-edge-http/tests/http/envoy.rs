//! The real Envoy 1.40 (`scripts/install-tools.sh` installs it into `.tools/bin`) in front of a
//! real upstream, asking the edge through its external authorization filter: gRPC mode
//! (`envoy.service.auth.v3.Authorization/Check`) with the configuration `deploy/envoy/envoy.yaml`
//! ships, and HTTP mode (`/auth/envoy/…`) with `deploy/envoy/envoy-http.yaml`, each with only its
//! addresses and the service token replaced. Client → Envoy → upstream, all on loopback.
//!
//! What a mesh relies on, each a test through Envoy: no token is 401 with `WWW-Authenticate`; a good
//! token reaches the upstream with the identity headers, spoofed copies gone and no bearer; a
//! namespace rule from the route's `context_extensions` or the edge's own flags refuses 403 outside
//! the namespace; public routes pass; a session cookie works; a single-use token passes once of 16
//! concurrent requests; a revoked token is refused within the feed bound; with Tessera stopped,
//! Envoy never answers 200.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use http::StatusCode;
use tempfile::TempDir;
use tessera_proto::v1 as pb;

use crate::support::http_client::{get, get_with_token, Reply};
use crate::support::{closed_port, start_private_tessera, tessera, upstream, wsgi, Edge, Tessera};

/// How long a revocation may take to reach the edge's decisions through the feed.
const FEED_BOUND: Duration = Duration::from_secs(10);

/// Which ext_authz mode Envoy uses, and the configuration the repository ships for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Grpc,
    Http,
}

impl Mode {
    fn config(self) -> &'static str {
        match self {
            Mode::Grpc => "deploy/envoy/envoy.yaml",
            Mode::Http => "deploy/envoy/envoy-http.yaml",
        }
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.tools/bin/envoy` (what install-tools puts there), else `envoy` on the PATH.
fn envoy_bin() -> PathBuf {
    let tools = repository().join(".tools/bin/envoy");
    if tools.exists() {
        return tools;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("envoy"))
                .find(|candidate| candidate.exists())
        })
        .unwrap_or_else(|| panic!("envoy is not installed: run scripts/install-tools.sh"))
}

/// `text` with its one occurrence of `from` replaced by `to`.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the Envoy configuration must contain {from:?} exactly once"
    );
    text.replace(from, to)
}

/// A running Envoy, stopped on drop.
struct Envoy {
    child: Child,
    port: u16,
    _dir: TempDir,
    log: PathBuf,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Envoy {
    /// Envoy with the shipped configuration for `mode`, in front of `upstream_port`, asking `edge`
    /// (in gRPC mode with `service_token` as its credential).
    fn start(mode: Mode, edge: &Edge, upstream_port: u16, service_token: &str) -> Envoy {
        let shipped = std::fs::read_to_string(repository().join(mode.config())).expect("config");
        let port = closed_port();
        let edge_port = edge.addr.port().to_string();
        let mut config = substitute(
            &shipped,
            "port_value: 10000",
            &format!("port_value: {port}"),
        );
        config = substitute(
            &config,
            "port_value: 8080",
            &format!("port_value: {edge_port}"),
        );
        config = substitute(
            &config,
            "port_value: 8081",
            &format!("port_value: {upstream_port}"),
        );
        config = match mode {
            Mode::Grpc => substitute(
                &config,
                "Bearer TESSERA_SERVICE_TOKEN",
                &format!("Bearer {service_token}"),
            ),
            Mode::Http => substitute(
                &config,
                "uri: http://127.0.0.1:8080",
                &format!("uri: http://127.0.0.1:{edge_port}"),
            ),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("envoy.yaml");
        std::fs::write(&path, config).expect("write config");
        let log = dir.path().join("envoy.log");
        let output = std::fs::File::create(&log).expect("log");
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(&path)
            .args([
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log"))
            .stderr(output)
            .spawn()
            .expect("start envoy");
        let mut envoy = Envoy {
            child,
            port,
            _dir: dir,
            log,
        };
        envoy.wait_listening();
        envoy
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("envoy exited with {status}: {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "envoy did not listen: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The edge every mode's test asks, with a public route and a namespace rule of its own.
async fn edge() -> Edge {
    Edge::start(&[
        "--public-route",
        "/api/v1/public/",
        "--namespace-rule",
        "/api/jobs/{id}",
    ])
    .await
}

/// A one-hour token of `user` (not the dev admin, so the roles are plainly `user`).
async fn users_token(user: &str) -> String {
    let tessera = tessera();
    let session = tessera.login(user, crate::support::PASSWORD).await;
    tessera.child_of(&session).await
}

/// A one-hour token of the dev admin holding `permission` alone.
async fn holding(permission: &str) -> String {
    tessera()
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            permissions: vec![permission.into()],
            ..Default::default()
        })
        .await
}

const IDENTITY: [&str; 6] = [
    "x-tessera-subject",
    "x-tessera-username",
    "x-tessera-roles",
    "x-tessera-namespace",
    "x-tessera-token-id",
    "x-tessera-elevated",
];

async fn no_token_is_401_with_a_challenge(envoy: &Envoy, mode: Mode) {
    let refused = get(&envoy.url("/app/page"), &[("x-tessera-username", "root")]).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{mode:?}: {}",
        refused.text()
    );
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{mode:?}: {challenge:?}");
    assert_eq!(refused.json()["error"], "invalid_token", "{mode:?}");
    if mode == Mode::Grpc {
        assert_eq!(refused.json()["reason"], "auth_required");
    }
    for bad in ["tsr_api_definitelynotatoken", "garbage"] {
        let status = get_with_token(&envoy.url("/app/page"), bad).await.status;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{mode:?} let {bad} through"
        );
    }
}

async fn a_good_token_reaches_the_upstream_as_its_identity(envoy: &Envoy, mode: Mode) {
    let token = users_token("frank").await;
    let auth = format!("Bearer {token}");
    let reply: Reply = get(
        &envoy.url("/app/page?q=1"),
        &[
            ("authorization", &auth),
            ("x-tessera-username", "root"),
            ("X-Tessera-Roles", "admin"),
            ("x-tessera-elevated", "true"),
            ("x-tessera-anything-new", "1"),
            ("cookie", "theme=dark"),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{mode:?}: {} {}",
        reply.text(),
        envoy.log_text()
    );
    assert_eq!(reply.json()["path"], "/app/page", "{mode:?}");
    assert_eq!(reply.json()["query"], "q=1", "{mode:?}");
    assert_eq!(
        reply.echoed("x-tessera-username"),
        vec!["frank"],
        "{mode:?}"
    );
    assert_eq!(reply.echoed("x-tessera-roles"), vec!["user"], "{mode:?}");
    assert_eq!(
        reply.echoed("x-tessera-elevated"),
        vec!["false"],
        "{mode:?}"
    );
    for name in IDENTITY {
        assert_eq!(reply.echoed(name).len(), 1, "{mode:?}: {name}");
    }
    assert_eq!(reply.echoed("cookie"), vec!["theme=dark"], "{mode:?}");
    assert!(
        reply.echoed("authorization").is_empty(),
        "{mode:?}: the bearer reached the upstream"
    );
    if mode == Mode::Grpc {
        // Every spelling of a client's identity header is gone, not only the six the edge sets.
        assert!(
            reply.echoed("x-tessera-anything-new").is_empty(),
            "{}",
            reply.text()
        );
    }
}

async fn namespace_rules_refuse_outside_the_namespace(envoy: &Envoy, mode: Mode) {
    let deploy = crate::support::deploy_token().await;
    // The edge's own --namespace-rule.
    let inside = get_with_token(&envoy.url("/api/jobs/deploy.web"), &deploy).await;
    assert_eq!(inside.status, StatusCode::OK, "{mode:?}: {}", inside.text());
    let outside = get_with_token(&envoy.url("/api/jobs/backup.db"), &deploy).await;
    assert_eq!(
        outside.status,
        StatusCode::FORBIDDEN,
        "{mode:?}: {}",
        outside.text()
    );
    assert_eq!(outside.json()["error"], "insufficient_scope", "{mode:?}");
    for dodge in [
        "/api/jobs;x/backup.db",
        "/api/jobs/backup.db;x",
        "/API/jobs/backup.db",
    ] {
        let status = get_with_token(&envoy.url(dodge), &deploy).await.status;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
            "{mode:?}: {dodge} gave {status}"
        );
    }
    if mode == Mode::Grpc {
        // The route's own rules, from context_extensions: `/jobs/{id}`, and `write` to change.
        let inside = get_with_token(&envoy.url("/jobs/deploy.web"), &deploy).await;
        assert_eq!(inside.status, StatusCode::OK, "{}", inside.text());
        let outside = get_with_token(&envoy.url("/jobs/backup.db"), &deploy).await;
        assert_eq!(outside.status, StatusCode::FORBIDDEN, "{}", outside.text());
        assert_eq!(outside.json()["reason"], "auth_denied");
    }
}

async fn public_routes_pass_without_a_token(envoy: &Envoy, mode: Mode) {
    let public = get(
        &envoy.url("/api/v1/public/status"),
        &[
            ("x-tessera-username", "root"),
            ("authorization", "Bearer garbage"),
        ],
    )
    .await;
    assert_eq!(public.status, StatusCode::OK, "{mode:?}: {}", public.text());
    for name in IDENTITY {
        assert!(
            public.echoed(name).iter().all(String::is_empty),
            "{mode:?}: {name} reached the upstream on a public route: {}",
            public.text()
        );
    }
    assert!(public.echoed("authorization").is_empty(), "{mode:?}");
    if mode == Mode::Grpc {
        let health = get(&envoy.url("/health/live"), &[]).await;
        assert_eq!(
            health.status,
            StatusCode::OK,
            "a route public by its context_extensions"
        );
    }
}

async fn a_session_cookie_is_a_credential_and_stays_at_the_edge(envoy: &Envoy, mode: Mode) {
    let session = tessera().login("erin", crate::support::PASSWORD).await;
    let cookie = format!("theme=dark; __Host-tessera_session={session}");
    let reply = get(&envoy.url("/app/me"), &[("cookie", &cookie)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{mode:?}: {}", reply.text());
    assert_eq!(reply.echoed("x-tessera-username"), vec!["erin"], "{mode:?}");
    assert_eq!(
        reply.echoed("cookie"),
        vec!["theme=dark"],
        "{mode:?}: the session cookie reached the upstream"
    );
}

async fn a_single_use_token_passes_once_of_16(envoy: &Envoy, mode: Mode) {
    let once = tessera()
        .issue(pb::IssueTokenRequest {
            ttl: "1h".into(),
            max_uses: 1,
            ..Default::default()
        })
        .await;
    let statuses = join_all((0..16).map(|at| {
        let url = envoy.url(&format!("/app/{at}"));
        let once = once.clone();
        async move { get_with_token(&url, &once).await.status }
    }))
    .await;
    let passed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(passed, 1, "{mode:?}: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{mode:?}: {statuses:?}"
    );
}

async fn a_revoked_token_is_refused_within_the_feed_bound(envoy: &Envoy, mode: Mode) {
    let token = users_token("alice").await;
    for _ in 0..3 {
        let status = get_with_token(&envoy.url("/app/page"), &token).await.status;
        assert_eq!(status, StatusCode::OK, "{mode:?}");
    }
    tessera().revoke(&token).await;
    let revoked_at = Instant::now();
    loop {
        let status = get_with_token(&envoy.url("/app/page"), &token).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{mode:?}");
        assert!(
            revoked_at.elapsed() < FEED_BOUND,
            "{mode:?}: the revoked token still passes after {FEED_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        let status = get_with_token(&envoy.url("/app/page"), &token).await.status;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode:?}");
    }
}

/// A client's identity header spelled with `_` is refused (a WSGI upstream would read it as the
/// real one).
async fn an_underscore_identity_header_is_refused(mode: Mode, edge: &Edge) {
    let wsgi = wsgi::start();
    let port: u16 = wsgi.url.rsplit(':').next().unwrap().parse().unwrap();
    let envoy = Envoy::start(mode, edge, port, &tessera().ready.service_token);
    let token = users_token("bob").await;
    let auth = format!("Bearer {token}");
    let good = get(&envoy.url("/x"), &[("authorization", &auth)]).await;
    assert_eq!(good.status, StatusCode::OK, "{mode:?}: {}", good.text());
    assert_eq!(good.json()["HTTP_X_TESSERA_USERNAME"], "bob", "{mode:?}");
    let forged = get(
        &envoy.url("/x"),
        &[("authorization", &auth), ("x_tessera_username", "root")],
    )
    .await;
    assert_eq!(
        forged.status,
        StatusCode::BAD_REQUEST,
        "{mode:?}: {}",
        forged.text()
    );
}

async fn everything_through(mode: Mode) {
    let upstream = upstream::start().await;
    let edge = edge().await;
    let envoy = Envoy::start(
        mode,
        &edge,
        upstream.addr.port(),
        &tessera().ready.service_token,
    );
    no_token_is_401_with_a_challenge(&envoy, mode).await;
    a_good_token_reaches_the_upstream_as_its_identity(&envoy, mode).await;
    namespace_rules_refuse_outside_the_namespace(&envoy, mode).await;
    public_routes_pass_without_a_token(&envoy, mode).await;
    a_session_cookie_is_a_credential_and_stays_at_the_edge(&envoy, mode).await;
    a_single_use_token_passes_once_of_16(&envoy, mode).await;
    a_revoked_token_is_refused_within_the_feed_bound(&envoy, mode).await;
    an_underscore_identity_header_is_refused(mode, &edge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_ext_authz_in_front_of_the_edge() {
    everything_through(Mode::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz_in_front_of_the_edge() {
    everything_through(Mode::Http).await;
}

/// Tessera stopped: Envoy refuses (503 by the shipped `status_on_error`, or the edge's own 503),
/// never 200 — once the edge has seen its revocation feed go, not even for a token it had cached.
async fn tessera_stopped_is_never_200(mode: Mode) {
    let private: Tessera = start_private_tessera(&[]).unwrap_or_else(|e| panic!("{e}"));
    let upstream = upstream::start().await;
    let edge = Edge::start_with(&private.uri(), &private.ready.service_token, &[])
        .await
        .unwrap_or_else(|failure| panic!("edge did not start: {failure:?}"));
    let token = private.token().await;
    // Envoy's credential for gRPC mode is the private Tessera's service token.
    let envoy = Envoy::start(
        mode,
        &edge,
        upstream.addr.port(),
        &private.ready.service_token,
    );
    let ok = get_with_token(&envoy.url("/app"), &token).await;
    assert_eq!(ok.status, StatusCode::OK, "{mode:?}: {}", ok.text());
    drop(private);
    let stopped_at = Instant::now();
    loop {
        let status = get_with_token(&envoy.url("/app"), &token).await.status;
        if status != StatusCode::OK {
            break;
        }
        assert!(
            stopped_at.elapsed() < FEED_BOUND,
            "{mode:?}: still 200 {FEED_BOUND:?} after Tessera stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for path in ["/app", "/app/other", "/api/v1/public-not"] {
        for credential in [Some(token.as_str()), None] {
            let reply = match credential {
                Some(token) => get_with_token(&envoy.url(path), token).await,
                None => get(&envoy.url(path), &[]).await,
            };
            assert_ne!(reply.status, StatusCode::OK, "{mode:?} {path}");
            assert!(
                reply.status == StatusCode::FORBIDDEN
                    || reply.status.is_server_error()
                    || (credential.is_none() && reply.status == StatusCode::UNAUTHORIZED),
                "{mode:?} {path}: {}",
                reply.status
            );
        }
    }
    let token_reply = get_with_token(&envoy.url("/app"), &token).await;
    assert_eq!(
        token_reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{mode:?}: {}",
        token_reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tessera_stopped_envoy_grpc_never_answers_200() {
    tessera_stopped_is_never_200(Mode::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tessera_stopped_envoy_http_never_answers_200() {
    tessera_stopped_is_never_200(Mode::Http).await;
}

/// Check itself, called as go-control-plane's and grpcurl's users call it: the caller must hold
/// `introspect` (no metadata, a revoked token or one without the permission are gRPC errors, never
/// an HTTP answer Envoy would pass on), and grpcurl finds the service through reflection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_vets_its_caller_and_is_listed_by_reflection() {
    use envoy_types::pb::envoy::service::auth::v3::check_response;

    let tessera = tessera();
    let metrics = format!("127.0.0.1:{}", closed_port());
    let edge = Edge::start(&["--metrics-listen", &metrics]).await;
    let check = |caller: Option<String>| call_check(edge.url.clone(), caller);
    let denied = check(Some(tessera.ready.service_token.clone()))
        .await
        .expect("the service token may call Check")
        .into_inner();
    match denied.http_response {
        Some(check_response::HttpResponse::DeniedResponse(denied)) => {
            assert_eq!(denied.status.map(|s| s.code), Some(401));
        }
        other => panic!("a request without a token was not denied: {other:?}"),
    }
    assert_eq!(
        check(None).await.expect_err("no caller").code(),
        tonic::Code::Unauthenticated
    );
    let reader = holding("read").await;
    assert_eq!(
        check(Some(reader)).await.expect_err("no introspect").code(),
        tonic::Code::PermissionDenied
    );
    let revoked = holding("introspect").await;
    check(Some(revoked.clone()))
        .await
        .expect("an introspect token may call");
    tessera.revoke(&revoked).await;
    let revoked_at = Instant::now();
    loop {
        match check(Some(revoked.clone())).await {
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unauthenticated);
                break;
            }
            Ok(_) => assert!(
                revoked_at.elapsed() < FEED_BOUND,
                "a revoked caller still calls"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every Check is counted by its outcome, a refused caller apart.
    let page = get(&format!("http://{metrics}/metrics"), &[]).await.text();
    let count = |outcome: &str| -> f64 {
        let series = format!("tessera_edge_http_envoy_checks_total{{outcome=\"{outcome}\"}} ");
        page.lines()
            .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    assert!(count("401") >= 2.0, "{page}");
    assert!(count("caller_refused") >= 3.0, "{page}");

    let grpcurl = tessera_harness::grpcurl().expect("grpcurl");
    let listed = Command::new(&grpcurl)
        .args(["-plaintext", &edge.addr.to_string(), "list"])
        .output()
        .expect("grpcurl");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.trim() == "envoy.service.auth.v3.Authorization"),
        "{listed}"
    );
    let described = Command::new(&grpcurl)
        .args(["-plaintext", &edge.addr.to_string(), "describe"])
        .arg("envoy.service.auth.v3.CheckRequest")
        .output()
        .expect("grpcurl");
    assert!(
        described.status.success(),
        "{}",
        String::from_utf8_lossy(&described.stderr)
    );
    let called = Command::new(&grpcurl)
        .args(["-plaintext", "-H"])
        .arg(format!(
            "authorization: Bearer {}",
            tessera.ready.service_token
        ))
        .args([
            "-d",
            r#"{"attributes":{"request":{"http":{"method":"GET","path":"/x","host":"a"}}}}"#,
        ])
        .arg(edge.addr.to_string())
        .arg("envoy.service.auth.v3.Authorization/Check")
        .output()
        .expect("grpcurl");
    let answer = String::from_utf8_lossy(&called.stdout);
    assert!(
        called.status.success(),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    assert!(
        answer.contains("deniedResponse") && answer.contains("Unauthorized"),
        "{answer}"
    );
}

/// Envoy's Check for `GET /app` (no token in the request), as `caller` (none: no metadata).
async fn call_check(
    url: String,
    caller: Option<String>,
) -> Result<tonic::Response<envoy_types::pb::envoy::service::auth::v3::CheckResponse>, tonic::Status>
{
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
    use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
    use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
    let mut client = AuthorizationClient::connect(url).await.expect("connect");
    let mut request = tonic::Request::new(CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/app".into(),
                    host: "app.test".into(),
                    scheme: "https".into(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    });
    if let Some(caller) = caller {
        let value = format!("Bearer {caller}").parse().expect("metadata");
        request.metadata_mut().insert("authorization", value);
    }
    client.check(request).await
}

/// `--ext-authz-callers any` (for a mesh that cannot send a token, behind a port only the gateway
/// reaches) answers a call without a token; a token that is sent is still vetted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_caller_is_answered_only_when_the_edge_says_so() {
    let open = Edge::start(&["--ext-authz-callers", "any"]).await;
    let answered = call_check(open.url.clone(), None).await.expect("answered");
    assert_eq!(
        answered.into_inner().status.map(|s| s.code),
        Some(16),
        "401 for the request"
    );
    let reader = holding("read").await;
    let refused = call_check(open.url.clone(), Some(reader)).await;
    assert_eq!(
        refused.expect_err("no introspect").code(),
        tonic::Code::PermissionDenied
    );
    let closed = edge().await;
    let refused = call_check(closed.url.clone(), None).await;
    assert_eq!(
        refused.expect_err("no caller").code(),
        tonic::Code::Unauthenticated
    );
}

/// go-control-plane's generated `AuthorizationClient` (`tests/envoy-go`, envoy v1.40.0: the type
/// Envoy calls and Pomerium and OPA implement) drives Check from Go: caller vetting, 401 with
/// `WWW-Authenticate`, the identity with the bearer removed, a namespace rule from
/// `context_extensions`. The Go program states each check and exits non-zero on a mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_control_plane_drives_check() {
    let edge = edge().await;
    let deploy = crate::support::deploy_token().await;
    let out = tokio::process::Command::new("go")
        .args(["run", "."])
        .current_dir(repository().join("tests/envoy-go"))
        .env("TESSERA_EDGE_ADDR", edge.addr.to_string())
        .env("TESSERA_SERVICE_TOKEN", &tessera().ready.service_token)
        .env("TESSERA_TOKEN", &deploy)
        .output()
        .await
        .expect("go (the Go toolchain) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("envoy-go: every check passed"), "{stdout}");
}
