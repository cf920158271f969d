//! TEMPORARY scratch mock (to be deleted): a fake Tessera for exploring the edge before the real
//! server builds.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tessera_proto::v1 as pb;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Tok {
    active: bool,
    uses: Option<u32>,
    ns: String,
    perms: Vec<String>,
    user: String,
    roles: Vec<String>,
    elevated: bool,
}

#[derive(Default, Clone)]
struct Mock {
    tokens: Arc<Mutex<HashMap<String, Tok>>>,
    n: Arc<Mutex<u32>>,
}

fn caller<T>(r: &Request<T>) -> Option<String> {
    r.metadata()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for Mock {
    async fn login(
        &self,
        r: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = r.into_inner();
        if (r.password != "pw" && r.password != "correct horse battery staple 7")
            || r.totp_code == "000000"
        {
            return Err(Status::unauthenticated("bad"));
        }
        let mut n = self.n.lock().unwrap();
        *n += 1;
        let token = format!("tsr_ses_{}{}", r.username, *n);
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Tok {
                active: true,
                ns: "*".into(),
                perms: vec!["*".into()],
                user: r.username.clone(),
                roles: vec!["user".into()],
                ..Default::default()
            },
        );
        Ok(Response::new(pb::LoginResponse {
            token,
            token_id: format!("id{}", *n),
            user: Some(pb::User {
                username: r.username,
                ..Default::default()
            }),
            expires_at: Some(prost_types::Timestamp {
                seconds: 4_000_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }))
    }
    async fn unlock(
        &self,
        r: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let c = caller(&r).unwrap_or_default();
        let t = self
            .tokens
            .lock()
            .unwrap()
            .get(&c)
            .cloned()
            .filter(|t| t.active)
            .ok_or_else(|| Status::unauthenticated("no"))?;
        let token = format!("tsr_elv_{}", c);
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Tok {
                elevated: true,
                ..t
            },
        );
        Ok(Response::new(pb::UnlockResponse {
            token,
            token_id: "elv".into(),
            expires_at: Some(prost_types::Timestamp {
                seconds: 4_000_000_000,
                nanos: 0,
            }),
        }))
    }
    async fn revoke(
        &self,
        r: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        if let Some(pb::revoke_request::Target::Token(t)) = r.into_inner().target {
            if let Some(t) = self.tokens.lock().unwrap().get_mut(&t) {
                t.active = false;
            }
        }
        Ok(Response::new(pb::RevokeResponse { revoked_count: 1 }))
    }
    async fn issue_token(
        &self,
        r: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let c = caller(&r).unwrap_or_default();
        let parent = self
            .tokens
            .lock()
            .unwrap()
            .get(&c)
            .cloned()
            .filter(|t| t.active)
            .ok_or_else(|| Status::unauthenticated("no"))?;
        let r = r.into_inner();
        let mut n = self.n.lock().unwrap();
        *n += 1;
        let token = format!("tsr_api_{}", *n);
        let ns = if r.namespace.is_empty() {
            parent.ns.clone()
        } else {
            r.namespace
        };
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Tok {
                active: true,
                uses: (r.max_uses > 0).then_some(r.max_uses),
                ns: ns.clone(),
                ..parent
            },
        );
        Ok(Response::new(pb::IssueTokenResponse {
            token,
            token_id: format!("id{}", *n),
            namespace: ns,
            ..Default::default()
        }))
    }
    async fn introspect(
        &self,
        r: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        let r = r.into_inner();
        let mut tokens = self.tokens.lock().unwrap();
        let Some(t) = tokens.get_mut(&r.token) else {
            return Ok(Response::new(Default::default()));
        };
        if !t.active || t.uses == Some(0) {
            return Ok(Response::new(Default::default()));
        }
        if !r.peek {
            if let Some(u) = t.uses.as_mut() {
                *u -= 1;
            }
        }
        Ok(Response::new(pb::IntrospectResponse {
            active: true,
            token_id: "tid".into(),
            subject: format!("sub-{}", t.user),
            username: t.user.clone(),
            roles: t.roles.clone(),
            permissions: t.perms.clone(),
            namespace: t.ns.clone(),
            elevated: t.elevated,
            ..Default::default()
        }))
    }
    async fn check_namespace(
        &self,
        r: Request<pb::CheckNamespaceRequest>,
    ) -> Result<Response<pb::CheckNamespaceResponse>, Status> {
        let r = r.into_inner();
        let tokens = self.tokens.lock().unwrap();
        let Some(t) = tokens
            .get(&r.token)
            .filter(|t| t.active && t.uses != Some(0))
        else {
            return Ok(Response::new(Default::default()));
        };
        let allowed = r
            .identifiers
            .iter()
            .all(|i| t.ns == "*" || i.starts_with(&t.ns));
        Ok(Response::new(pb::CheckNamespaceResponse {
            active: true,
            allowed,
            ..Default::default()
        }))
    }
    type WatchRevocationsStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::WatchRevocationsResponse, Status>> + Send>,
    >;
    async fn watch_revocations(
        &self,
        _: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        Err(Status::unimplemented("no"))
    }
}

#[tokio::main]
async fn main() {
    let mock = Mock::default();
    mock.tokens.lock().unwrap().insert(
        "tsr_svc_edge".into(),
        Tok {
            active: true,
            ns: "*".into(),
            perms: vec!["introspect".into()],
            ..Default::default()
        },
    );
    mock.tokens.lock().unwrap().insert(
        "tsr_api_admin".into(),
        Tok {
            active: true,
            ns: "*".into(),
            perms: vec!["*".into()],
            user: "admin".into(),
            roles: vec!["admin".into()],
            ..Default::default()
        },
    );
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("user") {
        println!("otpauth://totp/Tessera:carol?secret=JBSWY3DPEHPK3PXP&issuer=Tessera");
        return;
    }
    let ready = args
        .iter()
        .position(|a| a == "--ready-file")
        .map(|i| args[i + 1].clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if let Some(i) = args.iter().position(|a| a == "--data-dir") {
        std::fs::create_dir_all(&args[i + 1]).unwrap();
        std::fs::write(format!("{}/totp.key", args[i + 1]), "k").unwrap();
    }
    if let Some(ready) = ready {
        let body = serde_json::json!({"grpc_addr": addr.to_string(), "database_url": "postgres://x", "admin_username": "admin", "admin_password": "pw", "admin_token": "tsr_api_admin", "service_token": "tsr_svc_edge", "pid": std::process::id()});
        std::fs::write(&ready, body.to_string()).unwrap();
    }
    tonic::transport::Server::builder()
        .add_service(pb::auth_service_server::AuthServiceServer::new(mock))
        .serve_with_incoming(tokio_stream_shim(listener))
        .await
        .unwrap();
}

fn tokio_stream_shim(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}
