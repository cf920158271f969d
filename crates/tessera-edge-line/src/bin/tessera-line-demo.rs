//! `tessera-line-demo`: an in-memory model of the ztick job scheduler, to put `tessera-edge-line`
//! in front of.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tessera_edge_line::demo::{self, DemoOptions, SchedulerState};

/// An in-memory model of ztick (awf-project/ztick), the job scheduler `tessera-edge-line` fronts by
/// default: ztick's parser (space-separated, quoted strings with \" and \\, case-sensitive
/// commands), its argument counts, its 4096-byte line buffer and its replies, including silence
/// where ztick is silent. Stores jobs and rules; runs nothing. For demos and tests only.
#[derive(Parser)]
#[command(name = "tessera-line-demo", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "TESSERA_LINE_DEMO_LISTEN",
        default_value = "127.0.0.1:7001"
    )]
    listen: SocketAddr,

    /// Require `AUTH <secret>` as the first line of every connection, within 5 seconds (as ztick
    /// does with an auth file; the secret sees every namespace).
    #[arg(long, env = "TESSERA_LINE_DEMO_AUTH", hide_env_values = true)]
    auth: Option<String>,

    /// When listening, write `{"listen_addr": …, "pid": …}` to this file (atomically).
    #[arg(long, env = "TESSERA_LINE_DEMO_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let address = listener.local_addr()?;
    eprintln!("tessera-line-demo: listening on {address}");
    if let Some(path) = &cli.ready_file {
        let body =
            serde_json::json!({ "listen_addr": address.to_string(), "pid": std::process::id() });
        let partial = path.with_extension("partial");
        std::fs::write(&partial, body.to_string()).context("--ready-file")?;
        std::fs::rename(&partial, path).context("--ready-file")?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = DemoOptions {
        auth: cli.auth,
        tls: None,
    };
    let server = tokio::spawn(demo::serve(
        listener,
        Arc::new(SchedulerState::default()),
        options,
        stopped,
    ));
    tokio::signal::ctrl_c().await?;
    let _ = stop.send(true);
    server.await?;
    Ok(())
}
