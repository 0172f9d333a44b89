//! `GET /livez` and `GET /readyz`, answered ahead of every limit: a balancer's checks are never
//! rate-limited, shed or logged per request.
//!
//! - `/livez`: 200 while the process serves requests.
//! - `/readyz`: 200 when the store answers a trivial query within a second; 503 with the reason
//!   otherwise, and from the moment a shutdown begins (the balancer moves clients elsewhere
//!   while the server drains).

use crate::api::error_answers;
use app::error::{ApiError, ErrorKind};
use app::store::ChatStore;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

pub const LIVE: &str = "/livez";
pub const READY: &str = "/readyz";

/// How long the store has to answer `/readyz`'s query.
const STORE_DEADLINE: Duration = Duration::from_secs(1);

pub async fn answer(
    State(store): State<Arc<dyn ChatStore>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if request.method() != Method::GET || (path != LIVE && path != READY) {
        return next.run(request).await;
    }
    if path == LIVE {
        return ok("live");
    }
    match readiness(store.as_ref()).await {
        Ok(()) => ok("ready"),
        Err(reason) => error_answers::error(&ApiError::new(ErrorKind::Unavailable, reason)),
    }
}

async fn readiness(store: &dyn ChatStore) -> Result<(), String> {
    if store.feed().is_closed() {
        return Err("The server is shutting down.".into());
    }
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
