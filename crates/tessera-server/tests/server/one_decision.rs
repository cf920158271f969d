//! One decision, every dialect: the same hostile questions (Unicode, case, empty, separators,
//! long, percent-encoded, invisible characters) asked of the server's CheckNamespace and of each
//! edge's local decision must get the same answer, over more than 10⁵ cases.
//!
//! The server answers in process (`Authority::check_namespace`, behind which a real PostgreSQL
//! holds the tokens) for every case, and over real gRPC for a sample spread over all of them (so
//! the adapter's bounds are in the loop too). The HTTP edge decides from the token's Introspect
//! answer (`gate::namespace_verdict`: `None` means "ask Tessera", which must happen exactly when
//! Tessera would refuse the question); the line edge decides from the namespace Introspect
//! reported (`tessera::local_verdict`, no action).

use std::sync::Arc;

use crate::common::*;
use tessera_client::Introspection;
use tessera_edge_line::tessera::{local_verdict, Verdict};
use tessera_proto::{bounds, v1 as pb};
use tessera_rules::{namespace::Namespace, role::Role, token::TokenSecret};
use tessera_server::error::ApiError;
use tonic::Code;

/// What a side says about one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Allowed,
    Denied,
    /// Refused as malformed (INVALID_ARGUMENT); for the HTTP edge, "ask Tessera".
    Malformed,
}

fn said(allowed: bool) -> Said {
    if allowed {
        Said::Allowed
    } else {
        Said::Denied
    }
}

/// The tokens asked about: namespaces of every shape, permissions with and without `*`.
const TOKENS: [(&str, &[&str]); 8] = [
    ("*", &["read", "write"]),
    ("deploy.", &["read"]),
    ("deploy", &["*", "-write"]),
    ("a/b/", &["jobs.run", "read"]),
    ("x:", &["introspect"]),
    ("ünï.", &["read"]),
    ("DEPLOY.", &["read", "jobs:run"]),
    ("deploy.%2e", &["read"]),
];

