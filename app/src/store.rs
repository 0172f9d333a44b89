//! Server side: storage as the server functions see it. The `server` crate provides a
//! [`Backend`] as context; a storage engine implements [`ChatStore`] and publishes every commit
//! to its [`Feed`], which answers recent and held polls from memory.

use crate::error::{ApiError, ErrorKind};
use crate::feed::Feed;
use crate::line::{Line, NewLine};
use crate::room::{Room, RoomActivity};
use std::sync::Arc;
use std::time::Duration;

/// Durable storage of chat lines.
#[async_trait::async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores `line` and returns it as stored. Returns only once the line is durably committed
    /// and published to the feed. A line whose idempotency key was seen before is not stored
    /// again: the line stored the first time is returned, or [`StoreError::KeyReused`] if that
    /// line was different.
    async fn append(&self, line: NewLine) -> Result<Line, StoreError>;

    /// The lines of `room` whose id is greater than `after`, ascending, at most `limit`.
    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Line>, StoreError>;

    /// The newest `limit` lines of `room` whose id is less than `before`, ascending.
    async fn before(&self, room: &Room, before: i64, limit: usize)
    -> Result<Vec<Line>, StoreError>;

    /// Answers a trivial query: the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The recent lines and wake-ups, fed by every commit.
    fn feed(&self) -> &Arc<Feed>;

    /// Posts waiting to be committed (a gauge for the operator).
    fn queued_posts(&self) -> usize {
        0
    }

    /// Commits what is queued and closes every database connection (a clean stop); every
    /// call after it fails.
    async fn close(&self) {}
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve the request now (I/O error, disk full, locked, shutting down).
    #[error("chat store unavailable: {0}")]
    Unavailable(String),
    /// The line's idempotency key was first used for a different line.
    #[error("idempotency key reused for a different line")]
    KeyReused,
    /// The commit was sent, its answer was lost, and the database could not say whether it
    /// took effect.
    #[error("the commit's outcome is unknown")]
    OutcomeUnknown,
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
            StoreError::OutcomeUnknown => ApiError::new(
                ErrorKind::OutcomeUnknown,
                "Your line may or may not have been stored: send it again with the same \
                 idempotency_key to find out (it is stored once), or look at the room first.",
            )
            .with_retry_after(STORE_RETRY_AFTER_SECS),
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

    /// The lines of `room` after `after`: from memory when it reaches back that far, else from
    /// the store.
    pub async fn since(
        &self,
        room: &Room,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        match self.store.feed().since(room, after, limit) {
            Some(lines) => Ok(lines),
            None => self.store.since(room, after, limit).await,
        }
    }

    /// [`Backend::since`], held for up to `wait` while there is nothing to answer (see
    /// [`Feed::poll`]). Only a cursor older than memory reaches the store, and then there are
    /// lines to answer with at once.
    pub async fn poll(
        &self,
        room: &Room,
        after: i64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Line>, StoreError> {
        match self.store.feed().poll(room, after, limit, wait).await {
            Some(lines) => Ok(lines),
            None => self.store.since(room, after, limit).await,
        }
    }

    /// The newest `count` lines of `room`, ascending.
    pub async fn latest(&self, room: &Room, count: usize) -> Result<Vec<Line>, StoreError> {
        match self.store.feed().latest(room, count) {
            Some(lines) => Ok(lines),
            None => self.store.before(room, i64::MAX, count).await,
        }
    }

    /// The rooms with lines, most recently active first.
    pub fn rooms(&self, limit: usize) -> Vec<RoomActivity> {
        self.store.feed().rooms(limit)
    }
}
