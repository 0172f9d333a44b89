//! Prometheus metrics, through the `metrics` facade and its Prometheus exporter, served on a
//! listener of their own (`--metrics-addr`), never on the public port. Counters and histograms
//! are recorded where things happen; the gauges (held polls, open connections, the writer's
//! queue) are read when scraped.

use app::store::ChatStore;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;

/// The metrics' names: part of the contract with whoever scrapes them.
pub mod names {
    pub const REQUESTS: &str = "chat_http_requests_total";
    pub const REQUEST_SECONDS: &str = "chat_http_request_duration_seconds";
    pub const HELD_POLLS: &str = "chat_held_polls";
    pub const CONNECTIONS: &str = "chat_connections_open";
    pub const LINES_COMMITTED: &str = "chat_lines_committed_total";
    pub const CHANGES_COMMITTED: &str = "chat_changes_committed_total";
    pub const COMMIT_GROUP: &str = "chat_commit_group_size";
    pub const QUEUE_DEPTH: &str = "chat_writer_queue_depth";
    pub const RATE_LIMITED: &str = "chat_posts_rate_limited_total";
    pub const SHED: &str = "chat_requests_shed_total";
    pub const STORE_ERRORS: &str = "chat_store_errors_total";
    pub const REPLAYS: &str = "chat_idempotent_replays_total";
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once: it is global) and describes every metric.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ];
            let sizes = [
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(names::REQUEST_SECONDS.into()), &seconds)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(names::COMMIT_GROUP.into()), &sizes)
                })
                .and_then(|b| b.install_recorder())
                .expect("the metrics recorder is installed once");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::REQUESTS,
        "HTTP requests answered, by route and status."
    );
    describe_histogram!(
        names::REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route (held polls included)."
    );
    describe_gauge!(
        names::HELD_POLLS,
        "Polls held open now, waiting for a line."
    );
    describe_gauge!(names::CONNECTIONS, "Client connections open now.");
    describe_counter!(names::LINES_COMMITTED, "Lines committed by this server.");
    describe_counter!(
        names::CHANGES_COMMITTED,
        "Edits and deletions committed by this server."
    );
    describe_histogram!(
        names::COMMIT_GROUP,
        "Posts committed together in one transaction."
    );
    describe_gauge!(names::QUEUE_DEPTH, "Posts waiting for the writer now.");
    describe_counter!(
        names::RATE_LIMITED,
        "Posts refused by the per-address rate limit."
    );
    describe_counter!(
        names::SHED,
        "Requests answered 503 because too many were in flight."
    );
    describe_counter!(names::STORE_ERRORS, "Store operations that failed.");
    describe_counter!(
        names::REPLAYS,
        "Sends answered with the line stored the first time under their idempotency key."
    );
}

/// What the gauges are read from.
#[derive(Clone)]
pub struct Gauges {
    pub store: Arc<dyn ChatStore>,
    /// Client connections open now.
    pub connections: Arc<dyn Fn() -> usize + Send + Sync>,
}

impl Gauges {
    fn sample(&self) {
        metrics::gauge!(names::HELD_POLLS).set(self.store.feed().held() as f64);
        metrics::gauge!(names::CONNECTIONS).set((self.connections)() as f64);
        metrics::gauge!(names::QUEUE_DEPTH).set(self.store.queued_posts() as f64);
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    gauges: Gauges,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            gauges.sample();
            std::future::ready(handle.render())
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
