use clap::Parser;
use server::config::Config;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();

    let running = match server::start(&config, server::leptos_options(), shutdown_signal()).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "chat at http://{}/ (database {})",
        running.addr,
        config.database.display()
    );
    match running.task.await {
        Ok(Ok(())) => {
            tracing::info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Ok(Err(err)) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
        Err(err) => {
            tracing::error!("server task failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            },
            Err(err) => {
                tracing::warn!("no SIGTERM handler ({err}); stopping on Ctrl-C only");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing requests in flight");
}