fn identifiers() -> Vec<String> {
    let bases = [
        "deploy.a",
        "deploy.",
        "deploy",
        "deployment.prod",
        "DEPLOY.a",
        "Deploy.a",
        "a/b/c",
        "a/b/",
        "a/b",
        "a/b//c",
        "x:y",
        "x:",
        "x",
        "ünï.z",
        "ÜNÏ.z",
        "ünï.",
        "unï.z",
        "un\u{308}ï.z",
        "*",
        "deploy.*",
        "deploy.%2e",
        "deploy%2ea",
        "deploy.%2E",
        "deploy.%2e.x",
        "backup.x",
        ".",
        "/",
        ":",
        "..",
        "./",
        "deploy..a",
        "deploy./a",
        "İ.x",
        "ı.x",
        "\u{ff44}eploy.a",
        "deploy.\u{ff41}",
    ];
    let mutations: [fn(&str) -> String; 22] = [
        |s| s.to_owned(),
        |s| format!("{s}\u{200b}"),
        |s| format!("\u{202e}{s}"),
        |s| format!("{s} "),
        |s| format!("{s}\t"),
        |s| format!("{s}\0"),
        |s| format!("{s}\u{a0}"),
        |s| format!("{s}\u{3000}"),
        |s| format!("{s}\u{301}"),
        |s| format!("{s}é"),
        |s| s.to_uppercase(),
        |s| s.to_lowercase(),
        |s| {
            format!(
                "{s}{}",
                "a".repeat(bounds::IDENTIFIER.saturating_sub(s.len()))
            )
        },
        |s| {
            format!(
                "{s}{}",
                "a".repeat((bounds::IDENTIFIER + 1).saturating_sub(s.len()))
            )
        },
        |s| format!("{s}{}", "é".repeat((bounds::IDENTIFIER - s.len()) / 2 + 1)),
        |s| s.replacen('.', "%2e", 1),
        |s| s.replace('.', "/"),
        |s| s.replace('.', ".."),
        |_| String::new(),
        |s| format!("{s}\n"),
        |s| format!("{s}\u{7f}"),
        |s| format!("{s}\u{feff}"),
    ];
    let mut all: Vec<String> = bases
        .iter()
        .flat_map(|base| mutations.iter().map(move |m| m(base)))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn actions() -> Vec<String> {
    let mut actions: Vec<String> = [
        "",
        "read",
        "write",
        "READ",
        " read",
        "read ",
        "*",
        "-read",
        "jobs.run",
        "jobs:run",
        "j",
        "é",
        "read\u{200b}",
        "re ad",
        "admin",
        "introspect",
        "run-",
        "r.",
        "1read",
        "_read",
        "read\n",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    actions.push("a".repeat(bounds::PERMISSION));
    actions.push("a".repeat(bounds::PERMISSION + 1));
    actions
}

async fn server_says(
    server: &TestServer,
    caller: &tessera_server::service::view::TokenView,
    token: &str,
    identifier: &str,
    action: &str,
) -> Said {
    match server
        .authority
        .check_namespace(caller, token, vec![identifier.to_owned()], action)
        .await
    {
        Ok(Some(verdict)) => said(verdict.decision.admits()),
        Ok(None) => panic!("an issued token read as inactive"),
        Err(ApiError::InvalidArgument { .. }) => Said::Malformed,
        Err(other) => panic!("CheckNamespace failed: {other}"),
    }
}

async fn wire_says(server: &TestServer, caller: &str, token: &str, id: &str, action: &str) -> Said {
    let answer = server
        .client()
        .check_namespace(authed(
            pb::CheckNamespaceRequest {
                token: token.to_owned(),
                identifiers: vec![id.to_owned()],
                action: action.to_owned(),
            },
            caller,
        ))
        .await;
    match answer {
        Ok(response) => {
            let response = response.into_inner();
            assert!(response.active, "an issued token read as inactive");
            said(response.allowed)
        }
        Err(status) if status.code() == Code::InvalidArgument => Said::Malformed,
        Err(status) => panic!("CheckNamespace over gRPC failed: {status:?}"),
    }
}

#[tokio::test]
async fn the_server_and_both_edges_decide_every_hostile_question_alike() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let caller = server
        .authority
        .authenticate(Some(&TokenSecret::from_string(session.clone())))
        .await
        .expect("the admin session authenticates");
    let identifiers = identifiers();
    let actions = actions();

    let (mut cases, mut over_wire, mut delegated) = (0usize, 0usize, 0usize);
    let mut allowed = 0usize;
    let mut disagreements = Vec::new();
    for (namespace, permissions) in TOKENS {
        let issued = server
            .issue(
                &session,
                pb::IssueTokenRequest {
                    ttl: "1h".into(),
                    namespace: namespace.into(),
                    permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("issuing {namespace:?}: {e:?}"))
            .token;
        let introspection = Introspection::from(server.peek(&session, &issued).await);
        let stored = Namespace::from_stored(&introspection.namespace).expect("namespace reads");
        let introspection = Arc::new(introspection);
        for identifier in &identifiers {
            for action in &actions {
                cases += 1;
                let truth = server_says(&server, &caller, &issued, identifier, action).await;
                allowed += usize::from(truth == Said::Allowed);
                let http = match tessera_edge_http::gate::namespace_verdict(
                    &introspection,
                    identifier,
                    action,
                ) {
                    Some(allowed) => said(allowed),
                    None => {
                        delegated += 1;
                        Said::Malformed
                    }
                };
                let mut sides = vec![("http edge", http)];
                if action.is_empty() {
                    let line = match local_verdict(&stored, std::slice::from_ref(identifier)) {
                        Ok(Verdict::Active(inside)) => said(inside == [true]),
                        Ok(Verdict::Inactive) => panic!("a local verdict is never inactive"),
                        Err(_) => Said::Malformed,
                    };
                    sides.push(("line edge", line));
                }
                if cases % 41 == 0 {
                    over_wire += 1;
                    let wire = wire_says(&server, &session, &issued, identifier, action).await;
                    sides.push(("server over gRPC", wire));
                }
                for (side, answer) in sides {
                    if answer != truth && disagreements.len() < 20 {
                        disagreements.push(format!(
                            "{side} says {answer:?}, CheckNamespace {truth:?}: namespace \
                             {namespace:?}, identifier {identifier:?}, action {action:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(cases >= 100_000, "only {cases} cases");
    assert!(
        disagreements.is_empty(),
        "{} disagreements, e.g.:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Both outcomes occur, so the comparison is not vacuous.
    assert!(delegated > 0 && delegated < cases, "{delegated} of {cases}");
    assert!(
        allowed > 0 && allowed + delegated < cases,
        "{allowed} allowed"
    );
    eprintln!(
        "{cases} cases ({allowed} allowed, {} denied, {delegated} malformed), {over_wire} also \
         over gRPC: 0 disagreements",
        cases - allowed - delegated
    );
}
