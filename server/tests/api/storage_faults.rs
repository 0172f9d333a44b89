//! A store that fails on demand: posts answer 503 with `Retry-After`, polls keep answering
//! from what is readable, and all recovers when the fault clears.

use crate::common::{TestServer, ids};
use app::store::StoreError;
use reqwest::StatusCode;
use server::testing::hooked_store::{Call, Hook, HookedStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes fail while `failing` is set (a full disk, a read-only file).
struct FailingWrites {
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl Hook for FailingWrites {
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        if call == Call::Append && self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("database or disk is full".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_store_gives_503_keeps_polls_working_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let inner = crate::common::sqlite_store(&dir.path().join("chat.sqlite3"));
    let store = HookedStore::new(
        Arc::new(inner),
        FailingWrites {
            failing: AtomicBool::new(false),
        },
    );
    let server = TestServer::builder().store(store.clone()).start().await;

    let (status, first) = server
        .send(&[("screenname", "ann"), ("text", "before")])
        .await;
    assert_eq!(status, StatusCode::OK);

    store.hook.failing.store(true, Ordering::SeqCst);
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

    store.hook.failing.store(false, Ordering::SeqCst);
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
