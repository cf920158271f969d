//! The `tessera-edge-http` binary: parse settings, vet the service token, serve.

// mimalloc, not the C library's allocator: glibc's malloc and free (fastbin consolidation
// among them) took a tenth of a replica's CPU per uncached Introspect (BENCHMARKS.md, issue 33).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tessera_edge_http::app::{router, AppState};
use tessera_edge_http::authority::HttpAuthority;
use tessera_edge_http::config::{Cli, Settings, UpstreamSetting};
use tessera_edge_http::decision_cache::AnswerCache;
use tessera_edge_http::gate::Gate;
use tessera_edge_http::metrics::EdgeMetrics;
use tessera_edge_http::proxy::Proxy;
use tessera_edge_http::{demo, server};
use tessera_telemetry::metrics::Registry;
use tracing::{info, warn};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour only for a person at a terminal.
    let setup = cli.logs.settings(
        "tessera-edge-http",
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    tessera_telemetry::run_program("tessera-edge-http", setup, run(cli)).await
}

/// Asks Tessera about the edge's own token, retrying while Tessera is unreachable (it may still
/// be starting) until `patience` runs out. A token Tessera judges is never retried.
async fn vet(authority: &HttpAuthority, settings: &Settings) -> anyhow::Result<()> {
    let deadline = Instant::now() + settings.startup_timeout;
    let mut pause = Duration::from_millis(100);
    loop {
        match authority.vet_service_token(&settings.service_token).await {
            Ok(()) => return Ok(()),
            Err(problem) if problem.is_transient() && Instant::now() + pause < deadline => {
                warn!(%problem, "tessera not reachable yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(problem) => bail!("refusing to start: {problem}"),
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let metrics_listen = cli.metrics_listen;
    let settings = Settings::from_cli(cli)?;
    let mut registry = Registry::default();
    let metrics = EdgeMetrics::register(&mut registry);
    let (metrics_addr, _metrics_task) =
        tessera_telemetry::metrics::serve_if_configured(metrics_listen, registry).await?;
    let service = settings.tessera.clone().build().context("--tessera")?;
    let cache = AnswerCache::new(settings.decision_cache, metrics.clone());
    let authority = HttpAuthority::new(service.clone()).with_cache(cache.clone());
    vet(&authority, &settings).await?;
    // Aborted when dropped at the end of `run`; until the feed is followed the cache is bypassed.
    let _feed = cache.follow(&service).map(FeedTask);
    if cache.is_enabled() {
        info!(
            ttl = ?settings.decision_cache.ttl,
            size = settings.decision_cache.capacity,
            "decision cache on"
        );
    }

    let proxy = upstream_proxy(&settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{address}");
    let state = Arc::new(AppState {
        gate: Gate {
            authority,
            public: settings.public_routes.clone(),
            rules: settings.namespace_rules.clone(),
            metrics,
        },
        policy: settings.policy.clone(),
        proxy,
        max_header_bytes: settings.limits.max_header_bytes,
    });
    info!(
        %url,
        upstream = state.proxy.as_ref().map(|p| p.upstream().to_string()).unwrap_or_default(),
        "listening"
    );
    let upstream = state.proxy.as_ref().map(|p| p.upstream().to_string());
    announce(&settings, &url, address, metrics_addr, upstream)?;
    server::serve(
        listener,
        settings.tls.as_ref().map(|tls| tls.config.clone()),
        router(state),
        settings.limits.clone(),
        tessera_process::signal::shutdown(),
    )
    .await;
    Ok(())
}

/// The proxy to the upstream, when the edge has one (the demo app is started here).
async fn upstream_proxy(settings: &Settings) -> anyhow::Result<Option<Proxy>> {
    Ok(match &settings.upstream {
        UpstreamSetting::None => None,
        UpstreamSetting::Url(uri) => Some(Proxy::new(uri.clone(), settings.upstream_timeout)),
        UpstreamSetting::Demo => {
            let address = demo::start()
                .await
                .context("cannot start the demo upstream")?;
            let uri = format!("http://{address}")
                .parse()
                .context("demo upstream address")?;
            Some(Proxy::new(uri, settings.upstream_timeout))
        }
    })
}

/// Once listening: the certificate follows its files, and the ready file says where the edge is
/// (and its upstream).
fn announce(
    settings: &Settings,
    url: &str,
    address: std::net::SocketAddr,
    metrics_addr: Option<std::net::SocketAddr>,
    upstream: Option<String>,
) -> anyhow::Result<()> {
    if let Some(tls) = &settings.tls {
        tls.cert.spawn_watcher().context("--tls-cert")?;
    }
    if let Some(path) = &settings.ready_file {
        let mut body = serde_json::json!({
            "url": url,
            "listen_addr": address.to_string(),
            "pid": std::process::id(),
        });
        if let Some(metrics_addr) = metrics_addr {
            body["metrics_addr"] = metrics_addr.to_string().into();
        }
        // Where admitted requests go (the demo app's address, for a proxy put in front of it).
        if let Some(upstream) = upstream {
            body["upstream"] = upstream.into();
        }
        tessera_process::ready::write(path, &body)
            .with_context(|| format!("--ready-file {}", path.display()))?;
    }
    Ok(())
}

/// Stops a background task when dropped.
struct FeedTask(tokio::task::JoinHandle<()>);

impl Drop for FeedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
