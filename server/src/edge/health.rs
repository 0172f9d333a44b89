//! `GET /livez` and `GET /readyz`, answered ahead of every limit: a balancer's checks are never
//! rate-limited, shed or logged per request.
//!
//! - `/livez`: 200 while the process serves requests.
//! - `/readyz`: 200 when the store answered a trivial query within a second at its last check;
//!   503 with the reason otherwise, and from the moment a shutdown begins (the balancer moves
//!   clients elsewhere while the server drains). One task checks the store at most once a
//!   second; requests read its last answer, so a flood of checks costs the store nothing.

use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use app::store::ChatStore;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const LIVE: &str = "/livez";
pub const READY: &str = "/readyz";

/// How long the store has to answer the check's query.
const STORE_DEADLINE: Duration = Duration::from_secs(1);
/// How often the store is checked.
const EVERY: Duration = Duration::from_secs(1);

/// The store's readiness, as last checked.
#[derive(Clone)]
pub struct Readiness {
    store: Arc<dyn ChatStore>,
    last: watch::Receiver<Result<(), String>>,
}

impl Readiness {
    /// Checks `store` at once, then once every second while anyone holds the answer. Until
    /// the first check answers, the store counts as ready: it was just opened.
    pub fn watch(store: Arc<dyn ChatStore>) -> Self {
        let (tx, last) = watch::channel(Ok(()));
        let checked = store.clone();
        tokio::spawn(async move {
            loop {
                if tx.send(check(checked.as_ref()).await).is_err() {
                    break;
                }
                tokio::select! {
                    () = tx.closed() => break,
                    () = tokio::time::sleep(EVERY) => {}
                }
            }
        });
        Self { store, last }
    }

    fn now(&self) -> Result<(), String> {
        if self.store.feed().is_closed() {
            return Err("The server is shutting down.".into());
        }
        self.last.borrow().clone()
    }
}

pub async fn answer(State(ready): State<Readiness>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() != Method::GET || (path != LIVE && path != READY) {
        return next.run(request).await;
    }
    if path == LIVE {
        return ok("live");
    }
    match ready.now() {
        Ok(()) => ok("ready"),
        Err(reason) => error_answers::error(&ApiError::new(ErrorKind::Unavailable, reason)),
    }
}

async fn check(store: &dyn ChatStore) -> Result<(), String> {
    match tokio::time::timeout(STORE_DEADLINE, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("The store does not answer: {err}.")),
        Err(_) => Err(format!(
            "The store did not answer within {} s.",
            STORE_DEADLINE.as_secs()
        )),
    }
}

fn ok(status: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!(r#"{{"status":"{status}"}}"#),
    )
        .into_response()
}
