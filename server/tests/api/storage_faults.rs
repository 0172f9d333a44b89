//! A store that fails on demand: posts answer 503 with `Retry-After`, polls keep answering
//! from what is readable, and all recovers when the fault clears.

use crate::common::{TestServer, ids};
use app::feed::Feed;
use app::line::{Line, NewLine};
use app::room::Room;
use app::store::{ChatStore, StoreError};
use reqwest::StatusCode;
use server::sqlite::SqliteStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The real store, whose writes fail while `failing` is set (a full disk, a read-only file).
struct FailingWrites {
    inner: SqliteStore,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl ChatStore for FailingWrites {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("database or disk is full".into()));
        }
        self.inner.append(line).await
    }

    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Line>, StoreError> {
        self.inner.since(room, after, limit).await
    }

    async fn before(
        &self,
        room: &Room,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        self.inner.before(room, before, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn feed(&self) -> &Arc<Feed> {
        self.inner.feed()
    }
}

#[tokio::test]
async fn a_failing_store_gives_503_keeps_polls_working_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FailingWrites {
        inner: SqliteStore::open(&dir.path().join("chat.sqlite3")).unwrap(),
        failing: AtomicBool::new(false),
    });
    let server = TestServer::builder().store(store.clone()).start().await;

    let (status, first) = server
        .send(&[("screenname", "ann"), ("text", "before")])
        .await;
    assert_eq!(status, StatusCode::OK);

    store.failing.store(true, Ordering::SeqCst);
    let res = server
        .client
        .post(server.url("/api/send"))
        .form(&[("screenname", "ann"), ("text", "during")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "unavailable");
    assert!(body["message"].as_str().unwrap().contains("try again"));

    // Readers are not affected.
    let (status, batch) = server.poll("?after=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&batch), [first["id"].as_i64().unwrap()]);
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    store.failing.store(false, Ordering::SeqCst);
    let (status, after) = server
        .send(&[("screenname", "ann"), ("text", "after")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, batch) = server.poll("?after=0").await;
    assert_eq!(
        ids(&batch),
        [first["id"].as_i64().unwrap(), after["id"].as_i64().unwrap()]
    );
}
