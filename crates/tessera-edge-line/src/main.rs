//! The `tessera-edge-line` binary: parse settings, vet the service token, serve.

// mimalloc, not the C library's allocator: glibc's malloc and free (fastbin consolidation
// among them) took a tenth of a replica's CPU per uncached Introspect (BENCHMARKS.md, issue 33).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tessera_edge_line::config::{Cli, Settings};
use tessera_edge_line::metrics::LineMetrics;
use tessera_edge_line::server::EdgeServer;
use tessera_edge_line::session::EdgeContext;
use tessera_edge_line::tessera::LineAuthority;
use tessera_edge_line::upstream::Connector;
use tessera_telemetry::metrics::Registry;
use tracing::info;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let setup = cli.logs.settings("tessera-edge-line", false);
    tessera_telemetry::run_program("tessera-edge-line", setup, run(cli)).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let metrics_listen = cli.metrics_listen;
    let settings = Settings::from_cli(cli)?;
    let mut registry = Registry::default();
    let metrics = LineMetrics::register(&mut registry);
    let (metrics_addr, _metrics_task) =
        tessera_telemetry::metrics::serve_if_configured(metrics_listen, registry).await?;
    let authority = LineAuthority::new(settings.tessera.clone().build().context("--tessera")?);
    authority
        .vet_service_token(&settings.service_token)
        .await
        .context("refusing to start")?;
    // Connections of limited-use tokens that have spent their last use need the revocation feed;
    // until it is followed their commands fail closed, so give it a moment before serving.
    let _feed = authority.follow_revocations();
    if !authority
        .revocations()
        .wait_live(settings.tessera_timeout)
        .await
    {
        tracing::warn!("the revocation feed is not followed yet; spent limited-use tokens fail closed until it is");
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let ctx = Arc::new(EdgeContext {
        rules: settings.rules.clone(),
        authority,
        upstream: Connector::new(
            settings.upstream,
            settings.limits.upstream_timeout,
            settings.limits.max_reply_line,
            settings.rules.dialect(),
        ),
        limits: settings.limits,
        metrics,
    });
    let server = EdgeServer::new(
        listener,
        settings.tls.as_ref().map(|tls| tls.config.clone()),
        ctx.clone(),
    );
    let address = server.local_addr()?;
    info!(%address, upstream = ctx.upstream.address(), tls = settings.tls.is_some(), "listening");
    if let Some(tls) = &settings.tls {
        tls.cert.spawn_watcher().context("--tls-cert")?;
    }
    if let Some(path) = &settings.ready_file {
        let mut body =
            serde_json::json!({ "listen_addr": address.to_string(), "pid": std::process::id() });
        if let Some(metrics_addr) = metrics_addr {
            body["metrics_addr"] = metrics_addr.to_string().into();
        }
        tessera_process::ready::write(path, &body)
            .with_context(|| format!("--ready-file {}", path.display()))?;
    }
    server.run(tessera_process::signal::shutdown()).await;
    Ok(())
}
