//! The database URL's `sslmode` is honoured: a PostgreSQL of its own (TLS only on TCP, a private CA,
//! a certificate for `localhost` alone) and `tessera migrate` pointed at it. `verify-full` with the
//! right CA and host name connects; the wrong CA, the wrong host name, or no TLS at all do not.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tessera_harness::{binary, cluster::free_port};

/// The commands PostgreSQL refuses to run as root go through `setpriv` to the postgres user then.
fn as_postgres(program: &Path) -> anyhow::Result<Command> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(Command::new(program));
    }
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
    Ok(command)
}

fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    if nix::unistd::Uid::effective().is_root() {
        let user = nix::unistd::User::from_name("postgres")?.context("no postgres user")?;
        nix::unistd::chown(path, Some(user.uid), Some(user.gid))?;
    }
    Ok(())
}

struct TlsPostgres {
    child: Child,
    port: u16,
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        // SIGTERM: a smart shutdown; then reap.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// initdb, a TLS-only pg_hba for TCP, and `postgres` on a free loopback port.
async fn start_postgres(dir: &Path, cert_pem: &str, key_pem: &str) -> anyhow::Result<TlsPostgres> {
    let bin: PathBuf = tessera_store::embedded::find_bin_dir(None)?;
    let pgdata = dir.join("pgdata");
    chown_postgres(dir)?;
    let init = as_postgres(&bin.join("initdb"))?
        .arg("-D")
        .arg(&pgdata)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdin(Stdio::null())
        .output()?;
    if !init.status.success() {
        bail!("initdb: {}", String::from_utf8_lossy(&init.stderr));
    }
    for (name, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
        let path = pgdata.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        chown_postgres(&path)?;
    }
    std::fs::write(
        pgdata.join("pg_hba.conf"),
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostnossl all all 127.0.0.1/32 reject\n",
    )?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("postgres.log"))?;
    let child = as_postgres(&bin.join("postgres"))?
        .arg("-D")
        .arg(&pgdata)
        .arg("-k")
        .arg(dir)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "ssl=on", "-c", "fsync=off"])
        .args([
            "-c",
            "ssl_cert_file=server.crt",
            "-c",
            "ssl_key_file=server.key",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let mut postgres = TlsPostgres { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = postgres.child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            bail!("postgres exited with {status}:\n{log}");
        }
        if Instant::now() > deadline {
            bail!("postgres not listening within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Listening is not accepting yet ("the database system is starting up"): ask until it is.
    let socket = sqlx::postgres::PgConnectOptions::new()
        .socket(dir)
        .port(port)
        .username("postgres")
        .database("postgres");
    loop {
        match sqlx::ConnectOptions::connect(&socket).await {
            Ok(conn) => {
                drop(conn);
                break;
            }
            Err(err) if Instant::now() > deadline => bail!("postgres not ready: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok(postgres)
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} postgres ca"));
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

fn migrate(url: &str) -> anyhow::Result<Output> {
    Ok(Command::new(binary("tessera")?)
        .args(["migrate", "--database-url", url])
        .env_remove("TESSERA_DATABASE_URL")
        .stdin(Stdio::null())
        .output()?)
}

#[tokio::test]
async fn database_sslmode_verify_full_is_honoured() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("tessera-pgtls-")
        .tempdir_in("/tmp")?;
    let (ca_cert, issuer) = ca("right");
    let server_key = KeyPair::generate()?;
    let server_cert =
        CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&server_key, &issuer)?;
    let postgres =
        start_postgres(dir.path(), &server_cert.pem(), &server_key.serialize_pem()).await?;
    let right_ca = dir.path().join("right-ca.pem");
    std::fs::write(&right_ca, ca_cert.pem())?;
    let wrong_ca = dir.path().join("wrong-ca.pem");
    std::fs::write(&wrong_ca, ca("wrong").0.pem())?;
    let url = |host: &str, mode: &str, root: &Path| {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}&sslrootcert={}",
            postgres.port,
            root.display()
        )
    };

    let ok = migrate(&url("localhost", "verify-full", &right_ca))?;
    assert!(
        ok.status.success(),
        "verify-full with the right CA and host name: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("migrations applied"));

    for (what, attempt) in [
        (
            "a CA that did not sign the server's certificate",
            url("localhost", "verify-full", &wrong_ca),
        ),
        (
            "a host name the certificate does not name",
            url("127.0.0.1", "verify-full", &right_ca),
        ),
        (
            "no TLS, which pg_hba refuses on TCP",
            url("localhost", "disable", &right_ca),
        ),
    ] {
        let out = migrate(&attempt)?;
        assert!(!out.status.success(), "connected with {what}");
    }
    // verify-ca works too. (sqlx 0.8.6 with rustls 0.23 checks the host name even then, stricter
    // than libpq: "127.0.0.1" is refused for this certificate; fail-closed, noted in the guide.)
    let ca_only = migrate(&url("localhost", "verify-ca", &right_ca))?;
    assert!(
        ca_only.status.success(),
        "verify-ca: {}",
        String::from_utf8_lossy(&ca_only.stderr)
    );
    drop(postgres);
    Ok(())
}
