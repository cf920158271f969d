//! Command line and environment, parsed once into typed [`Settings`].
//!
//! Every flag has an environment variable (`TESSERA_…`) and a doc comment that becomes `--help`.
//! [`Settings::from_cli`] reads the secret file and the TLS material, parses the routes and fails
//! fast with a message naming the setting at fault; nothing else in the crate reads the
//! environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use crate::decision_cache::CacheSettings;
pub use crate::policy::Policy;
use crate::policy::{ExtAuthzCallers, FrontProxy, Origin};
use crate::routes::{NamespaceRules, PublicRoutes};
use crate::server::ServerLimits;

pub use tessera_client::{parse_duration, Secret};

/// `tessera-edge-http`: authenticates HTTP requests against Tessera, as a reverse proxy in front of
/// a web service, as the forward-auth endpoint of nginx, Caddy or Traefik (`/auth/verify`), or as
/// Envoy's external authorization service (gRPC `Check` on this port, or `/auth/envoy`).
#[derive(Parser)]
#[command(name = "tessera-edge-http", version, about, long_about = None)]
pub struct Cli {
    /// Address to accept HTTP clients on (port 0 picks a free port).
    #[arg(long, env = "TESSERA_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub service: tessera_client::ServiceArgs,

    /// The web service to proxy admitted requests to, as `http://host:port`. Without it (and
    /// without --demo-upstream) the edge serves only its own endpoints, /auth/verify among them.
    #[arg(long, env = "TESSERA_HTTP_UPSTREAM", conflicts_with = "demo_upstream")]
    pub upstream: Option<String>,

    /// Start a built-in demo web service on a free loopback port and proxy to it (for `tessera
    /// dev` and trying the edge out: it shows who you are).
    #[arg(long, env = "TESSERA_HTTP_DEMO_UPSTREAM")]
    pub demo_upstream: bool,

