//! Command line and environment, parsed once into typed [`Settings`].
//!
//! Every flag has an environment variable (`TESSERA_…`) and a doc comment that becomes `--help`.
//! [`Settings::from_cli`] reads the secret files, the rules file and the TLS material and fails fast
//! with a message naming the setting at fault; nothing else in the crate reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use tessera_client::read_secret_file;

use crate::rules::Rules;

pub use tessera_client::{parse_duration, Secret};

/// `tessera-edge-line`: authenticates line-protocol clients against Tessera, checks every command
/// against the token's namespace, filters list replies, and relays the rest to the upstream.
#[derive(Parser)]
#[command(name = "tessera-edge-line", version, about, long_about = None)]
pub struct Cli {
    /// Address to accept line-protocol clients on (port 0 picks a free port).
    #[arg(long, env = "TESSERA_LINE_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub service: tessera_client::ServiceArgs,

    /// The line service that allowed commands are forwarded to, as `host:port`.
    #[arg(long, env = "TESSERA_LINE_UPSTREAM")]
    pub upstream: String,

    /// Connect to the upstream over TLS (needs --upstream-ca).
    #[arg(long, env = "TESSERA_LINE_UPSTREAM_TLS")]
    pub upstream_tls: bool,

    /// PEM file of the CA certificates that may sign the upstream's certificate (for a public CA,
    /// the system bundle such as /etc/ssl/certs/ca-certificates.crt).
    #[arg(long, env = "TESSERA_LINE_UPSTREAM_CA")]
    pub upstream_ca: Option<PathBuf>,

    /// Name to verify in the upstream's certificate; default: the host part of --upstream.
    #[arg(long, env = "TESSERA_LINE_UPSTREAM_SERVER_NAME")]
    pub upstream_server_name: Option<String>,

    /// Secret sent as `AUTH <secret>` on every new upstream connection, for an upstream that keeps
    /// its own authentication on.
    #[arg(
        long,
        env = "TESSERA_LINE_UPSTREAM_AUTH",
        hide_env_values = true,
        conflicts_with = "upstream_auth_file"
    )]
    pub upstream_auth: Option<String>,

    /// File whose first line is the upstream AUTH secret (instead of --upstream-auth).
    #[arg(long, env = "TESSERA_LINE_UPSTREAM_AUTH_FILE")]
    pub upstream_auth_file: Option<PathBuf>,

    /// Rules file (TOML): the upstream's grammar (`dialect = "ztick"` or `"generic"`), its
    /// commands, which arguments are identifiers and which replies are filtered lists; default:
    /// the built-in ztick grammar.
    #[arg(long, env = "TESSERA_LINE_RULES")]
    pub rules: Option<PathBuf>,

    /// Time a client has, from connecting, to finish the TLS handshake and send a complete AUTH line.
    #[arg(long, env = "TESSERA_LINE_AUTH_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub auth_timeout: Duration,

    /// Longest client line in bytes; a longer one gets `ERROR line_too_long` and the connection
    /// closes. Default: the rules file's `max_line` (4095 for ztick, its 4096-byte buffer).
    #[arg(long, env = "TESSERA_LINE_MAX_LINE")]
    pub max_line: Option<usize>,

    /// Longest upstream reply line in bytes; a longer one drops the upstream connection.
    #[arg(long, env = "TESSERA_LINE_MAX_REPLY_LINE", default_value_t = 65536)]
    pub max_reply_line: usize,

    /// Most client connections served at once; more are refused with `ERROR busy`.
    #[arg(long, env = "TESSERA_LINE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Most connections one source address may hold open before their AUTH; more from it are
    /// refused at once with `ERROR busy`, so clients that connect and say nothing cannot take
    /// every slot from those that authenticate.
    #[arg(
        long,
        env = "TESSERA_LINE_MAX_UNAUTHENTICATED_PER_SOURCE",
        default_value_t = 256
    )]
    pub max_unauthenticated_per_source: usize,

    /// Most commands one client may have in flight before the edge stops reading its lines.
    #[arg(long, env = "TESSERA_LINE_MAX_PIPELINE", default_value_t = 64)]
    pub max_pipeline: usize,

    /// A connection with no complete line from its client for this long is closed.
    #[arg(long, env = "TESSERA_LINE_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Limit for connecting to the upstream and for each reply line it owes.
    #[arg(long, env = "TESSERA_LINE_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// PEM certificate chain for serving clients over TLS (with --tls-key).
    #[arg(long, env = "TESSERA_LINE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "TESSERA_LINE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// How often --tls-cert and --tls-key are checked for changes; a changed pair (or SIGHUP) is
    /// loaded without a restart, for new connections, and open ones keep theirs.
    #[arg(long, env = "TESSERA_LINE_TLS_WATCH_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_watch_interval: Duration,

    /// When listening, write `{"listen_addr": …, "pid": …}` to this file (atomically).
    #[arg(long, env = "TESSERA_LINE_READY_FILE")]
    pub ready_file: Option<PathBuf>,

    #[command(flatten)]
    pub logs: tessera_telemetry::LogArgs,

    /// Serve Prometheus metrics (GET /metrics) on this separate address, e.g. 127.0.0.1:9466
    /// (port 0 picks a free port). Off unless given.
    #[arg(long, env = "TESSERA_LINE_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accept to a complete AUTH line (TLS handshake included).
    pub auth_timeout: Duration,
    /// Longest wait for the next client line.
    pub idle_timeout: Duration,
    /// Upstream connect limit, and longest wait for each owed reply line.
    pub upstream_timeout: Duration,
    /// Longest client line.
    pub max_line: usize,
    /// Longest upstream reply line.
    pub max_reply_line: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one source address may hold before their AUTH.
    pub max_unauthenticated_per_source: usize,
    /// Commands in flight per connection.
    pub max_pipeline: usize,
}

