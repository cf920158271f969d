//! `tessera dev` never hurts what already runs, and leaves nothing behind: one instance per data
//! dir, children that die with it whatever the signal, a crashed run's leftovers recovered, and a
//! checkout the unprivileged postgres user cannot reach.

use std::{
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use nix::sys::signal::Signal;
use tessera_harness::{binary, processes_of, serving, wait_no_processes_of, DevServer};
use tessera_proto::v1 as pb;

/// Runs a second `tessera dev` to completion (it must not keep running), returning its output.
fn second_dev(args: &[&str]) -> anyhow::Result<std::process::Output> {
    let mut child = Command::new(binary("tessera")?)
        .arg("dev")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "the second tessera dev kept running:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child.wait_with_output()?)
}

#[tokio::test]
async fn a_second_dev_on_the_same_data_dir_refuses_and_leaves_the_first_serving(
) -> anyhow::Result<()> {
    let first = DevServer::start(&[])?;
    let data = first.data_path();
    let out = second_dev(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &first.ready.grpc_addr,
    ])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.ready.pid))
            && stderr.contains(&first.ready.grpc_addr),
        "the refusal must name the running instance: {stderr}"
    );
    assert!(
        !stdout.contains("admin login") && !stdout.contains(&first.ready.admin_password),
        "credentials printed by a refused instance: {stdout}"
    );

    // The first one is untouched: its database is up and it still serves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        serving(&first.ready.grpc_addr).await?,
        "first dev no longer SERVING"
    );
    let mut client = first.client().await?;
    client
        .login(pb::LoginRequest {
            username: first.ready.admin_username.clone(),
            password: first.ready.admin_password.clone(),
            totp_code: String::new(),
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_taken_port_is_refused_before_anything_starts_or_prints() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let dir = tempfile::Builder::new()
        .prefix("tessera-e2e-")
        .tempdir_in("/tmp")?;
    let data = dir.path().join("data");
    let out = second_dev(&["--data-dir", data.to_str().unwrap(), "--listen", &addr])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--listen") && stderr.contains(&addr),
        "{stderr}"
    );
    assert!(!stdout.contains("admin login"), "{stdout}");
    assert!(!data.join("pgdata").exists(), "postgres was set up anyway");
    Ok(())
}

#[tokio::test]
async fn sighup_stops_dev_and_every_postgres_process_of_its_data_dir() -> anyhow::Result<()> {
    let mut dev = DevServer::start(&[])?;
    let data = std::fs::canonicalize(dev.data_path())?;
    assert!(
        !processes_of(&data).is_empty(),
        "no postgres found for {}",
        data.display()
    );
    // What closing the terminal does.
    dev.signal(Signal::SIGHUP);
    dev.wait_exit(Duration::from_secs(30))?;
    let left = wait_no_processes_of(&data, Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "still running after SIGHUP: {left:?}\n{}",
        dev.log()
    );
    Ok(())
}

/// SIGKILL leaves no chance to clean up: the parent-death signal stops PostgreSQL and the edges,
/// and the next run on the same data dir starts normally.
#[tokio::test]
async fn sigkill_takes_postgres_and_the_edges_along_and_the_next_run_recovers() -> anyhow::Result<()>
{
    let edges = [
        ("TESSERA_DEV_EDGES", "true"),
        ("TESSERA_DEV_HTTP_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_EDGE", "127.0.0.1:0"),
        ("TESSERA_DEV_LINE_DEMO", "127.0.0.1:0"),
    ];
    let mut dev = DevServer::start(&edges)?;
    let data = std::fs::canonicalize(dev.data_path())?;
    let edge_ready = data.join("edges/http-edge.ready.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !edge_ready.exists() {
        assert!(
            Instant::now() < deadline,
            "edges never ready:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    dev.signal(Signal::SIGKILL);
    dev.wait_exit(Duration::from_secs(10))?;
    let left = wait_no_processes_of(&data, Duration::from_secs(10));
    assert!(left.is_empty(), "orphans after SIGKILL: {left:?}");

    // Same data dir again: it starts, with the admin account kept.
    let admin_password = dev.ready.admin_password.clone();
    let dir = std::mem::replace(&mut dev.data_dir, tempfile::tempdir()?);
    drop(dev);
    let again = DevServer::start_in(dir, &[], &[])?;
    assert_eq!(again.ready.admin_password, admin_password);
    assert!(serving(&again.ready.grpc_addr).await?);
    Ok(())
}

/// Run as root from a checkout inside a 0700 folder (like /root): the default just works, the
/// cluster lives where postgres can reach it, and the log says where.
#[tokio::test]
async fn dev_runs_from_a_checkout_in_a_closed_folder() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("tessera-e2e-closed-")
        .tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    let mut dev = DevServer::start_in(dir, &[], &[])?;
    let mut client = dev.client().await?;
    client
        .login(pb::LoginRequest {
            username: dev.ready.admin_username.clone(),
            password: dev.ready.admin_password.clone(),
            totp_code: String::new(),
        })
        .await?;
    let pointer = dev.data_path().join("cluster-location");
    let cluster = std::fs::read_to_string(&pointer).ok();
    if nix::unistd::geteuid().is_root() {
        let cluster = cluster.clone().expect("as root the cluster moved");
        dev.wait_for_log(cluster.trim(), Duration::from_secs(30))?;
    }
    assert!(dev.stop()?.success());
    if let Some(cluster) = cluster {
        std::fs::remove_dir_all(cluster.trim())?;
    }
    Ok(())
}

/// "Start over" from a checkout PostgreSQL's user cannot reach: `rm -rf .tessera` leaves the
/// relocated cluster (with its admin account) behind, and the next run stopped, advising to delete
/// the data directory again, in a loop. It now names `--reset`, which removes both and starts as
/// on a first run.
#[tokio::test]
async fn reset_starts_over_where_rm_rf_left_a_relocated_cluster() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("tessera-e2e-reset-")
        .tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    let data = dir.path().join("data");
    let mut dev = DevServer::start_in(dir, &[], &[])?;
    let cluster = std::fs::read_to_string(dev.data_path().join("cluster-location")).ok();
    assert!(dev.stop()?.success());
    let dir = std::mem::replace(&mut dev.data_dir, tempfile::tempdir()?);
    drop(dev);
    std::fs::remove_dir_all(&data)?;

    if let Some(cluster) = &cluster {
        // As root: the cluster moved, and the plain restart stops, naming the way out.
        let again = Command::new(binary("tessera")?)
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()?;
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(
            !again.status.success(),
            "started on a stale cluster: {stderr}"
        );
        assert!(stderr.contains("tessera dev --reset"), "{stderr}");
        assert!(std::path::Path::new(cluster.trim()).exists());
    }
    let mut fresh = DevServer::start_in(dir, &["--reset"], &[])?;
    assert!(serving(&fresh.ready.grpc_addr).await?);
    if let Some(cluster) = &cluster {
        fresh.wait_for_log(
            &format!("--reset removed {}", cluster.trim()),
            Duration::from_secs(30),
        )?;
    }
    assert!(fresh.stop()?.success());
    if let Some(cluster) = cluster {
        let _ = std::fs::remove_dir_all(cluster.trim());
    }
    Ok(())
}

