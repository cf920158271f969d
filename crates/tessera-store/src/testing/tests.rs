use super::*;

#[test]
fn url_with_database_replaces_only_the_path() {
    assert_eq!(
        url_with_database("postgres://u:p@db:5432/app?sslmode=disable", "t1"),
        "postgres://u:p@db:5432/t1?sslmode=disable"
    );
    assert_eq!(url_with_database("postgres://db", "t1"), "postgres://db/t1");
    assert_eq!(
        url_with_database("postgres:///postgres?host=/run/pg", "t1"),
        "postgres:///t1?host=/run/pg"
    );
    assert_eq!(
        url_with_database(
            "postgres://tessera@localhost:5432/postgres?host=/a/run&sslmode=disable",
            "t1"
        ),
        "postgres://tessera@localhost:5432/t1?host=/a/run&sslmode=disable"
    );
}

#[test]
fn target_dir_is_beside_the_workspace_lock_file() {
    let dir = target_dir().unwrap();
    assert_eq!(dir.file_name().unwrap(), "target");
    assert!(
        dir.parent().unwrap().join("Cargo.lock").is_file()
            || std::env::var_os("CARGO_TARGET_DIR").is_some(),
        "{}",
        dir.display()
    );
}

/// Two databases at once: distinct, both migrated, isolated from each other, and dropped by
/// `cleanup`. Uses the shared cluster (or DATABASE_URL), like every other crate's tests.
#[tokio::test]
async fn test_databases_are_fresh_migrated_and_isolated() {
    let migrations = tempfile::tempdir().unwrap();
    std::fs::write(
        migrations.path().join("20260101000000_probe.sql"),
        "CREATE TABLE probe (value text NOT NULL);",
    )
    .unwrap();
    let migrator = Migrator::new(migrations.path()).await.unwrap();

    let (first, second) = tokio::join!(TestDatabase::new(&migrator), TestDatabase::new(&migrator));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_ne!(first.name, second.name);
    assert!(first.name.starts_with(TEST_DATABASE_PREFIX));

    sqlx::query("INSERT INTO probe (value) VALUES ('only in first')")
        .execute(&first.pool)
        .await
        .unwrap();
    let in_second: i64 = sqlx::query_scalar("SELECT count(*) FROM probe")
        .fetch_one(&second.pool)
        .await
        .unwrap();
    assert_eq!(in_second, 0);

    // The URL reaches the same database as the pool.
    let mut via_url = PgConnection::connect(&first.url).await.unwrap();
    let (database, rows): (String, i64) =
        sqlx::query_as("SELECT current_database()::text, (SELECT count(*) FROM probe)")
            .fetch_one(&mut via_url)
            .await
            .unwrap();
    assert_eq!((database.as_str(), rows), (first.name.as_str(), 1));
    via_url.close().await.unwrap();

    let admin = first.admin.clone();
    let names = [first.name.clone(), second.name.clone()];
    first.cleanup().await.unwrap();
    second.cleanup().await.unwrap();
    let mut conn = PgConnection::connect_with(&admin).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = ANY($1)")
        .bind(&names[..])
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// The harness from a checkout inside a 0700 folder (as root: /root, any `mktemp -d`): the shared
/// cluster still starts, and a test database works on it.
#[tokio::test]
async fn the_shared_cluster_starts_from_a_checkout_in_a_closed_folder() {
    use std::os::unix::fs::PermissionsExt;
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = closed.path().join("checkout/target");
    let server = shared_cluster(&target).await.unwrap();
    let mut conn = admin_connection(&server.admin).await.unwrap();
    conn.execute("SELECT 1").await.unwrap();
    let _ = conn.close().await;

    // Stop it and remove its folder: reuse the running cluster, then shut it down for good.
    let options = EmbeddedOptions {
        data_dir: target.join(SHARED_CLUSTER_DIR),
        bin_dir: None,
    };
    let postgres = EmbeddedPostgres::start(options).await.unwrap();
    let cluster = postgres.data_dir().to_path_buf();
    postgres.shutdown().await.unwrap();
    if cluster.starts_with(embedded::RELOCATION_ROOT) {
        std::fs::remove_dir_all(&cluster).unwrap();
    }
}
