//! The CLI as an operator meets it: `tessera login` (password, TOTP), the stored session and its
//! 0600 file, `unlock`/`lock`, `status`/`whoami`, `logout`; one address form for `--server`; help
//! that shows each command only its own flags; `token list --all` and `audit tail --action`.

use std::{os::unix::fs::PermissionsExt as _, process::Command};

use crate::common::{ok, refused, run, tessera_bin, TestServer, ROOT_PASSWORD};
use tessera_core::totp::TotpSecret;
use tessera_rules::role::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_private_session_that_later_commands_use() {
    let server = TestServer::start().await;
    server
        .add_user("opal", "opal-password-1", Role::Admin)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("config/tessera/credentials.json");
    let addr = server.addr.to_string();
    let url = format!("http://{addr}");

    // Before logging in: the hint names `tessera login`.
    let err = refused(run(&creds, &["token", "list", "--server", &url], ""));
    assert!(
        err.contains("AUTH_REQUIRED") && err.contains("tessera login"),
        "{err}"
    );

    let wrong = refused(run(
        &creds,
        &[
            "login",
            "--server",
            &url,
            "--username",
            "opal",
            "--password-stdin",
        ],
        "not-the-password\n",
    ));
    assert!(wrong.contains("INVALID_CREDENTIALS"), "{wrong}");
    assert!(!creds.exists());

    // host:port and http://host:port are the same server.
    let out = ok(run(
        &creds,
        &[
            "login",
            "--server",
            &addr,
            "--username",
            "opal",
            "--password-stdin",
        ],
        "opal-password-1\n",
    ));
    assert!(out.contains("opal") && out.contains("admin"), "{out}");
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(creds.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(
        text.contains(&url),
        "sessions are keyed by the canonical address: {text}"
    );

    // No token given: the stored session acts, in either position of --server.
    let listed = ok(run(&creds, &["token", "list", "--server", &url], ""));
    assert!(listed.contains("session"), "{listed}");
    ok(run(&creds, &["--server", &url, "user", "list"], ""));

    let status = ok(run(&creds, &["whoami", "--server", &url], ""));
    assert!(
        status.contains("opal") && status.contains("admin"),
        "{status}"
    );
    assert!(status.contains("not elevated"), "{status}");

    // unlock with the break-glass root password, then lock.
    let out = ok(run(
        &creds,
        &[
            "unlock",
            "--server",
            &url,
            "--ttl",
            "5m",
            "--password-stdin",
        ],
        &format!("{ROOT_PASSWORD}\n"),
    ));
    assert!(out.contains("elevated"), "{out}");
    let status = ok(run(&creds, &["status", "--server", &url, "--json"], ""));
    let value: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(value["elevated_until"].is_string(), "{value}");
    ok(run(&creds, &["lock", "--server", &url], ""));
    let status = ok(run(&creds, &["status", "--server", &url, "--json"], ""));
    let value: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(value["elevated_until"].is_null(), "{value}");

    // logout revokes the session on the server and forgets it.
    let token =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&creds).unwrap())
            .unwrap()["servers"][&url]["token"]
            .as_str()
            .unwrap()
            .to_owned();
    ok(run(&creds, &["logout", "--server", &url], ""));
    let err = refused(run(&creds, &["token", "list", "--server", &url], ""));
    assert!(err.contains("AUTH_REQUIRED"), "{err}");
    let err = refused(run(
        &creds,
        &["token", "list", "--server", &url, "--token", &token],
        "",
    ));
    assert!(
        err.contains("AUTH_FAILED"),
        "the session was not revoked: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_asks_for_the_totp_code_when_the_account_has_one() {
    let server = TestServer::start().await;
    let id = server.add_user("tess", "tess-password-1", Role::User).await;
    let secret = server.enroll_totp(id).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    let url = format!("http://{}", server.addr);
    let code = secret.code_at(TotpSecret::step_of(tessera_core::clock::Clock::now(
        &server.clock,
    )));
    let out = ok(run(
        &creds,
        &[
            "login",
            "--server",
            &url,
            "--username",
            "tess",
            "--password-stdin",
        ],
        &format!("tess-password-1\n{code}\n"),
    ));
    assert!(out.contains("tess"), "{out}");
    let status = ok(run(&creds, &["status", "--server", &url], ""));
    assert!(
        status.contains("tess") && status.contains("user"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_addresses_outside_the_three_forms_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    for bad in [
        "ftp://127.0.0.1:1",
        "127.0.0.1",
        "http://127.0.0.1:1/x",
        "localhost:0",
    ] {
        let err = refused(run(&creds, &["token", "list", "--server", bad], ""));
        assert!(
            err.contains("--server") && err.contains("http://127.0.0.1:50051"),
            "{bad}: {err}"
        );
        assert!(
            !err.contains("cannot reach"),
            "refused only at the call: {err}"
        );
    }
}

#[test]
fn each_command_help_shows_only_its_own_flags() {
    let help = |args: &[&str]| {
        let out = Command::new(tessera_bin())
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dev = help(&["dev"]);
    for remote_flag in [
        "--server <",
        "--token <",
        "--token-file <",
        "--json\n",
        "--credentials-file <",
    ] {
        assert!(
            !dev.contains(remote_flag),
            "dev --help shows {remote_flag}:\n{dev}"
        );
    }
    assert!(!help(&["serve"]).contains("--server"));
    let list = help(&["user", "list"]);
    assert!(
        list.contains("--server") && list.contains("--json"),
        "{list}"
    );
    assert!(!list.contains("--data-dir"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_all_shows_descriptions_and_audit_refuses_unknown_actions() {
    let server = TestServer::start().await;
    let (_, session) = server.session(Role::Admin).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    let url = format!("http://{}", server.addr);
    let issued = ok(run(
        &creds,
        &[
            "token",
            "issue",
            "--server",
            &url,
            "--token",
            &session,
            "--description",
            "nightly-deploys",
            "--json",
        ],
        "",
    ));
    let id = serde_json::from_str::<serde_json::Value>(&issued).unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(run(
        &creds,
        &[
            "token", "revoke", &id, "--server", &url, "--token", &session,
        ],
        "",
    ));
    let listed = ok(run(
        &creds,
        &[
            "token", "list", "--all", "--server", &url, "--token", &session,
        ],
        "",
    ));
    let row = listed
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{listed}"));
    assert!(
        row.contains("revoked") && row.contains("nightly-deploys"),
        "{row}"
    );

    let err = refused(run(
        &creds,
        &[
            "audit", "tail", "--action", "logn", "--server", &url, "--token", &session,
        ],
        "",
    ));
    assert!(
        err.contains("logn") && err.contains("login") && err.contains("user.create"),
        "{err}"
    );
    ok(run(
        &creds,
        &[
            "audit", "tail", "--action", "revoke", "--server", &url, "--token", &session,
        ],
        "",
    ));
}
