//! Against the machine's real PostgreSQL binaries, each test in its own temporary data dir.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use nix::unistd::{geteuid, User};
use sqlx::{Executor, Row};
use tempfile::TempDir;

use super::*;

/// A temporary directory the unprivileged postgres user can traverse when the tests run as
/// root (tempfile creates it 0700); the data dir inside it is created by the supervisor.
fn scratch() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("tessera-pg-")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

fn options(scratch: &TempDir) -> EmbeddedOptions {
    EmbeddedOptions {
        data_dir: scratch.path().join("data"),
        bin_dir: None,
    }
}

async fn answers(pg: &EmbeddedPostgres) -> bool {
    probe(&pg.connect_options("postgres")).await
}

#[tokio::test]
async fn starts_serves_stops_and_restarts_with_its_data() {
    let scratch = scratch();
    let pg = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    assert!(!pg.reused());
    let pgdata = pg.data_dir().join("pgdata");
    if geteuid().is_root() {
        // Ran as the unprivileged account, which owns the cluster.
        let account = User::from_name("postgres")
            .unwrap()
            .or_else(|| User::from_name("nobody").unwrap())
            .unwrap();
        assert_eq!(fs::metadata(&pgdata).unwrap().uid(), account.uid.as_raw());
    }

    pg.ensure_database("tessera_app").await.unwrap();
    pg.ensure_database("tessera_app").await.unwrap();
    let err = pg.ensure_database("bad-name").await.unwrap_err();
    assert!(
        matches!(err, EmbeddedError::InvalidDatabaseName { .. }),
        "{err:?}"
    );

    // The URL form works and leads over the socket, with TCP switched off.
    let mut conn = PgConnection::connect(&pg.database_url("tessera_app"))
        .await
        .unwrap();
    let row = sqlx::query("SELECT current_user::text, current_setting('listen_addresses')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), SUPERUSER);
    assert_eq!(row.get::<String, _>(1), "");
    conn.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('survives restarts')")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let pid = Pid::from_raw(i32::try_from(pg.pid()).unwrap());
    pg.stop().await.unwrap();
    assert!(
        !process::is_running(pid),
        "postgres still running after stop"
    );
    assert!(!pgdata.join("postmaster.pid").exists());

    let version_before = fs::metadata(pgdata.join("PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    let pg = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    assert!(!pg.reused());
    let version_after = fs::metadata(pgdata.join("PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(version_before, version_after, "initdb ran again");
    let mut conn = PgConnection::connect_with(&pg.connect_options("tessera_app"))
        .await
        .unwrap();
    let value: String = sqlx::query_scalar("SELECT value FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "survives restarts");
    conn.close().await.unwrap();
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn a_running_server_is_reused_and_left_to_its_starter() {
    let scratch = scratch();
    let first = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    let second = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    assert!(second.reused());
    assert_eq!(first.pid(), second.pid());

    second.stop().await.unwrap();
    assert!(
        answers(&first).await,
        "stop() on the reuser stopped the server"
    );

    let pid = Pid::from_raw(i32::try_from(first.pid()).unwrap());
    let third = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    assert!(third.reused());
    third.shutdown().await.unwrap();
    assert!(
        !process::is_running(pid),
        "shutdown() left the server running"
    );
    drop(first);
}

#[tokio::test]
async fn stale_pid_files_do_not_block_a_start() {
    let scratch = scratch();
    let pg = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    let pid_file = pg.data_dir().join("pgdata/postmaster.pid");
    let real_contents = fs::read_to_string(&pid_file).unwrap();
    pg.stop().await.unwrap();

    // As a crash leaves it: the old pid is dead.
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = exited.id();
    exited.wait().unwrap();
    // Worse: the pid was reused by a live process that is not postgres.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();

    for pid in [dead_pid, sleeper.id()] {
        let (_, rest) = real_contents.split_once('\n').unwrap();
        fs::write(&pid_file, format!("{pid}\n{rest}")).unwrap();
        let pg = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
        assert!(!pg.reused());
        assert_ne!(pg.pid(), pid);
        assert!(answers(&pg).await);
        pg.stop().await.unwrap();
    }
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[tokio::test]
async fn dropping_the_supervisor_stops_the_server() {
    let scratch = scratch();
    let pg = EmbeddedPostgres::start(options(&scratch)).await.unwrap();
    let pid = Pid::from_raw(i32::try_from(pg.pid()).unwrap());
    drop(pg);
    assert!(
        process::wait_gone(pid, Duration::from_secs(30)).await,
        "postgres survived the supervisor's drop"
    );
}

#[tokio::test]
async fn a_bin_dir_without_initdb_is_a_clear_error() {
    let scratch = scratch();
    let empty_bin = tempfile::tempdir().unwrap();
    let err = EmbeddedPostgres::start(EmbeddedOptions {
        bin_dir: Some(empty_bin.path().to_path_buf()),
        ..options(&scratch)
    })
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, EmbeddedError::BinariesNotFound { .. }),
        "{err:?}"
    );
    assert!(
        message.contains(&empty_bin.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("initdb"), "{message}");
    assert!(message.contains("apt-get install postgresql"), "{message}");
}

/// A checkout in /root (0700) or a `mktemp -d` folder: the cluster moves where postgres can
/// reach it, says where, and is found again (data kept) on the next start.
#[tokio::test]
async fn as_root_a_closed_ancestor_moves_the_cluster_and_keeps_it() {
    if !geteuid().is_root() {
        eprintln!("skipped: only root drops privileges");
        return;
    }
    let closed = tempfile::tempdir().unwrap();
    fs::set_permissions(closed.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let requested = closed.path().join("checkout/.tessera");
    let opts = EmbeddedOptions {
        data_dir: requested.clone(),
        bin_dir: None,
    };
    let pg = EmbeddedPostgres::start(opts.clone()).await.unwrap();
    let requested = fs::canonicalize(&requested).unwrap();
    assert_eq!(pg.relocated_from(), Some(requested.as_path()));
    let cluster = pg.data_dir().to_path_buf();
    assert!(
        cluster.starts_with(RELOCATION_ROOT),
        "{}",
        cluster.display()
    );
    let meta = fs::metadata(&cluster).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_ne!(
        meta.uid(),
        0,
        "the cluster folder belongs to postgres's user"
    );
    let pointer = fs::read_to_string(requested.join(POINTER_FILE)).unwrap();
    assert_eq!(pointer.trim(), cluster.display().to_string());
    pg.ensure_database("kept_across_runs").await.unwrap();
    pg.stop().await.unwrap();

    let again = EmbeddedPostgres::start(opts).await.unwrap();
    assert!(!again.reused());
    assert_eq!(again.data_dir(), cluster);
    let mut conn = PgConnection::connect_with(&again.connect_options("kept_across_runs"))
        .await
        .unwrap();
    conn.execute("SELECT 1").await.unwrap();
    let _ = conn.close().await;
    again.stop().await.unwrap();
    fs::remove_dir_all(&cluster).unwrap();
}

#[test]
fn database_names_are_validated() {
    for good in ["tessera", "_x", "tessera_test_0af3", &"a".repeat(63)] {
        validate_database_name(good).unwrap();
    }
    for bad in ["", "Tessera", "1db", "a-b", "a\"b", "a b", &"a".repeat(64)] {
        assert!(validate_database_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn urls_encode_the_socket_dir_and_parse_back() {
    let encoded = database::percent_encode("/tmp/a b/run", true);
    assert_eq!(encoded, "/tmp/a%20b/run");
    let options: PgConnectOptions =
        format!("postgres://{SUPERUSER}@localhost:{PORT}/db?host={encoded}&sslmode=disable")
            .parse()
            .unwrap();
    assert_eq!(options.get_socket(), Some(&PathBuf::from("/tmp/a b/run")));
    assert_eq!(options.get_database(), Some("db"));
}

/// A tied server dies with its starter however the starter goes: here the starting thread ends
/// without stopping it (as a SIGKILLed `tessera dev` would), and the parent-death signal stops it.
#[tokio::test]
async fn a_tied_server_stops_when_its_starter_dies() {
    let scratch = scratch();
    let opts = options(&scratch);
    let pid = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pg = EmbeddedPostgres::start_tied(opts).await.unwrap();
            let pid = pg.pid();
            // Ownership given up, so nothing but the parent-death signal can stop it.
            pg.detach();
            pid
        })
    })
    .join()
    .unwrap();
    let pid = Pid::from_raw(i32::try_from(pid).unwrap());
    assert!(
        process::wait_gone(pid, Duration::from_secs(30)).await,
        "postgres outlived the thread that started it"
    );
}
