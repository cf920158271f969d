use http::HeaderValue;

use super::*;

fn policy(tls: bool, trust_proxy: bool) -> Policy {
    Policy {
        trust_proxy,
        tls,
        insecure_dev_http: false,
        allowed_origins: vec![Origin::parse("https://app.example.com").unwrap()],
        forward_authorization: false,
        max_json_bytes: 1024,
        front_proxy: crate::policy::FrontProxy::Auto,
        ext_authz_callers: crate::policy::ExtAuthzCallers::Token,
        public_url: None,
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

#[test]
fn origins_normalise_case_and_default_ports() {
    assert_eq!(
        Origin::parse("HTTPS://Edge.Example:443").unwrap().as_str(),
        "https://edge.example"
    );
    assert_eq!(
        Origin::parse("http://127.0.0.1:8080").unwrap().as_str(),
        "http://127.0.0.1:8080"
    );
    assert!(Origin::parse("null").is_none());
    assert!(Origin::parse("ftp://x").is_none());
    assert!(Origin::parse("https://x/path").is_none());
}

#[test]
fn forwarded_proto_counts_only_behind_a_trusted_proxy() {
    let forwarded = headers(&[("x-forwarded-proto", "https")]);
    assert_eq!(scheme(&policy(false, false), &forwarded), Scheme::Http);
    assert_eq!(scheme(&policy(false, true), &forwarded), Scheme::Https);
    assert_eq!(
        scheme(&policy(true, false), &HeaderMap::new()),
        Scheme::Https
    );
}

#[test]
fn own_origin_comes_from_host_or_forwarded_host() {
    let uri: Uri = "/x".parse().unwrap();
    let map = headers(&[
        ("host", "edge.local:8443"),
        ("x-forwarded-host", "public.example"),
    ]);
    assert_eq!(
        own_origin(&policy(true, false), &map, &uri)
            .unwrap()
            .as_str(),
        "https://edge.local:8443"
    );
    assert_eq!(
        own_origin(&policy(false, true), &map, &uri)
            .unwrap()
            .as_str(),
        "http://public.example"
    );
}

#[test]
fn same_origin_requests_pass() {
    let own = Origin::parse("https://edge.local").ok_or(()).unwrap();
    let p = policy(true, false);
    for map in [
        headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://edge.local"),
        ]),
        headers(&[("origin", "https://edge.local:443")]),
        headers(&[("sec-fetch-site", "same-origin")]),
        headers(&[("origin", "https://app.example.com")]),
        // A no-referrer page makes the browser send `Origin: null`; Sec-Fetch-Site still decides.
        headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
        // A page of an --allowed-origin: the browser says same-site or cross-site.
        headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://app.example.com"),
        ]),
        headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://APP.example.com:443"),
        ]),
    ] {
        assert_eq!(check_same_origin(&p, &map, Some(&own)), Ok(()), "{map:?}");
    }
}

#[test]
fn cross_origin_requests_are_refused() {
    let own = Origin::parse("https://edge.local").unwrap();
    let p = policy(true, false);
    let cases = [
        (
            headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ]),
            CrossOrigin::FetchSite,
        ),
        (
            headers(&[("sec-fetch-site", "same-site")]),
            CrossOrigin::FetchSite,
        ),
        (
            headers(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://sibling.edge.local"),
            ]),
            CrossOrigin::FetchSite,
        ),
        // The edge's own origin with a browser saying otherwise: the browser knows better.
        (
            headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://edge.local"),
            ]),
            CrossOrigin::FetchSite,
        ),
        (
            headers(&[("origin", "https://evil.example")]),
            CrossOrigin::Origin,
        ),
        (headers(&[("origin", "null")]), CrossOrigin::Origin),
        (
            headers(&[("origin", "http://edge.local")]),
            CrossOrigin::Origin,
        ),
        (HeaderMap::new(), CrossOrigin::Unknown),
    ];
    for (map, expected) in cases {
        assert_eq!(
            check_same_origin(&p, &map, Some(&own)),
            Err(expected),
            "{map:?}"
        );
    }
}

#[test]
fn login_without_origin_information_is_allowed_but_cross_site_is_not() {
    let own = Origin::parse("https://edge.local").unwrap();
    let p = policy(true, false);
    assert_eq!(
        check_not_cross_origin(&p, &HeaderMap::new(), Some(&own)),
        Ok(())
    );
    let evil = headers(&[("origin", "https://evil.example")]);
    assert!(check_not_cross_origin(&p, &evil, Some(&own)).is_err());
}

#[test]
fn safe_methods_do_not_change_state() {
    assert!(!changes_state(&Method::GET));
    assert!(!changes_state(&Method::HEAD));
    assert!(changes_state(&Method::POST));
    assert!(changes_state(&Method::DELETE));
    assert!(changes_state(&Method::from_bytes(b"PURGE").unwrap()));
}

#[test]
fn the_client_address_is_the_peer_or_what_the_trusted_proxy_appended() {
    let peer = Some(crate::server::ClientAddr("10.0.0.7:4444".parse().unwrap()));
    let forwarded = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
    // The entries before the proxy's own are the client's word: only the last one counts.
    assert_eq!(
        client_ip(&policy(false, true), &forwarded, peer),
        Some("203.0.113.9".parse().unwrap())
    );
    // Without a trusted proxy the header is the client's word altogether.
    assert_eq!(
        client_ip(&policy(false, false), &forwarded, peer),
        Some("10.0.0.7".parse().unwrap())
    );
    let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
    assert_eq!(
        client_ip(&policy(false, true), &garbage, peer),
        Some("10.0.0.7".parse().unwrap())
    );
}
