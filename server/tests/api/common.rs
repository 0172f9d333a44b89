//! The real server on a random port, driven over HTTP.

use app::store::{ChatStore, StoreError};
use reqwest::StatusCode;
use serde_json::Value;
use server::config::Config;
use server::storage::postgres::PgStore;
use server::storage::sqlite::SqliteStore;
use server::testing::hooked_store::{Call, Hook, HookedStore};
use server::testing::pg_sandbox as sandbox;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    pub store: Arc<dyn ChatStore>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

type Configure = Box<dyn FnOnce(&mut Config)>;

/// How a [`TestServer`] is made: by default the SQLite store on a new, empty database in a
/// temporary folder, with the defaults of every flag (never the `CHAT_*` environment) but one:
/// names are not held, since the tests of other promises post under one name from many clients
/// ([`Builder::holding_names`] turns it on, as it is by default).
#[derive(Default)]
#[must_use]
pub struct Builder {
    database: Option<PathBuf>,
    postgres: Option<String>,
    store: Option<Arc<dyn ChatStore>>,
    site_root: Option<PathBuf>,
    configure: Vec<Configure>,
}

impl Builder {
    /// The store `db` names.
    pub fn on(mut self, db: &TestDb) -> Self {
        match db {
            TestDb::Sqlite { path, .. } => self.database = Some(path.clone()),
            TestDb::Postgres(url) => self.postgres = Some(url.clone()),
        }
        self
    }

    /// A store of the test's.
    pub fn store(mut self, store: Arc<dyn ChatStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Static files from `root` (the built site otherwise).
    pub fn site_root(mut self, root: &Path) -> Self {
        self.site_root = Some(root.to_owned());
        self
    }

    /// Names held for the default period, as a server holds them by default.
    pub fn holding_names(self) -> Self {
        let days = Config::defaults().name_hold_days;
        self.config(move |config| config.name_hold_days = days)
    }

    /// Changes the configuration.
    pub fn config(mut self, configure: impl FnOnce(&mut Config) + 'static) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    pub async fn start(self) -> TestServer {
        let mut config = Config::defaults();
        config.addr = Some("127.0.0.1:0".parse().unwrap());
        // Stopping a test server need not wait for a balancer to notice.
        config.drain_seconds = 0;
        config.name_hold_days = 0;
        for configure in self.configure {
            configure(&mut config);
        }
        let (dir, database) = match self.database {
            Some(database) => (None, database),
            None => {
                let dir = tempfile::tempdir().unwrap();
                let database = dir.path().join("chat.sqlite3");
                (Some(dir), database)
            }
        };
        let options = server::storage::post_queue::Options {
            rules: config.rules(),
            ..Default::default()
        };
        let store: Arc<dyn ChatStore> = match (self.store, self.postgres) {
            (Some(store), _) => store,
            (None, Some(url)) => Arc::new(PgStore::open(&url, 8, options).await.unwrap()),
            (None, None) => Arc::new(SqliteStore::open_with(&database, options).unwrap()),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let mut options = server::leptos_options();
        if let Some(root) = self.site_root {
            options.site_root = root.to_string_lossy().into();
        }
        let running = server::start_with_store(&config, options, store.clone(), stopped)
            .await
            .unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            base: format!("http://{}", running.addr),
            store,
            client,
            stop: Some(stop),
            task: Some(running.task),
            _dir: dir,
        }
    }
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A server on a new, empty database, with the default configuration.
    pub async fn start() -> Self {
        Self::builder().start().await
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

    /// The JSON of a GET of `path`.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.json().await.unwrap()
    }

    pub async fn send_owned(&self, form: Vec<(&str, &str)>) -> (StatusCode, Value) {
        self.send(&form).await
    }

    /// A browser of its own: it keeps the cookies the server sets (its identity).
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
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

/// The `Set-Cookie` of `response` that sets the cookie `name`, if any.
pub fn cookie_set(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A SQLite store at `path`, with names not held (as [`Builder`] makes its own).
pub fn sqlite_store(path: &Path) -> SqliteStore {
    let options = server::storage::post_queue::Options {
        rules: server::storage::rules::Rules {
            name_hold: None,
            ..Default::default()
        },
        ..Default::default()
    };
    SqliteStore::open_with(path, options).unwrap()
}

/// A client that keeps its cookies, as a browser does.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
}

impl Browser {
    /// Posts `form` to `path` (`/api/...`): the status and the JSON answer.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }

    pub async fn send(&self, screenname: &str, text: &str) -> (StatusCode, Value) {
        self.post("/api/send", &[("screenname", screenname), ("text", text)])
            .await
    }

    pub async fn me(&self) -> Value {
        let res = self
            .client
            .get(format!("{}/api/me", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

/// An HTTP client that opens a connection for each request: after refusing a body it did not
/// read (too large), the server closes the connection, and a pooled client could send the next
/// request on it just as it closes.
pub fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A connection of the test's own to the PostgreSQL database at `url`, to look inside it.
pub async fn connect_postgres(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A new, empty database of either kind, kept until dropped.
pub enum TestDb {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    /// A schema of its own on the tests' PostgreSQL server.
    Postgres(String),
}

impl TestDb {
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDb::Sqlite {
                    path: dir.path().join("chat.sqlite3"),
                    _dir: dir,
                }
            }
            Kind::Postgres => TestDb::Postgres(sandbox::fresh_database().await),
        }
    }

    /// The value of the server's `--database`.
    pub fn arg(&self) -> std::ffi::OsString {
        match self {
            TestDb::Sqlite { path, .. } => path.into(),
            TestDb::Postgres(url) => url.into(),
        }
    }
}

/// For each `async fn name(kind: Kind)` listed, a test on SQLite (`sqlite::name`) and one on
/// PostgreSQL (`postgres::name`).
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Kind::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

/// The ids of a poll answer's lines.
pub fn ids(batch: &Value) -> Vec<i64> {
    batch["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["id"].as_i64().unwrap())
        .collect()
}

/// Where a stalled call waits until the test opens it; the test can wait until calls arrive.
pub struct Gate {
    open: watch::Sender<bool>,
    arrivals: watch::Sender<usize>,
}

impl Gate {
    pub fn closed() -> Self {
        Self {
            open: watch::Sender::new(false),
            arrivals: watch::Sender::new(0),
        }
    }

    /// Waits until the gate is open.
    pub async fn pass(&self) {
        let mut open = self.open.subscribe();
        self.arrivals.send_modify(|n| *n += 1);
        let _ = open.wait_for(|open| *open).await;
    }

    /// Waits until `count` calls have arrived at the gate.
    pub async fn arrived(&self, count: usize) {
        let _ = self.arrivals.subscribe().wait_for(|n| *n >= count).await;
    }

    pub fn arrivals(&self) -> usize {
        *self.arrivals.borrow()
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

/// History reads (polls from memory never reach the store) wait at the gate until the test
/// opens it.
pub struct StallHistory {
    pub gate: Gate,
}

#[async_trait::async_trait]
impl Hook for StallHistory {
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        if call == Call::Before {
            self.gate.pass().await;
        }
        Ok(())
    }
}

pub type StalledReads = HookedStore<StallHistory>;

pub fn stalled_reads(dir: &tempfile::TempDir) -> Arc<StalledReads> {
    let inner = sqlite_store(&dir.path().join("chat.sqlite3"));
    HookedStore::new(
        Arc::new(inner),
        StallHistory {
            gate: Gate::closed(),
        },
    )
}
