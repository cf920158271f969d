//! The documented maximum and character policy of every string field of `auth.proto` and
//! `admin.proto`, checked at the adapter before any hashing or database work (the caller is not
//! even authenticated yet), answered INVALID_ARGUMENT with the field named.
//!
//! Lengths are in bytes of UTF-8. Policies (see `tessera_rules::text`): `Any` for secrets, `Text`
//! (no control characters) for free text, `Name` (no control, no Unicode format characters) for
//! names and identifiers. Namespace and identifier grammar is checked afterwards by the domain.
//! The numbers are the contract's (`tessera_proto::bounds`); the proto comments and the README
//! repeat them.

use tessera_proto::v1 as pb;
use tessera_rules::text::{self, CharPolicy};

use crate::error::ApiError;

use tessera_proto::bounds::*;

fn field(name: &'static str, value: &str, max: usize, policy: CharPolicy) -> Result<(), ApiError> {
    text::check(value, max, policy).map_err(|e| ApiError::invalid(name, format!("{name} {e}")))
}

fn list(
    name: &'static str,
    values: &[String],
    count: usize,
    max: usize,
    policy: CharPolicy,
) -> Result<(), ApiError> {
    if values.len() > count {
        return Err(ApiError::invalid(
            name,
            format!("at most {count} {name} per call"),
        ));
    }
    for (index, value) in values.iter().enumerate() {
        text::check(value, max, policy)
            .map_err(|e| ApiError::invalid(name, format!("{name}[{index}] {e}")))?;
    }
    Ok(())
}

use CharPolicy::{Any, Name, Text};

/// A request whose string fields have documented bounds.
pub trait Bounded {
    /// Checks every string field; the first one out of bounds is named in the error.
    fn check_bounds(&self) -> Result<(), ApiError>;
}

impl Bounded for pb::LoginRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)?;
        field("password", &self.password, PASSWORD, Any)?;
        field("totp_code", &self.totp_code, TOTP_CODE, Text)
    }
}

impl Bounded for pb::UnlockRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("password", &self.password, PASSWORD, Any)?;
        field("totp_code", &self.totp_code, TOTP_CODE, Text)?;
        field("ttl", &self.ttl, TTL, Text)
    }
}

impl Bounded for pb::RevokeRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        use pb::revoke_request::Target;
        match &self.target {
            Some(Target::Token(token)) => field("token", token, TOKEN, Name)?,
            Some(Target::TokenId(id)) => field("token_id", id, ID, Name)?,
            Some(Target::SessionId(id)) => field("session_id", id, ID, Name)?,
            Some(Target::Subject(id)) => field("subject", id, ID, Name)?,
            Some(Target::TokenIds(ids)) => list("token_ids", &ids.ids, REVOKE_IDS, ID, Name)?,
            None => {}
        }
        field("reason", &self.reason, REASON, Text)
    }
}

impl Bounded for pb::IssueTokenRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("ttl", &self.ttl, TTL, Text)?;
        field("namespace", &self.namespace, NAMESPACE, Name)?;
        list(
            "permissions",
            &self.permissions,
            PERMISSIONS,
            PERMISSION,
            Name,
        )?;
        field("description", &self.description, DESCRIPTION, Text)
    }
}

impl Bounded for pb::IntrospectRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("token", &self.token, TOKEN, Name)
    }
}

impl Bounded for pb::CheckNamespaceRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("token", &self.token, TOKEN, Name)?;
        list(
            "identifiers",
            &self.identifiers,
            IDENTIFIERS,
            IDENTIFIER,
            Name,
        )?;
        field("action", &self.action, PERMISSION, Name)
    }
}

impl Bounded for pb::WatchRevocationsRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("after_anchor", &self.after_anchor, ANCHOR, Name)
    }
}

impl Bounded for pb::AcknowledgeRevocationsRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("follower_id", &self.follower_id, ID, Name)?;
        field("applied_anchor", &self.applied_anchor, ANCHOR, Name)?;
        field("name", &self.name, FOLLOWER_NAME, Text)
    }
}

impl Bounded for pb::GetJwksRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

impl Bounded for pb::CreateUserRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)?;
        field("display_name", &self.display_name, DISPLAY_NAME, Text)?;
        field("role", &self.role, ROLE, Name)?;
        field("password", &self.password, PASSWORD, Any)
    }
}

impl Bounded for pb::ListUsersRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("page_token", &self.page_token, PAGE_TOKEN, Name)
    }
}

impl Bounded for pb::SetUserDisabledRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)
    }
}

impl Bounded for pb::SetRoleRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)?;
        field("role", &self.role, ROLE, Name)
    }
}

impl Bounded for pb::SetPasswordRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)?;
        field("password", &self.password, PASSWORD, Any)
    }
}

impl Bounded for pb::BeginTotpEnrollmentRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)
    }
}

impl Bounded for pb::ConfirmTotpEnrollmentRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)?;
        field("secret", &self.secret, TOTP_SECRET, Name)?;
        field("code", &self.code, TOTP_CODE, Text)
    }
}

impl Bounded for pb::RemoveTotpRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)
    }
}

impl Bounded for pb::ListTokensRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("username", &self.username, USERNAME, Name)
    }
}

impl Bounded for pb::GetTokenRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("token_id", &self.token_id, ID, Name)
    }
}

impl Bounded for pb::ListAuditEventsRequest {
    fn check_bounds(&self) -> Result<(), ApiError> {
        field("actor", &self.actor, ID, Name)?;
        field("action", &self.action, AUDIT_ACTION, Name)?;
        field("page_token", &self.page_token, PAGE_TOKEN, Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_out_of_bounds_is_named() {
        let long = pb::LoginRequest {
            username: "u".repeat(USERNAME + 1),
            ..Default::default()
        };
        let ApiError::InvalidArgument { field, .. } = long.check_bounds().unwrap_err() else {
            panic!("not INVALID_ARGUMENT");
        };
        assert_eq!(field, "username");
        let nul = pb::IssueTokenRequest {
            description: "a\0b".into(),
            ..Default::default()
        };
        assert!(nul.check_bounds().is_err());
        let bidi = pb::CheckNamespaceRequest {
            identifiers: vec!["ok".into(), "a\u{202E}b".into()],
            ..Default::default()
        };
        let err = bidi.check_bounds().unwrap_err();
        assert!(err.to_string().contains("identifiers[1]"), "{err}");
        let password = pb::LoginRequest {
            username: "alice".into(),
            password: "any\0thing\u{202E}".into(),
            ..Default::default()
        };
        assert!(password.check_bounds().is_ok(), "passwords are opaque");
    }
}
