//! Stop signals.

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM. If the SIGTERM
/// handler cannot be installed, only Ctrl-C stops it.
pub async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match terminate {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
    tracing::info!("shutting down");
}
