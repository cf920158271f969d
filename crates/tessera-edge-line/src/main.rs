//! The `tessera-edge-line` binary: parse settings, vet the service token, serve.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tessera_edge_line::config::{Cli, Settings};
use tessera_edge_line::server::EdgeServer;
use tessera_edge_line::session::EdgeContext;
use tessera_edge_line::tessera::Authority;
use tessera_edge_line::upstream::Connector;
use tracing::info;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera-edge-line: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_cli(cli)?;
    let authority = Authority::new(settings.tessera.clone().build().context("--tessera")?);
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
    });
    let server = EdgeServer::new(listener, settings.tls.clone(), ctx.clone());
    let address = server.local_addr()?;
    info!(%address, upstream = ctx.upstream.address(), tls = settings.tls.is_some(), "listening");
    if let Some(path) = &settings.ready_file {
        write_ready_file(path, address)
            .with_context(|| format!("--ready-file {}", path.display()))?;
    }
    server.run(shutdown_signal()).await;
    Ok(())
}

/// Writes the ready file through a temporary name, so readers never see half of it.
fn write_ready_file(path: &std::path::Path, address: std::net::SocketAddr) -> std::io::Result<()> {
    let body = serde_json::json!({ "listen_addr": address.to_string(), "pid": std::process::id() });
    let partial = path.with_extension("partial");
    std::fs::write(&partial, body.to_string())?;
    std::fs::rename(&partial, path)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
