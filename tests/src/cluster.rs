//! Many replicas on one PostgreSQL: `tessera serve` processes started from the test (each with its
//! own log file, read back for its address), and a real PgBouncer to put between them and the
//! database. Dropping a [`Replica`] or a [`PgBouncer`] kills its process.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tessera_proto::v1::{self as pb, auth_service_client::AuthServiceClient};
use tonic::transport::Channel;

use crate::binary;

/// The bootstrap root account's password in every replica this module starts.
pub const ROOT_PASSWORD: &str = "cluster-root-password-1";
/// The TOTP/JWT sealing key every replica of one cluster shares.
pub const TOTP_KEY: &str = "dGVzc2VyYS1jbHVzdGVyLXRlc3QtdG90cC1rZXktMzI=";

/// How to start one replica.
#[derive(Debug, Clone, Default)]
pub struct ReplicaSpec {
    /// `--database-url` (TESSERA_DATABASE_URL).
    pub database_url: String,
    /// Extra `serve` arguments, e.g. `--shutdown-grace 5s`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub envs: Vec<(String, String)>,
}

impl ReplicaSpec {
    /// A replica of the database at `database_url` with nothing else changed.
    pub fn new(database_url: &str) -> ReplicaSpec {
        ReplicaSpec {
            database_url: database_url.to_owned(),
            ..ReplicaSpec::default()
        }
    }

    /// Adds `serve` arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> ReplicaSpec {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// A started replica, not yet known to be serving.
pub struct Starting {
    child: Child,
    log: PathBuf,
}

/// One `tessera serve` replica.
pub struct Replica {
    child: Child,
    /// Its gRPC address, `127.0.0.1:<port>`.
    pub addr: String,
    log: PathBuf,
}

impl Replica {
    /// Spawns `tessera serve` (JSON logs in `<dir>/<name>.log`) without waiting for it.
    pub fn spawn(spec: &ReplicaSpec, dir: &Path, name: &str) -> anyhow::Result<Starting> {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let accounts = format!(
            r#"[{{"username":"root","password":"{ROOT_PASSWORD}","role":"root","display_name":"Root"}}]"#
        );
        let mut command = Command::new(binary("tessera")?);
        command
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(&spec.args)
            .env("TESSERA_DATABASE_URL", &spec.database_url)
            // Every replica must seal TOTP seeds and JWT keys with the same key.
            .env("TESSERA_TOTP_KEY", TOTP_KEY)
            .env("TESSERA_BOOTSTRAP_ACCOUNTS_JSON", accounts)
            .env("TESSERA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for (key, value) in &spec.envs {
            command.env(key, value);
        }
        let child = command.spawn().context("spawning tessera serve")?;
        Ok(Starting { child, log })
    }

    /// Spawns a replica and waits until it serves.
    pub fn start(spec: &ReplicaSpec, dir: &Path, name: &str) -> anyhow::Result<Replica> {
        Replica::ready(Replica::spawn(spec, dir, name)?)
    }

    /// Waits for the replica's "serving" log line and reads its address from it.
    pub fn ready(starting: Starting) -> anyhow::Result<Replica> {
        let Starting { mut child, log } = starting;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            for entry in json_lines(&text) {
                if entry["fields"]["message"] == "tessera serving gRPC" {
                    if let Some(addr) = entry["fields"]["addr"].as_str() {
                        return Ok(Replica {
                            child,
                            addr: addr.to_owned(),
                            log,
                        });
                    }
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!("tessera serve exited with {status}:\n{text}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("tessera serve not serving within 120 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A connected client.
    pub async fn client(&self) -> anyhow::Result<AuthServiceClient<Channel>> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?;
        Ok(AuthServiceClient::new(channel))
    }

    /// The replica's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the replica.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }

    /// Kills the replica at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> anyhow::Result<std::process::ExitStatus> {
        crate::wait_child(&mut self.child, within)?
            .with_context(|| format!("tessera serve still running after {within:?}"))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replicas started at the same moment on one database, e.g. for a client given every address
/// (`cluster.urls()`) while one of them is killed (`cluster.replicas[0].kill()`).
pub struct Cluster {
    /// The replicas, in start order.
    pub replicas: Vec<Replica>,
}

impl Cluster {
    /// Starts `count` replicas of `spec` at once (logs `<dir>/r<i>.log`) and waits for all.
    pub fn start(spec: &ReplicaSpec, dir: &Path, count: usize) -> anyhow::Result<Cluster> {
        let starting = (0..count)
            .map(|i| Replica::spawn(spec, dir, &format!("r{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let replicas = starting
            .into_iter()
            .map(Replica::ready)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Cluster { replicas })
    }

    /// Every replica's `http://` address, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|replica| format!("http://{}", replica.addr))
            .collect()
    }
}

/// The JSON objects among a log's lines.
pub fn json_lines(text: &str) -> impl Iterator<Item = serde_json::Value> + '_ {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A PgBouncer in front of one PostgreSQL database.
pub struct PgBouncer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Where PgBouncer connects: the parts of a PostgreSQL URL it needs.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// A host name, an address, or a Unix socket directory.
    pub host: String,
    /// The port (for a socket directory, the socket's number).
    pub port: u16,
    /// The role.
    pub user: String,
    /// The database.
    pub database: String,
}

impl Upstream {
    /// Reads `postgres://user@host:port/db?host=/socket/dir…` (the test databases' URL form).
    pub fn from_url(url: &str) -> anyhow::Result<Upstream> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .context("not a postgres:// URL")?;
        let (authority, path) = rest.split_once('/').context("no database in the URL")?;
        let (user, hostport) = authority.split_once('@').context("no user in the URL")?;
        let user = user.split(':').next().unwrap_or(user).to_owned();
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        let (database, query) = path.split_once('?').unwrap_or((path, ""));
        let socket = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("host="))
            .map(str::to_owned);
        Ok(Upstream {
            host: socket.unwrap_or_else(|| host.to_owned()),
            port: port.parse()?,
            user,
            database: database.to_owned(),
        })
    }
}

impl PgBouncer {
    /// The `pgbouncer` binary that scripts/install-tools.sh builds into the repository's
    /// `.tools/bin` (1.24: transaction pooling needs its prepared-statement tracking), else one
    /// on PATH.
    pub fn binary() -> Option<PathBuf> {
        let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/pgbouncer");
        if tools.exists() {
            return Some(tools);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("pgbouncer"))
                .find(|p| p.exists())
        })
    }

