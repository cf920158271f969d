//! A real Tessera server in process: on port 0 over a fresh PostgreSQL database (tessera-store's
//! `testing` module), with a manual clock, and helpers to make accounts and call it as a user
//! would. tessera-server's suites and the CLI's suites (which run the real `tessera` binary
//! against it) share it.

use std::{sync::Arc, time::Duration};

use tessera_core::{
    clock::{Clock, ManualClock},
    password::{Argon2Params, Password},
    seal::SealingKey,
    totp::TotpSecret,
};

use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tessera_rules::role::Role;
use tessera_server::{
    server::Server,
    service::Authority,
    settings::{AuthSettings, Redacted, ServeSettings},
};
use tessera_store::{
    testing::TestDatabase,
    users::{self, NewUser},
    PgPool,
};
use tokio::sync::oneshot;
use tonic::{transport::Channel, Code, Status};
use uuid::Uuid;

pub use crate::{authed, closed_port, run_with_stdin};

/// The `tessera` binary, found by name where cargo puts the workspace's binaries
/// (tessera-harness), whichever crate builds it.
pub fn tessera_bin() -> std::path::PathBuf {
    crate::binary("tessera").expect("the tessera binary")
}

/// The break-glass root password configured for every test server.
pub const ROOT_PASSWORD: &str = "break-glass-root-password";

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub channel: Channel,
    pub clock: ManualClock,
    pub pool: PgPool,
    pub authority: Authority,
    pub totp_key: SealingKey,
    /// The database URL (set when the harness created the database).
    pub database_url: Option<String>,
    _db: Option<TestDatabase>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Settings that keep tests quick but the rules intact (cheaper argon2, same policy).
