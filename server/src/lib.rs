//! The chat server: the axum host around the `app` crate, its storage and configuration.

pub mod config;
pub mod sqlite;

use app::backend::{Backend, ChatStore};
use app::{App, shell};
use axum::Router;
use config::Config;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The name cargo-leptos gives the wasm, JS and CSS it builds (see the workspace Cargo.toml).
const OUTPUT_NAME: &str = "chat";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] sqlite::OpenError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A server accepting connections.
pub struct Running {
    /// Where it listens (the real port, when asked for port 0).
    pub addr: SocketAddr,
    /// Ends when the server has shut down and closed its database.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Leptos's options: those cargo-leptos passes in the environment, or the defaults that match
/// the workspace's `[[workspace.metadata.leptos]]` when the binary runs on its own.
pub fn leptos_options() -> LeptosOptions {
    let from_cargo_leptos = option_env!("LEPTOS_OUTPUT_NAME").is_some()
        || std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    from_cargo_leptos
        .then(|| get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| LeptosOptions::builder().output_name(OUTPUT_NAME).build())
}

/// The whole HTTP application: the page, the server functions and the static files.
pub fn router(options: LeptosOptions, backend: Backend) -> Router {
    let routes = generate_route_list(App);
    let context = move || provide_context(backend.clone());
    Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context(context, shell))
        .with_state(options)
}

/// Opens the store, binds the address and serves until `shutdown` completes; then lets
/// in-flight requests finish and closes the database.
pub async fn start(
    config: &Config,
    mut options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let store: Arc<dyn ChatStore> = Arc::new(sqlite::SqliteStore::open(&config.database)?);
    let backend = Backend {
        store,
        poll_ms: config.poll_ms,
        history: config.history as usize,
    };
    let addr = config.addr.unwrap_or(options.site_addr);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    options.site_addr = addr;
    let app = router(options, backend);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    });
    Ok(Running { addr, task })
}
