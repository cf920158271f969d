//! `tessera.v1.AuthService`: the adapter over [`Authority`].

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tessera_core::password::Password;
use tessera_proto::v1 as pb;
use tessera_rules::token::TokenKind;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::timestamp;
use crate::{
    error::ApiError,
    service::{
        view::Lookup, view::TokenView, Authority, Frame, IssueFormat, IssueRequest, RevokeRequest,
        WatchFrom,
    },
};
use tessera_store::revocations::{Anchor, FeedPosition};

/// A feed position from the wire: a sequence and the anchor of the revocation there (`prefix` names
/// the fields, `after_…` or `applied_…`).
fn position(prefix: &'static str, sequence: u64, anchor: &str) -> Result<FeedPosition, ApiError> {
    let (sequence_field, anchor_field) = match prefix {
        "after" => ("after_sequence", "after_anchor"),
        _ => ("applied_sequence", "applied_anchor"),
    };
    let sequence = i64::try_from(sequence).map_err(|_| {
        ApiError::invalid(sequence_field, format!("{sequence_field} is out of range"))
    })?;
    let anchor = if anchor.is_empty() {
        None
    } else {
        Some(Anchor::parse(anchor).ok_or_else(|| {
            ApiError::invalid(
                anchor_field,
                format!("{anchor_field} is not an anchor a revocation stream gave"),
            )
        })?)
    };
    Ok(FeedPosition { sequence, anchor })
}

fn frame_to_wire(frame: Frame) -> pb::WatchRevocationsResponse {
    match frame {
        Frame::Revoked(revocation) => pb::WatchRevocationsResponse {
            sequence: revocation.sequence as u64,
            token_id: revocation.token_id.to_string(),
            token_hash: revocation.token_hash.to_hex(),
            revoked_at: Some(timestamp(revocation.revoked_at)),
            anchor: revocation
                .position()
                .anchor
                .map(|a| a.to_text())
                .unwrap_or_default(),
            checkpoint: false,
        },
        Frame::Checkpoint(position) => pb::WatchRevocationsResponse {
            sequence: position.sequence.max(0) as u64,
            anchor: position.anchor.map(|a| a.to_text()).unwrap_or_default(),
            checkpoint: true,
            ..Default::default()
        },
    }
}

/// The gRPC face of the authority.
#[derive(Clone)]
pub struct AuthApi {
    authority: Authority,
}

impl AuthApi {
    /// Wraps the authority.
    pub fn new(authority: Authority) -> AuthApi {
        AuthApi { authority }
    }

    /// Whose address a Login counts against in the hashing pool ([`crate::hash_pool`]): the
    /// connection's, unless an edge logging a browser in says whose it is. An edge's word is
    /// taken only with a token that holds `introspect` and sees every token (a service token an
    /// admin issued); from anyone else the header is ignored, so a client cannot spread its own
    /// flood over invented addresses.
    async fn login_source(&self, request: &Request<pb::LoginRequest>) -> Option<std::net::IpAddr> {
        let peer = crate::tls::peer_ip(request);
        let Some(named) = request
            .metadata()
            .get(tessera_proto::CLIENT_ADDRESS_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<std::net::IpAddr>().ok())
        else {
            return peer;
        };
        match super::authenticate(&self.authority, request).await {
            Ok(edge)
                if edge.sees_every_token()
                    && edge
                        .permissions
                        .permits(tessera_rules::permission::INTROSPECT) =>
            {
                Some(named)
            }
            _ => {
                tracing::debug!(?peer, "a client address from an untrusted caller; ignored");
                peer
            }
        }
    }

    async fn caller<T: super::limits::Bounded>(
        &self,
        request: &Request<T>,
    ) -> Result<std::sync::Arc<TokenView>, ApiError> {
        super::authenticate(&self.authority, request).await
    }
}

/// A UUID's hyphenated lower-case text, written straight into its buffer (the hot answers carry up
/// to three; `to_string` goes through the formatting machinery for each).
fn uuid_text(id: uuid::Uuid) -> String {
    id.hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}

pub(super) fn kind_to_wire(kind: TokenKind) -> pb::TokenType {
    match kind {
        TokenKind::Session => pb::TokenType::Session,
        TokenKind::Elevated => pb::TokenType::Elevated,
        TokenKind::Api => pb::TokenType::Api,
        TokenKind::Service => pb::TokenType::Service,
        TokenKind::Static => pb::TokenType::Static,
        TokenKind::Master => pb::TokenType::Master,
    }
}