    /// Path prefix that passes without a token, e.g. `/api/v1/public/` (repeatable; a prefix
    /// without a trailing slash matches the path itself and what lies below it).
    /// `/api/v1/public/ping` is always public.
    #[arg(
        long = "public-route",
        env = "TESSERA_HTTP_PUBLIC_ROUTES",
        value_delimiter = ','
    )]
    pub public_routes: Vec<String>,

    /// Namespace rule `[METHOD[,METHOD…]] PATTERN [ACTION]`, e.g. `/jobs/{id}` or
    /// `POST,DELETE /jobs/{id} write` (repeatable; `;`-separated in the environment). `{…}` marks
    /// the path segment checked with CheckNamespace, `*` matches any one segment, and a pattern
    /// also covers every path below it; a path that stops before `{…}` is allowed only to a token
    /// whose namespace is `*`. A segment the rule reads with `;`, `%`, surrounding whitespace or a
    /// trailing dot is refused (400). The first matching rule decides.
    #[arg(
        long = "namespace-rule",
        env = "TESSERA_HTTP_NAMESPACE_RULES",
        value_delimiter = ';'
    )]
    pub namespace_rules: Vec<String>,

    /// PEM certificate chain for serving HTTPS directly (with --tls-key).
    #[arg(long, env = "TESSERA_HTTP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "TESSERA_HTTP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// How often --tls-cert and --tls-key are checked for changes; a changed pair (or SIGHUP) is
    /// loaded without a restart, for new connections, and open ones keep theirs.
    #[arg(long, env = "TESSERA_HTTP_TLS_WATCH_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_watch_interval: Duration,

    /// Trust `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For` from a TLS-terminating
    /// proxy in front of the edge. Only set it when nothing else can reach the edge.
    #[arg(long, env = "TESSERA_HTTP_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Allow session login over plain HTTP. Development only: a session cookie then crosses the
    /// network in clear.
    #[arg(long, env = "TESSERA_HTTP_INSECURE_DEV_HTTP")]
    pub insecure_dev_http: bool,

    /// Another origin (`https://app.example.com`) whose pages may send cookie-authenticated
    /// state-changing requests (repeatable); the edge's own origin always may.
    #[arg(
        long = "allowed-origin",
        env = "TESSERA_HTTP_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// The proxy in front of `/auth/verify` (forward-auth mode): `nginx` reads the request
    /// description only from `X-Original-Method`/`X-Original-URI`, `caddy` and `traefik` only from
    /// `X-Forwarded-Method`/`X-Forwarded-Uri`. `auto` reads either and refuses (400) a request on
    /// which both are present and disagree, since one of them then came from the client.
    #[arg(long, env = "TESSERA_HTTP_FRONT_PROXY", value_enum, default_value_t = FrontProxy::Auto)]
    pub front_proxy: FrontProxy,

    /// Pass the client's `Authorization` header on to the upstream. By default the edge removes
    /// it on every route, public ones included: the upstream learns who is calling from the
    /// X-Tessera-* headers instead, and a bearer token never reaches it.
    #[arg(long, env = "TESSERA_HTTP_FORWARD_AUTHORIZATION")]
    pub forward_authorization: bool,

    /// Who may call Envoy's `Check` on this port: `token` (a caller sends `authorization: Bearer`
    /// with a service token holding `introspect`), or `any`, which also answers callers without a
    /// token, as /auth/verify does (a token that is sent is still checked). `any` is for meshes that
    /// cannot send one (Contour's ExtensionService): then let nothing but the gateway reach this
    /// port (a NetworkPolicy), since anyone who can reach it may ask about tokens they hold.
    #[arg(long, env = "TESSERA_HTTP_EXT_AUTHZ_CALLERS", value_enum, default_value_t = ExtAuthzCallers::Token)]
    pub ext_authz_callers: ExtAuthzCallers,

    /// Largest request head (request line and headers) in bytes; larger gets 431.
    #[arg(long, env = "TESSERA_HTTP_MAX_HEADER_BYTES", default_value_t = 16384)]
    pub max_header_bytes: usize,

    /// Largest JSON or form body the edge's own endpoints accept, in bytes; larger gets 413.
    #[arg(long, env = "TESSERA_HTTP_MAX_JSON_BYTES", default_value_t = 16384)]
    pub max_json_bytes: usize,

    /// Most client connections served at once; further ones are refused at once (plain HTTP:
    /// `503` `busy` with `Retry-After: 1`; TLS: closed) rather than left waiting.
    #[arg(long, env = "TESSERA_HTTP_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Most connections one source address may hold before their first request head; more from
    /// it are refused at once like those over --max-connections, so slow or silent clients from
    /// one address cannot take every slot from everyone else.
    #[arg(
        long,
        env = "TESSERA_HTTP_MAX_PENDING_PER_SOURCE",
        default_value_t = 256
    )]
    pub max_pending_per_source: usize,

    /// Time a client has to finish the TLS handshake and send its first complete request head
    /// (both within this of connecting), and each later request head.
    #[arg(long, env = "TESSERA_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Limit for connecting to the upstream.
    #[arg(long, env = "TESSERA_HTTP_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// How long to keep retrying the start-up check of the service token while Tessera is
    /// unreachable.
    #[arg(long, env = "TESSERA_HTTP_STARTUP_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub startup_timeout: Duration,

    /// Longest the edge reuses Tessera's answer about an active, unlimited-use token (forward-auth
    /// and proxied requests), at most 60s; `0` turns the decision cache off. Entries also die at
    /// the token's expiry, and are used only while the edge follows Tessera's revocation feed
    /// (a revocation drops them before the next request); limited-use tokens are never cached.
    #[arg(long, env = "TESSERA_HTTP_DECISION_CACHE_TTL", default_value = "5s", value_parser = parse_cache_ttl)]
    pub decision_cache_ttl: Duration,

    /// Most answers the decision cache holds.
    #[arg(
        long,
        env = "TESSERA_HTTP_DECISION_CACHE_SIZE",
        default_value_t = 10_000
    )]
    pub decision_cache_size: usize,

    /// When listening, write `{"url": …, "listen_addr": …, "pid": …}` (and `upstream`, when
    /// there is one) to this file (atomically).
    #[arg(long, env = "TESSERA_HTTP_READY_FILE")]
    pub ready_file: Option<PathBuf>,

    /// The edge's public origin, `https://auth.example.com`: the OAuth 2.0 issuer and the base of
    /// the endpoint URLs in `/.well-known/oauth-authorization-server`. Without it, each request's
    /// own origin (its Host, or `X-Forwarded-*` with --trust-proxy).
    #[arg(long, env = "TESSERA_HTTP_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub logs: tessera_telemetry::LogArgs,

    /// Serve Prometheus metrics (GET /metrics) on this separate address, e.g. 127.0.0.1:9465
    /// (port 0 picks a free port). Off unless given.
    #[arg(long, env = "TESSERA_HTTP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Where admitted requests go.
