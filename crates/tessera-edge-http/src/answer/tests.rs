use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use super::*;

fn status(code: Code, reason: &str, field: Option<&str>) -> tonic::Status {
    let metadata: HashMap<String, String> = field
        .map(|f| HashMap::from([("field".to_owned(), f.to_owned())]))
        .unwrap_or_default();
    tonic::Status::with_error_details(
        code,
        "some message",
        ErrorDetails::with_error_info(reason, "tessera", metadata),
    )
}

fn answer(code: Code, reason: &str, called_as: CalledAs) -> Answer {
    Answer::for_tessera(
        &Failure::from_status(&status(code, reason, None)),
        called_as,
    )
}

#[test]
fn a_refused_edge_token_fails_closed_as_503() {
    for reason in [
        "AUTH_FAILED",
        "AUTH_REQUIRED",
        "AUTH_DENIED",
        "OVER_PRIVILEGED",
    ] {
        let a = answer(Code::Unauthenticated, reason, CalledAs::Edge);
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{reason}");
        assert_eq!(a.challenge, None);
    }
}

#[test]
fn a_refused_user_token_is_401_invalid_token() {
    let a = answer(Code::Unauthenticated, "AUTH_FAILED", CalledAs::User);
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a
        .www_authenticate()
        .unwrap()
        .contains("error=\"invalid_token\""));
}

#[test]
fn denials_are_403_insufficient_scope() {
    for reason in ["AUTH_DENIED", "PRIVILEGE_EXCEEDED", "ELEVATION_REQUIRED"] {
        let a = answer(Code::PermissionDenied, reason, CalledAs::User);
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.www_authenticate().unwrap().contains("insufficient_scope"));
        assert_eq!(a.body()["tessera_reason"], reason.to_ascii_lowercase());
    }
}

#[test]
fn login_failures_have_their_own_codes() {
    assert_eq!(
        answer(Code::Unauthenticated, "INVALID_CREDENTIALS", CalledAs::User).error,
        "invalid_credentials"
    );
    assert_eq!(
        answer(Code::FailedPrecondition, "MFA_REQUIRED", CalledAs::User).error,
        "mfa_required"
    );
    let locked = answer(Code::ResourceExhausted, "ACCOUNT_LOCKED", CalledAs::User);
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.retry_after.is_some());
}

#[test]
fn an_invalid_token_field_is_an_invalid_token_and_other_fields_are_400() {
    let token = Answer::for_tessera(
        &Failure::from_status(&status(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("token"),
        )),
        CalledAs::Edge,
    );
    assert_eq!(token.status, StatusCode::UNAUTHORIZED);
    let ttl = Answer::for_tessera(
        &Failure::from_status(&status(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("ttl"),
        )),
        CalledAs::User,
    );
    assert_eq!(ttl.status, StatusCode::BAD_REQUEST);
    assert_eq!(ttl.body()["field"], "ttl");
}

#[test]
fn unavailable_and_unknown_fail_closed() {
    for reason in [
        "UNAVAILABLE",
        "INTERNAL",
        "SOMETHING_NEW",
        "RESOURCE_EXHAUSTED",
    ] {
        for called_as in [CalledAs::Edge, CalledAs::User] {
            let a = answer(Code::Unavailable, reason, called_as);
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{reason}");
        }
    }
}

#[test]
fn responses_carry_the_challenge_and_no_store() {
    let response = Answer::invalid_token("missing token").into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer realm=\"tessera\", error=\"invalid_token\""));
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let unavailable = Answer::unavailable("down").into_response();
    assert_eq!(unavailable.headers()[header::RETRY_AFTER], "1");
}

#[test]
fn every_reason_of_the_contract_has_its_http_status() {
    for &reason in Reason::ALL.iter().chain(&[Reason::Unknown]) {
        let failure = Failure::new(reason, "some message");
        let user = Answer::for_tessera(&failure, CalledAs::User);
        assert_eq!(user.status.as_u16(), reason.http_status(), "{reason}");
        assert_eq!(user.tessera_reason, Some(reason));
        let edge = Answer::for_tessera(&failure, CalledAs::Edge);
        let expected = match reason.refuses_caller() {
            true => StatusCode::SERVICE_UNAVAILABLE,
            false => user.status,
        };
        assert_eq!(edge.status, expected, "{reason}");
    }
}
