use http::header::COOKIE;
use http::HeaderValue;

use super::*;

fn with_authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    headers
}

#[test]
fn bearer_token_is_read_with_any_scheme_case() {
    for value in [
        "Bearer tsr_api_abc",
        "bearer tsr_api_abc",
        "BEARER tsr_api_abc",
    ] {
        let token = bearer(&with_authorization(value)).unwrap().unwrap();
        assert_eq!(token.expose(), "tsr_api_abc");
    }
}

#[test]
fn bearer_without_token_or_with_spaces_is_malformed() {
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer  tsr_api_abc",
        "Bearer tsr api",
        "Bearer\ttsr_api_abc",
        "Bearer a\"b",
        "Bearer a,b",
    ] {
        let result = bearer(&with_authorization(value));
        assert!(
            matches!(result, Err(CredentialError::Authorization(_))),
            "{value:?}: {result:?}"
        );
    }
}

#[test]
fn other_schemes_are_not_tessera_credentials() {
    assert!(bearer(&with_authorization("Basic dXNlcjpwYXNz"))
        .unwrap()
        .is_none());
    assert!(bearer(&HeaderMap::new()).unwrap().is_none());
}

#[test]
fn two_authorization_headers_are_malformed() {
    let mut headers = with_authorization("Bearer a");
    headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
    assert!(bearer(&headers).is_err());
}

#[test]
fn non_ascii_tokens_and_huge_tokens_are_refused() {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Bearer tsr\xc3\xa9").unwrap(),
    );
    assert!(bearer(&headers).is_err());
    let huge = format!("Bearer {}", "a".repeat(tessera_proto::bounds::TOKEN + 1));
    assert!(bearer(&with_authorization(&huge)).is_err());
}

#[test]
fn websocket_upgrade_needs_get_upgrade_and_connection() {
    let mut headers = HeaderMap::new();
    headers.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
    assert!(is_websocket_upgrade(&Method::GET, &headers));
    assert!(!is_websocket_upgrade(&Method::POST, &headers));
    headers.remove(CONNECTION);
    assert!(!is_websocket_upgrade(&Method::GET, &headers));
}

#[test]
fn query_token_is_taken_out_and_the_rest_kept_verbatim() {
    let (token, rest) = take_query_token("a=1&access_token=tsr_api_x&b=%20y").unwrap();
    assert_eq!(token.unwrap().expose(), "tsr_api_x");
    assert_eq!(rest, "a=1&b=%20y");
    let (token, rest) = take_query_token("access%5Ftoken=tsr_api_x").unwrap();
    assert_eq!(token.unwrap().expose(), "tsr_api_x");
    assert_eq!(rest, "");
    let (token, rest) = take_query_token("q=1").unwrap();
    assert!(token.is_none());
    assert_eq!(rest, "q=1");
}

#[test]
fn query_token_twice_or_empty_is_malformed() {
    assert!(take_query_token("access_token=a&access_token=b").is_err());
    assert!(take_query_token("access_token=").is_err());
    assert!(take_query_token("access_token=a+b").is_err());
}

#[test]
fn order_is_bearer_then_cookies_then_query() {
    let token = |s: &str| Some(Token::new(s.to_owned()));
    let all = Presented {
        bearer: token("b"),
        session_cookie: token("s"),
        elevated_cookie: token("e"),
        query: token("q"),
    };
    let sources: Vec<Source> = all.candidates().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sources, vec![Source::Bearer]);
    let cookies = Presented {
        bearer: None,
        ..all
    };
    let sources: Vec<Source> = cookies.candidates().into_iter().map(|(_, s)| s).collect();
    assert_eq!(sources, vec![Source::ElevatedCookie, Source::SessionCookie]);
    let query_only = Presented {
        query: token("q"),
        ..Presented::default()
    };
    assert_eq!(query_only.candidates()[0].1, Source::QueryParameter);
    assert!(Presented::default().candidates().is_empty());
}

#[test]
fn presented_reads_headers_and_cookies() {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_static("__Host-tessera_session=tsr_ses_1"),
    );
    let presented = Presented::read(&headers, None).unwrap();
    assert_eq!(presented.session().unwrap().1, Source::SessionCookie);
    headers.insert(
        COOKIE,
        HeaderValue::from_static("__Host-tessera_session=a; __Host-tessera_session=b"),
    );
    assert!(Presented::read(&headers, None).is_err());
}

#[test]
fn tokens_do_not_print() {
    assert_eq!(
        format!("{:?}", Token::new("tsr_api_secret".to_owned())),
        "Token(****)"
    );
}