#[derive(Debug, Clone)]
pub enum UpstreamSetting {
    /// Nowhere: the edge serves its own endpoints only.
    None,
    /// A web service at this `http://host:port`.
    Url(http::Uri),
    /// The built-in demo service, started by the binary.
    Demo,
}

/// Validated settings of one edge process.
#[derive(Debug)]
pub struct Settings {
    /// Listening address.
    pub listen: SocketAddr,
    /// How to reach Tessera (addresses, TLS, the service token, the per-call limit), checked.
    pub tessera: tessera_client::ClientBuilder,
    /// The edge's own token.
    pub service_token: Secret,
    /// Where admitted requests go.
    pub upstream: UpstreamSetting,
    /// Paths that need no token.
    pub public_routes: PublicRoutes,
    /// Paths whose identifier segment goes through CheckNamespace.
    pub namespace_rules: NamespaceRules,
    /// TLS for clients, when the edge terminates it.
    /// Reloaded on SIGHUP and when the files change (see `tessera_process::tls`).
    pub tls: Option<tessera_process::tls::Serving>,
    /// Browser and proxy policy.
    pub policy: Policy,
    /// Listener limits.
    pub limits: ServerLimits,
    /// Limit per Tessera call.
    pub tessera_timeout: Duration,
    /// Limit for connecting to the upstream.
    pub upstream_timeout: Duration,
    /// How long the start-up check retries an unreachable Tessera.
    pub startup_timeout: Duration,
    /// Where to announce the listening address.
    pub ready_file: Option<PathBuf>,
    /// The decision cache (off when its TTL or size is 0).
    pub decision_cache: CacheSettings,
}

/// Longest `--decision-cache-ttl` accepted: the cache saves round trips, it is not a session.
pub const MAX_DECISION_CACHE_TTL: Duration = Duration::from_secs(60);
/// Largest `--decision-cache-size` accepted.
pub const MAX_DECISION_CACHE_SIZE: usize = 1_000_000;

/// HTTPS from --tls-cert and --tls-key (HTTP/2 and HTTP/1.1), when both are given.
fn serving_tls(cli: &Cli) -> anyhow::Result<Option<tessera_process::tls::Serving>> {
    let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) else {
        return Ok(None);
    };
    let alpn: [&[u8]; 2] = [b"h2", b"http/1.1"];
    tessera_process::tls::Serving::load(cert, key, cli.tls_watch_interval, &alpn)
        .context("--tls-cert/--tls-key")
        .map(Some)
}

/// The listener and cache limits must be usable.
fn check_limits(cli: &Cli) -> anyhow::Result<()> {
    if cli.max_header_bytes < 1024 {
        bail!("--max-header-bytes must be at least 1024");
    }
    if cli.max_json_bytes < 256 {
        bail!("--max-json-bytes must be at least 256");
    }
    if cli.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    if cli.max_pending_per_source == 0 {
        bail!("--max-pending-per-source must be at least 1");
    }
    if cli.header_timeout.is_zero() {
        bail!("--header-timeout must be above 0");
    }
    if cli.decision_cache_ttl > MAX_DECISION_CACHE_TTL {
        bail!("--decision-cache-ttl must be at most {MAX_DECISION_CACHE_TTL:?} (0 turns it off)");
    }
    if cli.decision_cache_size > MAX_DECISION_CACHE_SIZE {
        bail!("--decision-cache-size must be at most {MAX_DECISION_CACHE_SIZE}");
    }
    Ok(())
}

