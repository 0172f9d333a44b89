use clap::Parser;
use server::config::{Command, Config, Database, LogFormat};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: a page render is mostly small allocations, and glibc's
/// took a large share of the server's time under load. Built without transparent huge pages
/// (`no_thp`), which made idle held connections cost much more. (The figures: the README's
/// performance section.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }

    match &config.command {
        Some(Command::MigrateTo { url, from }) => return migrate_to(url, from).await,
        Some(Command::Backup { dest }) => return backup(&config.database, dest),
        None => {}
    }
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
        config.database
    );
    if let Some(at) = running.metrics_addr {
        tracing::info!("metrics at http://{at}/metrics");
    }
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

/// `server migrate-to`: one line saying what was copied, or why not.
async fn migrate_to(url: &str, from: &std::path::Path) -> ExitCode {
    match server::storage::postgres::migrate_to::copy(from, url, |_| Ok(())).await {
        Ok(copied) => {
            println!(
                "copied {} lines, {} idempotency keys and {} rooms from {} to PostgreSQL",
                copied.lines,
                copied.keys,
                copied.rooms,
                from.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// `server backup DEST`: one line saying what was copied, or why not.
fn backup(database: &Database, dest: &std::path::Path) -> ExitCode {
    let path = match database {
        Database::Sqlite(path) => path,
        Database::Postgres(url) => {
            tracing::error!(
                "backup copies SQLite databases; back up PostgreSQL with pg_dump: {}",
                server::storage::postgres::pg_dump_command(url, dest)
            );
            return ExitCode::FAILURE;
        }
    };
    match server::storage::sqlite::backup::backup(path, dest) {
        Ok(copied) => {
            println!(
                "backed up {} to {}: {} lines, the newest id {}; integrity ok; done",
                path.display(),
                dest.display(),
                copied.lines,
                copied.newest
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("{err}");
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
}
