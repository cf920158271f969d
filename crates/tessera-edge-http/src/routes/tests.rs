use super::*;

fn segments(path: &str) -> Vec<String> {
    decoded_segments(path).unwrap()
}

fn rules(texts: &[&str]) -> NamespaceRules {
    NamespaceRules::parse(&texts.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn paths_decode_into_segments() {
    assert_eq!(
        segments("/jobs/deploy%2Edaily/logs"),
        vec!["jobs", "deploy.daily", "logs"]
    );
    assert_eq!(segments("//a///b/"), vec!["a", "b"]);
    assert!(segments("/").is_empty());
}

#[test]
fn ambiguous_paths_are_refused() {
    let cases = [
        ("/a/../b", PathError::DotSegment),
        ("/a/./b", PathError::DotSegment),
        ("/a/%2e%2E/b", PathError::DotSegment),
        ("/a/..;x/b", PathError::DotSegment),
        ("/a/..%2fb", PathError::EncodedSeparator),
        ("/a/b%5cc", PathError::EncodedSeparator),
        ("/a/b%00", PathError::ControlCharacter),
        ("/a/%0d%0aX", PathError::ControlCharacter),
        ("/a/%ff", PathError::NotUtf8),
        ("*", PathError::NotAbsolute),
    ];
    for (path, error) in cases {
        assert_eq!(decoded_segments(path), Err(error), "{path}");
    }
}

#[test]
fn public_routes_match_by_prefix_with_a_boundary() {
    let public = PublicRoutes::parse(&["/api/v1/public/".into(), "/health".into()]).unwrap();
    assert!(public.matches("/api/v1/public/ping"));
    assert!(public.matches("/api/v1/public/"));
    assert!(!public.matches("/api/v1/public"));
    assert!(!public.matches("/api/v1/publicity"));
    assert!(public.matches("/health"));
    assert!(public.matches("/health/db"));
    assert!(!public.matches("/healthz"));
    assert!(!public.matches("/API/v1/public/ping"));
    assert!(
        !public.matches("/api/v1/%70ublic/ping"),
        "a differently encoded path is not public"
    );
}

#[test]
fn public_routes_refuse_everything_or_nonsense() {
    for bad in ["/", "relative/", "/a/../b", "/a b", "/a?b"] {
        assert!(PublicRoutes::parse(&[bad.to_owned()]).is_err(), "{bad}");
    }
}

#[test]
fn namespace_rule_names_the_identifier_segment() {
    let rules = rules(&["/jobs/{id}"]);
    let check = rules
        .check(&Method::GET, &segments("/jobs/deploy.daily"))
        .unwrap()
        .unwrap();
    assert_eq!(check.identifier, "deploy.daily");
    assert_eq!(check.action, "");
    assert_eq!(rules.check(&Method::GET, &segments("/other/x")), Ok(None));
}

#[test]
fn a_path_that_stops_inside_a_rule_is_still_checked() {
    let rules = rules(&["/api/jobs/{id}/run"]);
    let checked = |path: &str| {
        rules
            .check(&Method::GET, &segments(path))
            .unwrap()
            .map(|check| check.identifier)
    };
    assert_eq!(checked("/api/jobs").as_deref(), Some(ALL_IDENTIFIERS));
    assert_eq!(checked("/api/jobs/").as_deref(), Some(ALL_IDENTIFIERS));
    assert_eq!(checked("/api/jobs/backup.x").as_deref(), Some("backup.x"));
    assert_eq!(
        checked("/api/jobs/backup.x/run").as_deref(),
        Some("backup.x")
    );
    // Short of the literal prefix, or off it, the rule says nothing.
    assert_eq!(checked("/api"), None);
    assert_eq!(checked("/"), None);
    assert_eq!(checked("/api/jobs/backup.x/logs"), None);
}

#[test]
fn segments_upstreams_read_differently_are_refused_where_a_rule_reads_them() {
    let rules = rules(&["/api/jobs/{id}"]);
    let cases = [
        ("/api/jobs;x/backup.x", 2),
        ("/api;a=b/jobs/backup.x", 1),
        ("/api/jobs./backup.x", 2),
        ("/api/jobs%20/backup.x", 2),
        ("/api/%20jobs/backup.x", 2),
        ("/api/j%256Fbs/backup.x", 2),
        ("/api/jobs/deploy.x%252f..%252fbackup.x", 3),
        ("/api/jobs/deploy.", 3),
        ("/api/jobs/deploy.x;y", 3),
        ("/api/jobs;x", 2),
    ];
    for (path, position) in cases {
        assert_eq!(
            rules.check(&Method::GET, &segments(path)),
            Err(AmbiguousSegment { position }),
            "{path}"
        );
    }
    // Beyond the rule's segments, or off the rule, the upstream's reading is its own business.
    for path in ["/api/jobs/deploy.x/a;b.", "/other;x/backup.x.", "/api;x"] {
        assert!(rules.check(&Method::GET, &segments(path)).is_ok(), "{path}");
    }
}

#[test]
fn namespace_rule_covers_paths_below_it_and_other_encodings() {
    let rules = rules(&["/jobs/{id}"]);
    for path in [
        "/jobs/backup.x/logs",
        "/JOBS/backup.x",
        "/j%6Fbs/backup.x",
        "//jobs//backup.x/",
    ] {
        let check = rules
            .check(&Method::DELETE, &segments(path))
            .unwrap()
            .unwrap();
        assert_eq!(check.identifier, "backup.x", "{path}");
    }
}

#[test]
fn namespace_rules_with_methods_wildcards_and_actions() {
    let rules = rules(&[
        "POST,delete /api/*/jobs/{name} write",
        "/api/*/jobs/{name} read",
    ]);
    let write = rules
        .check(&Method::POST, &segments("/api/v2/jobs/deploy.a"))
        .unwrap()
        .unwrap();
    assert_eq!(write.action, "write");
    let read = rules
        .check(&Method::GET, &segments("/api/v2/jobs/deploy.a"))
        .unwrap()
        .unwrap();
    assert_eq!(read.action, "read");
    assert_eq!(
        rules.check(&Method::GET, &segments("/api/jobs/deploy.a")),
        Ok(None)
    );
}

#[test]
fn bad_rules_are_refused_at_start() {
    for bad in [
        "/jobs",
        "/jobs/{a}/{b}",
        "jobs/{id}",
        "GOT!/jobs/{id}",
        "/jobs/{id} write extra more",
        "/jo*bs/{id}",
        "/jobs/{id} wr%te",
        "/jobs/{id} *",
        "/jobs/{id} -run",
        "/jobs/{id} Run",
    ] {
        assert!(NamespaceRule::parse(bad).is_err(), "{bad}");
    }
}