/// `tessera dev` whose PostgreSQL dies says so at once, with what to do, and fails closed
/// (health NOT_SERVING) instead of hanging silently.
#[tokio::test]
async fn dev_says_so_when_its_postgresql_dies() -> anyhow::Result<()> {
    let mut dev = DevServer::start(&[])?;
    let cluster = std::fs::read_to_string(dev.data_path().join("cluster-location"))
        .map(|text| std::path::PathBuf::from(text.trim()))
        .unwrap_or_else(|_| dev.data_path());
    let pid: i32 = std::fs::read_to_string(cluster.join("pgdata/postmaster.pid"))?
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL)?;
    let log = dev.wait_for_log("the embedded PostgreSQL", Duration::from_secs(30))?;
    assert!(log.contains("Restart tessera dev"), "{log}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while serving(&dev.ready.grpc_addr).await? {
        assert!(
            std::time::Instant::now() < deadline,
            "still SERVING without PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    dev.stop()?;
    Ok(())
}

/// A postmaster left running by a crashed run (an older tessera without the parent-death signal,
/// say) is recovered: the next `tessera dev` stops it, starts its own (tied to it), serves, and
/// leaves nothing behind when it stops.
#[tokio::test]
async fn a_stale_postmaster_from_a_crashed_run_is_recovered() -> anyhow::Result<()> {
    let mut dev = DevServer::start(&[])?;
    let data = std::fs::canonicalize(dev.data_path())?;
    assert!(dev.stop()?.success());
    assert!(wait_no_processes_of(&data, Duration::from_secs(10)).is_empty());

    // The orphan: postgres on the same cluster, in its own session, parented to nobody here.
    let bin = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("bin/postgres"))
        .find(|path| path.is_file())
        .expect("postgres binary");
    let postgres = [
        bin.to_str().unwrap(),
        "-D",
        data.join("pgdata").to_str().unwrap(),
        "-k",
        data.join("run").to_str().unwrap(),
        "-c",
        "listen_addresses=",
    ]
    .map(str::to_owned);
    let mut orphan = if nix::unistd::geteuid().is_root() {
        Command::new("setsid")
            .args(["runuser", "-u", "postgres", "--"])
            .args(&postgres)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?
    } else {
        Command::new("setsid")
            .args(&postgres)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !data.join("pgdata/postmaster.pid").exists() {
        assert!(
            Instant::now() < deadline,
            "the orphan postgres never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = std::mem::replace(&mut dev.data_dir, tempfile::tempdir()?);
    drop(dev);
    let mut again = DevServer::start_in(dir, &[], &[])?;
    assert!(serving(&again.ready.grpc_addr).await?);
    again.wait_for_log("recovering", Duration::from_secs(30))?;
    assert!(again.stop()?.success());
    let left = wait_no_processes_of(&data, Duration::from_secs(10));
    let _ = orphan.wait();
    assert!(left.is_empty(), "left running: {left:?}\n{}", again.log());
    Ok(())
}
