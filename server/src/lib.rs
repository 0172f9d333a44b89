//! The chat server: the axum host around the `app` crate, its storage and configuration.

mod api_fields;
mod caching;
pub mod client_addr;
pub mod config;
mod empty_poll;
mod health;
mod hosts;
pub mod metrics;
mod observe;
mod openapi;
mod page_cache;
pub mod post_queue;
pub mod postgres;
pub mod protect;
pub mod rate_limit;
mod reply;
mod rooms;
mod security;
mod serve;
pub mod sqlite;
#[cfg(test)]
mod store_contract;

use app::shell;
use app::store::{Backend, ChatStore};
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use config::{Config, Database};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, file_and_error_handler_with_context};
use leptos_router::{Method, SsrMode};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::services::ServeDir;

/// The name cargo-leptos gives the wasm, JS and CSS it builds (see the workspace Cargo.toml).
const OUTPUT_NAME: &str = "chat";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] sqlite::OpenError),
    #[error(transparent)]
    Postgres(#[from] postgres::OpenError),
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
    /// Where its metrics are served, if they are.
    pub metrics_addr: Option<SocketAddr>,
    /// Ends when the server has shut down: requests in flight have finished (or the drain
    /// timed out) and, once the last of them lets go of it, the database is closed.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Leptos's options: those cargo-leptos passes in the environment, or the defaults that match
/// the workspace's `[[workspace.metadata.leptos]]` when the binary runs on its own.
pub fn leptos_options() -> LeptosOptions {
    let from_cargo_leptos = option_env!("LEPTOS_OUTPUT_NAME").is_some()
        || std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = from_cargo_leptos
        .then(|| get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| {
            // Where cargo-leptos puts the site, as the workspace's metadata says.
            let site_root =
                std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned());
            LeptosOptions::builder()
                .output_name(OUTPUT_NAME)
                .site_root(site_root)
                .build()
        });
    // cargo-leptos leaves the file names' hashes beside the binary it built (`hash-files`);
    // a binary started on its own, not by cargo-leptos, finds them there too.
    let hashes = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&*options.hash_file)));
    options.hash_files |= hashes.is_some_and(|path| path.exists());
    options
}

/// The page's routes (`app::location` says which page a path is): rendered whole before the
/// answer starts (`SsrMode::Async`), so the page reads the same with JavaScript off. Listed by
/// hand: Leptos's `generate_route_list` needs the router, which the page does without.
fn page_routes() -> Vec<AxumRouteListing> {
    ["/", "/r/{name}"]
        .into_iter()
        .map(|path| AxumRouteListing::new(path.to_owned(), SsrMode::Async, [Method::Get], []))
        .collect()
}

/// The whole HTTP application: the page, the server functions and the static files, behind
/// the post rate limit, the cross-site check, the protective limits and the security headers.
pub fn router(config: &Config, options: LeptosOptions, backend: Backend) -> Router {
    let routes = page_routes();
    let store = backend.store.clone();
    let feed = store.feed().clone();
    let hosts = Arc::new(hosts::AllowedHosts::new(
        &config.allowed_hosts,
        options.site_addr,
    ));
    let clients = client_addr::ClientAddr {
        trusted_proxies: config.trusted_proxy.clone(),
    };
    let per_client = protect::PerClient::new(
        config.max_in_flight_per_client as usize,
        config.rate_limit_exempt.clone(),
        clients.clone(),
    );
    let hashed_assets = options.hash_files;
    let context = move || provide_context(backend.clone());
    let limiter = rate_limit::PostLimiter::new(
        config.post_rate,
        config.post_burst,
        config.rate_limit_exempt.clone(),
        clients.clone(),
    );
    let app = Router::new()
        .route("/go", axum::routing::get(rooms::go))
        .route(openapi::PATH, axum::routing::get(openapi::serve))
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback_service(static_files(&options, context))
        .with_state(options)
        // Innermost: a kept page still passes every check below.
        .layer(from_fn_with_state(
            page_cache::PageCache::new(feed.clone()),
            page_cache::serve,
        ))
        // Outermost last: a refused or malformed post must not use up anyone's allowance.
        .layer(from_fn_with_state(limiter, rate_limit::limit_posts))
        .layer(from_fn(api_fields::check))
        .layer(from_fn(security::refuse_cross_site))
        .layer(from_fn(rooms::canonical_paths))
        // Polls with lines in memory, and held polls: answered here, compressed like any answer.
        .layer(from_fn_with_state(feed.clone(), empty_poll::from_memory));
    let compressed = app.layer(
        // Pages and larger API answers, at the fastest level: on 2 cores the CPU is the
        // bottleneck, not the bytes. Small answers (a post's line, a short poll) go as they
        // are. Static files are precompressed at build (`-P`) and served so.
        CompressionLayer::new()
            .quality(CompressionLevel::Fastest)
            .compress_when(SizeAbove::new(1024).and(DefaultPredicate::new())),
    );
    let protected = protect::apply(compressed, config.limits(), per_client)
        .layer(from_fn(reply::api_errors))
        .layer(from_fn_with_state(hashed_assets, caching::cache_control))
        .layer(from_fn_with_state(feed, empty_poll::empty))
        .layer(from_fn_with_state(hosts, hosts::check))
        .layer(from_fn_with_state(store, health::answer))
        .layer(from_fn_with_state(Arc::new(clients), observe::track));
    security::headers(protected)
}

