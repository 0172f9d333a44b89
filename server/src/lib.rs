//! The chat server: the axum host around the `app` crate, its storage and configuration.
//!
//! - `api`: the API's HTTP side (its contract, strict fields, OpenAPI, error answers, polls
//!   answered from memory); the server functions themselves are in `app::api`.
//! - `edge`: what every request passes through, and the order it does so in.
//! - [`storage`]: where lines are stored (SQLite, PostgreSQL, the queue in front of both).
//! - `page_cache`: rendered pages kept until a line changes them.
//! - [`config`], `metrics`; [`testing`] only for tests.

mod api;
pub mod config;
mod edge;
mod metrics;
mod page_cache;
pub mod storage;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use api::{error_answers, openapi, polls_from_memory, strict_fields};
use app::shell;
use app::store::{Backend, ChatStore};
use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use config::{Config, Database};
use edge::{
    allowed_hosts, cache_headers, client_addr, client_shares::ClientShares, connections,
    cross_site, health, observation, post_rate, request_limits, room_paths, security_headers,
};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, file_and_error_handler_with_context};
use leptos_router::{Method, SsrMode};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use storage::{post_queue, postgres, sqlite};
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
    /// timed out) and every connection to the database is closed.
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
/// the layers of `edge` (its module doc gives their order, outside in).
pub fn router(config: &Config, options: LeptosOptions, backend: Backend) -> Router {
    let routes = page_routes();
    let store = backend.store.clone();
    let feed = store.feed().clone();
    let hosts = allowed_hosts::AllowedHosts::new(&config.allowed_hosts);
    if let Some(warning) = hosts.warning(options.site_addr) {
        tracing::warn!("{warning}");
    }
    let hosts = Arc::new(hosts);
    let clients = client_addr::ClientAddr {
        trusted_proxies: config.trusted_proxy.clone(),
    };
    let per_client = Arc::new(request_limits::PerClient {
        clients: clients.clone(),
        in_flight: ClientShares::new(
            config.max_in_flight_per_client as usize,
            config.rate_limit_exempt.clone(),
        ),
        held: ClientShares::new(
            config.max_held_polls_per_client as usize,
            config.rate_limit_exempt.clone(),
        ),
    });
    let hashed_assets = options.hash_files;
    let context = move || provide_context(backend.clone());
    let limiter = post_rate::PostLimiter::with_sign_ins(
        config.post_rate,
        config.post_burst,
        config.room_rate,
        config.sign_in_rate,
        config.rate_limit_exempt.clone(),
        clients.clone(),
        feed.clone(),
    );
    let app = Router::new()
        .route("/go", axum::routing::get(room_paths::go))
        .route(
            api::contract::Endpoint::OpenApi.path(),
            axum::routing::get(openapi::serve),
        )
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
        .layer(from_fn_with_state(limiter, post_rate::limit_posts))
        .layer(from_fn(strict_fields::check))
        .layer(from_fn(cross_site::refuse_cross_site))
        .layer(from_fn(room_paths::canonical_paths))
        // Polls with lines in memory, and held polls: answered here, compressed like any answer.
        .layer(from_fn_with_state(
            feed.clone(),
            polls_from_memory::from_memory,
        ));
    let compressed = app.layer(
        // Pages and larger API answers, at the fastest level: on 2 cores the CPU is the
        // bottleneck, not the bytes. Small answers (a post's line, a short poll) go as they
        // are. Static files are precompressed at build (`-P`) and served so.
        CompressionLayer::new()
            .quality(CompressionLevel::Fastest)
            .compress_when(SizeAbove::new(1024).and(DefaultPredicate::new())),
    );
    let protected = request_limits::apply(compressed, config.limits(), per_client, feed.clone())
        .layer(from_fn(error_answers::api_errors))
        .layer(from_fn_with_state(
            hashed_assets,
            cache_headers::cache_control,
        ))
        .layer(from_fn_with_state(feed, polls_from_memory::empty))
        .layer(from_fn_with_state(hosts, allowed_hosts::check))
        .layer(from_fn_with_state(
            health::Readiness::watch(store),
            health::answer,
        ))
        .layer(from_fn_with_state(Arc::new(clients), observation::track));
    security_headers::headers(protected)
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
        rules: config.rules(),
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
    let store_to_close = store.clone();
    let backend = Backend {
        store,
        poll_ms: config.poll_ms,
        history: config.history as usize,
    };
    let addr = config.addr.unwrap_or(options.site_addr);
    let listener = connections::listen(addr).map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    options.site_addr = addr;
    let app = router(config, options, backend);
    let serving = connections::Options {
        header_read_timeout: config.limits().header_read_timeout,
        max_connections: config.max_connections as usize,
        per_client: ClientShares::new(
            config.max_connections_per_client as usize,
            [&config.rate_limit_exempt[..], &config.trusted_proxy[..]].concat(),
        ),
        drain: std::time::Duration::from_secs(config.drain_seconds),
    };
    let connections = connections::Connections::new(serving.max_connections);
    let (stopped, shutdown) = fan_out(shutdown);
    let metrics_addr = match config.metrics_addr {
        Some(at) => {
            let listener =
                connections::listen(at).map_err(|source| StartError::Bind { addr: at, source })?;
            let at = listener
                .local_addr()
                .map_err(|source| StartError::Bind { addr: at, source })?;
            let open = connections.clone();
            let gauges = metrics::Gauges {
                store: store_for_metrics,
                connections: Arc::new(move || open.open()),
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
    let serving = connections::serve(listener, app, serving, connections, shutdown, move || {
        feed.close()
    });
    let task = tokio::spawn(async move {
        let served = serving.await;
        // Requests are done: every connection to the database closes now, whoever still
        // holds the store.
        store_to_close.close().await;
        served
    });
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
