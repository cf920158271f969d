//! gRPC adapters: thin translations between `tessera.v1` wire types and the authority. Each RPC
//! opens a span, converts the request (bad input becomes INVALID_ARGUMENT there), calls the
//! authority and converts the answer back. Caller credentials are lifted out of the metadata once,
//! by the interceptor below.

mod admin;
mod auth;
pub mod limits;

pub use admin::AdminApi;
pub use auth::AuthApi;
use tessera_rules::token::TokenSecret;
use time::OffsetDateTime;
use tonic::{Request, Status};

/// The caller's credential as presented in `authorization` metadata.
#[derive(Clone, Debug)]
pub enum Credential {
    /// No `authorization` metadata.
    Missing,
    /// Present but not `Bearer <token>`.
    Malformed,
    /// A bearer token.
    Bearer(TokenSecret),
}

impl Credential {
    /// The bearer token, if well-formed. `Err` for malformed metadata.
    pub fn bearer(&self) -> Result<Option<&TokenSecret>, crate::error::ApiError> {
        match self {
            Credential::Missing => Ok(None),
            Credential::Malformed => Err(crate::error::ApiError::AuthFailed),
            Credential::Bearer(token) => Ok(Some(token)),
        }
    }
}

/// Checks the request's bounds (before anything costs a hash or a database read), then
/// authenticates its caller from the credential the interceptor lifted out.
pub(crate) async fn authenticate<T: limits::Bounded>(
    authority: &crate::service::Authority,
    request: &Request<T>,
) -> Result<std::sync::Arc<crate::service::view::TokenView>, crate::error::ApiError> {
    request.get_ref().check_bounds()?;
    let credential = request
        .extensions()
        .get::<Credential>()
        .unwrap_or(&Credential::Missing);
    authority.authenticate(credential.bearer()?).await
}

/// Interceptor: reads `authorization: Bearer <token>` into a [`Credential`] request extension.
/// Resolving it needs the database, so that happens in the authority, once per call.
pub fn extract_credential(mut request: Request<()>) -> Result<Request<()>, Status> {
    let credential = match request.metadata().get("authorization") {
        None => Credential::Missing,
        // An absurdly long header is malformed, not something to hash and look up.
        Some(value) if value.len() > tessera_proto::bounds::TOKEN + "Bearer ".len() => {
            Credential::Malformed
        }
        Some(value) => match value.to_str().ok().and_then(parse_bearer) {
            Some(token) => Credential::Bearer(TokenSecret::from_string(token.to_owned())),
            None => Credential::Malformed,
        },
    };
    request.extensions_mut().insert(credential);
    Ok(request)
}

fn parse_bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && !token.contains(char::is_whitespace))
    .then_some(token)
}

/// Converts a time to the wire's Timestamp.
pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: at.nanosecond() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing_is_strict_about_shape() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("Bearer  abc "), Some("abc"));
        assert_eq!(parse_bearer("Bearer"), None);
        assert_eq!(parse_bearer("Bearer "), None);
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearer a b"), None);
    }
}
