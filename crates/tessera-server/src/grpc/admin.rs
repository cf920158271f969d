//! `tessera.v1.AdminService`: the adapter over the authority's administration use cases.

use tessera_core::password::Password;

use tessera_proto::v1 as pb;
use tessera_rules::token::TokenKind;
use tessera_store::{
    audit::{AuditFilter, AuditRow},
    tokens::TokenInfo,
    users::UserSummary,
};
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use tracing::instrument;
use uuid::Uuid;

use super::{auth::kind_to_wire, timestamp};
use crate::{
    error::ApiError,
    service::{admin::CreateUser, view::TokenView, Authority},
};

/// The gRPC face of administration.
#[derive(Clone)]
pub struct AdminApi {
    authority: Authority,
}

impl AdminApi {
    /// Wraps the authority.
    pub fn new(authority: Authority) -> AdminApi {
        AdminApi { authority }
    }

    async fn caller<T: super::limits::Bounded>(
        &self,
        request: &Request<T>,
    ) -> Result<std::sync::Arc<TokenView>, ApiError> {
        super::authenticate(&self.authority, request).await
    }
}

fn user_to_wire(user: &UserSummary) -> pb::User {
    pb::User {
        user_id: user.id.to_string(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        totp_enabled: user.totp_enabled,
    }
}

fn summary_to_wire(user: &UserSummary) -> pb::UserSummary {
    pb::UserSummary {
        user: Some(user_to_wire(user)),
        disabled: user.disabled,
        locked_until: user.locked_until.map(timestamp),
        created_at: Some(timestamp(user.created_at)),
    }
}

fn token_to_wire(token: &TokenInfo) -> pb::TokenInfo {
    let text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    pb::TokenInfo {
        token_id: token.id.to_string(),
        token_type: token
            .kind
            .parse::<TokenKind>()
            .map(kind_to_wire)
            .unwrap_or(pb::TokenType::Unspecified) as i32,
        subject: text(token.subject),
        parent_id: text(token.parent_id),
        session_id: text(token.session_id),
        namespace: token.namespace.clone(),
        permissions: token.permissions.clone(),
        elevated: token.elevated,
        description: token.description.clone(),
        issued_at: Some(timestamp(token.issued_at)),
        expires_at: token.expires_at.map(timestamp),
        uses_remaining: token.uses_remaining.map(|n| n.max(0) as u32),
        max_uses: token.max_uses.map(|n| n.max(0) as u32),
        revoked_at: token.revoked_at.map(timestamp),
    }
}

fn event_to_wire(event: &AuditRow) -> pb::AuditEvent {
    pb::AuditEvent {
        id: event.id,
        at: Some(timestamp(event.at)),
        action: event.action.clone(),
        outcome: event.outcome.clone(),
        actor: event.actor.map(|id| id.to_string()).unwrap_or_default(),
        username: event.username.clone().unwrap_or_default(),
        token_id: event.token_id.map(|id| id.to_string()).unwrap_or_default(),
        detail_json: event.detail.0.to_string(),
    }
}

fn time_from_wire(
    field: &'static str,
    at: Option<prost_types::Timestamp>,
) -> Result<Option<OffsetDateTime>, ApiError> {
    at.map(|at| {
        OffsetDateTime::from_unix_timestamp(at.seconds)
            .ok()
            .and_then(|t| {
                t.replace_nanosecond(at.nanos.clamp(0, 999_999_999) as u32)
                    .ok()
            })
            .ok_or_else(|| ApiError::invalid(field, "timestamp out of range"))
    })
    .transpose()
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    #[instrument(skip_all, fields(rpc = "CreateUser"))]
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let user = self
            .authority
            .create_user(
                &caller,
                CreateUser {
                    username: req.username.trim().to_owned(),
                    display_name: req.display_name,
                    role: req.role,
                    password: Password::new(req.password),
                },
            )
            .await?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(user_to_wire(&user)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListUsers"))]
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let (users, next_page_token) = self
            .authority
            .list_users(&caller, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: users.iter().map(summary_to_wire).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all, fields(rpc = "SetUserDisabled"))]
    async fn set_user_disabled(
        &self,
        request: Request<pb::SetUserDisabledRequest>,
    ) -> Result<Response<pb::SetUserDisabledResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let user = self
            .authority
            .set_user_disabled(&caller, req.username.trim(), req.disabled)
            .await?;
        Ok(Response::new(pb::SetUserDisabledResponse {
            user: Some(summary_to_wire(&user)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "SetRole"))]
    async fn set_role(
        &self,
        request: Request<pb::SetRoleRequest>,
    ) -> Result<Response<pb::SetRoleResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let user = self
            .authority
            .set_role(&caller, req.username.trim(), &req.role)
            .await?;
        Ok(Response::new(pb::SetRoleResponse {
            user: Some(user_to_wire(&user)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "SetPassword"))]
    async fn set_password(
        &self,
        request: Request<pb::SetPasswordRequest>,
    ) -> Result<Response<pb::SetPasswordResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        self.authority
            .set_password(&caller, req.username.trim(), Password::new(req.password))
            .await?;
        Ok(Response::new(pb::SetPasswordResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "BeginTotpEnrollment"))]
    async fn begin_totp_enrollment(
        &self,
        request: Request<pb::BeginTotpEnrollmentRequest>,
    ) -> Result<Response<pb::BeginTotpEnrollmentResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let enrollment = self
            .authority
            .begin_totp(&caller, req.username.trim())
            .await?;
        Ok(Response::new(pb::BeginTotpEnrollmentResponse {
            secret: enrollment.secret.to_base32(),
            otpauth_uri: enrollment.uri,
        }))
    }

    #[instrument(skip_all, fields(rpc = "ConfirmTotpEnrollment"))]
    async fn confirm_totp_enrollment(
        &self,
        request: Request<pb::ConfirmTotpEnrollmentRequest>,
    ) -> Result<Response<pb::ConfirmTotpEnrollmentResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let user = self
            .authority
            .confirm_totp(&caller, req.username.trim(), &req.secret, &req.code)
            .await?;
        Ok(Response::new(pb::ConfirmTotpEnrollmentResponse {
            user: Some(user_to_wire(&user)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "RemoveTotp"))]
    async fn remove_totp(
        &self,
        request: Request<pb::RemoveTotpRequest>,
    ) -> Result<Response<pb::RemoveTotpResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let user = self
            .authority
            .remove_totp(&caller, req.username.trim())
            .await?;
        Ok(Response::new(pb::RemoveTotpResponse {
            user: Some(user_to_wire(&user)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListTokens"))]
    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let tokens = self
            .authority
            .list_tokens(&caller, req.username.trim(), req.include_inactive)
            .await?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(token_to_wire).collect(),
        }))
    }

    #[instrument(skip_all, fields(rpc = "GetToken"))]
    async fn get_token(
        &self,
        request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let token = self.authority.token_info(&caller, &req.token_id).await?;
        Ok(Response::new(pb::GetTokenResponse {
            token: Some(token_to_wire(&token)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "ListAuditEvents"))]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let actor =
            match req.actor.trim() {
                "" => None,
                id => Some(Uuid::parse_str(id).map_err(|_| {
                    ApiError::invalid("actor", "actor must be an account id (UUID)")
                })?),
            };
        let filter = AuditFilter {
            actor,
            action: (!req.action.trim().is_empty()).then(|| req.action.trim().to_owned()),
            since: time_from_wire("since", req.since)?,
            until: time_from_wire("until", req.until)?,
            before_id: None,
        };
        let (events, next_page_token) = self
            .authority
            .list_audit(&caller, filter, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.iter().map(event_to_wire).collect(),
            next_page_token,
        }))
    }
}
