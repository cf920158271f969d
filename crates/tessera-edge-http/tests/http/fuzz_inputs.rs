//! Property-based fuzzing of what the edge parses from clients and front proxies: the bearer and
//! cookie credentials, and the forward-auth request description with the identity-header strip
//! and the method canonicalisation around it. Pure functions, no sockets: each case is a few
//! microseconds.
//!
//! `cargo test` runs a short pass (proptest's default, 256 cases per property); a long run is
//! `PROPTEST_CASES=100000 cargo test -p tessera-edge-http --release --test http fuzz_inputs::`.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use tessera_edge_http::answer::Answer;
use tessera_edge_http::cookie::{edge_cookies, CookieError, ELEVATED_COOKIE, SESSION_COOKIE};
use tessera_edge_http::credentials::{bearer, check_token_syntax, Presented, Source};
use tessera_edge_http::identity::{is_identity_header, strip_identity_headers};
use tessera_edge_http::routes::{canonical_method, decoded_segments};
use tessera_edge_http::verify::{original, FrontProxy, MAX_FORWARDED_URI};

/// Any bytes a header value may hold (visible ASCII, space, tab, obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
            0..120
        ),
        "(?i:bearer)[ \t]{0,2}[ -~]{0,60}".prop_map(String::into_bytes),
    ]
}

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("strategy yields valid header bytes")
}

/// Something a token could be: visible ASCII without `"`, `\`, `,` or `;`.
fn token_text() -> impl Strategy<Value = String> {
    "[!#-+\\--:<-\\[\\]-~]{1,80}"
}

fn front() -> impl Strategy<Value = FrontProxy> {
    prop::sample::select(vec![
        FrontProxy::Auto,
        FrontProxy::Nginx,
        FrontProxy::Caddy,
        FrontProxy::Traefik,
    ])
}

fn method_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?i:get|head|post|put|delete|connect|options|trace|patch)",
        "[A-Za-z]{1,10}",
        "[ -~]{0,12}",
    ]
}

fn uri_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[ -~]{0,40}",
        "[ -~]{0,40}",
        "/api/v1/public/[a-z]{0,5}",
        "/jobs/[a-z.]{0,8}(\\?[a-z=&]{0,10})?",
    ]
}

/// Up to two values for each of the four description headers.
fn descriptions() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let names = prop::sample::select(vec![
        "x-original-method",
        "x-original-uri",
        "x-forwarded-method",
        "x-forwarded-uri",
    ]);
    prop::collection::vec((names, prop_oneof![method_text(), uri_text()]), 0..6)
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, text) in pairs {
        if let Ok(value) = HeaderValue::from_str(text) {
            headers.append(*name, value);
        }
    }
    headers
}

fn without(headers: &HeaderMap, family: &str) -> HeaderMap {
    let mut kept = headers.clone();
    kept.remove(format!("x-{family}-method"));
    kept.remove(format!("x-{family}-uri"));
    kept
}

type Description = (Method, Option<String>);

/// What a client would notice of a decision: the description, or the refusal's status.
fn outcome(decided: &Result<Description, Answer>) -> Result<Description, StatusCode> {
    decided.clone().map_err(|answer| answer.status)
}