    /// Starts PgBouncer in `pool_mode` (`transaction` or `session`) in front of `upstream`, with
    /// at most `pool_size` server connections, and waits until it accepts connections.
    pub fn start(
        upstream: &Upstream,
        pool_mode: &str,
        pool_size: u32,
    ) -> anyhow::Result<PgBouncer> {
        let binary = PgBouncer::binary().context(
            "pgbouncer not found: run scripts/install-tools.sh (it builds PgBouncer into .tools/bin)",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("tessera-pgbouncer-")
            .tempdir_in("/tmp")?;
        let port = free_port()?;
        let running_as_root = nix::unistd::Uid::effective().is_root();
        // PgBouncer refuses to run as root; it switches to `user` (the owner of PostgreSQL's
        // socket) right after start-up, so its files must be that user's.
        let user_line = if running_as_root {
            let postgres = nix::unistd::User::from_name("postgres")?
                .or(nix::unistd::User::from_name("nobody")?)
                .context("neither a postgres nor a nobody user to run pgbouncer as")?;
            nix::unistd::chown(dir.path(), Some(postgres.uid), Some(postgres.gid))?;
            format!("user = {}\n", postgres.name)
        } else {
            String::new()
        };
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n\
                 {db} = host={host} port={upstream_port} user={user} dbname={db}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {dir}/userlist.txt\n\
                 pool_mode = {pool_mode}\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 500\n\
                 server_reset_query = DISCARD ALL\n\
                 max_prepared_statements = 200\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {dir}/pgbouncer.log\n\
                 pidfile = {dir}/pgbouncer.pid\n\
                 {user_line}",
                db = upstream.database,
                host = upstream.host,
                upstream_port = upstream.port,
                user = upstream.user,
                dir = dir.path().display(),
            ),
        )?;
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{}\" \"\"\n", upstream.user),
        )?;
        let child = Command::new(binary)
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning pgbouncer")?;
        let mut bouncer = PgBouncer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = bouncer.child.try_wait()? {
                bail!("pgbouncer exited with {status}:\n{}", bouncer.log());
            }
            if Instant::now() > deadline {
                bail!("pgbouncer not listening within 30 s:\n{}", bouncer.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bouncer)
    }

    /// A URL to `database` through this PgBouncer.
    pub fn url(&self, upstream: &Upstream) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{}?sslmode=disable",
            upstream.user, self.port, upstream.database
        )
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs the bootstrap root account ([`ROOT_PASSWORD`]) in; returns its session token.
pub async fn root_session(client: &mut AuthServiceClient<Channel>) -> anyhow::Result<String> {
    Ok(client
        .login(pb::LoginRequest {
            username: "root".into(),
            password: ROOT_PASSWORD.into(),
            totp_code: String::new(),
        })
        .await?
        .into_inner()
        .token)
}

/// Issues, as `session`, a one-hour service token holding only `introspect`.
pub async fn introspect_service_token(
    client: &mut AuthServiceClient<Channel>,
    session: &str,
) -> anyhow::Result<String> {
    Ok(client
        .issue_token(crate::authed(
            pb::IssueTokenRequest {
                ttl: "1h".into(),
                permissions: vec!["introspect".into()],
                token_type: pb::TokenType::Service as i32,
                ..Default::default()
            },
            session,
        ))
        .await?
        .into_inner()
        .token)
}