/// Where and how to reach the upstream line service.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// `host:port`.
    pub address: String,
    /// TLS client settings and the name to verify, when the upstream speaks TLS.
    pub tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// `AUTH` secret for the upstream.
    pub auth: Option<Secret>,
}

/// Everything the edge needs, validated.
#[derive(Debug)]
pub struct Settings {
    /// Client listen address.
    pub listen: SocketAddr,
    /// How to reach Tessera (addresses, TLS, the service token, the per-call limit), checked.
    pub tessera: tessera_client::ClientBuilder,
    /// The edge's own service token.
    pub service_token: Secret,
    /// Per-call limit for Tessera.
    pub tessera_timeout: Duration,
    /// The upstream.
    pub upstream: UpstreamSettings,
    /// The command grammar.
    pub rules: Rules,
    /// Connection limits.
    pub limits: Limits,
    /// TLS for clients, when configured; reloaded on SIGHUP and when the files change.
    pub tls: Option<tessera_process::tls::Serving>,
    /// Ready file to write once listening.
    pub ready_file: Option<PathBuf>,
}

impl Settings {
    /// Validates the command line and loads the files it names.
    pub fn from_cli(mut cli: Cli) -> anyhow::Result<Self> {
        let service_token = cli.service.service_token().map_err(anyhow::Error::msg)?;
        let upstream_tls = upstream_tls(&cli)?;
        let upstream_auth = match (cli.upstream_auth.take(), &cli.upstream_auth_file) {
            (Some(secret), None) => Some(Secret::new(secret)),
            (None, Some(path)) => {
                Some(read_secret_file(path, "--upstream-auth-file").map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        let rules = match &cli.rules {
            Some(path) => Rules::load(path).context("--rules")?,
            None => Rules::scheduler(),
        };
        let tls = match (&cli.tls_cert, &cli.tls_key) {
            (Some(cert), Some(key)) => Some(
                tessera_process::tls::Serving::load(cert, key, cli.tls_watch_interval, &[])
                    .context("--tls-cert/--tls-key")?,
            ),
            _ => None,
        };
        let max_line = cli.max_line.unwrap_or_else(|| rules.max_line());
        if max_line < 64 {
            bail!("--max-line {max_line} is too small to hold an AUTH line (at least 64)");
        }
        check_limits(&cli, max_line)?;
        Ok(Self {
            listen: cli.listen,
            tessera: cli
                .service
                .client(&service_token)
                .map_err(anyhow::Error::msg)?,
            service_token,
            tessera_timeout: cli.service.tessera_timeout,
            upstream: UpstreamSettings {
                address: cli.upstream,
                tls: upstream_tls,
                auth: upstream_auth,
            },
            rules,
            limits: Limits {
                auth_timeout: cli.auth_timeout,
                idle_timeout: cli.idle_timeout,
                upstream_timeout: cli.upstream_timeout,
                max_line,
                max_reply_line: cli.max_reply_line,
                max_connections: cli.max_connections,
                max_unauthenticated_per_source: cli.max_unauthenticated_per_source,
                max_pipeline: cli.max_pipeline,
            },
            tls,
            ready_file: cli.ready_file,
        })
    }
}

/// TLS to the upstream, when asked for: its CA and the name its certificate must carry.
fn upstream_tls(
    cli: &Cli,
) -> anyhow::Result<
    Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
> {
    let upstream_host = host_of(&cli.upstream)
        .with_context(|| format!("--upstream {:?} is not host:port", cli.upstream))?;
    match (cli.upstream_tls, &cli.upstream_ca) {
        (true, Some(ca)) => {
            let name = cli.upstream_server_name.as_deref().unwrap_or(upstream_host);
            let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
                .with_context(|| {
                    format!("--upstream-server-name {name:?} is not a DNS name or IP address")
                })?;
            Ok(Some((
                tessera_process::tls::client_config(ca).context("--upstream-ca")?,
                server_name,
            )))
        }
        (true, None) => {
            bail!("--upstream-tls needs --upstream-ca (a PEM file of trusted CA certificates)")
        }
        (false, Some(_)) => bail!("--upstream-ca is set but --upstream-tls is not"),
        (false, None) => Ok(None),
    }
}

/// The line and connection limits must be usable.
fn check_limits(cli: &Cli, max_line: usize) -> anyhow::Result<()> {
    if cli.max_reply_line < max_line {
        bail!("--max-reply-line must be at least --max-line");
    }
    if cli.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    if cli.max_pipeline == 0 {
        bail!("--max-pipeline must be at least 1");
    }
    if cli.max_unauthenticated_per_source == 0 {
        bail!("--max-unauthenticated-per-source must be at least 1");
    }
    Ok(())
}

/// The host of `host:port` or `[v6]:port`, when the port is a number.
fn host_of(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise() {
        assert_eq!(host_of("127.0.0.1:7000"), Some("127.0.0.1"));
        assert_eq!(host_of("sched.internal:7000"), Some("sched.internal"));
        assert_eq!(host_of("[::1]:7000"), Some("::1"));
        assert_eq!(host_of("nohost"), None);
        assert_eq!(host_of(":7000"), None);
        assert_eq!(host_of("h:port"), None);
    }

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["tessera-edge-line", "--upstream", "127.0.0.1:7000"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses")
    }

    #[test]
    fn settings_fail_fast_naming_the_setting() {
        let err =
            |args: &[&str]| format!("{:#}", Settings::from_cli(cli(args)).expect_err("refused"));
        assert!(err(&["--service-token", "t", "--max-line", "10"]).contains("--max-line"));
        assert!(err(&["--service-token", "t", "--upstream-tls"]).contains("--upstream-ca"));
        assert!(
            err(&["--service-token", "t", "--max-connections", "0"]).contains("--max-connections")
        );
        assert!(
            err(&["--service-token", "t", "--rules", "/nonexistent/rules.toml"])
                .contains("--rules")
        );
        assert!(
            err(&["--service-token-file", "/nonexistent/token"]).contains("--service-token-file")
        );
        assert!(err(&[
            "--service-token",
            "t",
            "--tls-cert",
            "/x.pem",
            "--tls-key",
            "/y.pem"
        ])
        .contains("--tls-cert"));
    }

    #[test]
    fn service_token_is_required_and_single() {
        assert!(Cli::try_parse_from(["x", "--upstream", "h:1"]).is_err());
        assert!(Cli::try_parse_from([
            "x",
            "--upstream",
            "h:1",
            "--service-token",
            "a",
            "--service-token-file",
            "f"
        ])
        .is_err());
    }

    #[test]
    fn secret_file_takes_the_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "tsr_svc_abc\nsecond line\n").expect("write");
        let settings = Settings::from_cli(cli(&["--service-token-file", path.to_str().unwrap()]))
            .expect("settings");
        assert_eq!(settings.service_token.expose(), "tsr_svc_abc");
        assert_eq!(settings.limits.auth_timeout, Duration::from_secs(5));
        std::fs::write(&path, "\n").expect("write");
        let err = Settings::from_cli(cli(&["--service-token-file", path.to_str().unwrap()]))
            .expect_err("empty");
        assert!(err.to_string().contains("is empty"));
    }
}