fn user_to_wire(user: &tessera_store::users::UserRow) -> pb::User {
    pb::User {
        user_id: user.id.to_string(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        totp_enabled: user.totp_sealed.is_some(),
    }
}

type RevocationStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchRevocationsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthApi {
    #[instrument(skip_all, fields(rpc = "Login"))]
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        use super::limits::Bounded;
        let source = self.login_source(&request).await;
        let req = request.into_inner();
        req.check_bounds()?;
        let outcome = self
            .authority
            .login(
                req.username.trim(),
                Password::new(req.password),
                &req.totp_code,
                source,
            )
            .await?;
        Ok(Response::new(pb::LoginResponse {
            token: outcome.token.expose().to_owned(),
            token_id: outcome.token_id.to_string(),
            expires_at: Some(timestamp(outcome.expires_at)),
            user: Some(user_to_wire(&outcome.user)),
            session_id: outcome.session_id.to_string(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Unlock"))]
    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let caller = self.caller(&request).await?;
        let source = crate::tls::peer_ip(&request);
        let req = request.into_inner();
        let outcome = self
            .authority
            .unlock(
                &caller,
                Password::new(req.password),
                &req.totp_code,
                &req.ttl,
                source,
            )
            .await?;
        Ok(Response::new(pb::UnlockResponse {
            token: outcome.token.expose().to_owned(),
            token_id: outcome.token_id.to_string(),
            expires_at: Some(timestamp(outcome.expires_at)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "Revoke"))]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        use pb::revoke_request::Target;
        let target = match req.target {
            Some(Target::Token(token)) => RevokeRequest::Token(token),
            Some(Target::TokenId(id)) => RevokeRequest::TokenId(id),
            Some(Target::SessionId(id)) => RevokeRequest::SessionId(id),
            Some(Target::Subject(id)) => RevokeRequest::Subject(id),
            Some(Target::TokenIds(ids)) => RevokeRequest::TokenIds(ids.ids),
            None => {
                return Err(ApiError::invalid(
                    "target",
                    "name one of token, token_id, session_id, subject or token_ids",
                )
                .into())
            }
        };
        let outcome = self
            .authority
            .revoke(&caller, target, &req.reason, req.no_wait)
            .await?;
        Ok(Response::new(pb::RevokeResponse {
            revoked_count: outcome.revoked,
            everywhere: outcome.propagation.everywhere,
            acknowledged: outcome.propagation.acknowledged,
            lapsed: outcome.propagation.lapsed,
        }))
    }

    #[instrument(skip_all, fields(rpc = "IssueToken"))]
    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let format = match pb::TokenFormat::try_from(req.format) {
            Ok(pb::TokenFormat::Unspecified | pb::TokenFormat::Opaque) => IssueFormat::Opaque,
            Ok(pb::TokenFormat::Jwt) => IssueFormat::Jwt,
            Err(_) => return Err(ApiError::invalid("format", "unknown token format").into()),
        };
        let kind = match pb::TokenType::try_from(req.token_type) {
            Ok(pb::TokenType::Unspecified | pb::TokenType::Api) => TokenKind::Api,
            Ok(pb::TokenType::Service) => TokenKind::Service,
            _ => {
                return Err(ApiError::invalid(
                    "token_type",
                    "only API and SERVICE tokens can be issued",
                )
                .into())
            }
        };
        let issued = self
            .authority
            .issue(
                &caller,
                IssueRequest {
                    ttl: req.ttl,
                    max_uses: req.max_uses,
                    namespace: req.namespace,
                    permissions: req.permissions,
                    description: req.description,
                    kind,
                    format,
                },
            )
            .await?;
        Ok(Response::new(pb::IssueTokenResponse {
            token: issued.token.expose().to_owned(),
            token_id: issued.token_id.to_string(),
            expires_at: issued.expires_at.map(timestamp),
            namespace: issued.namespace.as_str().to_owned(),
            permissions: issued.permissions.to_vec(),
            max_uses: issued.max_uses,
        }))
    }

    // The two hot calls get no span of their own: the `grpc.server` span around every call
    // already names the method, and a second span cost about a microsecond per call.
    async fn introspect(
        &self,
        request: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let answer = match self
            .authority
            .introspect(&caller, &req.token, req.peek)
            .await?
        {
            Lookup::Inactive(_) => pb::IntrospectResponse::default(),
            Lookup::Active(view) => pb::IntrospectResponse {
                active: true,
                token_id: uuid_text(view.id),
                token_type: kind_to_wire(view.kind).into(),
                subject: view.subject.map(uuid_text).unwrap_or_default(),
                username: view.username.clone().unwrap_or_default(),
                roles: view
                    .role
                    .map(|r| vec![r.as_str().to_owned()])
                    .unwrap_or_default(),
                permissions: view.permissions.to_vec(),
                namespace: view.namespace.as_str().to_owned(),
                issued_at: Some(timestamp(view.issued_at)),
                expires_at: view.expires_at.map(timestamp),
                elevated: view.elevated,
                uses_remaining: view.uses_remaining,
                session_id: view.session_id.map(uuid_text).unwrap_or_default(),
            },
        };
        Ok(Response::new(answer))
    }

    async fn check_namespace(
        &self,
        request: Request<pb::CheckNamespaceRequest>,
    ) -> Result<Response<pb::CheckNamespaceResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let verdict = self
            .authority
            .check_namespace(&caller, &req.token, req.identifiers, &req.action)
            .await?;
        let Some(verdict) = verdict else {
            return Ok(Response::new(pb::CheckNamespaceResponse::default()));
        };
        let decision = &verdict.decision;
        Ok(Response::new(pb::CheckNamespaceResponse {
            active: true,
            results: verdict
                .identifiers
                .into_iter()
                .zip(&decision.inside)
                .map(|(identifier, &inside)| pb::IdentifierDecision {
                    identifier,
                    allowed: inside && decision.action_held,
                })
                .collect(),
            allowed: decision.admits(),
            namespace: verdict.token.namespace.as_str().to_owned(),
            token_id: uuid_text(verdict.token.id),
        }))
    }

    type WatchRevocationsStream = RevocationStream;

    #[instrument(skip_all, fields(rpc = "WatchRevocations"))]
    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let from = if req.from_head {
            if req.after_sequence != 0 || !req.after_anchor.is_empty() {
                return Err(ApiError::invalid(
                    "from_head",
                    "from_head starts at the newest revocation: leave after_sequence and after_anchor empty",
                )
                .into());
            }
            WatchFrom::Head
        } else {
            WatchFrom::After(position("after", req.after_sequence, &req.after_anchor)?)
        };
        let stream = self
            .authority
            .watch_revocations(&caller, from)?
            .map(|item| item.map(frame_to_wire).map_err(Status::from));
        // Draining ends the stream with UNAVAILABLE: the watcher reconnects to another replica
        // and resumes after its last sequence, instead of waiting for this one to go away.
        let stream = self
            .authority
            .drain()
            .until_drained(stream, || ApiError::ShuttingDown.into());
        Ok(Response::new(stream))
    }

    #[instrument(skip_all, fields(rpc = "AcknowledgeRevocations"))]
    async fn acknowledge_revocations(
        &self,
        request: Request<pb::AcknowledgeRevocationsRequest>,
    ) -> Result<Response<pb::AcknowledgeRevocationsResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let follower = uuid::Uuid::parse_str(req.follower_id.trim())
            .map_err(|_| ApiError::invalid("follower_id", "follower_id must be a UUID"))?;
        let applied = position("applied", req.applied_sequence, &req.applied_anchor)?;
        let ack = self
            .authority
            .acknowledge(&caller, follower, &req.name, applied, !req.acknowledge_only)
            .await?;
        Ok(Response::new(pb::AcknowledgeRevocationsResponse {
            current: ack.current,
            lease: Some(prost_types::Duration {
                seconds: ack.lease.as_secs() as i64,
                nanos: ack.lease.subsec_nanos() as i32,
            }),
            head_sequence: ack.head.max(0) as u64,
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetJwks"))]
    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let jwks = self.authority.jwks();
        Ok(Response::new(pb::GetJwksResponse {
            jwks_json: jwks.to_json(),
            keys: jwks
                .keys
                .into_iter()
                .map(|key| pb::JsonWebKey {
                    kty: key.kty,
                    crv: key.crv,
                    x: key.x,
                    kid: key.kid,
                    r#use: key.key_use,
                    alg: key.alg,
                })
                .collect(),
        }))
    }
}