/// The files under the site root (the hashed `/pkg/` assets, `public/`), their precompressed
/// `.br`/`.gz` siblings to clients that accept them, and 304 to a conditional request for an
/// unchanged file (tower-http's `ServeDir`: Leptos's own file handler drops the request's
/// validators); the page's 404 for anything else.
fn static_files(
    options: &LeptosOptions,
    context: impl Fn() + Clone + Send + Sync + 'static,
) -> ServeDir<axum::routing::MethodRouter> {
    let not_found = axum::routing::any(file_and_error_handler_with_context(context, shell))
        .with_state(options.clone());
    ServeDir::new(&*options.site_root)
        .precompressed_br()
        .precompressed_gzip()
        .call_fallback_on_method_not_allowed(true)
        .fallback(not_found)
}

/// Opens the database, binds the address and serves until `shutdown` completes; then drains,
/// lets in-flight requests finish and closes the database.
pub async fn start(
    config: &Config,
    options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let store = open_store(config).await?;
    start_with_store(config, options, store, shutdown).await
}

/// The store `--database` names, opened (and, on PostgreSQL, connected).
pub async fn open_store(config: &Config) -> Result<Arc<dyn ChatStore>, StartError> {
    let options = post_queue::Options {
        queue_timeout: Some(config.limits().request_timeout),
        commit_hook: None,
    };
    Ok(match &config.database {
        Database::Sqlite(path) => Arc::new(sqlite::SqliteStore::open_with(path, options)?),
        Database::Postgres(url) => {
            Arc::new(postgres::PgStore::open(url, config.db_pool as usize, options).await?)
        }
    })
}

/// [`start`] with a store of the caller's (another backend, or a test's).
pub async fn start_with_store(
    config: &Config,
    mut options: LeptosOptions,
    store: Arc<dyn ChatStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    let feed = store.feed().clone();
    feed.set_max_held(config.max_held_polls as usize);
    let store_for_metrics = store.clone();
    let backend = Backend {
        store,
        poll_ms: config.poll_ms,
        history: config.history as usize,
    };
    let addr = config.addr.unwrap_or(options.site_addr);
    let listener = serve::listen(addr).map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    options.site_addr = addr;
    let app = router(config, options, backend);
    let serving = serve::Options {
        header_read_timeout: config.limits().header_read_timeout,
        max_connections: config.max_connections as usize,
        drain: std::time::Duration::from_secs(config.drain_seconds),
    };
    let connections = serve::Connections::new(serving.max_connections);
    let (stopped, shutdown) = fan_out(shutdown);
    let metrics_addr = match config.metrics_addr {
        Some(at) => {
            let listener =
                serve::listen(at).map_err(|source| StartError::Bind { addr: at, source })?;
            let at = listener
                .local_addr()
                .map_err(|source| StartError::Bind { addr: at, source })?;
            let gauges = metrics::Gauges {
                store: store_for_metrics,
                connections: connections.clone(),
            };
            tokio::spawn(metrics::serve(
                listener,
                metrics::install(),
                gauges,
                stopped,
            ));
            Some(at)
        }
        None => None,
    };
    let task = tokio::spawn(serve::serve(
        listener,
        app,
        serving,
        connections,
        shutdown,
        move || feed.close(),
    ));
    Ok(Running {
        addr,
        metrics_addr,
        task,
    })
}

/// `shutdown` as two futures: both complete when it does.
fn fan_out(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let first = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    let mut second = rx;
    let second = async move {
        let _ = second.wait_for(|stopped| *stopped).await;
    };
    (second, first)
}
