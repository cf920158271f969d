//! What an operator's first hour with the CLI ran into (issue 29): commands that did something
//! other than what was asked, or said less than they did, now refuse or say it.

use crate::common::{ok, refused, run, TestServer};
use tessera_rules::role::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_status_unlock_and_introspect_do_what_they_say() {
    let server = TestServer::start().await;
    server
        .add_user("iris", "iris-password-1", Role::Admin)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    let url = format!("http://{}", server.addr);
    ok(run(
        &creds,
        &[
            "login",
            "--server",
            &url,
            "--username",
            "iris",
            "--password-stdin",
        ],
        "iris-password-1\n",
    ));

    // Revoking an id that names no active token revoked nothing: it says so and fails.
    let unknown = "00000000-0000-4000-8000-000000000000";
    let err = refused(run(
        &creds,
        &["token", "revoke", "--server", &url, unknown],
        "",
    ));
    assert!(
        err.contains("nothing revoked") && !err.contains("revoked 0"),
        "{err}"
    );
    // A malformed one is refused naming the field once, not three times.
    let err = refused(run(
        &creds,
        &["token", "revoke", "--server", &url, "no-such-id"],
        "",
    ));
    assert_eq!(err.matches("token_id").count(), 1, "{err}");
    let issued = ok(run(
        &creds,
        &[
            "token",
            "issue",
            "--server",
            &url,
            "--namespace",
            "deploy.",
            "--json",
        ],
        "",
    ));
    let issued: serde_json::Value = serde_json::from_str(&issued).unwrap();
    let (token, id) = (
        issued["token"].as_str().unwrap(),
        issued["token_id"].as_str().unwrap(),
    );

    // `token introspect` is the CLI's Introspect with peek: what the token is, no use spent.
    let seen = ok(run(
        &creds,
        &["token", "introspect", "--server", &url, "--json", "-"],
        &format!("{token}\n"),
    ));
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["namespace"], "deploy.", "{seen}");
    assert_eq!(seen["username"], "iris", "{seen}");

    let out = ok(run(&creds, &["token", "revoke", "--server", &url, id], ""));
    assert!(out.contains("revoked 1"), "{out}");
    let err = refused(run(&creds, &["token", "revoke", "--server", &url, id], ""));
    assert!(err.contains("nothing revoked"), "{err}");
    let seen = ok(run(
        &creds,
        &["token", "introspect", "--server", &url, token],
        "",
    ));
    assert!(seen.contains("active          false"), "{seen}");

    // `status` reports the stored session; given a token it would ignore, it refuses instead.
    let err = refused(run(
        &creds,
        &["status", "--server", &url, "--token", token],
        "",
    ));
    assert!(err.contains("token introspect"), "{err}");

    // An elevation longer than any server grants is refused before the password is asked for
    // (stdin is empty: a prompt would fail on that, not on --ttl).
    let err = refused(run(
        &creds,
        &[
            "unlock",
            "--server",
            &url,
            "--ttl",
            "2h",
            "--password-stdin",
        ],
        "",
    ));
    assert!(
        err.starts_with("tessera: --ttl:") && err.contains("at most 1h"),
        "{err}"
    );
}