impl Settings {
    /// Validates the command line, reading the files it names.
    pub fn from_cli(cli: Cli) -> anyhow::Result<Self> {
        let service_token = cli.service.service_token().map_err(anyhow::Error::msg)?;
        let upstream = match (&cli.upstream, cli.demo_upstream) {
            (Some(text), _) => UpstreamSetting::Url(parse_upstream(text).context("--upstream")?),
            (None, true) => UpstreamSetting::Demo,
            (None, false) => UpstreamSetting::None,
        };
        let public_routes = PublicRoutes::parse(&cli.public_routes).context("--public-route")?;
        let namespace_rules =
            NamespaceRules::parse(&cli.namespace_rules).context("--namespace-rule")?;
        let tls = serving_tls(&cli)?;
        let allowed_origins = cli
            .allowed_origins
            .iter()
            .map(|text| {
                Origin::parse(text).with_context(|| {
                    format!("--allowed-origin {text:?} is not scheme://host[:port]")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        check_limits(&cli)?;
        let public_url = match &cli.public_url {
            Some(text) => Some(Origin::parse(text).with_context(|| {
                format!("--public-url {text:?} is not scheme://host[:port] (no path)")
            })?),
            None => None,
        };
        Ok(Self {
            listen: cli.listen,
            tessera: cli
                .service
                .client(&service_token)
                .map_err(anyhow::Error::msg)?,
            service_token,
            upstream,
            public_routes,
            namespace_rules,
            policy: Policy {
                trust_proxy: cli.trust_proxy,
                tls: tls.is_some(),
                insecure_dev_http: cli.insecure_dev_http,
                allowed_origins,
                forward_authorization: cli.forward_authorization,
                max_json_bytes: cli.max_json_bytes,
                front_proxy: cli.front_proxy,
                ext_authz_callers: cli.ext_authz_callers,
                public_url,
            },
            tls,
            limits: ServerLimits {
                max_header_bytes: cli.max_header_bytes,
                header_timeout: cli.header_timeout,
                max_connections: cli.max_connections,
                max_pending_per_source: cli.max_pending_per_source,
            },
            tessera_timeout: cli.service.tessera_timeout,
            upstream_timeout: cli.upstream_timeout,
            startup_timeout: cli.startup_timeout,
            ready_file: cli.ready_file,
            decision_cache: CacheSettings {
                ttl: cli.decision_cache_ttl,
                capacity: cli.decision_cache_size,
            },
        })
    }
}

/// A duration such as `5s` or `500ms`, or `0` (off).
fn parse_cache_ttl(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        _ => parse_duration(text),
    }
}

/// An upstream must be plain `http://host:port` with no path: the edge forwards paths unchanged.
pub fn parse_upstream(text: &str) -> anyhow::Result<http::Uri> {
    let uri: http::Uri = text.trim().parse().context("not a URI")?;
    if uri.scheme_str() != Some("http") {
        bail!("{text:?} must start with http:// (terminate TLS to the upstream elsewhere)");
    }
    if uri.authority().is_none() {
        bail!("{text:?} names no host");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        bail!("{text:?} must have no path or query: paths are forwarded unchanged");
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_must_be_plain_http_without_path() {
        assert!(parse_upstream("http://127.0.0.1:9000").is_ok());
        assert!(parse_upstream("http://127.0.0.1:9000/").is_ok());
        assert!(parse_upstream("https://127.0.0.1:9000").is_err());
        assert!(parse_upstream("http://127.0.0.1:9000/app").is_err());
        assert!(parse_upstream("127.0.0.1:9000").is_err());
    }

    #[test]
    fn every_flag_has_an_environment_variable_and_help() {
        use clap::CommandFactory;
        let command = Cli::command();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            // Trace export uses OpenTelemetry's standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, …).
            assert!(
                env.starts_with("TESSERA_") || env.starts_with("OTEL_"),
                "--{id} has no TESSERA_ variable"
            );
            assert!(arg.get_help().is_some(), "--{id} has no help");
        }
        command.debug_assert();
    }
}