proptest! {
    /// Any Authorization value: never a panic; a token taken from it is a syntactically possible
    /// token and exactly the text after `Bearer `.
    #[test]
    fn bearer_parsing_takes_only_well_formed_tokens(bytes in header_bytes()) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value(&bytes));
        if let Ok(Some(token)) = bearer(&headers) {
            prop_assert!(check_token_syntax(token.expose()).is_ok());
            let text = std::str::from_utf8(&bytes).expect("accepted values are text");
            prop_assert!(text[..6].eq_ignore_ascii_case("bearer"));
            prop_assert_eq!(&text[7..], token.expose());
        }
    }

    /// Every possible token round-trips through `Bearer <token>` in any case of the scheme, and
    /// two Authorization headers are refused.
    #[test]
    fn bearer_round_trips_and_refuses_duplicates(
        token in token_text(),
        scheme in "(?i:bearer)",
    ) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value(format!("{scheme} {token}").as_bytes()));
        let taken = bearer(&headers).expect("a well-formed bearer").expect("a token");
        prop_assert_eq!(taken.expose(), token.as_str());
        headers.append(AUTHORIZATION, value(b"Bearer x"));
        prop_assert!(bearer(&headers).is_err());
    }

    /// Any Cookie headers: never a panic; a cookie taken is a possible token.
    #[test]
    fn cookie_parsing_takes_only_well_formed_tokens(
        values in prop::collection::vec(
            prop_oneof![
                header_bytes(),
                "([_A-Za-z-]{0,24}=[ -~]{0,20}; ?){0,4}".prop_map(String::into_bytes),
                "__Host-tessera_(session|elevated)=\"?[ -~]{0,20}\"?".prop_map(String::into_bytes),
            ],
            0..3,
        ),
    ) {
        let mut headers = HeaderMap::new();
        for bytes in &values {
            headers.append(COOKIE, value(bytes));
        }
        if let Ok(cookies) = edge_cookies(&headers) {
            for token in cookies.session.iter().chain(cookies.elevated.iter()) {
                prop_assert!(check_token_syntax(token.expose()).is_ok());
            }
        }
        let _ = Presented::read(&headers, None);
    }

    /// The session cookie is found among any other cookies, in any Cookie header, quoted or
    /// not; planted twice it is refused; the bearer always comes first.
    #[test]
    fn the_session_cookie_is_found_among_others_and_never_twice(
        token in token_text(),
        others in prop::collection::vec(("[a-z][a-z_-]{0,10}", "[A-Za-z0-9]{0,12}"), 0..5),
        position in 0usize..6,
        quoted in any::<bool>(),
        split in any::<bool>(),
    ) {
        let mut pairs: Vec<String> = others.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let cookie = if quoted {
            format!("{SESSION_COOKIE}=\"{token}\"")
        } else {
            format!("{SESSION_COOKIE}={token}")
        };
        pairs.insert(position.min(pairs.len()), cookie.clone());
        let mut headers = HeaderMap::new();
        if split {
            for pair in &pairs {
                headers.append(COOKIE, value(pair.as_bytes()));
            }
        } else {
            headers.insert(COOKIE, value(pairs.join("; ").as_bytes()));
        }
        let found = edge_cookies(&headers).expect("well-formed cookies");
        let session = found.session.expect("session");
        prop_assert_eq!(session.expose(), token.as_str());
        prop_assert!(found.elevated.is_none());

        let mut planted = headers.clone();
        planted.append(COOKIE, value(format!("{SESSION_COOKIE}=tsr_planted").as_bytes()));
        prop_assert_eq!(
            edge_cookies(&planted).err(),
            Some(CookieError::Duplicate(SESSION_COOKIE))
        );
        headers.insert(AUTHORIZATION, value(b"Bearer tsr_first"));
        headers.append(COOKIE, value(format!("{ELEVATED_COOKIE}=tsr_up").as_bytes()));
        let presented = Presented::read(&headers, None).expect("well-formed");
        let candidates = presented.candidates();
        prop_assert_eq!(candidates.len(), 1);
        prop_assert_eq!(candidates[0].1, Source::Bearer);
    }

    /// Any request description: never a panic; the method decided is canonical and the target
    /// a bounded path; a named proxy's answer does not depend on the other family's headers;
    /// `auto` never picks one of two different targets.
    #[test]
    fn forward_auth_descriptions_come_only_from_the_front_proxy(
        pairs in descriptions(),
        own in prop::sample::select(vec![Method::GET, Method::POST, Method::HEAD]),
        front in front(),
    ) {
        let headers = header_map(&pairs);
        let decided = original(&headers, &own, front);
        if let Ok((method, target)) = &decided {
            prop_assert_eq!(canonical_method(method), Ok(method.clone()));
            if let Some(target) = target {
                prop_assert!(target.starts_with('/') && target.len() <= MAX_FORWARDED_URI);
                let _ = decoded_segments(target.split('?').next().unwrap_or_default());
            }
        }
        let ignored = match front {
            FrontProxy::Nginx => Some("forwarded"),
            FrontProxy::Caddy | FrontProxy::Traefik => Some("original"),
            FrontProxy::Auto => None,
        };
        match ignored {
            Some(family) => {
                let alone = original(&without(&headers, family), &own, front);
                prop_assert_eq!(outcome(&decided), outcome(&alone));
            }
            None => {
                let uri = |name: &str| {
                    let values: Vec<_> = headers.get_all(name).iter().collect();
                    (values.len() == 1).then(|| values[0].to_str().ok().map(str::trim)).flatten()
                };
                if let (Some(a), Some(b)) = (uri("x-original-uri"), uri("x-forwarded-uri")) {
                    if a != b {
                        prop_assert!(decided.is_err());
                    }
                }
            }
        }
    }

    /// Identity headers in any spelling are all stripped, nothing else is, and the `_` spelling
    /// is reported; method canonicalisation is idempotent and upper-cases the standard methods.
    #[test]
    fn identity_headers_go_in_every_spelling(
        names in prop::collection::vec(
            prop_oneof![
                "[xX][-_][tT][eE][sS][sS][eE][rR][aA][-_][a-zA-Z_-]{0,10}",
                "[!#$%&'*+.^_`|~0-9a-zA-Z-]{1,16}",
            ],
            0..8,
        ),
        method in method_text(),
    ) {
        let mut headers = HeaderMap::new();
        for name in &names {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                headers.append(name, HeaderValue::from_static("v"));
            }
        }
        let before: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        let forged = strip_identity_headers(&mut headers);
        for name in headers.keys() {
            prop_assert!(!is_identity_header(name.as_str()), "{} kept", name);
        }
        for name in &before {
            let folded = name.replace('_', "-").to_ascii_lowercase();
            prop_assert_eq!(headers.contains_key(name.as_str()), !folded.starts_with("x-tessera-"));
        }
        let any_underscore = before
            .iter()
            .any(|n| is_identity_header(n) && n.contains('_'));
        prop_assert_eq!(forged.is_some(), any_underscore);

        if let Ok(method) = Method::from_bytes(method.as_bytes()) {
            if let Ok(canonical) = canonical_method(&method) {
                prop_assert_eq!(canonical_method(&canonical), Ok(canonical.clone()));
                prop_assert!(canonical.as_str().eq_ignore_ascii_case(method.as_str()));
                prop_assert!(!canonical.as_str().bytes().any(|b| b.is_ascii_lowercase()));
            }
        }
    }
}
