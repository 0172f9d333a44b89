//! Test support: PostgreSQL servers of the tests' own, made by `.ci/pg-sandbox` (one home for
//! starting PostgreSQL, shared with the end-to-end tests and the benchmark).
//!
//! [`url_for_tests`] is the server every test of a process shares: the one `.ci/pg-sandbox run`
//! started around the tests (`CHAT_TEST_POSTGRES`), or else one started here and stopped when
//! the process exits. [`Sandbox`] is a server of one test's own, to stop and start again.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A PostgreSQL server in a folder of its own, stopped and removed when dropped.
pub struct Sandbox {
    dir: PathBuf,
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/pg-sandbox")
}

fn pg_sandbox(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs .ci/pg-sandbox");
    assert!(
        out.status.success(),
        ".ci/pg-sandbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Sandbox {
    /// Initialises and starts a new server.
    pub fn start() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // Directly under /tmp: the server's user must be able to reach the folder.
        let dir = PathBuf::from(format!(
            "/tmp/chat-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let url = pg_sandbox(&["start", &dir.to_string_lossy()]);
        Self { dir, url }
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        pg_sandbox(&["stop", &self.dir.to_string_lossy()]);
    }

    /// Starts it again on the same port, with its data.
    pub fn restart(&self) {
        pg_sandbox(&["start", &self.dir.to_string_lossy()]);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// Stops the server in `dir`, if it runs, and removes the folder; never fails.
fn remove(dir: &std::path::Path) {
    let _ = Command::new("bash")
        .arg(script())
        .args(["stop", &dir.to_string_lossy()])
        .output();
    let _ = std::fs::remove_dir_all(dir);
}

/// The URL of the server the tests of this process share.
pub fn url_for_tests() -> String {
    if let Ok(url) = std::env::var("CHAT_TEST_POSTGRES") {
        return url;
    }
    static OWN: OnceLock<String> = OnceLock::new();
    OWN.get_or_init(|| {
        let sandbox = Box::leak(Box::new(Sandbox::start()));
        let url = sandbox.url.clone();
        SHARED.set(sandbox.dir.clone()).ok();
        // Statics are never dropped: stop the server when the process exits.
        extern "C" fn stop_shared() {
            if let Some(dir) = SHARED.get() {
                remove(dir);
            }
        }
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(stop_shared) };
        url
    })
    .clone()
}

static SHARED: OnceLock<PathBuf> = OnceLock::new();

/// A URL for a new, empty schema of its own on the shared server, so that tests running side
/// by side never see each other's lines (only each other's NOTIFY hints, which are harmless).
pub async fn fresh_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let url = url_for_tests();
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server answers");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("a schema for the test");
    drop(client);
    let _ = driver.await;
    with_schema(&url, &schema)
}

/// `url` with `schema` first on the search path.
pub fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}
