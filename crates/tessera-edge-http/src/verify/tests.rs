use http::HeaderValue;

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, HeaderValue::from_static(value));
    }
    headers
}

#[test]
fn original_request_comes_from_forwarded_headers() {
    let h = headers(&[
        ("x-forwarded-method", "POST"),
        ("x-forwarded-uri", "/jobs/a?x=1"),
    ]);
    for front in [FrontProxy::Auto, FrontProxy::Caddy, FrontProxy::Traefik] {
        let (method, target) = original(&h, &Method::GET, front).unwrap();
        assert_eq!(method, Method::POST);
        assert_eq!(target.as_deref(), Some("/jobs/a?x=1"));
    }
}

#[test]
fn nginx_style_names_work_and_absent_means_the_request_itself() {
    let h = headers(&[("x-original-uri", "/x")]);
    let (method, target) = original(&h, &Method::GET, FrontProxy::Nginx).unwrap();
    assert_eq!((method, target.as_deref()), (Method::GET, Some("/x")));
    let (method, target) = original(&HeaderMap::new(), &Method::HEAD, FrontProxy::Auto).unwrap();
    assert_eq!((method, target), (Method::HEAD, None));
}

#[test]
fn a_named_proxy_reads_only_its_own_family() {
    // The client's copy of the other family is not even looked at.
    let h = headers(&[
        ("x-original-uri", "/private"),
        ("x-original-method", "DELETE"),
        ("x-forwarded-uri", "/api/v1/public/x"),
        ("x-forwarded-method", "GET"),
    ]);
    let (method, target) = original(&h, &Method::GET, FrontProxy::Nginx).unwrap();
    assert_eq!(
        (method, target.as_deref()),
        (Method::DELETE, Some("/private"))
    );
    let (method, target) = original(&h, &Method::GET, FrontProxy::Caddy).unwrap();
    assert_eq!(
        (method, target.as_deref()),
        (Method::GET, Some("/api/v1/public/x"))
    );
}

#[test]
fn auto_refuses_families_that_disagree_and_accepts_agreement() {
    let disagree = headers(&[
        ("x-original-uri", "/private"),
        ("x-forwarded-uri", "/api/v1/public/x"),
    ]);
    let refused = original(&disagree, &Method::GET, FrontProxy::Auto).unwrap_err();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let methods = headers(&[("x-original-method", "POST"), ("x-forwarded-method", "GET")]);
    assert!(original(&methods, &Method::GET, FrontProxy::Auto).is_err());
    let agree = headers(&[("x-original-uri", "/same"), ("x-forwarded-uri", " /same ")]);
    let (_, target) = original(&agree, &Method::GET, FrontProxy::Auto).unwrap();
    assert_eq!(target.as_deref(), Some("/same"));
}

#[test]
fn duplicated_descriptions_are_refused() {
    let h = headers(&[("x-forwarded-uri", "/a"), ("x-forwarded-uri", "/b")]);
    assert!(original(&h, &Method::GET, FrontProxy::Caddy).is_err());
}

#[test]
fn forwarded_methods_are_made_canonical() {
    let h = headers(&[("x-forwarded-method", "post")]);
    let (method, _) = original(&h, &Method::GET, FrontProxy::Auto).unwrap();
    assert_eq!(method, Method::POST);
    let h = headers(&[("x-forwarded-method", "propfind")]);
    assert!(original(&h, &Method::GET, FrontProxy::Auto).is_err());
}

#[test]
fn nonsense_originals_are_400() {
    let h = headers(&[("x-forwarded-uri", "http://evil/x")]);
    assert!(original(&h, &Method::GET, FrontProxy::Auto).is_err());
    let h = headers(&[("x-forwarded-method", "G E T")]);
    assert!(original(&h, &Method::GET, FrontProxy::Auto).is_err());
}

#[test]
fn descriptions_have_a_bounded_length() {
    let at_limit = format!("/{}", "a".repeat(MAX_FORWARDED_URI - 1));
    let over = format!("/{}", "a".repeat(MAX_FORWARDED_URI));
    for (target, ok) in [(at_limit, true), (over, false)] {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-uri", HeaderValue::from_str(&target).unwrap());
        let decided = original(&h, &Method::GET, FrontProxy::Caddy);
        assert_eq!(decided.is_ok(), ok, "{} bytes", target.len());
    }
}
