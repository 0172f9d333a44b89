//! The real server on a random port, driven over HTTP.
#![allow(dead_code)] // each test file uses part of this

use app::backend::ChatStore;
use reqwest::StatusCode;
use serde_json::Value;
use server::config::Config;
use server::sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub database: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on a new, empty database.
    pub async fn start() -> Self {
        Self::start_configured(|_| {}).await
    }

    /// A server on a new, empty database, with its configuration changed by `configure`.
    pub async fn start_configured(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("chat.sqlite3");
        let store = Arc::new(SqliteStore::open(&database).unwrap());
        let mut server = Self::start_custom(store, configure).await;
        server.database = database;
        server._dir = Some(dir);
        server
    }

    /// A server on the database at `database` (created if missing).
    pub async fn start_on(database: &Path) -> Self {
        let store = Arc::new(SqliteStore::open(database).unwrap());
        let mut server = Self::start_with_store(store).await;
        server.database = database.to_owned();
        server
    }

    /// A server on a store of the test's.
    pub async fn start_with_store(store: Arc<dyn ChatStore>) -> Self {
        Self::start_custom(store, |_| {}).await
    }

    /// A server on a store of the test's, with its configuration changed by `configure`.
    pub async fn start_custom(
        store: Arc<dyn ChatStore>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::with_database("unused");
        config.addr = Some("127.0.0.1:0".parse().unwrap());
        configure(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let running = server::start_with_store(&config, server::leptos_options(), store, stopped)
            .await
            .unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: format!("http://{}", running.addr),
            client,
            database: config.database,
            stop: Some(stop),
            task: Some(running.task),
            _dir: None,
        }
    }

    /// Shuts down gracefully and waits until the database is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .client
            .post(self.url("/api/send"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }

    /// The body of a GET of `url` (absolute, e.g. a redirect's Location).
    pub async fn text(&self, url: &str) -> String {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn send_owned(&self, form: Vec<(&str, &str)>) -> (StatusCode, Value) {
        self.send(&form).await
    }

    pub async fn poll(&self, query: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(self.url(&format!("/api/lines{query}")))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The ids of a poll answer's lines.
pub fn ids(batch: &Value) -> Vec<i64> {
    batch["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["id"].as_i64().unwrap())
        .collect()
}
