//! Server side: what the server functions need from their host. The `server` crate provides a
//! [`Backend`] as context; a second storage engine only has to implement [`ChatStore`].

use crate::error::{ApiError, ErrorKind};
use crate::line::{Line, NewLine};
use std::sync::Arc;

/// Durable storage of chat lines.
#[async_trait::async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores `line` and returns it as stored. Returns only once the line is durably committed.
    /// A line whose idempotency key was seen before is not stored again: the line stored the
    /// first time is returned, or [`StoreError::KeyReused`] if that line was different.
    async fn append(&self, line: NewLine) -> Result<Line, StoreError>;

    /// The lines whose id is greater than `after`, in ascending id order, at most `limit`.
    async fn since(&self, after: i64, limit: usize) -> Result<Vec<Line>, StoreError>;

    /// The newest `count` lines, in ascending id order.
    async fn latest(&self, count: usize) -> Result<Vec<Line>, StoreError>;

    /// The id of the newest committed line (0 when there are none), if the store knows it
    /// without a query. Lets the empty poll be answered from memory.
    fn newest_id(&self) -> Option<i64> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve the request now (I/O error, disk full, locked, shutting down).
    #[error("chat store unavailable: {0}")]
    Unavailable(String),
    /// The line's idempotency key was first used for a different line.
    #[error("idempotency key reused for a different line")]
    KeyReused,
}

/// Seconds a client should wait before retrying after a storage failure.
const STORE_RETRY_AFTER_SECS: u32 = 2;

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::KeyReused => ApiError::new(
                ErrorKind::Conflict,
                "This idempotency_key was already used for a different line.",
            ),
            StoreError::Unavailable(_) => {
                tracing::warn!(%err, "store failure answered with 503");
                ApiError::new(
                    ErrorKind::Unavailable,
                    "The chat is briefly unavailable; please try again in a moment.",
                )
                .with_retry_after(STORE_RETRY_AFTER_SECS)
            }
        }
    }
}

/// The server functions' view of the host: the store and the page's settings.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn ChatStore>,
    /// How often the page polls, in milliseconds.
    pub poll_ms: u32,
    /// How many of the newest lines the page is rendered with.
    pub history: usize,
}

impl Backend {
    /// The backend provided by the host for this request.
    pub fn current() -> Result<Self, ApiError> {
        leptos::prelude::use_context::<Self>().ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "The chat backend is not configured.")
        })
    }
}