pub fn test_settings(totp_key: &SealingKey) -> AuthSettings {
    let hasher = tessera_core::password::PasswordHasher::new(Argon2Params::default()).unwrap();
    AuthSettings {
        root_password_hash: Some(Redacted(
            hasher.hash(&Password::new(ROOT_PASSWORD.into())).unwrap(),
        )),
        totp_key: Some(Redacted(totp_key.clone())),
        hash_workers: 2,
        ..AuthSettings::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        let db = TestDatabase::new(&tessera_store::MIGRATOR)
            .await
            .expect("test database");
        let pool = db.pool.clone();
        let mut server = Self::start_on(pool, |s| s).await;
        server.database_url = Some(db.url.clone());
        server._db = Some(db);
        server
    }

    pub async fn start_with(adjust: impl FnOnce(AuthSettings) -> AuthSettings) -> TestServer {
        let db = TestDatabase::new(&tessera_store::MIGRATOR)
            .await
            .expect("test database");
        let pool = db.pool.clone();
        let mut server = Self::start_on(pool, adjust).await;
        server.database_url = Some(db.url.clone());
        server._db = Some(db);
        server
    }

    /// A server with adjusted auth and serve settings (the listen address stays port 0).
    pub async fn start_serving(
        adjust: impl FnOnce(AuthSettings) -> AuthSettings,
        serve: impl FnOnce(ServeSettings) -> ServeSettings,
    ) -> TestServer {
        let db = TestDatabase::new(&tessera_store::MIGRATOR)
            .await
            .expect("test database");
        let pool = db.pool.clone();
        let mut server = Self::start_on_serving(pool, adjust, serve).await;
        server.database_url = Some(db.url.clone());
        server._db = Some(db);
        server
    }

    pub async fn start_on(
        pool: PgPool,
        adjust: impl FnOnce(AuthSettings) -> AuthSettings,
    ) -> TestServer {
        Self::start_on_serving(pool, adjust, |s| s).await
    }

    async fn start_on_serving(
        pool: PgPool,
        adjust: impl FnOnce(AuthSettings) -> AuthSettings,
        serve: impl FnOnce(ServeSettings) -> ServeSettings,
    ) -> TestServer {
        let clock = ManualClock::new(time::OffsetDateTime::now_utc());
        let totp_key = SealingKey::generate();
        let settings = adjust(test_settings(&totp_key));
        let serve = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            health_interval: Duration::from_millis(100),
            ..serve(ServeSettings::default())
        };
        let server = Server::bind(pool.clone(), Arc::new(clock.clone()), settings, serve)
            .await
            .expect("bind");
        let addr = server.local_addr().unwrap();
        let authority = server.authority().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect");
        let server = TestServer {
            addr,
            channel,
            clock,
            pool,
            authority,
            totp_key,
            database_url: None,
            _db: None,
            stop: Some(stop),
        };
        server.wait_until_cache_trusted().await;
        server
    }

    /// The revocation feed goes live shortly after start; tests that depend on the cache wait.
    async fn wait_until_cache_trusted(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let hash = tessera_rules::token::TokenHash::of("probe");
        loop {
            // Insert/get round trip tells whether the cache is trusted without exposing internals.
            if self.authority.cache_is_trusted() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "revocation feed never went live"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = hash;
        }
    }

    pub fn client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    pub async fn add_user(&self, username: &str, password: &str, role: Role) -> Uuid {
        let id = Uuid::new_v4();
        let hash = self
            .authority
            .hash_password(Password::new(password.into()))
            .await
            .unwrap();
        let mut conn = self.pool.acquire().await.unwrap();
        users::insert(
            &mut conn,
            &NewUser {
                id,
                username: username.into(),
                display_name: format!("{username} display"),
                role,
                password_hash: hash,
                created_at: self.clock.now(),
            },
        )
        .await
        .unwrap();
        id
    }

    pub async fn enroll_totp(&self, user: Uuid) -> TotpSecret {
        let secret = TotpSecret::generate();
        let mut conn = self.pool.acquire().await.unwrap();
        users::set_totp(
            &mut conn,
            user,
            Some(&self.totp_key.seal(secret.as_bytes())),
        )
        .await
        .unwrap();
        secret
    }

    pub async fn login(&self, username: &str, password: &str) -> pb::LoginResponse {
        self.client()
            .login(pb::LoginRequest {
                username: username.into(),
                password: password.into(),
                totp_code: String::new(),
            })
            .await
            .expect("login")
            .into_inner()
    }

    /// A fresh user account, logged in.
    pub async fn login_fresh(&self) -> pb::LoginResponse {
        let name = format!("u{}", &Uuid::new_v4().simple().to_string()[..10]);
        self.add_user(&name, "correct horse battery", Role::User)
            .await;
        self.login(&name, "correct horse battery").await
    }

    /// A user session token for a fresh account with the given role.
    pub async fn session(&self, role: Role) -> (Uuid, String) {
        let name = format!("u{}", &Uuid::new_v4().simple().to_string()[..10]);
        let id = self.add_user(&name, "correct horse battery", role).await;
        (id, self.login(&name, "correct horse battery").await.token)
    }

    pub async fn issue(
        &self,
        caller: &str,
        req: pb::IssueTokenRequest,
    ) -> Result<pb::IssueTokenResponse, Status> {
        self.client()
            .issue_token(authed(req, caller))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn introspect(
        &self,
        caller: &str,
        token: &str,
    ) -> Result<pb::IntrospectResponse, Status> {
        self.client()
            .introspect(authed(
                pb::IntrospectRequest {
                    token: token.into(),
                    peek: false,
                },
                caller,
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn peek(&self, caller: &str, token: &str) -> pb::IntrospectResponse {
        self.client()
            .introspect(authed(
                pb::IntrospectRequest {
                    token: token.into(),
                    peek: true,
                },
                caller,
            ))
            .await
            .expect("introspect")
            .into_inner()
    }

    pub async fn revoke(
        &self,
        caller: &str,
        target: pb::revoke_request::Target,
    ) -> Result<u64, Status> {
        self.client()
            .revoke(authed(
                pb::RevokeRequest {
                    target: Some(target),
                    reason: "test".into(),
                    ..Default::default()
                },
                caller,
            ))
            .await
            .map(|r| r.into_inner().revoked_count)
    }
}

/// Asserts a failure's code and ErrorInfo reason (and field, when given).
#[track_caller]
pub fn assert_reason(
    result: Result<impl std::fmt::Debug, Status>,
    code: Code,
    reason: &str,
) -> Status {
    use tonic_types::StatusExt;
    let status = result.expect_err("expected a failure");
    assert_eq!(status.code(), code, "code of {status:?}");
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, reason, "reason of {status:?}");
    assert_eq!(info.domain, "tessera");
    status
}

#[track_caller]
pub fn field_of(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .and_then(|i| i.metadata.get("field").cloned())
        .unwrap_or_default()
}
